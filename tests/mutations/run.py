"""Mutation checks, run on demand: each mutation breaks a claim on purpose, and the tests named beside it must
fail. `python tests/mutations/run.py` (from the repository root, with the engine venv) prints each mutation as
caught or MISSED and exits non-zero if any was missed. The source is restored after each run."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutation:
    """Replace `old` (exactly once) by `new` in `path`; `tests` (pytest node ids) must then fail."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("every fixed style renders as the next one", "engine/instyle/stylize/methods.py",
             "styles = [style_vector(dict(p.ref.weights)) for p in pieces]",
             "styles = [style_vector(dict(p.ref.weights)).roll(1) for p in pieces]",
             ("tests/engine/test_neural_style.py::test_the_stage_renders_the_named_style_as_the_published_network_does",)),
)


def run(mutation: Mutation) -> bool:
    """Whether the tests fail with `mutation` applied (the mutation is caught)."""
    path = ROOT / mutation.path
    original = path.read_text()
    if original.count(mutation.old) != 1:
        raise SystemExit(f"{mutation.name}: the text to mutate is not found once in {mutation.path}; update it")
    try:
        path.write_text(original.replace(mutation.old, mutation.new))
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                 *mutation.tests], cwd=ROOT, capture_output=True, text=True)
    finally:
        path.write_text(original)
    return result.returncode != 0


def main() -> int:
    missed = [m.name for m in MUTATIONS if not run(m)]
    for m in MUTATIONS:
        print(f"{'MISSED' if m.name in missed else 'caught'}: {m.name}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
