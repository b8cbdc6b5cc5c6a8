"""``python -m course_lib doctor``: is this machine ready for the course?

Prints versions, CPU/GPU, whether widgets will render and whether the shipped data files are
present and intact. Exits with status 1, saying what to do, when something the course needs is
missing or broken; never crashes on a missing package.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import platform
import sys
from pathlib import Path

# (distribution name, import name, needed?) — needed packages make doctor fail when missing.
PACKAGES = [
    ("torch", "torch", True),
    ("gymnasium", "gymnasium", True),
    ("stable-baselines3", "stable_baselines3", True),
    ("numpy", "numpy", True),
    ("matplotlib", "matplotlib", True),
    ("ipywidgets", "ipywidgets", True),
    ("jupyterlab", "jupyterlab", True),
    ("tqdm", "tqdm", True),
    ("pytest", "pytest", False),
    ("nbval", "nbval", False),
]
DATA_PROBLEM = "data file"  # problems that start with this are fixed by restoring data/, not by setup
LOCK = Path(__file__).resolve().parent.parent / "requirements" / "lock.txt"


def _pins() -> dict[str, str]:
    if not LOCK.is_file():
        return {}
    pins = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def run_checks() -> tuple[list[str], list[str]]:
    """Print the report; return (problems, warnings)."""
    problems: list[str] = []
    warnings: list[str] = []
    pins = _pins()

    print("course_lib doctor")
    print(f"  Python      {platform.python_version()} ({sys.executable})")
    if sys.version_info < (3, 10):
        problems.append("Python 3.10 or newer is needed")
    print(f"  Platform    {platform.platform()}, {os.cpu_count()} CPU cores")

    print("Packages (installed / tested pin)")
    for dist, module, needed in PACKAGES:
        version = _version(dist)
        pin = pins.get(dist.lower())
        if version is None:
            print(f"  {dist:<18} MISSING" + ("" if needed else " (only needed to run the tests)"))
            (problems if needed else warnings).append(f"{dist} is not installed")
            continue
        note = ""
        if pin and version.split("+")[0] != pin:
            note = f"  (tested with {pin})"
            warnings.append(f"{dist} {version} is not the tested version {pin}")
        print(f"  {dist:<18} {version}{note}")
        try:
            importlib.import_module(module)
        except Exception as exc:  # a broken install must be reported, not crash the doctor
            problems.append(f"{dist} is installed but does not import: {exc!r}")

    print("Compute")
    try:
        import torch

        cuda = torch.cuda.is_available()
        print(f"  torch threads {torch.get_num_threads()}; CUDA available: {cuda}")
        if cuda:
            print(f"  GPU         {torch.cuda.get_device_name(0)} (the course will use it)")
        else:
            print("  GPU         none: everything runs on the CPU, as the course is designed to")
        if any(d.metadata["Name"].lower().startswith("nvidia-") for d in md.distributions()) and not cuda:
            warnings.append("CUDA packages are installed but no GPU is visible (gigabytes for nothing)")
    except Exception as exc:
        problems.append(f"torch does not work: {exc!r}")

    print("Widgets")
    lab_widgets = _version("jupyterlab_widgets")
    if _version("ipywidgets") and lab_widgets:
        print(f"  sliders will render in JupyterLab (ipywidgets {_version('ipywidgets')}, "
              f"jupyterlab_widgets {lab_widgets})")
    else:
        print("  sliders will NOT render: ipywidgets and jupyterlab_widgets are both needed")
        problems.append("widgets will not render (install the pinned ipywidgets)")

    print("Data files")
    try:
        from .data import data_dir, restore_advice, validate_data

        report = validate_data()
        print(f"  folder      {data_dir()}")
        if not report:
            print("  (no data files are shipped yet)")
        for name, status in report:
            print(f"  {name:<40} {status}")
            if status == "ok":
                continue
            if status.startswith("not listed"):
                advice = "approve it with `python -m course_lib manifest` if you built it, or delete it"
            else:
                advice = restore_advice(name)
            problems.append(f"{DATA_PROBLEM} {name}: {status}. Fix: {advice}")
    except Exception as exc:
        problems.append(f"{DATA_PROBLEM}s could not be checked: {exc!r}. Fix: restore the data folder "
                        "with `git checkout -- data/` from the course folder")

    print("Exercises")
    try:
        from .exercises import list_exercises

        names = list_exercises()
        print(f"  {len(names)} registered: {', '.join(names)}")
    except Exception as exc:
        problems.append(f"the exercise catalogue does not load: {exc!r}")
    return problems, warnings


def main(argv: list[str] | None = None) -> int:
    problems, warnings = run_checks()
    print()
    for w in warnings:
        print(f"warning: {w}")
    if problems:
        for p in problems:
            print(f"PROBLEM: {p}")
        if any(not p.startswith(DATA_PROBLEM) for p in problems):
            print("Fix: run `python3 course.py setup --force` from the course folder, or see the README.")
        if any(p.startswith(DATA_PROBLEM) for p in problems):
            print("Fix for the data files: reinstalling packages does not restore them; run "
                  "`git checkout -- data/` from the course folder (or the rebuild command named above), "
                  "then `python -m course_lib doctor` again.")
        return 1
    print("All good: the course is ready.")
    return 0
