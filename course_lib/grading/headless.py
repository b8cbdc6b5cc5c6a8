"""``python -m course_lib run [--full] [--out DIR] [--only NN ...]``: run the whole course headless.

Executes every notebook top to bottom on a fresh kernel (nbclient), writes the executed copies into
DIR, and prints and writes (``DIR/summary.md``, ``DIR/summary.json``) each notebook's run time next
to the README's syllabus time, and every result the course claims (``CLAIMS``), read from the
executed outputs, next to the README's figure. Training results are checked in full mode (fast mode
trains too little and reports them as not checked); figures that do not depend on the mode, in both. An
instructor runs it before class to check a machine. The README's syllabus times and the notebooks'
headers come from it: ``--record`` writes one measurement into both.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..stats import standard_error
from .worker import repo_root


@dataclass(frozen=True)
class Claim:
    """A result the README states and a notebook prints: where to read it, and how close it must be.

    A measured figure's tolerance comes from its noise, and ``noise`` says which (the summary prints
    it): build such claims with ``Claim.accuracy`` (an accuracy on n problems: its 95 % Wilson
    interval, ``course_lib.stats.accuracy_interval``) or ``Claim.over_seeds`` (a figure measured on
    several seeds: the 95 % prediction interval of one more seed from their spread). A threshold the
    course promises (``at_most``/``at_least``) has no noise of its own and says so.
    """

    notebook: str  # notebook number, e.g. "08"
    what: str  # what the figure is, in words
    cell: str  # id of the code cell whose output prints it
    pattern: str  # regex over that cell's output text; ``group`` is the figure
    expected: float  # the README's figure
    readme: str  # the README's words that state it (a test checks they are there)
    tolerance: float = 0.0  # |measured - expected| allowed ("close"); unused for at_most / at_least
    kind: str = "close"  # "close", "at_most" or "at_least"
    group: int = 1  # which regex group holds the figure
    modes: tuple[str, ...] = ("full",)  # modes in which the figure is expected
    noise: str = ""  # where the tolerance comes from, in words (printed with the verdict)

    def __post_init__(self):
        if self.kind not in ("close", "at_most", "at_least"):
            raise ValueError(f"kind must be 'close', 'at_most' or 'at_least', got {self.kind!r}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")

    @classmethod
    def accuracy(cls, notebook: str, what: str, cell: str, pattern: str, expected: float, n: int, readme: str,
                 **kw) -> "Claim":
        """An accuracy in percent measured on ``n`` problems: close within its 95 % Wilson interval.

        The tolerance is the interval's far side from ``expected`` (the interval is not symmetric near 0
        and 100 %), rounded up to 0.1 point: a figure outside it differs from the README's by more than
        the sampling noise of ``n`` problems.
        """
        from ..stats import accuracy_interval

        iv = accuracy_interval(round(expected / 100 * n), n)
        far = 100 * max(iv.estimate - iv.low, iv.high - iv.estimate)
        tol = math.ceil(round(far * 10, 6)) / 10
        return cls(notebook, what, cell, pattern, expected, readme, tolerance=tol, kind="close",
                   noise=f"95 % Wilson interval on {n} problems, {100 * iv.low:.1f}–{100 * iv.high:.1f} %", **kw)

    @classmethod
    def over_seeds(cls, notebook: str, what: str, cell: str, pattern: str, values: tuple[float, ...], readme: str,
                   **kw) -> "Claim":
        """A figure measured once per seed (``values``, at least 3): close to their mean within the 95 %
        prediction interval of one more seed, t · s · sqrt(1 + 1/n) (s: their standard deviation)."""
        from ..stats import seed_spread, t_quantile

        if len(values) < 3:
            raise ValueError(f"values must hold at least 3 seeds' figures, got {len(values)}")
        sp = seed_spread(values)
        tol = math.ceil(round(10 * t_quantile(sp.n - 1) * sp.std * math.sqrt(1 + 1 / sp.n), 6)) / 10
        return cls(notebook, what, cell, pattern, round(sp.mean, 1), readme, tolerance=max(tol, 0.1), kind="close",
                   noise=f"95 % prediction interval from {sp.n} seeds ({', '.join(f'{v:g}' for v in values)})", **kw)

    def judge(self, value: float) -> bool:
        if self.kind == "at_most":
            return value <= self.expected
        if self.kind == "at_least":
            return value >= self.expected
        return abs(value - self.expected) <= self.tolerance + 1e-9

    def bound(self) -> str:
        """The accepted range and where it comes from, as the summary prints it."""
        if self.kind == "at_most":
            return f"at most {self.expected:g}" + (f"; {self.noise}" if self.noise else "")
        if self.kind == "at_least":
            return f"at least {self.expected:g}" + (f"; {self.noise}" if self.noise else "")
        return f"{self.expected:g} ± {self.tolerance:g}: {self.noise}"


BOTH = ("full", "fast")  # a figure that does not depend on the mode (e.g. read from shipped checkpoints)

# Every figure the course claims and a notebook prints. Add one here when a notebook states a result.
# Held-out accuracies are measured on the 500 problems of data/lm/eval.jsonl.
CLAIMS: tuple[Claim, ...] = (
    Claim("04", "each seed solves CartPole-v1 (two greedy evaluations in a row >= 475) within 100k steps",
          "ppo04-19", r"solved \(two evaluations in a row >= 475\) at (\d+) steps", 100_000,
          "100000 env steps per run", kind="at_most", noise="the budget the course promises, not a measured figure"),
    # fast mode loads the shipped SFT model (the same model on every machine: its figures are read
    # exactly, and the interval is the evaluation's sampling noise); full mode rebuilds it, which lands
    # in the recipe's band (exactly 43.2% only on the machine that built the shipped files)
    Claim.accuracy("05", "SFT model's greedy accuracy on the 500 held-out problems (%)", "9e0b54ed",
                   r"after SFT\s*: accuracy ([\d.]+)%", 43.2, 500, "SFT greedy accuracy: 43.2 %", modes=("fast",)),
    Claim("05", "rebuilt SFT model's greedy accuracy, at least the band's floor (%)", "9e0b54ed",
          r"after SFT\s*: accuracy ([\d.]+)%", 35.0, "band, 35–65 % held-out accuracy", kind="at_least",
          noise="the recipe's band (six rebuilds measured 41.2–52.4 %)"),
    Claim("05", "rebuilt SFT model's greedy accuracy, at most the band's ceiling (%)", "9e0b54ed",
          r"after SFT\s*: accuracy ([\d.]+)%", 65.0, "band, 35–65 % held-out accuracy", kind="at_most",
          noise="the recipe's band (six rebuilds measured 41.2–52.4 %)"),
    Claim.accuracy("05", "SFT model's greedy format rate (%)", "9e0b54ed",
                   r"after SFT\s*: accuracy [\d.]+%, format rate ([\d.]+)%", 100.0, 500,
                   "SFT greedy format rate: 100.0 %", modes=("fast",)),
    Claim.accuracy("05", "pretrained model's greedy accuracy (%)", "9e0b54ed",
                   r"pretrained\s*: accuracy ([\d.]+)%", 1.2, 500, "pretrained greedy accuracy: 1.2 %",
                   modes=("fast",)),
    # 06 reads the shipped reward model in both modes (full mode retrains it to the same bytes).
    Claim.accuracy("06", "reward model's agreement with the truth on the one-right test pairs (%)", "nb06-eval",
                   r"agreement with the truth: ([\d.]+) %", 90.2, 993, "with the truth on **90.2 %**", modes=BOTH),
    # 07's live PPO run (seed 0): 68.0 % on 500 held-out problems, and at least the target of +20 points
    # over the SFT model's 43.2 %.
    Claim.accuracy("07", "RLHF-PPO on the rule reward (seed 0): held-out greedy accuracy after 40 steps (%)",
                   "nb07-ppo-run", r"held-out accuracy [\d.]+% -> ([\d.]+)%", 68.0, 500,
                   "43.2 % → 68.0 % held-out greedy accuracy"),
    Claim("07", "RLHF-PPO on the rule reward: at least the target, SFT + 20 points (%)", "nb07-ppo-run",
          r"held-out accuracy [\d.]+% -> ([\d.]+)%", 63.2, "target\n+20 points in 4 minutes: met", kind="at_least",
          noise="the target the text sets, not a measured figure"),
    Claim.accuracy("08", "GRPO run (seed 0): held-out greedy accuracy before (%)", "8202fdba",
                   r"held-out greedy accuracy ([\d.]+)% -> ([\d.]+)%", 43.2, 500, "43.2 % → 77.4 %"),
    Claim.accuracy("08", "GRPO run (seed 0): held-out greedy accuracy after (%)", "8202fdba",
                   r"held-out greedy accuracy ([\d.]+)% -> ([\d.]+)%", 77.4, 500, "43.2 % → 77.4 %", group=2),
    # read from data/pitfalls/ (cached) or measured with a fixed seed: the same in both modes
    Claim.accuracy("09", "SFT model's pass@1 on the 100 pass@k problems (%)", "diversity-read",
                   r"pass@1 : SFT\s+([\d.]+)%", 19.4, 100, "19.4% / 68.5% / 98.0%", modes=BOTH),
    Claim("09", "mean true return of a uniformly random CartPole-v1 policy (5,000 episodes)", "eureka-cp-cache",
          r"uniformly random ([\d.]+) ±", 22.2, "below a uniformly random policy's 22", tolerance=0.4,
          noise="95 % interval of a mean over 5,000 episodes (standard error 0.17)", modes=BOTH),
    # 10: the export's greedy answers equal the course model's on every held-out problem (both modes), and
    # TRL's gain (seed 0) within the 95 % half-width of a difference of two accuracies on 500 problems.
    Claim("10", "exported model's greedy answers identical to the course's (of 500)", "a10c0007",
          r"greedy completions identical on (\d+) of", 500, "their greedy answers are identical on all 500",
          kind="at_least", modes=BOTH, noise="an exact equality: no noise"),
    Claim("10", "TRL GRPO run (seed 0): held-out gain in 60 steps (points)", "a10c0013",
          r"([+-][\d.]+) points on the held-out set", 14.2, "from 43.2 % to 57.4 %",
          tolerance=round(100 * 1.96 * (2 * standard_error(0.5, 500) ** 2) ** 0.5, 1),
          noise="95 % half-width of a difference of two accuracies on 500 problems (at most 6.2 points)"),
)


def cell_text(cell) -> str:
    """The text a code cell printed or displayed (streams and text/plain)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "".join(p if isinstance(p, str) else "".join(p) for p in parts)


