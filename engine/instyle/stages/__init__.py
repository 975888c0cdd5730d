"""The four stages a pipeline is made of, in the order they may run."""

from . import instance_mask, instance_tracker, mrf_blend, neural_style

STAGES = {m.SPEC.name: m for m in (instance_mask, instance_tracker, neural_style, mrf_blend)}
