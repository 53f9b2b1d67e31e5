"""Several app hosts: two gunicorn instances behind haproxy, one queue worker, PostgreSQL, Redis and an
S3 server (moto), all real processes on loopback sharing one environment (keys, database, bucket).

- An insured person applies and uploads through host A; staff review and download through host B
  (server-side sessions and the shared bucket make either host serve any request).
- The daily jobs started on both hosts at the same moment: each job runs once and each SMS is sent once.
- Host A is killed (SIGKILL) while requests stream through the load balancer: host B keeps serving,
  and every answered request has its record, whole, exactly once.

Runs in the PostgreSQL pass of `make test` (it needs PostgreSQL; the SQLite pass skips it); needs
Redis and haproxy too (scripts/setup-system.sh test). Without them it is skipped, except under
MTKIT_REQUIRE_PG=1 (CI), where that is a failure.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from core.models import Application, ApplicationDisease, JobRun, Material, Notice, NoticeDelivery, User
from tests.files import make_pdf
from tests.s3 import CREDENTIALS, free_port, moto_server

pytestmark = pytest.mark.multihost

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_URL = os.environ.get("MTKIT_TEST_DATABASE_URL", "")
REQUIRED = os.environ.get("MTKIT_REQUIRE_PG") == "1"
REDIS_URL = os.environ.get("MTKIT_TEST_MULTIHOST_REDIS_URL", "redis://127.0.0.1:6379/6")
PASSWORD = "Demo1234"  # the demo accounts' password (README, "Demo log-ins")
LIU = "150102196808250132"  # 刘建华, 内蒙古 呼和浩特市: an insured person with no application yet
HOSPITAL = "H150100001"  # 内蒙古医科大学附属医院
HYPERTENSION = "M03900"
# Ports: free ones by default; MTKIT_TEST_PORT_BASE=N uses N..N+3 (moto, haproxy, host A, host B).
PORT_BASE = int(os.environ.get("MTKIT_TEST_PORT_BASE", "0"))


def _absent(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"{why}; MTKIT_REQUIRE_PG=1 requires it")
    pytest.skip(why)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _ports() -> list[int]:
    return [PORT_BASE + i for i in range(4)] if PORT_BASE else [free_port() for _ in range(4)]


def _wait_http(url: str, seconds: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited ({proc.returncode}): {log.read_text()[-3000:] if log else ''}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {seconds} s: {log.read_text()[-3000:] if log else ''}")


HAPROXY_CFG = """\
global
    maxconn 256

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # A host that refuses the connection (stopped, killed): try again, on the other host.
    retries 3
    option redispatch 1
    option forwardfor

frontend web
    bind 127.0.0.1:{lb}
    default_backend hosts

