#!/usr/bin/env python3
"""One command to set the course up and use it (standard library only).

    python3 course.py lab      set up (first time only), then open JupyterLab on notebooks/
                               (--lang ko: the Korean edition, notebooks/ko)
    python3 course.py test     set up (first time only), then run the whole test suite
    python3 course.py setup    only set up
    python3 course.py doctor   check the installation

Set-up makes a virtual environment in .venv and installs the pinned, tested versions in
requirements/lock.txt. On a machine without an NVIDIA GPU it installs the CPU build of
PyTorch, so no CUDA packages are downloaded. It is skipped when the lock file and
pyproject.toml have not changed since the last set-up.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("COURSE_VENV", ROOT / ".venv"))
LOCK = ROOT / "requirements" / "lock.txt"
STAMP = VENV / ".course-setup"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# The test command of the README, run inside the virtual environment.
TEST_COMMAND = ["-m", "pytest", "--nbval-lax", "tests", "notebooks"]


def venv_python() -> Path:
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return VENV / sub


def say(msg: str) -> None:
    print(f"[course] {msg}", flush=True)


def run(cmd: list[str | Path], **kw) -> None:
    say(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def has_nvidia_gpu() -> bool:
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
            return out.returncode == 0 and "GPU" in out.stdout
        except (OSError, subprocess.SubprocessError):
            return False
    return False


def locked_version(name: str) -> str:
    for line in LOCK.read_text().splitlines():
        if line.lower().startswith(name.lower() + "=="):
            return line.split("==", 1)[1].strip()
    raise SystemExit(f"requirements/lock.txt has no pin for {name}")


def setup_fingerprint() -> str:
    h = hashlib.sha256()
    for f in (LOCK, ROOT / "pyproject.toml"):
        h.update(f.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()


def install_torch(py: Path) -> None:
    """Install the pinned torch; the CPU build on Linux machines without an NVIDIA GPU."""
    spec = f"torch=={locked_version('torch')}"
    extra: list[str] = []
    if platform.system() == "Linux" and not has_nvidia_gpu():
        # Ask pip which file it would take from its configured sources. A local +cpu wheel
        # (or a pip configured for a CPU index) is fine; a plain PyPI wheel would pull CUDA.
        probe = subprocess.run(
            [str(py), "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet",
             "--report", "-", spec],
            capture_output=True, text=True,
        )
        try:
            chosen = json.loads(probe.stdout)["install"][0]["metadata"]["version"]
        except (ValueError, KeyError, IndexError):
            chosen = ""
        if "+cpu" not in chosen:
            say("no NVIDIA GPU: taking the CPU build of PyTorch (no CUDA packages)")
            extra = ["--index-url", TORCH_CPU_INDEX]
    run([py, "-m", "pip", "install", "--no-deps", spec, *extra])


def setup(force: bool = False) -> Path:
    if sys.version_info < (3, 10):
        raise SystemExit(f"Python 3.10 or newer is needed; this is {platform.python_version()}")
    py = venv_python()
    fingerprint = setup_fingerprint()
    if not force and py.exists() and STAMP.exists() and STAMP.read_text() == fingerprint:
        return py
    if not py.exists():
        say(f"creating a virtual environment in {VENV}")
        run([sys.executable, "-m", "venv", VENV])
    install_torch(py)
    run([py, "-m", "pip", "install", "-c", LOCK, "-e", f"{ROOT}[test]"])
    if platform.system() == "Linux" and not has_nvidia_gpu():
        listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"],
                                capture_output=True, text=True).stdout
        cuda = [line for line in listed.splitlines() if line.lower().startswith("nvidia-")]
        if cuda:
            say("warning: CUDA packages were installed on a machine without a GPU: " + ", ".join(cuda))
    STAMP.write_text(fingerprint)
    say("set-up complete")
    return py


def lab_language(rest: list[str]) -> tuple[str, list[str]]:
    """``--lang ko`` opens the Korean edition (notebooks/ko, COURSE_LANG=ko for figures and messages)."""
    if "--lang" not in rest:
        return "en", rest
    at = rest.index("--lang")
    lang = rest[at + 1] if at + 1 < len(rest) else ""
    if lang not in ("en", "ko"):
        raise SystemExit(f"--lang must be en or ko; got {lang!r}")
    return lang, rest[:at] + rest[at + 2:]


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "help"
    rest = argv[1:]
    if cmd in ("help", "-h", "--help"):
        print(__doc__)
        return 0
    if cmd not in ("setup", "lab", "test", "doctor"):
        print(f"unknown command {cmd!r}; expected one of: setup, lab, test, doctor", file=sys.stderr)
        return 2
    py = setup(force=(cmd == "setup" and "--force" in rest))
    if cmd == "setup":
        return 0
    if cmd == "doctor":
        return subprocess.run([str(py), "-m", "course_lib", "doctor", *rest], cwd=ROOT).returncode
    if cmd == "lab":
        lang, rest = lab_language(rest)
        lab = [str(py), "-m", "jupyterlab", str(ROOT / "notebooks" / lang if lang != "en" else ROOT / "notebooks"), *rest]
        if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in rest:
            lab.append("--allow-root")  # containers often run as root; Jupyter refuses that otherwise
        say(" ".join(lab))
        return subprocess.run(lab, cwd=ROOT, env=dict(os.environ, COURSE_LANG=lang)).returncode
    # test: fast mode shrinks every training budget so the notebooks run in CI in minutes.
    env = dict(os.environ, COURSE_FAST="1", MPLBACKEND="Agg")
    test = [str(py), *TEST_COMMAND, *rest]
    say("COURSE_FAST=1 " + " ".join(test))
    return subprocess.run(test, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
