"""Logged-in page speed against bare Flask, from one run (issue 14).

    .venv/bin/python bench/pages.py                        # demo data, SQLite in a temp folder
    .venv/bin/python bench/pages.py --rows 1000000         # plus a million applications
    .venv/bin/python bench/pages.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

It builds a database (SQLite in a temp folder; on PostgreSQL a schema of its own, mtkit_pages,
dropped afterwards), seeds the demo data (and ``--rows`` applications, bench/seeding.py), then
starts side by side, under gunicorn with gunicorn.conf.py and ``-w 2``, mtkit and a bare Flask app
answering "hello" (bench/bare_flask.py). It logs in over HTTP (staff nmg_yibao, insured
150102195503120244, password Demo1234; an API token for the insured) and drives every page with
``wrk`` (the cookie or token in a header): req/s, and p50/p95 from wrk's latency distribution
(all requests, taken in wrk's ``done`` hook). Bare Flask is driven first and last; its mean is the
yardstick. "server time" is timed in the bench process itself: the same page through Flask's test
client (no network, no gunicorn), median and p95 of ``--samples`` requests.

Request limits are turned off for the app (MTKIT_RATELIMIT=0): wrk would hit them in a second.
Not a test: figures depend on the machine; compare the columns of one run.
Needs wrk (Debian package ``wrk``: ``apt-get install wrk``, or ``bash scripts/setup-system.sh test``).
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCHEMA = "mtkit_pages"
PASSWORD = "Demo1234"
STAFF, INSURED = "nmg_yibao", "150102195503120244"
AGENT = "mtkit-bench/1"  # sessions are bound to their browser: the log-in and wrk send the same
# wrk's done() hook: one line with what the bench reads (p50/p95 from the whole distribution).
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout))
end
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", help="PostgreSQL URL (a schema of its own is used); default SQLite in a temp folder")
    ap.add_argument("--rows", type=int, default=0, help="applications to add to the demo data (0 = demo data only)")
    ap.add_argument("--duration", type=int, default=10, help="seconds wrk drives each page")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers, for both apps")
    ap.add_argument("--samples", type=int, default=100, help="in-process requests per page for server time")
    ap.add_argument("--port", type=int, default=5400, help="mtkit's port; bare Flask gets the next one")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("bench/pages.py needs wrk, the HTTP load generator. On Debian: apt-get install wrk\n"
              "(or bash scripts/setup-system.sh test, which installs every test tool).", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="mtkit-pages-"))
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    if url.startswith("postgresql"):
        _pg_schema(url, create=True)
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}options=" + urllib.parse.quote(f"-csearch_path={SCHEMA}")
    env = _environment(url, tmp)
    os.environ.update(env)
    servers = []
    try:
        ids = _prepare(args.rows)
        pages = _pages(ids)
        server_times = _server_times(pages, args.samples)
        python = Path(sys.executable)
        gunicorn = str(python.parent / "gunicorn")
        common = [gunicorn, "-c", str(ROOT / "gunicorn.conf.py"), "-w", str(args.workers)]
        app_url, bare_url = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.port + 1}"
        servers.append(subprocess.Popen([*common, "-b", app_url[7:], "app:create_app()"], cwd=ROOT, env={**os.environ, **env},
                                        stdout=subprocess.DEVNULL, stderr=open(tmp / "app.log", "wb")))
        servers.append(subprocess.Popen([*common, "-b", bare_url[7:], "bare_flask:app"], cwd=ROOT / "bench",
                                        stdout=subprocess.DEVNULL, stderr=open(tmp / "bare.log", "wb")))
        _wait_up(app_url + "/healthz", tmp / "app.log")
        _wait_up(bare_url + "/", tmp / "bare.log")
        headers = {"staff": _log_in(app_url, STAFF), "insured": _log_in(app_url, INSURED), "api": _token(app_url, INSURED)}
        script = tmp / "report.lua"
        script.write_text(WRK_SCRIPT)
        results = {}
        for path, who, _status in pages:
            _check(app_url + path, headers[who], _status)
        first = _wrk(bare_url + "/", {}, script, args)
        for path, who, _status in pages:
            results[path] = _wrk(app_url + path, headers[who], script, args)
        last = _wrk(bare_url + "/", {}, script, args)
        _report(args, url, first, last, results, server_times, pages)
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
        for proc in servers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.database_url and args.database_url.startswith("postgresql"):
            _pg_schema(args.database_url, create=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _environment(url: str, tmp: Path) -> dict[str, str]:
    """Everything the app writes goes to the temp folder; both the bench and gunicorn use it."""
    return {
        "DATABASE_URL": url, "MTKIT_RATELIMIT": "0", "MTKIT_SECRET_KEY": "bench-secret-key-0123456789abcdef", "MTKIT_VERIFICATION_KEY": "bench-verification-key-0123456789",
        "MTKIT_AUDIT_KEY": "bench-audit-key-0123456789abcdef", "MTKIT_KEY_FILE": str(tmp / "keys.json"), "MTKIT_UPLOAD_DIR": str(tmp / "uploads"),
        "MTKIT_PREVIEW_DIR": str(tmp / "previews"), "MTKIT_PDF_CACHE_DIR": str(tmp / "pdf-cache"),
        "MTKIT_LOCK_DIR": str(tmp / "locks"), "MTKIT_SMS_LOG": str(tmp / "sms.log"),
        "MTKIT_QUEUE_URL": f"sqlite:///{tmp}/queue.sqlite3",
    }


def _pg_schema(url: str, *, create: bool) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        if create:
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()


def _prepare(rows: int) -> dict:
    """Migrate, seed the demo (and ``rows`` applications); the ids the pages need."""
    import flask_migrate
    from sqlalchemy import select

    from app import create_app
    from core import demo
    from core.context import for_app
    from core.extensions import db
    from core.jobs import runner
    from core.jobs.schedule import JOBS
    from core.models import Application, User

    app = create_app()
    with app.app_context():
        started = time.perf_counter()
        flask_migrate.upgrade()
        demo.seed(for_app(app, origin="cli"))
        db.session.commit()
        runner.run_due(for_app(app, origin="job"), JOBS.values(), echo=lambda line: None)
        print(f"demo data seeded ({time.perf_counter() - started:.0f} s)")
        if rows:
            from bench.seeding import seed_applications

            seed_applications(rows)
        person = db.session.scalar(select(User).where(User.id_number_is(INSURED)))
        staff = db.session.scalar(select(User).where(User.username == STAFF))
        # An application both the insured person and 医保科 may open: theirs, at this hospital.
        app_id = db.session.scalar(select(Application.id).where(
            Application.person_id == person.id, Application.institution_code == staff.hospital_code,
            Application.status != "draft").order_by(Application.id))
        db.session.remove()
    return {"application": app_id}


def _pages(ids: dict) -> list[tuple[str, str, int]]:
    """(path, who, expected status)."""
    return [
        ("/", "staff", 302),
        ("/staff/queue", "staff", 200),
        ("/staff/queue?view=all", "staff", 200),
        (f"/applications/{ids['application']}", "staff", 200),
        ("/applications", "insured", 200),   # 我的申请
        ("/recognitions", "insured", 200),   # 我的认定
        ("/benefits", "insured", 200),       # 我的待遇
        (f"/api/v1/applications/{ids['application']}", "api", 200),
    ]


NAMES = {"/": "/ (redirect)", "/applications": "我的申请 /applications", "/recognitions": "我的认定 /recognitions",
         "/benefits": "我的待遇 /benefits"}


def _server_times(pages, samples: int) -> dict[str, tuple[float, float]]:
    """Median and p95 milliseconds of each page through the test client, in this process."""
    from app import create_app

    app = create_app()
    clients = {}
    for who, username in (("staff", STAFF), ("insured", INSURED)):
        c = app.test_client()
        c.environ_base["HTTP_USER_AGENT"] = AGENT
        page = c.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        r = c.post("/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
        assert r.status_code == 302, f"log-in as {username} failed: {r.status_code}"
        clients[who] = (c, {})
    c = app.test_client()
    r = c.post("/api/v1/auth/token", json={"username": INSURED, "password": PASSWORD})
    clients["api"] = (c, {"Authorization": f"Bearer {r.get_json()['token']}"})
    out = {}
    for path, who, status in pages:
        c, headers = clients[who]
        times = []
        for i in range(samples + 5):
            t = time.perf_counter()
            r = c.get(path, headers=headers)
            elapsed = (time.perf_counter() - t) * 1000
            assert r.status_code == status, f"{path}: {r.status_code}"
            if i >= 5:  # the first few warm caches up
                times.append(elapsed)
        out[path] = (statistics.median(times), _percentile(times, 95))
    return out


def _percentile(values, pct) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _wait_up(url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within 60 s; see {log}:\n{log.read_text()[-2000:]}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


def _log_in(base: str, username: str) -> dict[str, str]:
    """Log in like a browser (form with its CSRF token); the cookie header for wrk."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    opener.addheaders = [("User-Agent", AGENT)]
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": PASSWORD}).encode()
    try:
        opener.open(base + "/login", body)
        raise SystemExit(f"log-in as {username} did not redirect (wrong password or data?)")
    except urllib.error.HTTPError as e:
        if e.code != 302:
            raise SystemExit(f"log-in as {username}: HTTP {e.code}")
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return {"Cookie": cookie, "User-Agent": AGENT}


