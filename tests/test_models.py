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


@pytest.mark.parametrize("model", ["TokenInfo", "ProxyResponse", "JobResponse"])
def test_every_field_has_a_docstring_for_the_reference(model: str) -> None:
    """mkdocstrings renders attribute docstrings (a string right after the field)."""
    import ast
    import dataclasses
    import inspect

    import runrgateway
    from runrgateway import _models

    tree = ast.parse(inspect.getsource(_models))
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == model]
    documented = {
        statement.target.id
        for statement, following in zip(node.body, node.body[1:], strict=False)
        if isinstance(statement, ast.AnnAssign)
        and isinstance(statement.target, ast.Name)
        and isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    }
    fields = {f.name for f in dataclasses.fields(getattr(runrgateway, model))}
    assert fields <= documented, fields - documented


def test_token_info_token_is_the_agent_token() -> None:
    from datetime import datetime, timezone

    from runrgateway import TokenInfo

    info = TokenInfo(agent_token="abc.def", token_id="t1", expires_at=datetime.now(timezone.utc))
    assert info.token == info.agent_token == "abc.def"
    assert "abc.def" not in repr(info)
