"""Request signature checks (wire.md Part B) on the routes an agent calls.

A request must carry a valid RFC 9421 signature when the agent it speaks for has a
registered public key; a signature that is present is always checked when its
keyid names an agent with keys. Verification itself is `runrgateway._signing`. The
nonce memory is bounded (`GatewayLimits.max_nonces`): when it is full of live nonces a
valid request is deferred (503), never let through and never allowed to evict.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from .._keys import PublicKey, load_public_key
from .._signing import NonceStore, NonceStoreFull, SignatureVerificationError, SignatureVerifier
from ._limits import DEFAULT_LIMITS
from ._messages import GatewayRequest

DEFAULT_MAX_SKEW_S = 30.0


class SignatureRejected(Exception):
    """The request must be answered 401 SIGNATURE_INVALID; `reason` is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureDeferred(Exception):
    """The signature may be fine but the nonce memory is full: answer 503 with Retry-After."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"nonce store full, retry after {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


@functools.lru_cache(maxsize=1024)
def _load(pem: str) -> PublicKey:
    return load_public_key(pem)


class SignatureGuard:
    """Verifies agent signatures with a per-gateway nonce memory (replays are refused)."""

    def __init__(
        self,
        keys_of: Callable[[str], list[str]],
        *,
        max_skew_s: float = DEFAULT_MAX_SKEW_S,
        clock: Callable[[], float] = time.time,
        max_nonces: int = DEFAULT_LIMITS.max_nonces,
    ) -> None:
        self._keys_of = keys_of
        self._max_skew_s = max_skew_s
        self._clock = clock
        self._max_nonces = max_nonces
        self._verifier = self._new_verifier()

    def reset(self) -> None:
        """Forget the nonces seen so far."""
        self._verifier = self._new_verifier()

    def check(self, request: GatewayRequest, agent_id: str | None) -> str | None:
        """Check the request made on behalf of `agent_id` (None: unknown); returns the keyid.

        Raises SignatureRejected when the agent has keys and the signature is missing,
        names another agent, or fails; or when a signature fails for its own keyid.
        Raises SignatureDeferred when it verifies but the nonce memory is full.
        """
        claimed_keys = self._keys_of(agent_id) if agent_id else []
        signed = "signature-input" in request.headers or "signature" in request.headers
        if not signed:
            if claimed_keys:
                raise SignatureRejected("request is not signed")
            return None
        keyless: list[str] = []

        def resolve(keyid: str) -> list[PublicKey] | None:
            if claimed_keys and keyid != agent_id:
                return None
            pems = claimed_keys if claimed_keys else self._keys_of(keyid)
            if not pems:
                keyless.append(keyid)
                return None
            return [_load(pem) for pem in pems]

        try:
            return self._verifier.verify(
                request.method, request.full_url, request.headers, request.body, resolve
            )
        except SignatureVerificationError as exc:
            if keyless and exc.reason == "unknown keyid":
                return None  # nobody registered a key for this agent: nothing to check against
            raise SignatureRejected(exc.reason) from None
        except NonceStoreFull as exc:
            raise SignatureDeferred(exc.retry_after_s) from None

    def _new_verifier(self) -> SignatureVerifier:
        return SignatureVerifier(
            max_skew_s=self._max_skew_s,
            nonce_store=NonceStore(max_entries=self._max_nonces, clock=self._clock),
            clock=self._clock,
        )
