"""Mutation checks, run on demand: each mutation breaks a claim on purpose, and the tests named beside it must
fail. `python tests/mutations/run.py [WORDS]` (from the repository root, with the engine venv) runs the mutations
whose names contain WORDS (all without), prints each as caught or MISSED and exits non-zero if any was missed.
The source is restored after each run. A mutation of the add-on is tested in Blender (.venv-blender) with the
extension zip rebuilt around it (dist/, as build/setup.sh builds it), and rebuilt again once it is undone."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLENDER_PYTHON = ROOT / ".venv-blender" / "bin" / "python"


@dataclass(frozen=True)
class Mutation:
    """Replace `old` (exactly once) by `new` in `path`; `tests` (pytest node ids) must then fail. `blender`: the
    tests run in Blender, from the extension zip."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    blender: bool = False


MUTATIONS = (
    Mutation("every fixed style renders as the next one", "engine/instyle/stylize/methods.py",
             "styles = [style_vector(dict(p.ref.weights)) for p in pieces]",
             "styles = [style_vector(dict(p.ref.weights)).roll(1) for p in pieces]",
             ("tests/engine/test_neural_style.py::test_the_stage_renders_the_named_style_as_the_published_network_does",)),
    Mutation("the engine knows an image sequence's files by their paths alone", "engine/instyle/wire/footage_tags.py",
             "return [os.path.abspath(file), stat.st_size, stat.st_mtime_ns]", "return [os.path.abspath(file), 0, 0]",
             ("tests/engine/test_sequence_rewrites.py",)),
    Mutation("the add-on skips the check of an image sequence's rewritten files", "addon/compute.py",
             "cache.forget_rewritten(chain.folders, sorted(scene_frame))", "pass",
             ("tests/blender/test_render.py::"
              "test_a_plate_frame_rewritten_in_place_renders_again_and_only_the_frames_made_from_it",), blender=True),
    Mutation("portrait blur blurs the people too", "engine/instyle/stages/mrf_blend.py",
             "layer = state.stylized if state.stylized is not None else state.rgb",
             "layer = state.stylized if state.stylized is not None else background_blur(state.rgb, state.mask * 0, "
             "radius) if radius > 0 else state.rgb",
             ("tests/gimp/test_gimp_procedures.py::"
              "test_a_portrait_with_portrait_blur_is_blurred_outside_the_person_and_unchanged_inside",)),
    Mutation("portrait blur ignores a background in its own style", "engine/instyle/stages/mrf_blend.py",
             'if not any(i.class_name == "background" for i in state.instances or []):', "if True:",
             ("tests/gimp/test_gimp_procedures.py::"
              "test_styfie_one_style_on_the_person_another_on_the_background_and_a_portrait_blur",)),
    Mutation("the GIMP plug-in's result layer drops the source's transparency", "gimp/instyle/instyle.py",
             "kind = Gimp.ImageType.RGBA_IMAGE if source.has_alpha() else Gimp.ImageType.RGB_IMAGE",
             "kind = Gimp.ImageType.RGB_IMAGE",
             ("tests/gimp/test_gimp_procedures.py::"
              "test_a_layer_of_another_open_image_as_the_style_and_a_layer_with_transparency",)),
)


def run(mutation: Mutation) -> bool:
    """Whether the tests fail with `mutation` applied (the mutation is caught)."""
    path = ROOT / mutation.path
    original = path.read_text()
    if original.count(mutation.old) != 1:
        raise SystemExit(f"{mutation.name}: the text to mutate is not found once in {mutation.path}; update it")
    python = BLENDER_PYTHON if mutation.blender else Path(sys.executable)
    try:
        path.write_text(original.replace(mutation.old, mutation.new))
        if mutation.blender:
            build_addon()
        result = subprocess.run([str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
                                cwd=ROOT, capture_output=True, text=True)
    finally:
        path.write_text(original)
        if mutation.blender:
            build_addon()
    return result.returncode != 0


def build_addon() -> None:
    """The extension zip in dist/, from the add-on as it is now."""
    subprocess.run([str(BLENDER_PYTHON), "build/build_addon.py", "--out", "dist", "--previews", "out/style-previews"],
                   cwd=ROOT, check=True, capture_output=True)


def main(words: str = "") -> int:
    chosen = [m for m in MUTATIONS if words in m.name]
    if not chosen:
        raise SystemExit(f"no mutation's name contains {words!r}")
    missed = [m.name for m in chosen if not run(m)]
    for m in chosen:
        print(f"{'MISSED' if m.name in missed else 'caught'}: {m.name}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(" ".join(sys.argv[1:])))