backend hosts
    balance roundrobin
    option httpchk GET /healthz
    default-server inter 300ms fall 2 rise 1
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
"""


class Cluster:
    """The processes, their shared environment and an in-process app on the same database to look
    at what they wrote (the "oracle"; it never serves a request)."""

    def __init__(self, tmp: Path, env: dict, ports: list[int], oracle):
        self.tmp, self.env, self.oracle = tmp, env, oracle
        _, lb, a, b = ports
        self.lb, self.a, self.b = f"http://127.0.0.1:{lb}", f"http://127.0.0.1:{a}", f"http://127.0.0.1:{b}"
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        # Its own process group: killing "a host" kills gunicorn's master and its workers together.
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def gunicorn(self, name: str, url: str) -> subprocess.Popen:
        port = url.rsplit(":", 1)[1]
        return self.start(name, [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
                                 "-w", "1", "app:create_app()"])

    def flask(self, *args: str, name: str) -> subprocess.Popen:
        return self.start(name, [str(VENV_BIN / "flask"), "--app", "app", *args])

    def worker(self) -> None:
        """The queue worker, started when a test needs it: its quarter-hourly check of the daily jobs
        would otherwise race the jobs test's two hosts for the same work (harmless, but it could
        leave them nothing to do)."""
        if "worker" not in self.procs:
            self.flask("queue", "worker", name="worker")

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                # gunicorn's quick shutdown is SIGQUIT (SIGTERM waits for keep-alive connections).
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGQUIT if name in ("a", "b") else signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    @contextlib.contextmanager
    def db(self):
        """A session on the shared database, reading what the hosts committed."""
        from core.extensions import db

        with self.oracle.app_context():
            yield db.session
            db.session.rollback()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not PG_URL.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: runs in the PostgreSQL pass of `make test` (MTKIT_TEST_DATABASE_URL)")
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
    if haproxy is None:
        _absent("haproxy is not installed (Debian package haproxy; `bash scripts/setup-system.sh test`)")
    if not _redis_answers(REDIS_URL):
        _absent(f"no Redis server answers at {REDIS_URL} (set MTKIT_TEST_MULTIHOST_REDIS_URL)")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # the queue and the limit counts of an earlier run

    # A database of its own named after the test database (two checkouts testing at once do not
    # share it), created here and dropped at the end.
    DB_NAME = f"{make_url(PG_URL).database}_two_hosts"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB_NAME}"))
    url = make_url(PG_URL).set(database=DB_NAME).render_as_string(hide_password=False)

    tmp = tmp_path_factory.mktemp("two-hosts")
    ports = _ports()
    bucket = f"mtkit-{uuid.uuid4().hex[:12]}"
    # One environment for every host (README "Deploying at scale": the same keys everywhere).
    shared = {
        **CREDENTIALS,
        "DATABASE_URL": url,
        "MTKIT_SECRET_KEY": secrets.token_hex(32),
        "MTKIT_VERIFICATION_KEY": secrets.token_hex(32),
        "MTKIT_AUDIT_KEY": secrets.token_hex(32),
        "MTKIT_KEY_FILE": str(tmp / "keys.json"),
        "MTKIT_STORAGE": "s3",
        "MTKIT_S3_BUCKET": bucket,
        "MTKIT_S3_PREFIX": "hosts/",
        "MTKIT_S3_ENDPOINT_URL": f"http://127.0.0.1:{ports[0]}",
        "MTKIT_S3_REGION": "us-east-1",
        "MTKIT_QUEUE_URL": REDIS_URL,
        "MTKIT_RATELIMIT_STORAGE_URI": REDIS_URL,
        "MTKIT_PROXY_COUNT": "1",
        "MTKIT_SMS_LOG": str(tmp / "sms.log"),
        "MTKIT_LOCK_DIR": str(tmp / "locks"),
        "MTKIT_UPLOAD_DIR": str(tmp / "uploads"),
        "MTKIT_PREVIEW_DIR": str(tmp / "previews"),
        "MTKIT_PDF_CACHE_DIR": str(tmp / "pdf-cache"),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTKIT_", "DATABASE_URL", "PROMETHEUS_"))}
    env.update(shared)

    saved = {k: os.environ.get(k) for k in shared}
    with moto_server(ports[0]):
        import boto3
        from botocore.config import Config

        boto3.client("s3", endpoint_url=shared["MTKIT_S3_ENDPOINT_URL"], region_name="us-east-1",
                     config=Config(s3={"addressing_style": "path"})).create_bucket(Bucket=bucket)
        os.environ.update(shared)
        cluster = None
        try:
            import flask_migrate

            from app import create_app
            from core import demo
            from core.context import for_app
            from core.extensions import db

            oracle = create_app({"RATELIMIT_ENABLED": False})
            with oracle.app_context():
                flask_migrate.upgrade()
                # The demo's people, staff and history, without the daily jobs `flask demo` runs
                # after it: the hosts run those below.
                demo.seed(for_app(oracle, origin="cli"))
                db.session.commit()
            cluster = Cluster(tmp, env, ports, oracle)
            (tmp / "haproxy.cfg").write_text(HAPROXY_CFG.format(lb=ports[1], a=ports[2], b=ports[3]))
            hosts = {name: cluster.gunicorn(name, url) for name, url in (("a", cluster.a), ("b", cluster.b))}
            for name, url in (("a", cluster.a), ("b", cluster.b)):
                _wait_http(f"{url}/readyz", 60, hosts[name], tmp / f"{name}.log")
            lb = cluster.start("haproxy", [haproxy, "-db", "-f", str(tmp / "haproxy.cfg")])
            _wait_http(f"{cluster.lb}/healthz", 20, lb, tmp / "haproxy.log")
            yield cluster
        finally:
            if cluster is not None:
                cluster.stop_all()
                with cluster.oracle.app_context():
                    db.session.remove()
                    db.engine.dispose()
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
            admin.dispose()


class Browser:
    """A person's browser: one session cookie, the CSRF token the pages hand out, any host."""

    def __init__(self):
        self.http = requests.Session()
        self.csrf = ""

    def get(self, url: str, **kw) -> requests.Response:
        r = self.http.get(url, allow_redirects=False, timeout=30, **kw)
        m = re.search(r'"X-CSRFToken": "([^"]+)"', r.text) if r.headers.get("Content-Type", "").startswith("text/html") else None
        if m:
            self.csrf = m.group(1)
        return r

    def post(self, url: str, data=None, files=None) -> requests.Response:
        return self.http.post(url, data=data, files=files, headers={"X-CSRFToken": self.csrf}, allow_redirects=False, timeout=30)

    def log_in(self, host: str, username: str) -> None:
        self.get(f"{host}/login")
        r = self.post(f"{host}/login", {"username": username, "password": PASSWORD})
        assert r.status_code == 302, r.text[:500]


