"""Figures in the Korean edition: every figure's text is translated when it is rendered (course_lib.plotting.translate).

The template round-trip keeps every number exactly as written; a figure drawn by a real plotting function in
Korean mode renders Hangul with a real glyph; the English edition's PNG is byte for byte what matplotlib draws
without the hook; every entry of ``i18n/ko/figures.json`` carries the hash of its template, the same
placeholders and the glossary's terms.
"""
from __future__ import annotations

import importlib
import io
import json
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from course_lib.i18n import english_hash, load_translation  # noqa: E402
from course_lib.plotting import translate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "i18n" / "ko" / "figures.json"
HANGUL = re.compile("[가-힣]")


# --- templates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, template, numbers", [
    ("ε = 0.20 (mean of 3)", "ε = {0} (mean of {1})", ["0.20", "3"]),
    ("A = -1: a bad action", "A = {0}: a bad action", ["-1"]),
    ("A = +1 and −0.25 (typographic minus)", "A = {0} and {1} (typographic minus)", ["+1", "−0.25"]),
    ("accuracy 45.2% (n = 12,000)", "accuracy {0}% (n = {1})", ["45.2", "12,000"]),
    ("lr 1e-3, 3.5e+02", "lr {0}, {1}", ["1e-3", "3.5e+02"]),
    ("k3 KL on CartPole-v1 with GPT-2 and ZeRO-3", "k3 KL on CartPole-v1 with GPT-2 and ZeRO-3", []),
    ("state: '47+38='   T = 1.00; the critic's bias", "state: {0}   T = {1}; the critic's bias", ["'47+38='", "1.00"]),
    (r"weight $(\gamma\lambda)^{10}$ of $\delta_{t+l}$", r"weight $(\gamma\lambda)^{{0}}$ of $\delta_{t+l}$", ["10"]),
])
def test_template_keeps_every_number_as_written(text, template, numbers):
    assert translate.to_template(text) == (template, numbers)
    assert translate.fill(template, numbers) == text


def test_a_translated_template_gets_the_same_numbers_back_in_its_own_order():
    template, numbers = translate.to_template("std of A: λ=0 -0.31, λ=0.95 1.07 (3 seeds, 12.5%)")
    assert template == "std of A: λ={0} {1}, λ={2} {3} ({4} seeds, {5}%)"
    korean = "A의 표준편차({4}개 시드, {5}%): λ={0}이면 {1}, λ={2}이면 {3}"
    out = translate.fill(korean, numbers)
    assert out == "A의 표준편차(3개 시드, 12.5%): λ=0이면 -0.31, λ=0.95이면 1.07"
    assert sorted(translate.NUMBER.findall(out)) == sorted(numbers)
    with pytest.raises(ValueError, match="placeholder"):  # a placeholder with no number is refused, not dropped
        translate.fill(korean + " {6}", numbers)


def test_an_untranslated_text_stays_english():
    assert translate.translate_text("a sentence nobody translated, 3 times", {}) == "a sentence nobody translated, 3 times"
    table = {"gradient is zero": "그래디언트가 0"}
    assert translate.translate_text("gradient is zero", table) == "그래디언트가 0"
    assert translate.translate_text("gradient is zero!", table) == "gradient is zero!"


def test_a_text_of_several_lines_is_translated_line_by_line_when_the_whole_is_not():
    table = {"{0} samples at T = {1}: {2} correct (✓)": "T = {1}에서 샘플 {0}개: 정답 {2}개 (✓)"}
    text = "16 samples at T = 1.00: 2 correct (✓)\n\n  47+38=68   ✓ 47+38=58"
    assert translate.translate_text(text, table) == "T = 1.00에서 샘플 16개: 정답 2개 (✓)\n\n  47+38=68   ✓ 47+38=58"
    assert translate.templates_shown(text, {}) == ["{0} samples at T = {1}: {2} correct (✓)"]


# --- the file -------------------------------------------------------------------------------------


