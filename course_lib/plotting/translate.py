"""Figures in the learner's language: every figure's text is translated when it is rendered, in one place.

The ~240 titles, axis labels and legend entries of ``course_lib.plotting`` are written in English, most of
them f-strings with numbers in them ("ε = 0.20 (mean of 3)"). In the Korean edition (``COURSE_LANG=ko``)
the plotting package installs a hook on matplotlib's ``FigureCanvasBase.print_figure`` (the one call that
the notebooks' inline backend, ``savefig`` and ``course_lib.widgets.figure_bundle`` all go through). The
hook walks the figure's text (suptitle, titles, axis labels, legend entries and titles, annotations and
other texts, colorbar labels, tick labels that are words), looks each text up in ``i18n/ko/figures.json``
and renders the Korean; after rendering it puts the English back, so the figure object stays English.

A text is looked up by its *template*: the English with each number replaced by a numbered placeholder,
``"ε = 0.20 (mean of 3)"`` -> ``"ε = {0} (mean of {1})"``. The Korean template uses the same placeholders
(in any order) and gets the very same number strings back, unchanged. ``figures.json`` follows the schema
of ``course_lib.i18n`` (``{"language": "ko", "messages": {<template>: {"en_hash": english_hash(template),
"ko": <Korean template>}}}``). Mathematics (``$...$``), code identifiers and units stay as they are. A text
without a translation stays English: it is never hidden.

Recording: with ``COURSE_FIGURES_RECORD=<file>`` every template rendered is appended to ``<file>`` (one
JSON object per line, with an example of the English), so running the notebooks lists the figure text
that exists; ``python -m course_lib.plotting.translate todo --record <file>`` prints what is still to
translate.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..i18n import current_lang, english_hash, i18n_dir, load_translation

RECORD_ENV = "COURSE_FIGURES_RECORD"  # a file to append every rendered template to
FILE_NAME = "figures.json"

# A number as the figures write it: 3, -0.25, −1 (the typographic minus), +2, 12,000, 1e-3, 45.2 (of 45.2%),
# both of 47+38. Not a digit inside a word or an identifier (k3, CartPole-v1, GPT-2, $x_{t+1}$ keep theirs).
_DIGITS = r"\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][+\-−]?\d+)?"
NUMBER = re.compile(r"(?<![\w.])[+\-−]" + _DIGITS + r"|(?<![\w.])(?<![A-Za-z_][+\-−])" + _DIGITS)
QUOTED = r"(?<!\w)'[^'\s]+'(?!\w)"  # a quoted value without spaces, e.g. a prompt: state: '47+38='
VALUE = re.compile(QUOTED + "|" + NUMBER.pattern)  # what a template replaces by placeholders
PLACEHOLDER = re.compile(r"\{(\d+)\}")
MATH = re.compile(r"\$[^$]*\$")
WORD = re.compile(r"[A-Za-z]{2,}")  # a text worth translating has a word outside its mathematics


def to_template(text: str) -> tuple[str, list[str]]:
    """The template of an English text and its numbers, as written: ("ε = {0} (mean of {1})", ["0.20", "3"]).
    A quoted value without spaces ('47+38=') is kept whole, like a number.

    A number always turns into a placeholder, so a literal "{digits}" never survives in a template
    (``$x^{2}$`` becomes ``$x^{{0}}$``, which ``fill`` turns back into ``$x^{2}$``).
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str; got {type(text).__name__}")
    numbers: list[str] = []

    def number(match: re.Match) -> str:
        numbers.append(match.group(0))
        return "{" + str(len(numbers) - 1) + "}"

    return VALUE.sub(number, text), numbers


def fill(template: str, numbers: list[str]) -> str:
    """Put the numbers back into a template (English or translated) at their placeholders."""
    def number(match: re.Match) -> str:
        i = int(match.group(1))
        if i >= len(numbers):
            raise ValueError(f"template {template!r} has placeholder {{{i}}} but only {len(numbers)} numbers")
        return numbers[i]

    return PLACEHOLDER.sub(number, template)


def placeholders(template: str) -> list[int]:
    """The placeholder numbers a template uses, sorted (with repeats)."""
    return sorted(int(i) for i in PLACEHOLDER.findall(template))


def worth_translating(template: str) -> bool:
    """Whether a text has words to translate (not only numbers, symbols and mathematics)."""
    return bool(WORD.search(MATH.sub(" ", template)))


# --- the table ------------------------------------------------------------------------------------


def figures_path(lang: str = "ko") -> Path:
    return i18n_dir(lang) / FILE_NAME


