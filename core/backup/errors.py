"""The one failure a backup, a check or a restore reports: its message is for the operator (Chinese)."""
from __future__ import annotations


class BackupError(Exception):
    pass
