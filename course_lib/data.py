"""The shipped data files (``data/``) and their manifest.

``data/MANIFEST.json`` lists every shipped file with its size and SHA-256, so ``doctor`` can
tell a missing or damaged file from a good one. Rewrite it with ``python -m course_lib manifest``
after adding or rebuilding a file.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST_NAME = "MANIFEST.json"


def data_dir() -> Path:
    """The data folder: ``COURSE_DATA`` if set, else ``data/`` next to the package."""
    env = os.environ.get("COURSE_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def data_path(name: str) -> Path:
    """Path of a shipped file; a clear FileNotFoundError if it is not there."""
    path = data_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"the course data file {name!r} is missing from {data_dir()}; "
            "run `python -m course_lib doctor` to see what else is missing")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _shipped_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.name != MANIFEST_NAME and not p.name.startswith("."))


def write_manifest(root: Path | None = None) -> dict:
    """Record size and SHA-256 of every file under ``root`` (default: the data folder)."""
    root = Path(root) if root is not None else data_dir()
    files = {p.relative_to(root).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)}
             for p in _shipped_files(root)}
    manifest = {"schema": "course_lib.manifest/1", "files": files}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def _parses(path: Path) -> str | None:
    """None if a JSON / JSON Lines file parses, else the problem."""
    try:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".jsonl":
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        json.loads(line)
                    except ValueError:
                        return f"line {n} is not valid JSON"
    except (ValueError, UnicodeDecodeError) as exc:
        return f"does not parse: {exc}"
    return None


def validate_data(root: Path | None = None) -> list[tuple[str, str]]:
    """Check the shipped files against the manifest.

    Returns:
        (name, status) per file; status is "ok" or what is wrong ("missing", "checksum
        mismatch", "not listed in the manifest", ...). The manifest itself is checked first.
    """
    root = Path(root) if root is not None else data_dir()
    mpath = root / MANIFEST_NAME
    if not mpath.is_file():
        return [(MANIFEST_NAME, "missing")]
    try:
        listed = json.loads(mpath.read_text())["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return [(MANIFEST_NAME, f"unreadable: {exc}")]
    report = []
    for name, entry in sorted(listed.items()):
        path = root / name
        if not path.is_file():
            report.append((name, "missing"))
        elif path.stat().st_size != entry.get("bytes"):
            report.append((name, f"wrong size ({path.stat().st_size} bytes, expected {entry.get('bytes')})"))
        elif sha256(path) != entry.get("sha256"):
            report.append((name, "checksum mismatch (damaged or changed)"))
        else:
            report.append((name, _parses(path) or "ok"))
    for path in _shipped_files(root):
        name = path.relative_to(root).as_posix()
        if name not in listed:
            report.append((name, "not listed in the manifest (run `python -m course_lib manifest`)"))
    return report


def manifest_main(argv: list[str]) -> int:
    manifest = write_manifest()
    print(f"wrote {data_dir() / MANIFEST_NAME}: {len(manifest['files'])} files")
    return 0