def read_claims(nb, number: str, mode: str) -> list[dict]:
    """Each claim of notebook ``number``: the figures found in ``nb``'s outputs and the verdict."""
    by_id = {c.get("id"): c for c in nb.cells}
    out = []
    for claim in CLAIMS:
        if claim.notebook != number:
            continue
        row = {"what": claim.what, "expected": claim.expected, "kind": claim.kind, "tolerance": claim.tolerance,
               "noise": claim.noise, "found": [], "verdict": ""}
        cell = by_id.get(claim.cell)
        values = [float(m.group(claim.group)) for m in re.finditer(claim.pattern, cell_text(cell))] if cell else []
        row["found"] = values
        if mode not in claim.modes:
            row["verdict"] = f"not checked in {mode} mode"
        elif cell is None:
            row["verdict"] = f"FAILED: cell {claim.cell} not found"
        elif not values:
            row["verdict"] = "FAILED: the figure was not printed"
        elif all(claim.judge(v) for v in values):
            row["verdict"] = f"ok ({claim.bound()})"
        else:
            row["verdict"] = ("FAILED: " + ", ".join(f"{v:g}" for v in values if not claim.judge(v))
                              + f" outside {claim.bound()}")
        out.append(row)
    return out


def readme_times(readme: str) -> dict[str, dict[str, float | None]]:
    """Notebook number -> {"full": seconds, "fast": seconds} from the README's syllabus table."""
    times = {}
    for line in readme.splitlines():
        number = _syllabus_number(line)
        if number is not None:
            cols = line.strip().strip("|").split("|")
            times[number] = {"full": _seconds(cols[-2]), "fast": _seconds(cols[-1])}
    return times


