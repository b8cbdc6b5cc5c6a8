"""Translations of the course, kept apart from the English and checked against it.

``python -m course_lib translate status --lang ko``   which cells are translated, missing or stale
``python -m course_lib translate todo --lang ko --only 04``   the English, id and hash of each cell to translate
``python -m course_lib translate todo --lang ko --only messages``   the same for each message to translate
``python -m course_lib translate build --lang ko``    write ``notebooks/ko/NN_....ipynb`` for every notebook
                                                     whose translation is complete and up to date

The English notebooks are the single source of code and of meaning. A translation is stored per
language in ``i18n/<lang>/``:

- ``<notebook stem>.json``: ``{"language": "ko", "notebook": "00_welcome", "cells": {<markdown cell id>:
  {"en_hash": <english_hash of the English cell>, "ko": <the translated markdown>}}}``;
- ``messages.json``: ``{"language": "ko", "messages": {<message key>: {"en_hash": <english_hash of the
  English message>, "ko": <the translated message>}}}`` for text that is not in a notebook (the
  checker's verdicts and hints, figure labels, the doctor's advice).

A message is shown through ``message(key, english)``, at the one place where its module formats its
text. Which messages exist, and their current English, is asked of the modules that own them:
``MESSAGE_SOURCES`` names each one's ``english_messages()`` function (key -> English), imported only when
``translate status``/``todo`` or a test asks (the same lazy routing as ``__main__``'s command table: the
modules above this one use it, it does not use them).

An entry is *stale* when the English it was made from has changed (its ``en_hash`` no longer equals the
hash of the current English) and *missing* when the English has no entry. A built notebook takes every
code cell from the English byte for byte and every markdown cell from the translation, with the cell
ids kept and no outputs. The opening cell's run-time sentence is the one place where the English
changes by itself (``run --record`` writes measured times into it, and into ``README.ko.md``): its two
times are left out of the hash, and the translation carries the placeholders ``{{full}}`` and ``{{fast}}``, which the build fills
with the English notebook's current times in Korean units.

Standard library only; no notebook is executed here.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

LANGS = ("ko",)  # languages with a translation folder
ROOT = Path(__file__).resolve().parent.parent
TIME_PLACEHOLDERS = ("{{full}}", "{{fast}}")  # where a translated header puts the measured times


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")
    return lang


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


RUN_TIME_LINE = "**Run time**"  # the opening cell's line that ``run --record`` rewrites
DURATION = re.compile(r"\b\d+(?:\.\d+)?\s*(?:s|min)\b")  # "53 s", "1.1 min", as the README writes times


def english_hash(text: str) -> str:
    """The hash a translation stores of the English it translates (16 hex digits of SHA-256).

    On the run-time line ("**Run time** on 2 CPU cores: X in full mode, Y in fast mode ...") the measured
    durations are replaced by the placeholders first, so recording new times does not make a
    translation stale; any other change of the text does, down to one character.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str; got {type(text).__name__}")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if RUN_TIME_LINE in line:
            found = iter(TIME_PLACEHOLDERS)
            lines[i] = DURATION.sub(lambda m: next(found, m.group(0)), line)
            break
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


_UNITS_KO = ((re.compile(r"(\d)\s*min\b"), r"\1분"), (re.compile(r"(\d)\s*s\b"), r"\1초"))


def duration_ko(text: str) -> str:
    """A run time as the README writes it ("1.1 min", "30 s") in Korean units ("1.1분", "30초")."""
    for pattern, repl in _UNITS_KO:
        text = pattern.sub(repl, text)
    return text


def header_times_text(english_source: str) -> tuple[str, str] | None:
    """The (full, fast) times on an English cell's run-time line, or None if it has none."""
    for line in english_source.split("\n"):
        if RUN_TIME_LINE in line:
            times = DURATION.findall(line)
            return (times[0], times[1]) if len(times) >= 2 else None
    return None


# --- loading and checking -------------------------------------------------------------------------


def i18n_dir(lang: str, root: Path = ROOT) -> Path:
    return Path(root) / "i18n" / _check_lang(lang)


