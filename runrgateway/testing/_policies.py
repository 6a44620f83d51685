"""Policies: storage, the agent + role merge, and evaluation (scopes, intent, guards).

Follows the real gateway's engine: an agent's policies and its role's are merged
(scopes united, the last intent wins, guards merged); with no policy at all
everything is denied. The embedded gateway may carry a *fallback* spec used only
for agents that have no policy of their own or of their role (mock mode).

It never reads a token: token scope is checked in `_proxy`.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .._json import compact_json
from ._limits import DEFAULT_LIMITS, StoreFull
from ._time import Clock, iso_utc_ms


@dataclass(frozen=True)
class Policy:
    """One stored policy; `spec` is ``{"scopes": [...], "intent"?: str, "guards"?: {...}}``."""

    policy_id: str
    name: str
    spec: dict[str, Any]
    agent_id: str | None = None
    role: str | None = None
    created_at: str = ""
    description: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The body the real gateway answers with (its spec is stored as a JSON string)."""
        spec_text = compact_json(self.spec)
        return {
            "id": self.policy_id,
            "name": self.name,
            "description": self.description,
            "agentId": self.agent_id,
            "role": self.role,
            "spec": spec_text,
            "specHash": hashlib.sha256(spec_text.encode("utf-8")).hexdigest(),
            "active": True,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
        }


@dataclass
class MergedSpec:
    """The union of the policies that apply to one agent."""

    scopes: list[str] = field(default_factory=list)
    intent: str | None = None
    guards: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The `mergedSpec` the real gateway answers: `scopes`, and `intent`/`guards` when set."""
        wire: dict[str, Any] = {"scopes": list(self.scopes)}
        if self.intent:
            wire["intent"] = self.intent
        if self.guards:
            wire["guards"] = dict(self.guards)
        return wire


def spec_errors(spec: Any) -> list[str]:
    """Problems with a policy spec, empty when it is usable."""
    if not isinstance(spec, dict):
        return ["spec: Expected object"]
    errors = []
    scopes = spec.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        errors.append("scopes: Expected array of 'tool:action' strings")
    if "intent" in spec and spec["intent"] is not None and not isinstance(spec["intent"], str):
        errors.append("intent: Expected string")
    if "guards" in spec and spec["guards"] is not None and not isinstance(spec["guards"], dict):
        errors.append("guards: Expected object")
    return errors


def merge_specs(specs: list[dict[str, Any]]) -> MergedSpec:
    """Scopes united (order kept), the last intent wins, guard lists united, others replaced."""
    merged = MergedSpec()
    for spec in specs:
        for scope in spec.get("scopes") or []:
            if scope not in merged.scopes:
                merged.scopes.append(scope)
        if spec.get("intent"):
            merged.intent = spec["intent"]
        guards = spec.get("guards") or {}
        for name, value in guards.items():
            if name in ("allowedDomains", "blockedDomains") and isinstance(value, list):
                current = merged.guards.get(name) or []
                merged.guards[name] = current + [v for v in value if v not in current]
            else:
                merged.guards[name] = value
    return merged


class PolicyStore:
    """Thread-safe policies by agent id and by role, with an optional fallback spec."""

    def __init__(
        self,
        clock: Clock,
        fallback: dict[str, Any] | None = None,
        max_policies: int = DEFAULT_LIMITS.max_policies,
    ) -> None:
        self._clock = clock
        self.fallback = fallback
        self._max_policies = max_policies
        self._policies: list[Policy] = []
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        spec: dict[str, Any],
        *,
        agent_id: str | None = None,
        role: str | None = None,
        description: str | None = None,
    ) -> Policy:
        policy = Policy(
            str(uuid.uuid4()),
            name,
            dict(spec),
            agent_id,
            role,
            iso_utc_ms(self._clock()),
            description,
        )
        with self._lock:
            if len(self._policies) >= self._max_policies:
                raise StoreFull(f"{self._max_policies} policies are stored already")
            self._policies.append(policy)
        return policy

    def merged_for(self, agent_id: str, role: str) -> MergedSpec:
        """The agent's policies, then its role's, merged; the fallback (or deny-all) when none."""
        return self.merged_with_sources(agent_id, role)[0]

    def merged_with_sources(self, agent_id: str, role: str) -> tuple[MergedSpec, list[str]]:
        """`merged_for` and the ids of the policies it merged (none for the fallback)."""
        with self._lock:
            own = [p for p in self._policies if p.agent_id == agent_id]
            by_role = [p for p in self._policies if p.role is not None and p.role == role]
        sources = own + by_role
        if not sources:
            if self.fallback is not None:
                return merge_specs([self.fallback]), []
            return MergedSpec(scopes=[], intent="default_deny"), []
        return merge_specs([p.spec for p in sources]), [p.policy_id for p in sources]

    def evaluate(
        self, agent_id: str, role: str, tool: str, action: str, request_data: dict[str, Any]
    ) -> str | None:
        """None when allowed, else the denial reason in the real gateway's words."""
        merged = self.merged_for(agent_id, role)
        scope = f"{tool}:{action}"
        if scope not in merged.scopes:
            return f"Scope '{scope}' not allowed. Allowed scopes: {', '.join(merged.scopes)}"
        provided = request_data.get("intent")
        if merged.intent and provided and provided != merged.intent:
            return f"Intent mismatch. Required: {merged.intent}, provided: {provided}"
        return _check_guards(merged.guards, tool, action, request_data, self._clock())

    def clear(self) -> None:
        with self._lock:
            self._policies.clear()


def _check_guards(
    guards: dict[str, Any], tool: str, action: str, request_data: dict[str, Any], now: float
) -> str | None:
    limit = guards.get("maxRequestSize")
    if isinstance(limit, (int, float)):
        size = len(compact_json(request_data))
        if size > limit:
            return f"Request size {size} exceeds limit {limit}"
    url = request_data.get("url")
    if tool == "http_fetch" and action == "get" and isinstance(url, str) and url:
        domain = urlsplit(url).hostname or ""
        blocked = guards.get("blockedDomains") or []
        allowed = guards.get("allowedDomains")
        if domain in blocked:
            return f"Domain {domain} is blocked"
        if allowed is not None and domain not in allowed:
            return f"Domain {domain} not in allowed list: {', '.join(allowed)}"
    window = guards.get("timeWindow")
    if isinstance(window, dict):
        current = datetime.fromtimestamp(now).strftime("%H:%M")
        start, end = window.get("start"), window.get("end")
        if start and current < start:
            return f"Request time {current} before allowed start time {start}"
        if end and current > end:
            return f"Request time {current} after allowed end time {end}"
    return None
