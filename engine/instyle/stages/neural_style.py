"""Neural Style: each instance in its own style (by track id or class), or foreground and background in two,
or the whole frame; with temporal stabilisation for video and image sequences.

Instances are stylized as crops around their boxes (context included) when those cost less than whole-frame
passes, one per distinct style; else the frame is stylized once per style. `state.report` says which, and how
many whole-frame passes the frame took for key-frame statistics (`key_passes`). The fast
and arbitrary networks normalise crops with the whole frame's statistics (`stylize.key_statistics`, which reads
other frames of the footage), so that a person looks the same whatever crop is cut around them, and within a
few levels as in the whole frame; for stills and pixels sent by a client, those styles render on whole frames.
Under track assignment, the statistics of the style the next track will take are taken ahead, so that a person
who appears does not cost the frame whole-frame passes.

Temporal stabilisation mixes each rendering with the rendering of the same region of the previous footage
frame, pulled onto this frame by optical flow where the flow is reliable and the footage agrees. The previous
rendering depends only on the previous frame's pixels and this frame's regions and styles, so a frame gets the
same result whatever order frames are rendered in; rendering in order reuses the previous frame's renderings
where they cover it (crops of one frame normalised with its statistics agree wherever they overlap, within a
level of 255).
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np

from ..frame_state import FrameState, Instance
from ..models.fast_style import STRIDE
from ..ops import temporal
from ..ops.masks import nearest_instance
from ..stylize import key_statistics
from ..stylize.methods import Piece, frame_normalised, method_of, network_factor, render, take_ahead
from ..stylize.styles import StyleRef, parse_map, parse_style
from ..wire.params import ParamError
from ..wire import stage_specs

SPEC = stage_specs.NEURAL_STYLE  # the stage's name, parameters and outputs, shipped to clients

MARGIN = 32.0  # crop context in the network's pixels: its border effects fade out within this
SIZE_STEP = 8
AGREEMENT = 0.2  # largest per-channel footage difference after warping where the previous rendering is trusted


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Sets `state.stylized` (float32 HxWx3 sRGB in [0, 1]); away from every instance it equals the source (or
    the background style). Each instance keeps its own stylized pixels (`Instance.stylized` over
    `stylized_region`) for the blend; in foreground assignment with a background style, the background is one
    more instance, of class "background", whose mask is everything outside the others'."""
    h, w = state.size
    scale = min(1.0, params["resolution"] / max(h, w)) if params["resolution"] else 1.0
    table = _table(params)
    default = _default_style(params) if _uses_default(params, table, ctx, state.instances is None) else None
    if state.instances is None:
        pieces = [(Piece(state.rgb, default), (0, 0, w, h))]
        state.report["neural_style"] = {"mode": "frame", "styles": [default.text],
                                        "methods": [method_of(default, params)]}
        state.stylized = _render(pieces, state, params, scale, ctx)[0]
        return {"image": state.stylized, "mask": np.ones(state.size, np.float32)}
    instances = state.instances
    refs = _assign(instances, params, table, default)
    background, background_ref = _background(state, params)
    if background is not None:
        instances.append(background)
        refs.append(background_ref)
        state.mask = np.ones(state.size, np.float32)
    for inst, ref in zip(instances, refs):
        inst.style = ref.text
    out = state.rgb.copy()
    report = state.report["neural_style"] = {"mode": "none", "styles": list(dict.fromkeys(r.text for r in refs)),
                                             "methods": sorted({method_of(r, params) for r in refs})}
    if instances:
        owner = state.owner = nearest_instance(np.stack([i.mask for i in instances]))
        factor = network_factor(params, scale)
        crops = _crops([(0, 0, w, h) if inst is background else _region(inst.box, h, w, factor)
                        for inst in instances], refs)
        chosen = list(dict.fromkeys(refs))
        crop_cost = sum(_area(region) for region, _ in crops)
        mode = params["region"] if params["region"] != "auto" else (
            "crops" if crop_cost < 0.8 * len(chosen) * h * w else "frame")
        if mode == "crops" and not key_statistics.available(ctx) and any(
                frame_normalised(ref, params) for ref in chosen):
            mode, report["frame_because"] = "frame", ("crops are normalised with statistics of the footage's key "
                                                      "frames; a still, or pixels sent by a client, has none")
        if mode == "frame":
            pieces = [(Piece(state.rgb, ref, _union(instances, refs, ref) if method_of(ref, params) == "optimise"
                             else None), (0, 0, w, h)) for ref in chosen]
            rendered = _render(pieces, state, params, scale, ctx)
            style_of_owner = np.array([chosen.index(ref) for ref in refs])[owner]
            for k, image in enumerate(rendered):
                np.copyto(out, image, where=(style_of_owner == k)[..., None])
            for inst, ref in zip(instances, refs):
                inst.stylized, inst.stylized_region = rendered[chosen.index(ref)], (0, 0, w, h)
        else:
            pieces = [(Piece(state.rgb[y0:y1, x0:x1], refs[members[0]],
                             np.max([instances[m].mask[y0:y1, x0:x1] for m in members], axis=0),
                             state.index if frame_normalised(refs[members[0]], params) else None),
                       (x0, y0, x1, y1)) for (x0, y0, x1, y1), members in crops]
            rendered = _render(pieces, state, params, scale, ctx)
            upcoming = _next_track_style(instances, params, table)
            if upcoming is not None and upcoming not in chosen and frame_normalised(upcoming, params):
                take_ahead(upcoming, params, scale, ctx)
            crop_of = np.empty(len(instances), np.int32)
            for k, (_, members) in enumerate(crops):
                crop_of[members] = k
            for k, (image, ((x0, y0, x1, y1), members)) in enumerate(zip(rendered, crops)):
                np.copyto(out[y0:y1, x0:x1], image, where=(crop_of[owner[y0:y1, x0:x1]] == k)[..., None])
                for m in members:
                    instances[m].stylized, instances[m].stylized_region = image, (x0, y0, x1, y1)
        report.update(mode=mode, crop_share=round(crop_cost / (h * w), 4), key_passes=ctx.key_passes,
                      tracks={str(i.track_id): i.style for i in instances if i.track_id})
    state.stylized = out
    mask = state.mask if state.mask is not None else np.ones(state.size, np.float32)
    return {"image": state.stylized, "mask": mask}


