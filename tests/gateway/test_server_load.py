"""The loopback server takes a burst of new connections without resets or stalls."""

from __future__ import annotations

import threading
import time

import httpx2

from runrgateway.testing import GatewayServer


def test_a_burst_of_new_connections_is_accepted() -> None:
    clients = 64
    barrier = threading.Barrier(clients)
    outcomes: list[tuple[int, float]] = []
    lock = threading.Lock()

    with GatewayServer() as server:

        def connect_and_ask() -> None:
            with httpx2.Client(timeout=5.0) as http:
                barrier.wait(timeout=5.0)  # every thread opens its connection at once
                started = time.monotonic()
                status = http.get(f"{server.url}/api/health").status_code
                elapsed = time.monotonic() - started
            with lock:
                outcomes.append((status, elapsed))

        threads = [threading.Thread(target=connect_and_ask) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10.0)

    assert [status for status, _ in outcomes] == [200] * clients
    assert max(elapsed for _, elapsed in outcomes) < 0.9  # an overflow costs a 1 s SYN retry
