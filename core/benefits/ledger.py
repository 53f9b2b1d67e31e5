"""The ledger in the database: loading what a calculation needs, locking a person while settling,
and reading settlements in a user's scope. Rows are never edited or deleted: a correction is a
reversal row (``reversal_of_id``); a settlement's reversal carries the negated amounts, so sums over
the ledger are the balances."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select, update
from sqlalchemy.orm import load_only

from core.benefits.calculation import PersonLedger
from core.context import Context
from core.extensions import db
from core.models import BenefitSettlement, ChosenInstitution, InpatientStay, Recognition, User
from core.people.categories import history_of
from core.people.scope import record_scope
from core.recognitions.service import open_renewals

PAGE_ROWS = 100


def lock_people(person_ids) -> None:
    """Serialise settlements per person: whoever locks first settles first, the other waits and then
    reads the deductible and limits including the first one's rows."""
    ids = sorted(set(person_ids))
    if not ids:
        return
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(User.id).where(User.id.in_(ids)).order_by(User.id).with_for_update())
    else:
        # SQLite locks the whole database on the first write: take it before reading anything.
        db.session.execute(
            update(User).where(User.id.in_(ids)).values(insured_scheme=User.insured_scheme),
            execution_options={"synchronize_session": False},
        )


def active_rows(model, person_ids) -> dict[int, list]:
    """The people's rows of ``model`` (stays, chosen institutions) that no reversal cancels."""
    rows = db.session.scalars(select(model).where(model.person_id.in_(person_ids)).order_by(model.id)).all()
    reversed_ids = {r.reversal_of_id for r in rows if r.reversal_of_id is not None}
    out: dict[int, list] = defaultdict(list)
    for r in rows:
        if r.reversal_of_id is None and r.id not in reversed_ids:
            out[r.person_id].append(r)
    return out


def load_ledgers(ctx: Context, people: list[User], years) -> dict[int, PersonLedger]:
    """Everything the calculation reads about these people, for these benefit years, in a few queries."""
    ids = [p.id for p in people]
    years = sorted(set(years))
    # Only what the coverage rule reads (the rest of a recognition is not needed to settle).
    rec_rows = db.session.scalars(
        select(Recognition).where(Recognition.person_id.in_(ids)).options(load_only(
            Recognition.person_id, Recognition.region_code, Recognition.institution_code, Recognition.disease_code,
            Recognition.disease_name, Recognition.start_date, Recognition.end_date, Recognition.stop_date,
            Recognition.status,
        ))
    ).all()
    by_person: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in rec_rows:
        by_person[r.person_id][r.disease_code].append(r)
    renewals = open_renewals(ctx, rec_rows)
    stays = active_rows(InpatientStay, ids)
    chosen = active_rows(ChosenInstitution, ids)
    totals = db.session.execute(
        select(
            BenefitSettlement.person_id, BenefitSettlement.benefit_year, BenefitSettlement.disease_code,
            func.sum(BenefitSettlement.deductible_fen), func.sum(BenefitSettlement.limit_used_fen),
        )
        .where(BenefitSettlement.person_id.in_(ids), BenefitSettlement.benefit_year.in_(years))
        .group_by(BenefitSettlement.person_id, BenefitSettlement.benefit_year, BenefitSettlement.disease_code)
    ).all()
    categories = history_of(ids)
    ledgers = {
        p.id: PersonLedger(p, dict(by_person.get(p.id, {})), renewals, stays.get(p.id, []), chosen.get(p.id, []), {}, {},
                           categories=categories.get(p.id, []))
        for p in people
    }
    for pid, year, disease, deductible, limit in totals:
        ledgers[pid].deductible_used[(year, disease)] = int(deductible or 0)
        ledgers[pid].limit_used[(year, disease)] = int(limit or 0)
    # The deductible amounts the years' covered settlements were made under (see PersonLedger.deductible_met).
    amounts = db.session.execute(
        select(BenefitSettlement.person_id, BenefitSettlement.benefit_year, BenefitSettlement.deductible_amount_fen)
        .where(BenefitSettlement.person_id.in_(ids), BenefitSettlement.benefit_year.in_(years),
               BenefitSettlement.covered.is_(True), BenefitSettlement.reversal_of_id.is_(None),
               BenefitSettlement.deductible_amount_fen.is_not(None))
        .distinct()
    ).all()
    for pid, year, amount in amounts:
        ledgers[pid].deductible_amounts.setdefault(year, set()).add(int(amount))
    return ledgers


def reimbursed_by_disease(person_id: int, year: int) -> dict[str, int]:
    return dict(db.session.execute(
        select(BenefitSettlement.disease_code, func.sum(BenefitSettlement.reimbursed_fen))
        .where(BenefitSettlement.person_id == person_id, BenefitSettlement.benefit_year == year)
        .group_by(BenefitSettlement.disease_code)
    ).all())


def visits_query(user: User, person_id: int | None = None, year: int | None = None):
    """Settlements ``user`` may see (a hospital: its own visits only), newest first."""
    q = select(BenefitSettlement).where(record_scope(user, BenefitSettlement))
    if person_id is not None:
        q = q.where(BenefitSettlement.person_id == person_id)
    if year is not None:
        q = q.where(BenefitSettlement.benefit_year == year)
    return q.order_by(BenefitSettlement.id.desc())


def visits_page(user: User, person_id: int | None, year: int | None, before: int | None, size: int = PAGE_ROWS):
    """One page of settlements, newest first, walking the id index from ``before`` (no OFFSET)."""
    query = visits_query(user, person_id, year)
    if before:
        query = query.where(BenefitSettlement.id < before)
    rows = db.session.scalars(query.limit(size + 1)).all()
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)


def reversed_ids(model, rows) -> set[int]:
    """Which of ``rows`` (settlements, stays) a reversal row cancels."""
    ids = [r.id for r in rows]
    if not ids:
        return set()
    return set(db.session.scalars(select(model.reversal_of_id).where(model.reversal_of_id.in_(ids))))


def reversal_of(row: BenefitSettlement) -> BenefitSettlement | None:
    return db.session.scalar(select(BenefitSettlement).where(BenefitSettlement.reversal_of_id == row.id))


def stays_of(user: User, person_id: int, limit: int = 50) -> list[InpatientStay]:
    return list(db.session.scalars(
        select(InpatientStay).where(record_scope(user, InpatientStay), InpatientStay.person_id == person_id)
        .order_by(InpatientStay.admitted_on.desc()).limit(limit)
    ))


def recent(user: User, limit: int = 30) -> list[BenefitSettlement]:
    """The latest settlements in ``user``'s scope (the 门特结算 landing page)."""
    return list(db.session.scalars(visits_query(user).limit(limit)))
