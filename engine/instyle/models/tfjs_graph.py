"""Load a TensorFlow.js graph model (model.json + .bin shards) and run it with torch ops.

No TensorFlow is needed. ``model.json`` holds ``modelTopology.node`` (a TF GraphDef in JSON)
and ``weightsManifest`` (name, shape, dtype and quantization of every constant, stored in
manifest order in the shards). Weights are dequantized (uint8/uint16: ``q * scale + min``;
float16) and placed on the device given at construction.

For each requested set of outputs a flat execution plan is made once: nodes needed for those
outputs in topological order, constant subgraphs folded, spatial ``Pad`` nodes merged into the
``VALID`` convolution that follows them, and every intermediate freed after its last use.
``Switch``/``Merge`` conditionals are run the TensorFlow way: the untaken branch is "dead" and
skipped.

Example::

    graph = TfjsGraph("models/centernet.json", torch.device("cpu"))
    out = graph.run({"tower_0/images": x}, ["tower_0/detections"])
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .tfjs_ops import BUILDERS, DEAD, MULTI_OUTPUT, Fn, Node, UnsupportedOpError, torch_dtype

__all__ = ["TfjsGraph", "UnsupportedOpError", "load_weights"]

_STORED = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANTIZED = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
_CONVS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"}
_NOT_FOLDABLE = {"Placeholder", "Switch", "Merge", "NoOp"}


def load_weights(model_dir: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    """Read and dequantize every weight of a tfjs ``weightsManifest``; float32/int32/bool arrays."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((model_dir / path).read_bytes() for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            name, shape, dtype = spec["name"], spec["shape"], spec["dtype"]
            count = int(np.prod(shape))
            quant = spec.get("quantization")
            stored = _QUANTIZED.get(quant["dtype"]) if quant else _STORED.get(dtype)
            if stored is None or dtype not in _STORED:
                raise UnsupportedOpError(f"weight {name!r}: dtype {dtype} / {quant} is not supported")
            raw = np.frombuffer(data, stored, count, offset)
            offset += raw.nbytes
            values = raw.astype(np.float32)
            if quant and quant["dtype"] != "float16":
                values = values * np.float32(quant["scale"]) + np.float32(quant["min"])
            if dtype == "int32":
                values = np.rint(values) if quant else raw
            weights[name] = values.astype(_STORED[dtype]).reshape(shape)
        if offset != len(data):
            raise ValueError(f"{group['paths']}: {len(data)} bytes, manifest describes {offset}")
    return weights


def _parse_attr(value: dict):
    if "list" in value:
        items = value["list"]
        key = next((k for k in ("i", "f", "b", "s", "type") if k in items), None)
        return [_parse_scalar(key, v) for v in items[key]] if key else []
    key = next((k for k in ("i", "f", "b", "s", "type") if k in value), None)
    return _parse_scalar(key, value[key]) if key else value


def _parse_scalar(key: str, value):
    if key == "i":
        return int(value)
    if key == "f":
        return float(value)
    if key == "s":
        return base64.b64decode(value).decode()
    return value


def _parse_node(raw: dict) -> Node:
    node = Node(raw["name"], raw["op"], attrs={k: _parse_attr(v) for k, v in raw.get("attr", {}).items()})
    for ref in raw.get("input", []):
        if ref.startswith("^"):
            node.control.append(ref[1:])
        else:
            name, _, index = ref.partition(":")
            node.inputs.append((name, int(index or 0)))
    return node


def _split_ref(name: str) -> tuple[str, int]:
    node, _, index = name.partition(":")
    return node, int(index or 0)


@dataclass(frozen=True)
class _Step:
    fn: Fn
    args: tuple[int, ...]
    outs: tuple[int, ...]
    multi: bool
    guards: tuple[int, ...]
    free: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Plan:
    initial: list
    feeds: dict[str, tuple[int, torch.dtype]]
    steps: list[_Step]
    results: dict[str, int]