# The one sentence of each notebook's opening cell that states its run times (a test checks that it
# agrees with the README's syllabus; ``run --record`` rewrites both from one measurement).
HEADER_TIMES = re.compile(r"(\*\*Run time\*\* on 2 CPU cores: )(?P<full>[^,]+?)( in full mode, )(?P<fast>[^,]+?)"
                          r"( in fast mode)")
# The README line under the syllabus that says when, with which command and at what load each column was
# measured (one per mode); README.ko.md has the same line in Korean (``i18n/ko/messages.json``).
RECORD_NOTE = {
    "full": "*Full-mode times: `python -m course_lib run --full --record` on {date}{load}.*",
    "fast": "*Fast-mode times: `python -m course_lib run --record` on {date}{load}.*",
}
RECORD_LOAD = ", load average {load} at the end"


def english_messages() -> dict[str, str]:
    """The README's record lines with their current English (see ``course_lib.i18n``)."""
    return {**{f"grading.record.{mode}": text for mode, text in RECORD_NOTE.items()},
            "grading.record.load": RECORD_LOAD}


def record_note(mode: str, lang: str, load: float | None, when: time.struct_time | None = None) -> str:
    """The README's line saying when and how the ``mode`` column was measured, in ``lang``."""
    from .. import i18n

    when = time.localtime() if when is None else when
    date = (f"{when.tm_year}년 {when.tm_mon}월 {when.tm_mday}일" if lang == "ko"
            else time.strftime("%d %b %Y", when))
    clause = "" if load is None else i18n.message_format("grading.record.load", RECORD_LOAD, lang, load=f"{load:.1f}")
    return i18n.message_format(f"grading.record.{mode}", RECORD_NOTE[mode], lang, date=date, load=clause)


