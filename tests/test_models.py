import json

import pytest

from runrgateway import (
    GatewayValidationError,
    JobResponse,
    ProxyResponse,
    TokenOptions,
)


def test_json_round_trips() -> None:
    job = JobResponse(job_id="j1", status="done", result={"id": 7}, error=None)
    assert job.to_dict() == {"job_id": "j1", "status": "done", "result": {"id": 7}, "error": None}
    assert JobResponse.from_json(job.to_json()) == job
    response = ProxyResponse(data=[1], metadata={"tool": "t"}, correlation_id="c")
    assert ProxyResponse.from_dict(json.loads(response.to_json())) == response
    options = TokenOptions(tools=["serpapi"], permissions=["read"], ttl_minutes=5)
    assert TokenOptions.from_dict(options.to_dict()) == options


def test_token_options_accept_a_mapping_or_refuse_clearly() -> None:
    assert TokenOptions.coerce({"tools": ("a",), "permissions": ["read"]}) == TokenOptions(
        ["a"], ["read"], 15
    )
    with pytest.raises(GatewayValidationError, match="ttl_minutes"):
        TokenOptions(["a"], ["read"], 0)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"status": "done"},
        {"job_id": "j", "status": "finished"},
        {"job_id": 3, "status": "done"},
    ],
)
def test_job_bodies_that_make_no_sense(body: object) -> None:
    with pytest.raises(ValueError, match="job answer"):
        JobResponse.from_body(body)
