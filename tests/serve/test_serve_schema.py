"""Schemathesis against the served OpenAPI schema: generated requests, valid and not, never get a 500.

The examples are bounded (MAX_EXAMPLES per operation, derandomized: the same
requests each run) so that CI stays quick.
"""

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install 'rnnkit[test]')")
from hypothesis import HealthCheck, settings  # noqa: E402  (schemathesis brings hypothesis)
from schemathesis import checks  # noqa: E402

MAX_EXAMPLES = 30
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]


@pytest.fixture(scope="module")
def served_app(engine):
    from rnnkit.serve.app import create_app

    return create_app(engine)


@pytest.fixture(scope="module")
def api_schema(served_app):
    return schemathesis.openapi.from_asgi("/openapi.json", served_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_500(case):
    if case.body is not None and isinstance(case.body, dict) and "max_tokens" in case.body:
        case.body["max_tokens"] = min(case.body["max_tokens"], 50) if isinstance(case.body["max_tokens"], int) else 5
    case.call_and_validate(checks=CHECKS)


def test_the_server_still_answers_after_the_fuzzing(served_app):
    from fastapi.testclient import TestClient

    with TestClient(served_app) as client:
        assert client.get("/health").status_code == 200
        assert client.post("/v1/predict", json={"prefix": "我"}).status_code == 200
