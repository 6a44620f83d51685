"""Client settings from environment variables: what `from_env()` and the CLI read.

The one place that knows the variable names and how they combine. Keyword arguments
given by the caller win over the environment; a setting that is still missing is a
`GatewayConfigError` naming exactly the variables to set. No I/O but reading the key
file named by ``AGENT_PRIVATE_KEY_FILE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._constants import MOCK_URL_PREFIX
from ._errors import GatewayConfigError


def is_mock_url(url: object) -> bool:
    """Whether `url` names an embedded gateway (``mock://<name>``), case aside.

    The one test of it: the client's endpoint, `from_env()`, the CLI and the mock
    gateways' registry all ask here."""
    return isinstance(url, str) and url.strip().lower().startswith(MOCK_URL_PREFIX)


ENV_URL = "GATEWAY_URL"
ENV_AGENT_ID = "AGENT_ID"
ENV_KEY = "AGENT_PRIVATE_KEY"
ENV_KEY_FILE = "AGENT_PRIVATE_KEY_FILE"
ENV_KEY_PASSWORD = "AGENT_KEY_PASSWORD"
ENV_INTENT = "AGENT_INTENT"
ENV_ALLOW_INSECURE_HTTP = "GATEWAY_ALLOW_INSECURE_HTTP"
ENV_VARIABLES = (
    ENV_URL,
    ENV_AGENT_ID,
    ENV_KEY,
    ENV_KEY_FILE,
    ENV_KEY_PASSWORD,
    ENV_INTENT,
    ENV_ALLOW_INSECURE_HTTP,
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

# With a mock:// URL the agent id and the key may be left out: the embedded gateway
# welcomes any agent, and a placeholder key makes the client sign with a throwaway key.
MOCK_AGENT_ID = "mock-agent"
MOCK_KEY_PLACEHOLDER = "mock-key"


@dataclass(frozen=True)
class EnvironmentSettings:
    """Constructor keywords read from the environment (and the caller's overrides).

    `throwaway_key` says the key was left out on a mock:// URL (the client signs with a
    key it makes up); `fallback_url` that `default_base_url` was used because
    ``GATEWAY_URL`` was unset.
    """

    kwargs: dict[str, Any] = field(repr=False)
    throwaway_key: bool = False
    fallback_url: bool = False

    @property
    def base_url(self) -> str:
        return str(self.kwargs["base_url"])

    @property
    def agent_id(self) -> str:
        return str(self.kwargs["agent_id"])

    @property
    def mock(self) -> bool:
        return is_mock_url(self.base_url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values to mask wherever they might be echoed (the key, its password)."""
        return tuple(
            str(self.kwargs[name])
            for name in ("agent_private_key_pem", "key_password")
            if self.kwargs.get(name)
        )


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value is not None and value.strip() else None


def _read_key_file(path_text: str) -> str:
    path = Path(path_text.strip()).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise GatewayConfigError(
            f"{ENV_KEY_FILE}: cannot read {path}: {problem}",
            details={"parameter": ENV_KEY_FILE},
        ) from None
    if not text.strip():
        raise GatewayConfigError(
            f"{ENV_KEY_FILE}: {path} is empty", details={"parameter": ENV_KEY_FILE}
        )
    return text


def _flag(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise GatewayConfigError(
        f"{name} must be 1 or 0 (or true/false, yes/no, on/off), got {value.strip()!r}",
        details={"parameter": name},
    )


def looks_like_path(value: str | bytes) -> bool:
    """Whether a key value is a file path rather than PEM text (a common mistake).

    One line, no PEM header, and shaped like a path: absolute, home- or dot-relative, or
    ending in a key file's usual suffix.
    """
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    text = text.strip()
    if not text or "\n" in text or "-----BEGIN" in text:
        return False
    return text.startswith(("/", "~", "./", "../", ".\\")) or text.lower().endswith(
        (".pem", ".key", ".der", ".p8")
    )


def read_environment(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    default_base_url: str | None = None,
) -> EnvironmentSettings:
    """The client's constructor keywords: `overrides` first, then the environment.

    Reads ``GATEWAY_URL``, ``AGENT_ID``, ``AGENT_PRIVATE_KEY`` (PEM text) or
    ``AGENT_PRIVATE_KEY_FILE`` (its path), ``AGENT_KEY_PASSWORD``, ``AGENT_INTENT`` and
    ``GATEWAY_ALLOW_INSECURE_HTTP``.
    `default_base_url` is used when neither the overrides nor the environment give a URL;
    then no agent id or key may be set without a URL either (a half-configured real
    gateway must not fall back to a mock silently).
    """
    env = os.environ if environ is None else environ
    kwargs: dict[str, Any] = dict(overrides or {})
    fallback = False

    url = kwargs.get("base_url") or _get(env, ENV_URL)
    url_source = "base_url" if kwargs.get("base_url") else ENV_URL
    agent_id = kwargs.get("agent_id") or _get(env, ENV_AGENT_ID)
    key_given = "agent_private_key_pem" in kwargs and kwargs["agent_private_key_pem"]
    key_text = _get(env, ENV_KEY)
    key_file = _get(env, ENV_KEY_FILE)
    if not key_given and key_text and key_file:
        raise GatewayConfigError(
            f"set {ENV_KEY} (PEM text) or {ENV_KEY_FILE} (its path), not both",
            details={"parameter": ENV_KEY},
        )
    if not key_given and key_text and looks_like_path(key_text):
        raise GatewayConfigError(
            f"{ENV_KEY} holds a file path, not PEM text: set {ENV_KEY_FILE} to the path "
            f"instead (and unset {ENV_KEY})",
            details={"parameter": ENV_KEY},
        )

    if not url:
        if default_base_url is None:
            raise GatewayConfigError(
                f"{ENV_URL} is not set (or pass base_url=...)", details={"parameter": ENV_URL}
            )
        stray = [
            name for name, value in ((ENV_AGENT_ID, agent_id), (ENV_KEY, key_text)) if value
        ] + ([ENV_KEY_FILE] if key_file else [])
        if stray:
            verb = "is" if len(stray) == 1 else "are"
            raise GatewayConfigError(
                f"{ENV_URL} is not set but {' and '.join(stray)} {verb}: set {ENV_URL} too "
                "(or unset them to use the embedded gateway)",
                details={"parameter": ENV_URL},
            )
        url = default_base_url
        fallback = True
    mock = is_mock_url(url)

    throwaway = False
    if not key_given:
        if key_file:
            key_text = _read_key_file(key_file)
        if key_text:
            kwargs["agent_private_key_pem"] = key_text
        elif mock:
            kwargs["agent_private_key_pem"] = MOCK_KEY_PLACEHOLDER
            throwaway = True
    if not agent_id and mock:
        agent_id = MOCK_AGENT_ID

    missing = [
        name
        for name, ok in ((ENV_AGENT_ID, agent_id), (ENV_KEY, kwargs.get("agent_private_key_pem")))
        if not ok
    ]
    if missing:
        what = {
            ENV_AGENT_ID: f"{ENV_AGENT_ID} is not set",
            ENV_KEY: f"{ENV_KEY} (PEM text) or {ENV_KEY_FILE} (its path) is not set",
        }
        raise GatewayConfigError(
            f"{url_source} is {url} but " + " and ".join(what[name] for name in missing),
            details={"parameter": missing[0], "missing": missing},
        )

    kwargs["base_url"] = url
    kwargs["agent_id"] = agent_id
    password = _get(env, ENV_KEY_PASSWORD)
    if "key_password" not in kwargs and password is not None:
        kwargs["key_password"] = password
    intent = _get(env, ENV_INTENT)
    if "default_intent" not in kwargs and intent is not None:
        kwargs["default_intent"] = intent.strip()
    insecure = _get(env, ENV_ALLOW_INSECURE_HTTP)
    if "allow_insecure_http" not in kwargs and insecure is not None:
        kwargs["allow_insecure_http"] = _flag(ENV_ALLOW_INSECURE_HTTP, insecure)
    return EnvironmentSettings(kwargs, throwaway_key=throwaway, fallback_url=fallback)
