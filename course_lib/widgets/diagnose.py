"""The run doctor's live panel: pass it as ``RunOptions(log=panel)`` to any course trainer.

    panel = DiagnosePanel(every=10)
    history = train_grpo(policy, cfg, run=RunOptions(log=panel))
    panel.finish(history)          # the whole history: evaluations and episodes too

The trainer calls the panel with each update's record; every ``every`` records (and at least
``min_seconds`` apart) it redraws the key curves (``plotting.diagnose.panel_figure``) and the findings
(``diagnose.diagnose``) read from the records so far. A record holds the per-update series only, so
the findings that need evaluations or episodes (reward hacking, truncation, no improvement) appear
at ``finish``. The first redraw waits until one redraw (guessed at ``FIRST_DRAW_GUESS`` seconds, then
measured) fits in 5 % of the time trained so far, so a run shorter than about 20 s is drawn only at
``finish``. In a notebook the panel is an ipywidgets Output below the cell; headless (scripts,
CI) it prints the findings as text when they change, the same text ``python -m course_lib diagnose``
prints.
"""
from __future__ import annotations

import time

from ..core import check_finite_number, check_positive_int
from ..diagnose import diagnose, format_findings, run_kind
from ..runs import History
from . import label


FIRST_DRAW_GUESS = 1.0  # seconds one redraw is assumed to cost before the first is measured (0.7-0.9 s at load 7)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class DiagnosePanel:
    """A log sink that keeps the records, diagnoses them and redraws at most every ``every`` updates.

    Args:
        every: redraw after this many records (at least 1).
        min_seconds: and never sooner than this many seconds after the previous redraw (or the panel's creation).
        max_overhead: and only while the time spent redrawing, the next redraw included (guessed from the
            last one), stays within this share of the run's time so far (0.05: 5 %; ``bench diagnose``
            measures it); None: no such limit (every ``every`` records, e.g. in tests).
        kind: the run's kind for the panels ("cartpole", "grpo", "rlhf", ...; default: guessed).
        display: "auto" (a widget in a notebook, text elsewhere), "widget", "figure" (draw and render the
            figure without showing it: what the widget costs, for benchmarks and tests), "text" or "none".
    """

    def __init__(self, every: int = 10, min_seconds: float = 2.0, max_overhead: float | None = 0.05, kind: str | None = None,
                 display: str = "auto"):
        self.every = check_positive_int("every", every)
        self.min_seconds = check_finite_number("min_seconds", min_seconds, low=0.0)
        self.max_overhead = (None if max_overhead is None else
                             check_finite_number("max_overhead", max_overhead, low=0.0, high=1.0, low_open=True))
        if display not in ("auto", "widget", "figure", "text", "none"):
            raise ValueError(f"display must be 'auto', 'widget', 'figure', 'text' or 'none', got {display!r}")
        self.display_mode = ("widget" if _in_notebook() else "text") if display == "auto" else display
        self.kind = kind
        self.records: dict[str, list] = {}
        self.n = 0
        self.findings: list = []
        self.redraws = 0
        self.redraw_seconds = 0.0
        self._start = self._last_draw = time.perf_counter()  # the run starts about now
        self._last_cost = FIRST_DRAW_GUESS
        self._printed: tuple = ()
        self._out = None
        self._final = False
        self.figure = None

    def __call__(self, record: dict) -> None:
        """Take one update's record (what ``RunOptions.log`` is called with)."""
        if not isinstance(record, dict):
            raise ValueError(f"record must be a dict of one update's values, got {type(record).__name__}")
        for k, v in record.items():
            self.records.setdefault(k, [None] * self.n).append(v)
        self.n += 1
        for k, v in self.records.items():  # a series missing from this record keeps its length
            if len(v) < self.n:
                v.append(None)
        if self.n % self.every == 0:
            now = time.perf_counter()
            # Redraw only while the time spent redrawing (this redraw included, guessed from the last one)
            # stays within max_overhead of the run's time so far.
            within = (self.max_overhead is None
                      or self.redraw_seconds + self._last_cost <= self.max_overhead * (now - self._start))
            if now - self._last_draw >= self.min_seconds and within:
                self.refresh()

    def history(self) -> History:
        """The records so far as a History of per-update series."""
        h = History(updates=tuple(self.records))
        for k, v in self.records.items():
            h[k] = list(v)
        if self.kind:
            h["config"] = {"trainer": {"cartpole": "ppo"}.get(self.kind, self.kind)}
        return h

    def refresh(self, history: dict | None = None) -> list:
        """Diagnose ``history`` (default: the records so far), redraw, and return the findings."""
        t = time.perf_counter()
        hist = self.history() if history is None else history
        self.findings = diagnose(hist)
        if self.display_mode == "widget":
            self._draw(hist)
        elif self.display_mode == "figure":
            from ..plotting.diagnose import panel_figure
            from . import figure_bundle

            self.figure = panel_figure(hist, self.findings, kind=self.kind or run_kind(hist))
            figure_bundle(self.figure)
        elif self.display_mode == "text":
            names = tuple(f.name for f in self.findings)
            if names != self._printed:
                n = max((len(hist[k]) for k in getattr(hist, "kinds", {"updates": ()})["updates"]), default=self.n)
                print(format_findings(self.findings, title=label("doctor_after", n=n)))
                self._printed = names
        self.redraws += 1
        self._last_draw = time.perf_counter()
        self._last_cost = self._last_draw - t
        self.redraw_seconds += self._last_cost
        return self.findings

    def _draw(self, hist) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        from ..plotting.diagnose import panel_figure
        from . import figure_bundle

        self.figure = panel_figure(hist, self.findings, kind=self.kind or run_kind(hist))
        bundle = figure_bundle(self.figure)
        if self._final:
            # The whole run's figure goes into the cell's own output, not the live widget: a notebook
            # saved or read without a kernel (GitHub, nbconvert) then shows it as a plain PNG.
            if self._out is not None:
                self._out.clear_output()
            display(bundle, raw=True)
            print(format_findings(self.findings))
            return
        if self._out is None:
            self._out = widgets.Output()
            display(self._out)
        self._out.clear_output(wait=True)
        with self._out:
            display(bundle, raw=True)
            print(format_findings(self.findings))

    def finish(self, history: dict) -> list:
        """Diagnose and draw the whole History the trainer returned (evaluations and episodes included).

        In a notebook the live widget is emptied and the final figure and findings become the cell's own
        output, so they stay visible in a saved notebook read without a kernel."""
        if not isinstance(history, dict):
            raise ValueError(f"history must be the trainer's History, got {type(history).__name__}")
        self._printed = ()
        self._final = True
        return self.refresh(history)
