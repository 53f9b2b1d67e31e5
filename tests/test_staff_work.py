"""Staff work (issue 13): a physician's 待办 holds only what his title lets him decide, and the page says why not."""
from __future__ import annotations

import json
import re

from core.applications import review
from core.extensions import db
from tests.conftest import as_, login


def queue_ids(client, **params):
    html = client.get("/staff/queue", query_string=params).get_data(as_text=True)
    return {int(x) for x in re.findall(r'href="/applications/(\d+)"', html)}


def at_physician_step(make, nmg_staff, diseases=("M03900",)):
    app = make.application(make.person(phone=f"1380000{make._seq:04d}"), list(diseases))
    review.act(as_(nmg_staff["office"]), app, "accept", app.version)
    db.session.commit()
    assert app.current_role == "physician" and app.current_min_title == "副主任医师"
    return app


def test_attending_physician_queue_leaves_out_what_he_may_not_decide(app, client, make, nmg_staff):
    waiting = at_physician_step(make, nmg_staff)
    chief = make.staff("chief", "physician", hospital="H150100001", division="150100", title="主任医师")
    make.staff("resident", "physician", hospital="H150100001", division="150100", title="住院医师")
    expected = {"doctor": {waiting.id}, "chief": {waiting.id}, "junior": set(), "resident": set()}
    for username in expected:
        login(client, username)
        assert queue_ids(client) == expected[username], username
        # 全部 still lists every case in his scope: he may view it
        assert waiting.id in queue_ids(client, view="all"), username
        client.get("/logout")
    assert chief.title == "主任医师"


def test_attending_physician_page_says_why_there_is_no_action(app, client, make, nmg_staff):
    waiting = at_physician_step(make, nmg_staff)
    login(client, "junior")
    page = client.get(f"/applications/{waiting.id}").get_data(as_text=True)
    assert "您的职称为主治医师,不能作出认定" in page and "须由副主任医师及以上职称" in page
    assert 'value="decide"' not in page
    client.get("/logout")
    login(client, "doctor")
    page = client.get(f"/applications/{waiting.id}").get_data(as_text=True)
    assert "不能作出认定" not in page and 'name="action"' in page


def test_no_title_message_on_steps_for_other_roles(app, client, make, nmg_staff):
    """At 受理 (医保科's step) the physician sees no title message: it is not his step at all."""
    submitted = make.application(make.person(), ["M03900"])
    login(client, "junior")
    page = client.get(f"/applications/{submitted.id}").get_data(as_text=True)
    assert "不能作出认定" not in page


def test_the_queue_follows_the_step_after_a_decision(app, client, make, nmg_staff):
    waiting = at_physician_step(make, nmg_staff)
    review.act(as_(nmg_staff["doctor"]), waiting, "decide", waiting.version, results={"M03900": "approved"})
    db.session.commit()
    assert (waiting.current_role, waiting.current_min_title) == ("hospital_office", None)


def test_upgrade_backfills_the_title_of_open_steps(tmp_path):
    import flask_migrate

    from app import create_app
    from tests.conftest import base_config

    steps = json.dumps([{"code": "accept", "name": "材料受理", "role": "hospital_office", "kind": "accept"},
                        {"code": "physician_review", "name": "责任医师审核认定", "role": "physician", "kind": "review",
                         "min_title": "副主任医师"}], ensure_ascii=False)
    app = create_app(base_config(f"sqlite:///{tmp_path / 'live.sqlite3'}", tmp_path))
    with app.app_context():
        flask_migrate.upgrade(revision="8822b3001c96")
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (id, username, password_hash, role, name, is_enabled, failed_logins)"
                " VALUES (1, 'someone', 'x', 'insured', '张三', 1, 0)")
            for app_id, index, role in ((1, 1, "physician"), (2, 0, "hospital_office")):
                conn.exec_driver_sql(
                    "INSERT INTO applications (id, person_id, region_code, division_code, kind, institution_code, channel,"
                    " status, step_index, current_role, steps, fast_track, version) VALUES"
                    f" ({app_id}, 1, '150000', '150100', 'new', 'H150100001', 'online', 'in_review', {index}, '{role}', ?, 0, 1)",
                    (steps,))
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id, current_min_title FROM applications ORDER BY id").all() == [
                (1, "副主任医师"), (2, None)]
        db.engine.dispose()


# --- 代办 preselects the desk's own office; the division filter lists the scope; bookmarks; codes ---------
def selected_institution(html: str) -> str:
    select = re.search(r'<select name="institution".*?</select>', html, re.S).group(0)
    chosen = re.findall(r'<option value="([^"]*)" selected>', select)
    return chosen[0] if chosen else ""


