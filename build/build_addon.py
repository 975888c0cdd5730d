"""Build the installable extension zip: addon/ plus a copy of the engine's wire protocol package.

Run with the Blender venv's Python (it uses Blender's own extension builder, which validates the manifest):
    .venv-blender/bin/python build/build_addon.py [--out DIR] [--previews DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blender_ext_tool() -> Path:
    import site

    found = sorted(p for d in site.getsitepackages()
                   for p in Path(d).glob("bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit("build_addon: Blender's extension builder (blender_ext.py) was not found in bpy")
    return found[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--previews", type=Path, help="folder of styleNN.png made by `instyle-engine styles`, "
                        "shipped as the style picker's icons")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "instyle"
        shutil.copytree(ROOT / "addon", stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copytree(ROOT / "engine" / "instyle" / "wire", stage / "wire",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(ROOT / "LICENSE", stage / "LICENSE")
        if args.previews:
            (stage / "previews").mkdir()
            for icon in sorted(args.previews.glob("style[0-9][0-9].png")):
                shutil.copy(icon, stage / "previews" / icon.name)
        for old in args.out.glob("instyle-*.zip"):
            old.unlink()
        subprocess.run([sys.executable, str(blender_ext_tool()), "build", "--source-dir", str(stage),
                        "--output-dir", str(args.out)], check=True)
    built = sorted(args.out.glob("instyle-*.zip"))
    print(built[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
