"""What every page shares: the request's service context (``context.py``), view helpers (record ids,
the 代办 look-up memory, htmx fragments, refusals: ``helpers.py``), error pages and request hooks
(``errors.py``), Jinja filters (``filters.py``) and the public pages (``public.py``). Each feature's
pages live in that feature's ``web.py``; ``app.py`` registers them."""