def test_window_filing_starts_at_the_reviewers_own_office_and_submits_first_time(app, client, make, fcg_staff):
    from sqlalchemy import select

    from core.models import Application

    gangkou = make.person(region="450600", division="450602", name="港口参保人")
    dongxing = make.person(region="450600", division="450681", name="东兴参保人", phone="13800003333")
    login(client, "fcg_review")  # 市本级 office O450600001 serves every district
    client.post("/staff/file", data={"id_number": gangkou.id_number})
    page = client.get(f"/applications/new?person_id={gangkou.id}").get_data(as_text=True)
    assert selected_institution(page) == "O450600001"
    # the form as the browser posts it, untouched: it goes through at once
    r = client.post("/applications/new", data={"person_id": gangkou.id, "division": "450602",
                                               "institution": selected_institution(page), "channel": "window",
                                               "diseases": "FCG001"})
    assert r.status_code == 302
    assert db.session.scalars(select(Application)).one().institution_code == "O450600001"
    # changing the division (htmx) keeps the own office chosen where it serves the division
    fragment = client.get("/applications/institutions", query_string={"region": "450600", "division": "450681"},
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert selected_institution(fragment) == "O450600001"
    client.get("/logout")
    login(client, "dx_review")  # 东兴市 office
    client.post("/staff/file", data={"id_number": dongxing.id_number})
    page = client.get(f"/applications/new?person_id={dongxing.id}").get_data(as_text=True)
    assert selected_institution(page) == "O450681001"


def test_submitting_without_an_office_still_says_so(app, client, make, fcg_staff):
    person = make.person(region="450600", division="450602")
    login(client, "fcg_review")
    client.post("/staff/file", data={"id_number": person.id_number})
    r = client.post("/applications/new", data={"person_id": person.id, "division": "450602", "institution": "",
                                               "channel": "window", "diseases": "FCG001"})
    assert r.status_code == 422 and selected_institution(r.get_data(as_text=True)) == ""


def division_options(client) -> list[str]:
    html = client.get("/staff/queue").get_data(as_text=True)
    select = re.search(r'<select name="division".*?</select>', html, re.S).group(0)
    return [v for v in re.findall(r'<option value="([^"]*)"', select) if v]


def test_division_filter_lists_only_divisions_in_scope(app, client, make, fcg_staff, nmg_staff):
    login(client, "dx_review")
    assert division_options(client) == ["450681"]
    client.get("/logout")
    login(client, "fcg_review")
    assert division_options(client) == ["450602", "450603", "450621", "450681"]
    client.get("/logout")
    login(client, "yibao")  # a hospital in 呼和浩特市 serves its own 盟市
    assert division_options(client) == ["150100"]


def test_bookmarked_settlement_page_sends_to_the_look_up_with_the_reason(app, client, make, fcg_staff):
    make.staff("fcg_yibao", "hospital_office", region="450600", hospital="H450602001", division="450602")
    person = make.person(region="450600", division="450602", name="韦小红")
    login(client, "fcg_yibao")
    r = client.get(f"/staff/benefits/people/{person.id}", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and r.request.path == "/staff/benefits"
    assert "请先查询参保人,再办理结算" in page and "韦小红" not in page and "韦*" not in page
    # a non-existent person gets the same answer (nothing tells whether an id exists)
    r = client.get("/staff/benefits/people/999999")
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/benefits")
    client.post("/staff/benefits", data={"id_number": person.id_number})
    assert client.get(f"/staff/benefits/people/{person.id}").status_code == 200


def test_bookmarked_filing_form_sends_to_the_look_up(app, client, make, fcg_staff):
    person = make.person(region="450600", division="450602")
    login(client, "fcg_review")
    r = client.get(f"/applications/new?person_id={person.id}", follow_redirects=True)
    assert r.request.path == "/staff/file" and "请先查询参保人,再为其代办申请" in r.get_data(as_text=True)


def test_disease_codes_read_the_same_everywhere(app, client, make, fcg_staff, nmg_staff):
    from tests.test_documents import flat, pdf_text

    from core.kernel.types import disease_codes

    assert disease_codes("M03900", "FCG001") == "M03900 / 本地 FCG001"
    assert disease_codes("M03900", "M03900") == "M03900"
    fcg = make.application(make.person(region="450600", division="450602"), ["FCG001"])
    login(client, "fcg_review")
    screen = client.get(f"/applications/{fcg.id}").get_data(as_text=True)
    printed = flat(pdf_text(client.get(f"/applications/{fcg.id}/forms/application.pdf").data))
    assert "M03900 / 本地 FCG001" in screen and "M03900/本地FCG001" in printed
    client.get("/logout")
    nmg = make.application(make.person(phone="13800004444"), ["M03900"])
    login(client, "yibao")
    screen = client.get(f"/applications/{nmg.id}").get_data(as_text=True)
    printed = flat(pdf_text(client.get(f"/applications/{nmg.id}/forms/application.pdf").data))
    assert "M03900" in screen and "本地" not in re.sub(r"<[^>]+>", "", screen.split("申请病种")[1][:600])
    assert "M03900" in printed and "本地" not in printed


def test_deadline_digest_leaves_out_steps_above_the_physicians_title(app, make, nmg_staff):
    from datetime import date

    from tests.test_jobs import notices, on, run

    on(date(2026, 11, 23))
    waiting = at_physician_step(make, nmg_staff)  # 责任医师审核认定: 5 working days
    on(waiting.step_due)
    run("sla_reminders")
    assert len(notices("sla_digest", nmg_staff["doctor"].id)) == 1
    assert notices("sla_digest", nmg_staff["junior"].id) == []