def test_figures_file_follows_the_schema_with_current_hashes_and_matching_placeholders():
    table = load_translation(FIGURES)
    assert json.loads(FIGURES.read_text(encoding="utf-8"))["language"] == "ko"
    stale = [t for t, e in table.items() if e["en_hash"] != english_hash(t)]
    assert not stale, f"i18n/ko/figures.json: en_hash is not english_hash(template) for {stale[:5]}"
    assert translate.problems("ko") == []
    for template, entry in table.items():
        assert not translate.NUMBER.findall(translate.PLACEHOLDER.sub(" ", template)), (
            f"figures.json key {template!r} still has a number: keys are templates ({{0}}, {{1}} for numbers)")
        assert translate.worth_translating(template), f"figures.json key {template!r} has no words to translate"
    # everything usable: the table the hook reads holds every entry
    assert len(translate.table("ko")) == len(table)


def test_figures_file_keeps_mathematics_and_uses_the_glossary_terms():
    from test_i18n import _korean_glossary

    ruled_out = {alt: (term, korean) for term, (korean, alts) in _korean_glossary().items() for alt in alts}
    for template, entry in load_translation(FIGURES).items():
        assert sorted(translate.MATH.findall(template)) == sorted(translate.MATH.findall(entry["ko"])), (
            f"figures.json {template!r}: the Korean changes the mathematics")
        for alt, (term, korean) in ruled_out.items():
            assert alt not in entry["ko"], f"figures.json {template!r}: uses {alt!r}, not the glossary's {korean!r} ({term})"


# --- rendering ------------------------------------------------------------------------------------


@pytest.fixture
def korean(monkeypatch):
    """The Korean edition as a notebook has it: COURSE_LANG=ko when course_lib.plotting is imported."""
    import course_lib.plotting as plotting

    monkeypatch.setenv("COURSE_LANG", "ko")
    plotting = importlib.reload(plotting)
    assert translate.installed()
    try:  # no use_house_style(): the hook gives translated text its font even outside the house style
        yield plotting
    finally:
        monkeypatch.delenv("COURSE_LANG")
        translate.uninstall()
        importlib.reload(plotting)
        matplotlib.rcdefaults()


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _worded(fig) -> list:
    """The figure's Text artists whose English has words to translate."""
    return [t for t in translate.figure_texts(fig) if translate.worth_translating(t.get_text())]


def _korean_figures():
    from course_lib.plotting import mdp, ppo

    return {"clip_objective": lambda: ppo.clip_objective(0.2),
            "discount_weights": lambda: mdp.discount_weights(0.9, rewards=[0, 0, 1])}


@pytest.mark.parametrize("name", ["clip_objective", "discount_weights"])
def test_a_real_figure_renders_in_korean_with_real_glyphs(korean, name):
    fig = _korean_figures()[name]()
    worded = _worded(fig)
    english = [t.get_text() for t in worded]
    assert english and not any(HANGUL.search(t) for t in english)
    with translate.translated(fig):
        shown = [t.get_text() for t in worded]
    table = translate.table("ko")
    untranslated = [e for e in english if translate.to_template(e)[0] not in table]
    assert not untranslated, f"{name}: figure text without a Korean template in figures.json: {untranslated}"
    assert sum(bool(HANGUL.search(k)) for k in shown) >= len(shown) - 1  # all but a formula-like label
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" is a UserWarning
        png = _png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert [t.get_text() for t in worded] == english, "the figure object stays English after rendering"


def test_numbers_on_a_korean_figure_are_the_english_ones(korean):
    from course_lib.plotting import ppo

    fig = ppo.clip_objective(0.137)
    english = fig._suptitle.get_text()
    with translate.translated(fig):
        shown = fig._suptitle.get_text()
    assert HANGUL.search(shown) and "0.14" in english
    assert translate.NUMBER.findall(shown) == translate.NUMBER.findall(english)


def test_recording_lists_the_templates_a_figure_shows(tmp_path, monkeypatch):
    from course_lib.plotting import ppo

    record = tmp_path / "figures.jsonl"
    monkeypatch.setenv(translate.RECORD_ENV, str(record))
    translate.install()
    try:
        _png(ppo.clip_objective(0.3))
    finally:
        translate.uninstall()
    seen = translate.recorded(record)
    assert "The clipped surrogate, ε = {0}" in seen
    assert seen["The clipped surrogate, ε = {0}"] == "The clipped surrogate, ε = 0.30"
    assert all(translate.worth_translating(t) for t in seen)


