"""The Korean instructors' guide (docs/ko/instructors.md) stays in step with the English by construction.

The English guide (docs/instructors.md) is split into sections: the opening (before the first ``## ``
heading) and each ``## `` section of the hand-written part, up to "## The exercises (generated)". The
Korean guide has one section per English section, in the same order, each opened by a comment
``<!-- en: <english_hash of the English section, heading included> -->``. A section whose English changed
(its hash no longer equals the stored one) or that has no Korean section fails here, named, until its
translation is updated. Each Korean section must keep its English section's code spans, fenced blocks
(comments aside, which may be translated), paths, options and numbers. The generated exercise catalogue
is not translated: the Korean guide closes with a section (comment ``<!-- en: generated -->``) that points
to the English catalogue.

To update a section: ``python tests/test_i18n_guide.py`` prints each English section's heading and hash.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from course_lib.i18n import english_hash
from test_i18n import SPELLED_OUT, _korean_glossary

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = ROOT / "docs" / "instructors.md"
KOREAN = ROOT / "docs" / "ko" / "instructors.md"
GENERATED_HEADING = "## The exercises (generated)"
GENERATED_KEY = "generated"
HANGUL = "가-힣"

COMMENT = re.compile(r"^<!-- en: (\S+) -->$")
FENCE = re.compile(r"^\s*```")
FENCED = re.compile(r"^[ \t]*```[^\n]*\n.*?^[ \t]*```[ \t]*$", re.S | re.M)
CODE = re.compile(r"`[^`]+`")  # a code span may run over a line break
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")
PATH = re.compile(r"[A-Za-z0-9_.<>-]*[A-Za-z0-9_<>-](?:/[A-Za-z0-9_.<>#-]*)+"
                  r"|[A-Za-z0-9_<>-]+(?:\.[A-Za-z0-9_<>-]+)*\.(?:py|md|json|csv|ipynb|io)(?![A-Za-z0-9_])")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
MONTHS = {m: str(i) for i, m in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
DATE_EN = re.compile(r"\b(\d{1,2}) (" + "|".join(MONTHS) + r") (\d{4})\b")


def _lines_outside_fences(text: str):
    """(index, line, inside a fenced block) for each line."""
    inside = False
    for i, line in enumerate(text.split("\n")):
        if FENCE.match(line):
            inside = not inside
            yield i, line, True
        else:
            yield i, line, inside


def english_sections(text: str) -> list[tuple[str, str]]:
    """(heading, section text) of the hand-written part: the opening, then each ``## `` section, heading
    included, trailing blank lines dropped. The generated catalogue is left out."""
    lines = text.split("\n")
    starts, end = [0], len(lines)
    for i, line, fenced in _lines_outside_fences(text):
        if fenced or not line.startswith("## "):
            continue
        if line.strip() == GENERATED_HEADING:
            end = i
            break
        if i > 0:
            starts.append(i)
    else:
        raise AssertionError(f"{ENGLISH.name} has no {GENERATED_HEADING!r} heading")
    bounds = starts + [end]
    sections = []
    for a, b in zip(bounds, bounds[1:]):
        body = "\n".join(lines[a:b]).rstrip("\n")
        sections.append((lines[a].lstrip("# ").strip(), body))
    return sections


def korean_sections(text: str) -> list[tuple[str, str]]:
    """(stored key, section text) for each ``<!-- en: KEY -->`` comment of the Korean guide."""
    lines = text.split("\n")
    marks = [(i, m.group(1)) for i, line, fenced in _lines_outside_fences(text)
             if not fenced and (m := COMMENT.match(line))]
    bounds = [i for i, _ in marks] + [len(lines)]
    return [(key, "\n".join(lines[a + 1:b]).strip("\n")) for (a, key), b in zip(marks, bounds[1:])]


def _fenced(text: str) -> list[str]:
    """Fenced blocks with comments removed (the Korean may translate them), indentation normalised."""
    blocks = []
    for block in FENCED.findall(text):
        kept = []
        for line in block.split("\n"):
            line = re.sub(r"(^|\s)#\s.*$", "", line).rstrip()
            if line.strip():
                kept.append(line.strip())
        blocks.append("\n".join(kept))
    return blocks


def _prose(text: str) -> str:
    return CODE.sub(" ", FENCED.sub(" ", text))


def _numbers(prose: str) -> Counter:
    prose = DATE_EN.sub(lambda m: f"{m.group(3)} {MONTHS[m.group(2)]} {m.group(1)}", prose)
    return Counter(set(NUMBER.findall(prose)))


def kept_items(text: str) -> dict[str, set[str]]:
    prose = _prose(text)
    return {
        "code span": {re.sub(r"\s+", " ", c) for c in CODE.findall(FENCED.sub(" ", text))},
        "fenced block": set(_fenced(text)),
        "path": set(PATH.findall(prose)),
        "option": set(OPTION.findall(prose)),
        "number": set(_numbers(prose)),
    }


def _pairs():
    english = english_sections(ENGLISH.read_text(encoding="utf-8"))
    korean = korean_sections(KOREAN.read_text(encoding="utf-8"))
    return english, korean


def test_every_english_section_has_a_current_korean_translation():
    english, korean = _pairs()
    stored = [key for key, _ in korean if key != GENERATED_KEY]
    problems = []
    for n, (heading, text) in enumerate(english):
        current = english_hash(text)
        if n >= len(stored):
            problems.append(f"section {n} {heading!r} has no Korean section (its English hash is {current})")
        elif stored[n] != current:
            known = {english_hash(t) for _, t in english}
            state = "is out of order or missing" if stored[n] in known else "is stale: its English changed"
            problems.append(f"section {n} {heading!r} {state} (stored {stored[n]}, current English {current})")
    if len(stored) > len(english):
        problems.append(f"the Korean guide has {len(stored) - len(english)} section(s) more than the English")
    assert not problems, "docs/ko/instructors.md: " + "; ".join(problems)


def test_korean_sections_keep_commands_options_paths_and_numbers():
    english, korean = _pairs()
    translated = [text for key, text in korean if key != GENERATED_KEY]
    problems = []
    for (heading, en), ko in zip(english, translated):
        en_items, ko_items = kept_items(en), kept_items(ko)
        for kind in en_items:
            lost = sorted(en_items[kind] - ko_items[kind])
            if lost:
                problems.append(f"{heading!r}: the Korean lacks the English's {kind}(s) {lost}")
        # the Korean may write as a digit what the English spells out ("non-zero": 0이 아닌), as in the notebooks
        added = sorted(n for n in ko_items["number"] - en_items["number"] if n not in SPELLED_OUT)
        if added:
            problems.append(f"{heading!r}: numbers in the Korean that the English does not have: {added}")
        if not re.search(f"[{HANGUL}]", ko):
            problems.append(f"{heading!r}: the Korean section has no Korean text")
    assert not problems, "docs/ko/instructors.md: " + "; ".join(problems)


def test_the_generated_catalogue_is_pointed_to_not_translated():
    text = ENGLISH.read_text(encoding="utf-8")
    slug = re.sub(r"[^\w\- ]", "", GENERATED_HEADING[3:].lower()).replace(" ", "-")
    assert GENERATED_HEADING in text and slug == "the-exercises-generated", f"{ENGLISH.name}: catalogue heading moved"
    korean = dict(korean_sections(KOREAN.read_text(encoding="utf-8")))
    assert list(korean)[-1] == GENERATED_KEY, "the catalogue's section must close the Korean guide"
    section = korean[GENERATED_KEY]
    assert f"../instructors.md#{slug}" in section, f"the catalogue's section must link ../instructors.md#{slug}"
    assert "i18n/ko/messages.json" in section, "the catalogue's section must say the hints are in i18n/ko/messages.json"
    assert len(section) < 2000, "the catalogue is generated in English; the Korean guide only points to it"


def test_korean_guide_uses_the_glossary_forms():
    """No form that docs/ko/glossary.md rules out appears in the Korean guide."""
    text = KOREAN.read_text(encoding="utf-8")
    prose = _prose(text)
    used = [f"{alt!r} (the glossary's {ko!r} for {term})" for term, (ko, alts) in _korean_glossary().items()
            for alt in alts if re.search(rf"(?<![{HANGUL}]){re.escape(alt)}", prose)]
    assert not used, "docs/ko/instructors.md uses: " + "; ".join(used)


def test_emphasis_renders_before_korean_particles():
    """``**`--jobs 2`**로`` does not render in CommonMark (see tests/test_i18n.py): no asterisks left over."""
    from markdown_it import MarkdownIt

    html = MarkdownIt().render(KOREAN.read_text(encoding="utf-8"))
    html = re.sub(r"<code[^>]*>.*?</code>", "", html, flags=re.S)
    left = re.findall(r".{0,20}\*\*.{0,20}", html)
    assert not left, f"docs/ko/instructors.md: emphasis not rendered (put a space after the closing **): {left}"


def test_a_changed_english_section_is_named():
    english = "# Guide\n\nintro\n\n## One\n\ntext 1\n\n## Two\n\ntext `--x` 2\n\n" + GENERATED_HEADING + "\n\ncat\n"
    sections = english_sections(english)
    assert [h for h, _ in sections] == ["Guide", "One", "Two"]
    assert sections[2][1] == "## Two\n\ntext `--x` 2"
    changed = english_sections(english.replace("text 1", "text 1, changed"))
    assert english_hash(changed[1][1]) != english_hash(sections[1][1])
    assert english_hash(changed[2][1]) == english_hash(sections[2][1])
    items = kept_items("run `--jobs 2` on 30 Nov 2026 at 5 % in course_lib/isolation.py")
    assert items["code span"] == {"`--jobs 2`"} and items["path"] == {"course_lib/isolation.py"}
    assert items["number"] == kept_items("2026년 11월 30일, 5 %에서")["number"] == {"2026", "11", "30", "5"}


if __name__ == "__main__":
    for heading, text in english_sections(ENGLISH.read_text(encoding="utf-8")):
        print(english_hash(text), heading)