def _record_note_starts(mode: str, lang: str) -> tuple[str, ...]:
    """How the record line of ``mode`` begins: the template's words up to its first colon ("*Full-mode
    times:"), in English and in ``lang`` (a README translated before the line was)."""
    from .. import i18n

    templates = (RECORD_NOTE[mode], i18n.message(f"grading.record.{mode}", RECORD_NOTE[mode], lang))
    return tuple(t.split(":")[0] + ":" for t in templates)


def _seconds(text: str) -> float | None:
    m = re.match(r"\s*([\d.]+)\s*(s|min)\b", text)  # "1.1 min", "30 s*", "4.7 min (load 9–12)"
    return None if not m else float(m.group(1)) * (60 if m.group(2) == "min" else 1)


def header_times(nb) -> dict[str, float | None]:
    """{"full": seconds, "fast": seconds} from a notebook's opening cell (``HEADER_TIMES``); {} if absent."""
    cells = nb["cells"]
    source = cells[0]["source"] if cells else ""
    m = HEADER_TIMES.search(source if isinstance(source, str) else "".join(source))
    return {} if m is None else {"full": _seconds(m.group("full")), "fast": _seconds(m.group("fast"))}


def _syllabus_number(line: str) -> str | None:
    """The notebook number of a README syllabus row ("| 05 | ... | full | fast |"), else None."""
    cols = [c.strip() for c in line.strip().strip("|").split("|")]
    return cols[0] if len(cols) >= 7 and re.fullmatch(r"\d\d", cols[0]) else None


def _replace_readme_time(readme: str, number: str, mode: str, value: str) -> str:
    lines = readme.split("\n")
    for i, line in enumerate(lines):
        if _syllabus_number(line) == number:
            head, full, fast, tail = line.rstrip().rsplit("|", 3)
            full, fast = (f" {value} ", fast) if mode == "full" else (full, f" {value} ")
            lines[i] = "|".join((head, full, fast, tail))
            return "\n".join(lines)
    raise ValueError(f"the README's syllabus has no row for notebook {number}")


