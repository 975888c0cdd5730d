"""The Bake operator: the scene's frame range computed into the cache as engine jobs, with progress, cancel,
and automatic restart of a dead engine that resumes from the first frame not yet cached."""

from __future__ import annotations

import time

import bpy

from . import compute, engine_link, faults, saving
from .chain import ChainError
from .wire import EngineError

MAX_RESTARTS = 3


class BakeRun:
    """Jobs for every chain's uncached frames (the scene's chains unless `chains` are given), each job taking
    its frames in order; `pump` advances them, `cancel` stops them."""

    def __init__(self, scene, chains=None):
        self.scene = scene
        self.frames = list(range(scene.frame_start, scene.frame_end + 1, scene.frame_step))
        self.chains = compute.chains_of(scene) if chains is None else chains
        compute.prepare(self.chains)
        self.total = sum(len(self.shown(chain)) for chain in self.chains)
        self.restarts = 0
        self.error = ""
        self.cancelled = False
        self.jobs: dict[int, object] = {}
        self.missing: dict[int, set[int]] = {}  # chain index -> frame numbers that need footage that is missing
        self._submit()

    def shown(self, chain) -> list[int]:
        """The frames of the range at which the chain's footage is shown (all but those outside its strip)."""
        return [f for f in self.frames if chain.shows(f)]

    def _submit(self) -> None:
        client = engine_link.client()
        self.jobs = {}
        for k, chain in enumerate(self.chains):
            compute.settle(chain, self.shown(chain))
            self._publish(chain)
            todo = {chain.number(f): f for f in reversed(self.shown(chain)) if not chain.cached(f)}  # one per number
            if todo:
                self.jobs[k] = client.submit_job(chain.pipeline(), [
                    {"source": chain.source_for(f), "frame_number": n} for n, f in sorted(todo.items())],
                    shot=chain.shot)

    def _publish(self, chain) -> None:
        for f in self.shown(chain):
            if chain.cached(f):
                chain.publish(f)

    @property
    def done(self) -> int:
        return sum(chain.cached(f) for chain in self.chains for f in self.shown(chain))

    @property
    def skipped(self) -> int:
        """Frames of the range not baked because footage they need is missing (their own frame, or one before
        them that the tracker reads)."""
        return sum(chain.number(f) in self.missing.get(k, ()) for k, chain in enumerate(self.chains)
                   for f in self.shown(chain))

    def pump(self, wait: float = 0.0) -> bool:
        """Handle the jobs' events (waiting up to `wait` seconds for one); True when every job has ended."""
        deadline = time.monotonic() + wait
        for k, job in list(self.jobs.items()):
            while job.finished is None:
                events = job.poll()
                if not events and time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                for event in events:
                    self._handle(k, event)
                break
            if job.finished is not None:
                self._publish(self.chains[k])
                del self.jobs[k]
        if not self.jobs and not self.error and not self.cancelled and self.done + self.skipped < self.total:
            self._resume()
        return not self.jobs

    def _handle(self, k: int, event: dict) -> None:
        chain = self.chains[k]
        if event["type"] == "result":
            self.missing.setdefault(k, set()).update(event.get("missing", ()))
        elif event["type"] == "progress":
            compute.mark(chain, f"Baking: frame {event['frame']} ({event['done']}/{event['total']}), "
                                f"{event['eta_s']:.0f} s left")
        elif event["type"] == "error" and event["code"] != "disconnected":
            fault = faults.locate(EngineError.from_reply(event), [chain])
            self.error = f"frame {event.get('frame')}: {fault.detail}"
            compute.mark_fault([chain], fault)
        elif event["type"] == "cancelled":
            compute.mark(chain, f"Bake cancelled; {self.done} frame(s) cached")

    def _resume(self) -> None:
        """The engine went away mid-bake: start it again and queue what is not cached yet."""
        if self.restarts >= MAX_RESTARTS:
            self.error = f"the engine stopped {self.restarts} times during the bake; see its log"
            return
        self.restarts += 1
        engine_link.restart()
        compute.prepare(self.chains)
        self._submit()

    def cancel(self) -> None:
        """Cancel the jobs and wait for them to end (the frames they did are kept); a cancelled bake is not resumed."""
        self.cancelled = True
        for job in self.jobs.values():
            try:
                job.cancel()
            except EngineError:
                pass
        while self.jobs:
            self.pump(0.1)