class TfjsGraph:
    """A tfjs graph model executed with torch on ``device``.

    ``input_names`` are the placeholder names; ``output_names`` the signature's output keys (or
    the graph's sink nodes). ``run`` also accepts any ``node`` or ``node:index`` tensor name.
    Small parameter inputs (scalars such as RVM's ``downsample_ratio``) may be given as Python
    numbers or CPU tensors; other tensors are moved to ``device``.
    """

    held_by_the_zoo = True  # shots' states refer to a graph, the zoo owns it (`memory.SHARED`)

    def __init__(self, model_json_path: str | Path, device: torch.device | str = "cpu"):
        path = Path(model_json_path)
        model = json.loads(path.read_text())
        self.device = torch.device(device)
        self._nodes = {n.name: n for n in map(_parse_node, model["modelTopology"]["node"])}
        unsupported: dict[str, str] = {}
        for n in self._nodes.values():
            if n.op not in BUILDERS and n.op not in ("Const", "Placeholder"):
                unsupported.setdefault(n.op, n.name)
        if unsupported:
            found = ", ".join(f"{op} (e.g. node {name!r})" for op, name in sorted(unsupported.items()))
            raise UnsupportedOpError(f"{path.name}: unsupported TensorFlow op(s): {found}")
        weights = load_weights(path.parent, model["weightsManifest"])
        self._consts = {}
        for node in self._nodes.values():
            if node.op == "Const":
                if node.name not in weights:
                    raise ValueError(f"{path.name}: constant {node.name!r} has no entry in weightsManifest")
                self._consts[node.name] = self._place(torch.from_numpy(weights[node.name].copy()))
        self._merge_pads_into_convs()

        signature = model.get("signature", {})
        placeholders = [n for n in self._nodes.values() if n.op == "Placeholder"]
        self.input_names = tuple(n.name for n in placeholders)
        self._outputs = {k: v["name"] for k, v in signature.get("outputs", {}).items()}
        if not self._outputs:
            consumed = {src for n in self._nodes.values() for src, _ in n.inputs}
            self._outputs = {n.name: n.name for n in self._nodes.values() if n.name not in consumed and n.op != "NoOp"}
        self.output_names = tuple(self._outputs)
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self._plan(self.output_names)

    @property
    def nbytes(self) -> int:
        """Bytes held by the graph's constants (its weights)."""
        return sum(t.numel() * t.element_size() for t in self._consts.values())

    def run(self, inputs: dict[str, torch.Tensor | np.ndarray | float], outputs: list[str]) -> dict[str, torch.Tensor]:
        """Feed ``inputs`` (by placeholder name) and return the requested ``outputs`` by name."""
        plan = self._plan(tuple(outputs))
        missing = set(plan.feeds) - {_split_ref(k)[0] for k in inputs}
        if missing:
            raise KeyError(f"missing graph input(s): {sorted(missing)}")
        slots = list(plan.initial)
        with torch.inference_mode():
            for name, value in inputs.items():
                node_name = _split_ref(name)[0]
                if node_name in plan.feeds:
                    slot, dtype = plan.feeds[node_name]
                    slots[slot] = self._feed(value, dtype)
            for step in plan.steps:
                if step.guards and any(slots[i] is DEAD for i in step.guards):
                    for i in step.outs:
                        slots[i] = DEAD
                else:
                    result = step.fn(*[slots[i] for i in step.args])
                    if step.multi:
                        for i, value in zip(step.outs, result):
                            slots[i] = value
                    else:
                        slots[step.outs[0]] = result
                for i in step.free:
                    slots[i] = None
        results = {name: slots[slot] for name, slot in plan.results.items()}
        dead = [name for name, value in results.items() if value is DEAD]
        if dead:
            raise RuntimeError(f"output(s) {dead} lie on an untaken branch of a Switch for these inputs")
        return results

    def _place(self, t: torch.Tensor) -> torch.Tensor:
        """Scalars and integer/bool tensors stay on the CPU (read as sizes, no device sync)."""
        if t.dim() == 0 or not t.is_floating_point():
            return t
        return t.to(self.device)

    def _feed(self, value, dtype: torch.dtype) -> torch.Tensor:
        value = torch.as_tensor(value, dtype=dtype)
        return value if value.dim() == 0 else value.to(self.device)

    def _merge_pads_into_convs(self) -> None:
        """Fold a constant spatial ``Pad`` feeding a ``VALID`` conv into the conv's own padding."""
        for node in self._nodes.values():
            if node.op not in _CONVS or node.attrs.get("padding") != "VALID":
                continue
            pad = self._nodes[node.inputs[0][0]]
            if pad.op != "Pad" or pad.inputs[1][0] not in self._consts or pad.control:
                continue
            pads = self._consts[pad.inputs[1][0]].reshape(-1).tolist()
            if len(pads) != 8 or pads[:2] != [0, 0] or pads[6:] != [0, 0] or min(pads) < 0:
                continue
            node.inputs[0] = pad.inputs[0]
            node.attrs["padding"] = "EXPLICIT"
            node.attrs["explicit_paddings"] = pads

    def _resolve_output(self, name: str) -> tuple[str, int]:
        ref = _split_ref(self._outputs.get(name, name))
        if ref[0] not in self._nodes:
            raise KeyError(f"unknown output {name!r}; outputs are {list(self.output_names)}")
        return ref

    def _plan(self, outputs: tuple[str, ...]) -> _Plan:
        if outputs not in self._plans:
            self._plans[outputs] = self._make_plan(outputs)
        return self._plans[outputs]

    def _make_plan(self, outputs: tuple[str, ...]) -> _Plan:
        order = self._topological_order()
        may_die = self._may_be_dead(order)
        wanted = {name: self._resolve_output(name) for name in outputs}
        needed = self._needed({ref[0] for ref in wanted.values()}, may_die)

        n_outs = {name: 1 for name in needed}
        for src, index in [ref for n in needed for ref in self._nodes[n].inputs] + list(wanted.values()):
            n_outs[src] = max(n_outs[src], index + 1)

        slot_of: dict[tuple[str, int], int] = {}
        initial: list = []
        feeds: dict[str, tuple[int, torch.dtype]] = {}
        steps: list[_Step] = []
        for name in (n for n in order if n in needed):
            node = self._nodes[name]
            outs = tuple(range(len(initial), len(initial) + n_outs[name]))
            slot_of.update({(name, k): i for k, i in enumerate(outs)})
            initial.extend([None] * len(outs))
            args = tuple(slot_of[ref] for ref in node.inputs)
            # A Merge is dead only when all its data inputs are (it checks that itself).
            deps = [] if node.op == "Merge" else [*node.inputs, *((c, 0) for c in node.control)]
            guards = tuple(slot_of[ref] for ref in deps if may_die[ref[0]])
            arg_values = [initial[i] for i in args]
            if node.op == "Placeholder":
                feeds[name] = (outs[0], _placeholder_dtype(node))
            elif node.op == "Const" and not guards:
                initial[outs[0]] = self._consts[name]
            elif node.op == "Const":
                steps.append(_Step(lambda v=self._consts[name]: v, (), outs, False, guards))
            elif args and not guards and node.op not in _NOT_FOLDABLE and all(v is not None for v in arg_values):
                result = BUILDERS[node.op](node, arg_values)(*arg_values)
                for k, i in enumerate(outs):
                    initial[i] = self._place(result[k] if node.op in MULTI_OUTPUT else result)
            else:
                fn = BUILDERS[node.op](node, arg_values)
                steps.append(_Step(fn, args, outs, node.op in MULTI_OUTPUT, guards))

        results = {name: slot_of[ref] for name, ref in wanted.items()}
        return _Plan(initial, feeds, _with_frees(steps, set(results.values())), results)

    def _topological_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}
        for root in self._nodes:
            stack = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name):
                    if state[name] == 1:
                        raise ValueError(f"graph has a cycle through {name!r} (loops are not supported)")
                    continue
                if name not in self._nodes:
                    raise ValueError(f"graph refers to a missing node {name!r}")
                state[name] = 1
                stack.append((name, True))
                node = self._nodes[name]
                deps = [*(src for src, _ in node.inputs), *node.control]
                stack.extend((dep, False) for dep in deps if state.get(dep) != 2)
        return order

    def _may_be_dead(self, order: list[str]) -> dict[str, bool]:
        """Nodes whose outputs can be DEAD: Switch and what depends on it, up to a Merge."""
        dead: dict[str, bool] = {}
        for name in order:
            node = self._nodes[name]
            data = [dead[src] for src, _ in node.inputs]
            if node.op == "Switch":
                dead[name] = True
            elif node.op == "Merge":
                dead[name] = all(data)
            else:
                dead[name] = any(data) or any(dead[c] for c in node.control)
        return dead

    def _needed(self, roots: set[str], may_die: dict[str, bool]) -> set[str]:
        """Nodes the roots depend on through data edges, or control edges that may carry death."""
        needed: set[str] = set()
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                node = self._nodes[name]
                stack.extend(src for src, _ in node.inputs)
                if node.op != "Merge":
                    stack.extend(c for c in node.control if may_die[c])
        return needed


def _placeholder_dtype(node: Node) -> torch.dtype:
    return torch_dtype(node, node.attrs.get("dtype", "DT_FLOAT"))


def _with_frees(steps: list[_Step], keep: set[int]) -> list[_Step]:
    """Give each step the slots whose last use it is, so intermediates are freed early."""
    last_use: dict[int, int] = {}
    for index, step in enumerate(steps):
        for slot in (*step.args, *step.guards, *step.outs):
            last_use[slot] = index
    frees: dict[int, list[int]] = {}
    for slot, index in last_use.items():
        if slot not in keep:
            frees.setdefault(index, []).append(slot)
    return [
        _Step(s.fn, s.args, s.outs, s.multi, s.guards, tuple(frees.get(i, ()))) for i, s in enumerate(steps)
    ]
