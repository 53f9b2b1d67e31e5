"""Encryption at rest (issue 12 item 8): ID and phone numbers and addresses are ciphertext in the
database, found through HMAC look-ups; keys live in a key file and rotate; a migration encrypts a
live database in place and back; what the app writes to disk is readable by its own user only."""
from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from core.config import load_key_ring
from core.extensions import db
from core.kernel import crypto
from core.kernel.crypto import SM4, KeyRing, UnknownKey, Undecryptable, new_ring
from core.kernel.files import write_private
from core.models import AuditLog, NhsaFiling, User
from tests.conftest import PASSWORD, PG_URL, as_, base_config, login

IDN = "11010519491231002X"
PHONE = "13912345678"
ADDRESS = "内蒙古自治区呼和浩特市新城区北垣东街8号"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- the cipher, pure ---------------------------------------------------------------------------------
def test_values_are_sealed_in_a_versioned_format_with_a_fresh_nonce_each_time():
    ring = new_ring()
    a, b = ring.encrypt(IDN, "users.id_number"), ring.encrypt(IDN, "users.id_number")
    assert a != b and a.startswith(f"v1:{ring.active}:") and IDN not in a
    blob = base64.urlsafe_b64decode(a.split(":")[2] + "==")
    assert len(blob) == 12 + len(IDN) + 16  # 96-bit nonce | ciphertext | 128-bit tag
    assert ring.decrypt(a, "users.id_number") == ring.decrypt(b, "users.id_number") == IDN
    assert ring.keys[ring.active].algorithm == "AES-256-GCM" and len(ring.keys[ring.active].secret) == 32


