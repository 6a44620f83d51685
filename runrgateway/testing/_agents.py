"""The gateway's agents: identity, role, status and registered public keys.

The registry keeps public keys only: a private key made for `create-agent` is handed
out, never stored.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization

from .._keys import AgentKey
from ._limits import DEFAULT_LIMITS, StoreFull

DEFAULT_ROLE = "agent"


@dataclass
class Agent:
    """One agent as the gateway stores it. `public_keys` holds PEM texts."""

    agent_id: str
    name: str
    role: str = DEFAULT_ROLE
    created_by: str = "runrgateway.testing"
    status: str = "active"
    public_keys: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status == "active"


def generate_rsa_key_pair() -> tuple[str, str]:
    """A new RSA-2048 pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM).

    RSA because the real gateway's `/api/create-agent` hands out RSA keys (wire.md).
    """
    key = AgentKey.generate("rsa")
    return key.private_key_pem(), key.public_key_pem()


def normalise_public_key(pem: str) -> str:
    """Check that `pem` is a public key and return it in canonical SubjectPublicKeyInfo form.

    Raises ValueError when it is not a public key PEM.
    """
    key = serialization.load_pem_public_key(pem.encode("utf-8"))
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


class AgentRegistry:
    """Thread-safe store of agents by id."""

    def __init__(self, max_agents: int = DEFAULT_LIMITS.max_agents) -> None:
        self._agents: dict[str, Agent] = {}
        self._max_agents = max_agents
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._agents)

    def get(self, agent_id: str) -> Agent | None:
        with self._lock:
            return self._agents.get(agent_id)

    def public_keys(self, agent_id: str) -> list[str]:
        with self._lock:
            agent = self._agents.get(agent_id)
            return list(agent.public_keys) if agent else []

    def add(
        self,
        *,
        name: str,
        role: str = DEFAULT_ROLE,
        created_by: str = "runrgateway.testing",
        agent_id: str | None = None,
        public_key_pem: str | None = None,
    ) -> Agent:
        """Register an agent (a new uuid unless `agent_id` is given); replaces one with that id.

        Raises StoreFull when `max_agents` are registered already.
        """
        keys = [normalise_public_key(public_key_pem)] if public_key_pem else []
        agent = Agent(agent_id or str(uuid.uuid4()), name, role, created_by, public_keys=keys)
        with self._lock:
            if agent.agent_id not in self._agents and len(self._agents) >= self._max_agents:
                raise StoreFull(f"{self._max_agents} agents are registered already")
            self._agents[agent.agent_id] = agent
        return agent

    def ensure(
        self, agent_id: str, public_key_pem: str | None = None, *, create: bool
    ) -> Agent | None:
        """Add `public_key_pem` to the agent (creating it when `create`); None if it is unknown
        (or would be created past `max_agents`)."""
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is not None and (not public_key_pem or public_key_pem in agent.public_keys):
                return agent  # the common case: nothing to add
        key = normalise_public_key(public_key_pem) if public_key_pem else None
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is None:
                if not create or len(self._agents) >= self._max_agents:
                    return None
                agent = Agent(agent_id, name=agent_id)
                self._agents[agent_id] = agent
            if key and key not in agent.public_keys:
                agent.public_keys.append(key)
            return agent

    def set_status(self, agent_id: str, status: str) -> bool:
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is None:
                return False
            agent.status = status
            return True

    def clear(self) -> None:
        with self._lock:
            self._agents.clear()
