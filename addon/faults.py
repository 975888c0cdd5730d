"""Where an error belongs and how it reads: the node at fault, a short status in the node's own words, and the
full text (the node's name, the fix) for the console and reports."""

from __future__ import annotations

from dataclasses import dataclass

from .chain import Chain, ChainError
from .node_params import holder
from .wire import EngineError

FOOTAGE_CODES = frozenset({"source_missing", "source_unreadable", "frame_out_of_range"})


@dataclass(frozen=True)
class Fault:
    """`node` is the instyle node at fault (None when no node is, e.g. no engine); `status` is short, for that
    node; `detail` is everything, for the console and the operator's report."""

    node: object | None
    status: str
    detail: str


def locate(exc: Exception, chains: list[Chain] = ()) -> Fault:
    """The fault `exc` describes, raised while `chains` were being built or computed (the node at fault is
    looked for in them)."""
    if isinstance(exc, ChainError):
        node = exc.node
        text = str(exc)
        if node is not None and text.startswith(f"{node.name}: "):
            text = text[len(node.name) + 2:]
        return Fault(node, f"Error: {_first_clause(text)}", str(exc))
    if isinstance(exc, EngineError):
        node = _engine_node(exc, chains)
        words = _in_node_words(node, exc)
        detail = f"{node.name}: {words}" if node is not None else words
        return Fault(node, f"Error: {_first_clause(words)}", detail + (f" ({exc.hint})" if exc.hint else ""))
    node = chains[0].nodes[-1] if chains else None
    text = f"{type(exc).__name__}: {exc}"
    return Fault(node, f"Error: {text}", f"{node.name}: {text}" if node is not None else text)


def _engine_node(exc: EngineError, chains: list[Chain]):
    """The node running the stage the engine names; a chain's first node for unreadable footage; None for errors
    of no stage, such as an engine that cannot be reached."""
    if exc.stage:
        for chain in chains:
            for node in chain.nodes:
                if node.STAGE == exc.stage:
                    return node
    return chains[0].nodes[0] if exc.code in FOOTAGE_CODES and chains else None


def _in_node_words(node, exc: EngineError) -> str:
    """The engine's message with its `stage.param` prefix replaced by the property's name on the node
    ("neural_style.track_styles[2]: ..." reads "Track Styles[2]: ...")."""
    message, prefix = exc.message, f"{exc.stage}.{exc.param}"
    if node is None or not exc.param or not message.startswith(prefix):
        return message
    prop = node.bl_rna.properties.get(holder(node.STAGE, exc.param))
    return f"{prop.name if prop else exc.param}{message[len(prefix):]}"


def _first_clause(text: str) -> str:
    """`text` up to its first "; " (messages read "what is wrong; what to do"): short enough for a node."""
    return text.split("; ", 1)[0]