def record_times(rows: list[dict], mode: str, *, readme: Path, notebooks_dir: Path, load: float | None) -> None:
    """Write the measured run times of ``rows`` into the README's syllabus and the notebooks' headers.

    One measurement, two places that show it: the syllabus column of ``mode`` and the notebook's
    ``**Run time**`` sentence; the README's ``RECORD_NOTE`` line says when, with which command and
    at what load. Notebooks that failed are not recorded.
    """
    import nbformat

    text = readme.read_text(encoding="utf-8")
    for row in rows:
        if row["error"]:
            continue
        value = _fmt(row["seconds"])
        text = _replace_readme_time(text, row["notebook"][:2], mode, value)
        path = notebooks_dir / f"{row['notebook']}.ipynb"
        raw = json.loads(path.read_text(encoding="utf-8"))
        first = raw["cells"][0]
        src = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
        if not HEADER_TIMES.search(src):
            raise ValueError(f"{path.name}: its opening cell has no '**Run time** on 2 CPU cores: X in full mode, "
                             "Y in fast mode' sentence to record into")
        src = HEADER_TIMES.sub(lambda m: m.group(1) + (value if mode == "full" else m.group("full")) + m.group(3)
                               + (value if mode == "fast" else m.group("fast")) + m.group(5), src, count=1)
        first["source"] = src.splitlines(keepends=True)
        nbformat.validate(nbformat.from_dict(raw))
        path.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    note = record_note(mode, "en", load)
    lines = text.split("\n")
    starts = _record_note_starts(mode, "en")
    at = [i for i, line in enumerate(lines) if line.startswith(starts)]
    if at:
        lines[at[0]] = note
    else:
        raise ValueError(f"the README has no line starting {RECORD_NOTE[mode].split(':')[0] + ':'!r} to record the date into")
    readme.write_text("\n".join(lines), encoding="utf-8")
    # The Korean edition shows the same measurement: README.ko.md's syllabus and note, and notebooks/ko rebuilt
    # (their opening cells take the times from the English headers just written).
    from .. import i18n

    korean = readme.with_name("README.ko.md")
    if korean.exists():
        ko = korean.read_text(encoding="utf-8")
        for row in (r for r in rows if not r["error"]):
            ko = _replace_readme_time(ko, row["notebook"][:2], mode, i18n.duration_ko(_fmt(row["seconds"])))
        note_ko = record_note(mode, "ko", load)
        starts = _record_note_starts(mode, "ko")
        korean.write_text("\n".join(note_ko if line.startswith(starts) else line
                                    for line in ko.split("\n")), encoding="utf-8")
    if (notebooks_dir / "ko").is_dir():
        i18n.build("ko", notebooks_dir.parent)


def select(notebooks_dir: Path, only: list[str] | None) -> list[Path]:
    """The notebooks to run, in course order; ValueError naming the unknown ones."""
    all_nbs = sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return all_nbs
    chosen, unknown = [], []
    for want in only:
        hits = [p for p in all_nbs if p.stem == want or p.stem.startswith(f"{want}_") or p.name == want]
        (chosen.extend(hits) if hits else unknown.append(want))
    if unknown:
        names = ", ".join(p.stem for p in all_nbs)
        raise ValueError(f"--only: no notebook named {', '.join(map(repr, unknown))}; the course has: {names}")
    return sorted(set(chosen))


def cell_limit(expected: float | None, timeout: float) -> float:
    """Seconds a cell may run: five times the notebook's expected run time (at least 3 minutes, at
    most ``timeout``), so a hung notebook is found in minutes, not at a flat limit."""
    return timeout if expected is None else min(timeout, max(180.0, 5 * expected))


