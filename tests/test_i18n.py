"""The Korean edition stays in step with the English: hashes, built notebooks, glossary, README, figures.

Every markdown cell of a translated notebook must carry the hash of the current English cell (an edited
English cell fails here, naming the notebook and the cell, until its translation is updated); the built
notebooks in ``notebooks/ko`` are exactly what ``python -m course_lib translate build --lang ko`` writes,
so their code cells are the English ones byte for byte. The Korean notebooks themselves run top to
bottom in fast mode under nbval with the rest of ``notebooks/`` (the README's test command).
"""
from __future__ import annotations

import json
import re
import shutil
import warnings
from collections import Counter
from pathlib import Path

import pytest

from course_lib import i18n

ROOT = Path(__file__).resolve().parent.parent
LANG = "ko"
TRANSLATED = sorted(p.stem for p in (ROOT / "i18n" / LANG).glob("[0-9][0-9]_*.json"))
HANGUL = "가-힣"


def english_path(stem: str) -> Path:
    return ROOT / "notebooks" / f"{stem}.ipynb"


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --- the translation files ------------------------------------------------------------------------


def test_the_stable_notebooks_are_translated():
    assert {"00_welcome", "01_mdp_and_discounted_return", "02_learning_from_experience",
            "03_policy_gradient"} <= set(TRANSLATED)


def test_messages_file_follows_the_schema():
    table = i18n.load_translation(ROOT / "i18n" / LANG / "messages.json")
    assert isinstance(table, dict)


@pytest.mark.parametrize("stem", TRANSLATED)
def test_every_markdown_cell_is_translated_from_the_current_english(stem):
    report = i18n.notebook_report(english_path(stem), LANG)
    assert report.complete, (f"{report.describe()}. Update the Korean of these cells in i18n/{LANG}/{stem}.json "
                             f"(and its en_hash), then run: python -m course_lib translate build --lang {LANG}")


@pytest.mark.parametrize("stem", TRANSLATED)
def test_built_notebook_is_exactly_what_the_build_writes(stem):
    built = ROOT / "notebooks" / LANG / f"{stem}.ipynb"
    assert built.exists(), f"notebooks/{LANG}/{stem}.ipynb is missing: run python -m course_lib translate build --lang {LANG}"
    assert built.read_text(encoding="utf-8") == i18n.build_notebook(english_path(stem), LANG), (
        f"notebooks/{LANG}/{stem}.ipynb differs from its build: run python -m course_lib translate build --lang {LANG}")


def test_no_built_notebook_without_a_translation():
    built = {p.stem for p in (ROOT / "notebooks" / LANG).glob("*.ipynb")}
    assert built == set(TRANSLATED)


@pytest.mark.parametrize("stem", TRANSLATED)
def test_korean_code_cells_equal_the_english(stem):
    en, ko = read(english_path(stem)), read(ROOT / "notebooks" / LANG / f"{stem}.ipynb")
    assert [(c["id"], c["cell_type"]) for c in ko["cells"]] == [(c["id"], c["cell_type"]) for c in en["cells"]]
    for e, k in zip(en["cells"], ko["cells"]):
        if e["cell_type"] == "code":
            assert k["source"] == e["source"], f"{stem}: code cell {e['id']} differs from the English"
            assert k["outputs"] == [] and k["execution_count"] is None
        else:
            assert k["source"] != e["source"], f"{stem}: markdown cell {e['id']} is still the English"


# --- what a translation keeps from the English ----------------------------------------------------

FENCED = re.compile(r"```.*?```", re.S)
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
CODE = re.compile(r"`[^`\n]+`")
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")
SPELLED_OUT = {"0", "1", "2", "3"}
CITATION = re.compile(r"(?:§|Eq\.|App\.|arXiv|Example)\s*[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*|\b[A-Z][a-z]+ (?:et al\. |& [A-Z][a-z]+ )?\d{4}")


