"""Backups and a tested restore: `flask --app app backup create|verify|restore` (core/backup/cli.py).

A backup is a folder: ``manifest.json`` (what is in it and what the restored system must show),
``database.sqlite3`` or ``database.pgdump``, and ``objects/<area>/<key>``. The encryption keys are
never in it: the key file and MTKIT_*_KEY are backed up apart (a database backup is unreadable
without them, and a stolen backup must not carry them).
"""