def load_translation(path: Path) -> dict[str, dict[str, str]]:
    """The ``cells`` (or ``messages``) table of a translation file, validated: id -> {"en_hash", <lang>}.

    ValueError naming the file and the entry when the file does not follow the schema.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    lang = raw.get("language") if isinstance(raw, dict) else None
    if lang not in LANGS:
        raise ValueError(f"{path}: 'language' must be one of {', '.join(LANGS)}; got {lang!r}")
    key = "cells" if "cells" in raw else "messages"
    table = raw.get(key)
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a 'cells' or 'messages' object of entries")
    for entry_id, entry in table.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("en_hash"), str)
                and isinstance(entry.get(lang), str) and entry[lang].strip()):
            raise ValueError(f"{path}: entry {entry_id!r} must be {{\"en_hash\": str, \"{lang}\": non-empty str}}")
    return table


@dataclass(frozen=True)
class Report:
    """What a translation lacks against the current English: ids, with a word on each."""

    name: str  # notebook stem or "messages"
    missing: tuple[str, ...]  # English ids with no translation
    stale: tuple[str, ...]  # ids whose translation was made from different English
    extra: tuple[str, ...]  # translated ids the English no longer has
    total: int = 0  # how many English ids there are

    @property
    def complete(self) -> bool:
        return not (self.missing or self.stale or self.extra)

    def describe(self) -> str:
        if self.complete:
            return f"{self.name}: complete and up to date"
        if len(self.missing) == self.total and not self.extra:
            return f"{self.name}: not translated yet ({self.total} {'messages' if self.name == 'messages' else 'markdown cells'})"
        parts = []
        for word, ids in (("missing", self.missing), ("stale (the English changed)", self.stale),
                          ("no longer in the English", self.extra)):
            if ids:
                parts.append(f"{word}: {', '.join(ids)}")
        return f"{self.name}: " + "; ".join(parts)


def compare(name: str, english: dict[str, str], table: dict[str, dict[str, str]]) -> Report:
    """Check a translation table against the English texts it translates (id -> English text)."""
    missing = tuple(i for i in english if i not in table)
    stale = tuple(i for i in english if i in table and table[i]["en_hash"] != english_hash(english[i]))
    extra = tuple(i for i in table if i not in english)
    return Report(name, missing, stale, extra, len(english))


def markdown_cells(nb: dict) -> dict[str, str]:
    """Markdown cell id -> source of a notebook read as JSON."""
    return {c["id"]: _source(c) for c in nb["cells"] if c["cell_type"] == "markdown"}


def english_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((Path(root) / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def notebook_report(english_path: Path, lang: str, root: Path = ROOT) -> Report:
    """The state of one notebook's translation (every markdown cell missing if there is no file)."""
    english_path = Path(english_path)
    nb = json.loads(english_path.read_text(encoding="utf-8"))
    path = i18n_dir(lang, root) / f"{english_path.stem}.json"
    table = load_translation(path) if path.exists() else {}
    return compare(english_path.stem, markdown_cells(nb), table)


def current_lang() -> str:
    """The learner's language: ``COURSE_LANG`` ("ko"), or "en" when unset or unknown."""
    lang = os.environ.get("COURSE_LANG", "en").strip().lower()
    return lang if lang in LANGS else "en"


_MESSAGES: dict[str, dict[str, dict[str, str]]] = {}


def message(key: str, english: str, lang: str | None = None) -> str:
    """The text to show for message ``key``: its translation into ``lang`` (default: ``current_lang()``)
    when ``i18n/<lang>/messages.json`` has one made from this very ``english``, else ``english``.

    A stale or missing translation never hides the message: the learner reads the English, and
    ``translate status`` / the tests name the key.
    """
    lang = current_lang() if lang is None else lang
    if lang == "en":
        return english
    if lang not in _MESSAGES:
        path = i18n_dir(lang, ROOT) / "messages.json"
        _MESSAGES[lang] = load_translation(path) if path.exists() else {}
    entry = _MESSAGES[lang].get(key)
    return entry[lang] if entry is not None and entry["en_hash"] == english_hash(english) else english


# Who owns which messages: (module, function returning {message key: current English}). Keys begin with the
# owner's prefix (checker., exercise., diagnose., doctor., widgets., grading., stats., registry., data., fast_note.).
MESSAGE_SOURCES = (
    ("course_lib.exercises.texts", "english_messages"),  # check verdicts, every mistake's hint, the hint ladder
    ("course_lib.diagnose.findings", "english_messages"),  # the run doctor's findings: title, evidence, why, try
    ("course_lib.doctor", "english_messages"),  # the environment check and its advice
    ("course_lib.widgets", "english_messages"),  # the words on the sliders and the run doctor's panel
    ("course_lib.grading.report", "english_messages"),  # gradebook headings and feedback (grade --lang ko)
    ("course_lib.grading.headless", "english_messages"),  # README.ko.md's line saying when the times were measured
    ("course_lib.stats", "english_messages"),  # intervals, spreads and the verdict of every comparison
    ("course_lib.exercises.registry", "english_messages"),  # the unknown-exercise error
    ("course_lib.data", "english_messages"),  # the data files' statuses, errors and restore advice
    ("course_lib.core", "fast_note_messages"),  # fast_note's prefix and every notebook's fast-mode sentence
)


def english_messages() -> dict[str, str]:
    """Every message key of the course with its current English, from the modules of ``MESSAGE_SOURCES``."""
    import importlib

    out: dict[str, str] = {}
    for module, function in MESSAGE_SOURCES:
        table = getattr(importlib.import_module(module), function)()
        clash = sorted(set(out) & set(table))
        if clash:
            raise ValueError(f"{module}.{function} repeats message keys of another source: {clash[:5]}")
        out.update(table)
    return out


