"""The run contract every trainer shares: run options, the thread guard, and the history.

Every training function of the course (``policy_gradient.reinforce``, ``ppo.train_ppo``,
``experiments.sb3.train_sb3``, ``lm.pretrain`` / ``lm.sft``, ``grpo.train_grpo``,
``rlhf.train_rlhf``, ``rlhf.train_dpo``, ``rlhf.train_reward_model``) has the shape
``train_x(model(s) and data…, cfg, *, run: RunOptions | None = None)`` (``tests/test_run_contract.py``
checks it). The config owns the seed (every config has a ``seed`` field); ``run`` says how to run:

    threads      torch CPU threads while training (this course's small models are fastest on 1)
    progress     a tqdm progress bar
    max_seconds  a wall-clock budget for training, evaluation excluded: the run stops after the
                 update that exceeds it
    eval_every   overrides the config's evaluation cadence (in the trainer's own unit)
    log          a function called with each update's record (a dict)

and returns a ``History``: a dict of series, as the notebooks and plots have always read it,
that also knows which series are per update, per finished episode and per evaluation, and how
long training took with evaluation excluded (``train_seconds``). ``History.save(path)`` writes it as
JSON and ``History.load(path)`` reads it back (what ``python -m course_lib diagnose RUN`` reads).
"""
from __future__ import annotations

import dataclasses
import json
import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["RunOptions", "History", "history_of", "threads"]


