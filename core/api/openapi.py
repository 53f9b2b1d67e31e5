"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json and rendered at /api/v1/docs.

Written by hand next to the routes; tests/test_api.py fails when a route and this description
disagree (a path or method missing on either side), and schemathesis checks every response
against the schemas below.
"""
from __future__ import annotations

from flask import jsonify, render_template

from core.api.blueprint import bp


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
NSTR, NINT = _nullable("string"), _nullable("integer")


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict, required: list[str] | None = None) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def exact(properties: dict, required: list[str] | None = None) -> dict:
    """A response object whose keys are all listed (all required unless ``required`` says which)."""
    schema = obj(properties, list(properties) if required is None else required)
    schema["additionalProperties"] = False
    return schema


MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "description": "金额(元),两位小数"}
NMONEY = {"type": ["string", "null"], "pattern": r"^-?\d+\.\d{2}$"}
PERCENT = {"type": "integer", "minimum": 0, "maximum": 100}


def items_of(schema: dict, extra: dict | None = None) -> dict:
    return obj({"items": {"type": "array", "items": schema}, **(extra or {})}, ["items"])


SCHEMAS = {
    "Error": obj({"error": obj({"code": STR, "message": STR, "fields": {"type": "object"}},
                               ["code", "message", "fields"])}, ["error"]),
    "TokenRequest": obj({"username": {"type": "string", "maxLength": 64}, "password": {"type": "string", "maxLength": 200}},
                        ["username", "password"]),
    "Token": obj({"token": STR, "token_type": STR, "expires_at": STR}, ["token", "expires_at"]),
    "Accepted": obj({"status": STR, "message": STR}, ["status", "message"]),
    "Person": obj({"id": INT, "username": STR, "name": STR, "role": STR, "role_name": STR, "region": NSTR,
                   "division": NSTR, "hospital": NSTR, "office": NSTR, "title": NSTR, "id_number": NSTR,
                   "phone": NSTR, "insured_category": NSTR, "insured_scheme": NSTR}, ["id", "name", "role"]),
    # A copy of the caller's own data (core/people/export.py); each list holds that record type's fields.
    "PersonalData": obj({"format": STR, "format_version": INT, "exported_at": STR,
                         "person": {"type": "object"}, **{k: {"type": "array", "items": {"type": "object"}} for k in (
                             "applications", "recognitions", "settlements", "inpatient_stays", "chosen_institutions",
                             "notices", "national_platform_filings", "accesses_by_others")}},
                        ["format", "format_version", "person", "applications", "accesses_by_others"]),
    "PersonCreate": obj({"name": STR, "id_number": STR, "phone": STR, "password": STR, "region": STR,
                         "division": STR, "insured_category": {"type": "string", "enum": ["employed", "retired"]},
                         "insured_scheme": {"type": "string", "enum": ["employee", "resident"],
                                            "description": "职工医保 (employee, 默认) 或城乡居民医保 (resident)"}},
                        ["name", "id_number", "phone", "password", "region", "division"]),
    "Region": obj({"code": STR, "name": STR, "short_name": STR, "intake": STR, "division_label": STR,
                   "contact": STR, "timezone": STR}, ["code", "name"]),
    "RegionDetail": {"allOf": [ref("Region"), obj({
        "divisions": {"type": "array", "items": obj({"code": STR, "name": STR})},
        "institutions": {"type": "array", "items": obj({"code": STR, "name": STR, "division": STR, "kind": STR,
                                                         "qualified": BOOL, "address": STR, "phone": STR})},
    })]},
    "Disease": obj({"code": STR, "national_code": STR, "name": STR, "category": STR, "validity_months": INT,
                    "fast_track": BOOL, "renewal_allowed": BOOL}, ["code", "national_code", "name"]),
    "MaterialRule": obj({"disease": STR, "code": STR, "name": STR, "required": BOOL, "original_needed": BOOL,
                         "accept": {"type": "array", "items": STR}, "note": STR,
                         # online applications: upload, system (attached by the system) or declaration
                         "online": {"type": "string", "enum": ["upload", "system", "declaration"]}},
                        ["code", "name", "required"]),
    "Channel": obj({"code": STR, "name": STR, "online": BOOL, "entry_points": STR, "strengths": STR,
                    "weaknesses": STR, "suits": STR}, ["code", "name"]),
    "ApplicationCreate": obj({
        "kind": {"type": "string", "enum": ["new", "renewal"]}, "region": STR, "division": STR,
        "diseases": {"type": "array", "items": STR, "minItems": 1, "maxItems": 20},
        "hospital": STR, "office": STR, "channel": STR, "recognition": INT,
        "person_id_number": {"type": "string", "description": "staff filing for a person (代办): the person's ID number"},
    }, ["channel"]),
    "File": obj({"id": INT, "disease": STR, "material": STR, "name": STR, "size": INT, "content_type": STR,
                 "pages": NINT, "uploaded_at": NSTR}, ["id", "name", "size", "content_type"]),
    "ApplicationSummary": obj({
        "id": INT, "reference": STR, "version": INT, "kind": STR, "status": STR, "status_name": STR,
        "region": STR, "division": STR, "institution": STR,
        "person": obj({"id": INT, "name": STR, "id_number": STR, "phone": STR}),
        "diseases": {"type": "array", "items": {"type": "object"}},
        "step_due": NSTR, "created_at": NSTR,
    }, ["id", "version", "status", "kind"]),
    "Application": {"allOf": [ref("ApplicationSummary"), obj({
        "channel": STR, "fast_track": BOOL, "renewal_of": NINT,
        "current_step": {"type": ["object", "null"]},
        "steps": {"type": "array", "items": obj({"code": STR, "name": STR, "role": STR, "optional": BOOL})},
        "return": {"type": ["object", "null"]},
        "timeline": {"type": "array", "items": {"type": "object"}},
        "materials": {"type": "array", "items": obj({"disease": STR, "code": STR, "name": STR, "required": BOOL,
                                                      "files": {"type": "array", "items": ref("File")}})},
        "missing_materials": {"type": "array", "items": STR},
        "allowed_actions": {"type": "array", "items": obj({"action": STR, "fields": {"type": "object"}},
                                                           ["action", "fields"])},
        "submitted_at": NSTR, "decided_at": NSTR,
    }, ["allowed_actions", "timeline", "materials"])]},
    "Action": obj({
        "action": {"type": "string", "enum": ["accept", "forward", "refer_expert", "return", "approve", "reject",
                                              "decide", "record", "withdraw"]},
        "version": {"type": "integer", "minimum": 1},
        "to": {"type": "string", "enum": ["applicant", "hospital"]},
        "note": {"type": "string", "maxLength": 1000}, "reason": {"type": "string", "maxLength": 200},
        "reason_code": {"type": "string", "maxLength": 10},
        "results": {"type": "object", "additionalProperties": {"type": "string", "enum": ["approved", "rejected"]}},
        "reasons": {"type": "object", "additionalProperties": STR},
        "explanations": {"type": "object", "additionalProperties": STR},
    }, ["action", "version"]),
    "Version": obj({"version": {"type": "integer", "minimum": 1}}, ["version"]),
    "Recognition": obj({
        "id": INT, "region": STR, "disease": STR, "national_code": STR, "disease_name": STR, "institution": STR,
        "start_date": STR, "end_date": STR, "stop_date": NSTR, "state": STR,
        "renewal_window": obj({"opens": STR, "closes": STR}), "renewal_problem": NSTR, "application": INT,
    }, ["id", "disease", "start_date", "end_date"]),
    "RenewalCreate": obj({"channel": STR, "hospital": STR, "office": STR, "person_id_number": STR}, ["channel"]),
    "Notice": obj({"id": INT, "kind": STR, "title": STR, "body": STR, "application_id": NINT, "created_at": NSTR,
                   "read": BOOL}, ["id", "title", "body"]),
    "PersonRef": exact({"id": INT, "name": STR, "id_number": {"type": "string", "description": "脱敏,如 450602********0268"}}),
    "BenefitBalances": exact({
        "person": ref("PersonRef"),
        "year": INT,
        "category": {"type": ["string", "null"], "enum": ["employed", "retired", "resident", None],
                     "description": "待遇类别;未登记时为 null"},
        "category_name": STR,
        "configured": {"type": "boolean", "description": "该年度有政策且参保类别已登记;否则 deductible 为 null、diseases 为空"},
        "policy_version": STR,
        "sample": {"type": "boolean", "description": "起付标准等为示例数值(页面显示「示例」)"},
        "one_deductible": BOOL,
        "chosen_institution_required": BOOL,
        "deductible": {"oneOf": [{"type": "null"}, exact({"amount": MONEY, "used": MONEY, "left": MONEY,
                                                          "percent": PERCENT})]},
        "diseases": {"type": "array", "items": exact({
            "code": STR, "name": STR,
            "recognition": {"type": ["string", "null"], "description": "认定状态:有效、已到期、续办审核中(待遇继续)…"},
            "valid": {"type": ["string", "null"], "description": "认定有效期,如 2026-01-05 至 2028-01-04"},
            "in_catalogue": BOOL,
            "reimbursed": {**MONEY, "description": "本年度已报销(医保基金支付)合计"},
            "limit": {**MONEY, "description": "年度支付限额(basis 为 fund 时为基金最多支付的金额)"},
            "used": {**MONEY, "description": "已计入限额(fund:本年度基金已支付)"},
            "left": {**MONEY, "description": "限额余额"}, "percent": PERCENT,
            "ratio": {"type": "string", "description": "报销比例,如 70%"}, "sample": BOOL,
            "basis": {"type": "string", "enum": ["eligible", "fund"],
                      "description": "限额的含义:fund 年度支付限额(基金最多支付的金额);eligible 年度费用限额(可按比例报销的费用上限)"},
        }, ["code", "name", "recognition", "valid", "in_catalogue", "reimbursed"])},
    }),
    "BenefitEstimateRequest": obj({
        "institution": {"type": "string", "maxLength": 30,
                        "description": "就诊的定点医疗机构编码;医院医保科可省略(即本院),其他调用者必填"},
        "disease": {"type": "string", "maxLength": 30, "description": "病种编码(须为参保人认定过的病种)"},
        "visit_date": {"type": "string", "format": "date", "description": "就诊日期 YYYY-MM-DD,不晚于今天"},
        "eligible": {"type": "string", "maxLength": 20,
                     "description": "符合门特支付范围的费用(元),字符串,最多两位小数,如 \"1234.50\";有 items 时可省略"},
        "items": {"type": "array", "minItems": 1, "maxItems": 100, "description": "费用明细;合计须等于 eligible",
                  "items": obj({"name": {"type": "string", "minLength": 1, "maxLength": 100},
                                "amount": {"type": "string", "maxLength": 20, "description": "金额(元),如 \"36.50\""}},
                               ["name", "amount"])},
        "person_id_number": {"type": "string", "maxLength": 18,
                             "description": "医院医保科、经办机构:参保人身份证号码(必填);参保人本人省略"},
    }, ["disease", "visit_date"]),
    "BenefitEstimate": exact({
        "person": ref("PersonRef"),
        "visit_date": {"type": "string", "format": "date"}, "institution_code": STR, "disease_code": STR,
        "disease_name": STR, "benefit_year": INT, "category": {"type": "string", "enum": ["employed", "retired", "resident"]},
        "category_name": STR, "policy_version": STR, "sample": BOOL,
        "covered": {"type": "boolean", "description": "false:不予支付(原因见 reason),全部费用由个人负担"},
        "reason": NSTR,
        "eligible": MONEY,
        "deductible_paid": {**MONEY, "description": "本次由个人支付的起付标准"},
        "limit_used": {**MONEY, "description": "本次计入年度限额的金额"},
        "reimbursed": {**MONEY, "description": "医保基金支付(预计报销)"},
        "own": {**MONEY, "description": "个人负担"},
        "ratio": {"type": ["string", "null"], "description": "报销比例,小数,如 0.70"},
        "annual_limit": NMONEY, "limit_left_after": {**NMONEY, "description": "本次后年度限额余额"},
        "steps": {"type": "array", "items": exact({"label": STR, "detail": STR, "amount": NMONEY}),
                  "description": "计算步骤:费用、待遇年度、认定、起付标准、年度限额、按比例计算、报销金额、个人负担…"},
    }),
}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


ERRORS = {"4XX": {"description": "错误(JSON:error.code, error.message 中文, error.fields)", **_json(ref("Error"))}}
AUTH = [{"bearer": []}]


def op(summary: str, ok: dict, *, status: str = "200", body: dict | None = None, params=None, public=False,
       multipart: dict | None = None, tags=None) -> dict:
    operation = {"summary": summary, "responses": {status: ok, **ERRORS}}
    if status == "204":
        operation["responses"][status] = {"description": "完成"}
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    if multipart is not None:
        operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": multipart}}}
    if params:
        operation["parameters"] = params
    operation["security"] = [] if public else AUTH
    if tags:
        operation["tags"] = tags
    return operation


def ok(schema: dict, description: str = "成功") -> dict:
    return {"description": description, **_json(schema)}


def path_param(name: str, kind: str = "string", description: str = "") -> dict:
    schema = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1} if kind == "integer" else {"type": "string"}
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def query(name: str, schema: dict, description: str = "") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


BEFORE = query("before", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "翻页:上一页最后一条的 id")
CODE = path_param("code", description="地区编码,如 450600")
APP_ID = path_param("id", "integer", "申请 id")
PERSON_HEADER = {"name": "X-Person-Id-Number", "in": "header", "required": False,
                 "schema": {"type": "string", "maxLength": 18},
                 "description": "医院医保科、经办机构:参保人身份证号码(放在请求头,不放在网址里);参保人本人省略"}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,100}$"},
               "description": "建议每个新请求带一个新的随机编号(如 UUID)。网络超时后用同一编号重发:不会重复建立记录,"
                              "返回第一次的结果(同样的状态码和内容);同一编号用于内容不同的请求返回 422;"
                              "编号按账号区分,24 小时后失效。格式不对返回 400。"}

PATHS = {
    "/auth/token": {"post": op("登录,取得短期令牌(用户名不存在、密码错误、暂时不能登录一律答 401)", ok(ref("Token")), status="201",
                               body=ref("TokenRequest"), public=True, tags=["账号"])},
    "/auth/logout": {"post": op("注销当前令牌", {}, status="204", tags=["账号"])},
    "/me": {"get": op("当前账号(证件号、手机号脱敏)", ok(ref("Person")), tags=["账号"])},
    "/me/export": {"get": op("下载本人全部数据(《个人信息保护法》第四十五条;仅参保人本人,记入审计)",
                             ok(ref("PersonalData")), tags=["账号"])},
    "/persons": {"post": op("参保人注册(身份证号码按 GB 11643 校验)。本人注册:无论号码是否已注册都答 202(已注册的不新建,"
                            "并通知本人);窗口/医保科令牌:201 返回新账号,已注册答 422",
                            ok(ref("Person"), "窗口注册:新账号"), status="201", body=ref("PersonCreate"), public=True,
                            tags=["账号"])},
    "/notices": {"get": op("我的消息", ok(items_of(ref("Notice"), {"next_before": NINT})), params=[BEFORE],
                           tags=["账号"])},
    "/regions": {"get": op("开通的地区", ok(items_of(ref("Region"))), public=True, tags=["地区"])},
    "/regions/{code}": {"get": op("地区详情:区县、医院和经办机构", ok(ref("RegionDetail")), params=[CODE],
                                  public=True, tags=["地区"])},
    "/regions/{code}/diseases": {"get": op(
        "年度门特病种目录", ok(items_of(ref("Disease"), {"region": STR, "year": INT})),
        params=[CODE, query("year", {"type": "integer", "minimum": 2000, "maximum": 2100}, "年度,默认今年")],
        public=True, tags=["地区"])},
    "/regions/{code}/materials": {"get": op(
        "材料清单(不指定病种时为通用材料)", ok(items_of(ref("MaterialRule"), {"region": STR, "kind": STR})),
        params=[CODE, query("disease", {"type": "string", "maxLength": 30}, "病种编码"),
                query("kind", {"type": "string", "enum": ["new", "renewal"]}, "新申请或续办")],
        public=True, tags=["地区"])},
    "/regions/{code}/channels": {"get": op("办理渠道对比", ok(items_of(ref("Channel"), {"region": STR})),
                                           params=[CODE], public=True, tags=["地区"])},
    "/applications": {
        "get": op("我的申请;工作人员加 queue=1 为待办队列", ok(items_of(ref("ApplicationSummary"), {"next_before": NINT})),
                  params=[BEFORE, query("queue", {"type": "string", "enum": ["1"]}, "工作人员的队列"),
                          query("view", {"type": "string", "enum": ["mine", "all"]}, "mine:待我办理;all:范围内全部"),
                          query("status", {"type": "string", "maxLength": 12}),
                          query("disease", {"type": "string", "maxLength": 30})], tags=["申请"]),
        "post": op("建立申请草稿(新申请或续办;工作人员代办须带 person_id_number;同一病种已有未办结申请时 409/422)",
                   ok(ref("Application")), status="201", body=ref("ApplicationCreate"), params=[IDEMPOTENCY],
                   tags=["申请"]),
    },
    "/applications/{id}": {"get": op("申请详情:状态、时间线、逐病种结果、期限、缺少的材料、可进行的操作",
                                     ok(ref("Application")), params=[APP_ID], tags=["申请"])},
    "/applications/{id}/materials": {"post": op(
        "上传材料(可一次多个文件;replaces 替换某个文件)",
        ok(obj({"items": {"type": "array", "items": ref("File")}, "version": INT}, ["items", "version"])),
        status="201", params=[APP_ID], tags=["申请"],
        multipart=obj({"disease": {"type": "string", "description": "病种编码,通用材料为 *"},
                       "material": STR, "replaces": STR,
                       "file": {"type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"}}},
                      ["material", "file"]))},
    "/applications/{id}/submit": {"post": op("提交(缺少必交材料时 422,fields.missing 列出)", ok(ref("Application")),
                                             body=ref("Version"), params=[APP_ID], tags=["申请"])},
    "/applications/{id}/actions": {"post": op(
        "审核操作或撤回(版本过期 409;角色或范围不符 403;缺字段 422)", ok(ref("Application")),
        body=ref("Action"), params=[APP_ID], tags=["申请"])},
    "/benefits/balances": {"get": op(
        "门特待遇余额:本年度起付标准和各认定病种的年度限额、已用、余额(参保人本人;医保科、经办机构经 "
        "X-Person-Id-Number 指定参保人)", ok(ref("BenefitBalances")),
        params=[query("year", {"type": "integer", "minimum": 2000, "maximum": 2100}, "年度,默认今年"), PERSON_HEADER],
        tags=["待遇"])},
    "/benefits/estimate": {"post": op(
        "门特结算试算(预计报销):逐步计算起付标准、比例、限额,及基金和个人各付多少;不登记、不改变余额",
        ok(ref("BenefitEstimate")), body=ref("BenefitEstimateRequest"), tags=["待遇"])},
    "/recognitions": {"get": op("我的认定", ok(items_of(ref("Recognition"))), tags=["认定"])},
    "/recognitions/{id}/renewals": {"post": op("办理续办(建立续办申请草稿)", ok(ref("Application")), status="201",
                                               body=ref("RenewalCreate"),
                                               params=[path_param("id", "integer", "认定 id"), IDEMPOTENCY],
                                               tags=["认定"])},
}


def spec() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mtkit 门特服务 API",
            "version": "1.0.0",
            "description": "供省级 APP、微信/支付宝小程序等渠道和经办机构脚本使用。所有错误均为 JSON:"
                           "{\"error\": {\"code\", \"message\", \"fields\"}}。证件号和手机号一律脱敏。"
                           "请求体 JSON 最大 256 KB、嵌套不超过 8 层(否则 413/400)。身份证号、手机号和各类编码按 NFKC "
                           "规范化(全角数字视同半角),只接受半角数字 0–9;姓名和文字说明不得含不可见或控制字符(422)。"
                           "建立申请和续办的 POST 接受 Idempotency-Key 请求头,重发不会重复建立记录。",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "POST /auth/token 取得的令牌,有效期见 expires_at"}},
        },
        "security": AUTH,
        "paths": PATHS,
    }


@bp.get("/openapi.json", endpoint="openapi")
def openapi_json():
    return jsonify(spec())


@bp.get("/docs", endpoint="docs")
def docs():
    return render_template("api/docs.html", spec=spec(), schemas=SCHEMAS)


PATHS["/persons"]["post"]["responses"]["202"] = ok(ref("Accepted"), "本人注册已受理(号码新或已注册,答复相同)")
