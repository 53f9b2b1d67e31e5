"""Notice channels: SMS through the gateway hook (log-file adapter by default), retries with back-off
visible to staff, a person's choice of channels, and letters queued for people who want them."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from core import SmsResult, hookimpl
from core.extensions import db
from core.models import AuditLog, NoticeDelivery
from core.models.base import utcnow
from core.jobs import runner
from core.jobs.schedule import JOBS
from core.notices.delivery import BACKOFF_MINUTES
from core.notices.service import notify
from tests.conftest import as_, login


def deliver():
    return runner.run(as_(origin="job"), JOBS["deliver_notices"], lambda line: None, force=True)


def deliveries(channel="sms"):
    db.session.expire_all()
    return db.session.scalars(select(NoticeDelivery).where(NoticeDelivery.channel == channel).order_by(NoticeDelivery.id)).all()


def sms_log(app):
    path = app.config["MTKIT_SMS_LOG"]
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]
    except FileNotFoundError:
        return []


def test_sms_is_queued_then_sent_once_through_the_log_adapter(app, make):
    person = make.person(phone="13812345678")
    notice = notify(as_(), person.id, "test", "审核结果", "您的申请已通过。")
    db.session.commit()
    assert notice.channels == "inbox,sms"
    [d] = deliveries()
    assert d.status == "pending" and sms_log(app) == []  # nothing leaves before the commit and the job
    deliver()
    deliver()
    [d] = deliveries()
    assert (d.status, d.attempts) == ("sent", 1) and d.sent_at is not None and "短信日志" in d.result
    [line] = sms_log(app)
    assert line["to"] == "138****5678" and "审核结果" in line["text"] and line["ref"] == f"mtkit-{d.id}"


class BrokenGateway:
    @hookimpl
    def mtkit_sms_send(self, phone, text, ref):
        raise ConnectionError("网关超时")


class BureauGateway:
    sent = []

    @hookimpl
    def mtkit_sms_send(self, phone, text, ref):
        self.sent.append((phone, ref))
        return SmsResult(True, "msgid-42")


def test_a_bureau_gateway_replaces_the_log_adapter(app, make):
    app.extensions["mtkit_pm"].register(BureauGateway())
    person = make.person(phone="13812345678")
    notify(as_(), person.id, "test", "标题", "正文")
    db.session.commit()
    deliver()
    [d] = deliveries()
    assert (d.status, d.result) == ("sent", "msgid-42")
    assert BureauGateway.sent[-1] == ("13812345678", f"mtkit-{d.id}") and sms_log(app) == []


def test_failures_back_off_then_give_up_and_staff_see_them(app, client, make):
    app.extensions["mtkit_pm"].register(BrokenGateway())
    person = make.person(phone="13812345678")
    make.staff("nmg_admin", "admin", region="150000")
    make.staff("fcg_admin", "admin", region="450600")
    notify(as_(), person.id, "test", "续办提醒", "请续办")
    db.session.commit()
    deliver()
    [d] = deliveries()
    assert (d.status, d.attempts) == ("failed", 1) and "网关超时" in d.result
    assert abs((d.next_attempt_at - utcnow()) - timedelta(minutes=BACKOFF_MINUTES[0])) < timedelta(minutes=1)
    deliver()  # not yet time to retry
    assert deliveries()[0].attempts == 1
    for expected in range(2, len(BACKOFF_MINUTES) + 2):
        d = deliveries()[0]
        d.next_attempt_at = utcnow() - timedelta(seconds=1)  # time passes
        db.session.commit()
        deliver()
        assert deliveries()[0].attempts == expected
    d = deliveries()[0]
    assert d.status == "gave_up"
    login(client, "nmg_admin")
    page = client.get("/staff/deliveries").get_data(as_text=True)
    assert "多次失败,已停止重试" in page and "网关超时" in page and "138****5678" in page and "13812345678" not in page
    assert client.post(f"/staff/deliveries/{d.id}/retry").status_code == 302
    assert (deliveries()[0].status, deliveries()[0].attempts) == ("pending", 0)
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "notice.retry"))
    client.post("/logout")
    login(client, "fcg_admin")  # another region's administrator sees nothing and cannot retry it
    assert "网关超时" not in client.get("/staff/deliveries").get_data(as_text=True)
    assert client.post(f"/staff/deliveries/{d.id}/retry").status_code == 404


def test_a_delivery_interrupted_while_sending_is_retried(app, make):
    person = make.person()
    notify(as_(), person.id, "test", "标题", "正文")
    db.session.commit()
    d = deliveries()[0]
    d.status, d.attempts, d.last_attempt_at = "sending", 1, utcnow() - timedelta(hours=1)  # the host died mid-send
    db.session.commit()
    deliver()
    d = deliveries()[0]
    assert d.status == "failed" and "中断" in d.result  # retried after the back-off, with the same ref


def test_a_person_chooses_channels(app, client, make):
    person = make.person(phone="13812345678")
    login(client, person.username)
    r = client.post("/profile/notices", data={"letter": "1"})  # SMS off, letter on, but no address yet
    assert r.status_code == 422 and "须先填写联系地址" in r.get_data(as_text=True)
    db.session.refresh(person)
    assert (person.notice_sms, person.notice_letter) == (True, False)
    client.post("/profile", data={"phone": "", "address": "", "remote_address": "广东省深圳市福田区某街道1号"})
    assert client.post("/profile/notices", data={"letter": "1"}).status_code == 302
    db.session.refresh(person)
    assert (person.notice_sms, person.notice_letter) == (False, True)
    notice = notify(as_(), person.id, "test", "标题", "正文")
    db.session.commit()
    assert notice.channels == "inbox,letter" and deliveries("sms") == [] and len(deliveries("letter")) == 1
    assert db.session.scalar(select(AuditLog.detail).where(AuditLog.action == "user.update_notice_prefs")) == "sms=0 letter=1"


def test_staff_get_inbox_notices_only(app, make):
    staff = make.staff("fcg_review", "agency_reviewer", region="450600", office="O450600001")
    staff.phone = "13900001111"
    db.session.commit()
    assert notify(as_(), staff.id, "sla_digest", "标题", "正文").channels == "inbox"


def test_window_staff_print_letters_once_as_a_pdf_batch(app, client, make, fcg_staff):
    from pypdf import PdfReader
    import io

    person = make.person(region="450600", division="450602", name="韦小红")
    person.notice_letter, person.remote_address = True, "广东省深圳市福田区某街道1号"
    other = make.person(region="150000", division="150100", name="张三")
    other.notice_letter, other.address = True, "呼和浩特市新城区某路2号"
    db.session.commit()
    notify(as_(), person.id, "expired", "门特待遇已到期", "您的高血压门特待遇已于 2026-11-22 到期。")
    notify(as_(), other.id, "expired", "门特认定已到期", "内蒙古的信")
    db.session.commit()
    login(client, "fcg_review")
    page = client.get("/staff/letters").get_data(as_text=True)
    # Only this region's letters; names masked on the screen (the printed letters carry them in full).
    assert "韦**" in page and "韦小红" not in page and "异地" in page and "张*" not in page
    r = client.post("/staff/letters/print")  # rendered by the worker (immediate mode here: at the commit)
    assert r.status_code == 302 and "/tasks/" in r.headers["Location"]
    status = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "请下载后打印" in status and "hx-trigger" not in status  # finished: the page stops polling
    r = client.get(r.headers["Location"] + "/download")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.data)).pages)
    assert "深圳市福田区" in text and "韦小红" in text and "内蒙古的信" not in text
    mine, theirs = sorted(deliveries("letter"), key=lambda d: d.id)
    assert mine.status == "sent" and mine.result.startswith("已打印,待邮寄") and theirs.status == "pending"
    again = client.post("/staff/letters/print")
    status = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "没有待打印的信件" in status and "/download" not in status  # nothing left to print: no second copy
    batch = mine.result.split("批次 ")[1].rstrip(")")
    assert client.get(f"/staff/letters/{batch}.pdf").data.startswith(b"%PDF")  # a lost print can be redone
    assert client.get("/staff/letters/../x.pdf").status_code == 404
    client.post("/logout")
    login(client, "fcg_expert")
    assert client.get("/staff/letters").status_code == 403