def _token(base: str, username: str) -> dict[str, str]:
    req = urllib.request.Request(base + "/api/v1/auth/token", json.dumps({"username": username, "password": PASSWORD}).encode(),
                                 {"Content-Type": "application/json", "User-Agent": AGENT})
    value = json.load(urllib.request.urlopen(req))["token"]
    return {"Authorization": f"Bearer {value}", "User-Agent": AGENT}


def _check(url: str, headers: dict, status: int) -> None:
    """The page answers as the signed-in user would see it (not the log-in page)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        code = opener.open(urllib.request.Request(url, headers=headers)).status
    except urllib.error.HTTPError as e:
        code = e.code
    if code != status:
        raise SystemExit(f"{url}: HTTP {code}, expected {status}")


def _wrk(url: str, headers: dict, script: Path, args) -> dict:
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--latency", "-s", str(script)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    n, micros, p50, p95, status_errors, socket_errors, timeouts = map(int, re.search(r"^BENCH (.*)$", out, re.M).group(1).split())
    if status_errors or socket_errors or timeouts:
        print(f"  ! {url}: {status_errors} non-2xx/3xx, {socket_errors} socket errors, {timeouts} timeouts", file=sys.stderr)
    return {"rps": n / (micros / 1e6), "p50": p50 / 1000, "p95": p95 / 1000}


def _report(args, url, first, last, results, server_times, pages) -> None:
    from sqlalchemy.engine import make_url

    bare = (first["rps"] + last["rps"]) / 2
    where = make_url(url).get_backend_name()
    print(f"\nlogged-in pages vs bare Flask: {where}, demo data + {args.rows:,} applications; gunicorn -w {args.workers} "
          f"(gunicorn.conf.py), wrk -t{args.threads} -c{args.connections} -d{args.duration}s; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"bare Flask hello: {first['rps']:,.0f} and {last['rps']:,.0f} req/s (first, last), p50 {first['p50']:.1f} ms\n")
    print("| page | req/s | ratio to bare Flask | wrk p50 ms | wrk p95 ms | server p50 ms | server p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for path, _who, _status in pages:
        r, (s50, s95) = results[path], server_times[path]
        name = NAMES.get(path, path)
        print(f"| {name} | {r['rps']:,.0f} | {r['rps'] / bare:.2f} | {r['p50']:.1f} | {r['p95']:.1f} | {s50:.1f} | {s95:.1f} |")
    print(f"| bare Flask hello (mean) | {bare:,.0f} | 1.00 | {first['p50']:.1f} | {first['p95']:.1f} | | |")


if __name__ == "__main__":
    sys.exit(main())
