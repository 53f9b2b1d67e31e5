"""How much decoding work uploads may cause, so that one account cannot stall the service.

Decoding and re-encoding images (and rewriting PDFs) is the expensive part of an upload. Three
limits, all checked before the first pixel is decoded:

* per request: the pixels of all its images together (``MTKIT_MAX_REQUEST_PIXELS``), read from
  the headers; a request over it is refused at once (413), naming the budget;
* per account: at most ``MTKIT_UPLOADS_PER_ACCOUNT`` uploads being checked at once, across every
  worker process and thread; one more is refused at once (429);
* for the whole server: at most ``MTKIT_UPLOAD_DECODERS`` uploads decode at once (fewer than the
  workers, so some always answer other pages); another waits up to ``MTKIT_UPLOAD_WAIT_SECONDS``
  for a turn, then is refused (429) rather than queueing without end.

Slots are ``flock`` locks on files under ``MTKIT_LOCK_DIR`` (default instance/locks): shared by every
process on the machine (one lock per open file, so threads of one worker exclude each other too),
and released by the kernel when the holder's file is closed, its process crashes or is killed.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

from core.context import Context
from core.kernel.errors import Invalid, ServiceError

log = logging.getLogger(__name__)
BUSY_ACCOUNT = "请等待上一批文件处理完成后再上传。"
BUSY_SERVER = "系统正在处理其他人上传的文件,请稍等一分钟后再上传。"
POLL_SECONDS = 0.1


def check_request_pixels(ctx: Context, received) -> None:
    """Refuse a request whose images together would decode to more pixels than the budget."""
    limit = ctx.settings["MTKIT_MAX_REQUEST_PIXELS"]
    total = sum(r.pixels for r in received)
    if total > limit:
        raise Invalid(f"这次上传的图片合计约 {_millions(total)} 百万像素,超过每次 {_millions(limit)} 百万像素的上限。"
                      "请分几次上传,或把照片缩小后再上传。", status=413)


def _millions(pixels: int) -> str:
    if pixels >= 10_000_000:
        return f"{pixels / 1_000_000:.0f}"
    return f"{pixels / 1_000_000:.2f}".rstrip("0").rstrip(".")


@contextmanager
def upload_slot(ctx: Context, account_id: int):
    """Hold one of the account's upload slots and one of the server's decoding slots while the
    block runs; refuse (429) if the account has none free, or none of the server's frees in time."""
    folder = Path(ctx.settings["MTKIT_LOCK_DIR"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    mine = _take(folder, f"upload-account-{int(account_id)}", ctx.settings["MTKIT_UPLOADS_PER_ACCOUNT"])
    if mine is None:
        raise ServiceError(BUSY_ACCOUNT, status=429)
    try:
        deadline = time.monotonic() + ctx.settings["MTKIT_UPLOAD_WAIT_SECONDS"]
        shared = _take(folder, "upload-decoder", ctx.settings["MTKIT_UPLOAD_DECODERS"])
        while shared is None and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            shared = _take(folder, "upload-decoder", ctx.settings["MTKIT_UPLOAD_DECODERS"])
        if shared is None:
            log.warning("upload by account %s refused: every decoding slot busy", account_id)
            raise ServiceError(BUSY_SERVER, status=429)
        try:
            yield
        finally:
            os.close(shared)
    finally:
        os.close(mine)


def _take(folder: Path, stem: str, count: int) -> int | None:
    """A file descriptor holding an exclusive lock on one of ``count`` slot files, or None."""
    for i in range(max(1, count)):
        fd = os.open(folder / f"{stem}.{i}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            os.close(fd)
    return None
