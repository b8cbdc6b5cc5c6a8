"""The shipped data files (``data/``) and their manifest.

``data/MANIFEST.json`` lists every shipped file with its size and SHA-256. Every loader of a
shipped file goes through ``verified_path`` (or ``load_json`` / ``load_jsonl``), which refuses a
missing, changed or damaged file with a message saying how to restore it; ``doctor`` checks them
all. After rebuilding a file on purpose, re-approve it with ``python -m course_lib manifest
--force`` (new files are added without ``--force``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .i18n import message_format

MANIFEST_NAME = "MANIFEST.json"

# The command that rebuilds each folder of data/ (the first matching prefix wins).
REBUILD = {
    "lm/": "python -m course_lib train-lm",
    "ppo/": "python -m course_lib sweep ppo",
    "grpo/": "python -m course_lib sweep grpo",
    "rm/": "python -m course_lib train-rm",
    "pitfalls/": "python -m course_lib sweep pitfalls",
    "rlhf/": "python -m course_lib sweep rlhf",
}


# The words of every status and error this module reports (key -> English template), shown in the learner's
# language by ``course_lib.i18n.message_format`` and listed by ``english_messages`` for ``translate status``.
_TEXTS = {
    "data.restore": "restore the shipped copy with `git checkout -- data/` (from the course folder)",
    "data.restore.rebuild": ", or rebuild it with `{command}` and then `python -m course_lib manifest --force`",
    "data.file_missing": "the course data file {name} is missing from {folder}; {advice}. "
                         "`python -m course_lib doctor` shows what else is missing",
    "data.manifest.missing": "{path} is missing, so the data files cannot be verified; "
                             "restore it with `git checkout -- data/`",
    "data.manifest.not_json": "{path} is not valid JSON (line {line}, column {column}: {msg}); "
                              "restore it with `git checkout -- data/`",
    "data.manifest.unreadable": "{path} is unreadable ({error}); restore it with `git checkout -- data/`",
    "data.problem.not_utf8": "is not UTF-8 text (byte {byte})",
    "data.problem.not_json": "is not valid JSON at line {line}, column {column} ({msg})",
    "data.problem.suffix": "; it {problem}",
    "data.unlisted": "data/{name} is not listed in data/{manifest}, so it cannot be verified; if you built it "
                     "yourself, approve it with `python -m course_lib manifest`, otherwise {advice}",
    "data.damaged": "data/{name} is damaged or was changed ({what}); {advice}",
    "data.damaged.size": "its size is {size} bytes, the manifest says {expected}",
    "data.damaged.sha": "its SHA-256 differs from the manifest's",
    "data.not_json": "data/{name} is not valid JSON at line {line}, column {column} ({msg}); {advice}",
    "data.status.missing": "missing",
    "data.status.unreadable": "unreadable: {error}",
    "data.status.wrong_size": "wrong size ({size} bytes, expected {expected})",
    "data.status.checksum": "checksum mismatch (damaged or changed)",
    "data.status.problem": "it {problem}",
    "data.status.unlisted": "not listed in the manifest (run `python -m course_lib manifest`)",
}
STATUS_OK = "ok"  # the status of a good file, in every language (``validate_data``)


def english_messages() -> dict[str, str]:
    """The message keys of this module with their current English (see ``course_lib.i18n.MESSAGE_SOURCES``)."""
    return dict(_TEXTS)


def _say(key: str, **fields) -> str:
    return message_format(key, _TEXTS[key], **fields)


def unlisted_status() -> str:
    """The status ``validate_data`` gives a file the manifest does not list (in the learner's language)."""
    return _say("data.status.unlisted")


class DataError(ValueError):
    """A shipped data file is damaged, changed, unlisted or unreadable (the message says how to restore it)."""


class DataNotWritable(OSError):
    """The data folder (or a file in it) cannot be written; the message says which and why."""


def data_dir() -> Path:
    """The data folder: ``COURSE_DATA`` if set, else ``data/`` next to the package."""
    env = os.environ.get("COURSE_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def rebuild_command(name: str) -> str | None:
    """The command that rebuilds the shipped file ``name`` (e.g. ``"lm/sft.pt"``), if there is one."""
    for prefix, command in REBUILD.items():
        if name.startswith(prefix):
            return command
    return None


def restore_advice(name: str) -> str:
    """How to get a good copy of ``name`` back: from git, or by rebuilding it."""
    advice = _say("data.restore")
    command = rebuild_command(name)
    if command:
        advice += _say("data.restore.rebuild", command=command)
    return advice


def data_path(name: str) -> Path:
    """Path of a shipped file; a clear FileNotFoundError if it is not there (not verified: see
    ``verified_path``)."""
    path = data_dir() / name
    if not path.is_file():
        raise FileNotFoundError(_say("data.file_missing", name=repr(name), folder=data_dir(),
                                     advice=restore_advice(name)))
    return path


# SHA-256 per (path, device, inode, size, mtime, ctime): a file is hashed once per change, so
# verifying on every load costs a stat() after the first time. The status-change time (ctime) is in
# the key because a program can write a file and set its modification time back (os.utime), but the
# kernel moves ctime on every write and no call sets it (a rewrite within the same tick of the kernel's
# clock, a few milliseconds, would keep it). A file modified in the last two seconds is not cached,
# since a second write within the file system's timestamp resolution would keep its mtime (the
# "racily clean" case git also guards against).
_HASHES: dict[tuple, str] = {}


def sha256(path: Path) -> str:
    """The SHA-256 of a file, cached per (path, device, inode, size, mtime, ctime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if time.time_ns() - st.st_mtime_ns < 2_000_000_000:
            return h.hexdigest()
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def read_manifest(root: Path | None = None) -> dict:
    """The ``files`` table of ``MANIFEST.json`` (name -> {"bytes", "sha256"}); a DataError if it
    is missing or unreadable."""
    root = Path(root) if root is not None else data_dir()
    mpath = root / MANIFEST_NAME
    if not mpath.is_file():
        raise DataError(_say("data.manifest.missing", path=mpath))
    try:
        files = json.loads(mpath.read_text(encoding="utf-8"))["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not a table")
        for name, entry in files.items():
            if not (isinstance(entry, dict) and type(entry.get("bytes")) is int
                    and isinstance(entry.get("sha256"), str)):
                raise TypeError(f"the entry of {name!r} is not {{'bytes': int, 'sha256': str}}: {str(entry)[:80]}")
    except json.JSONDecodeError as exc:
        raise DataError(_say("data.manifest.not_json", path=mpath, line=exc.lineno, column=exc.colno,
                             msg=exc.msg)) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(_say("data.manifest.unreadable", path=mpath, error=repr(exc))) from None
    return files


def _parse_problem(path: Path) -> str | None:
    """None if a .json / .jsonl file parses (other files: None), else where it breaks."""
    if path.suffix not in (".json", ".jsonl"):
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return _say("data.problem.not_utf8", byte=exc.start)
    if path.suffix == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            return _say("data.problem.not_json", line=exc.lineno, column=exc.colno, msg=exc.msg)
    elif path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    json.loads(line)
                except json.JSONDecodeError as exc:
                    return _say("data.problem.not_json", line=n, column=exc.colno, msg=exc.msg)
    return None


def verified_path(name: str) -> Path:
    """Path of the shipped file ``name`` (relative to ``data/``, e.g. ``"lm/sft.pt"``) after
    checking it against ``MANIFEST.json``.

    Raises:
        FileNotFoundError: the file is missing.
        DataError (a ValueError): it is not listed in the manifest, or its size or SHA-256 differs
            from the manifest's (a JSON file that no longer parses is named with its line). The
            message says how to restore it.
    """
    path = data_path(name)
    entry = read_manifest().get(name)
    if not isinstance(entry, dict):
        raise DataError(_say("data.unlisted", name=name, manifest=MANIFEST_NAME, advice=restore_advice(name)))
    size = path.stat().st_size
    if size != entry.get("bytes") or sha256(path) != entry.get("sha256"):
        what = (_say("data.damaged.size", size=size, expected=entry.get("bytes")) if size != entry.get("bytes")
                else _say("data.damaged.sha"))
        problem = _parse_problem(path)
        if problem:
            what += _say("data.problem.suffix", problem=problem)
        raise DataError(_say("data.damaged", name=name, what=what, advice=restore_advice(name)))
    return path


def load_json(name: str) -> Any:
    """The parsed content of the shipped JSON file ``name``, verified first (``verified_path``)."""
    path = verified_path(name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:  # only if a broken file was approved into the manifest
        raise DataError(_say("data.not_json", name=name, line=exc.lineno, column=exc.colno, msg=exc.msg,
                             advice=restore_advice(name))) from None


def load_jsonl(name: str) -> list:
    """The rows of the shipped JSON Lines file ``name``, verified first (``verified_path``)."""
    path = verified_path(name)
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(_say("data.not_json", name=name, line=n, column=exc.colno, msg=exc.msg,
                                     advice=restore_advice(name))) from None
    return rows


def writable_dir(sub: str = "") -> Path:
    """The folder ``data/<sub>``, created if needed, after checking that files can be written
    there; a DataNotWritable error saying so otherwise (e.g. a read-only course folder)."""
    folder = data_dir() / sub if sub else data_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise DataNotWritable(
            f"cannot write to {folder}: {exc.strerror or exc}. The course's data folder is read-only "
            "here; make it writable (or set COURSE_DATA to a writable copy of data/) and run the "
            "command again") from None
    return folder


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


def validate_data(root: Path | None = None) -> list[tuple[str, str]]:
    """Check the shipped files against the manifest.

    Returns:
        (name, status) per file; status is "ok" or what is wrong ("missing", "checksum
        mismatch", "not listed in the manifest", ...). The manifest itself is checked first.
    """
    root = Path(root) if root is not None else data_dir()
    if not (root / MANIFEST_NAME).is_file():
        return [(MANIFEST_NAME, _say("data.status.missing"))]
    try:
        listed = read_manifest(root)
    except DataError as exc:
        return [(MANIFEST_NAME, _say("data.status.unreadable", error=exc))]
    report = []
    for name, entry in sorted(listed.items()):
        path = root / name
        if not path.is_file():
            report.append((name, _say("data.status.missing")))
        elif path.stat().st_size != entry.get("bytes"):
            problem = _parse_problem(path)
            report.append((name, _say("data.status.wrong_size", size=path.stat().st_size, expected=entry.get("bytes"))
                           + (_say("data.problem.suffix", problem=problem) if problem else "")))
        elif sha256(path) != entry.get("sha256"):
            problem = _parse_problem(path)
            report.append((name, _say("data.status.checksum")
                           + (_say("data.problem.suffix", problem=problem) if problem else "")))
        else:
            problem = _parse_problem(path)
            report.append((name, _say("data.status.problem", problem=problem) if problem else STATUS_OK))
    for path in _shipped_files(root):
        name = path.relative_to(root).as_posix()
        if name not in listed:
            report.append((name, unlisted_status()))
    return report


def _approval_problems(root: Path, force: bool) -> tuple[list[str], list[str]]:
    """(refusals, notes) for re-approving every file under ``root``."""
    try:
        listed = read_manifest(root)
    except DataError:
        listed = {}  # no (readable) manifest yet: everything is new
    refusals, notes = [], []
    present = {p.relative_to(root).as_posix(): p for p in _shipped_files(root)}
    for name, path in present.items():
        problem = _parse_problem(path)
        if problem:
            refusals.append(f"data/{name} {problem}; it cannot be approved ({restore_advice(name)})")
            continue
        entry = listed.get(name)
        if entry is None:
            notes.append(f"added data/{name}")
        elif entry.get("sha256") != sha256(path):
            line = f"data/{name} changed since the manifest approved it (its SHA-256 differs)"
            if force:
                notes.append(f"re-approved {line[5:]}")
            else:
                refusals.append(f"{line}: if you rebuilt it on purpose, approve it with "
                                f"`python -m course_lib manifest --force`; otherwise {restore_advice(name)}")
    for name in sorted(set(listed) - set(present)):
        if force:
            notes.append(f"dropped data/{name} (no longer present)")
        else:
            refusals.append(f"data/{name} is listed but missing: {restore_advice(name)}, or drop it from "
                            "the manifest with `python -m course_lib manifest --force`")
    return refusals, notes


def manifest_main(argv: list[str] | None = None) -> int:
    """``python -m course_lib manifest [--force]``: approve the current data files.

    New files are added; a file whose checksum changed (or a listed file that is gone) is
    re-approved only with ``--force``, since a damaged file would otherwise become "verified". A
    JSON file that does not parse is never approved.
    """
    parser = argparse.ArgumentParser(prog="python -m course_lib manifest", description=manifest_main.__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true",
                        help="re-approve files whose checksum changed (after rebuilding them on purpose)")
    args = parser.parse_args([] if argv is None else argv)
    root = data_dir()
    refusals, notes = _approval_problems(root, args.force)
    if refusals:
        for r in refusals:
            print(f"refused: {r}", file=sys.stderr)
        print(f"{root / MANIFEST_NAME} was not changed", file=sys.stderr)
        return 1
    try:
        writable_dir()
        manifest = write_manifest(root)
    except (DataNotWritable, OSError) as exc:
        print(f"cannot rewrite {root / MANIFEST_NAME}: {exc}", file=sys.stderr)
        return 1
    for n in notes:
        print(n)
    print(f"wrote {root / MANIFEST_NAME}: {len(manifest['files'])} files")
    return 0
