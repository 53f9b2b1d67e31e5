"""The time limit of the current review step, in the region's working days.

A step with ``sla_working_days`` gets a due date when it starts (counted from the region's today,
the start day itself not counted). Returned to the applicant, the clock pauses: the working days
left are kept and the step resumes with them on resubmission.
"""
from __future__ import annotations

from datetime import date

from core.calendar.service import due_date, remaining
from core.context import Context
from core.models import Application


def start_step_clock(ctx: Context, app: Application, on: date) -> None:
    step = app.current_step
    app.step_started_at = ctx.now()
    if step and step.get("sla"):
        days = app.sla_remaining if app.sla_remaining is not None else step["sla"]
        app.step_due = due_date(ctx, app.region_code, on, days)
    else:
        app.step_due = None
    app.sla_remaining = None


def pause_step_clock(ctx: Context, app: Application, on: date) -> None:
    """Stop the clock while the applicant supplies materials; keep the working days left."""
    app.sla_remaining = remaining(ctx, app.region_code, on, app.step_due) if app.step_due else None
    app.step_due = None
