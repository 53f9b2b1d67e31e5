"""Disk caches (printed forms, PDF page previews): kept to a number of files, oldest out first."""
from __future__ import annotations

from pathlib import Path


def keep_newest(folder: Path, pattern: str, keep: int) -> None:
    """At most ``keep`` files matching ``pattern`` under ``folder``; the least recently written go
    first (a cache re-creates them when asked again)."""
    files = list(folder.glob(pattern))
    if len(files) <= keep:
        return
    files.sort(key=lambda p: p.stat().st_mtime)
    for old in files[: len(files) - keep]:
        old.unlink(missing_ok=True)
