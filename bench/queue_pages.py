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
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flask_migrate  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

from app import create_app  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Application, ApplicationDisease, User  # noqa: E402
from core.applications.queues import DueWindow, QueueFilter, page  # noqa: E402

SCHEMA = "mtkit_bench"
TODAY = date(2026, 11, 23)
WINDOW = DueWindow(TODAY, TODAY + timedelta(days=1))
CHUNK = 20_000
# (region, division, institution, role waiting there) spread like a prefecture's real load.
PLACES = [
    ("150000", "150100", "H150100001"), ("150000", "150100", "H150100002"), ("150000", "150100", "H150100003"),
    ("150000", "150200", "H150200001"), ("150000", "150200", "H150200002"), ("150000", "150400", "H150400001"),
    ("450600", "450602", "O450600001"), ("450600", "450681", "O450681001"), ("450600", "450603", "O450603001"),
]
ROLE_AT = {"H": ("hospital_office", "physician"), "O": ("agency_reviewer", "expert")}
STATUSES = ["approved"] * 70 + ["rejected"] * 8 + ["partial"] * 4 + ["withdrawn"] * 3 + ["in_review"] * 8 + ["submitted"] * 4 + ["returned"] * 2 + ["draft"]
DISEASES = {"150000": ["M03900", "M01600", "M04600", "M00503", "M07803"], "450600": ["FCG001", "FCG002", "FCG003", "FCG009"]}


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
            seed(args.rows)
            measure(args.rows, url)
    finally:
        if url.startswith("postgresql"):
            with create_engine(url).begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


def seed(rows: int) -> None:
    rnd = random.Random(7)
    started = time.perf_counter()
    people = 20_000
    db.session.execute(insert(User), [
        {"username": f"p{i}", "password_hash": "x", "role": "insured", "name": "参保人", "region_code": "150000",
         "is_enabled": True, "failed_logins": 0} for i in range(people)
    ])
    db.session.commit()
    for start in range(0, rows, CHUNK):
        apps, diseases = [], []
        for i in range(start + 1, min(rows, start + CHUNK) + 1):
            region, division, inst = rnd.choice(PLACES)
            status = rnd.choice(STATUSES)
            role = rnd.choice(ROLE_AT[inst[0]]) if status in ("submitted", "in_review") else None
            # Open steps have a time limit around today: some overdue, some due soon, most later.
            due = TODAY + timedelta(days=rnd.randint(-10, 10)) if role else None
            apps.append({"id": i, "person_id": rnd.randint(1, people), "region_code": region, "division_code": division,
                         "kind": "new", "institution_code": inst, "channel": "online", "status": status, "step_index": 0,
                         "steps": [], "fast_track": False, "version": 1, "current_role": role,
                         "step_due": due})
            diseases.append({"application_id": i, "person_id": 1, "region_code": region,
                             "disease_code": rnd.choice(DISEASES[region]), "national_code": "M00000", "disease_name": "病种",
                             "result": "pending", "is_open": False})
        db.session.execute(insert(Application), apps)
        db.session.execute(insert(ApplicationDisease), diseases)
        db.session.commit()
        print(f"\rseeded {min(rows, start + CHUNK):>9,} applications", end="", flush=True)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    print(f"  ({time.perf_counter() - started:.0f} s)")


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
