"""Public reference data: regions, their divisions and institutions, catalogue, materials, channels."""
from __future__ import annotations

from flask import jsonify, request

from core.api.blueprint import bp
from core.api.errors import ApiError
from core.api.inputs import query_year
from core.kernel.status import Kind
from core.web.context import ctx, regions


def _region(code: str):
    info = regions().get(code)
    if info is None:
        raise ApiError(404, message="地区不存在。")
    return info


def region_summary(info) -> dict:
    return {"code": info.code, "name": info.name, "short_name": info.short_name, "intake": info.intake,
            "division_label": info.division_label, "contact": info.contact, "timezone": info.timezone}


@bp.get("/regions", endpoint="regions")
def regions_list():
    return jsonify({"items": [region_summary(i) for i in regions().all()]})


@bp.get("/regions/<code>", endpoint="region")
def region(code):
    info = _region(code)
    body = region_summary(info)
    body["divisions"] = [{"code": d.code, "name": d.name} for d in info.divisions]
    body["institutions"] = [
        {"code": i.code, "name": i.name, "division": i.division_code, "kind": i.kind, "qualified": i.qualified,
         "address": i.address, "phone": i.phone}
        for i in info.institutions
    ]
    return jsonify(body)


@bp.get("/regions/<code>/diseases", endpoint="diseases")
def diseases(code):
    _region(code)
    year = query_year(ctx().today(code).year)
    items = [
        {"code": d.code, "national_code": d.national_code, "name": d.name, "category": d.category,
         "validity_months": d.validity_months, "fast_track": d.fast_track, "renewal_allowed": d.renewal_allowed}
        for d in regions().catalogue(code, year)
    ]
    return jsonify({"region": code, "year": year, "items": items})


@bp.get("/regions/<code>/materials", endpoint="materials")
def materials(code):
    _region(code)
    kind = request.args.get("kind", Kind.NEW)
    if kind not in Kind.labels():
        raise ApiError(400, message="参数 kind 须为 new 或 renewal。", fields={"kind": "须为 new 或 renewal"})
    disease = request.args.get("disease", "")
    codes = [disease] if disease else ["*"]  # no disease: the items common to every disease
    if disease and regions().disease(code, disease, ctx().today(code).year) is None:
        raise ApiError(404, message="该病种不在本年度目录中。", fields={"disease": "未知病种"})
    items = [
        {"disease": d, "code": m.code, "name": m.name, "required": m.required, "original_needed": m.original_needed,
         "accept": list(m.accept), "note": m.note, "online": m.online}
        for d, m in regions().checklist(code, codes, kind)
    ]
    return jsonify({"region": code, "kind": kind, "items": items})


@bp.get("/regions/<code>/channels", endpoint="channels")
def channels(code):
    _region(code)
    items = [
        {"code": c.code, "name": c.name, "online": c.online, "entry_points": c.entry_points,
         "strengths": c.strengths, "weaknesses": c.weaknesses, "suits": c.suits}
        for c in regions().channels(code)
    ]
    return jsonify({"region": code, "items": items})
