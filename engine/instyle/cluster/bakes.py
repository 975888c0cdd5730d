"""`ClusterBakes`: the scheduler's bakes on a pool of cluster workers, one job at a time in the order they came
(each uses every worker), with the events a local bake sends (`scheduler.Job`).

A job's bake (`ClusterBake`): the Analyze pass (`plan.analyze_calls`) runs every frame in footage order on the
first worker, which records the shot's track store in the shared cache and, at the frame before each chunk,
keeps the Instance Mask stage's memory for the chunk's worker (`plan.handovers`: no replay of the shot up to
the chunk); then the frames fan out in chunks of neighbours (`plan.chunks`) that the workers take as they come
free, one frame at a time and in order, each
frame's outputs written by the worker into the shared cache under the same atomic names as locally. A frame
whose footage is missing is listed in the result; any other failure of a frame is the job's error event (the
frame fails once: a worker returns failures, so Ray retries only frames whose worker was lost); a cancel
reaches every worker, inside the frame each is computing.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
import time
from dataclasses import replace

from ..scheduler import MISSING_FRAME, Job
from ..wire import InstyleError
from ..wire.corrections import TRACKER
from . import plan
from .connect import join
from .pool import WorkerPool

POLL_S = 0.1  # how often a wait for a frame looks for a cancel
STEPS_S = 0.5  # how often it asks the worker how far an iterative stage is
LOST_HINT = "check the cluster's nodes (`ray status`), then bake again: the frames written are kept"


class ClusterBakes:
    """Bake jobs on `pool`, in chunks of `chunk_frames` (0: one chunk per worker; see `plan.chunks`)."""

    def __init__(self, pool: WorkerPool, chunk_frames: int = 0, address: str = ""):
        self.pool, self.chunk_frames, self.address = pool, chunk_frames, address
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._serve, name="instyle-cluster", daemon=True)
        self.thread.start()

    @classmethod
    def start(cls, address: str, workers: int = 0, cpus_per_worker: int = 1, chunk_frames: int = 0) -> ClusterBakes:
        """Join the cluster at `address` (`connect.join`) in Ray namespace `instyle-<this process's pid>` (where
        the workers are named `worker-<k>`) and start the pool; InstyleError when either fails."""
        ray = join(address, f"instyle-{os.getpid()}", cpus=workers * cpus_per_worker)
        try:
            return cls(WorkerPool(ray, workers, cpus_per_worker), chunk_frames, address)
        except BaseException:
            ray.shutdown()
            raise

    def describe(self) -> str:
        devices = sorted({ready["device"] for ready in self.pool.ready})
        return f"cluster of {len(self.pool.actors)} workers ({', '.join(devices)}) at {self.address}"

    def submit(self, job: Job, send, finished) -> None:
        """Bake `job` after those before it, sending its events with `send(owner, header)`; `finished(job)` once
        its last event is sent."""
        self.queue.put((job, send, finished))

    def close(self) -> None:
        """Stop taking jobs, end the workers and leave the cluster (a cluster started here stops)."""
        self.queue.put(None)
        self.pool.close()
        self.pool.ray.shutdown()

    def _serve(self) -> None:
        while (entry := self.queue.get()) is not None:
            job, send, finished = entry
            try:
                ClusterBake(self.pool, job, lambda header: send(job.owner, header), self.chunk_frames).run()
            finally:
                finished(job)


class ClusterBake:
    """One job on the pool's workers; `run` sends its events through `send(header)`, the last one final."""

    def __init__(self, pool: WorkerPool, job: Job, send, chunk_frames: int = 0):
        self.ray, self.actors, self.job, self.send = pool.ray, pool.actors, job, send
        self.chunks = plan.chunks(job.request.items, len(self.actors), chunk_frames)
        self.starts: dict = {}  # a chunk's first item -> Ray reference to the Instance Mask checkpoint to start from
        self.ticket = secrets.token_hex(8)  # names this bake to the workers (request ids are per client)
        self.lock = threading.RLock()
        self.failure: dict | None = None
        self.told = False  # the workers were told to cancel

    def run(self) -> None:
        job = self.job
        if not job.cancelled.is_set() and self._analyze():
            self._fan_out()
        if self.failure is not None:
            self.send(self.failure)
        elif job.cancelled.is_set() or not job.complete:
            self.send(job.stopped())
        else:
            self.send(job.result())

    def _stopping(self) -> bool:
        return self.failure is not None or self.job.cancelled.is_set()

    def _analyze(self) -> bool:
        """The Analyze pass on the first worker, its frames reported as steps of the tracker; False when the job
        stops (a failure, a cancel)."""
        calls = plan.analyze_calls(self.job.request.pipeline)
        items = plan.in_footage_order(self.job.request.items) if calls else []
        handovers = plan.handovers(self.chunks)
        for step, item in enumerate(items, 1):
            if self._stopping():
                return False
            reply = self._call(self.actors[0], item, replace(self.job.request.run(item), pipeline=calls))
            if reply["type"] == "error" and reply["code"] != MISSING_FRAME:
                self._fail(reply, item)
            elif reply["type"] == "result":
                self.send(self.job.step(item, TRACKER, step, len(items)))
                if item in handovers:  # taken before the next frame runs (the worker takes two calls at once)
                    self.starts[handovers[item]] = self.actors[0].checkpoint.remote(self.job.request.shot)
                    self.ray.wait([self.starts[handovers[item]]])
        return not self._stopping()

    def _fan_out(self) -> None:
        chunks: queue.SimpleQueue = queue.SimpleQueue()
        for chunk in self.chunks:
            chunks.put(chunk)
        threads = [threading.Thread(target=self._work, args=(actor, chunks), name=f"instyle-cluster-{k}", daemon=True)
                   for k, actor in enumerate(self.actors)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _work(self, actor, chunks: queue.SimpleQueue) -> None:
        """Take chunks until none is left, computing each one's frames in order on `actor`."""
        while not self._stopping():
            try:
                chunk = chunks.get_nowait()
            except queue.Empty:
                return
            for item in chunk:
                if self._stopping():
                    break
                start = self.starts.get(item) if item is chunk[0] else None
                reply = self._call(actor, item, self.job.request.run(item), start)
                with self.lock:
                    if reply["type"] == "result":
                        self.send(self.job.computed(item, reply))
                    elif reply["type"] == "error" and reply["code"] == MISSING_FRAME:
                        self.job.missing.append(item.frame_number)
                    elif reply["type"] == "error":
                        self._fail(reply, item)
        self._tell_cancel_if_stopping()

    def _call(self, actor, item, request, start=None) -> dict:
        """`actor.run(request, start)`'s reply (`request` computes `item`), telling every worker to cancel once the
        job stops meanwhile and sending the steps of iterative stages as the job's progress; a worker lost for good
        (Ray gave up restarting it) answers as error "cluster_worker_lost"."""
        ref = actor.run.remote(request, self.ticket, start)
        asked, asked_at, last = None, time.monotonic(), None
        while not self.ray.wait([ref], timeout=POLL_S)[0]:
            self._tell_cancel_if_stopping()
            if asked is not None and self.ray.wait([asked], timeout=0)[0]:
                try:
                    step = self.ray.get(asked)
                except self.ray.exceptions.RayError:  # the worker was lost: what `ref` gives says what follows
                    step = None
                asked = None
                if step is not None and step != last:
                    last = step
                    with self.lock:
                        self.send(self.job.step(item, *step))
            if asked is None and time.monotonic() - asked_at >= STEPS_S:
                asked, asked_at = actor.progress.remote(self.ticket), time.monotonic()
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            return InstyleError("cluster_worker_lost", f"the cluster worker computing frame {request.frame_number} "
                                f"was lost: {str(exc)[:300]}", LOST_HINT).reply(request.id)

    def _fail(self, reply: dict, item) -> None:
        if self.failure is None:
            self.failure = self.job.failed(reply, item)
        self._tell_cancel_if_stopping()

    def _tell_cancel_if_stopping(self) -> None:
        if not self._stopping():
            return
        with self.lock:
            if self.told:
                return
            self.told = True
        for actor in self.actors:
            actor.cancel.remote(self.ticket)
