"""Bulk rows for benchmarks: N applications spread over a prefecture's hospitals and agencies.

Shared by bench/queue_pages.py and bench/pages.py. Rows go in with plain INSERTs (no services, no
audit rows): they exist to give the queries realistic tables, not a realistic history. Ids start
after the highest id already there, so this also works on a database holding demo data.
"""
from __future__ import annotations

import random
import time
from datetime import date, timedelta

from sqlalchemy import func, insert, select, text

from core.extensions import db
from core.models import Application, ApplicationDisease, User

TODAY = date(2026, 11, 23)
CHUNK = 20_000
# (region, division, institution) spread like a prefecture's real load.
PLACES = [
    ("150000", "150100", "H150100001"), ("150000", "150100", "H150100002"), ("150000", "150100", "H150100003"),
    ("150000", "150200", "H150200001"), ("150000", "150200", "H150200002"), ("150000", "150400", "H150400001"),
    ("450600", "450602", "O450600001"), ("450600", "450681", "O450681001"), ("450600", "450603", "O450603001"),
]
# The role an open application waits for, by the institution's kind (H: hospital, O: agency).
ROLE_AT = {"H": ("hospital_office", "physician"), "O": ("agency_reviewer", "expert")}
STATUSES = ["approved"] * 70 + ["rejected"] * 8 + ["partial"] * 4 + ["withdrawn"] * 3 + ["in_review"] * 8 + ["submitted"] * 4 + ["returned"] * 2 + ["draft"]
DISEASES = {"150000": ["M03900", "M01600", "M04600", "M00503", "M07803"], "450600": ["FCG001", "FCG002", "FCG003", "FCG009"]}


def seed_applications(rows: int, *, people: int = 20_000, today: date = TODAY, echo=print) -> range:
    """Insert ``people`` insured accounts and ``rows`` applications with one disease each; returns
    the new applications' ids. Open ones wait for a role, with a time limit around ``today``."""
    rnd = random.Random(7)
    started = time.perf_counter()
    first_user = (db.session.scalar(select(func.max(User.id))) or 0) + 1
    first_app = (db.session.scalar(select(func.max(Application.id))) or 0) + 1
    db.session.execute(insert(User), [
        {"id": first_user + i, "username": f"bench{first_user + i}", "password_hash": "x", "role": "insured",
         "name": "参保人", "region_code": "150000", "is_enabled": True, "failed_logins": 0} for i in range(people)
    ])
    db.session.commit()
    last_app = first_app + rows - 1
    for start in range(first_app, last_app + 1, CHUNK):
        apps, diseases = [], []
        for i in range(start, min(last_app, start + CHUNK - 1) + 1):
            region, division, inst = rnd.choice(PLACES)
            status = rnd.choice(STATUSES)
            role = rnd.choice(ROLE_AT[inst[0]]) if status in ("submitted", "in_review") else None
            # Open steps have a time limit around today: some overdue, some due soon, most later.
            due = today + timedelta(days=rnd.randint(-10, 10)) if role else None
            person = first_user + rnd.randrange(people)
            apps.append({"id": i, "person_id": person, "region_code": region, "division_code": division,
                         "kind": "new", "institution_code": inst, "channel": "online", "status": status, "step_index": 0,
                         "steps": [], "fast_track": False, "version": 1, "current_role": role, "step_due": due})
            diseases.append({"application_id": i, "person_id": person, "region_code": region,
                             "disease_code": rnd.choice(DISEASES[region]), "national_code": "M00000", "disease_name": "病种",
                             "result": "pending", "is_open": False})
        db.session.execute(insert(Application), apps)
        db.session.execute(insert(ApplicationDisease), diseases)
        db.session.commit()
        echo(f"\rseeded {min(last_app, start + CHUNK - 1) - first_app + 1:>9,} applications", end="", flush=True)
    if db.engine.dialect.name == "postgresql":
        # Ids were given explicitly: move the sequences past them, then refresh the planner's statistics.
        for table in ("users", "applications"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    echo(f"  ({time.perf_counter() - started:.0f} s)")
    return range(first_app, last_app + 1)
