"""Province scale on PostgreSQL: 3 million persons, 2 million recognitions, 20 million settlements.

    .venv/bin/python bench/province.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/h_province
    .venv/bin/python bench/province.py --database-url ... --scale 0.01        # a quick run (30,000 persons)
    .venv/bin/python bench/province.py --database-url ... --keep              # keep the data; re-time it next run

It works in a schema of its own (mtkit_province) of the given database, dropped afterwards unless
--keep (a later --keep run finds the seeded schema and only times). PostgreSQL only. Not a test:
figures depend on the machine.

The generator (deterministic, so a re-run seeds the same data):
- staff through the app's own services (create_staff): a hospital 医保科 in Hohhot, an agency
  reviewer in Fangchenggang; and one person with ten years of history (register_insured, then
  150 visits a year: 2017-2025 written as settled rows, 2026 settled through the ledger service,
  every 50th reversed, one stay a year), as bench/benefits.py does;
- persons i = 0..P-1: place PLACES[i % 9] (two thirds Inner Mongolia), a valid ID number (GB 11643
  check character; birth day and sequence number from i, so every number is distinct), a phone
  number, 人员编号 P000000000123. ID and phone numbers are encrypted per row with the app's key
  ring (``KeyRing.encrypt``, AES-256-GCM) and their look-up HMACs computed with ``KeyRing.lookup``,
  exactly as the ORM writes them, so the app reads and finds every person;
  one password hash (scrypt, computed once) is shared by every person;
- recognitions k = 0..R-1 for persons 0..R-1 (one each), an approved application and its disease
  row each, ending on a day 1-730 days after "today" (2026-11-23) that is no reminder day, so a
  daily run with nothing due finds nothing; plus P/100 open applications waiting in the queues
  (hospital 医保科 / physician, agency reviewer / expert, due dates around today);
- settlements j = 0..S-1: recognition j % R, year 2017 + (j // R) % 10, so each recognition has
  S/R visits spread over ten years; amounts from a hash of j, 70% reimbursed.
Rows are written with COPY (psycopg 3 ``cursor.copy``) in batches, with each table's secondary
indexes dropped during the load and built afterwards, and foreign-key triggers off for the load
(``session_replication_role = replica``: the generator makes consistent rows by construction);
then VACUUM ANALYZE.

What it times (the app in-process through its test client, logged in; p50/p95 of --samples requests):
staff queue pages, person look-up by ID number (POST 门特结算, as the staff page does) and the
person page it leads to, 我的待遇 (/benefits) of the person with ten years of history; the daily jobs
(every daily job, as bench/jobs.py) with nothing due and with 1% of recognitions due (reminder days,
ended yesterday), then the SMS sending; the year-end export (``flask benefits export-year``: a
region's settlements of 2025, streamed). For the jobs and the export it samples the process's RSS
every 20 ms and prints the growth over the RSS before it (flat memory: it must not grow with rows).
After a run the rows the 1% scenario moved get their dates and status back, and the notices it
wrote are removed, so a --keep re-run times the same data.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flask_migrate  # noqa: E402
from flask import current_app  # noqa: E402
from sqlalchemy import create_engine, delete, func, insert, select, text  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from app import create_app  # noqa: E402
from core.benefits import service as ben  # noqa: E402
from core.benefits.inputs import Visit  # noqa: E402
from core.benefits.yearend import export_year  # noqa: E402
from core.context import for_app  # noqa: E402
from core.demo import make_id_number  # noqa: E402
from core.extensions import db  # noqa: E402
from core.jobs import runner  # noqa: E402
from core.jobs.schedule import JOBS  # noqa: E402
from core.models import (Application, BenefitSettlement, InpatientStay, JobRun, Notice, NoticeDelivery,  # noqa: E402
                         Recognition, User)
from core.people.accounts import create_staff, register_insured  # noqa: E402

SCHEMA = "mtkit_province"
TODAY = date(2026, 11, 23)
PASSWORD = "Bench1234"
BATCH = 50_000
PLACES = [  # region, division, institution
    ("150000", "150100", "H150100001"), ("150000", "150100", "H150100002"), ("150000", "150100", "H150100003"),
    ("150000", "150200", "H150200001"), ("150000", "150200", "H150200002"), ("150000", "150400", "H150400001"),
    ("450600", "450602", "H450602001"), ("450600", "450681", "H450681001"), ("450600", "450603", "H450603001"),
]
DISEASES = {"150000": [("M03900", "高血压", "M03900"), ("M01600", "糖尿病", "M01600"), ("M04600", "慢性心力衰竭", "M04600")],
            "450600": [("FCG001", "高血压", "M03900"), ("FCG002", "糖尿病", "M01600")]}
REMINDER_DAYS = {"150000": (60, 30, 7), "450600": (90, 30, 7)}
BIRTH_DAYS = 21_900  # 1940-01-01 onwards: birth day and sequence number make each ID number distinct
TEN_YEAR_HOSPITALS = ["H450602001", "H450603001", "H450681001"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", required=True, help="PostgreSQL (postgresql+psycopg://...)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the three counts (0.01 for a quick run)")
    ap.add_argument("--persons", type=int, default=3_000_000)
    ap.add_argument("--recognitions", type=int, default=2_000_000)
    ap.add_argument("--settlements", type=int, default=20_000_000)
    ap.add_argument("--samples", type=int, default=50, help="requests per page")
    ap.add_argument("--keep", action="store_true", help="keep the schema; reuse it if already seeded")
    args = ap.parse_args()
    url = args.database_url
    if not url.startswith("postgresql"):
        sys.exit("PostgreSQL only: --database-url postgresql+psycopg://...")
    counts = tuple(max(1, int(n * args.scale)) for n in (args.persons, args.recognitions, args.settlements))
    if counts[1] > counts[0]:
        sys.exit("one recognition per person: --recognitions must not exceed --persons")
    engine = create_engine(url)
    with engine.begin() as conn:
        seeded = conn.scalar(text("SELECT to_regclass(:t)"), {"t": f"{SCHEMA}.province_seed"}) is not None
        if seeded and args.keep:
            seeded = tuple(conn.execute(text(f"SELECT persons, recognitions, settlements FROM {SCHEMA}.province_seed")).one())
        if not (args.keep and seeded):
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
            seeded = None
    engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "MTKIT_TODAY": TODAY,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={SCHEMA}"}},
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                      "MTKIT_SMS_LOG": os.devnull})
    try:
        with app.app_context():
            flask_migrate.upgrade()
            if seeded:
                counts = seeded
                print(f"reusing the seeded schema: {counts[0]:,} persons, {counts[1]:,} recognitions, {counts[2]:,} settlements")
            else:
                seed(*counts)
        measure(app, *counts, samples=args.samples)
    finally:
        if not args.keep:
            with create_engine(url).begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


def bench_ctx(user=None):
    return for_app(current_app, user, origin="cli")


# --- seeding ------------------------------------------------------------------------------------
def seed(persons: int, recognitions: int, settlements: int) -> None:
    started = time.perf_counter()
    create_staff(bench_ctx(), username="bench_yibao", password=PASSWORD, role="hospital_office", name="医保科",
                          region="150000", division="150100", hospital="H150100001")
    create_staff(bench_ctx(), username="bench_agency", password=PASSWORD, role="agency_reviewer", name="经办",
                 region="450600", office="O450600001")
    db.session.commit()
    first = db.session.scalar(select(func.max(User.id))) + 1
    opened = persons // 100
    step(started, "staff")
    copy_table("users", USER_COLUMNS, user_rows(first, persons))
    step(started, f"{persons:,} persons")
    copy_table("applications", APPLICATION_COLUMNS, application_rows(first, persons, recognitions, opened))
    copy_table("application_diseases", APPLICATION_DISEASE_COLUMNS, application_disease_rows(first, persons, recognitions, opened))
    step(started, f"{recognitions + opened:,} applications ({opened:,} open)")
    copy_table("recognitions", RECOGNITION_COLUMNS, recognition_rows(first, recognitions))
    step(started, f"{recognitions:,} recognitions")
    copy_table("benefit_settlements", SETTLEMENT_COLUMNS, settlement_rows(first, recognitions, settlements))
    step(started, f"{settlements:,} settlements")
    for table in ("users", "applications", "application_diseases", "recognitions", "benefit_settlements"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    db.session.commit()
    ten_year_person()
    step(started, "the person with ten years of history")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    db.session.execute(text("CREATE TABLE province_seed (persons integer, recognitions integer, settlements integer)"))
    db.session.execute(text("INSERT INTO province_seed VALUES (:p, :r, :s)"), {"p": persons, "r": recognitions, "s": settlements})
    db.session.commit()
    size = db.session.scalar(text("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                                  "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"),
                             {"s": SCHEMA})
    step(started, f"VACUUM ANALYZE; schema size {size}")


def step(started: float, what: str) -> None:
    print(f"  seeded {what:<48} at {time.perf_counter() - started:7.1f} s", flush=True)


def copy_table(table: str, columns: tuple[str, ...], rows) -> None:
    """COPY generated text lines into ``table``: its plain indexes dropped first and built after, FK
    triggers off for the load."""
    db.session.commit()  # the session's own transaction would hold locks DROP INDEX waits for
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET session_replication_role = replica")
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint)", (table,))
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        quoted = ", ".join(f'"{c}"' for c in columns)  # current_role is a keyword
        with cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            chunk = []
            for line in rows:
                chunk.append(line)
                if len(chunk) == BATCH:
                    copy.write("".join(chunk))
                    chunk = []
            if chunk:
                copy.write("".join(chunk))
        cur.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute("SET session_replication_role = DEFAULT")
        raw.commit()
    finally:
        raw.close()


def place_of(i: int):
    return PLACES[i % len(PLACES)]


def disease_of(i: int):
    region = place_of(i)[0]
    return DISEASES[region][(i // len(PLACES)) % len(DISEASES[region])]


USER_COLUMNS = ("id", "username", "password_hash", "role", "name", "id_number", "id_number_hmac", "phone", "phone_hmac",
                "region_code", "division_code", "psn_no", "insured_category", "insured_scheme", "notice_sms", "notice_letter",
                "is_enabled", "failed_logins", "created_at")


def id_number_of(i: int) -> str:
    birth = (date(1940, 1, 1) + timedelta(days=i % BIRTH_DAYS)).strftime("%Y%m%d")
    return make_id_number(place_of(i)[1], birth, i // BIRTH_DAYS)


def phone_of(i: int) -> str:
    return f"139{i:08d}"


def user_rows(first: int, persons: int):
    ring = current_app.extensions["mtkit_keys"].ring
    password = generate_password_hash(PASSWORD)
    for i in range(persons):
        region, division, _ = place_of(i)
        id_number, phone = id_number_of(i), phone_of(i)
        yield (f"{first + i}\tp{i:020x}\t{password}\tinsured\t参保人{i}\t{ring.encrypt(id_number, 'users.id_number')}\t"
               f"{ring.lookup('id_number', id_number)}\t{ring.encrypt(phone, 'users.phone')}\t{ring.lookup('phone', phone)}\t"
               f"{region}\t{division}\tP{i:012d}\t{'retired' if i % 3 else 'employed'}\temployee\tt\tf\tt\t0\t"
               f"2020-01-01 00:00:00+00\n")


APPLICATION_COLUMNS = ("id", "person_id", "region_code", "division_code", "kind", "institution_code", "channel", "status",
                       "step_index", "current_role", "steps", "fast_track", "step_due", "version", "created_at")
ROLE_AT = {"H": ("hospital_office", "physician"), "O": ("agency_reviewer", "expert")}


def open_application(n: int):
    """The n-th open application: waiting at a hospital (or, one in three, at the agency office)."""
    i = n * 37  # its person
    region, division, inst = place_of(i)
    if n % 3 == 0:
        inst = "O450600001" if region == "450600" else "O150000001"
    role = ROLE_AT[inst[0]][n % 2]
    return i, region, division, inst, role, TODAY + timedelta(days=n % 21 - 10)


def application_rows(first: int, persons: int, recognitions: int, opened: int):
    for k in range(recognitions):
        region, division, inst = place_of(k)
        yield (f"{k + 1}\t{first + k}\t{region}\t{division}\tnew\t{inst}\twindow\tapproved\t0\t\\N\t[]\tf\t\\N\t1\t"
               f"2024-01-01 00:00:00+00\n")
    for n in range(opened):
        i, region, division, inst, role, due = open_application(n)
        yield (f"{recognitions + n + 1}\t{first + i % persons}\t{region}\t{division}\tnew\t{inst}\tonline\t"
               f"{'in_review' if n % 4 else 'submitted'}\t0\t{role}\t[]\tf\t{due.isoformat()}\t1\t2026-11-01 00:00:00+00\n")


APPLICATION_DISEASE_COLUMNS = ("id", "application_id", "person_id", "region_code", "disease_code", "national_code",
                               "disease_name", "result", "is_open")


def application_disease_rows(first: int, persons: int, recognitions: int, opened: int):
    for k in range(recognitions):
        code, name, national = disease_of(k)
        yield f"{k + 1}\t{k + 1}\t{first + k}\t{place_of(k)[0]}\t{code}\t{national}\t{name}\tapproved\tf\n"
    for n in range(opened):
        i = open_application(n)[0]
        code, name, national = disease_of(i)
        a = recognitions + n + 1
        yield f"{a}\t{a}\t{first + i % persons}\t{place_of(i)[0]}\t{code}\t{national}\t{name}\tpending\tt\n"


RECOGNITION_COLUMNS = ("id", "person_id", "region_code", "division_code", "institution_code", "disease_code", "national_code",
                       "disease_name", "application_id", "start_date", "end_date", "status", "created_at")


def quiet_end(k: int, region: str) -> date:
    """An end date 1-730 days ahead that reaches no reminder day today."""
    days = 1 + (k * 7919) % 730
    while days in REMINDER_DAYS[region]:
        days += 1
    return TODAY + timedelta(days=days)


def recognition_rows(first: int, recognitions: int):
    for k in range(recognitions):
        region, division, inst = place_of(k)
        code, name, national = disease_of(k)
        yield (f"{k + 1}\t{first + k}\t{region}\t{division}\t{inst}\t{code}\t{national}\t{name}\t{k + 1}\t2016-01-01\t"
               f"{quiet_end(k, region).isoformat()}\tactive\t2016-01-01 00:00:00+00\n")


SETTLEMENT_COLUMNS = ("id", "person_id", "region_code", "division_code", "institution_code", "disease_code", "disease_name",
                      "recognition_id", "visit_date", "settled_on", "benefit_year", "category", "covered", "eligible_fen",
                      "deductible_fen", "limit_used_fen", "reimbursed_fen", "own_fen", "policy_version", "ratio",
                      "recorded_at")


def settlement_rows(first: int, recognitions: int, settlements: int):
    for j in range(settlements):
        k = j % recognitions
        year = 2017 + (j // recognitions) % 10
        region, division, inst = place_of(k)
        code, name, _ = disease_of(k)
        h = (j * 2654435761) & 0xFFFFFFFF
        visit = date(year, 1 + h % 11, 1 + (h >> 8) % 28).isoformat()
        eligible = 5_000 + (h >> 12) % 95_000
        paid = eligible * 7 // 10
        yield (f"{j + 1}\t{first + k}\t{region}\t{division}\t{inst}\t{code}\t{name}\t{k + 1}\t{visit}\t{visit}\t{year}\t"
               f"{'retired' if k % 3 else 'employed'}\tt\t{eligible}\t0\t{paid}\t{paid}\t{eligible - paid}\tbench\t0.70\t"
               f"{visit} 08:00:00+00\n")


def ten_year_person() -> None:
    """One Fangchenggang person with 150 visits a year for ten years, reversals and a stay a year."""
    agency = db.session.scalar(select(User).where(User.username == "bench_agency"))
    person = register_insured(bench_ctx(), name="十年参保人", id_number=make_id_number("450602", "19500101", 777),
                              phone="13800007777", password=PASSWORD, region="450600", division="450602",
                              insured_category="retired")
    db.session.flush()
    app_row = Application(person_id=person.id, region_code="450600", division_code="450602", institution_code="O450600001",
                          channel="window", kind="new", status="approved", steps=[], step_index=0)
    db.session.add(app_row)
    db.session.flush()
    for code, name, national in DISEASES["450600"]:
        db.session.add(Recognition(person_id=person.id, region_code="450600", division_code="450602",
                                   institution_code="O450600001", disease_code=code, national_code=national,
                                   disease_name=name, application_id=app_row.id, start_date=date(2016, 1, 1),
                                   end_date=date(2027, 12, 31)))
    db.session.commit()
    old = []
    for year in range(2017, 2026):
        for k in range(150):
            old.append(dict(person_id=person.id, region_code="450600", division_code="450602",
                            institution_code=TEN_YEAR_HOSPITALS[k % 3], disease_code=DISEASES["450600"][k % 2][0],
                            disease_name=DISEASES["450600"][k % 2][1], visit_date=date(year, 1, 2) + timedelta(days=k * 2),
                            settled_on=date(year, 12, 31), benefit_year=year, category="retired", covered=True,
                            eligible_fen=20000, deductible_fen=0, limit_used_fen=15000, reimbursed_fen=15000, own_fen=5000,
                            policy_version="bench"))
    db.session.execute(insert(BenefitSettlement), old)
    visits = [Visit(person, TEN_YEAR_HOSPITALS[k % 3], DISEASES["450600"][k % 2][0], date(2026, 1, 2) + timedelta(days=k * 2),
                    Decimal(20 + k % 300)) for k in range(150)]
    rows = ben.settle_many(bench_ctx(agency), visits)
    for row in rows[::50]:
        ben.reverse(bench_ctx(agency), row, "bench")
    for year in range(2017, 2026):
        db.session.add(InpatientStay(person_id=person.id, region_code="450600", division_code="450602",
                                     institution_code=TEN_YEAR_HOSPITALS[0], admitted_on=date(year, 12, 20),
                                     discharged_on=date(year, 12, 28), recorded_by_id=agency.id))
    db.session.commit()


# --- timing -------------------------------------------------------------------------------------
def measure(app, persons: int, recognitions: int, settlements: int, samples: int) -> None:
    """Pages run outside any app context (each request gets its own, as in production: an outer one
    would share Flask-Login's user and the database session between requests); jobs and the export
    in one, as the CLI runs them."""
    with app.app_context():
        first = db.session.scalar(select(func.min(User.id)).where(User.username == "p" + "0" * 20))
        ten = db.session.scalar(select(User.id).where(User.name == "十年参保人"))
    print(f"\nprovince scale on PostgreSQL: {persons:,} persons, {recognitions:,} recognitions, {settlements:,} settlements; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    pages(app, first, ten, persons, samples)
    with app.app_context():
        print(f"\ndaily `jobs run` ({', '.join(n for n in JOBS if n != 'deliver_notices')}), then deliver_notices:")
        rss = RssSampler()
        jobs_scenario("nothing due", 0, rss)
        jobs_scenario("1% due", recognitions // 100, rss)
        print("\nyear-end export (flask benefits export-year: one region's settlements of 2025, streamed):")
        for region in ("150000", "450600"):
            year_end_export(region, 2025, rss)
        year_query_plans()
        rss.stop()


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]


def percentiles(samples: list[float], cpu: list[float] | None = None) -> str:
    """Wall-clock p50/p95 and, on a shared machine, this process's CPU time per request (what the
    app itself costs; the database's few milliseconds run in its own processes)."""
    text = f"p50 {statistics.median(samples):7.1f} ms   p95 {p95(samples):7.1f} ms"
    return text + (f"   | CPU p50 {statistics.median(cpu):6.1f} ms  p95 {p95(cpu):6.1f} ms" if cpu else "")


def login(app, username: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 302, (username, r.status_code)
    return client


def timed_get(client, url: str, samples: int) -> str:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    times, cpu = [], []
    for _ in range(samples):
        t, c = time.perf_counter(), time.process_time()
        r = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    return percentiles(times, cpu)


def pages(app, first: int, ten: int, persons: int, samples: int) -> None:
    print(f"\npages (in-process test client, logged in; {samples} requests each after one warm-up):")
    yibao, agency = login(app, "bench_yibao"), login(app, "bench_agency")
    person = login(app, make_id_number("450602", "19500101", 777))
    cases = [
        ("医保科 待办 (queue page 1)", yibao, "/staff/queue"),
        ("医保科 全部", yibao, "/staff/queue?view=all"),
        ("医保科 待办, 已超时", yibao, "/staff/queue?due=overdue"),
        ("经办机构 待办 (Fangchenggang)", agency, "/staff/queue"),
        ("经办机构 全部, 即将到期", agency, "/staff/queue?view=all&due=soon"),
        ("门特结算 home (latest in the region)", agency, "/staff/benefits"),
        ("我的待遇, ten years of history", person, "/benefits"),
        ("我的待遇, 2020", person, "/benefits?year=2020"),
        ("门特结算 person page, same person", None, f"/staff/benefits/people/{ten}"),
    ]
    for name, client, url in cases:
        if client is None:  # the staff page of a person comes after a look-up
            agency.post("/staff/benefits", data={"id_number": make_id_number("450602", "19500101", 777)})
            client = agency
        print(f"  {name:<36} {timed_get(client, url, samples)}", flush=True)
    # Look-up by full ID number, as at the window: a different Fangchenggang person each time.
    fcg = [i for i in range(6, persons, len(PLACES) * max(1, persons // (len(PLACES) * samples * 2)))][:samples]
    looked, opened, looked_cpu, opened_cpu = [], [], [], []
    for i in fcg:  # the person page needs the look-up just before it (the session remembers the last few)
        t, c = time.perf_counter(), time.process_time()
        r = agency.post("/staff/benefits", data={"id_number": id_number_of(i)})
        looked.append((time.perf_counter() - t) * 1000)
        looked_cpu.append((time.process_time() - c) * 1000)
        assert r.status_code == 302 and r.headers["Location"].endswith(f"/people/{first + i}"), (i, r.status_code)
        t, c = time.perf_counter(), time.process_time()
        r = agency.get(f"/staff/benefits/people/{first + i}")
        opened.append((time.perf_counter() - t) * 1000)
        opened_cpu.append((time.process_time() - c) * 1000)
        assert r.status_code == 200, (i, r.status_code)
    print(f"  {'门特结算 look-up by ID number (POST)':<36} {percentiles(looked, looked_cpu)}", flush=True)
    print(f"  {'门特结算 person page, looked-up person':<36} {percentiles(opened, opened_cpu)}", flush=True)


class RssSampler:
    """The process's resident set, sampled every 20 ms on a thread; ``peak_since`` the last mark."""

    def __init__(self):
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def mark(self) -> int:
        self.peak = base = self.now()
        return base

    def stop(self):
        self._stop.set()
        self._thread.join()


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def make_due(count: int) -> None:
    """Move ``count`` recognitions onto today's reminder days or to yesterday's end, remembering
    their dates (restore_due puts them back)."""
    db.session.execute(text("CREATE TABLE IF NOT EXISTS province_moved (id integer PRIMARY KEY, end_date date, status varchar(10))"))
    db.session.execute(text(
        "INSERT INTO province_moved SELECT id, end_date, status FROM recognitions WHERE status = 'active' "
        "AND id % 97 = 13 ORDER BY id LIMIT :n ON CONFLICT DO NOTHING"), {"n": count})
    db.session.execute(text(
        "UPDATE recognitions r SET end_date = CAST(:today AS date) + CASE m.id % 4 WHEN 0 THEN "
        "(CASE WHEN r.region_code = '150000' THEN 60 ELSE 90 END) WHEN 1 THEN 30 WHEN 2 THEN 7 ELSE -1 END "
        "FROM province_moved m WHERE r.id = m.id"), {"today": TODAY})
    db.session.commit()
    db.session.execute(text("ANALYZE recognitions"))
    db.session.commit()


def restore_due(notices_before: int) -> None:
    db.session.execute(text("UPDATE recognitions r SET end_date = m.end_date, status = m.status FROM province_moved m "
                            "WHERE r.id = m.id"))
    db.session.execute(text("DROP TABLE province_moved"))
    doomed = select(Notice.id).where(Notice.id > notices_before)
    db.session.execute(delete(NoticeDelivery).where(NoticeDelivery.notice_id.in_(doomed)))
    db.session.execute(delete(Notice).where(Notice.id > notices_before))
    db.session.commit()


def jobs_scenario(label: str, due: int, rss: RssSampler) -> None:
    ctx = for_app(current_app, origin="job")
    notices_before = db.session.scalar(select(func.coalesce(func.max(Notice.id), 0)))
    if due:
        make_due(due)
    db.session.execute(delete(JobRun))
    for name in JOBS:  # yesterday's run finished: today's is due, with yesterday as its watermark
        db.session.add(JobRun(name=name, run_date=TODAY - timedelta(days=1), status="done", processed=0, changed=0))
    db.session.commit()
    db.session.expunge_all()
    base = rss.mark()
    t = time.perf_counter()
    results = {name: runner.run(ctx, job, lambda line: None, force=True) for name, job in JOBS.items() if name != "deliver_notices"}
    daily = time.perf_counter() - t
    daily_peak = rss.peak
    sent = db.session.scalar(select(func.count()).select_from(Notice).where(Notice.id > notices_before))
    t = time.perf_counter()
    results["deliver_notices"] = runner.run(ctx, JOBS["deliver_notices"], lambda line: None, force=True)
    sms = time.perf_counter() - t
    bad = {k: v for k, v in results.items() if v != "done"}
    print(f"  {label:<12} {due:>7,} due: daily run {daily:6.2f} s (+{sent:,} notices), RSS +{mib(daily_peak - base)} over "
          f"{mib(base)}; SMS sending {sms:6.2f} s, RSS +{mib(rss.peak - base)}{'  NOT DONE: ' + str(bad) if bad else ''}",
          flush=True)
    if due:
        restore_due(notices_before)


def year_end_export(region: str, year: int, rss: RssSampler) -> None:
    base = rss.mark()
    t = time.perf_counter()
    lines = export_year(bench_ctx(), region, year)
    db.session.commit()
    rows, size = -1, 0
    for chunk in lines:
        rows += chunk.count("\n")
        size += len(chunk.encode("utf-8"))
    took = time.perf_counter() - t
    print(f"  {region} {year}: {rows:,} rows, {size / 2**20:.0f} MiB of CSV in {took:.1f} s ({rows / took:,.0f} rows/s), "
          f"RSS +{mib(rss.peak - base)} over {mib(base)}", flush=True)


def year_query_plans() -> None:
    """For the partitioning question: one year of a region through the index, and the same with the
    index turned off (what a scan of the whole ledger costs)."""
    query = ("SELECT count(*), sum(reimbursed_fen) FROM benefit_settlements WHERE benefit_year = 2025 "
             "AND region_code = '150000'")
    for label, setting in (("by index", "on"), ("whole-ledger scan", "off")):
        db.session.execute(text(f"SET enable_indexscan = {setting}"))
        db.session.execute(text(f"SET enable_bitmapscan = {setting}"))
        db.session.execute(text(f"SET enable_indexonlyscan = {setting}"))
        t = time.perf_counter()
        db.session.execute(text(query)).one()
        print(f"  a year's total for one region, {label:<18} {time.perf_counter() - t:6.2f} s")
        db.session.rollback()


if __name__ == "__main__":
    main()