def test_a_value_moved_to_another_column_or_altered_does_not_decrypt():
    ring = new_ring()
    token = ring.encrypt(PHONE, "users.phone")
    with pytest.raises(Undecryptable):
        ring.decrypt(token, "users.id_number")  # associated data: table and column
    head, body = token.rsplit(":", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(Undecryptable):
        ring.decrypt(f"{head}:{flipped}", "users.phone")
    with pytest.raises(Undecryptable):
        ring.decrypt(PHONE, "users.phone")  # plaintext is not taken for ciphertext


@pytest.mark.skipif(not crypto.sm4_gcm_available(), reason="the OpenSSL under cryptography has no SM4-GCM")
def test_sm4_gcm_matches_the_rfc_8998_test_vector_and_works_as_a_key():
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key, iv = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plain = bytes.fromhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
                          "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
    enc = Cipher(algorithms.SM4(key), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    sealed = enc.update(plain) + enc.finalize()
    assert sealed.hex().upper().startswith("17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735")
    assert enc.tag.hex().upper() == "83DE3541E4C2B58177E065A9BF7B62EC"
    ring = new_ring("sm4-gcm")
    assert ring.keys[ring.active].algorithm == SM4
    token = ring.encrypt(ADDRESS, "users.address")
    assert ring.decrypt(token, "users.address") == ADDRESS
    # A ring that moves from AES to SM4 still reads its AES values.
    aes = new_ring()
    old = aes.encrypt(PHONE, "users.phone")
    mixed = aes.with_new_key(SM4)
    assert mixed.keys[mixed.active].algorithm == SM4 and mixed.decrypt(old, "users.phone") == PHONE


def test_rotation_keeps_old_values_readable_and_an_unknown_key_is_named():
    ring = new_ring()
    old = ring.encrypt(PHONE, "users.phone")
    rotated = ring.with_new_key()
    assert rotated.active != ring.active and set(ring.keys) < set(rotated.keys)
    assert rotated.decrypt(old, "users.phone") == PHONE
    assert rotated.encrypt(PHONE, "users.phone").startswith(f"v1:{rotated.active}:")
    with pytest.raises(UnknownKey, match=rotated.active):
        ring.decrypt(rotated.encrypt(PHONE, "users.phone"), "users.phone")
    assert KeyRing.from_json(json.loads(json.dumps(rotated.to_json()))).decrypt(old, "users.phone") == PHONE


def test_lookup_values_are_keyed_and_separate_per_kind():
    ring = new_ring()
    assert ring.lookup("id_number", IDN) == ring.lookup("id_number", IDN)
    assert ring.lookup("id_number", IDN) != ring.lookup("phone", IDN)
    assert ring.lookup("id_number", IDN) != new_ring().lookup("id_number", IDN)  # another key, another value
    assert ring.lookup("id_number", IDN) != ring.with_new_lookup_key().lookup("id_number", IDN)


def test_the_key_file_is_made_once_0600_and_read_back(tmp_path):
    path = tmp_path / "keys" / "keys.json"
    ring = load_key_ring(path, "AES-256-GCM")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert load_key_ring(path, "AES-256-GCM").to_json() == ring.to_json()  # not regenerated
    before = path.read_bytes()
    assert write_private(path, b"{}", exclusive=True) is False and path.read_bytes() == before  # a second starter loses
    with pytest.raises(crypto.BadKeyFile):
        load_key_ring(tmp_path / "missing.json", "AES-256-GCM", create=False)
    with pytest.raises(crypto.BadKeyFile):
        load_key_ring(tmp_path / "keys" / "x.json", "DES")


# --- the database ------------------------------------------------------------------------------------
def stored_text(conn) -> str:
    """Every value of every table, as the database holds it."""
    found = []
    for table in inspect(conn).get_table_names():
        for row in conn.execute(text(f'SELECT * FROM "{table}"')):
            found += [str(v) for v in row if v is not None]
    return "\n".join(found)


def test_raw_sql_holds_no_id_number_phone_or_address_anywhere(app, runner, tmp_path):
    """The demo (every status, both regions), addresses for everyone, the NHSA filings exported:
    no table holds a person's ID number, phone number or address in clear; the models read them."""
    assert runner.invoke(args=["demo"]).exit_code == 0
    people = db.session.scalars(select(User).where(User.role == "insured")).all()
    for n, p in enumerate(people):
        p.address = f"{ADDRESS}{n}栋"
    db.session.commit()
    out = tmp_path / "2503.jsonl"
    assert runner.invoke(args=["nhsa", "export-2503", "--since", "2000-01-01", "--out", str(out)]).exit_code == 0
    filing = db.session.scalars(select(NhsaFiling)).first()
    assert filing.data["tel"] and filing.data["addr"].startswith(ADDRESS)  # the model reads plaintext
    secrets_ = {v for p in people for v in (p.id_number, p.phone, p.address, p.remote_address) if v}
    assert len(secrets_) > 3 * len(people) - 1
    with db.engine.connect() as conn:
        everything = stored_text(conn)
    assert [s for s in secrets_ if s in everything] == []
    with db.engine.connect() as conn:
        raw = conn.execute(text("SELECT username, id_number, phone, address, id_number_hmac FROM users WHERE role = 'insured'")).all()
    assert all(r.id_number.startswith("v1:") and r.phone.startswith("v1:") and r.address.startswith("v1:") for r in raw)
    assert all(r.username.startswith("p") and len(r.username) == 21 and len(r.id_number_hmac) == 64 for r in raw)
    if db.engine.dialect.name == "sqlite":  # and not in the file's bytes either (pages, WAL)
        path = db.engine.url.database
        data = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
        assert [s for s in secrets_ if s.encode("utf-8") in data] == []


def test_an_insured_person_logs_in_with_their_id_number_and_no_row_carries_it(app, client, make):
    person = make.person()
    idn = person.id_number
    assert person.username != idn and idn not in person.username
    assert login(client, idn.lower()).status_code == 302  # the typed number is normalised, then looked up
    assert client.get("/profile").status_code == 200
    r = client.post("/api/v1/auth/token", json={"username": idn, "password": PASSWORD})
    assert r.status_code == 201
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {r.get_json()['token']}"}).get_json()
    assert me["username"] == me["id_number"] == idn[:6] + "********" + idn[-4:]  # what they log in with, masked
    assert 400 <= login(app.test_client(), idn, "wrong-Passw0rd").status_code < 500  # a refusal, not a crash
    rows = db.session.scalars(select(AuditLog)).all()
    assert rows and not [r for r in rows if idn in f"{r.username} {r.detail}"]
    assert {r.username for r in rows if r.user_id == person.id} == {person.username}


def test_lookups_go_through_the_hmac_and_comparing_ciphertexts_is_refused(app, make, nmg_staff):
    from core.people.lookup import find_person

    person = make.person()
    found = find_person(as_(nmg_staff["office"]), f" {person.id_number.lower()} ", purpose="apply")
    assert found.id == person.id
    assert db.session.scalar(select(User.id).where(User.phone_is(person.phone))) == person.id
    with pytest.raises(TypeError, match="encrypted"):
        select(User).where(User.id_number == person.id_number)
    with pytest.raises(TypeError, match="encrypted"):
        select(User).where(User.phone.in_([person.phone]))
    assert db.session.scalar(select(func.count()).where(User.address.is_(None))) >= 1  # NULL checks still work


def test_one_account_per_id_number_is_kept_by_the_hmac_index(app, make):
    person = make.person()
    twin = User(username="pdeadbeef", password_hash="x", role="insured", name="李四", id_number=person.id_number,
                phone="13800009999")
    db.session.add(twin)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    r = app.test_client().post("/register", data={
        "name": "王五", "id_number": person.id_number, "phone": "13800008888", "password": PASSWORD,
        "password2": PASSWORD, "region": "150000", "division": "150100", "insured_category": "employed",
        "insured_scheme": "employee"})
    assert r.status_code < 500 and db.session.scalar(select(func.count()).select_from(User)) == 1  # no second account


def test_changing_a_phone_number_moves_its_lookup_value(app, make):
    from core.people import accounts

    person = make.person()
    old = person.phone_hmac
    accounts.update_contact(as_(person), person, phone="13700001234", address=ADDRESS, remote_address=None)
    db.session.commit()
    assert person.phone_hmac != old
    assert db.session.scalar(select(User.id).where(User.phone_is("13700001234"))) == person.id
    assert db.session.scalar(select(User.id).where(User.phone_is("13800001111"))) is None


# --- the migration, on a database holding data ---------------------------------------------------------
def _old_rows(conn, password_hash):
    """Rows as the app wrote them before encryption: the username is the ID number."""
    conn.execute(text(
        "INSERT INTO users (id, username, password_hash, role, name, id_number, phone, address, remote_address,"
        " region_code, division_code, insured_category, insured_scheme, is_enabled, failed_logins, notice_sms, notice_letter)"
        " VALUES (1, :idn, :pw, 'insured', '张三', :idn, :phone, :address, NULL, '150000', '150100', 'employed',"
        " 'employee', true, 0, true, false),"
        " (2, 'yibao', :pw, 'hospital_office', '医保科', NULL, NULL, NULL, NULL, '150000', '150100', NULL,"
        " 'employee', true, 0, true, false)"), {"idn": IDN, "pw": password_hash, "phone": PHONE, "address": ADDRESS})
    conn.execute(text("UPDATE users SET hospital_code = 'H150100001', created_by_id = 2 WHERE id IN (1, 2)"))
    conn.execute(text(
        "INSERT INTO applications (id, person_id, region_code, division_code, kind, institution_code, channel, status,"
        " step_index, steps, fast_track, version) VALUES (1, 1, '150000', '150100', 'new', 'H150100001', 'online',"
        " 'approved', 0, '[]', false, 1)"))
    conn.execute(text(
        "INSERT INTO recognitions (id, person_id, region_code, division_code, institution_code, disease_code,"
        " national_code, disease_name, application_id, start_date, end_date, status) VALUES (1, 1, '150000', '150100',"
        " 'H150100001', 'M03900', 'M03900', '高血压', 1, '2026-01-01', '2027-12-31', 'active')"))
    conn.execute(text("INSERT INTO nhsa_filings (id, recognition_id, region_code, kind, data) VALUES (1, 1, '150000', '2503', :data)"),
                 {"data": json.dumps({"psn_no": "", "tel": PHONE, "addr": ADDRESS, "opsp_dise_code": "M03900"}, ensure_ascii=False)})
    conn.execute(text("INSERT INTO audit_log (username, action, result) VALUES (:idn, 'login', 'ok')"), {"idn": IDN})


@pytest.fixture
def scratch_url(tmp_path):
    """An empty database of its own: a SQLite file, or a schema of its own on PostgreSQL."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'live.sqlite3'}", {}
        return
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS i12_migration CASCADE"))
        conn.execute(text("CREATE SCHEMA i12_migration"))
    yield PG_URL, {"connect_args": {"options": "-csearch_path=i12_migration"}}
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS i12_migration CASCADE"))
    engine.dispose()


def test_the_migration_encrypts_a_live_database_in_place_and_back(scratch_url, tmp_path):
    import flask_migrate
    from werkzeug.security import generate_password_hash

    from app import create_app

    url, options = scratch_url
    config = {**base_config(url, tmp_path), "SQLALCHEMY_ENGINE_OPTIONS": options, "MTKIT_KEY_FILE": str(tmp_path / "keys.json")}
    app = create_app(config)
    with app.app_context():
        flask_migrate.upgrade(revision="c4677ae4804c")
        with db.engine.begin() as conn:
            _old_rows(conn, generate_password_hash(PASSWORD, method="scrypt:1024:8:1"))
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            row = conn.execute(text("SELECT username, id_number, phone, address, id_number_hmac, phone_hmac FROM users WHERE id = 1")).one()
            filing = conn.execute(text("SELECT data FROM nhsa_filings")).scalar()
            everything = stored_text(conn)
            audit_username = conn.execute(text("SELECT username FROM audit_log ORDER BY id LIMIT 1")).scalar()
        assert all(v.startswith("v1:") for v in row[1:4]) and row.username.startswith("p") and row.username != IDN
        assert [s for s in (PHONE, ADDRESS) if s in everything] == [] and IDN not in everything.replace(audit_username, "")
        assert audit_username == IDN  # the append-only audit trail is not rewritten (documented)
        data = filing if isinstance(filing, dict) else json.loads(filing)
        assert data["tel"].startswith("v1:") and data["addr"].startswith("v1:") and data["opsp_dise_code"] == "M03900"
        person = db.session.get(User, 1)
        assert (person.id_number, person.phone, person.address) == (IDN, PHONE, ADDRESS)
        assert db.session.get(NhsaFiling, 1).data["tel"] == PHONE
        assert login(app.test_client(), IDN).status_code == 302  # log-in by ID number, through the HMAC
        assert db.session.scalar(select(User.id).where(User.id_number_is(IDN))) == 1
        db.session.remove()
        flask_migrate.downgrade(revision="c4677ae4804c")
        with db.engine.connect() as conn:
            back = conn.execute(text("SELECT username, id_number, phone, address FROM users WHERE id = 1")).one()
            filing = conn.execute(text("SELECT data FROM nhsa_filings")).scalar()
            if db.engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("users", "applications", "recognitions")]
        assert tuple(back) == (IDN, IDN, PHONE, ADDRESS) and counts == [2, 1, 1]
        assert (filing if isinstance(filing, dict) else json.loads(filing))["tel"] == PHONE
        flask_migrate.upgrade()  # and up again
        assert db.session.get(User, 1).address == ADDRESS
        db.session.remove()
        db.engine.dispose()


# --- key rotation -------------------------------------------------------------------------------------
@pytest.fixture
def keyed(db_url, tmp_path):
    """An app with a key file of its own (rotations must not touch the instance's)."""
    from app import create_app

    app = create_app({**base_config(db_url, tmp_path), "MTKIT_KEY_FILE": str(tmp_path / "keys.json")})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def keys_cli(app, *args):
    return app.test_cli_runner().invoke(args=["keys", *args])


def key_ids(conn) -> set[str]:
    rows = conn.execute(text("SELECT id_number, phone, address FROM users")).all()
    return {v.split(":")[1] for r in rows for v in r if v}


def test_rotate_reencrypt_and_retire_a_key(keyed, tmp_path):
    from tests.conftest import Factory

    make = Factory(keyed)
    people = [make.person(phone=f"1380000{n:04d}") for n in range(3)]
    for p in people:
        p.address = ADDRESS
    db.session.commit()
    first = keyed.extensions["mtkit_keys"].ring.active
    assert f"{first}: 3" in keys_cli(keyed, "status").output
    rotated = keys_cli(keyed, "rotate")
    assert rotated.exit_code == 0 and "keys reencrypt" in rotated.output
    ring = KeyRing.from_json(json.loads((tmp_path / "keys.json").read_text()))
    second = ring.active
    assert second != first and set(ring.keys) == {first, second} and mode(tmp_path / "keys.json") == 0o600
    late = make.person(phone="13800009999")  # written after the rotation: the new key
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT id_number FROM users WHERE id = :id"), {"id": late.id}).scalar().startswith(f"v1:{second}:")
        assert key_ids(conn) == {first, second}
    refused = keys_cli(keyed, "retire", first)
    assert refused.exit_code != 0 and "仍有" in refused.output  # still in use: kept
    done = keys_cli(keyed, "reencrypt", "--batch", "2")
    assert done.exit_code == 0, done.output
    with db.engine.connect() as conn:
        assert key_ids(conn) == {second}
    db.session.expire_all()
    assert [(p.phone, p.address) for p in people] == [(f"1380000{n:04d}", ADDRESS) for n in range(3)]
    assert login(keyed.test_client(), people[0].id_number).status_code == 302
    assert keys_cli(keyed, "retire", first).exit_code == 0
    assert set(json.loads((tmp_path / "keys.json").read_text())["keys"]) == {second}
    status = keys_cli(keyed, "status")
    assert status.exit_code == 0 and f"{second}: 4" in status.output and first not in status.output
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action.like("keys.%"))).all()
    assert actions == ["keys.rotate", "keys.reencrypt", "keys.reencrypt", "keys.retire"]


def test_reencryption_stopped_midway_goes_on_where_it_stopped(keyed):
    from core.keys import service
    from tests.conftest import Factory

    make = Factory(keyed)
    for n in range(4):
        make.person(phone=f"1390000{n:04d}")
    holder = keyed.extensions["mtkit_keys"]
    holder.ring = holder.ring.with_new_key()

    def crash(where, count):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        service.reencrypt(as_(), holder, size=1, progress=crash)
    with db.engine.connect() as conn:
        assert len(key_ids(conn)) == 2  # one batch done and kept
    service.reencrypt(as_(), holder, size=1)
    with db.engine.connect() as conn:
        assert key_ids(conn) == {holder.ring.active}


def test_a_running_worker_reads_values_under_a_key_it_has_not_loaded(keyed, tmp_path):
    from app import create_app
    from tests.conftest import Factory

    other = create_app({**base_config(str(db.engine.url), tmp_path), "MTKIT_KEY_FILE": str(tmp_path / "keys.json")})
    assert keys_cli(keyed, "rotate").exit_code == 0
    person = Factory(keyed).person()
    with other.app_context():
        assert db.session.get(User, person.id).id_number == person.id_number  # re-read the key file once
        db.session.remove()
        db.engine.dispose()


@pytest.mark.skipif(not crypto.sm4_gcm_available(), reason="the OpenSSL under cryptography has no SM4-GCM")
def test_a_bureau_can_move_to_sm4(keyed, tmp_path):
    from tests.conftest import Factory

    person = Factory(keyed).person()
    assert keys_cli(keyed, "rotate", "--algorithm", "SM4-GCM").exit_code == 0
    assert keys_cli(keyed, "reencrypt").exit_code == 0
    ring = KeyRing.from_json(json.loads((tmp_path / "keys.json").read_text()))
    assert ring.keys[ring.active].algorithm == SM4
    db.session.expire_all()
    assert db.session.get(User, person.id).phone == "13800001111"


def test_a_new_lookup_key_recomputes_every_lookup_value(keyed, tmp_path):
    from tests.conftest import Factory

    person = Factory(keyed).person()
    before = (person.id_number_hmac, json.loads((tmp_path / "keys.json").read_text())["lookup_key"])
    refused = keys_cli(keyed, "rotate", "--lookup")
    assert refused.exit_code != 0 and "停止应用" in refused.output
    assert keys_cli(keyed, "rotate", "--lookup", "--yes").exit_code == 0
    db.session.expire_all()
    after = (db.session.get(User, person.id).id_number_hmac, json.loads((tmp_path / "keys.json").read_text())["lookup_key"])
    assert after[0] != before[0] and after[1] != before[1] and not (tmp_path / "keys.json.new").exists()
    assert login(keyed.test_client(), person.id_number).status_code == 302


# --- files on disk -------------------------------------------------------------------------------------
def test_what_the_app_writes_is_readable_by_its_user_only(app, client, make, nmg_staff, db_url, tmp_path):
    from core.applications import previews
    from core.models import Material

    os.chmod(app.instance_path, 0o755)
    from app import create_app

    create_app(base_config(db_url, tmp_path / "second"))  # every start tightens the instance folder
    assert mode(app.instance_path) == 0o700
    if db.engine.dialect.name == "sqlite":
        path = db.engine.url.database
        db.session.remove()
        db.engine.dispose()
        os.chmod(path, 0o644)
        make.person(name="李四", phone="13800002222")  # connects, writes
        assert [mode(p) for p in (path, path + "-wal", path + "-shm")] == [0o600] * 3
    person = make.person()
    application = make.application(person, ["M03900"])
    material = db.session.scalars(select(Material).where(Material.application_id == application.id)).first()
    uploads = app.config["MTKIT_UPLOAD_DIR"]
    stored = [os.path.join(d, f) for d, _, files in os.walk(uploads) for f in files]
    folders = [d for d, _, _ in os.walk(uploads)]
    assert stored and {mode(p) for p in stored} == {0o600} and {mode(d) for d in folders} == {0o700}
    png = previews.pdf_page(as_(nmg_staff["office"]), material, 1)
    assert png is not None and mode(png) == 0o600 and mode(png.parent) == 0o700 and mode(png.parent.parent) == 0o700
    login(client, "yibao")
    assert client.get(f"/applications/{application.id}/forms/application.pdf").status_code == 200
    cached = [os.path.join(d, f) for d, _, files in os.walk(app.config["MTKIT_PDF_CACHE_DIR"]) for f in files]
    assert cached and {mode(p) for p in cached} == {0o600} and mode(app.config["MTKIT_PDF_CACHE_DIR"]) == 0o700
    as_().regions.send_sms(phone="13800001111", text="测试", ref="perm")
    assert mode(app.config["MTKIT_SMS_LOG"]) == 0o600


def test_the_audit_page_finds_an_insured_persons_rows_by_id_number(app, client, make):
    """Usernames of insured people are pseudonyms now: the administrator still types the ID number."""
    person = make.person()
    login(app.test_client(), person.id_number)  # written under the pseudonymous username
    make.staff("root", "admin", region=None)
    login(client, "root")
    page = client.get("/staff/audit", query_string={"username": person.id_number}).get_data(as_text=True)
    assert person.username in page and "登录" in page
    other = client.get("/staff/audit", query_string={"username": "150102195503120251"}).get_data(as_text=True)
    assert person.username not in other