class BakeOperator:
    """An operator that runs a BakeRun (from `new_run`) with a progress bar: modal with Esc to cancel, or
    blocking in the background; `_finish` reports the outcome."""

    _timer = None

    def new_run(self, context) -> BakeRun:
        return BakeRun(context.scene)

    def _start(self, context) -> bool:
        try:
            self.run = self.new_run(context)
        except Exception as exc:
            chains = compute.chains_or_none(context.scene)
            fault = faults.locate(exc, chains)
            compute.mark_fault(chains, fault)
            self.report({"ERROR"}, fault.detail)
            return False
        if not self.run.chains:
            self.report({"WARNING"}, "No instyle nodes in the scene's compositor reach an output")
            return False
        if saving.unsaved_warning():
            self.report({"WARNING"}, saving.unsaved_warning())
        context.window_manager.progress_begin(0, max(self.run.total, 1))
        return True

    def _finish(self, context, cancelled: bool = False):
        context.window_manager.progress_end()
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        run = self.run
        if run.error:
            self.report({"ERROR"}, f"Bake stopped: {run.error}. {run.done} frame(s) are cached and kept.")
            return {"CANCELLED"}
        if cancelled:
            self.report({"WARNING"}, f"Bake cancelled; {run.done} frame(s) are cached and kept")
            return {"CANCELLED"}
        for chain in run.chains:
            compute.mark(chain, f"Baked {len(run.shown(chain))} frame(s)")
        restarted = f" (the engine was restarted {run.restarts} time(s))" if run.restarts else ""
        missing = sorted(set().union(*run.missing.values()))
        if missing:
            self.report({"WARNING"}, f"Baked what the footage allows{restarted}; frame(s) "
                                     f"{', '.join(map(str, missing[:20]))}{' ...' if len(missing) > 20 else ''} "
                                     "need footage frames that are missing: check the image sequence's files")
            return {"FINISHED"}
        self.report({"INFO"}, f"Baked {len(run.frames)} frame(s){restarted}")
        return {"FINISHED"}

    def execute(self, context):
        if not self._start(context):
            return {"CANCELLED"}
        while not self.run.pump(wait=0.5):
            context.window_manager.progress_update(self.run.done)
        return self._finish(context)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self.run.cancel()
            return self._finish(context, cancelled=True)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        finished = self.run.pump()
        context.window_manager.progress_update(self.run.done)
        for area in context.screen.areas if context.screen else ():
            if area.type == "NODE_EDITOR":
                area.tag_redraw()
        return self._finish(context) if finished else {"RUNNING_MODAL"}


class INSTYLE_OT_bake(BakeOperator, bpy.types.Operator):
    """Compute every frame of the scene's range for this node's chain (every chain when no node is named), so
    renders read them from the cache"""

    bl_idname = "instyle.bake"
    bl_label = "Bake instyle Frames"

    node: bpy.props.StringProperty(name="Node", description="An instyle node whose chain is baked (empty: every "
                                                            "chain that reaches an output)")
    tree: bpy.props.StringProperty(name="Node Tree", description="The node group holding Node")

    def new_run(self, context) -> BakeRun:
        if not self.node:
            return BakeRun(context.scene)
        chains = [c for c in compute.chains_of(context.scene)
                  if any(n.name == self.node and n.id_data.name == self.tree for n in c.nodes)]
        if not chains:
            raise ChainError(f"{self.node} is not computed (muted, or not linked on to an output or a Viewer), so "
                             "there is nothing to bake for it")
        return BakeRun(context.scene, chains)
