"""Running GIMP 3 headless inside the Debian 13 root of `build/gimp_root.sh`.

The root shares the host's network (an engine on the host's 127.0.0.1 is reachable from it) and process ids (a
runtime file's pid can be checked there). `run_batch` mounts /proc and binds the host's /tmp over the root's,
in a private mount namespace that ends with the run, so the paths under /tmp that the plug-in sends to the engine
(style images, GIMP's temporary files) name the same files on both sides.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

ROOT_SCRIPT = Path(__file__).resolve().parents[2] / "build" / "gimp_root.sh"
GIMP_PLUGINS = ".config/GIMP/3.0/plug-ins"


def why_no_root() -> str:
    """Why the root cannot be built or entered here, or "" when it can."""
    if os.geteuid() != 0 and not shutil.which("sudo"):
        return "the GIMP tests need root or sudo (debootstrap, chroot, mount)"
    if os.geteuid() != 0 and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode != 0:
        return "the GIMP tests need passwordless sudo (debootstrap, chroot, mount)"
    if not shutil.which("unshare"):
        return "the GIMP tests need unshare (util-linux) for a private mount namespace"
    return ""


def ensure_root() -> Path:
    """The root, made by build/gimp_root.sh where it is missing (about 2 minutes; a second call takes a second)."""
    done = subprocess.run([str(ROOT_SCRIPT)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"build/gimp_root.sh failed ({done.returncode}): {done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def run_batch(root: Path, work: Path, script: Path, env: dict[str, str], display: bool = False,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """`gimp-console-3.0 -i` in `root`, running the Python batch `script` (which must lie in `work`, under /tmp),
    with HOME = work/home, TMPDIR = work/tmp (GIMP's temporary files) and only the variables `env` besides, on a
    virtual X display (Xvfb) where `display` asks for one (plug-in dialogues); stdout and stderr together in
    `.stdout`."""
    if Path("/tmp") not in work.parents:
        raise ValueError(f"the GIMP work folder must be under /tmp (shared with the root), got {work}")
    home, temp = work / "home", work / "tmp"
    home.mkdir(exist_ok=True)
    temp.mkdir(exist_ok=True)
    variables = {"HOME": str(home), "TMPDIR": str(temp), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **env}
    batch = f'exec(open({str(script)!r}).read())'
    gimp = ["env", "-i", *(f"{k}={v}" for k, v in variables.items()), *(["xvfb-run", "-a"] if display else []),
            "gimp-console-3.0", "-i", "--quit", "--batch-interpreter=python-fu-eval", "-b", batch]
    sudo, user = ([], "") if os.geteuid() == 0 else (["sudo", "-n"], f"--userspec={os.getuid()}:{os.getgid()}")
    in_root, r = f"cd {shlex.quote(str(work))} && exec {shlex.join(gimp)}", shlex.quote(str(root))
    inside = (f"mount -t proc proc {r}/proc && mount --bind /tmp {r}/tmp && "
              f"mount -t tmpfs tmpfs {r}/dev/shm && exec chroot {user} {r} sh -c {shlex.quote(in_root)}")
    return subprocess.run([*sudo, "unshare", "--mount", "--propagation", "private", "sh", "-c", inside],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
