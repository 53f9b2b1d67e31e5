"""Helpers every page uses: record ids from the request, the 代办 look-up memory, rendering a page or
its htmx fragment from one template, and showing a refusal with nothing saved."""
from __future__ import annotations

from flask import flash, render_template, request, session
from jinja2_fragments.flask import render_block

from core.extensions import db
from core.kernel.errors import Invalid, ServiceError
from core.models.base import MAX_ID

FORM_KEY = "idempotency_key"  # the hidden one-time key of forms that create records (new_form_key())
EXPIRED_FORM = "页面已过期(表单缺少提交编号),请刷新页面后重新填写提交。"


def commit_keeping_loaded() -> None:
    """Commit without expiring what this request has loaded, for a commit that only recorded that a
    page was opened (its audit row): the page then renders the rows as read a moment ago instead of
    reading each of them again."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def arg_id(name: str) -> int | None:
    """A record id from the query string or form; anything not a plausible id is None."""
    value = request.values.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else None


def form_version() -> str | None:
    return request.form.get("version")


def form_key(required: bool = False) -> str | None:
    """The form's one-time key: a repeat of the submit (a double click, four tabs at once) returns
    the first result. Forms that move money require it (a page drawn before it existed must be reloaded)."""
    key = request.form.get(FORM_KEY) or None
    if required and key is None:
        raise Invalid(EXPIRED_FORM, status=400, fields={FORM_KEY: "缺少"})
    return key


def remember_looked_up(person_id: int) -> None:
    """Staff may act for a person only after looking them up by full ID number in this session,
    so ids in URLs cannot be stepped through to reach a region's insured people."""
    session["proxy_people"] = session.get("proxy_people", [])[-19:] + [person_id]


def was_looked_up(person_id: int | None) -> bool:
    return person_id is not None and person_id in session.get("proxy_people", [])


def is_fragment_request() -> bool:
    """An htmx request that swaps part of the page (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def fragment(template: str, block: str, **context) -> str:
    """Only ``block`` of ``template`` (a piece htmx asks for on its own)."""
    return render_block(template, block, **context)


def render(template: str, *, block: str | None = None, status: int = 200, **context):
    """The page, or only its ``block`` for an htmx request: one template renders both
    (jinja2-fragments), so a fragment can never drift from the page it belongs to."""
    if block is not None and is_fragment_request():
        return render_block(template, block, **context), status
    return render_template(template, **context), status


def refused(e: ServiceError, template: str, *, block: str | None = None, **context):
    """A rule refused: nothing is saved, the message (and every problem) is shown on ``template``
    with what the person typed still in place."""
    db.session.rollback()
    flash(e.message, "error")
    return render(template, block=block, status=e.status, problems=e.problems, **context)