@contextmanager
def threads(n: int | None):
    """Run torch, and NumPy's OpenBLAS where NumPy has one, with ``n`` threads inside the block
    (None: leave them as they are).

    For the course's model sizes one thread is fastest on a busy machine, and it makes training
    exactly reproducible. The one thread guard of the library: every trainer uses it. NumPy's
    OpenBLAS matters where a trainer multiplies matrices in NumPy (PPO's fast path): on a loaded
    2-core machine its threads spin against each other, measured 20x slower than one thread.
    """
    import torch

    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer or None, got {n!r}")
    old = torch.get_num_threads()
    blas = _numpy_blas_threads()
    old_blas = blas[0]() if blas else None
    torch.set_num_threads(n)
    if blas:
        blas[1](n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
        if blas:
            blas[1](old_blas)


_BLAS: list = []


def _numpy_blas_threads():
    """(get, set) of the thread count of the OpenBLAS that NumPy's wheels bundle, or None where
    NumPy uses another BLAS (found as threadpoolctl finds it, by its exported C functions)."""
    if not _BLAS:
        _BLAS.append(None)
        import ctypes
        import glob
        import os

        import numpy

        root = os.path.dirname(os.path.dirname(numpy.__file__))
        for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "*openblas*"))
                           + glob.glob(os.path.join(os.path.dirname(numpy.__file__), ".dylibs", "*openblas*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    _BLAS[0] = (get, put)
                    break
            if _BLAS[0]:
                break
    return _BLAS[0]


@dataclass(frozen=True)
class RunOptions:
    """How to run a trainer, whatever it trains (see the module docstring)."""

    threads: int | None = 1  # torch threads while training; None leaves torch's setting
    progress: bool = False  # show a tqdm progress bar
    max_seconds: float | None = None  # training budget in seconds (evaluation excluded); None: no limit
    eval_every: int | None = None  # None: the config's cadence; the unit is the trainer's (steps, env steps)
    log: Callable[[dict], Any] | None = None  # called with each update's record

    def __post_init__(self):
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be True or False, got {self.progress!r}")
        if self.max_seconds is not None and (isinstance(self.max_seconds, bool)
                                             or not isinstance(self.max_seconds, (int, float))
                                             or not math.isfinite(self.max_seconds) or self.max_seconds <= 0):
            raise ValueError(f"max_seconds must be a finite number > 0 or None, got {self.max_seconds!r}")
        if self.eval_every is not None and (isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int)
                                            or self.eval_every < 0):
            raise ValueError(f"eval_every must be a non-negative integer or None, got {self.eval_every!r}")
        if self.log is not None and not callable(self.log):
            raise ValueError(f"log must be a function of one record (a dict) or None, got {self.log!r}")

    @classmethod
    def check(cls, run: "RunOptions | None") -> "RunOptions":
        """``run``, or the default options for None; anything else is refused."""
        if run is None:
            return cls()
        if not isinstance(run, cls):
            raise ValueError(f"run must be a RunOptions or None, got {type(run).__name__}")
        return run

    def configure(self, cfg):
        """``cfg`` with this run's evaluation cadence, where the config has that field."""
        changes = {}
        fields = {f.name for f in dataclasses.fields(cfg)}
        if self.eval_every is not None and "eval_every" in fields:
            changes["eval_every"] = self.eval_every
        return dataclasses.replace(cfg, **changes) if changes else cfg

    def out_of_time(self, train_seconds: float) -> bool:
        """True once ``train_seconds`` (evaluation excluded) has reached ``max_seconds``."""
        return self.max_seconds is not None and train_seconds >= self.max_seconds


class History(dict):
    """A training run's record: ``{name: list of values}`` plus totals, grouped by what a value is per.

    Args:
        updates: names of the series with one value per update (training step).
        episodes: names of the series with one value per finished episode.
        evals: names of the series with one value per evaluation.
        **totals: single values (e.g. ``config``, ``seed``).
    """

    def __init__(self, updates: Iterable[str] = (), episodes: Iterable[str] = (), evals: Iterable[str] = (),
                 **totals):
        super().__init__()
        self.kinds = {"updates": tuple(updates), "episodes": tuple(episodes), "evals": tuple(evals)}
        for names in self.kinds.values():
            for k in names:
                self[k] = []
        self.update(totals)

    def _series(self, kind: str) -> dict:
        return {k: self[k] for k in self.kinds[kind]}

    @property
    def updates(self) -> dict:
        """The per-update series."""
        return self._series("updates")

    @property
    def episodes(self) -> dict:
        """The per-episode series (empty for trainers without episodes)."""
        return self._series("episodes")

    @property
    def evals(self) -> dict:
        """The per-evaluation series."""
        return self._series("evals")

    def record(self, kind: str, rec: dict) -> None:
        """Append one value to each series of ``rec`` (all of ``kind``: "updates", "episodes", "evals")."""
        names = self.kinds[kind]
        for k, v in rec.items():
            if k not in names:
                raise ValueError(f"{k!r} is not a per-{kind[:-1]} series of this history ({names})")
            self[k].append(v)

    def save(self, path: str | Path) -> Path:
        """Write the history as JSON: its series, their kinds and its totals.

        Values JSON cannot hold are written as follows: a dataclass (a config) as its dict, NumPy
        and torch scalars as numbers; anything else (e.g. TRL's trained "model") is left out and
        its name listed under "left_out". NaN and infinities are written as JSON's NaN/Infinity
        (which Python's json module reads back).
        """
        data, left_out = {}, []
        for k, v in self.items():
            try:
                data[k] = _jsonable(v)
            except TypeError:
                left_out.append(k)
        path = Path(path)
        path.write_text(json.dumps({"format": "course_lib.History/1", "kinds": {k: list(v) for k, v in self.kinds.items()},
                                    "values": data, "left_out": left_out}))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "History":
        """A History written by ``save``; a JSON object of lists (a plain dict, e.g. a cached sweep run)
        is read as ``history_of`` reads a dict (``eval_*`` lists per evaluation, other lists per update)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"path must be a saved History (a JSON file), got {str(path)!r}: no such file")
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"path {str(path)!r} is not a JSON file ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"path {str(path)!r} must hold a JSON object, got {type(raw).__name__}")
        if raw.get("format") != "course_lib.History/1":
            return history_of(raw)
        hist = cls()
        hist.update(raw["values"])
        hist.kinds = {k: tuple(raw["kinds"].get(k, ())) for k in ("updates", "episodes", "evals")}
        return hist

    @property
    def train_seconds(self) -> float:
        """Seconds spent training, evaluation excluded (the last value of a cumulative series, or the total)."""
        t = self.get("train_seconds", 0.0)
        if isinstance(t, list):
            return float(t[-1]) if t else 0.0
        return float(t)


def history_of(series: dict, eval_prefix: str = "eval_") -> History:
    """A plain dict of series that no course trainer built (a cached sweep run, a foreign trainer's log,
    a JSON file) as a ``History``: lists named ``eval_*`` are per evaluation, the other lists per update,
    everything else a total. Trainers declare their series instead (``History(updates=..., evals=...)``)."""
    if not isinstance(series, dict):
        raise ValueError(f"series must be a dict of lists and totals, got {type(series).__name__}")
    lists = [k for k, v in series.items() if isinstance(v, list)]
    hist = History(updates=[k for k in lists if not str(k).startswith(eval_prefix)],
                   evals=[k for k in lists if str(k).startswith(eval_prefix)])
    hist.clear()
    hist.update(series)  # the dict's own values and order
    return hist


def _jsonable(v):
    """``v`` as plain JSON values (TypeError when it has none)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _jsonable(dataclasses.asdict(v))
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", None) == 0:  # a NumPy or torch scalar
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON")
