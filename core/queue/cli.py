"""`flask --app app queue worker`: the Huey consumer (periodic jobs, retries), and `queue run NAME`."""
from __future__ import annotations

import logging

import click
from flask import Flask, current_app

from core.jobs.schedule import JOBS


def init_app(app: Flask) -> None:
    @app.cli.group("queue")
    def queue_group():
        """Background work (Huey): the worker and enqueueing jobs."""

    @queue_group.command("worker")
    @click.option("--workers", default=2, show_default=True, help="同时运行的任务数(线程)")
    @click.option("--max-delay", default=5.0, show_default=True, help="队列空闲时最长多久(秒)查看一次")
    def worker(workers, max_delay):
        """Run the worker until Ctrl-C or SIGTERM: the daily jobs, SMS every minute, queued tasks."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s [queue] %(levelname)s %(message)s")
        huey = current_app.extensions["mtkit_queue"].huey
        if huey.immediate:
            raise click.ClickException("MTKIT_QUEUE_IMMEDIATE 已开启:任务在提交处直接运行,不需要后台进程。")
        click.echo(f"后台任务进程已启动({type(huey.storage).__name__},{workers} 个线程)。")
        huey.create_consumer(workers=workers, worker_type="thread", periodic=True, max_delay=max_delay).run()

    @queue_group.command("run")
    @click.argument("name")
    def enqueue(name):
        """Put scheduled job NAME on the queue (the worker runs it)."""
        if name not in JOBS:
            raise click.ClickException(f"没有名为 {name} 的任务。可用: {', '.join(JOBS)}")
        current_app.extensions["mtkit_queue"].enqueue_job(name)
        click.echo(f"{name}: 已加入队列。")
