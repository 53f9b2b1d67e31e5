"""Applications and their review: the state machine (``rules.py``), one service function per user
action (``service.py``, ``review.py``, ``materials.py``), uploads and stored files, queues,
what applicants see, verification codes; the pages, the JSON API and the files CLI."""
