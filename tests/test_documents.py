"""Printed forms (both regions, filled and blank), the safe PDF fetcher, verification codes."""
from __future__ import annotations

import re
import subprocess
from datetime import date

import pytest
from sqlalchemy import func, select

from core import workflow
from core.extensions import db
from core.models import AuditLog, VerificationCode
from core.services import verification
from core.services.pdf import ASSET_PREFIX, AssetFetcher, html_to_pdf
from tests.conftest import login


def act(app, user, action, **fields):
    workflow.act(app, user, action, app.version, **fields)
    db.session.commit()
    return app


def pdf_text(data: bytes) -> str:
    """What a reader's copy-and-paste would get: pdftotext (poppler-utils, installed by set-up)."""
    assert data.startswith(b"%PDF-")
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def decided_nmg(make, nmg_staff, person=None):
    person = person or make.person(name="张桂英")
    app = make.application(person, ["M03900", "M01600"])
    act(app, nmg_staff["office"], "accept")
    act(app, nmg_staff["doctor"], "decide", results={"M03900": "approved", "M01600": "rejected"}, reason_code="R01",
        explanations={"M01600": "空腹血糖记录不足三次"}, note="内部意见:随访")
    act(app, nmg_staff["office"], "record")
    return app


def decided_fcg(make, fcg_staff):
    person = make.person(region="450600", division="450602", name="韦小红")
    app = make.application(person, ["FCG001"])
    act(app, fcg_staff["reviewer"], "accept")
    act(app, fcg_staff["reviewer"], "refer_expert", note="病情需复评")
    act(app, fcg_staff["expert"], "decide", results={"FCG001": "approved"})
    act(app, fcg_staff["reviewer"], "record")
    return app
