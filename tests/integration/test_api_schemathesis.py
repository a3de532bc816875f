"""schemathesis against the generated OpenAPI document: every operation, with a token of each scope
and without one. No answer may be a server error or break the document, and nothing may work
without a token.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.extensions import db
from app.models import ProfileKind
from app.services import api_tokens, offboarding
from app.services.context import Actor
from tests import factories

SCOPES = ["registry:read", "registry:write", "people:write", "offboarding:write", "scim"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def api_schema(app: Flask) -> Any:
    """A small registry (ids 1–3 exist, so generated ids sometimes hit a record) and the document."""
    department = factories.make_department("Adult Services")
    platform = factories.make_platform("Facebook", role_names=["owner", "admin"])
    for n in range(3):
        person = factories.make_person(f"Person {n}", department=department, hr_id=f"HR-{n}")
        profile = factories.make_profile(platform, kind=ProfileKind.PERSONAL, holder=person)
        account = factories.make_account(platform, owner_profile=profile, steward=person)
        factories.make_admin(account, profile)
        factories.make_recovery(account)
    offboarding.start_case(Actor.system(), person, date.today() + timedelta(days=7), via="api")
    db.session.commit()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def tokens(api_schema: Any) -> dict[str, str]:
    made = {}
    for scope in SCOPES:
        _, token = api_tokens.create_token(Actor.system(), f"Fuzz {scope}", [scope], 1)
        made[scope] = token
    db.session.commit()
    return made


def test_every_operation_with_every_scope_and_without_a_token(api_schema: Any, tokens: dict[str, str]) -> None:
    """Each operation in turn (schemathesis' own pytest loader does not run under this pytest)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def exercise(case: Any) -> None:
            anonymous = case.call()
            assert anonymous.status_code in (401, 404), (
                f"{case.method} {case.formatted_path} answered {anonymous.status_code} without a token"
            )
            for token in tokens.values():
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        exercise()
