"""Queue speed at scale: seeds N applications and times the staff queue pages.

    .venv/bin/python bench/queue_pages.py                    # 1,000,000 rows, SQLite in a temp file
    .venv/bin/python bench/queue_pages.py --rows 200000
    .venv/bin/python bench/queue_pages.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

On PostgreSQL it works in a schema of its own (mtkit_bench), dropped afterwards. It times the exact
query the queue page runs (core.applications.queues), cold page 1 and deep keyset pages, and prints
median milliseconds. Not a test: figures depend on the machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flask_migrate  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from app import create_app  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import User  # noqa: E402
from core.applications.queues import DueWindow, QueueFilter, page  # noqa: E402
from bench.seeding import TODAY, seed_applications  # noqa: E402

SCHEMA = "mtkit_bench"
WINDOW = DueWindow(TODAY, TODAY + timedelta(days=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    options = {}
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        engine.dispose()
        options = {"connect_args": {"options": f"-csearch_path={SCHEMA}"}}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options, "SECRET_KEY": "bench"})
    try:
        with app.app_context():
            flask_migrate.upgrade()
            seed_applications(args.rows)
            measure(args.rows, url)
    finally:
        if url.startswith("postgresql"):
            with create_engine(url).begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


def timed(fn, repeat=15):
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
        db.session.rollback()
        db.session.expunge_all()
    return statistics.median(samples)


def measure(rows: int, url: str) -> None:
    office = User(id=10**6, role="hospital_office", region_code="150000", division_code="150100", hospital_code="H150100001")
    physician = User(id=10**6 + 1, role="physician", region_code="150000", hospital_code="H150100001")
    reviewer = User(id=10**6 + 2, role="agency_reviewer", region_code="450600")
    district = User(id=10**6 + 3, role="agency_reviewer", region_code="450600", division_code="450681")

    def walk(user, f, pages):
        before = None
        for _ in range(pages):
            _, before = page(user, f, before)
            if before is None:
                break

    cases = [
        ("医保科 待办 page 1", lambda: page(office, QueueFilter())),
        ("责任医师 待办 page 1", lambda: page(physician, QueueFilter())),
        ("医保科 全部 page 1", lambda: page(office, QueueFilter(view="all"))),
        ("医保科 全部 page 500 (keyset)", lambda: page(office, QueueFilter(view="all"), before=rows // 2)),
        ("医保科 全部, 病种 M00503", lambda: page(office, QueueFilter(view="all", disease="M00503"))),
        ("医保科 全部, 状态 returned", lambda: page(office, QueueFilter(view="all", status="returned"))),
        ("防城港 市本级 待办 page 1", lambda: page(reviewer, QueueFilter())),
        ("东兴 区县 待办 page 1", lambda: page(district, QueueFilter())),
        ("医保科 全部, 10 pages in a row", lambda: walk(office, QueueFilter(view="all"), 10)),
        ("医保科 待办, 已超时 page 1", lambda: page(office, QueueFilter(due="overdue"), window=WINDOW)),
        ("医保科 待办, 已超时 page 5 (keyset)", lambda: page(office, QueueFilter(due="overdue"), window=WINDOW,
                                                      after=(TODAY - timedelta(days=5), rows // 2))),
        ("防城港 市本级 全部, 即将到期", lambda: page(reviewer, QueueFilter(view="all", due="soon"), window=WINDOW)),
    ]
    print(f"\nqueue pages over {rows:,} applications on {db.engine.dialect.name} ({url.split('@')[-1]}), median of 15:")
    for name, fn in cases:
        print(f"  {name:<34} {timed(fn):8.2f} ms")


if __name__ == "__main__":
    main()
