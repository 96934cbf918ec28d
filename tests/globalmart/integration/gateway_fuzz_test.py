"""Property-based fuzzing from the OpenAPI document (schemathesis): no 5xx for any input.

Every documented operation (except the endless SSE streams) gets a bounded number of generated
requests — valid and invalid parameters alike — against a real gateway on real PostgreSQL and
Redis. Each answer must be below 500, and errors must be problem documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Err, Result
from schemathesis.errors import InvalidSchema

from globalmart.core.settings import Settings
from globalmart.gateway.app import create_app
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.testing import running_gateway

EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def base_url(live_stack: Callable[..., Settings]) -> Iterator[str]:
    stack = live_stack("postgres-realtime", "postgres-warehouse", "redis", "apicurio")
    app = create_app(stack, GatewayConfig(rate_limit_per_second=0, ops_api_keys=["fuzz-ops"]))
    with running_gateway(app) as url:
        yield url


def _schema(base_url: str) -> schemathesis.schemas.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    return schema.exclude(path_regex="^/api/v1/live/")


def _operation(
    result: Result[schemathesis.APIOperation, InvalidSchema],
) -> schemathesis.APIOperation:
    if isinstance(result, Err):
        raise result.err()  # our own OpenAPI document has an operation schemathesis cannot read
    return result.ok()


def test_no_5xx_for_generated_requests(base_url: str) -> None:
    schema = _schema(base_url)
    operations = [_operation(result) for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures: list[str] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers={"X-API-Key": "fuzz-ops"}, timeout=30)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query}: "
                    f"{response.status_code} {response.text[:200]}"
                )
            elif response.status_code >= 400 and case.formatted_path != "/graphql":
                # (Strawberry answers malformed GraphQL HTTP requests in text/plain.)
                header = response.headers.get("content-type") or [""]
                content_type = header[0] if isinstance(header, list) else header
                assert content_type.startswith("application/problem+json"), (
                    case.method,
                    case.formatted_path,
                    response.text[:200],
                )

        check()
    assert not failures, "\n".join(failures[:20])
