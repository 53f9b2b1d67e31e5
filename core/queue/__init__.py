"""Background work on Huey: the daily jobs as periodic tasks, SMS every minute, retries and a
dead-letter list (``queue_failures``) for administrators. See ``setup.py`` (which queue), ``tasks.py``
(what runs) and ``service.py`` (the dead-letter list)."""
