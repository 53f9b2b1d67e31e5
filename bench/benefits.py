"""门特 ledger speed: settling a day's visits in batches, and the balance page with 10 years of history.

    .venv/bin/python bench/benefits.py                       # SQLite in a temp file
    .venv/bin/python bench/benefits.py --visits 50000 --batch 2000
    .venv/bin/python bench/benefits.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

It seeds recognised people (Fangchenggang, 高血压 and 糖尿病), a ledger of background settlements,
then times ``core.benefits.service.import_visits`` over a day's visits (everything the service does:
scope checks, locking the people, loading their ledgers, the calculation and the inserts, one commit
per batch) and prints visits per second. Then it gives one person 10 years of history (visits,
reversals, stays) and times GET /benefits (the person's balance page) and the 医保科 person page,
median of 30 requests. On PostgreSQL it works in a schema of its own (mtkit_bench), dropped
afterwards. Not a test: figures depend on the machine.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flask_migrate  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from app import create_app  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Application, BenefitSettlement, InpatientStay, Recognition, User  # noqa: E402
from core.benefits import service as ben  # noqa: E402
from core.benefits.inputs import Visit  # noqa: E402
from core.context import for_app  # noqa: E402
from flask import current_app  # noqa: E402
from core.people.accounts import create_staff  # noqa: E402

SCHEMA = "mtkit_bench"
DAY = date(2026, 11, 20)
HOSPITALS = ["H450602001", "H450603001", "H450681001"]
DISEASES = [("FCG001", "高血压", "M03900"), ("FCG002", "糖尿病", "M01600")]
PASSWORD = "Bench1234"


def bench_ctx(user=None):
    """The service context the benchmark acts in (as a CLI command would)."""
    return for_app(current_app, user, origin="cli")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--visits", type=int, default=20_000, help="a day's visits to settle")
    ap.add_argument("--batch", type=int, default=1_000, help="visits per settle_many call (one commit each)")
    ap.add_argument("--background", type=int, default=200_000, help="settlements already in the ledger")
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
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options, "SECRET_KEY": "bench",
        "MTKIT_TODAY": DAY, "WTF_CSRF_ENABLED": False,
    })
    try:
        with app.app_context():
            flask_migrate.upgrade()
            print(f"database: {db.engine.dialect.name}")
            clerk = seed(args.people, args.background)
            clerk = settle_day(clerk, args.visits, args.batch)
            balance_page(app, clerk)
    finally:
        if url.startswith("postgresql"):
            with create_engine(url).begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


def seed(people: int, background: int) -> User:
    started = time.perf_counter()
    rnd = random.Random(5)
    clerk = create_staff(bench_ctx(), username="bench_agency", password=PASSWORD, role="agency_reviewer", name="经办",
                         region="450600", office="O450600001")
    db.session.commit()
    first = (db.session.scalar(select(db.func.max(User.id))) or 0) + 1
    db.session.execute(insert(User), [
        {"id": first + i, "username": f"4506{i:014d}", "password_hash": "x", "role": "insured", "name": "参保人",
         "region_code": "450600", "division_code": "450602", "insured_category": rnd.choice(["employed", "retired"]),
         "insured_scheme": "employee", "is_enabled": True, "failed_logins": 0} for i in range(people)
    ])
    db.session.execute(insert(Application), [
        {"id": i + 1, "person_id": first + i, "region_code": "450600", "division_code": "450602",
         "institution_code": "O450600001", "channel": "window", "kind": "new", "status": "approved",
         "steps": [], "step_index": 0, "fast_track": False, "version": 1} for i in range(people)
    ])
    db.session.execute(insert(Recognition), [
        {"person_id": first + i, "region_code": "450600", "division_code": "450602", "institution_code": "O450600001",
         "disease_code": code, "national_code": nat, "disease_name": name, "application_id": i + 1,
         "start_date": date(2016, 1, 1), "end_date": date(2027, 12, 31), "status": "active"}
        for i in range(people) for code, name, nat in DISEASES
    ])
    if db.engine.dialect.name == "postgresql":  # explicit ids do not move PostgreSQL's sequences
        for table in ("users", "applications"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    rows = []
    for n in range(background):
        year = 2017 + n % 10
        rows.append(dict(
            person_id=first + rnd.randrange(people), region_code="450600", division_code="450602",
            institution_code=rnd.choice(HOSPITALS), disease_code="FCG001", disease_name="高血压",
            visit_date=date(year, 6, 1), settled_on=date(year, 6, 1), benefit_year=year, category="employed",
            covered=True, eligible_fen=30000, deductible_fen=0, limit_used_fen=30000, reimbursed_fen=21000,
            own_fen=9000, policy_version="bench", ratio="0.70",
        ))
        if len(rows) == 20_000:
            db.session.execute(insert(BenefitSettlement), rows)
            rows = []
    if rows:
        db.session.execute(insert(BenefitSettlement), rows)
    db.session.commit()
    print(f"seeded {people:,} people with 2 recognitions each and {background:,} settlements "
          f"in {time.perf_counter() - started:.1f} s")
    return clerk


def settle_day(clerk: User, visits: int, batch: int) -> User:
    rnd = random.Random(11)
    ids = db.session.scalars(select(User.id).where(User.role == "insured")).all()
    plan = [(rnd.choice(ids), rnd.choice(HOSPITALS), rnd.choice(DISEASES)[0],
             Decimal(rnd.randrange(5_000, 80_000)) / 100) for _ in range(visits)]
    clerk_id = clerk.id
    db.session.expire_all()
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, visits, batch):
        chunk = plan[start:start + batch]
        people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({p for p, *_ in chunk})))}
        ben.import_visits(bench_ctx(clerk), [Visit(people[p], inst, code, DAY, amount) for p, inst, code, amount in chunk])
        db.session.commit()
        db.session.expunge_all()  # a long import must not keep every row in the session
        clerk = db.session.get(User, clerk_id)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    # On a shared machine the wall clock includes other processes' turns; the CPU time of this
    # process (SQLite runs in it) shows what the code itself costs.
    print(f"settled {visits:,} visits in batches of {batch:,}: {elapsed:.2f} s = {visits / elapsed:,.0f} visits/s "
          f"(this process's CPU time {cpu:.2f} s = {visits / cpu:,.0f} visits per CPU second; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return clerk


def balance_page(app, clerk: User) -> None:
    """One person with 10 years of history: ~150 visits a year, reversals and stays."""
    person = create_user_with_password()
    rnd = random.Random(3)
    # 2017-2025 straight into the table (the region data has policies from 2025 only), 2026 through
    # the service; 150 visits a year.
    old = []
    for year in range(2017, 2026):
        for k in range(150):
            old.append(dict(
                person_id=person.id, region_code="450600", division_code="450602", institution_code=rnd.choice(HOSPITALS),
                disease_code=rnd.choice(DISEASES)[0], disease_name="高血压", visit_date=date(year, 1, 2) + timedelta(days=k * 2),
                settled_on=date(year, 12, 31), benefit_year=year, category="retired", covered=True, eligible_fen=20000,
                deductible_fen=0, limit_used_fen=20000, reimbursed_fen=15000, own_fen=5000, policy_version="bench",
            ))
    db.session.execute(insert(BenefitSettlement), old)
    visits = [Visit(person, rnd.choice(HOSPITALS), rnd.choice(DISEASES)[0], date(2026, 1, 2) + timedelta(days=k * 2),
                        Decimal(rnd.randrange(2_000, 40_000)) / 100) for k in range(150)]
    rows = ben.settle_many(bench_ctx(clerk), visits)
    for row in rows[::50]:
        ben.reverse(bench_ctx(clerk), row, "bench")
    for year in range(2017, 2026):
        db.session.add(InpatientStay(person_id=person.id, region_code="450600", division_code="450602",
                                     institution_code=HOSPITALS[0], admitted_on=date(year, 12, 20),
                                     discharged_on=date(year, 12, 28), recorded_by_id=clerk.id))
    db.session.commit()
    count = db.session.scalar(select(db.func.count()).select_from(BenefitSettlement).where(BenefitSettlement.person_id == person.id))
    client = app.test_client()
    client.post("/login", data={"username": person.username, "password": PASSWORD})
    print(f"balance page for a person with 10 years of history ({count:,} ledger rows, of which this year "
          f"{sum(1 for r in rows if r.benefit_year == 2026)}): {median_ms(client, '/benefits'):.1f} ms median")
    staff = app.test_client()
    staff.post("/login", data={"username": "bench_agency", "password": PASSWORD})
    staff.post("/staff/benefits", data={"id_number": person.id_number})
    print(f"医保科/经办 person page for the same person: {median_ms(staff, f'/staff/benefits/people/{person.id}'):.1f} ms median")


def create_user_with_password() -> User:
    from core.demo import make_id_number
    from core.people.accounts import register_insured

    person = register_insured(bench_ctx(), name="十年参保人", id_number=make_id_number("450602", "19500101", 777), phone="13800007777",
                              password=PASSWORD, region="450600", division="450602", insured_category="retired")
    db.session.flush()
    app_row = Application(person_id=person.id, region_code="450600", division_code="450602", institution_code="O450600001",
                          channel="window", kind="new", status="approved", steps=[], step_index=0)
    db.session.add(app_row)
    db.session.flush()
    for code, name, nat in DISEASES:
        db.session.add(Recognition(person_id=person.id, region_code="450600", division_code="450602",
                                   institution_code="O450600001", disease_code=code, national_code=nat,
                                   disease_name=name, application_id=app_row.id, start_date=date(2016, 1, 1),
                                   end_date=date(2027, 12, 31)))
    db.session.commit()
    return person


def median_ms(client, url: str, runs: int = 30) -> float:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return statistics.median(times)


if __name__ == "__main__":
    main()
