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
