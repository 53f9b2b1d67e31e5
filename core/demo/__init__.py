"""Demo data for both regions: staff, insured people, and two years of history in every status.

Every record is made through the real services (register, apply with materials, submit, review
step by step, decide, record, renew, settle), each at the moment it would have happened
(``story.py``), so it obeys every rule and reads true on every page, PDF and job.
"""
from __future__ import annotations

from core.context import Context
from core.demo import history, ledger
from core.demo.story import Story, demo_pdf
from core.extensions import db
from core.models import User
from core.people import accounts

__all__ = ["PASSWORD", "STAFF", "PEOPLE", "database_is_empty", "demo_pdf", "make_id_number", "seed"]

PASSWORD = "Demo1234"
REGISTERED_DAYS_AGO = 560  # working days: before the oldest demo application (about two years and a half)

STAFF = [
    # username, role, name, region, division, hospital, office, title
    ("admin", "admin", "系统管理员", None, None, None, None, None),
    ("nmg_doctor", "physician", "王建国", "150000", "150100", "H150100001", None, "副主任医师"),
    ("nmg_junior", "physician", "李晓明", "150000", "150100", "H150100001", None, "主治医师"),
    ("nmg_yibao", "hospital_office", "赵丽", "150000", "150100", "H150100001", None, None),
    ("bt_doctor", "physician", "孙伟", "150000", "150200", "H150200001", None, "主任医师"),
    ("bt_yibao", "hospital_office", "周敏", "150000", "150200", "H150200001", None, None),
    ("nmg_agency", "agency_reviewer", "吴刚", "150000", "150100", None, "O150100001", None),
    ("nmg_admin", "admin", "内蒙古管理员", "150000", None, None, None, None),
    ("fcg_review", "agency_reviewer", "黄海燕", "450600", None, None, "O450600001", None),
    ("dx_review", "agency_reviewer", "陈志强", "450600", "450681", None, "O450681001", None),
    ("fcg_expert", "expert", "梁教授", "450600", None, None, None, None),
    ("fcg_admin", "admin", "防城港管理员", "450600", None, None, None, None),
    ("fcg_yibao", "hospital_office", "覃春燕", "450600", "450602", "H450602001", None, None),
]


def make_id_number(division: str, birth: str, seq: int) -> str:
    """A resident ID with a correct GB 11643 check character (for demo people only)."""
    body = f"{division}{birth}{seq:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


PEOPLE = [
    # name, division of birth (GB/T 2260), birth, seq, phone, category, region, division insured in
    ("张桂英", "150102", "19550312", 24, "13804711234", "retired", "150000", "150100"),
    ("刘建华", "150102", "19680825", 13, "13904712345", "employed", "150000", "150100"),
    ("马秀兰", "150203", "19600101", 42, "13704723456", "retired", "150000", "150200"),
    ("韦小红", "450602", "19580704", 26, "13807701234", "retired", "450600", "450602"),
    ("黄志明", "450681", "19720315", 17, "13907702345", "employed", "450600", "450681"),
    ("李秀梅", "450603", "19650930", 28, "13707703456", "retired", "450600", "450603"),
]


def database_is_empty() -> bool:
    return db.session.query(User.id).first() is None


def seed(ctx: Context) -> list[tuple[str, str, str]]:
    """Create staff, people and their history. Returns the log-ins (username, role, note)."""
    story = Story(ctx)
    staff = {}
    for username, role, name, region, division, hospital, office, title in STAFF:
        at = story.at(story.moment(region or "150000", story.back(region or "150000", REGISTERED_DAYS_AGO + 20)), None)
        staff[username] = accounts.create_staff(
            at, username=username, password=PASSWORD, role=role, name=name, region=region,
            division=division, hospital=hospital, office=office, title=title,
        )
    people = []
    for name, div, birth, seq, phone, cat, region, division in PEOPLE:
        at = story.at(story.moment(region, story.back(region, REGISTERED_DAYS_AGO)), None)
        people.append(
            accounts.register_insured(
                at, name=name, id_number=make_id_number(div, birth, seq), phone=phone, password=PASSWORD,
                region=region, division=division, insured_category=cat,
            )
        )
    # National platform numbers (人员编号, 医保医师代码), as a bureau would load them (flask nhsa import-psn).
    for n, person in enumerate(people, start=1):
        person.psn_no = f"{person.division_code}{n:014d}"
    for n, username in enumerate(("nmg_doctor", "nmg_junior", "bt_doctor", "fcg_review", "dx_review", "fcg_expert"), 1):
        staff[username].practitioner_code = f"D{staff[username].region_code}{n:06d}"
    huang = people[4]
    # 黄志明 lives in Shenzhen for work (异地就医) and wants letters there as well as SMS.
    huang.remote_address = "广东省深圳市福田区华强北路1号"
    huang.notice_letter = True

    held = history.seed(story, staff, *people)
    db.session.flush()
    ledger.seed(story, staff, held)

    logins = [(u, r, n) for u, r, n, *_ in STAFF]
    logins += [(p.id_number, "insured", p.name) for p in people]  # they log in with their ID number
    return logins