def _table(params: dict) -> dict:
    """The style map the assignment reads, parsed ({track id or class: StyleRef}; empty for the others); errors
    name the entry at fault, an unknown class as an unknown style."""
    if params["assign"] == "track":
        return parse_map(params["track_styles"], "neural_style.track_styles", "id")
    if params["assign"] == "class":
        return parse_map(params["class_styles"], "neural_style.class_styles", "class")
    return {}


def _uses_default(params: dict, table: dict, ctx, whole_frame: bool) -> bool:
    """Whether any pixel may take the node's own style, which must then be given: always for a `whole_frame` (no
    mask stage); never under track assignment (the palette covers ids without a row of `table`); under class
    assignment, unless `table` has every class the Instance Mask stage masks (and person, with a tracker, whose
    added people are people); always otherwise."""
    if whole_frame:
        return True
    if params["assign"] == "track":
        return False
    if params["assign"] == "class":
        masked = ctx.pipeline.get("instance_mask", {}).get("classes")
        people = {"person"} if "instance_tracker" in ctx.pipeline else set()
        return masked is None or not {*masked, *people} <= set(table)
    return True


def _default_style(params: dict) -> StyleRef:
    """The node's own style: its style image for the image methods, else its fixed style (mixed)."""
    if params["method"] != "fast":
        if not params["style_image"]:
            raise ParamError(f"neural_style.style_image: the {params['method']} method needs a style image; "
                             "pick one, or use the fast method with a fixed style")
        return parse_style(params["style_image"], "neural_style.style_image")
    if params["mix_style"] == "none" or params["mix"] == 0.0:
        return parse_style(params["style"], "neural_style.style")
    return parse_style(f"{params['style']}*{1 - params['mix']}+{params['mix_style']}*{params['mix']}",
                       "neural_style.mix")


def _assign(instances: list[Instance], params: dict, table: dict, default: StyleRef | None) -> list[StyleRef]:
    """Each instance's style under `params["assign"]`: from `table` (see `_table`), the palette or `default` (None
    where `_uses_default` says no instance takes it)."""
    rule = params["assign"]
    if rule == "track":
        palette = _palette(params)
        return [_track_style(i.track_id or k + 1, palette, table) for k, i in enumerate(instances)]
    if rule == "class":
        return [table.get(i.class_name, default) for i in instances]
    return [default] * len(instances)


def _palette(params: dict) -> list[StyleRef]:
    """The styles tracks without a row of the track style table take in turn."""
    return [parse_style(name, "neural_style.palette") for name in params["palette"]]


def _track_style(track_id: int, palette: list[StyleRef], table: dict) -> StyleRef:
    """Under track assignment, the style of track `track_id` (from 1): its row of `table`, else `palette`'s."""
    return table.get(track_id) or palette[(track_id - 1) % len(palette)]


