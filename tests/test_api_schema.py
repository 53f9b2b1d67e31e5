"""schemathesis against /api/v1/openapi.json: generated requests (bounded) never get a 5xx, and every
response matches the documented status codes, content type and schema.

Both valid inputs (positive) and inputs that break the schema (negative) are generated for every
operation, as a logged-in insured person and anonymously. (Driven through hypothesis directly:
schemathesis's pytest plugin does not run under pytest 9.)
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.extensions import db
from tests.conftest import PASSWORD

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 15  # per operation and mode: odd input everywhere, small enough for every CI run


@pytest.fixture
def api_schema(app, make):
    person = make.person()
    make.application(person, ["M03900"])
    db.session.commit()
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": person.username, "password": PASSWORD}).get_json()["token"]
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), token


def operations(schema):
    found = []
    for result in schema.get_all_operations():
        found.append(result.ok())
    return found


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_api_conforms_to_its_description(api_schema, mode):
    schema, token = api_schema
    ops = operations(schema)
    assert len(ops) >= 18
    failures, exercised = [], 0
    for op in ops:
        headers = {} if op.path == "/auth/logout" else {"Authorization": f"Bearer {token}"}

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
            exercised += 1
        except Unsatisfiable:
            # Nothing can be invalid about it (e.g. GET /regions takes no input): no negative case exists.
            assert mode == GenerationMode.NEGATIVE, op.path
        except Exception as e:  # keep going: report every operation that fails, not just the first
            failures.append(f"{op.method.upper()} {op.path}: {str(e)[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert exercised >= (len(ops) if mode == GenerationMode.POSITIVE else 12)