def _cells(stem: str) -> list[tuple[str, str, str]]:
    """(cell id, English, Korean as built) for every markdown cell."""
    en = read(english_path(stem))
    ko = {c["id"]: "".join(c["source"]) for c in read(ROOT / "notebooks" / LANG / f"{stem}.ipynb")["cells"]}
    return [(c["id"], "".join(c["source"]), ko[c["id"]]) for c in en["cells"] if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("stem", TRANSLATED)
def test_mathematics_code_numbers_and_citations_are_kept(stem):
    for cell_id, en, ko in _cells(stem):
        for name, pattern in (("math", MATH), ("code", CODE), ("citation", CITATION)):
            lost = sorted(set(pattern.findall(en)) - set(pattern.findall(ko)))
            assert not lost, f"{stem} cell {cell_id}: the Korean lacks the English's {name} {lost}"
        prose_en, prose_ko = (Counter(NUMBER.findall(MATH.sub(" ", CODE.sub(" ", t)))) for t in (en, ko))
        lost, added = prose_en - prose_ko, prose_ko - prose_en
        assert not lost, f"{stem} cell {cell_id}: numbers of the English missing from the Korean: {sorted(lost)}"
        # the Korean may write as a digit what the English spells out ("zero", "one", "a third")
        added = sorted(n for n in added if n not in SPELLED_OUT)
        assert not added, f"{stem} cell {cell_id}: numbers in the Korean that the English does not have: {added}"


@pytest.mark.parametrize("stem", TRANSLATED)
def test_emphasis_renders_before_korean_particles(stem):
    """CommonMark does not close ``**`code`**`` when a Hangul particle follows it (``**`x`**에는``): the
    learner would see the asterisks. Render every Korean cell and look for emphasis markers left over."""
    from markdown_it import MarkdownIt

    md = MarkdownIt()
    for cell_id, _, ko in _cells(stem):
        html = re.sub(r"<code[^>]*>.*?</code>", "", md.render(MATH.sub("M", ko)), flags=re.S)  # fenced code too
        left = re.findall(r".{0,20}\*\*.{0,20}", html)
        assert not left, f"{stem} cell {cell_id}: emphasis not rendered (put a space after the closing **): {left}"


# --- the glossary ---------------------------------------------------------------------------------


def _english_glossary_terms() -> list[str]:
    text = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    return re.findall(r"^\| \*\*(.+?)\*\* \|", text, re.M)


def _korean_glossary() -> dict[str, tuple[str, list[str]]]:
    """English term -> (chosen Korean, alternatives not to use), from docs/ko/glossary.md's main table."""
    text = (ROOT / "docs" / "ko" / "glossary.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) == 4 and cols[0] not in ("English", "---"):
            alts = [] if cols[2] == "—" else [a.strip() for a in cols[2].split(",")]
            rows[cols[0]] = (cols[1], alts)
    return rows


def _strip(term: str) -> str:
    """A term without its math, symbols and abbreviation: "return $G_t$" -> "return", "group size G" -> "group size"."""
    term = re.sub(r"\$[^$]*\$|\([^)]*\)", "", term)
    return " ".join(w for w in term.split() if not re.fullmatch(r"[A-Za-zα-ωΑ-Ω]", w))


def _pairs(english: str, korean: str) -> list[tuple[str, str]]:
    """(English word, chosen Korean word) for each part of a glossary entry."""
    en = [p for p in (_strip(x) for x in re.split(r"[,;]", english)) if p]
    ko = [p for p in (_strip(x) for x in korean.split(" · ")) if p]
    if len(en) != len(ko):  # one Korean term for a list of symbols ("k1, k2, k3 estimators")
        return [(_strip(english), _strip(korean))]
    return list(zip(en, ko))


def test_korean_glossary_covers_every_english_term_once():
    english, korean = _english_glossary_terms(), _korean_glossary()
    assert sorted(korean) == sorted(english)
    for term, (ko, _) in korean.items():
        parts = _pairs(term, ko)
        assert all(k for _, k in parts), f"glossary: {term!r} has no Korean term"


def _prose(text: str) -> str:
    return MATH.sub(" ", CODE.sub(" ", FENCED.sub(" ", text)))


def _word(word: str) -> str:
    return rf"(?<![\w-]){re.escape(word)}(?:s|es)?(?![\w-])"


# (notebook, glossary word) where the English uses the word outside its glossary sense: the Korean need
# not write the glossary's form there (the forms the glossary rules out are still checked)
EVERYDAY_SENSE = {
    ("05_language_model_as_policy", "value"): "attention's 'keys and values' (키와 값), not the RL value",
    ("06_rewards_and_reward_models", "return"): "'what the functions return' (돌려주다), not the RL return",
    ("08_grpo", "return"): "'what the exercise functions return' (돌려주다, as in 01 and 04), not the RL return",
    ("09_pitfalls_and_fixes", "finding"): "'an example, not yet a finding': a result, not the run doctor's finding",
    ("10_scaling_up", "value"): "'the course's values' of the config fields",
    ("10_scaling_up", "transformer"): "the name of the `transformers` library",
}


@pytest.mark.parametrize("stem", TRANSLATED)
def test_glossary_terms_are_used_in_their_chosen_korean_form(stem):
    """Each glossary term the English uses appears in its chosen Korean form, none of the forms the
    glossary rules out appears, and where the English introduces a term (in bold) the Korean gives the
    English term in parentheses after the Korean one ("**정책**(policy)")."""
    cells = [(i, re.sub(r"\s+", " ", en), re.sub(r"\s+", " ", ko)) for i, en, ko in _cells(stem)]
    en_text = _prose("\n".join(en for _, en, _ in cells))
    bold_en = " | ".join(re.findall(r"\*\*(.+?)\*\*", en_text, re.S))
    ko_text = "\n".join(ko for _, _, ko in cells)
    problems = []
    for term, (korean, alternatives) in _korean_glossary().items():
        for alt in alternatives:
            if re.search(rf"(?<![{HANGUL}]){re.escape(alt)}", ko_text):
                problems.append(f"uses {alt!r}, not the glossary's {korean!r} ({term})")
        for en_word, ko_word in _pairs(term, korean):
            if (en_word.lower() == ko_word.lower() or (stem, en_word) in EVERYDAY_SENSE
                    or not re.search(_word(en_word), en_text, re.I)):
                continue
            if ko_word not in ko_text:
                problems.append(f"the English uses {en_word!r} but the Korean never writes {ko_word!r}")
            elif re.search(_word(en_word), bold_en, re.I) and not re.search(
                    rf"{re.escape(ko_word)}[^\s(]{{0,3}}\s?\([^)]*{re.escape(en_word)}", ko_text, re.I):
                problems.append(f"the English introduces {en_word!r}; the Korean never writes '{ko_word}({en_word})'")
    assert not problems, f"{stem}: " + "; ".join(problems)


# --- hashing and staleness ------------------------------------------------------------------------


def test_hash_ignores_recorded_run_times_and_nothing_else():
    base = "**Run time** on 2 CPU cores: 53 s in full mode, 14 s in fast mode (`COURSE_FAST=1`)"
    assert i18n.english_hash(base) == i18n.english_hash(base.replace("53 s", "1.2 min").replace("14 s", "9 s"))
    assert i18n.english_hash(base) != i18n.english_hash(base.replace("2 CPU", "4 CPU"))
    assert i18n.english_hash("a") != i18n.english_hash("a ")
    with pytest.raises(ValueError, match="text"):
        i18n.english_hash(None)


def test_a_changed_english_cell_is_reported_stale_by_name(tmp_path):
    stem = TRANSLATED[0]
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(ROOT / "i18n", tmp_path / "i18n")
    nb = read(english_path(stem))
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    cell["source"] = "".join(cell["source"]) + "\nOne more English sentence."
    (tmp_path / "notebooks" / f"{stem}.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    report = i18n.notebook_report(tmp_path / "notebooks" / f"{stem}.ipynb", LANG, root=tmp_path)
    assert report.stale == (cell["id"],) and not report.missing
    assert cell["id"] in report.describe()
    with pytest.raises(ValueError, match=cell["id"]):
        i18n.build_notebook(tmp_path / "notebooks" / f"{stem}.ipynb", LANG, root=tmp_path)
    written, skipped = i18n.build(LANG, root=tmp_path)
    assert not written and skipped[0].name == stem


def test_build_fills_the_run_times_in_korean_units():
    built = read(ROOT / "notebooks" / LANG / f"{TRANSLATED[0]}.ipynb")
    full, fast = i18n.header_times_text("".join(read(english_path(TRANSLATED[0]))["cells"][0]["source"]))
    header = "".join(built["cells"][0]["source"])
    assert i18n.duration_ko(full) in header and i18n.duration_ko(fast) in header
    assert "{{" not in header
    assert i18n.duration_ko("1.1 min") == "1.1분" and i18n.duration_ko("30 s") == "30초"


def test_bad_translation_files_are_refused_by_name(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"language": "ko", "cells": {"c1": {"en_hash": "0"}}}', encoding="utf-8")
    with pytest.raises(ValueError, match="c1"):
        i18n.load_translation(bad)
    bad.write_text('{"language": "fr", "cells": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="language"):
        i18n.load_translation(bad)
    with pytest.raises(ValueError, match="lang"):
        i18n.build("fr")


def test_message_falls_back_to_the_english_when_stale_or_missing(tmp_path, monkeypatch):
    (tmp_path / "i18n" / LANG).mkdir(parents=True)
    english = "Your return is summed forwards."
    entry = {"en_hash": i18n.english_hash(english), "ko": "리턴을 앞쪽으로 더했습니다."}
    (tmp_path / "i18n" / LANG / "messages.json").write_text(
        json.dumps({"language": LANG, "messages": {"returns.forwards": entry}}, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(i18n, "ROOT", tmp_path)
    monkeypatch.setattr(i18n, "_MESSAGES", {})
    assert i18n.message("returns.forwards", english, lang=LANG) == "리턴을 앞쪽으로 더했습니다."
    assert i18n.message("returns.forwards", english + " (edited)", lang=LANG).endswith("(edited)")
    assert i18n.message("unknown.key", english, lang=LANG) == english
    monkeypatch.setenv("COURSE_LANG", "ko")
    assert i18n.current_lang() == "ko" and i18n.message("returns.forwards", english) == entry["ko"]
    monkeypatch.setenv("COURSE_LANG", "xx")
    assert i18n.current_lang() == "en"


# --- README.ko.md ---------------------------------------------------------------------------------


def test_korean_readme_has_the_english_times_and_the_translated_notebooks():
    from course_lib.grading.headless import readme_times

    en = (ROOT / "README.md").read_text(encoding="utf-8")
    ko = (ROOT / "README.ko.md").read_text(encoding="utf-8")
    assert "README.ko.md" in "\n".join(en.splitlines()[:5]), "the English README links the Korean one in its first lines"
    ko_times = readme_times(ko.replace("분", " min").replace("초", " s"))
    assert ko_times == readme_times(en)
    assert "python3 course.py lab --lang ko" in ko and "python3 course.py test" in ko
    for stem in TRANSLATED:
        assert f"notebooks/ko/{stem}.ipynb" in ko


def test_record_writes_the_korean_readme_and_rebuilds_the_korean_notebooks(tmp_path):
    from course_lib.grading import headless

    for name in ("README.md", "README.ko.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "i18n", tmp_path / "i18n")
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(ROOT / "notebooks" / LANG, tmp_path / "notebooks" / LANG)
    for stem in TRANSLATED:
        shutil.copy(english_path(stem), tmp_path / "notebooks")
    stem = TRANSLATED[1]
    headless.record_times([{"notebook": stem, "seconds": 450.0, "error": ""}], "full", readme=tmp_path / "README.md",
                        notebooks_dir=tmp_path / "notebooks", load=0.5)
    ko = (tmp_path / "README.ko.md").read_text(encoding="utf-8")
    assert headless.readme_times(ko.replace("분", " min").replace("초", " s"))[stem[:2]]["full"] == 450
    assert "끝날 때 부하 평균 0.5.*" in ko and "*전체 모드 시간: " in ko and "Full-mode times" not in ko
    assert "load average 0.5 at the end.*" in (tmp_path / "README.md").read_text(encoding="utf-8")
    header = "".join(read(tmp_path / "notebooks" / LANG / f"{stem}.ipynb")["cells"][0]["source"])
    assert "전체 모드 7.5분" in header
    assert i18n.notebook_report(tmp_path / "notebooks" / f"{stem}.ipynb", LANG, root=tmp_path).complete
    # a second measurement finds the Korean line again and replaces it (one line, not two)
    headless.record_times([{"notebook": stem, "seconds": 60.0, "error": ""}], "full", readme=tmp_path / "README.md",
                        notebooks_dir=tmp_path / "notebooks", load=None)
    ko = (tmp_path / "README.ko.md").read_text(encoding="utf-8")
    assert ko.count("*전체 모드 시간: ") == 1 and "부하 평균 0.5" not in ko


# --- figures in Korean ----------------------------------------------------------------------------


def test_korean_figure_text_renders_with_a_real_glyph(monkeypatch, caplog):
    monkeypatch.setenv("COURSE_LANG", "ko")
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    import course_lib.plotting as plotting

    plotting = importlib.reload(plotting)
    try:
        assert plotting.korean_font() is not None, (
            "no Korean font: the set-up installs koreanize-matplotlib (pinned in requirements/lock.txt)")
        import matplotlib.pyplot as plt

        plt.rcParams.update(plotting.STYLE)  # as use_house_style() does in a notebook
        fig, ax = plotting.new_figure()
        ax.plot([0, 1], [0, -1], label="보상")
        ax.set_title("할인율 γ에 따른 리턴")
        ax.set_xlabel("스텝")
        ax.legend()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Glyph ... missing from font(s)" is a UserWarning
            fig.canvas.draw()
        plotting.finish(fig)
        # a log axis: its tick labels are mathtext with negative exponents (10^-2), drawn in the first font
        # family alone; a glyph missing there is logged by matplotlib's mathtext, not warned
        fig, ax = plotting.new_figure()
        ax.semilogy([1, 2, 3], [0.01, 0.1, 1.0])
        ax.set_title("로그 축")
        with caplog.at_level("WARNING", logger="matplotlib"), warnings.catch_warnings():
            warnings.simplefilter("error")
            fig.canvas.draw()
        assert "does not have a glyph" not in caplog.text, caplog.text
        plotting.finish(fig)
    finally:
        monkeypatch.delenv("COURSE_LANG")
        importlib.reload(plotting)
        matplotlib.rcdefaults()


# --- opening the Korean edition -------------------------------------------------------------------


def test_course_py_lab_takes_a_language():
    import importlib.util

    spec = importlib.util.spec_from_file_location("course_script", ROOT / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    assert course.lab_language(["--lang", "ko", "--port", "9999"]) == ("ko", ["--port", "9999"])
    assert course.lab_language(["--port", "9999"]) == ("en", ["--port", "9999"])
    with pytest.raises(SystemExit, match="--lang"):
        course.lab_language(["--lang", "fr"])
    assert (ROOT / "notebooks" / "ko" / "00_welcome.ipynb").exists()


# --- messages: the checker, every mistake's hint, the hint ladder ---------------------------------


@pytest.fixture(scope="module")
def english_messages() -> dict[str, str]:
    return i18n.english_messages()


def test_every_message_has_a_korean_translation_of_the_current_english(english_messages):
    """Each message the course shows (keys from the registry and the message tables) has a Korean entry made
    from its current English: an edited English hint fails here, naming its key, until the Korean follows."""
    report = i18n.messages_report(LANG, english_messages)
    assert report.complete, (f"{report.describe()}. Translate them into i18n/{LANG}/messages.json (the English and "
                             f"en_hash: python -m course_lib translate todo --lang {LANG} --only messages)")


def test_translated_messages_keep_fields_numbers_and_code(english_messages):
    """A message's {fields} are the English's (else a template could not be filled; in a hint they are the
    formulas' subscripts), and its numbers and `code` are kept, as in the notebooks."""
    import string

    table = i18n.load_translation(ROOT / "i18n" / LANG / "messages.json")
    problems = []
    for key, english in english_messages.items():
        ko = table.get(key, {}).get(LANG)
        if ko is None:
            continue
        try:
            fields = [{n for _, n, _, _ in string.Formatter().parse(t) if n} for t in (english, ko)]
        except ValueError:  # not a template (a lone brace): its formulas are compared as text below
            fields = [set(re.findall(r"\{[^{}]*\}", t)) for t in (english, ko)]
        if fields[0] != fields[1]:
            problems.append(f"{key}: fields {sorted(fields[0])} in the English, {sorted(fields[1])} in the Korean")
        lost = sorted(set(CODE.findall(english)) - set(CODE.findall(ko)))
        if lost:
            problems.append(f"{key}: the Korean lacks the English's code {lost}")
        numbers_en, numbers_ko = (Counter(NUMBER.findall(CODE.sub(" ", t))) for t in (english, ko))
        if numbers_en - numbers_ko:
            problems.append(f"{key}: numbers of the English missing from the Korean: {sorted(numbers_en - numbers_ko)}")
    assert not problems, "\n".join(problems)


def test_messages_use_the_glossary_terms(english_messages):
    """No message uses a Korean form that docs/ko/glossary.md rules out."""
    table = i18n.load_translation(ROOT / "i18n" / LANG / "messages.json")
    problems = []
    for term, (korean, alternatives) in _korean_glossary().items():
        for alt in alternatives:
            for key, entry in table.items():
                if re.search(rf"(?<![{HANGUL}]){re.escape(alt)}", entry[LANG]):
                    problems.append(f"{key} uses {alt!r}, not the glossary's {korean!r} ({term})")
    assert not problems, "\n".join(problems)


def test_a_korean_learner_reads_the_verdict_and_the_hint_in_korean(monkeypatch):
    """A wrong answer that makes a registered mistake (the return summed forwards) earns that mistake's hint
    in Korean, in a Korean verdict; the help ladder answers in Korean too. The English learner's text is
    unchanged."""
    import numpy as np

    from course_lib.exercises import check, get_exercise, hint

    def summed_forwards(rewards, gamma, dones=None):
        out, running = np.zeros(len(rewards)), 0.0
        for t in range(len(rewards)):  # front to back: the past, not the future
            running = rewards[t] + gamma * running
            out[t] = running
            if dones is not None and dones[t]:
                running = 0.0
        return out

    english_hint = next(m.hint for m in get_exercise("discounted_returns").mistakes if m.name == "summed_forwards")
    korean_hint = i18n.load_translation(ROOT / "i18n" / LANG / "messages.json")[
        "exercise.discounted_returns.mistake.summed_forwards"][LANG]
    monkeypatch.setenv("COURSE_LANG", LANG)
    result = check("discounted_returns", summed_forwards)
    assert result.mistake == "summed_forwards" and result.hint == korean_hint
    text = result.text()
    assert "힌트: " + korean_hint in text and "케이스가 참조 구현과 다릅니다" in text, text
    assert "케이스: " in text and "기대한 값 " in text, text  # the failing case and what differs
    assert re.search(rf"[{HANGUL}]", str(hint("discounted_returns", 2)).splitlines()[0])
    monkeypatch.setenv("COURSE_LANG", "en")
    result = check("discounted_returns", summed_forwards)
    assert result.hint == english_hint and "Hint: " in result.text()


def test_the_run_doctor_speaks_korean(monkeypatch):
    """The run doctor's finding (title, why, what to try, evidence) and its text panel read in Korean for a Korean
    learner, with the numbers of the run; the English learner's text is unchanged."""
    from course_lib.diagnose import diagnose, format_findings

    history = {"loss": [0.5, 0.4, float("nan"), 0.3]}
    english = diagnose(history)
    monkeypatch.setenv("COURSE_LANG", LANG)
    (finding,) = [f for f in diagnose(history) if f.name == "loss_not_finite"]
    for text in (finding.title, finding.explanation, finding.what_to_try, finding.evidence["detail"]):
        assert re.search(rf"[{HANGUL}]", text), text
    assert "loss" in finding.title and " 3" in finding.title  # the series and the step, filled into the Korean
    assert "    근거: " in format_findings([finding])
    monkeypatch.setenv("COURSE_LANG", "en")
    assert [f.title for f in diagnose(history)] == [f.title for f in english]
    assert "is not finite from step 3" in english[0].title


def test_grade_lang_ko_writes_the_gradebook_headings_and_the_feedback_in_korean(tmp_path, monkeypatch):
    """``grade --lang ko`` sets the report's language; the gradebook's headings and a learner's feedback (with
    the check's hint, recorded in English by the learner's kernel) come out in Korean."""
    from course_lib.exercises import get_exercise
    from course_lib.grading import grade as grade_mod
    from course_lib.grading import report

    monkeypatch.setenv("COURSE_LANG", "en")
    assert grade_mod.main([str(tmp_path / "missing"), "--out", str(tmp_path / "book"), "--lang", LANG]) == 2
    assert i18n.current_lang() == LANG  # set by --lang before anything is graded
    hint = next(m.hint for m in get_exercise("discounted_returns").mistakes if m.name == "summed_forwards")
    entry = {"points": 0, "status": "failed", "mistake": "summed_forwards", "hint": hint, "reason": "", "flag": ""}
    results = [{"learner": "kim", "notebook": "00_welcome", "file": "kim__00_welcome.ipynb", "forged": [],
                "exercises": {"discounted_returns": entry}, "execution": {"finished": True, "seconds": 1.0},
                "wall_seconds": 2.0}]
    summary = {"seconds": 2.0, "mode": "fast", "jobs": 1, "library_policy": "zero", "ignored": []}
    report.write_all(results, summary, tmp_path)
    feedback = (tmp_path / "feedback" / "kim.md").read_text(encoding="utf-8")
    korean_hint = i18n.load_translation(ROOT / "i18n" / LANG / "messages.json")[
        "exercise.discounted_returns.mistake.summed_forwards"][LANG]
    assert feedback.startswith("# kim님을 위한 피드백") and "힌트: " + korean_hint in feedback, feedback
    gradebook = (tmp_path / "gradebook.md").read_text(encoding="utf-8")
    assert gradebook.startswith("# 성적부") and "## 다시 가르칠 것" in gradebook


def _code_tokens(source: str) -> list[str]:
    """The tokens of a Python source without its comments and docstrings (what a translation may not change)."""
    import io
    import tokenize

    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in skip and not (t.type == tokenize.STRING and t.string.startswith('"""'))]


def test_korean_solutions_change_only_comments_and_docstrings(english_messages, monkeypatch):
    """solution() shows the Korean learner the same code, its comments and docstring in Korean."""
    from course_lib.exercises import solution

    table = i18n.load_translation(ROOT / "i18n" / LANG / "messages.json")
    keys = [k for k in english_messages if k.endswith(".solution")]
    assert keys
    for key in keys:
        assert _code_tokens(table[key][LANG]) == _code_tokens(english_messages[key]), f"{key}: the code differs"
    monkeypatch.setenv("COURSE_LANG", LANG)
    shown = solution("discounted_returns")
    assert str(shown) == table["exercise.discounted_returns.solution"][LANG] and "에피소드" in str(shown)
    assert "학습용 풀이" in shown._repr_markdown_()


def test_an_edited_english_message_is_reported_stale_by_key_and_shown_in_english(english_messages, capsys):
    """Editing a hint's English makes its translation stale: translate status/todo name the key, and the learner
    reads the new English (never a Korean made from the old one) until the translation follows."""
    key = "exercise.discounted_returns.mistake.summed_forwards"
    edited = dict(english_messages, **{key: english_messages[key] + " (edited)"})
    report = i18n.messages_report(LANG, edited)
    assert report.stale == (key,) and not report.missing
    assert i18n.message(key, edited[key], lang=LANG) == edited[key]
    assert i18n.main(["status", "--lang", LANG]) == 0
    assert "messages: complete and up to date" in capsys.readouterr().out
    assert i18n.main(["todo", "--lang", LANG, "--only", "messages"]) == 0
    assert capsys.readouterr().out == ""  # nothing left to translate


# --- the last English a Korean learner read: stats verdicts, fast notes, data advice, the exercise lookup ---------


def _numbers(text: str) -> list[str]:
    return re.findall(r"[+-]?\d+(?:\.\d+)?", text)


def test_a_korean_verdict_keeps_the_english_numbers(monkeypatch):
    """Every comparison the notebooks print reads in Korean, with the very numbers (signs and digits) of the English:
    the gap, the interval, its level and the unit's words; within / outside the noise as the notebooks write it."""
    from course_lib import stats

    lines = []
    for diff in (stats.compare_accuracies(40, 100, 55, 100), stats.compare_seeds([1.0, 2.0, 3.0], [1.5, 2.5, 2.9]),
                 stats.compare_paired([1, 0, 1, 0], [1, 1, 1, 0], level=0.9)):
        for kw in ({}, {"unit": " steps", "scale": 1.0}, {"unit": " steps/s", "scale": 1.0}, {"unit": "", "scale": 1.0},
                   {"unit": " thousandths of a nat", "scale": 1000.0}, {"unit": " widgets", "scale": 1.0}):
            lines.append((diff, kw))
    others = [lambda: str(stats.accuracy_interval(43, 100)), lambda: str(stats.accuracy_interval(43, 100, 0.9)),
              lambda: str(stats.seed_spread([1.0, 2.0, 3.5]))]
    monkeypatch.setenv("COURSE_LANG", "en")
    english = [d.verdict(**kw) for d, kw in lines] + [f() for f in others]
    monkeypatch.setenv("COURSE_LANG", LANG)
    korean = [d.verdict(**kw) for d, kw in lines] + [f() for f in others]
    for en, ko in zip(english, korean):
        assert _numbers(en) == _numbers(ko), f"{en!r} -> {ko!r}"
        assert re.search(f"[{HANGUL}]", ko) and "noise" not in ko and "CI" not in ko, ko
    for (diff, _), ko in zip(lines, korean):
        assert ko.endswith("잡음 밖" if diff.outside_noise else "잡음 안"), ko
    assert {d.outside_noise for d, _ in lines} == {True, False}  # both verdicts were read
    assert korean[0] == "+15.0포인트 (95 % 구간 +1.2 ~ +28.0): 잡음 밖"
    assert "widgets" in korean[5]  # a unit the course does not use is shown as given


def test_fast_notes_read_in_korean(monkeypatch, capsys):
    """fast_note's prefix and each sentence a notebook passes it are shown in Korean; a sentence no notebook passes
    is shown in English after the Korean prefix, and the English edition is unchanged."""
    from course_lib import fast_note
    from course_lib.core import fast_note_messages

    sentences = {k: v for k, v in fast_note_messages().items() if k != "fast_note.prefix"}
    assert len(sentences) >= 15 and all(re.fullmatch(r"fast_note\.\d\d\.[\w-]+", k) for k in sentences)
    key, sentence = next(iter(sentences.items()))
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_LANG", LANG)
    fast_note(sentence)
    fast_note("not a notebook's sentence")
    table = i18n.load_translation(ROOT / "i18n" / LANG / "messages.json")
    assert capsys.readouterr().out == f"빠른 모드: {table[key][LANG]}\n빠른 모드: not a notebook's sentence\n"
    monkeypatch.setenv("COURSE_LANG", "en")
    fast_note(sentence)
    assert capsys.readouterr().out == f"fast mode: {sentence}\n"


def test_data_statuses_and_restore_advice_read_in_korean(tmp_path, monkeypatch):
    """What doctor and a refused load print about the data files is Korean, and doctor still tells an unlisted
    file (approve it) from a damaged one (restore it) in Korean."""
    from course_lib import data

    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "a.json").write_text('{"x": 1}')
    data.write_manifest(tmp_path)
    (tmp_path / "lm" / "a.json").write_text('{"x": 1')
    (tmp_path / "new.txt").write_text("mine")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    monkeypatch.setenv("COURSE_LANG", LANG)
    report = dict(data.validate_data(tmp_path))
    assert report["new.txt"] == data.unlisted_status() and "매니페스트" in report["new.txt"]
    assert report["lm/a.json"].startswith("크기가 다름(7바이트, 예상 8바이트)"), report
    with pytest.raises(data.DataError, match="손상되었거나 바뀌었습니다.*train-lm"):
        data.verified_path("lm/a.json")
    with pytest.raises(FileNotFoundError, match="코스 데이터 파일 'gone.json'"):
        data.data_path("gone.json")
    monkeypatch.setenv("COURSE_LANG", "en")
    assert dict(data.validate_data(tmp_path))["new.txt"].startswith("not listed in the manifest")


def test_an_unknown_exercise_is_named_in_korean(monkeypatch):
    from course_lib.exercises.registry import get_exercise

    monkeypatch.setenv("COURSE_LANG", LANG)
    with pytest.raises(KeyError, match="'gaee'\\(이\\)라는 연습 문제는 없습니다. 'gae'을\\(를\\) 말한 것인가요"):
        get_exercise("gaee")


def test_korean_notebooks_are_tested_with_korean_messages(monkeypatch):
    """notebooks/conftest.py: nbval starts a notebook's kernel while its first item is set up, inheriting
    os.environ; COURSE_LANG is ko then for notebooks/ko items, unset for English ones, and put back after."""
    import importlib.util
    import os
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("notebooks_conftest", ROOT / "notebooks" / "conftest.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    monkeypatch.setenv("COURSE_LANG", "en")
    for path, during in ((ROOT / "notebooks" / "ko" / "01_mdp_and_discounted_return.ipynb", "ko"),
                         (ROOT / "notebooks" / "01_mdp_and_discounted_return.ipynb", None)):
        setup = hooks.pytest_runtest_setup(SimpleNamespace(path=path))
        next(setup)
        assert os.environ.get("COURSE_LANG") == during, path
        with pytest.raises(StopIteration):
            next(setup)
        assert os.environ["COURSE_LANG"] == "en"