def _next_track_style(instances: list[Instance], params: dict, table: dict) -> StyleRef | None:
    """Under track assignment, the style of the track the tracker would number next (one past the highest id
    among `instances`); None otherwise."""
    ids = [i.track_id for i in instances if i.track_id]
    return _track_style(max(ids) + 1, _palette(params), table) if params["assign"] == "track" and ids else None


def _background(state: FrameState, params: dict) -> tuple[Instance | None, StyleRef | None]:
    """The background as an instance and its style, `background_style` (foreground assignment), or Nones."""
    if params["assign"] != "foreground" or not params["background_style"].strip():
        return None, None
    ref = parse_style(params["background_style"], "neural_style.background_style")
    h, w = state.size
    covered = np.max([i.mask for i in state.instances], axis=0) if state.instances else np.zeros((h, w), np.float32)
    return Instance((0.0, 0.0, float(w), float(h)), "background", 1.0, 1.0 - covered), ref


def _union(instances: list[Instance], refs: list[StyleRef], ref: StyleRef) -> np.ndarray:
    """float32 HxW: the union of the masks of the instances in style `ref`."""
    return np.max([i.mask for i, r in zip(instances, refs) if r == ref], axis=0)


def _crops(regions: list[tuple[int, int, int, int]], refs: list[StyleRef]) -> list[tuple[tuple, list[int]]]:
    """The crops stylized, as (region, indices of the instances it serves): each instance's region, except that
    two crops in one style whose bounding box is smaller than the two together become that box (they share
    context), the largest saving first."""
    crops = [(region, [k]) for k, region in enumerate(regions)]
    while True:
        best = None
        for i, j in itertools.combinations(range(len(crops)), 2):
            (a, first), (b, second) = crops[i], crops[j]
            both = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
            saving = _area(a) + _area(b) - _area(both)
            if refs[first[0]] == refs[second[0]] and saving > 0 and (best is None or saving > best[0]):
                best = saving, i, j, both
        if best is None:
            return crops
        _, i, j, both = best
        crops = [c for k, c in enumerate(crops) if k not in (i, j)] + [(both, crops[i][1] + crops[j][1])]


def _area(region: tuple[int, int, int, int]) -> int:
    x0, y0, x1, y1 = region
    return (x1 - x0) * (y1 - y0)


