"""Schemathesis against the explorer's OpenAPI document: every answer matches it, none is a 5xx.

Schemathesis's pytest plugin does not run under this pytest, so the test drives Hypothesis over
each operation's strategies itself, with a bounded number of examples per operation and mode.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import positive_data_acceptance

from conftest import TESTBED
from kremlinology.web.app import create_app
from kremlinology.web.service import Settings

EXAMPLES = 15


@pytest.fixture(scope="module")
def web_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    store: Path = tmp_path_factory.mktemp("schema") / "s.sqlite3"
    app = create_app(
        Settings(scenario=str(TESTBED), store_path=store, max_runs=200, default_runs=100, wait_s=60)
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_the_api_matches_its_openapi_document(
    web_schema: schemathesis.BaseSchema, mode: schemathesis.GenerationMode
) -> None:
    operations = [result.ok() for result in web_schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"GET /api/whatif", "GET /api/history", "GET /api/chronicle", "POST /api/jobs"} <= labels
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # A well-formed query need not name a what-if ('zzz'): answering 400 is correct.
            # The client waits as long as the server may (its wait_s, then a 202), not
            # schemathesis's 10 s, which a loaded 2-core machine can exceed on a what-if.
            case.call_and_validate(excluded_checks=[positive_data_acceptance], timeout=90)

        try:
            check()
        except Unsatisfiable:
            # No invalid input exists for an operation without parameters.
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
