"""The read replica (MTKIT_REPLICA_DATABASE_URL) and the year-end ledger export that reads through it.

The replica tests start a throwaway PostgreSQL primary (initdb, wal_level=replica) and a streaming
replica of it (pg_basebackup -R), run the app against both and show that the export reads the
replica while its audit row, log-ins and every other write go to the primary. They need the
PostgreSQL 15 server binaries; without them they skip (and fail under MTKIT_REQUIRE_PG=1).
The export's own tests run on the usual test database (SQLite, or PostgreSQL in CI).
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app import create_app
from core.benefits.yearend import HEADER, export_year
from core.extensions import db
from core.kernel.errors import Invalid
from core.models import AuditLog, BenefitSettlement, User
from core.replica import replica_engine, report_reads
from tests.conftest import PASSWORD, as_, base_config

PG_BIN = Path(os.environ.get("MTKIT_PG_BIN", "/usr/lib/postgresql/15/bin"))
PORTS = range(5450, 5480)  # this feature's port range


# --- the export, on the usual test database -----------------------------------------------------
def settle_rows(person: User, region: str, year: int, n: int) -> list[int]:
    rows = [BenefitSettlement(person_id=person.id, region_code=region, division_code=person.division_code,
                              institution_code="H150100001", disease_code="M03900", disease_name="高血压",
                              visit_date=date(year, 3, 1 + k), settled_on=date(year, 3, 1 + k), benefit_year=year,
                              category="employed", covered=True, eligible_fen=10000 + k, deductible_fen=0,
                              limit_used_fen=7000, reimbursed_fen=7000, own_fen=3000 + k, policy_version="test")
            for k in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def test_year_end_export_lists_the_year_of_the_region_in_batches(app, make):
    person = make.person()
    person.psn_no = "15000000000000000001"
    db.session.commit()
    ids = settle_rows(person, "150000", 2025, 7)
    settle_rows(person, "150000", 2024, 2)  # another year
    lines = "".join(export_year(as_(), "150000", 2025, batch=3)).splitlines()
    assert lines[0].split(",") == HEADER
    body = [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in body] == ids  # every row once, in order, across three batches
    assert {r[1] for r in body} == {"15000000000000000001"}
    assert body[0][10:14] == ["100.00", "0.00", "70.00", "30.00"]
    assert "".join(export_year(as_(), "450600", 2025)).splitlines() == [",".join(HEADER)]
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "benefit.export_year")) == 2


def test_year_end_export_refuses_an_unknown_region_or_a_future_year(app):
    with pytest.raises(Invalid):
        export_year(as_(), "999999", 2025)
    with pytest.raises(Invalid):
        export_year(as_(), "150000", 2030)


def test_year_end_export_command(app, make, tmp_path):
    person = make.person()
    settle_rows(person, "150000", 2025, 2)
    out = tmp_path / "year.csv"
    result = app.test_cli_runner().invoke(args=["benefits", "export-year", "--region", "150000", "--year", "2025", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 笔" in result.output
    assert len(out.read_text("utf-8-sig").splitlines()) == 3
    bad = app.test_cli_runner().invoke(args=["benefits", "export-year", "--region", "999999", "--year", "2025"])
    assert bad.exit_code != 0 and "未知统筹区" in bad.output


def test_without_a_replica_reports_read_the_primary_session(app):
    assert replica_engine() is None
    with report_reads() as session:
        assert session is db.session


# --- a real primary and streaming replica -------------------------------------------------------
def _unavailable(reason: str):
    if os.environ.get("MTKIT_REQUIRE_PG") == "1":
        pytest.fail(f"MTKIT_REQUIRE_PG=1 but {reason}")
    pytest.skip(reason)


def _free_ports(n: int) -> list[int]:
    found = []
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == n:
            return found
    _unavailable(f"no {n} free ports in {PORTS.start}-{PORTS.stop - 1}")


def _as_postgres(args: list[str], root: Path) -> list[str]:
    """initdb and the server refuse to run as root: run them as the postgres OS user then. Some
    containers make /dev/null root-only, which PostgreSQL's tools write to: they then get a usable
    one (``root/null``) bound over it in a mount namespace of their own."""
    if os.geteuid() != 0:
        return args
    command = ["runuser", "-u", "postgres", "--", *args]
    if (root / "null").exists():
        return ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /dev/null && exec "$@"', str(root / "null"), *command]
    return command


def _run(args: list[str], root: Path) -> None:
    done = subprocess.run(_as_postgres(args, root), capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module")
def cluster():
    """(primary URL, replica URL): a primary on one port and its streaming replica on the next."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_basebackup").exists():
        _unavailable(f"the PostgreSQL server binaries are not in {PG_BIN} (set MTKIT_PG_BIN)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        _unavailable("running as root without runuser to start PostgreSQL as the postgres user")
    primary_port, replica_port = _free_ports(2)
    root = Path(tempfile.mkdtemp(prefix="mtkit-replica-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        if os.stat("/dev/null").st_mode & 0o006 != 0o006:
            if not shutil.which("unshare"):
                _unavailable("/dev/null is root-only here and unshare is missing")
            os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            (root / "null").chmod(0o666)
    primary, replica = root / "primary", root / "replica"
    started = []
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
              "--locale=C"], root)
        settings = (f"port = {primary_port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
                    "wal_level = replica\nmax_wal_senders = 4\nfsync = off\nsynchronous_commit = off\n"
                    "full_page_writes = off\nshared_buffers = 16MB\n")
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(settings)
        _run([str(PG_BIN / "pg_ctl"), "-D", str(primary), "-l", str(root / "primary.log"), "-w", "start"], root)
        started.append(primary)
        _run([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres", "-D", str(replica),
              "-R", "-X", "stream", "--no-sync"], root)
        with open(replica / "postgresql.auto.conf", "a") as conf:
            conf.write(f"port = {replica_port}\n")
        _run([str(PG_BIN / "pg_ctl"), "-D", str(replica), "-l", str(root / "replica.log"), "-w", "start"], root)
        started.append(replica)
        yield (f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}/postgres",
               f"postgresql+psycopg://postgres@127.0.0.1:{replica_port}/postgres")
    finally:
        for data in reversed(started):
            subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], root),
                           capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def replicated_app(cluster, tmp_path_factory):
    import flask_migrate

    primary, replica = cluster
    app = create_app({**base_config(primary, tmp_path_factory.mktemp("replica")), "MTKIT_REPLICA_DATABASE_URL": replica})
    with app.app_context():
        flask_migrate.upgrade()
        db.session.remove()
    return app


