"""The gradebook: ``gradebook.csv``, ``gradebook.md``, ``feedback/<learner>.md`` and Gradescope's
``gradescope/<learner>/results.json`` (the autograder results format: top-level ``score`` and a
``tests`` list with ``name``, ``score``, ``max_score``, ``status``, ``output``)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections import Counter
from pathlib import Path

from ..i18n import message, message_format

# The headings of gradebook.md and the words of the feedback files, by message key "grading." + key, in the
# language of COURSE_LANG (``grade --lang ko`` sets it): course_lib.i18n.message.
TEXTS: dict[str, str] = {
    "gradebook": "# Gradebook",
    "pass_rate": "## Pass rate per exercise",
    "pass_rate.columns": "| exercise | passed | pass rate | most frequent mistake (learners) |",
    "mistakes": "## Most frequent mistakes, by their hints",
    "reteach": "## What to re-teach",
    "forged": "## Forged outputs and flagged answers",
    "unfinished": "## Notebooks that did not run to the end",
    "left_out": "## Files left out",
    "times": "## Grading time per notebook",
    "times.columns": "| learner | notebook | execution s | grading s in all |",
    "feedback": "# Feedback for {learner}",
    "score": "Score: {total} of {max}.",
    "not_submitted": "- **{exercise}** (notebook {notebook}): 0, notebook not submitted.",
    "exercise": "- **{exercise}** (notebook {notebook}): {points} ({mark})",
    "passed": "passed",
    "hint": "Hint:",
    "note": "Note:",
    "forged.line": "- Your submitted file shows a result that re-running it did not give: {what}.",
    "unfinished.line": "- {notebook} did not run to the end when re-executed: {reason}.",
}


def _t(key: str, **fields) -> str:
    return message_format(f"grading.{key}", TEXTS[key], **fields)


def _hint(exercise: str, entry: dict) -> str:
    """The hint a check gave, in the report's language (looked up by the exercise's and mistake's keys)."""
    from ..exercises.texts import exercise_key, mistake_key  # lazily, as the rest of grading imports exercises

    key = mistake_key(exercise, entry["mistake"]) if entry.get("mistake") else exercise_key(exercise, "hint")
    return message(key, entry["hint"])


def english_messages() -> dict[str, str]:
    """Every message key of the gradebook with its current English (see ``course_lib.i18n``)."""
    return {f"grading.{key}": text for key, text in TEXTS.items()}


def _column(notebook: str, exercise: str) -> str:
    return f"{notebook[:2]}:{exercise}"


def _columns(results: list[dict]) -> list[tuple[str, str]]:
    cols = {(r["notebook"], ex) for r in results for ex in r["exercises"]}
    return sorted(cols)


