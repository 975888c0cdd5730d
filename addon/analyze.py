"""Analyze (on the Instance Tracker node): the scene's frame range through Instance Mask and Instance Tracker,
in order, as an engine job that fills the shot's track store; then the ids found are listed on the tracker
and given rows in the track style tables of the Neural Style nodes it feeds, for the artist to edit."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from . import bake, cache, corrections, paths
from .chain import Chain, ChainError, chain_to
from .nodes import InstanceTrackerNode, NeuralStyleNode
from .track_styles import add_rows, node_named
from .track_summary import STORE_NAME, exclude_set, merge_map, read_store, summarise


def tracker_chain(tracker, scene) -> Chain:
    """The footage, Instance Mask and `tracker`: what an analysis runs; ChainError when nothing would be
    recorded (a still, or a shot tracked in arrival order)."""
    chain = chain_to(tracker)
    chain.first_frame = scene.frame_start
    source = chain.source
    if source.bl_idname == "CompositorNodeImage" and source.image.source == "FILE":
        raise ChainError(f"{tracker.name}: Analyze needs a video or an image sequence: a still image has no shot "
                         "to track")
    if chain.pipeline()[-1]["params"]["shot_start"] == -1:
        raise ChainError(f"{tracker.name}: Shot Start is -1 (tracking in the order frames arrive), so nothing "
                         "is recorded to analyse; set it to -2 (the scene's first frame) or a footage frame")
    return chain


def analysis_key(chain: Chain, scene) -> str:
    """What an analysis depends on: everything the tracker's frames depend on, and the frame range."""
    return cache.signature([chain.keys()[-1], scene.frame_start, scene.frame_end, scene.frame_step])


def is_current(tracker, scene) -> bool:
    """True when the tracker's analysis was made with its present footage, settings and frame range."""
    try:
        return tracker.analysis_key == analysis_key(tracker_chain(tracker, scene), scene)
    except ChainError:
        return False


def styles_fed_by(tracker) -> list:
    """The Neural Style nodes whose chain passes through `tracker`."""
    found = []
    for node in tracker.id_data.nodes:
        if isinstance(node, NeuralStyleNode) and not node.mute:
            try:
                upstream = chain_to(node).nodes
            except ChainError:
                continue
            if any(n.as_pointer() == tracker.as_pointer() for n in upstream):
                found.append(node)
    return found


def forget_unrecorded(tracker, chain: Chain, scene) -> None:
    """Delete the tracker's cached frames of the scene's range that the track store lacks (its file was removed,
    say), so that the analysis computes them again and the engine records them."""
    stored = read_store(paths.node_dir(tracker.cache_id) / STORE_NAME)
    for frame in range(scene.frame_start, scene.frame_end + 1, scene.frame_step):
        if chain.source_for(frame)["frame"] not in stored:  # its tag too: with no output read, it marks the frame
            corrections.forget((paths.node_dir(tracker.cache_id), tracker.cached_outputs()), frame)


def record(tracker, chain: Chain, scene, frames: list[int]) -> tuple[list, list[int], dict[str, list[int]]]:
    """Read the track store after an analysis of `frames` (scene frames): list the ids on the tracker and add
    the missing rows to the Neural Style nodes it feeds. Returns what was seen, the frames the store lacks and
    the ids added per Neural Style node."""
    store = read_store(paths.node_dir(tracker.cache_id) / STORE_NAME)
    params = tracker.stage_params()
    seen, missing = summarise(store, {f: chain.source_for(f)["frame"] for f in frames},
                              merge_map(params["merge"]), exclude_set(params["exclude"]))
    tracker.analysis.clear()
    for s in seen:
        item = tracker.analysis.add()
        item.track_id, item.frames, item.first, item.last = s.track_id, s.frames, s.first, s.last
    tracker.analysis_index = 0
    tracker.analysis_key = analysis_key(chain, scene)
    added = {node.name: add_rows(node, [s.track_id for s in seen]) for node in styles_fed_by(tracker)}
    return seen, missing, added


def draw(tracker, context, layout) -> None:
    """The Analyze button and, while still current, what the last analysis found."""
    layout.operator("instyle.analyze", icon="VIEWZOOM").node = tracker.name
    if not tracker.analysis_key:
        return
    if not is_current(tracker, context.scene):
        layout.label(text="Footage, settings or frame range changed: Analyze again", icon="ERROR")
        return
    layout.label(text=f"{len(tracker.analysis)} track(s) found")
    layout.template_list("INSTYLE_UL_tracks_seen", tracker.cache_id, tracker, "analysis", tracker,
                         "analysis_index", rows=3)


class INSTYLE_OT_analyze(bake.BakeOperator, bpy.types.Operator):
    """Track the people through the scene's frame range in order (Instance Mask and Instance Tracker only), list
    the track ids found and give each a row in the track style table of the Neural Style nodes downstream"""

    bl_idname = "instyle.analyze"
    bl_label = "Analyze Tracks"

    node: StringProperty(name="Node", description="The Instance Tracker node to analyse with")

    def new_run(self, context) -> bake.BakeRun:
        tracker = self._tracker(context)
        chain = tracker_chain(tracker, context.scene)
        forget_unrecorded(tracker, chain, context.scene)
        return bake.BakeRun(context.scene, [chain])

    def _tracker(self, context):
        tracker = node_named(context, self.node)
        if not isinstance(tracker, InstanceTrackerNode):
            raise ChainError(f"no Instance Tracker node named {self.node!r} in the compositor")
        return tracker

    def _finish(self, context, cancelled: bool = False):
        result = super()._finish(context, cancelled)
        if result != {"FINISHED"}:
            return result
        try:
            tracker = self._tracker(context)
        except ChainError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        seen, missing, added = record(tracker, self.run.chains[0], context.scene, self.run.frames)
        rows = sum(len(ids) for ids in added.values())
        text = (f"Analyzed frames {self.run.frames[0]}-{self.run.frames[-1]}: {len(seen)} track(s); "
                f"{rows} row(s) added to {len(added)} Neural Style node(s)")
        tracker.status = text
        self.report({"INFO"}, text)
        if missing:
            self.report({"WARNING"}, f"The track store lacks {len(missing)} analysed frame(s) (first: {missing[0]}); "
                                     "see the engine log")
        return result