def _created_id(r: requests.Response) -> int:
    assert r.status_code == 302, r.text[:500]
    return int(re.search(r"/applications/(\d+)$", r.headers["Location"]).group(1))


def _sms_refs(cluster) -> Counter:
    path = cluster.tmp / "sms.log"
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    return Counter(json.loads(line)["ref"] for line in lines if line.strip())


def test_daily_jobs_started_on_both_hosts_at_once_send_each_notice_once(cluster):
    from core.jobs.schedule import JOBS

    with cluster.db() as s:
        last_notice = s.scalar(select(func.max(Notice.id))) or 0
    both = [cluster.flask("jobs", "run", name=f"jobs-{host}") for host in ("a", "b")]
    for host, proc in zip(("a", "b"), both):
        assert proc.wait(120) == 0, cluster.log(f"jobs-{host}")
    # SMS queued by a daily job that finished after the other host's send: sent by the next run.
    again = [cluster.flask("jobs", "run", "deliver_notices", "--force", name=f"send-{host}") for host in ("a", "b")]
    for host, proc in zip(("a", "b"), again):
        assert proc.wait(60) == 0, cluster.log(f"send-{host}")

    with cluster.db() as s:
        daily = [j.name for j in JOBS.values() if j.every_minutes is None]
        runs = Counter(s.scalars(select(JobRun.name).where(JobRun.status == "done", JobRun.name.in_(daily))))
        # Each daily job ran once, on one host; the other skipped it (lease held, or already done today).
        # (The worker checks the daily jobs every quarter hour too: a third host racing, same rule.)
        assert runs == Counter({name: 1 for name in daily}), (runs, cluster.log("jobs-a"), cluster.log("jobs-b"))
        assert s.scalar(select(func.count()).select_from(JobRun).where(JobRun.status != "done")) == 0
        keys = s.scalars(select(Notice.dedup_key).where(Notice.id > last_notice, Notice.dedup_key.is_not(None))).all()
        # The jobs had work: the demo's recognition that ended last week and its renewal reminders.
        assert any(k.startswith("expired:") for k in keys) and any(k.startswith("renewal:") for k in keys), keys
        assert len(keys) == len(set(keys))
        sms = s.scalars(select(NoticeDelivery).where(NoticeDelivery.channel == "sms")).all()
        sent = {f"mtkit-{d.id}" for d in sms if d.status == "sent"}
        new_sms = [d for d in sms if d.notice_id > last_notice]
        assert new_sms and all(d.status in ("sent", "skipped") for d in new_sms), [(d.id, d.status) for d in new_sms]
        assert all(d.attempts == 1 for d in sms if d.status == "sent")
    refs = _sms_refs(cluster)
    # Every SMS the gateway was given, exactly once; and each one the database says was sent.
    assert refs and max(refs.values()) == 1, refs.most_common(3)
    assert set(refs) == sent