def test_a_korean_rendering_records_the_english_templates_once_each(korean, tmp_path, monkeypatch):
    from course_lib.plotting import ppo

    record = tmp_path / "figures.jsonl"
    monkeypatch.setenv(translate.RECORD_ENV, str(record))
    _png(ppo.clip_objective(0.3))
    lines = [json.loads(line)["template"] for line in record.read_text(encoding="utf-8").splitlines()]
    assert lines and not any(HANGUL.search(t) for t in lines)
    assert lines.count("The clipped surrogate, ε = {0}") == 1  # the suptitle is walked once


def test_english_edition_png_is_untouched_by_the_hook(monkeypatch):
    from course_lib.plotting import ppo

    monkeypatch.delenv("COURSE_LANG", raising=False)
    monkeypatch.delenv(translate.RECORD_ENV, raising=False)
    translate.uninstall()
    fig = ppo.clip_objective(0.2)
    plain = _png(fig)
    translate.install()
    try:
        hooked = _png(fig)
    finally:
        translate.uninstall()
    assert hooked == plain


def test_todo_lists_what_a_recording_saw_untranslated(tmp_path, capsys):
    record = tmp_path / "figures.jsonl"
    record.write_text(json.dumps({"template": "gradient is zero", "example": "gradient is zero"}) + "\n"
                      + json.dumps({"template": "a title nobody translated, {0} steps",
                                    "example": "a title nobody translated, 3 steps"}) + "\n", encoding="utf-8")
    assert translate.main(["todo", "--record", str(record)]) == 0
    out = capsys.readouterr().out
    assert "a title nobody translated, {0} steps" in out and "gradient is zero" not in out
    assert f"en_hash={english_hash('a title nobody translated, {0} steps')}" in out
    assert translate.main(["status", "--record", str(record)]) == 0
    assert "1 with words still untranslated" in capsys.readouterr().out


def test_every_kind_of_figure_text_is_translated_and_put_back(monkeypatch):
    """Suptitle, titles, axis labels, legend entries and titles (axes and figure), annotations, texts, a
    colorbar's label, an inset's title and word tick labels: translated while rendering, English after;
    tick numbers are left alone."""
    import matplotlib.pyplot as plt
    import numpy as np

    words = ["a suptitle", "a title", "left title", "x label", "y label", "a line", "legend title",
             "figure legend entry", "an annotation", "a text", "colour label", "inset title", "first", "second"]
    monkeypatch.setenv("COURSE_LANG", "ko")
    monkeypatch.setattr(translate, "table", lambda lang="ko": {w: f"한국어 {w}" for w in words})
    fig, (ax, ax2) = plt.subplots(1, 2)
    fig.suptitle("a suptitle")
    ax.set_title("a title")
    ax.set_title("left title", loc="left")
    ax.set_xlabel("x label")
    ax.set_ylabel("y label")
    line, = ax.plot([0, 1], [0, 1], label="a line")
    ax.legend(title="legend title")
    fig.legend([line], ["figure legend entry"])
    ax.annotate("an annotation", (0.5, 0.5))
    ax.text(0.1, 0.9, "a text")
    image = ax2.imshow(np.eye(2))
    fig.colorbar(image, ax=ax2, label="colour label")
    ax2.set_xticks([0, 1], ["first", "second"])
    inset = ax.inset_axes([0.6, 0.1, 0.3, 0.3])
    inset.set_title("inset title")
    fig.canvas.draw()
    before = {t.get_text() for t in translate.figure_texts(fig)} - {""}
    assert before == set(words) - {"first", "second"}
    with translate.translated(fig):
        during = {t.get_text() for t in translate.figure_texts(fig)} - {""}
        ticks = [ax2.xaxis.get_major_formatter()(x, i) for i, x in enumerate([0, 1])]
        numbers = [t.get_text() for t in ax.get_yticklabels()]
    assert during == {f"한국어 {w}" for w in before}
    assert ticks == ["한국어 first", "한국어 second"]
    assert numbers == [t.get_text() for t in ax.get_yticklabels()]  # tick numbers untouched
    assert {t.get_text() for t in translate.figure_texts(fig)} - {""} == before
    assert [ax2.xaxis.get_major_formatter()(x, i) for i, x in enumerate([0, 1])] == ["first", "second"]
    plt.close(fig)
