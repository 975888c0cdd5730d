"""Engine arrays to GIMP buffers, without GIMP or numpy: the per-instance channels of the Instance Tracker's
outputs, and a result given the source's transparency."""

from __future__ import annotations

from array import array


def floats(payload: bytes, spec: dict) -> array:
    """A float32 array the engine returned (`spec`: its dtype, shape and payload), flattened."""
    if spec["dtype"] != "float32":
        raise ValueError(f"expected a float32 array, got {spec['dtype']}")
    values = array("f")
    values.frombytes(payload)
    return values


def instance_channels(mask: array, tracks: array, track_ids: list[int]) -> dict[int, bytes]:
    """Each instance's channel, "Y u8" bytes: the soft mask (float32 in [0, 1], flattened) where the tracks pass
    (each pixel's track id, 0 for none) names the instance, 0 elsewhere."""
    out = {t: bytearray(len(mask)) for t in track_ids}
    for k, t in enumerate(tracks):
        if t:
            channel = out.get(int(t))
            if channel is not None:
                channel[k] = min(255, max(0, round(mask[k] * 255)))
    return {t: bytes(c) for t, c in out.items()}


def with_alpha(rgba: array, rgb: array) -> None:
    """Put the colours of `rgb` (flattened HxWx3) into `rgba` (flattened HxWx4, the source's), keeping its alpha."""
    if len(rgba) // 4 != len(rgb) // 3:
        raise ValueError(f"{len(rgb) // 3} pixels of colour for {len(rgba) // 4} pixels with alpha")
    for c in range(3):
        rgba[c::4] = rgb[c::3]