def test_apply_on_host_a_and_review_and_download_on_host_b(cluster):
    from core.applications import materials
    from core.context import for_app

    person = Browser()
    person.log_in(cluster.a, LIU)
    with cluster.db() as s:
        liu = s.scalars(select(User).where(User.id_number_is(LIU))).one()
        liu_id, division = liu.id, liu.division_code
    person.get(f"{cluster.a}/applications/new")
    app_id = _created_id(person.post(f"{cluster.a}/applications/new", {
        "division": division, "institution": HOSPITAL, "channel": "online", "diseases": HYPERTENSION,
        "idempotency_key": uuid.uuid4().hex}))
    person.get(f"{cluster.a}/applications/{app_id}")
    with cluster.db() as s:
        required = [(i.disease_code, i.rule.code) for i in materials.checklist(for_app(cluster.oracle), s.get(Application, app_id))
                    if i.rule.required]
    assert required
    pdfs = {}
    for n, (disease, code) in enumerate(required):
        pdfs[code] = make_pdf(n + 1)
        r = person.post(f"{cluster.a}/applications/{app_id}/materials", {"disease_code": disease, "material_code": code},
                        files={"file": (f"{code}.pdf", pdfs[code], "application/pdf")})
        assert r.status_code in (200, 302), r.text[:500]
    with cluster.db() as s:
        version = s.get(Application, app_id).version
    assert person.post(f"{cluster.a}/applications/{app_id}/submit", {"version": version}).status_code == 302

    # The same session cookie is good on host B (sessions live in the database).
    assert person.get(f"{cluster.b}/applications/{app_id}").status_code == 200

    # Staff on host B: 受理 (医保科), decide (physician), 确认办结 (医保科).
    for username, action, extra in (("nmg_yibao", "accept", {}),
                                    ("nmg_doctor", "decide", {f"result_{HYPERTENSION}": "approved"}),
                                    ("nmg_yibao", "record", {})):
        staff = Browser()
        staff.log_in(cluster.b, username)
        assert staff.get(f"{cluster.b}/applications/{app_id}").status_code == 200
        with cluster.db() as s:
            version = s.get(Application, app_id).version
        r = staff.post(f"{cluster.b}/staff/applications/{app_id}/act", {"action": action, "version": version, **extra})
        assert r.status_code == 302, (action, r.text[:800])
    with cluster.db() as s:
        application = s.get(Application, app_id)
        assert application.status == "approved", application.status
        stored = {m.material_code: m for m in application.current_materials()}
        assert set(stored) == {code for _, code in required}
        ids = {code: m.id for code, m in stored.items()}
        decision = s.scalars(select(Notice).where(Notice.user_id == liu_id).order_by(Notice.id.desc())).first()
        assert decision is not None
        decision_id = decision.id
    # Host B streams each material from the bucket, byte for byte what host A rewrote and stored.
    for code, material_id in ids.items():
        r = staff.get(f"{cluster.b}/materials/{material_id}")
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
        assert r.content.startswith(b"%PDF")
        with cluster.db() as s:
            m = s.get(Material, material_id)
            import hashlib

            assert hashlib.sha256(r.content).hexdigest() == m.sha256 and len(r.content) == m.size

    # The worker takes a task put on the shared Redis queue by another host: the decision's SMS goes out.
    cluster.worker()
    enqueue = cluster.flask("queue", "run", "deliver_notices", name="enqueue")
    assert enqueue.wait(30) == 0, cluster.log("enqueue")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with cluster.db() as s:
            statuses = s.scalars(select(NoticeDelivery.status).where(NoticeDelivery.notice_id == decision_id,
                                                                     NoticeDelivery.channel == "sms")).all()
        if statuses == ["sent"]:
            break
        time.sleep(0.5)
    assert statuses == ["sent"], (statuses, cluster.log("worker")[-3000:])