def feedback_name(name: str) -> str:
    """A file name for a learner: their name when it is plain, else a readable form plus a short hash
    of the name, so that two learners never share a file (``x y`` and ``x_y``)."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_"
    if plain == name:
        return plain
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{plain[:60]}-{digest}"


def _csv_text(value) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading apostrophe
    (OWASP's advice against CSV injection)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` all at once: a temporary file in the same folder, then ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "0"
    return str(entry["points"])


def write_all(results: list[dict], summary: dict, out: Path) -> None:
    """Write every report. All of them are made in memory first, so a failure writes nothing; each
    file is then replaced whole (``write_text_atomically``), never left half written."""
    by_learner: dict[str, dict[str, dict]] = {}
    for r in results:
        by_learner.setdefault(r["learner"], {})[r["notebook"]] = r
    cols = _columns(results)
    learners = sorted(by_learner)
    files = {Path("gradebook.csv"): _csv(learners, by_learner, cols),
             Path("gradebook.md"): _md(learners, by_learner, cols, results, summary)}
    for learner in learners:
        files[Path("feedback") / f"{feedback_name(learner)}.md"] = _feedback(learner, by_learner[learner], cols)
        files[Path("gradescope") / feedback_name(learner) / "results.json"] = json.dumps(
            gradescope(by_learner[learner], cols), indent=1)
    files[Path("results.json")] = json.dumps({"summary": summary, "results": results}, indent=1)
    for text in files.values():
        text.encode("utf-8")  # raises here, before anything is written, if a text cannot be stored
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(out / rel, text)


def _entry(mine: dict[str, dict], nb: str, ex: str) -> dict | None:
    r = mine.get(nb)
    return None if r is None else r["exercises"].get(ex)


def _csv(learners, by_learner, cols) -> str:
    f = io.StringIO()
    w = csv.writer(f)
    w.writerow(["learner", *[_column(nb, ex) for nb, ex in cols], "total", "max", "flags", "forged"])
    for learner in learners:
        mine = by_learner[learner]
        entries = [_entry(mine, nb, ex) for nb, ex in cols]
        total = sum(e["points"] for e in entries if e)
        flags = [f"{_column(nb, ex)}: {e['flag']}" for (nb, ex), e in zip(cols, entries) if e and e.get("flag")]
        forged = sum(len(r["forged"]) for r in mine.values())
        w.writerow([_csv_text(learner), *[_cell(e) for e in entries], total, len(cols),
                    _csv_text("; ".join(flags)), forged])
    return f.getvalue()


def _md(learners, by_learner, cols, results, summary) -> str:
    lines = [_t("gradebook"), "",
             f"{len(learners)} learner(s), {len(results)} notebook(s) graded in {summary['seconds']} s "
             f"({summary['mode']} mode, {summary['jobs']} job(s); a library answer counts "
             f"{'zero' if summary['library_policy'] == 'zero' else 'with a flag'}). Every notebook was "
             f"re-executed; the outputs stored in the submissions were not used for marks.", "",
             _t("pass_rate"), "", _t("pass_rate.columns"),
             "|---|---|---|---|"]
    reteach = []
    for nb, ex in cols:
        entries = [_entry(by_learner[l], nb, ex) for l in learners]
        passed = sum(1 for e in entries if e and e["points"])
        rate = passed / len(learners)
        mistakes = Counter(e["mistake"] or e["status"] for e in entries if e and not e["points"])
        common = ", ".join(f"{m} ({n})" for m, n in mistakes.most_common(3)) or "—"
        lines.append(f"| {_column(nb, ex)} | {passed}/{len(learners)} | {rate:.0%} | {common} |")
        if rate < 0.6:
            reteach.append((rate, nb, ex, mistakes))
    lines += ["", _t("mistakes"), ""]
    hints = Counter()
    for r in results:
        for ex, e in r["exercises"].items():
            if not e["points"] and e.get("mistake"):
                hints[(ex, e["mistake"], e.get("hint", ""))] += 1
    if hints:
        for (ex, mistake, hint), n in hints.most_common(10):
            lines.append(f"- **{ex} / {mistake}** ({n} learner(s)): {hint}")
    else:
        lines.append("- No registered mistake was made.")
    lines += ["", _t("reteach"), ""]
    if reteach:
        for rate, nb, ex, mistakes in sorted(reteach):
            top = mistakes.most_common(1)
            why = f"; most often: {top[0][0]}" if top else ""
            lines.append(f"- `{ex}` (notebook {nb}): {rate:.0%} passed{why}.")
    else:
        lines.append("- Every exercise was passed by at least 60% of the class.")
    forged = [(r["learner"], f) for r in results for f in r["forged"]]
    flagged = [(r["learner"], ex, e["flag"]) for r in results for ex, e in r["exercises"].items() if e.get("flag")]
    lines += ["", _t("forged"), ""]
    if not forged and not flagged:
        lines.append("- None.")
    for learner, f in forged:
        lines.append(f"- forged ({learner}): {f}")
    for learner, ex, flag in flagged:
        lines.append(f"- flagged ({learner}, {ex}): {flag}")
    problems = [(r["learner"], r["file"], r["execution"].get("reason", "")) for r in results
                if r.get("execution") and not r["execution"].get("finished")]
    lines += ["", _t("unfinished"), ""]
    lines += [f"- {l} ({f}): {why}" for l, f, why in problems] or ["- None."]
    if summary.get("ignored"):
        lines += ["", _t("left_out"), ""] + [f"- {x}" for x in summary["ignored"]]
    lines += ["", _t("times"), "", _t("times.columns"),
              "|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["learner"], r["notebook"])):
        lines.append(f"| {r['learner']} | {r['notebook']} | {r.get('execution', {}).get('seconds', '—')} | "
                     f"{r.get('wall_seconds', '—')} |")
    return "\n".join(lines) + "\n"


def _feedback(learner: str, mine: dict[str, dict], cols) -> str:
    total = sum((_entry(mine, nb, ex) or {"points": 0})["points"] for nb, ex in cols)
    lines = [_t("feedback", learner=learner), "", _t("score", total=total, max=len(cols)), ""]
    for nb, ex in cols:
        e = _entry(mine, nb, ex)
        if e is None:
            lines.append(_t("not_submitted", exercise=ex, notebook=nb))
            continue
        mark = _t("passed") if e["points"] else e["status"]
        text = _t("exercise", exercise=ex, notebook=nb, points=e["points"], mark=mark)
        if e.get("reason") and not e["points"]:
            text += f". {e['reason']}"
        if e.get("hint") and not e["points"]:
            text += f" {_t('hint')} {_hint(ex, e)}"
        if e.get("flag"):
            text += f" {_t('note')} {e['flag']}."
        lines.append(text)
    for r in mine.values():
        for f in r["forged"]:
            lines.append(_t("forged.line", what=f))
        if r.get("execution") and not r["execution"].get("finished"):
            lines.append(_t("unfinished.line", notebook=r["notebook"], reason=r["execution"].get("reason")))
    return "\n".join(lines) + "\n"


def gradescope(mine: dict[str, dict], cols) -> dict:
    """One learner's results in Gradescope's autograder ``results.json`` format."""
    tests = []
    for nb, ex in cols:
        e = _entry(mine, nb, ex)
        if e is None:
            tests.append({"name": _column(nb, ex), "score": 0, "max_score": 1, "status": "failed",
                          "output": "notebook not submitted"})
            continue
        out = e.get("reason", "")
        if e.get("hint") and not e["points"]:
            out += f"\n{_t('hint')} {_hint(ex, e)}"
        if e.get("flag"):
            out += f"\n{_t('note')} {e['flag']}"
        tests.append({"name": _column(nb, ex), "score": e["points"], "max_score": 1,
                      "status": "passed" if e["points"] else "failed", "output": out.strip()})
    forged = [f for r in mine.values() for f in r["forged"]]
    return {"score": sum(t["score"] for t in tests),
            "output": "Re-executed and graded by course_lib; stored outputs were not used."
                      + (f" Forged results found: {'; '.join(forged)}" if forged else ""),
            "tests": tests}
