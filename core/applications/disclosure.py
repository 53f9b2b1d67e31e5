"""What an applicant may read of their own case while it is open.

Staff see everything in their scope. The applicant sees the status, the current step, returns
addressed to them and, once the case is closed, the final result per disease. Reviewers' working
notes, referrals and per-disease results that a later step has not yet confirmed stay internal,
and staff appear by role, not by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.kernel.roles import Role
from core.kernel.status import Action, Status
from core.models import Application, User

# Events whose note is addressed to the applicant.
APPLICANT_NOTES = (Action.CREATE, Action.WITHDRAW, Action.SUBMIT, Action.RESUBMIT)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime | None
    action: str
    who: str
    to_status: str
    step_name: str | None
    note: str | None


def results_visible(app: Application, user: User) -> bool:
    return user.is_staff or not app.is_open


def timeline(app: Application, user: User) -> list[TimelineEntry]:
    entries = []
    for e in app.events:
        actor = e.actor
        if user.is_staff:
            # Staff are named; the applicant is not (their name is masked on staff screens).
            who = "申请人本人" if actor is not None and actor.id == app.person_id else (actor.name if actor else "")
            note = e.note
        else:
            who = "本人" if actor is not None and actor.id == app.person_id else Role.label_of(getattr(actor, "role", ""))
            to_applicant = e.action == Action.RETURN and e.to_status == Status.RETURNED
            note = e.note if (e.action in APPLICANT_NOTES or to_applicant) else None
        entries.append(TimelineEntry(e.at, e.action, who, e.to_status, e.step_name, note))
    return entries