def _region(box, h: int, w: int, factor: float) -> tuple[int, int, int, int]:
    """The crop stylized for an instance: its box plus MARGIN pixels of the network (which works at `factor` of
    the frame's resolution) for its border effects, the size rounded up to the 8-pixel grid (crops share
    sizes, and a jittering box keeps its crop's size) and the corner on the network's 4-pixel stride (a crop is
    stylized as the frame there); moved inside the frame where it would leave it."""
    x1, y1, x2, y2 = box
    margin = MARGIN / factor
    cw, ch = (min(int(-(-(size + 2 * margin) // SIZE_STEP) * SIZE_STEP), limit)
              for size, limit in ((x2 - x1, w), (y2 - y1, h)))
    x0 = min(max(round(((x1 + x2 - cw) / 2) / STRIDE) * STRIDE, 0), w - cw)
    y0 = min(max(round(((y1 + y2 - ch) / 2) / STRIDE) * STRIDE, 0), h - ch)
    return x0, y0, x0 + cw, y0 + ch


def _render(pieces: list[tuple[Piece, tuple[int, int, int, int]]], state: FrameState, params: dict, scale: float,
            ctx) -> list[np.ndarray]:
    """Each piece (over its frame region) rendered, then stabilised against the previous footage frame: against
    what rendering in order kept of it where that covers the piece, else against a rendering made again."""
    keys = [_key(piece, region, params) for piece, region in pieces]
    memory = ctx.shot.style_memory
    previous = ctx.previous_frame() if params["temporal"] > 0 else None
    prev_rgb = None if previous is None else previous.astype(np.float32) / 255.0
    kept = [None if previous is None else _kept(memory.get((_read(ctx, state.index - 1), key), []), region,
                                                _inner(region) if _agrees(piece, params) else region)
            for key, (piece, region) in zip(keys, pieces)]
    missing = [] if previous is None else [k for k, prior in enumerate(kept) if prior is None]
    again = [Piece(prev_rgb[y0:y1, x0:x1], pieces[k][0].ref, pieces[k][0].mask,
                   None if pieces[k][0].frame is None else state.index - 1)
             for k in missing for x0, y0, x1, y1 in [pieces[k][1]]]
    everything = render([p for p, _ in pieces] + again, params, scale, ctx)  # one call: equal sizes batch
    rendered = everything[:len(pieces)]
    fresh: dict = {}
    for key, image, (_, region) in zip(keys, rendered, pieces):
        fresh.setdefault((_read(ctx, state.index), key), []).append((region, image))
    if previous is not None:
        to_prev, from_prev = temporal.flow(ctx.frame_uint8, previous), temporal.flow(previous, ctx.frame_uint8)
        trust = temporal.reliable(to_prev, from_prev)
        trust &= np.abs(state.rgb - temporal.warp(prev_rgb, to_prev)).max(-1) < AGREEMENT
        for k, image in zip(missing, everything[len(pieces):]):
            kept[k] = image, np.ones(image.shape[:2], bool)
        stabilised = []
        for (prior, have), image, (_, (x0, y0, x1, y1)) in zip(kept, rendered, pieces):
            local = to_prev[y0:y1, x0:x1]
            grid_x, grid_y = np.meshgrid(np.arange(x1 - x0, dtype=np.float32), np.arange(y1 - y0, dtype=np.float32))
            inside = ((grid_x + local[..., 0] >= 0) & (grid_x + local[..., 0] <= x1 - x0 - 1)
                      & (grid_y + local[..., 1] >= 0) & (grid_y + local[..., 1] <= y1 - y0 - 1))
            if not have.all():
                inside &= temporal.warp(have.astype(np.float32), local) > 0.999
            stabilised.append(temporal.stabilise(image, temporal.warp(prior, local), trust[y0:y1, x0:x1] & inside,
                                                 params["temporal"]))
        state.report["neural_style"]["temporal"] = {"trusted_share": round(float(trust.mean()), 4),
                                                    "rendered_again": len(missing)}
        rendered = stabilised
    memory.clear()
    memory.update(fresh)
    return rendered


def _read(ctx, index: int) -> tuple:
    """What footage frame `index` is remembered by: its index, and the identity of its file as it was read
    (`StageContext.footage_identity`: renderings of a file since rewritten are not the frame's), None for pixels
    sent by the client."""
    return index, None if ctx.footage is None else ctx.footage_identity(index)


def _agrees(piece: Piece, params: dict) -> bool:
    """Whether renderings of the piece's frame agree wherever they overlap, whatever the crop: a crop normalised
    with its frame's statistics."""
    return piece.frame is not None


def _inner(region: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The part of a crop that kept renderings of the previous frame must cover to stand in for its own: inside
    half its margin."""
    x0, y0, x1, y1 = region
    m = int(MARGIN) // 2
    return x0 + m, y0 + m, max(x1 - m, x0 + m), max(y1 - m, y0 + m)


def _kept(stored: list, region: tuple[int, int, int, int], inner: tuple[int, int, int, int]):
    """The previous frame's renderings `stored` ((region, image) pairs of one key) over `region`, and where they
    cover it (bool), if they cover all of `inner`; else None."""
    x0, y0, x1, y1 = region
    prior = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    have = np.zeros((y1 - y0, x1 - x0), bool)
    for (a0, b0, a1, b1), image in stored:
        c0, d0, c1, d1 = max(x0, a0), max(y0, b0), min(x1, a1), min(y1, b1)
        if c0 < c1 and d0 < d1:
            prior[d0 - y0:d1 - y0, c0 - x0:c1 - x0] = image[d0 - b0:d1 - b0, c0 - a0:c1 - a0]
            have[d0 - y0:d1 - y0, c0 - x0:c1 - x0] = True
    i0, j0, i1, j1 = inner
    return (prior, have) if have[j0 - y0:j1 - y0, i0 - x0:i1 - x0].all() and stored else None


def _key(piece: Piece, region: tuple[int, int, int, int], params: dict) -> str:
    """What a rendering depends on besides the footage frame: style, settings and region (but not the region of a
    crop normalised with its frame's statistics: such renderings agree wherever they overlap; and, for the
    optimise method, the mask it fits the style in)."""
    settings = {k: v for k, v in params.items() if k not in ("temporal", "assign", "palette", "track_styles",
                                                              "class_styles", "background_style", "region")}
    text = repr((None if _agrees(piece, params) else region, piece.ref.text, sorted(settings.items())))
    if method_of(piece.ref, params) == "optimise" and piece.mask is not None:
        text += hashlib.sha1(piece.mask.tobytes()).hexdigest()
    return hashlib.sha1(text.encode()).hexdigest()
