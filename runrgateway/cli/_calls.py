"""`runrgateway call`, `token` and `job`: one gateway operation each, result on stdout.

Results go to stdout, as JSON (or the bare token when asked); these commands never
sign or send themselves: every call goes through `SyncGatewayClient`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .._models import JobResponse, TokenInfo
from .._sync._client import SyncGatewayClient
from ._context import (
    ENV_TOKEN,
    EXIT_GATEWAY_ERROR,
    EXIT_OK,
    PROG,
    Context,
    UsageError,
    print_json,
    sync_client,
)


def parse_params(pairs: Sequence[str], json_text: str | None) -> dict[str, Any]:
    """``--json`` first, then each ``key=value`` (the value parsed as JSON when it parses)."""
    params: dict[str, Any] = {}
    if json_text is not None:
        try:
            loaded = json.loads(json_text)
        except ValueError as exc:
            raise UsageError(f"--json is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError('--json must be a JSON object, e.g. \'{"query": "plumbers"}\'')
        params.update(loaded)
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"expected key=value, got {pair!r}")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        params[name.strip()] = value
    return params


def cmd_call(ctx: Context) -> int:
    args = ctx.args
    params = parse_params(args.params, args.json_params)
    token = _call_token(ctx)
    if token:
        ctx.secrets.append(token)
    settings = ctx.settings("mock://cli")
    if settings.mock and args.run_async:
        ctx.say(
            f"note: {settings.base_url} lives in this process only: the job id "
            "cannot be looked up by a later command (set GATEWAY_URL to reach a gateway)"
        )
    with sync_client(settings, args.intent) as gw:
        if args.run_async:
            result: Any = gw.proxy_async(
                args.tool, args.action, params, token, idempotency_key=args.idempotency_key
            )
        elif args.full:
            result = gw.proxy_response(
                args.tool, args.action, params, token, idempotency_key=args.idempotency_key
            ).to_dict()
        else:
            result = gw.proxy(
                args.tool, args.action, params, token, idempotency_key=args.idempotency_key
            )
    print_json(result, ctx.out)
    return EXIT_OK


def _call_token(ctx: Context) -> str | None:
    """The caller's token: --token, --token-file (``-``: stdin) or AGENT_TOKEN; else None
    (the SDK mints managed tokens)."""
    args = ctx.args
    if args.token is not None:
        text: str = args.token
        where = "--token"
    elif args.token_file is not None:
        where = "--token-file"
        try:
            if args.token_file == "-":
                text = sys.stdin.read()
            else:
                text = Path(args.token_file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise UsageError(f"cannot read --token-file {args.token_file}: {problem}") from None
    else:
        text = ctx.environ.get(ENV_TOKEN, "")
        where = ENV_TOKEN
        if not text.strip():
            return None
    token = text.strip()
    if not token or any(char.isspace() for char in token):
        # "NAME: value" would read as a secret to the masking of messages: no colon here.
        raise UsageError(f"{where} must hold one agent token (no spaces or line breaks inside)")
    return token


def cmd_token(ctx: Context) -> int:
    args = ctx.args
    settings = ctx.settings("mock://cli")
    if settings.mock:
        ctx.say(f"note: a token from {settings.base_url} is only valid inside this process")
    with sync_client(settings) as gw:
        info = gw.get_token_info(
            {"tools": args.tools, "permissions": args.permissions, "ttl_minutes": args.ttl}
        )
    if args.json:
        print_json(_token_json(info), ctx.out)
    else:
        print(info.agent_token, file=ctx.out)
    return EXIT_OK


def _token_json(info: TokenInfo) -> dict[str, Any]:
    return {
        "agent_token": info.agent_token,
        "token_id": info.token_id,
        "expires_at": info.expires_at.isoformat().replace("+00:00", "Z"),
        "agent_name": info.agent_name,
        "tools": list(info.tools),
        "permissions": list(info.permissions),
    }


def cmd_job(ctx: Context) -> int:
    args, err = ctx.args, ctx.err
    settings = ctx.settings("mock://cli")
    if settings.mock:
        ctx.say(
            f"note: {settings.base_url} lives in this process only: it knows only "
            "jobs started here (set GATEWAY_URL to reach a gateway)"
        )
    with sync_client(settings) as gw:
        if not args.wait:
            job = gw.get_job(args.job_id)
        elif _is_tty(err):
            job = _wait_with_progress(gw, args.job_id, args.timeout, err)
        else:
            job = gw.wait_for_job(args.job_id, timeout_s=args.timeout)
    print_json(job.to_dict(), ctx.out)
    if args.wait and job.status == "failed":
        ctx.say(f"error: job {job.job_id} failed: {job.error}")
        return EXIT_GATEWAY_ERROR
    return EXIT_OK


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _wait_with_progress(
    gw: SyncGatewayClient, job_id: str, timeout_s: float, err: TextIO
) -> JobResponse:
    """`wait_for_job` with a status line on a terminal."""

    def show(job: JobResponse, elapsed_s: float) -> None:
        err.write(f"\r{PROG} job: {job_id} {job.status:<8} {elapsed_s:5.1f} s")
        err.flush()

    try:
        return gw.wait_for_job(job_id, timeout_s=timeout_s, on_poll=show)
    finally:
        err.write("\n")
        err.flush()


# ------------------------------------------------------------------------------- mcp