def _replayed(check, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _replay(paused: bool) -> None:
    with replica_engine().connect() as conn:
        conn.execute(text(f"SELECT pg_wal_replay_{'pause' if paused else 'resume'}()"))


def _settlements_on_replica(year: int) -> int:
    with report_reads() as session:
        return session.scalar(select(func.count()).select_from(BenefitSettlement).where(BenefitSettlement.benefit_year == year))


def test_the_report_bind_is_the_replica_and_the_session_the_primary(replicated_app):
    with replicated_app.app_context():
        with report_reads() as session:
            assert session is not db.session
            assert session.scalar(text("SELECT pg_is_in_recovery()")) is True
        assert db.session.scalar(text("SELECT pg_is_in_recovery()")) is False


def test_export_reads_the_replica_and_writes_its_audit_row_on_the_primary(replicated_app):
    from tests.conftest import Factory

    with replicated_app.app_context():
        make = Factory(replicated_app)
        person = make.person()
        first = settle_rows(person, "150000", 2025, 3)
        assert _replayed(lambda: _settlements_on_replica(2025) == 3), "the replica never received the rows"
        _replay(paused=True)  # what the primary gets from now on stays off the replica
        try:
            later = settle_rows(person, "150000", 2025, 2)
            exported = [int(line.split(",")[0]) for line in "".join(export_year(as_(), "150000", 2025)).splitlines()[1:]]
            db.session.commit()
            assert exported == first  # the replica's rows: not the two written after the pause
            assert db.session.scalar(select(func.count()).select_from(BenefitSettlement)
                                     .where(BenefitSettlement.benefit_year == 2025)) == 5
            # The export's audit row went to the primary (the replica refuses writes anyway).
            assert db.session.scalar(select(func.count()).select_from(AuditLog)
                                     .where(AuditLog.action == "benefit.export_year")) == 1
            # Log-in reads the primary: a person registered after the pause can sign in.
            newcomer = make.person(name="李四", phone="13800002222")
            newcomer_id = newcomer.id
            db.session.remove()
            client = replicated_app.test_client()
            assert client.post("/login", data={"username": newcomer.username, "password": PASSWORD}).status_code == 302
            with report_reads() as session:
                assert session.get(User, newcomer_id) is None  # not on the replica yet
        finally:
            _replay(paused=False)
        assert _replayed(lambda: _settlements_on_replica(2025) == 5)
        exported = [int(line.split(",")[0]) for line in "".join(export_year(as_(), "150000", 2025)).splitlines()[1:]]
        assert exported == first + later
