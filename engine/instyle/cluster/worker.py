"""`EngineWorker`: an engine `Service` in a Ray actor (the pool makes it remote, so this module needs no Ray).

Its models load on first use and stay loaded, and a shot's state stays between calls, so the frames of a chunk,
sent one after another, run as in a local bake. A frame's failure comes back as its error reply, never as an
exception: Ray retries a call only when the actor's process was lost (and restarted), never a frame that failed
on its data. `cancel` runs beside `run` (the actor takes two calls at once) and stops it between stages and
inside iterative ones, as a local cancel does, and `progress` tells how far such a stage is. `checkpoint` hands
the Instance Mask stage's memory of a shot to the worker that bakes the next frame (`run`'s `start`), so that it
need not replay the shot up to there."""

from __future__ import annotations

import os


class EngineWorker:
    """One engine on a cluster node: `run(request, ticket)` computes a frame; `cancel(ticket)` stops the frames of
    that bake, running or to come."""

    def __init__(self):
        import torch

        from ..service import Service

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # Ray hides GPUs not given it
        self.service = Service(self.device)
        self.cancelled: set[str] = set()
        self.steps: dict[str, tuple[str, int, int]] = {}  # bake ticket -> (stage, step, steps) of its frame running

    def ready(self) -> dict:
        """Where the worker runs: {"pid", "device"}."""
        return {"pid": os.getpid(), "device": str(self.device)}

    def run(self, request, ticket: str, start=None) -> dict:
        """The `run` reply for `request` (a `RunRequest` of bake `ticket`), its error reply if it failed, or
        {"type": "cancelled"} if the bake was cancelled. `start`: the Instance Mask stage's `Checkpoint` of the
        shot after the footage frame before this one, to go on from."""
        from ..failures import failure_reply
        from ..scheduler import Cancelled
        from ..stages.instance_mask import resume

        if ticket in self.cancelled:
            return {"type": "cancelled", "id": request.id}
        if start is not None:
            with self.service.lock:
                self.service.shots.get(request.shot).mask_memory = resume(start, self.service.zoo)
        try:
            reply, _ = self.service.run(request, [], lambda: ticket in self.cancelled,
                                        lambda *step: self.steps.__setitem__(ticket, step))
        except Cancelled:
            return {"type": "cancelled", "id": request.id}
        except Exception as exc:
            return failure_reply(exc, request.id)
        finally:
            self.steps.pop(ticket, None)
        return reply

    def progress(self, ticket: str) -> tuple[str, int, int] | None:
        """(stage, step, steps) that an iterative stage last reported in the frame of bake `ticket` being computed;
        None when none did."""
        return self.steps.get(ticket)

    def checkpoint(self, shot: str):
        """The Instance Mask stage's memory of `shot` as an `instance_mask.Checkpoint`; None when it has none."""
        from ..stages.instance_mask import ShotMemory, checkpoint

        with self.service.lock:
            memory = self.service.shots.get(shot).mask_memory
        return checkpoint(memory) if isinstance(memory, ShotMemory) else None

    def cancel(self, ticket: str) -> None:
        self.cancelled.add(ticket)
