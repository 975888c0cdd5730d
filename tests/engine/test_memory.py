"""The memory budget's measures: sizes as given on the command line, bytes an object holds, the shot cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from instyle.frame_state import ShotState
from instyle.memory import held_bytes, parse_size
from instyle.shot_cache import ShotCache


@pytest.mark.parametrize("text, size", [("6G", 6 << 30), ("512m", 512 << 20), ("1.5GiB", 3 << 29), ("4096", 4096),
                                        ("2 TB", 2 << 40)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "6X", "-1G", "lots"])
def test_sizes_that_are_not(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_held_bytes_counts_each_buffer_once():
    frame = np.zeros((100, 100, 3), np.float32)
    tensor = torch.zeros(1000)

    class Memory:
        def __init__(self):
            self.frames = {"a": frame, "b": frame[10:20]}  # a view of the same buffer
            self.tensors = [tensor, tensor[:10]]

    state = ShotState(last_frame=np.zeros(7, np.uint8), mask_memory=Memory(),
                      style_memory={(1, "k"): [((0, 0, 1, 1), frame)]})
    assert held_bytes(state) == frame.nbytes + tensor.numel() * 4 + 7


def test_held_bytes_leaves_out_the_networks_the_zoo_shares():
    """A shot's matte state refers to the zoo's network (RVM's tfjs graph): its weights are neither counted as the
    shot's nor walked on every request (in a profile of 24 vtest frames the walk took 4% of the engine's time)."""
    from instyle.memory import SHARED
    from instyle.models.tfjs_graph import TfjsGraph

    state_tensor = torch.zeros(500)
    graph = object.__new__(TfjsGraph)  # a graph's weights, as the zoo holds them
    graph.weights = {"w": torch.zeros(10_000)}
    net = torch.nn.Linear(100, 100)

    class Matte:
        def __init__(self):
            self.graph, self.net, self.states = graph, net, [state_tensor]

    assert getattr(TfjsGraph, SHARED) is True
    assert held_bytes(ShotState(mask_memory=Matte())) == state_tensor.numel() * 4


def test_the_shot_cache_drops_the_least_recently_used_down_to_a_size_and_keeps_the_latest():
    cache = ShotCache()
    for key in "abc":
        cache.get(key).last_frame = np.zeros(1000, np.uint8)
        cache.measure(key)
    cache.get("a")  # used again: now the most recent
    assert cache.trim(2000) == 1000 and list(cache.shots) == ["c", "a"]
    assert cache.trim(0) == 1000 and list(cache.shots) == ["a"]  # the latest stays
    assert cache.clear() == 1000 and cache.nbytes == 0
