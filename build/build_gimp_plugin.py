"""Build the GIMP 3 plug-in folder: gimp/instyle/ plus a copy of the engine's wire protocol package.

    python3 build/build_gimp_plugin.py [--out DIR]      (default dist/gimp; standard library only)

Install by copying DIR/instyle into GIMP's plug-ins folder (~/.config/GIMP/3.0/plug-ins/ on Linux).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def build(out: Path) -> Path:
    """Write out/instyle (replacing any earlier build) and return it."""
    target = out / "instyle"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "gimp" / "instyle", target, ignore=IGNORE)
    shutil.copytree(ROOT / "engine" / "instyle" / "wire", target / "wire", ignore=IGNORE)
    shutil.copy(ROOT / "LICENSE", target / "LICENSE")
    (target / "instyle.py").chmod(0o755)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "gimp")
    print(build(parser.parse_args().out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