def messages_report(lang: str, english: dict[str, str] | None = None, root: Path = ROOT) -> Report:
    """The state of ``i18n/<lang>/messages.json`` against the current English of every message."""
    english = english_messages() if english is None else english
    path = i18n_dir(lang, root) / "messages.json"
    return compare("messages", english, load_translation(path) if path.exists() else {})


def message_format(key: str, english: str, lang: str | None = None, **fields) -> str:
    """``message(key, english, lang)`` used as a ``str.format`` template and filled with ``fields``.

    The tables of the checker, the run doctor, doctor, the widgets and the gradebook hold templates such as
    "{failing} of {total} cases differ"; a translation that cannot be filled (a field missing or misspelt)
    is never shown broken: the English is, filled.
    """
    try:
        return message(key, english, lang).format(**fields)
    except (KeyError, IndexError, ValueError):
        return english.format(**fields)


# --- building -------------------------------------------------------------------------------------


def build_notebook(english_path: Path, lang: str, root: Path = ROOT) -> str:
    """The translated notebook's JSON text (as the English files are written: indent 1, UTF-8).

    ValueError naming the cells when the translation is not complete and up to date.
    """
    english_path = Path(english_path)
    report = notebook_report(english_path, lang, root)
    if not report.complete:
        raise ValueError(f"cannot build {lang} {report.describe()}")
    nb = json.loads(english_path.read_text(encoding="utf-8"))
    table = load_translation(i18n_dir(lang, root) / f"{english_path.stem}.json")
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = table[cell["id"]][lang]
            times = header_times_text(_source(cell))
            if times is not None:
                for placeholder, value in zip(TIME_PLACEHOLDERS, times):
                    text = text.replace(placeholder, duration_ko(value))
            cell["source"] = text.splitlines(keepends=True)
        elif cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"]["language"] = lang  # the human language of the text (kernelspec keeps the code's)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def build(lang: str, root: Path = ROOT) -> tuple[list[Path], list[Report]]:
    """Write ``notebooks/<lang>/`` for every complete translation; remove built files whose English is
    gone. Returns (written paths, reports of the notebooks that were not built: an earlier build of a
    notebook whose translation is now stale is left as it was)."""
    root = Path(root)
    out_dir = root / "notebooks" / _check_lang(lang)
    written, skipped = [], []
    for english in english_notebooks(root):
        report = notebook_report(english, lang, root)
        target = out_dir / english.name
        if not report.complete:
            skipped.append(report)
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        text = build_notebook(english, lang, root)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append(target)
    english_names = {p.name for p in english_notebooks(root)}
    for old in sorted(out_dir.glob("*.ipynb")) if out_dir.exists() else []:
        if old.name not in english_names:  # its English is gone (a stale one stays, and the tests name its cells)
            old.unlink()
    return written, skipped


# --- command line ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib translate",
                                     description="Check and build the translated notebooks.")
    parser.add_argument("action", choices=("status", "todo", "build"))
    parser.add_argument("--lang", default="ko", choices=LANGS)
    parser.add_argument("--only", nargs="*", default=None, metavar="NN",
                        help="todo: these notebooks (e.g. 04 05), or 'messages' (or a key prefix: messages:checker.)")
    args = parser.parse_args(argv)
    if args.action == "todo":  # what a translator needs: each missing or stale cell's id, hash and English
        for english in english_notebooks():
            if args.only and english.stem[:2] not in args.only and english.stem not in args.only:
                continue
            report = notebook_report(english, args.lang)
            cells = markdown_cells(json.loads(english.read_text(encoding="utf-8")))
            for cell_id in (*report.missing, *report.stale):
                print(f"=== {english.stem} {cell_id} en_hash={english_hash(cells[cell_id])}"
                      f"{' (stale)' if cell_id in report.stale else ''}\n{cells[cell_id]}\n")
        wanted = [o for o in args.only or ["messages"] if o.split(":")[0] == "messages"]
        if wanted:
            prefixes = tuple(o.partition(":")[2] for o in wanted)
            texts = english_messages()
            report = messages_report(args.lang, texts)
            for key in (*report.missing, *report.stale):
                if key.startswith(prefixes):
                    print(f"=== messages {key} en_hash={english_hash(texts[key])}"
                          f"{' (stale)' if key in report.stale else ''}\n{texts[key]}\n")
        return 0
    if args.action == "status":
        for english in english_notebooks():
            print(notebook_report(english, args.lang).describe())
        report = messages_report(args.lang)
        if report.complete or len(report.missing) == report.total:
            print(report.describe())
        else:  # counts, and the first keys of each kind (todo --only messages lists them all)
            done = report.total - len(report.missing) - len(report.stale)
            parts = [f"{len(ids)} {word} ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})" for word, ids in
                     (("missing", report.missing), ("stale", report.stale), ("no longer in the English", report.extra))
                     if ids]
            print(f"messages: {done} of {report.total} translated and current; " + "; ".join(parts))
        return 0
    written, skipped = build(args.lang)
    for path in written:
        print(f"wrote {path.relative_to(ROOT)}")
    for report in skipped:
        print(f"not built, {report.describe()}", file=sys.stderr)
    return 0
