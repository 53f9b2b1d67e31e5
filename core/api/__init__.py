"""The JSON API's shared parts under /api/v1: the blueprint and its bearer-token authentication
(``blueprint.py``), errors (``errors.py``), input reading (``inputs.py``), the OpenAPI description
and docs page (``openapi.py``) and the public reference data (``reference.py``). Each feature's
handlers live in that feature's ``api.py`` and attach to the one blueprint; ``app.py`` imports them."""
