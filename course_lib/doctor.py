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

from .i18n import message_format

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


# Every sentence doctor prints, by key (message key "doctor." + key), so that a learner with COURSE_LANG=ko
# reads it in Korean (course_lib.i18n.message); package names, versions, paths and commands are filled in.
TEXTS: dict[str, str] = {
    "title": "course_lib doctor",
    "python": "  Python      {version} ({executable})",
    "python.old": "Python 3.10 or newer is needed",
    "platform": "  Platform    {platform}, {cores} CPU cores",
    "packages": "Packages (installed / tested pin)",
    "package.missing": "  {dist:<18} MISSING",
    "package.optional": " (only needed to run the tests)",
    "package.not_installed": "{dist} is not installed",
    "package.tested_with": "  (tested with {pin})",
    "package.not_pinned": "{dist} {version} is not the tested version {pin}",
    "package.broken": "{dist} is installed but does not import: {error}",
    "compute": "Compute",
    "compute.threads": "  torch threads {threads}; CUDA available: {cuda}",
    "compute.gpu": "  GPU         {name} (the course will use it)",
    "compute.no_gpu": "  GPU         none: everything runs on the CPU, as the course is designed to",
    "compute.cuda_unused": "CUDA packages are installed but no GPU is visible (gigabytes for nothing)",
    "compute.broken": "torch does not work: {error}",
    "widgets": "Widgets",
    "widgets.ok": "  sliders will render in JupyterLab (ipywidgets {ipywidgets}, jupyterlab_widgets {lab})",
    "widgets.missing": "  sliders will NOT render: ipywidgets and jupyterlab_widgets are both needed",
    "widgets.problem": "widgets will not render (install the pinned ipywidgets)",
    "data": "Data files",
    "data.folder": "  folder      {folder}",
    "data.none": "  (no data files are shipped yet)",
    "data.approve": "approve it with `python -m course_lib manifest` if you built it, or delete it",
    "data.problem": "data file {name}: {status}. Fix: {advice}",
    "data.unchecked": "data files could not be checked: {error}. Fix: restore the data folder with "
                      "`git checkout -- data/` from the course folder",
    "exercises": "Exercises",
    "exercises.registered": "  {count} registered: {names}",
    "exercises.broken": "the exercise catalogue does not load: {error}",
    "warning": "warning: {text}",
    "problem": "PROBLEM: {text}",
    "fix.setup": "Fix: run `python3 course.py setup --force` from the course folder, or see the README.",
    "fix.data": "Fix for the data files: reinstalling packages does not restore them; run `git checkout -- data/` "
                "from the course folder (or the rebuild command named above), then `python -m course_lib doctor` "
                "again.",
    "all_good": "All good: the course is ready.",
}


def _say(key: str, **fields) -> str:
    return message_format(f"doctor.{key}", TEXTS[key], **fields)


def english_messages() -> dict[str, str]:
    """Every message key of doctor with its current English (see ``course_lib.i18n``)."""
    return {f"doctor.{key}": text for key, text in TEXTS.items()}


def run_checks() -> tuple[list[str], list[str], list[str]]:
    """Print the report; return (problems, warnings, data problems): the data problems are fixed by
    restoring data/, not by the set-up, and are not among the problems."""
    problems: list[str] = []
    warnings: list[str] = []
    data_problems: list[str] = []
    pins = _pins()

    print(_say("title"))
    print(_say("python", version=platform.python_version(), executable=sys.executable))
    if sys.version_info < (3, 10):
        problems.append(_say("python.old"))
    print(_say("platform", platform=platform.platform(), cores=os.cpu_count()))

    print(_say("packages"))
    for dist, module, needed in PACKAGES:
        version = _version(dist)
        pin = pins.get(dist.lower())
        if version is None:
            print(_say("package.missing", dist=dist) + ("" if needed else _say("package.optional")))
            (problems if needed else warnings).append(_say("package.not_installed", dist=dist))
            continue
        note = ""
        if pin and version.split("+")[0] != pin:
            note = _say("package.tested_with", pin=pin)
            warnings.append(_say("package.not_pinned", dist=dist, version=version, pin=pin))
        print(f"  {dist:<18} {version}{note}")
        try:
            importlib.import_module(module)
        except Exception as exc:  # a broken install must be reported, not crash the doctor
            problems.append(_say("package.broken", dist=dist, error=repr(exc)))

    print(_say("compute"))
    try:
        import torch

        cuda = torch.cuda.is_available()
        print(_say("compute.threads", threads=torch.get_num_threads(), cuda=cuda))
        if cuda:
            print(_say("compute.gpu", name=torch.cuda.get_device_name(0)))
        else:
            print(_say("compute.no_gpu"))
        if any(d.metadata["Name"].lower().startswith("nvidia-") for d in md.distributions()) and not cuda:
            warnings.append(_say("compute.cuda_unused"))
    except Exception as exc:
        problems.append(_say("compute.broken", error=repr(exc)))

    print(_say("widgets"))
    lab_widgets = _version("jupyterlab_widgets")
    if _version("ipywidgets") and lab_widgets:
        print(_say("widgets.ok", ipywidgets=_version("ipywidgets"), lab=lab_widgets))
    else:
        print(_say("widgets.missing"))
        problems.append(_say("widgets.problem"))

    print(_say("data"))
    try:
        from .data import data_dir, restore_advice, unlisted_status, validate_data

        report = validate_data()
        print(_say("data.folder", folder=data_dir()))
        if not report:
            print(_say("data.none"))
        for name, status in report:
            print(f"  {name:<40} {status}")
            if status == "ok":
                continue
            if status == unlisted_status():
                advice = _say("data.approve")
            else:
                advice = restore_advice(name)
            data_problems.append(_say("data.problem", name=name, status=status, advice=advice))
    except Exception as exc:
        data_problems.append(_say("data.unchecked", error=repr(exc)))

    print(_say("exercises"))
    try:
        from .exercises import list_exercises

        names = list_exercises()
        print(_say("exercises.registered", count=len(names), names=", ".join(names)))
    except Exception as exc:
        problems.append(_say("exercises.broken", error=repr(exc)))
    return problems, warnings, data_problems


def main(argv: list[str] | None = None) -> int:
    problems, warnings, data_problems = run_checks()
    print()
    for w in warnings:
        print(_say("warning", text=w))
    if problems or data_problems:
        for p in problems + data_problems:
            print(_say("problem", text=p))
        if problems:
            print(_say("fix.setup"))
        if data_problems:
            print(_say("fix.data"))
        return 1
    print(_say("all_good"))
    return 0
