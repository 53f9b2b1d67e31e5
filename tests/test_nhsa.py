"""National-platform interchange: 2503/2504 export, serials, the 1309 catalogue, 5301 reconcile, adapter, page.

Everything runs on the demo data, through the CLI a bureau scripts (or the administrators' page),
and every malformed file must leave the database exactly as it was.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core import hookimpl
from core.extensions import db
from core.models import AuditLog, NhsaDiseaseCode, NhsaFiling, NhsaImport, Recognition, User
from core.nhsa import catalog as nhsa_catalog
from core.nhsa.messages import validate
from tests.conftest import login

DEMO_PASSWORD = "Demo1234"


@pytest.fixture
def demo(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    return runner


def nhsa(runner, *args):
    return runner.invoke(args=["nhsa", *args])


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def export(runner, tmp_path, kind="2503", *args) -> list[dict]:
    out = tmp_path / f"{kind}.jsonl"
    extra = ["--since", "2000-01-01"] if kind == "2503" and "--since" not in args else []
    result = nhsa(runner, f"export-{kind}", *extra, *args, "--out", str(out))
    assert result.exit_code == 0, result.output
    return lines(out.read_text(encoding="utf-8"))


def decided_on(rec: Recognition) -> str:
    """The local (Beijing) date of the approval that made ``rec``."""
    from core.models import Decision

    at = db.session.scalar(select(Decision.decided_at).where(Decision.application_id == rec.application_id,
                                                              Decision.result == "approved"))
    return at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def person(username: str) -> User:
    by = User.id_number_is(username) if username[:17].isdigit() else User.username == username  # insured: by ID number
    return db.session.scalar(select(User).where(by))


def write(tmp_path, name, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


LIU = "150102196808250132"  # 刘建华: fast-track M00503 approved by nmg_doctor today
WEI = "450602195807040268"  # 韦小红


# --- messages ------------------------------------------------------------------------------------
def test_message_rules_follow_the_platform_fields():
    good = {"psn_no": "1" * 30, "insutype": "310", "opsp_dise_code": "M03900", "opsp_dise_name": "高血压病",
            "insu_optins": "150100", "ide_fixmedins_no": "H1", "ide_fixmedins_name": "医院", "hosp_ide_date": "2026-01-31",
            "diag_dr_codg": "D1", "diag_dr_name": "王", "begndate": "2026-02-01"}
    assert validate("2503", good) == []
    assert validate("2503", {**good, "psn_no": "1" * 31}) == ["psn_no(人员编号)超过 30 个字符"]
    assert "begndate(开始日期)应为 yyyy-MM-dd" in validate("2503", {**good, "begndate": "2026/02/01"})[0]
    assert validate("2503", {**good, "begndate": "2026-02-30"})  # not a real day
    assert validate("2503", {**good, "enddate": "20260201"})
    assert validate("2503", {**good, "diag_dr_name": ""}) == ["diag_dr_name(诊断医师姓名)必填"]
    assert validate("2503", {**good, "opsp_dise_name": "病" * 301}) == ["opsp_dise_name(门慢门特病种名称)超过 300 个字符"]
    assert validate("2504", {"psn_no": "1", "trt_dcla_detl_sn": ""}) == ["trt_dcla_detl_sn(待遇申报明细流水号)必填"]


# --- 2503 ----------------------------------------------------------------------------------------
def test_export_2503_on_the_demo(demo, tmp_path):
    messages = export(demo, tmp_path)
    recs = db.session.scalars(select(Recognition).order_by(Recognition.id)).all()
    assert len(messages) == len(recs) == count(NhsaFiling)
    assert all(validate("2503", m) == [] for m in messages)
    liu = person(LIU)
    rec = next(r for r in recs if r.person_id == liu.id)
    msg = next(m for m in messages if m["psn_no"] == liu.psn_no)
    doctor = person("nmg_doctor")
    assert msg == {
        "psn_no": liu.psn_no, "insutype": "310", "opsp_dise_code": "M00503", "opsp_dise_name": "恶性肿瘤放、化、介入或核素治疗",
        "tel": liu.phone, "insu_optins": "150100", "ide_fixmedins_no": "H150100001",
        "ide_fixmedins_name": "内蒙古医科大学附属医院", "hosp_ide_date": decided_on(rec),
        "diag_dr_codg": doctor.practitioner_code, "diag_dr_name": "王建国",
        "begndate": rec.start_date.isoformat(), "enddate": rec.end_date.isoformat(),
    }
    # Fangchenggang: decided by the agency reviewer at the office.
    wei = person(WEI)
    wei_msgs = [m for m in messages if m["psn_no"] == wei.psn_no]
    assert wei_msgs and all(m["diag_dr_name"] == "黄海燕" and m["ide_fixmedins_no"].startswith("O4506") for m in wei_msgs)

    # Exporting again gives the same lines and no new rows; --new-only gives nothing; a later date nothing.
    assert export(demo, tmp_path) == messages
    assert count(NhsaFiling) == len(recs)
    assert export(demo, tmp_path, "2503", "--new-only") == []
    assert export(demo, tmp_path, "2503", "--since", "2099-01-01") == []
    assert export(demo, tmp_path, "2503", "--region", "450600") == [m for m in messages if m["insu_optins"].startswith("45")]


def test_filing_keeps_the_message_as_first_exported(demo, tmp_path):
    first = export(demo, tmp_path)
    liu = person(LIU)
    liu.phone = "13900000000"
    db.session.commit()
    assert export(demo, tmp_path) == first  # what went to the platform stays on record


def test_incomplete_records_are_reported_not_exported(demo, tmp_path):
    liu = person(LIU)
    liu.psn_no = None
    db.session.commit()
    out = tmp_path / "2503.jsonl"
    result = nhsa(demo, "export-2503", "--since", "2000-01-01", "--out", str(out))
    assert result.exit_code == 0
    assert "刘**" in result.output and "psn_no(人员编号)必填" in result.output
    assert "刘建华" not in result.output  # names masked in reports
    messages = lines(out.read_text(encoding="utf-8"))
    assert messages and all(m.get("tel") != liu.phone for m in messages)
    assert db.session.scalar(select(func.count()).select_from(NhsaFiling).join(Recognition).where(Recognition.person_id == liu.id)) == 0


def test_a_reviewer_without_a_practitioner_code_holds_the_filing(demo, tmp_path):
    doctor = person("bt_doctor")
    doctor.practitioner_code = None
    db.session.commit()
    out = tmp_path / "2503.jsonl"
    result = nhsa(demo, "export-2503", "--since", "2000-01-01", "--out", str(out))
    assert "diag_dr_codg(诊断医师编码)必填" in result.output and "马**" in result.output
    assert all(m["diag_dr_name"] != "孙伟" for m in lines(out.read_text(encoding="utf-8")))


def test_bad_since_date_is_a_clear_error(demo):
    result = nhsa(demo, "export-2503", "--since", "2026-13-01")
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output
    assert nhsa(demo, "export-2503", "--since", "2026-01-01", "--region", "999999").exit_code != 0
    assert count(NhsaFiling) == 0


# --- serials and 2504 ----------------------------------------------------------------------------
def serial_file(tmp_path, messages, prefix="SN", name="serials.csv"):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["psn_no", "opsp_dise_code", "begndate", "trt_dcla_detl_sn"])
    for i, m in enumerate(messages, start=1):
        w.writerow([m["psn_no"], m["opsp_dise_code"], m["begndate"], f"{prefix}{i:08d}"])
    return write(tmp_path, name, buf.getvalue())


def test_serials_import_and_2504_cancellation(demo, tmp_path):
    messages = export(demo, tmp_path)
    result = nhsa(demo, "import-serials", serial_file(tmp_path, messages))
    assert result.exit_code == 0, result.output
    assert f"新增 {len(messages)} 条" in result.output
    assert db.session.scalar(select(func.count()).select_from(NhsaFiling).where(NhsaFiling.trt_dcla_detl_sn.is_not(None))) == len(messages)
    again = nhsa(demo, "import-serials", serial_file(tmp_path, messages))
    assert again.exit_code == 0 and f"已有相同 {len(messages)} 条" in again.output

    # A different serial for a filing that has one is refused, and nothing changes.
    conflict = nhsa(demo, "import-serials", serial_file(tmp_path, messages, prefix="XX"))
    assert conflict.exit_code != 0 and "已有流水号" in conflict.output
    assert db.session.scalar(select(func.count()).select_from(NhsaFiling).where(NhsaFiling.trt_dcla_detl_sn.like("XX%"))) == 0

    # Nothing to cancel yet. A recognition that ran its whole period (its renewal was rejected: benefits
    # stop the day after its end) keeps its filing; one whose benefits stop before its end is cancelled.
    assert export(demo, tmp_path, "2504") == []
    zhang = person("150102195503120244")
    full = db.session.scalar(select(Recognition).where(Recognition.person_id == zhang.id, Recognition.national_code == "M03900"))
    full.status, full.stop_date = "ended", date.fromordinal(full.end_date.toordinal() + 1)
    liu = person(LIU)
    rec = db.session.scalar(select(Recognition).where(Recognition.person_id == liu.id))
    rec.status, rec.stop_date = "ended", date(2026, 12, 1)
    db.session.commit()
    cancels = export(demo, tmp_path, "2504")
    filing = db.session.scalar(select(NhsaFiling).where(NhsaFiling.recognition_id == rec.id, NhsaFiling.kind == "2503"))
    assert cancels == [{"trt_dcla_detl_sn": filing.trt_dcla_detl_sn, "psn_no": liu.psn_no,
                        "memo": f"认定提前终止,待遇自 2026-12-01 起停止(原有效期至 {rec.end_date.isoformat()})"}]
    assert export(demo, tmp_path, "2504", "--new-only") == []
    assert export(demo, tmp_path, "2504", "--since", "2026-12-02") == []


def test_2504_needs_the_platform_serial(demo, tmp_path):
    export(demo, tmp_path)
    rec = db.session.scalar(select(Recognition).where(Recognition.person_id == person(LIU).id))
    rec.status, rec.stop_date = "ended", date(2026, 12, 1)
    db.session.commit()
    out = tmp_path / "2504.jsonl"
    result = nhsa(demo, "export-2504", "--out", str(out))
    assert result.exit_code == 0 and "trt_dcla_detl_sn" in result.output and "请先导入 2503 的应答" in result.output
    assert out.read_text() == ""
    assert count(NhsaFiling) == db.session.scalar(select(func.count()).select_from(Recognition))  # no 2504 row


@pytest.mark.parametrize("content, words", [
    (b"", "空"),
    (b"\x00\x01\x02binary", "不是文本文件"),
    ("psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\n{psn},M00503,2026/11/23,SN1\n", "yyyy-MM-dd"),
    ("psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\n{psn},M00503,{begin},\n", "trt_dcla_detl_sn(待遇申报明细流水号)必填"),
    ("psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\nNOBODY,M00503,{begin},SN1\n", "找不到人员编号 NOBODY"),
    ("psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\n{psn},M00503,{begin},SN1\n{psn},M00503,{begin},SN1\n", "重复"),
    ("psn_no,opsp_dise_code\n{psn},M00503,extra\n", "列"),
    ('{"psn_no": "{psn}", "opsp_dise_code": "M00503"\n', "不是有效的 JSON"),
])
def test_malformed_serial_files_change_nothing(demo, tmp_path, content, words):
    export(demo, tmp_path)
    liu = person(LIU)
    rec = db.session.scalar(select(Recognition).where(Recognition.person_id == liu.id))
    if isinstance(content, str):
        content = content.replace("{psn}", liu.psn_no).replace("{begin}", rec.start_date.isoformat()).encode()
    good = f"psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\n{liu.psn_no},M00503,{rec.start_date},SNGOOD\n"
    path = write(tmp_path, "bad.csv", content)
    result = nhsa(demo, "import-serials", path)
    assert result.exit_code != 0
    assert words in result.output, result.output
    assert db.session.scalar(select(func.count()).select_from(NhsaFiling).where(NhsaFiling.trt_dcla_detl_sn.is_not(None))) == 0
    assert count(NhsaImport) == 0
    assert nhsa(demo, "import-serials", write(tmp_path, "good.csv", good)).exit_code == 0


def test_a_good_line_before_a_bad_one_is_not_kept(demo, tmp_path):
    messages = export(demo, tmp_path)
    first = messages[0]
    text = ("psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\n"
            f"{first['psn_no']},{first['opsp_dise_code']},{first['begndate']},SNGOOD\n"
            f"{first['psn_no']},{first['opsp_dise_code']},2026-02-30,SNBAD\n")
    result = nhsa(demo, "import-serials", write(tmp_path, "mixed.csv", text))
    assert result.exit_code != 0 and "第 3 行" in result.output and "未导入任何数据" in result.output
    assert db.session.scalar(select(func.count()).select_from(NhsaFiling).where(NhsaFiling.trt_dcla_detl_sn.is_not(None))) == 0


def test_one_filing_cannot_take_two_serials(demo, tmp_path):
    first = export(demo, tmp_path)[0]
    line = f"{first['psn_no']},{first['opsp_dise_code']},{first['begndate']}"
    text = f"psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\n{line},SN0001\n{line},SN0002\n"
    result = nhsa(demo, "import-serials", write(tmp_path, "twice.csv", text))
    assert result.exit_code != 0 and "第 3 行:与第 2 行是同一条备案" in result.output
    assert count(NhsaImport) == 0


def test_person_numbers_import(demo, tmp_path):
    li = person("450603196509300288")
    li.psn_no = None
    db.session.commit()
    ok = write(tmp_path, "psn.csv", f"id_number,psn_no\n{li.id_number},45060300000099\n")
    assert nhsa(demo, "import-psn", ok).exit_code == 0
    assert person(li.username).psn_no == "45060300000099"
    taken = write(tmp_path, "taken.csv", f"id_number,psn_no\n{LIU},45060300000099\n")
    result = nhsa(demo, "import-psn", taken)
    assert result.exit_code != 0 and "已有人员编号" in result.output
    assert LIU not in result.output  # ID numbers masked in messages
    wrong_region = nhsa(demo, "import-psn", ok, "--region", "150000")
    assert wrong_region.exit_code != 0 and "没有身份证号" in wrong_region.output


# --- 1309 catalogue ------------------------------------------------------------------------------
HEADER = "opsp_dise_code,opsp_dise_name,opsp_dise_majcls_code,opsp_dise_majcls_name,opsp_dise_subd_clss_name,admdvs,vali_flag,ver,ver_name\n"
V1 = HEADER + (
    "M03900,高血压病,M039,循环系统疾病,,450600,1,V2025,2025版\n"
    "M01600,糖尿病,M016,内分泌疾病,,450600,1,V2025,2025版\n"
    "M02101,精神分裂症,M021,精神疾病,,450600,1,V2025,2025版\n"
    "M00503,恶性肿瘤放、化、介入或核素治疗,M005,肿瘤,,450600,1,V2025,2025版\n"
)


def v2_json() -> str:
    rows = [
        {"opsp_dise_code": "M03900", "opsp_dise_name": "高血压病", "opsp_dise_majcls_code": "M039",
         "opsp_dise_majcls_name": "循环系统疾病", "admdvs": "450600", "vali_flag": "0", "ver": "V2026", "ver_name": "2026版"},
        {"opsp_dise_code": "M01600", "opsp_dise_name": "糖尿病(1型、2型)", "opsp_dise_majcls_code": "M016",
         "opsp_dise_majcls_name": "内分泌疾病", "admdvs": "450600", "vali_flag": 1, "ver": "V2026", "ver_name": "2026版"},
        {"opsp_dise_code": "M00503", "opsp_dise_name": "恶性肿瘤放、化、介入或核素治疗", "opsp_dise_majcls_code": "M005",
         "opsp_dise_majcls_name": "肿瘤", "admdvs": "450600", "vali_flag": "1", "ver": "V2026", "ver_name": "2026版"},
        {"opsp_dise_code": "M04000", "opsp_dise_name": "肺动脉高压", "admdvs": "450600", "vali_flag": "1", "ver": "V2026"},
    ]
    return json.dumps({"infcode": 0, "output": {"data": rows}}, ensure_ascii=False)


def test_catalogue_versions_and_code_history(demo, tmp_path):
    first = nhsa(demo, "import-1309", write(tmp_path, "v1.csv", V1), "--region", "450600")
    assert first.exit_code == 0, first.output
    assert "新增 4" in first.output
    # GBK files (as platform downloads often are) read the same; an unchanged file changes nothing.
    same = nhsa(demo, "import-1309", write(tmp_path, "v1-gbk.csv", V1.encode("gbk")), "--region", "450600")
    assert "未变 4" in same.output and count(NhsaDiseaseCode) == 4

    wei = person(WEI)
    wei_rec = db.session.scalar(select(Recognition).where(Recognition.person_id == wei.id, Recognition.national_code == "M03900"))
    second = nhsa(demo, "import-1309", write(tmp_path, "v2.json", v2_json()), "--region", "450600")
    assert second.exit_code == 0, second.output
    # M03900 retired in the file, M02101 missing from the full catalogue: both retired.
    assert "新增 1,变更 1,停用 2,恢复 0,未变 1" in second.output
    assert "FCG001 高血压 对应的国家代码 M03900 国家目录已停用此代码" in second.output
    history = nhsa_catalog.code_history("450600", "M01600")
    assert [(h.change, h.name, h.is_current) for h in history] == [("added", "糖尿病", False), ("changed", "糖尿病(1型、2型)", True)]
    assert [h.change for h in nhsa_catalog.code_history("450600", "M02101")] == ["added", "retired"]
    # A retired code does not end the recognition made under it, and its filing still uses the code.
    db.session.refresh(wei_rec)
    assert wei_rec.status == "active" and wei_rec.national_code == "M03900"
    filed = [m for m in export(demo, tmp_path, "2503", "--region", "450600") if m["psn_no"] == wei.psn_no]
    assert any(m["opsp_dise_code"] == "M03900" and m["opsp_dise_name"] == "高血压病" for m in filed)
    assert any(m["opsp_dise_name"] == "糖尿病(1型、2型)" for m in export(demo, tmp_path, "2503", "--region", "450600")
               if m["opsp_dise_code"] == "M01600")
    # The code's history from the CLI.
    shown = nhsa(demo, "code", "M03900", "--region", "450600")
    assert shown.exit_code == 0 and "新增" in shown.output and "停用" in shown.output and "(当前)" in shown.output
    # Restored, incrementally: codes not in the file stay as they are.
    inc = HEADER + "M03900,高血压病,M039,循环系统疾病,,450600,1,V2027,2027版\n"
    third = nhsa(demo, "import-1309", write(tmp_path, "v3.csv", inc), "--region", "450600", "--incremental")
    assert "恢复 1" in third.output and "停用 0" in third.output
    assert nhsa_catalog.current_codes("450600")["M04000"].is_valid
    assert nhsa_catalog.current_codes("150000") == {}  # regions are separate


@pytest.mark.parametrize("content, words", [
    (b"", "空"),
    (b"%PDF-1.4\x00\x00", "不是文本文件"),
    ("code,name\nM03900,高血压病\n", "缺少列 opsp_dise_code"),
    (HEADER + "M03900,高血压病,,,,450600,Y,V1,\n", "vali_flag"),
    (HEADER + "M03900,高血压病,,,,4506,1,V1,\n", "admdvs"),
    (HEADER + "M03900,高血压病,,,,450600,1,V1,\nM03900,高血压,,,,450600,1,V1,\n", "第 3 行:病种代码 M03900 与第 2 行重复"),
    (HEADER + "M03900," + "病" * 301 + ",,,,450600,1,V1,\n", "超过 300 个字符"),
    (HEADER + ",高血压病,,,,450600,1,V1,\n", "opsp_dise_code(门慢门特病种目录代码)必填"),
    (HEADER + "M03900,高血压病,,,,450600,1\n", "第 2 行有 7 列"),
    ('[{"opsp_dise_code": "M03900"}, 5]', "缺少列"),
    ('{"opsp_dise_code": "M03900", "opsp_dise_name": "x", "vali_flag": "1"}\n{oops}\n', "第 2 行不是有效的 JSON"),
    ("\xff\xfe".encode("latin-1") + "乱码".encode("utf-16-le"), ""),
])
def test_malformed_catalogues_import_nothing(demo, tmp_path, content, words):
    assert nhsa(demo, "import-1309", write(tmp_path, "v1.csv", V1), "--region", "450600").exit_code == 0
    before = count(NhsaDiseaseCode), count(NhsaImport)
    result = nhsa(demo, "import-1309", write(tmp_path, "bad.csv", content), "--region", "450600")
    assert result.exit_code != 0, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert (count(NhsaDiseaseCode), count(NhsaImport)) == before
    assert all(r.is_valid for r in nhsa_catalog.current_codes("450600").values())


def test_catalogue_needs_a_known_region(demo, tmp_path):
    result = nhsa(demo, "import-1309", write(tmp_path, "v1.csv", V1), "--region", "999999")
    assert result.exit_code != 0 and "没有地区 999999" in result.output
    missing = nhsa(demo, "import-1309", str(tmp_path / "nope.csv"), "--region", "450600")
    assert missing.exit_code != 0 and "找不到文件" in missing.output
    assert count(NhsaImport) == 0


# --- 5301 reconcile ------------------------------------------------------------------------------
def test_reconcile_5301_prints_every_kind_of_difference(demo, tmp_path):
    wei, liu, huang = person(WEI), person(LIU), person("45068119720315017X")
    wei_recs = db.session.scalars(select(Recognition).where(Recognition.person_id == wei.id).order_by(Recognition.id)).all()
    liu_rec = db.session.scalar(select(Recognition).where(Recognition.person_id == liu.id))
    huang_recs = db.session.scalars(select(Recognition).where(Recognition.person_id == huang.id)).all()
    detail = lambda r, **kw: {"opsp_dise_code": r.national_code, "opsp_dise_name": r.disease_name,  # noqa: E731
                              "begndate": kw.get("begin", r.start_date.isoformat()), "enddate": kw.get("end", r.end_date.isoformat())}
    answers = [
        {"psn_no": wei.psn_no, "feedetail": [detail(r) for r in wei_recs]},  # all agree
        {"psn_no": liu.psn_no, "feedetail": [detail(liu_rec, end="2027-01-31"),
                                             {"opsp_dise_code": "M01600", "opsp_dise_name": "糖尿病", "begndate": "2024-01-01",
                                              "enddate": "2025-12-31"}]},
        {"psn_no": huang.psn_no, "feedetail": []},
        {"psn_no": "99999999", "feedetail": []},
    ]
    path = write(tmp_path, "5301.jsonl", "\n".join(json.dumps(a, ensure_ascii=False) for a in answers))
    result = nhsa(demo, "reconcile-5301", path)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"[结束日期不同] 人员编号 {liu.psn_no} 刘** M00503" in out and "平台 " + liu_rec.start_date.isoformat() + " 至 2027-01-31" in out
    assert f"[平台有备案,本地没有对应认定] 人员编号 {liu.psn_no}" in out and "M01600 糖尿病" in out
    assert out.count("[本地有认定,平台没有备案]") == len(huang_recs) >= 1
    assert "[本地没有此人员编号] 人员编号 99999999" in out
    assert f"核对 4 人:一致 {len(wei_recs)} 条,差异 {2 + len(huang_recs) + 1} 处。" in out
    assert "黄志明" not in out and "刘建华" not in out
    # A start date that differs is one difference, not two.
    shifted = [{"psn_no": liu.psn_no, "feedetail": [detail(liu_rec, begin="2026-11-24")]}]
    one = nhsa(demo, "reconcile-5301", write(tmp_path, "shift.json", json.dumps(shifted)))
    assert "[开始日期不同]" in one.output and "差异 1 处" in one.output
    # The CSV form: one filing per row.
    flat = "psn_no,opsp_dise_code,opsp_dise_name,begndate,enddate\n" + "".join(
        f"{wei.psn_no},{r.national_code},{r.disease_name},{r.start_date},{r.end_date}\n" for r in wei_recs)
    assert "差异 0 处" in nhsa(demo, "reconcile-5301", write(tmp_path, "5301.csv", flat)).output


@pytest.mark.parametrize("content, words", [
    ('[{"feedetail": []}]', "psn_no(人员编号)必填"),
    ('[{"psn_no": "1", "feedetail": {"a": 1}}]', "feedetail 应为列表"),
    ('[{"psn_no": "1", "feedetail": [{"opsp_dise_code": "M03900", "begndate": "2026-1-1"}]}]', "feedetail 第 1 项"),
    ("[1, 2]", "不是一个 JSON 对象"),
])
def test_malformed_5301_files_are_refused(demo, tmp_path, content, words):
    result = nhsa(demo, "reconcile-5301", write(tmp_path, "bad.json", content))
    assert result.exit_code != 0 and words in result.output, result.output
    assert count(NhsaImport) == 0


# --- adapter -------------------------------------------------------------------------------------
class FakePlatform:
    """An adapter plugin as a bureau would install one; fails after ``fail_after`` messages."""

    def __init__(self, fail_after=None):
        self.received, self.fail_after = [], fail_after

    @hookimpl
    def mtkit_nhsa_send(self, region, infno, data):
        if self.fail_after is not None and len(self.received) >= self.fail_after:
            raise ConnectionError("平台连接超时")
        self.received.append((region, infno, data))
        return {"trt_dcla_detl_sn": f"P{len(self.received):06d}"} if infno == "2503" else {}


def install(app, platform):
    app.extensions["mtkit_pm"].register(platform, name=f"fake-platform-{id(platform)}")
    return platform


def test_send_without_an_adapter_is_a_clear_error(demo, tmp_path):
    export(demo, tmp_path)
    result = nhsa(demo, "send", "2503")
    assert result.exit_code != 0 and "没有安装国家医保平台接口适配器" in result.output
    assert db.session.scalar(select(func.count()).select_from(NhsaFiling).where(NhsaFiling.sent_at.is_not(None))) == 0


def test_send_through_an_adapter_keeps_what_was_sent(app, demo, tmp_path):
    messages = export(demo, tmp_path)
    platform = install(app, FakePlatform(fail_after=2))
    result = nhsa(demo, "send", "2503")
    assert result.exit_code != 0 and "已报送 2 条" in result.output and "平台连接超时" in result.output
    sent = db.session.scalars(select(NhsaFiling).where(NhsaFiling.sent_at.is_not(None)).order_by(NhsaFiling.id)).all()
    assert [f.trt_dcla_detl_sn for f in sent] == ["P000001", "P000002"]
    assert [d for _, _, d in platform.received] == messages[:2]
    platform.fail_after = None
    rest = nhsa(demo, "send", "2503")
    assert rest.exit_code == 0 and f"已报送 {len(messages) - 2} 条" in rest.output
    assert count(NhsaFiling) == len(messages) and all(f.trt_dcla_detl_sn for f in db.session.scalars(select(NhsaFiling)))
    assert len(platform.received) == len(messages)  # nothing sent twice


# --- administrators' page ------------------------------------------------------------------------
def test_admin_page_checks_then_exports_in_its_region(demo, client, tmp_path):
    assert login(client, "fcg_admin", DEMO_PASSWORD).status_code == 302
    page = client.get("/staff/nhsa/")
    assert page.status_code == 200 and "国家医保平台数据交换" in page.text
    assert client.get("/staff/nhsa/?region=150000").status_code == 404  # another region's admin page

    # 检查 shows what an export would give and records nothing.
    fcg_recs = db.session.scalar(select(func.count()).select_from(Recognition).where(Recognition.region_code == "450600"))
    check = client.get("/staff/nhsa/?region=450600&check=2503&since=2000-01-01")
    assert check.status_code == 200 and f"可导出 {fcg_recs} 条报文" in check.text and count(NhsaFiling) == 0
    for bad in ("昨天", "0001-01-01"):
        r = client.get(f"/staff/nhsa/?region=450600&check=2503&since={bad}")
        assert r.status_code == 422 and "起始日期" in r.text
    assert client.get("/staff/nhsa/?region=450600&check=9999&since=2000-01-01").status_code == 400

    # 导出 records the filings and downloads exactly those lines, once; the download is audited.
    # The worker writes it (immediate mode here: at the commit); the task's page offers the file.
    r = client.post("/staff/nhsa/export", data={"region": "450600", "kind": "2503", "since": "2000-01-01"})
    assert r.status_code == 302 and "/tasks/" in r.headers["Location"]
    assert f"已导出 {fcg_recs} 条 2503 报文" in client.get(r.headers["Location"]).text
    r = client.get(r.headers["Location"] + "/download")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    assert len(lines(r.text)) == fcg_recs == count(NhsaFiling)  # only its own region
    again = client.post("/staff/nhsa/export", data={"region": "450600", "kind": "2503", "since": "2000-01-01", "new_only": "1"})
    assert client.get(again.headers["Location"] + "/download").text == ""
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "nhsa.export_2503")) == 1
    assert client.post("/staff/nhsa/export", data={"region": "150000", "kind": "2503", "since": "2000-01-01"}).status_code == 404
    bad = client.post("/staff/nhsa/export", data={"region": "450600", "kind": "2503", "since": ""})
    assert bad.status_code == 422 and "请填写起始日期" in bad.text

    bad_file = client.post("/staff/nhsa/import", data={"region": "450600", "kind": "1309",
                                                        "file": (io.BytesIO(b"code,name\nM1,x\n"), "cat.csv")})
    assert bad_file.status_code == 422 and "缺少列" in bad_file.text and count(NhsaDiseaseCode) == 0
    good = client.post("/staff/nhsa/import", data={"region": "450600", "kind": "1309",
                                                    "file": (io.BytesIO(V1.encode()), "cat.csv")})
    assert good.status_code == 200 and "新增 4" in good.text and "精神分裂症" in good.text
    no_file = client.post("/staff/nhsa/import", data={"region": "450600", "kind": "5301"})
    assert no_file.status_code == 400 and "请选择" in no_file.text
    wei = person(WEI)
    answer = json.dumps([{"psn_no": wei.psn_no, "feedetail": []}])
    rec = client.post("/staff/nhsa/import", data={"region": "450600", "kind": "5301",
                                                   "file": (io.BytesIO(answer.encode()), "5301.json")})
    assert rec.status_code == 200 and "本地有认定,平台没有备案" in rec.text and "韦**" in rec.text
    assert "韦小红" not in rec.text


def test_admin_page_cannot_touch_another_regions_people(demo, client, tmp_path):
    """A 防城港 administrator's files only ever match 防城港's people and filings."""
    export(demo, tmp_path, "2503", "--region", "150000")
    liu = person(LIU)
    rec = db.session.scalar(select(Recognition).where(Recognition.person_id == liu.id))
    login(client, "fcg_admin", DEMO_PASSWORD)
    post = lambda kind, body, name: client.post("/staff/nhsa/import", data={  # noqa: E731
        "region": "450600", "kind": kind, "file": (io.BytesIO(body.encode()), name)})
    serials = post("serials", f"psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\n{liu.psn_no},M00503,{rec.start_date},SN1\n", "s.csv")
    assert serials.status_code == 422 and "找不到" in serials.text
    psn = post("psn_no", f"id_number,psn_no\n{LIU},X1\n", "p.csv")
    assert psn.status_code == 422 and "没有身份证号" in psn.text
    recon = post("5301", json.dumps([{"psn_no": liu.psn_no, "feedetail": []}]), "r.json")
    assert recon.status_code == 200 and "本地没有此人员编号" in recon.text and "刘**" not in recon.text
    assert db.session.scalar(select(NhsaFiling.trt_dcla_detl_sn).where(NhsaFiling.recognition_id == rec.id)) is None
    assert person(LIU).psn_no == liu.psn_no
    # The CLI's instance-wide runs are not listed on a region's page.
    nhsa(demo, "reconcile-5301", write(tmp_path, "all.json", json.dumps([{"psn_no": liu.psn_no, "feedetail": []}])))
    page = client.get("/staff/nhsa/")
    assert "all.json" not in page.text and "r.json" in page.text


def test_only_administrators_reach_the_page(demo, client):
    login(client, "fcg_review", DEMO_PASSWORD)
    assert client.get("/staff/nhsa/").status_code == 403
    assert client.post("/staff/nhsa/export", data={"region": "450600", "kind": "2503", "since": "2000-01-01"}).status_code == 403
    client.post("/logout")
    assert client.get("/staff/nhsa/").status_code in (302, 401)
    assert count(NhsaFiling) == 0


# --- odd input found in review -------------------------------------------------------------------
def test_send_after_a_file_round_trip_sends_nothing_again(app, demo, tmp_path):
    messages = export(demo, tmp_path)
    assert nhsa(demo, "import-serials", serial_file(tmp_path, messages)).exit_code == 0
    platform = install(app, FakePlatform())
    result = nhsa(demo, "send", "2503")
    assert result.exit_code == 0 and "已报送 0 条" in result.output
    assert platform.received == []
    assert all(f.trt_dcla_detl_sn.startswith("SN") for f in db.session.scalars(select(NhsaFiling)))


def test_one_line_two_filings_is_refused_as_ambiguous(demo, tmp_path):
    messages = export(demo, tmp_path)
    liu = person(LIU)
    rec = db.session.scalar(select(Recognition).where(Recognition.person_id == liu.id))
    twin = Recognition(person_id=liu.id, region_code=rec.region_code, division_code=rec.division_code,
                       institution_code=rec.institution_code, disease_code="M00504", national_code=rec.national_code,
                       disease_name="另一本地病种", application_id=rec.application_id, start_date=rec.start_date,
                       end_date=rec.end_date)
    db.session.add(twin)
    from core.models import Decision

    approval = db.session.scalar(select(Decision).where(Decision.application_id == rec.application_id))
    db.session.add(Decision(application_id=rec.application_id, disease_code="M00504", step_code=approval.step_code,
                            result="approved", decided_by_id=approval.decided_by_id))
    db.session.commit()
    assert len(export(demo, tmp_path)) == len(messages) + 1
    text = f"psn_no,opsp_dise_code,begndate,trt_dcla_detl_sn\n{liu.psn_no},{rec.national_code},{rec.start_date},SN1\n"
    result = nhsa(demo, "import-serials", write(tmp_path, "amb.csv", text))
    assert result.exit_code != 0 and "无法确定流水号属于哪一条" in result.output
    assert count(NhsaImport) == 0


@pytest.mark.parametrize("content, words", [
    ("[" * 100000 + "]" * 100000, "嵌套"),
    ('[{"opsp_dise_code": "M03900", "opsp_dise_name": "高血\\u0000压", "vali_flag": "1"}]', "控制字符"),
    ('[{"opsp_dise_code": 1e400, "opsp_dise_name": "x", "vali_flag": "1"}]', "应为字符串"),
    ('[{"opsp_dise_code": "M0390０", "opsp_dise_name": "x", "vali_flag": "1"}]', "只能包含英文字母"),
    ('[{"opsp_dise_code": "M03900", "opsp_dise_name": "x", "vali_flag": "1", "admdvs": "４５０６００"}]', "6 位数字"),
])
def test_odd_catalogue_values_are_refused(demo, tmp_path, content, words):
    result = nhsa(demo, "import-1309", write(tmp_path, "odd.json", content), "--region", "450600")
    assert result.exit_code != 0 and words in result.output and "Traceback" not in result.output, result.output
    assert count(NhsaDiseaseCode) == 0


def test_quoted_csv_fields_may_span_lines_and_line_numbers_stay_true(demo, tmp_path):
    text = HEADER + '# a comment\n\nM03900,"高血压病\n(原发性)",M039,循环系统疾病,,450600,1,V1,\nM01600,糖尿病,,,,450600,X,V1,\n'
    result = nhsa(demo, "import-1309", write(tmp_path, "q.csv", text), "--region", "450600")
    assert result.exit_code != 0 and "第 6 行:vali_flag" in result.output, result.output


def test_a_partial_file_does_not_retire_the_catalogue_by_mistake(demo, tmp_path):
    many = HEADER + "".join(f"M{n:05d},病种{n},,,,450600,1,V1,\n" for n in range(1, 21))
    assert nhsa(demo, "import-1309", write(tmp_path, "full.csv", many), "--region", "450600").exit_code == 0
    partial = HEADER + "M00001,病种1,,,,450600,1,V2,\n"
    refused = nhsa(demo, "import-1309", write(tmp_path, "part.csv", partial), "--region", "450600")
    assert refused.exit_code != 0 and "会停用 19 个现有代码" in refused.output
    assert sum(r.is_valid for r in nhsa_catalog.current_codes("450600").values()) == 20
    forced = nhsa(demo, "import-1309", write(tmp_path, "part.csv", partial), "--region", "450600", "--force")
    assert forced.exit_code == 0 and "停用 19" in forced.output


def test_cli_refuses_odd_dates_and_missing_folders(demo, tmp_path):
    early = nhsa(demo, "export-2503", "--since", "0001-01-01")
    assert early.exit_code != 0 and "2000-01-01" in early.output
    nowhere = nhsa(demo, "export-2503", "--since", "2020-01-01", "--out", str(tmp_path / "no" / "such" / "x.jsonl"))
    assert nowhere.exit_code != 0 and "不存在" in nowhere.output and "Traceback" not in nowhere.output
    assert count(NhsaFiling) == 0  # nothing recorded as exported when the file could not be written


def test_reconcile_refuses_a_person_twice_and_expects_full_period_recognitions(demo, tmp_path):
    wei = person(WEI)
    twice = json.dumps([{"psn_no": wei.psn_no, "feedetail": []}, {"psn_no": wei.psn_no, "feedetail": []}])
    result = nhsa(demo, "reconcile-5301", write(tmp_path, "twice.json", twice))
    assert result.exit_code != 0 and "重复" in result.output
    not_text = nhsa(demo, "reconcile-5301", write(tmp_path, "list.json", json.dumps([{"psn_no": [1, 2], "feedetail": []}])))
    assert not_text.exit_code != 0 and "psn_no" in not_text.output
    # A recognition that ran its whole period is still on the platform; one stopped early is not.
    recs = db.session.scalars(select(Recognition).where(Recognition.person_id == wei.id).order_by(Recognition.id)).all()
    full, early = recs[0], recs[1]
    full.status, full.stop_date = "ended", date.fromordinal(full.end_date.toordinal() + 1)
    early.status, early.stop_date = "ended", early.start_date
    db.session.commit()
    answer = [{"psn_no": wei.psn_no, "feedetail": [
        {"opsp_dise_code": r.national_code, "begndate": r.start_date.isoformat(), "enddate": r.end_date.isoformat()}
        for r in recs if r is not early]}]
    ok = nhsa(demo, "reconcile-5301", write(tmp_path, "ok.json", json.dumps(answer)))
    assert ok.exit_code == 0 and "差异 0 处" in ok.output, ok.output
