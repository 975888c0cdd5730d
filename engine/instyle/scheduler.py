"""One worker runs frames one at a time on the device: interactive requests first, then bake jobs in turn.

Every unit of work belongs to a client connection; a client sees and cancels only its own jobs, and a job
that is cancelled (or whose client goes away) stops before its next frame and inside iterative stages.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .failures import failure_reply
from .wire import InstyleError
from .wire.requests import CorrectionsRequest, JobItem, JobRequest, RunRequest

MAX_JOBS_PER_CLIENT = 8
MAX_RUNS_PER_CLIENT = 64
BUSY_HINT = "wait for earlier requests to finish or cancel some"
MISSING_FRAME = "frame_out_of_range"  # a job's frame that needs a footage frame that is not there (its own, or one
# a stage reads, as the tracker reads the shot's earlier frames): the job goes on, its result lists them in "missing"


class Cancelled(Exception):
    """Raised inside a stage when its job was cancelled."""


@dataclass(eq=False)
class Job:
    """A bake: `request.items` are the frames to compute; `done` counts those computed, `missing` the frame numbers
    of those that need footage that is missing (see MISSING_FRAME; taken in order, the next item is
    `items[done + len(missing)]`). Its events are made here, whether its frames run on the local worker or on a
    cluster (`instyle.cluster`)."""

    owner: object
    request: JobRequest
    done: int = 0
    missing: list[int] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def total(self) -> int:
        return len(self.request.items)

    @property
    def complete(self) -> bool:
        """Every item computed or found missing."""
        return self.done + len(self.missing) == self.total

    def computed(self, item: JobItem, reply: dict) -> dict:
        """Count `item` as computed (`reply`: its `run` result); the progress event saying so."""
        self.done += 1
        left = self.total - self.done - len(self.missing)
        return {"type": "progress", "id": self.request.id, "done": self.done, "total": self.total,
                "frame": item.frame_number, "eta_s": round((time.monotonic() - self.started) / self.done * left, 2),
                "timings_ms": reply["timings_ms"], "instances": len(reply["instances"])}

    def step(self, item: JobItem, stage: str, step: int, steps: int) -> dict:
        """The progress event within `item`'s frame: `stage` has done `step` of `steps`."""
        done = self.done + step / steps
        return {"type": "progress", "id": self.request.id, "done": self.done, "total": self.total,
                "frame": item.frame_number, "stage": stage, "step": step, "steps": steps,
                "eta_s": round((time.monotonic() - self.started) / done * (self.total - done), 2)}

    def failed(self, error: dict, item: JobItem) -> dict:
        """The job's last event when `item` failed with `error` (an `error` reply)."""
        return {**error, "id": self.request.id, "frame": item.frame_number, "done": self.done}

    def stopped(self) -> dict:
        """The job's last event once cancelled."""
        return {"type": "cancelled", "id": self.request.id, "done": self.done}

    def result(self) -> dict:
        """The job's last event once complete."""
        missing = {"missing": self.missing} if self.missing else {}
        return {"type": "result", "id": self.request.id, "done": self.done, "total": self.total, **missing}


@dataclass(eq=False)
class Run:
    """A request served before any bake: a frame (`RunRequest`) or the corrections reaching some
    (`CorrectionsRequest`)."""

    owner: object
    request: RunRequest | CorrectionsRequest
    payloads: list
    cancelled: threading.Event = field(default_factory=threading.Event)


