"""Background jobs for ``"async": true`` calls, run one at a time by a worker thread.

The worker starts on the first job and ends after a short idle spell, so idle
gateways hold no threads. Finished jobs are kept for `retention_s` and at most
`max_jobs` jobs are remembered.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._time import Clock

logger = logging.getLogger("runrgateway.gateway")

IDLE_EXIT_S = 0.5


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

    def __init__(self, clock: Clock, retention_s: float = 3600.0, max_jobs: int = 1000) -> None:
        self._clock = clock
        self._retention_s = retention_s
        self._max_jobs = max_jobs
        self._jobs: OrderedDict[str, Job] = OrderedDict()
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
            self._jobs[job.job_id] = job
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
        with self._lock:
            job.status, job.result, job.error = status, result, error
            job.finished_at = self._clock()

    def _prune(self) -> None:
        cutoff = self._clock() - self._retention_s
        for job_id in [
            job_id
            for job_id, job in self._jobs.items()
            if job.finished_at is not None and job.finished_at < cutoff
        ]:
            del self._jobs[job_id]
        while len(self._jobs) >= self._max_jobs:
            self._jobs.popitem(last=False)