@functools.lru_cache(maxsize=None)
def _table(path: str, mtime: float) -> dict[str, str]:
    """template -> translated template, for the entries whose hash is current and placeholders match."""
    lang = json.loads(Path(path).read_text(encoding="utf-8"))["language"]
    return {template: entry[lang] for template, entry in load_translation(Path(path)).items()
            if entry["en_hash"] == english_hash(template)
            and placeholders(entry[lang]) == list(range(len(placeholders(template))))
            == placeholders(template)}


def table(lang: str = "ko") -> dict[str, str]:
    """The usable translations of figure text into ``lang`` (empty when the file is absent)."""
    path = figures_path(lang)
    if not path.exists():
        return {}
    return _table(str(path), path.stat().st_mtime)


def translate_text(text: str, translations: dict[str, str]) -> str:
    """``text`` in the translation's language if its template is translated, else ``text`` unchanged.
    A text of several lines without a translation of the whole is translated line by line (a title
    above lines of data keeps the data)."""
    template, numbers = to_template(text)
    korean = translations.get(template)
    if korean is not None:
        return fill(korean, numbers)
    if "\n" in text:
        return "\n".join(translate_text(line, translations) for line in text.split("\n"))
    return text


def templates_shown(text: str, translations: dict[str, str]) -> list[str]:
    """The templates a text is looked up by and worth translating: the whole, or its lines when the whole
    has several and no translation (what a recording lists)."""
    template, _ = to_template(text)
    if "\n" in text and template not in translations:
        return [t for line in text.split("\n") for t in templates_shown(line, translations)]
    return [template] if worth_translating(template) else []


# --- walking a figure -----------------------------------------------------------------------------


def _legend_texts(legend) -> list:
    return [] if legend is None else [*legend.get_texts(), legend.get_title()]


def figure_texts(fig) -> list:
    """Every Text artist of a figure a reader reads as words: suptitle and sup-labels, figure texts and
    legends, and per axes (colorbars and insets included) the three titles, the axis labels, the texts
    and annotations and the legend. Tick labels are not here (see ``_tick_labels``)."""
    texts = [getattr(fig, name, None) for name in ("_suptitle", "_supxlabel", "_supylabel")]
    texts += list(fig.texts)
    for legend in fig.legends:
        texts += _legend_texts(legend)
    axes = list(fig.axes)
    while axes:
        ax = axes.pop()
        axes += list(getattr(ax, "child_axes", []))
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        texts += _legend_texts(ax.get_legend())
    for sub in getattr(fig, "subfigs", []):
        texts += figure_texts(sub)
    unique = {id(t): t for t in texts if t is not None}  # the suptitle is in fig.texts too
    return list(unique.values())


def _tick_labels(fig) -> list:
    """The fixed tick labels, the ones that may be words: each as a mutable container of label strings,
    the ``{location: label}`` dict of ``set_xticks(ticks, labels)`` or the list of a FixedFormatter."""
    import functools as ft

    from matplotlib.ticker import FixedFormatter, FuncFormatter

    containers = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, FixedFormatter):
                formatter.seq = list(formatter.seq)
                containers.append(formatter.seq)
            elif (isinstance(formatter, FuncFormatter) and isinstance(formatter.func, ft.partial)
                  and formatter.func.args and isinstance(formatter.func.args[0], dict)):
                containers.append(formatter.func.args[0])  # Axis._format_with_dict's table
    return containers


def _record(templates: list[tuple[str, str]]) -> None:
    path = os.environ.get(RECORD_ENV, "").strip()
    if not path or not templates:
        return
    with open(path, "a", encoding="utf-8") as f:
        for template, example in templates:
            f.write(json.dumps({"template": template, "example": example}, ensure_ascii=False) + "\n")


FONTS = {"ko": "NanumGothic"}  # the font each language's text needs (plotting.korean_font registers it)


def _font_family(lang: str) -> list[str]:
    """The families to put first on a translated text, if its font is registered with matplotlib."""
    from matplotlib import font_manager

    name = FONTS.get(lang)
    return [name] if name and any(f.name == name for f in font_manager.fontManager.ttflist) else []


_ACTIVE = threading.local()  # figures being translated now (print_figure may nest)