def run_one(path: Path, out: Path, *, timeout: float) -> dict:
    """Execute one notebook on a fresh kernel; its executed copy goes to ``out``. ``idle_timeout``:
    a cell ran out of time while the kernel was idle (a lost message, see ``execute.notebook_client``)."""
    import nbformat

    from .execute import notebook_client

    nb = nbformat.read(path, as_version=4)
    status: dict = {}
    client = notebook_client(nb, status=status, timeout=timeout, kernel_name="python3",
                             resources={"metadata": {"path": str(path.parent)}})
    started, error = time.perf_counter(), ""
    try:
        client.execute()
    except Exception as exc:  # noqa: BLE001 - a failing notebook is reported, the run goes on
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"[:400]
    seconds = time.perf_counter() - started
    nbformat.write(nb, out / path.name)
    return {"nb": nb, "seconds": round(seconds, 1), "error": error, "idle_timeout": bool(status.get("idle_timeout"))}


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def run_course(notebooks_dir: Path, out: Path, *, full: bool = False, only: list[str] | None = None,
               timeout: float = 1800.0, readme: Path | None = None, echo=print, record: bool = False) -> dict:
    """Run the chosen notebooks, check the claims, write the summary; returns it.

    With ``record`` the measured times are written into the README and the notebooks' headers
    (``record_times``), only if every notebook ran and every checked claim held.
    """
    mode = "full" if full else "fast"
    paths = select(notebooks_dir, only)
    out.mkdir(parents=True, exist_ok=True)
    readme = readme or Path(repo_root()) / "README.md"
    stated = readme_times(readme.read_text(encoding="utf-8")) if readme.exists() else {}
    old = os.environ.get("COURSE_FAST")
    if full:
        os.environ.pop("COURSE_FAST", None)
    else:
        os.environ["COURSE_FAST"] = "1"
    rows = []
    try:
        for path in paths:
            number = path.stem[:2]
            readme_s = stated.get(number, {}).get(mode)
            limit = cell_limit(readme_s, timeout)
            echo(f"running {path.name} ({mode} mode, {limit:.0f} s per cell at most) ...", flush=True)
            res = run_one(path, out, timeout=limit)
            if res["idle_timeout"]:
                echo("  a cell waited on an idle kernel (a lost message, not the notebook): running it once more")
                res = run_one(path, out, timeout=limit)
            row = {"notebook": path.stem, "seconds": res["seconds"], "readme_seconds": readme_s,
                   "error": res["error"], "claims": read_claims(res["nb"], number, mode)}
            rows.append(row)
            echo(f"  {res['seconds']:.1f} s (README: {_fmt(readme_s)})" + (f"; FAILED: {res['error']}" if res["error"] else ""))
            for c in row["claims"]:
                echo(f"  {c['what']}: found {c['found'] or '-'}, README {c['expected']:g}: {c['verdict']}")
    finally:
        if old is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = old
    import platform

    summary = {"mode": mode, "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
               "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None, "notebooks": rows,
               "claims": [asdict(c) for c in CLAIMS]}
    summary["ok"] = all(not r["error"] and not any(c["verdict"].startswith("FAILED") for c in r["claims"]) for r in rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    lines = [f"# Course run ({mode} mode)", "",
             f"Machine: {summary['machine']}; load average at the end {summary['load_average']}.", "",
             "| notebook | run time | README | result |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['notebook']} | {_fmt(r['seconds'])} | {_fmt(r['readme_seconds'])} | "
                     f"{'FAILED: ' + r['error'] if r['error'] else 'ran to the end'} |")
    lines += ["", "| notebook | claim | README | found | verdict |", "|---|---|---|---|---|"]
    for r in rows:
        for c in r["claims"]:
            found = ", ".join(f"{v:g}" for v in c["found"]) or "—"
            lines.append(f"| {r['notebook'][:2]} | {c['what']} | {c['expected']:g} | {found} | {c['verdict']} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if record and summary["ok"]:
        record_times(rows, mode, readme=readme, notebooks_dir=notebooks_dir, load=summary["load_average"])
        echo(f"recorded the {mode}-mode times in {readme.name} and the notebooks' headers")
    elif record:
        echo("not recorded: a notebook failed or a claim did not hold")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="full mode (default: fast mode, COURSE_FAST=1)")
    parser.add_argument("--out", type=Path, default=Path("course-run"), help="folder for executed copies and the summary")
    parser.add_argument("--only", action="append", metavar="NN", help="run only this notebook (number or name; repeat)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per cell at most (default 1800; each notebook gets 5x its README time, "
                             "at least 180 s, below that)")
    parser.add_argument("--record", action="store_true",
                        help="write the measured times into the README's syllabus and the notebooks' headers "
                             "(run it on an idle machine; nothing is written if anything failed)")
    args = parser.parse_args(argv)
    try:
        summary = run_course(Path(repo_root()) / "notebooks", args.out, full=args.full, only=args.only,
                             timeout=args.timeout, record=args.record)
    except ValueError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 2
    print(f"summary: {args.out / 'summary.md'} ({'all ran and every checked claim holds' if summary['ok'] else 'FAILURES above'})")
    return 0 if summary["ok"] else 1
