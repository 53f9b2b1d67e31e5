"""Reads for reports and exports: from the read replica when one is configured, else the primary.

``MTKIT_REPLICA_DATABASE_URL`` (a PostgreSQL streaming replica) adds the SQLAlchemy bind
``replica``. Only report and export reads go there (``report_reads``): never the log-in or session
path, and never a read whose result is then written (a replica lags the primary a little, and it
refuses writes). Without the setting every read uses the primary's session.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from core.extensions import db

REPLICA = "replica"


def replica_engine():
    """The replica's engine, or None when none is configured."""
    return db.engines.get(REPLICA)


@contextmanager
def report_reads() -> Iterator[Session]:
    """A session for a report's reads: on the replica (its own short-lived session, rolled back at
    the end: it never writes) or, without one, the app's usual session."""
    engine = replica_engine()
    if engine is None:
        yield db.session
        return
    with Session(engine) as session:
        try:
            yield session
        finally:
            session.rollback()
