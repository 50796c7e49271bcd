"""The live server against its own OpenAPI document: schemathesis, as attendee, host and admin.

Every documented operation gets a bounded number of generated requests, valid and invalid ones (schemathesis'
positive and negative modes): no 500, every answer matches its documented schema and status codes, and
nothing the document rejects is accepted (the reverse, that everything it allows succeeds, is not asked: a
schema cannot know whether a card is real or a seat is free). Examples are derandomised, so a run is repeatable.

The operations are driven through ``APIOperation.as_strategy`` under plain Hypothesis rather than
``schemathesis.pytest.from_fixture``, whose lazy loader does not run on pytest 9 (it reads ``Function._nodeid``).
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from atomicseats.api.openapi import OPERATIONS
from tests.factories import Factory

EXAMPLES_PER_OPERATION = 25
REQUEST_LINE_LIMIT = 4094  # gunicorn's limit_request_line: longer request lines get its own 414, in HTML
ROLES = ("attendee", "host", "admin")
OPERATION_IDS = sorted(endpoint.removeprefix("api.") for endpoint in OPERATIONS)


@pytest.fixture(scope="module")
def live_schema(live_server: str):
    return schemathesis.openapi.from_url(f"{live_server}/api/v1/openapi.json")


@pytest.fixture(scope="module")
def http() -> requests.Session:
    return requests.Session()


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
@pytest.mark.parametrize("role", ROLES)
def test_operation_keeps_its_contract(
    live_schema, live_server: str, http: requests.Session, factory: Factory, role: str, operation_id: str
):
    user = factory.user(role)
    factory.event(host=user if role != "attendee" else None)  # something of one's own to find, edit, hold
    operation = live_schema.find_operation_by_id(operation_id)
    cases = st.one_of(
        *live_schema.get_strategies_from_examples(operation),  # the document's own examples, filled in
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    def check(case) -> None:
        # A fresh token each time: a generated DELETE /auth/token revokes the one it was sent with.
        headers = {"Authorization": f"Bearer {factory.token(user)}"}
        response = case.call(base_url=live_server, session=http, headers=headers)
        if response.status_code == 414:  # refused by gunicorn before the API (documented): only an over-long line
            assert len(f"{response.request.method} {response.request.path_url} HTTP/1.1") > REQUEST_LINE_LIMIT
            return
        case.validate_response(
            response,
            excluded_checks=[positive_data_acceptance],  # business rules (a real card, a free seat) are not schema
            headers=headers,
            transport_kwargs={"base_url": live_server, "session": http},
        )

    check()
