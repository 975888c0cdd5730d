"""The engine's memory budget (`instyle-engine serve --memory-budget`) and the measures it is kept with."""

from __future__ import annotations

import ctypes
import os
import re
import types

import numpy as np
import torch

MIN_BUDGET = 1 << 30
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def physical_memory() -> int:
    """Bytes of RAM in this machine."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def default_budget() -> int:
    """Half of the machine's RAM, and at least MIN_BUDGET: the engine's share beside Blender, which renders
    the same frames."""
    return max(physical_memory() // 2, MIN_BUDGET)


def parse_size(text: str) -> int:
    """Bytes in a size such as "6G", "512M", "1.5g" or "1073741824" (binary units); ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not a size such as 6G or 512M")
    return int(float(match[1]) * UNITS[match[2]])


SHARED = "held_by_the_zoo"
"""A class with this attribute true holds network weights that the model zoo shares between shots (a tfjs graph):
`held_bytes` neither counts nor walks it, as a shot's matte state refers to it but does not own it."""


def held_bytes(root: object) -> int:
    """Bytes of the numpy arrays and torch tensors reachable from `root` through containers and object attributes,
    each buffer counted once (views of one array, tensors sharing a storage); shared networks (`SHARED`, torch
    modules) are left out."""
    seen_objects: set[int] = set()
    buffers: dict[int, int] = {}
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen_objects or isinstance(obj, (str, bytes, int, float, bool, type(None), type,
                                                       types.ModuleType, types.FunctionType, types.MethodType,
                                                       torch.nn.Module)) or getattr(type(obj), SHARED, False):
            continue
        seen_objects.add(id(obj))
        if isinstance(obj, np.ndarray):
            owner = obj
            while isinstance(owner.base, np.ndarray):
                owner = owner.base
            buffers[id(owner)] = owner.nbytes
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif isinstance(obj, torch.Tensor):
            storage = obj.untyped_storage()
            buffers[storage.data_ptr()] = storage.nbytes()
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        else:
            stack.extend(vars(obj).values() if hasattr(obj, "__dict__") else ())
            stack.extend(getattr(obj, name) for name in getattr(type(obj), "__slots__", ()) if hasattr(obj, name))
    return sum(buffers.values())


def resident_bytes() -> int:
    """This process's resident memory in bytes (Linux); 0 where it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def return_freed_memory() -> None:
    """Hand memory the allocator keeps after frees back to the system (glibc's malloc_trim; elsewhere nothing)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


try:
    _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None