@contextmanager
def translated(fig) -> Iterator[None]:
    """Within the block, the figure's text is in the learner's language (and recorded, if asked);
    afterwards it is the English again. Does nothing in the English edition without recording."""
    lang, recording = current_lang(), bool(os.environ.get(RECORD_ENV, "").strip())
    active = getattr(_ACTIVE, "figures", None)
    if active is None:
        active = _ACTIVE.figures = set()
    if fig is None or id(fig) in active or (lang == "en" and not recording):
        yield
        return
    translations = table(lang) if lang != "en" else {}
    family = _font_family(lang)
    changed, seen = [], []
    for text in figure_texts(fig):
        english = text.get_text()
        if not english.strip():
            continue
        seen += [(template, english) for template in templates_shown(english, translations)]
        korean = translate_text(english, translations)
        if korean != english:
            changed.append((text, english, text.get_fontfamily()))
            text.set_text(korean)
            if family and family[0] not in text.get_fontfamily():  # drawn outside the house style
                text.set_fontfamily([*family, *text.get_fontfamily()])
    for labels in _tick_labels(fig):
        for key in (range(len(labels)) if isinstance(labels, list) else list(labels)):
            english = labels[key]
            if not isinstance(english, str) or not english.strip():
                continue
            seen += [(template, english) for template in templates_shown(english, translations)]
            korean = translate_text(english, translations)
            if korean != english:
                changed.append((labels, key, english))
                labels[key] = korean
    _record(seen)
    active.add(id(fig))
    try:
        yield
    finally:
        active.discard(id(fig))
        for artist, *where in changed:
            if isinstance(artist, (list, dict)):  # a tick label: (container, key, english)
                artist[where[0]] = where[1]
            else:  # a Text: (text, english, its font family)
                artist.set_text(where[0])
                artist.set_fontfamily(where[1])


def install() -> None:
    """Translate every figure when it is rendered (idempotent: a second call changes nothing)."""
    from matplotlib.backend_bases import FigureCanvasBase

    original = FigureCanvasBase.print_figure
    if getattr(original, "_course_translates", False):
        return

    @functools.wraps(original)
    def print_figure(self, *args, **kwargs):
        with translated(getattr(self, "figure", None)):
            return original(self, *args, **kwargs)

    print_figure._course_translates = True
    print_figure._course_original = original
    FigureCanvasBase.print_figure = print_figure


def uninstall() -> None:
    """Remove the hook (tests use it to compare with matplotlib untouched)."""
    from matplotlib.backend_bases import FigureCanvasBase

    current = FigureCanvasBase.print_figure
    if getattr(current, "_course_translates", False):
        FigureCanvasBase.print_figure = current._course_original


def installed() -> bool:
    from matplotlib.backend_bases import FigureCanvasBase

    return bool(getattr(FigureCanvasBase.print_figure, "_course_translates", False))


# --- what is left to translate --------------------------------------------------------------------


def recorded(path: Path) -> dict[str, str]:
    """Template -> one English example, from a recording (first seen first)."""
    out: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            out.setdefault(entry["template"], entry["example"])
    return out


def problems(lang: str = "ko") -> list[str]:
    """What is wrong in ``figures.json``: a stale hash, placeholders that differ from the English template's."""
    path = figures_path(lang)
    if not path.exists():
        return []
    out = []
    for template, entry in load_translation(path).items():
        if entry["en_hash"] != english_hash(template):
            out.append(f"{template!r}: en_hash {entry['en_hash']} is not english_hash(template) "
                       f"{english_hash(template)}")
        if placeholders(entry[lang]) != placeholders(template) or placeholders(template) != list(
                range(len(placeholders(template)))):
            out.append(f"{template!r}: the {lang} template's placeholders {placeholders(entry[lang])} differ "
                       f"from the English's {placeholders(template)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.plotting.translate",
        description="Figure text in translation: what is translated, what is left, what is wrong.")
    parser.add_argument("action", choices=("status", "todo"))
    parser.add_argument("--lang", default="ko")
    parser.add_argument("--record", type=Path, nargs="*", default=[],
                        help=f"recordings written with {RECORD_ENV}=FILE (todo lists their untranslated templates)")
    args = parser.parse_args(argv)
    path = figures_path(args.lang)
    translated_now = load_translation(path) if path.exists() else {}
    seen: dict[str, str] = {}
    for record in args.record:
        for template, example in recorded(record).items():
            seen.setdefault(template, example)
    usable, todo = table(args.lang), {}
    for example in seen.values():  # looked up again: a recording made before a translation was added
        for template in templates_shown(example, usable):
            if template not in usable:
                todo.setdefault(template, example)
    if args.action == "todo":
        for template, example in todo.items():
            print(f"=== en_hash={english_hash(template)}\n{template}\n(e.g. {example!r})\n")
        return 0
    print(f"figures: {len(translated_now)} templates translated in {path.relative_to(path.parents[2])}")
    if args.record:
        print(f"recorded: {len(seen)} templates, {len(todo)} with words still untranslated")
    bad = problems(args.lang)
    for line in bad:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