def _stream(cluster, browser: Browser, codes: list[str], division: str, out: list) -> None:
    """New applications (one disease each, a one-time form key each) and reads, through the load
    balancer, paced so the stream outlasts the kill. A submit that gets no answer or a 5xx (its host
    died under it) is sent again with the same key, as a person would press again; the key makes the
    repeat the same submit. Each request is recorded as (what, code, key, status or error, started)."""
    def call(what, code, key, send):
        started = time.monotonic()
        try:
            r = send()
        except requests.RequestException as e:
            out.append((what, code, key, repr(e), "", started))
            return None
        out.append((what, code, key, r.status_code, r.headers.get("Location", ""), started))
        return r

    for code in codes:
        key = uuid.uuid4().hex
        form = {"division": division, "institution": HOSPITAL, "channel": "online", "diseases": code, "idempotency_key": key}
        for _ in range(5):
            r = call("submit", code, key, lambda: browser.post(f"{cluster.lb}/applications/new", form))
            if r is not None and r.status_code < 500:
                break
            time.sleep(0.1)
        for _ in range(2):
            time.sleep(0.05)
            call("read", code, key, lambda: browser.get(f"{cluster.lb}/applications"))
        time.sleep(0.05)


def test_a_host_killed_mid_stream_loses_nothing_and_the_other_keeps_serving(cluster):
    from core.applications import service
    from core.context import for_app

    zhang_id_number = "150102195503120244"  # 张桂英, 呼和浩特市
    person = Browser()
    person.log_in(cluster.lb, zhang_id_number)
    with cluster.db() as s:
        zhang = s.scalars(select(User).where(User.id_number_is(zhang_id_number))).one()
        ctx = for_app(cluster.oracle)
        today = ctx.today(zhang.region_code)
        taken = service.unavailable_diseases(ctx, zhang, zhang.region_code, today)
        codes = [d.code for d in ctx.regions.catalogue(zhang.region_code, today.year) if d.code not in taken][:16]
        zhang_id, division = zhang.id, zhang.division_code
        before = set(s.scalars(select(Application.id).where(Application.person_id == zhang_id)))
    assert len(codes) >= 12, codes
    person.get(f"{cluster.lb}/applications/new")

    out: list = []
    stream = threading.Thread(target=_stream, args=(cluster, person, codes, division, out), daemon=True)
    stream.start()
    deadline = time.monotonic() + 30
    while sum(1 for o in out if o[0] == "submit") < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    killed_at = time.monotonic()
    cluster.kill("a")  # SIGKILL to gunicorn's master and worker: the host is gone mid-request
    stream.join(120)
    assert not stream.is_alive()

    # Host B kept serving through the load balancer: every request sent once haproxy had seen host A
    # go (a second) succeeded at the first try, and there were plenty of them.
    later = [o for o in out if o[5] > killed_at + 1.0]
    assert len([o for o in later if o[0] == "submit"]) >= 5, out
    assert all(o[3] == (302 if o[0] == "submit" else 200) for o in later), later
    assert requests.get(f"{cluster.b}/readyz", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{cluster.a}/healthz", timeout=2)

    created = {}  # form key -> application id, from every answer that said "created"
    for what, code, key, status, location, _ in out:
        if what == "submit" and status == 302:
            app_id = int(location.rsplit("/", 1)[1])
            assert created.setdefault(key, app_id) == app_id  # a repeat answers with the first result
    # Every submit was answered "created" in the end, retries included.
    assert len(created) == len(codes), out
    with cluster.db() as s:
        mine = s.scalars(select(Application).where(Application.person_id == zhang_id, Application.id.not_in(before))).all()
        # Nothing lost, duplicated or half-written: exactly the applications answered, each whole.
        assert sorted(a.id for a in mine) == sorted(created.values())
        for a in mine:
            diseases = s.scalars(select(ApplicationDisease).where(ApplicationDisease.application_id == a.id)).all()
            assert len(diseases) == 1 and a.status == "draft", (a.id, a.status, diseases)
        per_disease = Counter(s.scalars(select(ApplicationDisease.disease_code).where(
            ApplicationDisease.application_id.in_([a.id for a in mine]))))
        assert per_disease == Counter(codes)
        assert s.scalar(select(func.count()).select_from(Application).where(
            ~Application.id.in_(select(ApplicationDisease.application_id)))) == 0
