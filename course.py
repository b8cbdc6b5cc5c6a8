#!/usr/bin/env python3
"""One command to set the course up and use it (standard library only).

    python3 course.py lab      set up (first time only), then open JupyterLab on notebooks/
                               (--lang ko: the Korean edition, notebooks/ko)
    python3 course.py test     set up (first time only), then run the whole test suite
    python3 course.py setup    only set up
    python3 course.py doctor   check the installation
    python3 course.py lock     write the sha256 hashes of the pinned files for this platform
                               (requirements/hashes/<platform>.txt), on a machine you trust

Set-up makes a virtual environment in .venv and installs the pinned, tested versions in
requirements/lock.txt. On a machine without an NVIDIA GPU it installs the CPU build of
PyTorch, so no CUDA packages are downloaded. Where requirements/hashes/ has a file for this
platform, every file is installed with pip's hash checking (--require-hashes): a download whose
sha256 differs from the recorded one is refused and nothing is installed. It is skipped when the
lock file, the hashes and pyproject.toml have not changed since the last set-up.
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
HASHES = ROOT / "requirements" / "hashes"  # one file per platform: "name==version --hash=sha256:..." lines
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
    version = lock_pins().get(normalise(name))
    if version is None:
        raise SystemExit(f"requirements/lock.txt has no pin for {name}")
    return version


def platform_tag() -> str:
    """The platform a hash file is for: the files pip picks differ by OS, machine and Python version."""
    return f"{sys.platform}-{platform.machine().lower()}-cp{sys.version_info[0]}{sys.version_info[1]}"


def hash_file() -> Path:
    return HASHES / f"{platform_tag()}.txt"


def lock_pins() -> dict[str, str]:
    """The lock's pins, by normalised name."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[normalise(name)] = version.strip()
    return pins


def normalise(name: str) -> str:
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


def setup_fingerprint() -> str:
    h = hashlib.sha256()
    for f in (LOCK, ROOT / "pyproject.toml", hash_file()):
        h.update(f.read_bytes() if f.exists() else b"")
    h.update(sys.version.encode())
    return h.hexdigest()


def torch_index_args(py: Path) -> list[str]:
    """pip's extra arguments for the CPU build of torch on Linux without an NVIDIA GPU (else none)."""
    spec = f"torch=={locked_version('torch')}"
    extra: list[str] = []
    if platform.system() == "Linux" and not has_nvidia_gpu():
        # Ask pip which file it would take from its configured sources. A local +cpu wheel
        # (or a pip configured for a CPU index) is fine; a plain PyPI wheel would pull CUDA.
        probe = subprocess.run(
            [str(py), "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet",
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
    return extra


def install_torch(py: Path) -> None:
    """Install the pinned torch; the CPU build on Linux machines without an NVIDIA GPU."""
    run([py, "-m", "pip", "install", "--no-deps", f"torch=={locked_version('torch')}", *torch_index_args(py)])


def hashed_install_commands(py: Path, hashes: Path, torch_args: list[str]) -> list[list[str | Path]]:
    """The set-up's pip commands when ``hashes`` exists: every pinned file checked against its sha256
    (pip refuses a mismatch, or a file with no hash, before installing anything), then the course
    itself, editable, with no dependency resolution and no build downloads (setuptools is pinned too)."""
    index = ["--extra-index-url", torch_args[1]] if torch_args[:1] == ["--index-url"] else []
    return [[py, "-m", "pip", "install", "--require-hashes", "--no-deps", "-r", hashes, *index],
            [py, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", ROOT]]


def write_hashes(py: Path) -> Path:
    """``course.py lock``: resolve the lock as the set-up would on this machine (pip's --dry-run report)
    and write each pinned file's sha256 into requirements/hashes/<platform>.txt."""
    extra = torch_index_args(py)
    index = ["--extra-index-url", extra[1]] if extra[:1] == ["--index-url"] else []
    report = subprocess.run([str(py), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                             "--report", "-", "-r", str(LOCK), *index], capture_output=True, text=True)
    if report.returncode != 0:
        raise SystemExit(f"pip could not resolve requirements/lock.txt:\n{report.stderr[-2000:]}")
    pins, lines = lock_pins(), []
    for item in json.loads(report.stdout)["install"]:
        name = normalise(item["metadata"]["name"])
        sha = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
        if name not in pins or not sha:
            raise SystemExit(f"pip chose {name} {item['metadata']['version']} with no pin or no sha256; fix the lock")
        lines.append(f"{name}=={pins[name]} --hash=sha256:{sha}")
    missing = sorted(set(pins) - {line.split("==")[0] for line in lines})
    if missing:
        raise SystemExit(f"pins that pip did not take on this platform: {missing}")
    out = hash_file()
    out.parent.mkdir(parents=True, exist_ok=True)
    head = (f"# sha256 of every file requirements/lock.txt installs on {platform_tag()}, written by\n"
            "# `python3 course.py lock` (pip's resolution on this machine). The set-up installs with\n"
            "# --require-hashes when this file exists: a file whose hash differs is refused.\n")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(head + "\n".join(sorted(lines)) + "\n")
    tmp.replace(out)
    say(f"wrote {out.relative_to(ROOT)} ({len(lines)} files)")
    return out


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
    hashes = hash_file()
    if hashes.exists():
        say(f"installing with hash checking ({hashes.relative_to(ROOT)})")
        for cmd in hashed_install_commands(py, hashes, torch_index_args(py)):
            run(cmd)
    else:
        say(f"warning: no {hashes.relative_to(ROOT)}: installing the pinned versions WITHOUT hash checking "
            "(run `python3 course.py lock` on a machine you trust to record them)")
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
    if cmd not in ("setup", "lab", "test", "doctor", "lock"):
        print(f"unknown command {cmd!r}; expected one of: setup, lab, test, doctor, lock", file=sys.stderr)
        return 2
    if cmd == "lock":
        py = venv_python()
        if not py.exists():
            run([sys.executable, "-m", "venv", VENV])
        write_hashes(py)
        return 0
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
