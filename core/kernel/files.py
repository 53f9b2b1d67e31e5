"""Files the app writes: disk caches (printed forms, PDF page previews) kept to a number of files,
oldest out first; private folders (0700) and files (0600) for everything holding personal data."""
from __future__ import annotations

import os
import tempfile
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


# --- private files: the instance folder 0700, what the app writes 0600 ------------------------------
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) readable by the app's user only; tighten it if it
    exists with group or world access (personal data lives below)."""
    folder = Path(folder)
    missing, above = [], folder
    while not above.exists() and above != above.parent:
        missing.append(above)
        above = above.parent
    for new in reversed(missing):  # each folder created here 0700, not only the last
        new.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    tighten(folder, PRIVATE_DIR)
    return folder


def tighten(path: Path, mode: int) -> None:
    """Drop group/world bits from ``path`` if it has any (a file we do not own is left alone)."""
    try:
        if Path(path).stat().st_mode & 0o077:
            os.chmod(path, mode)
    except OSError:
        pass


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` as a whole (temporary file, then rename), mode 0600, so no reader
    ever sees half a file. ``exclusive``: only if ``path`` does not exist yet (two processes
    starting at once: one wins, the other keeps its file). Returns whether this call wrote it."""
    path = Path(path)
    if not path.parent.exists():
        private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            try:
                os.link(tmp, path)  # atomic, and fails when the file exists
            except FileExistsError:
                return False
            return True
        os.replace(tmp, path)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def append_private(path: Path, text: str) -> None:
    """Append a line to a log file that is created 0600 (and tightened if it was wider)."""
    path = Path(path)
    if not path.parent.exists():
        private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_FILE)
        fh.write(text)
