"""Background jobs for ``"async": true`` calls, run one at a time by a worker thread.

The worker starts on the first job and ends after a short idle spell, so idle
gateways hold no threads. Finished jobs are kept for `retention_s`, within
`GatewayLimits`' caps on jobs and on their results' bytes, per agent and in total
(`OwnerQuota`: an agent over its cap loses its own oldest jobs, never another's).

The worker never runs two jobs at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._json import compact_json
from ._limits import DEFAULT_LIMITS, GatewayLimits
from ._quota import OwnerQuota
from ._time import Clock

logger = logging.getLogger("runrgateway.gateway")

IDLE_EXIT_S = 0.5
_JOB_OVERHEAD = 512  # bytes a job costs beyond its result (objects, ids, dict slots)


class JobFailed(Exception):
    """Raised by job work to mark the job failed with `error`."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Job:
    """A job's state as `GET /api/jobs/{job_id}` shows it."""

    job_id: str
    agent_id: str
    status: str = "queued"
    result: Any = None
    error: Any = None
    finished_at: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "result": self.result,
            "error": self.error,
        }


class JobRunner:
    """Queues work and runs it in a background thread."""

    def __init__(
        self, clock: Clock, retention_s: float = 3600.0, limits: GatewayLimits = DEFAULT_LIMITS
    ) -> None:
        self._clock = clock
        self._retention_s = retention_s
        self._jobs: OwnerQuota[str, Job] = OwnerQuota(
            per_owner=limits.jobs_per_agent,
            total=limits.jobs_total,
            per_owner_size=limits.job_bytes_per_agent,
            total_size=limits.job_bytes_total,
        )
        self._queue: queue.Queue[tuple[Job, Callable[[], Any]]] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._worker: threading.Thread | None = None

    def submit(self, agent_id: str, work: Callable[[], Any]) -> Job:
        """Queue `work`; its return value becomes the result, a JobFailed its error."""
        job = Job(f"job_{uuid.uuid4().hex}", agent_id)
        with self._lock:
            self._prune()
            self._jobs.put(agent_id, job.job_id, job, _JOB_OVERHEAD)
            self._pending += 1
            self._queue.put((job, work))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._run, name="runrgateway-jobs", daemon=True
                )
                self._worker.start()
        return job

    def get(self, job_id: str) -> Job | None:
        """A snapshot of the job, or None when unknown or forgotten."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else Job(**vars(job))

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Block until every queued job finished (for tests); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()

    def _run(self) -> None:
        while True:
            try:
                job, work = self._queue.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._worker = None
                        return
                continue
            try:
                self._execute(job, work)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._idle.notify_all()

    def _execute(self, job: Job, work: Callable[[], Any]) -> None:
        with self._lock:
            job.status = "running"
        try:
            result = work()
        except JobFailed as failure:
            status, result, error = "failed", None, failure.error
        except Exception as exc:  # a bug in a fake tool must not kill the worker
            logger.exception("job %s crashed", job.job_id)
            status, result, error = "failed", None, f"Internal error: {type(exc).__name__}"
        else:
            status, error = "done", None
        size = _JOB_OVERHEAD + _size_of(result if error is None else error)
        with self._lock:
            job.status, job.result, job.error = status, result, error
            job.finished_at = self._clock()
            if self._jobs.get(job.job_id) is job:  # not pushed out while it ran
                self._jobs.put(job.agent_id, job.job_id, job, size)

    def _prune(self) -> None:
        cutoff = self._clock() - self._retention_s
        self._jobs.drop_where(lambda job: job.finished_at is not None and job.finished_at < cutoff)


def _size_of(value: Any) -> int:
    try:
        return len(compact_json(value))
    except (TypeError, ValueError):
        return 0