class Scheduler:
    """`execute(request, payloads, is_cancelled, on_step) -> (reply, payloads)` serves one request (a frame, or the
    corrections reaching a list of frames), calling `on_step(stage, step, steps)` from iterative stages (sent to
    bake clients as progress within the frame); `send(owner, header, payloads)` delivers replies and events to a
    client. A failed request is answered with `failures.failure_reply`.

    With `bakes` (a `cluster.ClusterBakes`), bake jobs go there (`bakes.submit(job, send, finished)`) and are
    held in `elsewhere` until it calls `finished(job)`; runs stay on the local worker."""

    def __init__(self, execute: Callable, send: Callable, bakes=None):
        self.execute, self.send, self.bakes = execute, send, bakes
        self.runs: collections.deque[Run] = collections.deque()
        self.jobs: collections.deque[Job] = collections.deque()
        self.elsewhere: list[Job] = []
        self.current: Job | Run | None = None
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._work, name="instyle-worker", daemon=True)
        self.thread.start()

    def submit_run(self, owner, request: RunRequest | CorrectionsRequest, payloads: list) -> None:
        with self.cond:
            if sum(r.owner is owner for r in self.runs) >= MAX_RUNS_PER_CLIENT:
                raise InstyleError("busy", f"more than {MAX_RUNS_PER_CLIENT} frame requests are waiting from this "
                                   "client", BUSY_HINT)
            self.runs.append(Run(owner, request, payloads))
            self.cond.notify()

    def submit_job(self, owner, request: JobRequest) -> Job:
        with self.cond:
            if sum(j.owner is owner for j in [*self.jobs, *self.elsewhere]) >= MAX_JOBS_PER_CLIENT:
                raise InstyleError("busy", f"this client already has {MAX_JOBS_PER_CLIENT} bake jobs queued or "
                                   "running", BUSY_HINT)
            job = Job(owner, request)
            if self.bakes is not None:
                self.elsewhere.append(job)
            else:
                self.jobs.append(job)
                self.cond.notify()
        if self.bakes is not None:
            self.bakes.submit(job, self.send, self._finished_elsewhere)
        return job

    def _finished_elsewhere(self, job: Job) -> None:
        with self.cond:
            self.elsewhere.remove(job)

    def cancel(self, owner, request_id: int) -> bool:
        """Cancel the client's job or waiting run with that id; False if it has none."""
        with self.cond:
            for item in [*self.jobs, *self.elsewhere, *self.runs, self.current]:
                if item is not None and item.owner is owner and item.request.id == request_id:
                    item.cancelled.set()
                    return True
        return False

    def drop_client(self, owner) -> None:
        with self.cond:
            for item in [*self.jobs, *self.elsewhere, *self.runs, self.current]:
                if item is not None and item.owner is owner:
                    item.cancelled.set()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()

    def _next(self):
        with self.cond:
            while not self.stopping:
                while self.runs and self.runs[0].cancelled.is_set():
                    run = self.runs.popleft()
                    self.send(run.owner, {"type": "cancelled", "id": run.request.id})
                if self.runs:
                    self.current = self.runs.popleft()
                    return self.current
                if self.jobs:
                    job = self.jobs.popleft()
                    self.current = job
                    return job
                self.cond.wait()
            return None

    def _work(self) -> None:
        while (item := self._next()) is not None:
            try:
                if isinstance(item, Run):
                    self._run(item)
                else:
                    self._job_step(item)
            finally:
                with self.cond:
                    self.current = None

    def _run(self, run: Run) -> None:
        try:
            reply, payloads = self.execute(run.request, run.payloads, run.cancelled.is_set)
        except Cancelled:
            reply, payloads = {"type": "cancelled", "id": run.request.id}, []
        except Exception as exc:
            reply, payloads = failure_reply(exc, run.request.id), []
        self.send(run.owner, reply, payloads)

    def _job_step(self, job: Job) -> None:
        """Compute the job's next frame, then put it back at the end of the line (jobs take turns)."""
        if job.cancelled.is_set():
            self.send(job.owner, job.stopped())
            return
        item = job.request.items[job.done + len(job.missing)]
        try:
            reply, _ = self.execute(job.request.run(item), [], job.cancelled.is_set,
                                    lambda *step: self.send(job.owner, job.step(item, *step)))
        except Cancelled:
            self.send(job.owner, job.stopped())
            return
        except Exception as exc:
            if not isinstance(exc, InstyleError) or exc.code != MISSING_FRAME:
                self.send(job.owner, job.failed(failure_reply(exc, job.request.id), item))
                return
            job.missing.append(item.frame_number)
        else:
            self.send(job.owner, job.computed(item, reply))
        if job.complete:
            self.send(job.owner, job.result())
            return
        with self.cond:
            self.jobs.append(job)
