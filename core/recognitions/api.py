"""Recognitions over the JSON API: the caller's recognitions and starting a renewal."""
from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from core.api.blueprint import bp
from core.api.errors import ApiError
from core.api.inputs import Fields, idempotency_key, iso, json_body
from core.applications import service as applications
from core.applications.api import detail
from core.extensions import db
from core.models import Recognition
from core.people.api import person_named
from core.people.scope import get_visible
from core.recognitions import service
from core.web.context import ctx


@bp.get("/recognitions")
def recognitions_list():
    c = ctx()
    on = c.today(current_user.region_code)
    return jsonify({"items": [recognition_dict(s) for s in service.summaries(c, service.person_recognitions(current_user.id), on)]})


@bp.post("/recognitions/<id:rec_id>/renewals")
def renewal_create(rec_id):
    f = Fields(json_body())
    channel = f.text("channel", max_len=20, label="办理渠道")
    institution = f.text("hospital", required=False, max_len=30) or f.text("office", required=False, max_len=30)
    id_number = f.text("person_id_number", required=False, max_len=18)
    f.done()
    # 代办: the person first (the look-up is audited whatever follows), as the window does.
    person = person_named(id_number, "person_id_number", purpose="apply") if current_user.is_staff else None
    rec = get_visible(current_user, Recognition, rec_id)
    if person is not None and rec.person_id != person.id:
        raise ApiError(404, message="该身份证号码与所办理的认定不是同一参保人。", fields={"person_id_number": "未找到"})
    app = applications.start_renewal(ctx(), rec, channel=channel, institution=institution, key=idempotency_key())
    db.session.commit()
    return jsonify(detail(app, current_user)), 201


def recognition_dict(s: dict) -> dict:
    r = s["rec"]
    return {
        "id": r.id, "region": r.region_code, "disease": r.disease_code, "national_code": r.national_code,
        "disease_name": r.disease_name, "institution": r.institution_code, "start_date": iso(r.start_date),
        "end_date": iso(r.end_date), "stop_date": iso(r.stop_date), "state": s["state"],
        "renewal_window": {"opens": iso(s["opens"]), "closes": iso(s["closes"])},
        "renewal_problem": s["renewal_problem"], "application": r.application_id,
    }
