"""Which Huey queue the app uses, from its configuration.

MTKIT_QUEUE_URL empty (the default): SqliteHuey in the instance folder (``queue.sqlite3``, 0600),
so ``make run`` needs nothing but SQLite. ``sqlite:///path``: that file. ``redis://...`` (or
``rediss://``): RedisHuey, for several app hosts sharing one worker pool.
MTKIT_QUEUE_IMMEDIATE: tasks run at once in the calling process (tests).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from core.kernel.files import PRIVATE_FILE, private_dir, tighten

NAME = "mtkit"


@dataclass
class Queue:
    """The app's Huey instance and the tasks the app enqueues by hand."""

    huey: Huey
    run_job: Any  # huey TaskWrapper: run_job(name) enqueues one scheduled job
    send_sms: Any  # send_sms(ids): the SMS deliveries a commit created (core/queue/commit.py)
    run_task: Any  # run_task(id): a background task a commit created (core/queue/results.py)
    render_previews: Any  # render_previews(ids): page images of PDFs a commit stored (core/applications/previews.py)
    send_at_commit: bool = True

    def enqueue_job(self, name: str):
        return self.run_job(name)


def build_huey(config, instance_path: str) -> Huey:
    url = (config.get("MTKIT_QUEUE_URL") or "").strip()
    immediate = bool(config.get("MTKIT_QUEUE_IMMEDIATE"))
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(NAME, url=url, immediate=immediate)
    if url and not url.startswith("sqlite:///"):
        raise ValueError(f"MTKIT_QUEUE_URL: 不支持的队列地址 {url!r}(可用 sqlite:///文件 或 redis://主机)")
    path = Path(url.removeprefix("sqlite:///")) if url else Path(instance_path) / "queue.sqlite3"
    if not immediate:
        _private_file(path)
    return SqliteHuey(NAME, filename=str(path), immediate=immediate)


def _private_file(path: Path) -> None:
    """The queue holds task arguments: create it 0600 in a 0700 folder before SQLite opens it."""
    if not path.parent.exists():
        private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    tighten(path, PRIVATE_FILE)


def init_app(app) -> Queue:
    from core.queue import commit, tasks

    huey = build_huey(app.config, app.instance_path)
    queue = Queue(huey, *tasks.register(huey, app), send_at_commit=bool(app.config.get("MTKIT_SMS_AT_COMMIT", True)))
    app.extensions["mtkit_queue"] = queue
    commit.install()
    from core.ops.metrics import register_gauge

    register_gauge("mtkit_queue_depth", "Tasks waiting in the background queue.", huey.pending_count)
    return queue
