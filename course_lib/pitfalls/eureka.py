"""An Eureka-style search over reward functions for GRPO on the arithmetic task (notebook 09).

Eureka (Ma et al. 2023, arXiv 2310.12931): a large LLM writes reward functions as code,
each candidate is scored by training a policy with it and measuring the task's true success, and
the best are refined by "reward reflection" (a text summary of the training statistics fed back
to the LLM). Its abstract reports rewards that outperform human experts' on 83% of 29 tasks,
with a 52% average normalised improvement.

Here the course's tiny LM cannot write code, so the proposer is replaced by hand:

* candidates are Python reward functions in TRL's convention, each a weighted sum of reward
  **components** written below (accuracy, format, partial credit per digit, numeric closeness, a
  length bonus); ``Candidate.source()`` prints the function as code;
* each candidate is scored by a short GRPO run from the shipped SFT model and measured by the
  **gold** metric, held-out greedy exact-match accuracy, never by its own reward;
* ``reflect`` is the reward reflection: a fixed rule that reads a run's per-component statistics
  and proposes the next candidates (drop a component that carried no signal, drop one that rose
  while the gold accuracy fell, add partial credit when most groups had zero variance, reweight).

Shapes: rewards are lists with one float per completion.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from .. import tasks
from ..rewards import check_column, check_completions, accuracy_reward, combine_rewards, format_reward

__all__ = ["COMPONENTS", "Candidate", "SEEDS", "digit_credit_reward", "closeness_reward", "length_reward",
           "make_reward", "score_candidate", "reflect", "search", "build"]

STEPS = 30  # GRPO steps per candidate
PROMPTS_PER_STEP = 32  # 256 completions per step with G = 8
ROUNDS = 2  # the seeds, then one round of reflection
PROPOSALS = 2  # candidates proposed per reflection
SEED = 0


def _parsed(completions, finished) -> list:
    texts = check_completions(completions)
    done = [True] * len(texts) if finished is None else check_column("finished", finished, len(texts))
    return texts, [tasks.parse_answer(t) if tasks.follows_format(t, bool(f)) else None for t, f in zip(texts, done)]


def digit_credit_reward(completions: Sequence, answer: Sequence | None = None, finished=None, **kwargs) -> list[float]:
    """Partial credit per digit: the share of positions where the answer's digits are right.

    Digits are compared as written (least-significant first) over the longer of the two; 1.0
    only for the exact answer; 0.0 for a completion that breaks the format.
    """
    texts, parsed = _parsed(completions, finished)
    truth = [tasks.format_answer(tasks.as_answer(a)) for a in check_column("answer", answer, len(texts))]
    out = []
    for t, p, want in zip(texts, parsed, truth):
        if p is None:
            out.append(0.0)
            continue
        width = max(len(t), len(want))
        out.append(sum(x == y for x, y in zip(t, want)) / width)
    return out


def closeness_reward(completions: Sequence, answer: Sequence | None = None, finished=None, **kwargs) -> list[float]:
    """max(0, 1 − |answer − truth| / 10): credit for being numerically close (0 if unparsable)."""
    texts, parsed = _parsed(completions, finished)
    truth = [tasks.as_answer(a) for a in check_column("answer", answer, len(texts))]
    return [0.0 if p is None else max(0.0, 1.0 - abs(p - t) / 10.0) for p, t in zip(parsed, truth)]


def length_reward(completions: Sequence, finished=None, **kwargs) -> list[float]:
    """Digits written / 3 for a well-formed answer, else 0: "more digits look like more work".

    A shaping that can be hacked: a policy earns it by writing three digits whatever the answer.
    """
    texts, parsed = _parsed(completions, finished)
    return [0.0 if p is None else len(t) / 3.0 for t, p in zip(texts, parsed)]


COMPONENTS: dict[str, Callable] = {"accuracy": accuracy_reward, "format": format_reward,
                                   "digits": digit_credit_reward, "closeness": closeness_reward,
                                   "length": length_reward}


@dataclass(frozen=True)
class Candidate:
    """One reward function: Σ weight · component, with a name and where it came from."""

    name: str  # a short label
    weights: tuple  # ((component, weight), ...) with component in COMPONENTS
    parent: str | None = None  # the candidate reflection started from (None for a seed)
    why: str = ""  # the reflection rule that proposed it

    def __post_init__(self):
        w = tuple((str(k), float(v)) for k, v in (self.weights.items() if isinstance(self.weights, dict)
                                                   else self.weights))
        for k, v in w:
            if k not in COMPONENTS:
                raise ValueError(f"weights names an unknown component {k!r}; expected one of {tuple(COMPONENTS)}")
            if not math.isfinite(v):
                raise ValueError(f"weights must be finite numbers, got {k}={v!r}")
        if not w or all(v == 0 for _, v in w):
            raise ValueError("weights must give at least one component a non-zero weight")
        object.__setattr__(self, "weights", tuple(sorted(w)))

    def source(self) -> str:
        """The candidate as the Python function an LLM would have written."""
        terms = " + ".join(f"{v:g} * {k}[i]" for k, v in self.weights if v != 0)
        comps = "\n".join(f"    {k} = {COMPONENTS[k].__name__}(completions, answer=answer, finished=finished)"
                          for k, v in self.weights if v != 0)
        return (f"def reward_{self.name}(completions, answer, finished=None, **kwargs):\n{comps}\n"
                f"    return [{terms} for i in range(len(completions))]\n")


SEEDS = (
    Candidate("accuracy", {"accuracy": 1.0}),
    Candidate("r1", {"accuracy": 1.0, "format": 1.0}),
    Candidate("digits", {"digits": 1.0}),
    Candidate("closeness", {"closeness": 1.0}),
    Candidate("length_bonus", {"accuracy": 1.0, "length": 1.0}),
)


class _Recorder:
    """A reward that also records each component's mean on every batch it scores (for reflection)."""

    def __init__(self, cand: Candidate):
        self.names = [k for k, _ in cand.weights]
        self.fn = make_reward(cand)
        self.log: dict[str, list] = {k: [] for k in self.names}
        self.__name__ = f"reward_{cand.name}"

    def __call__(self, completions, **kwargs):
        for k in self.names:
            self.log[k].append(float(np.mean(COMPONENTS[k](completions, **kwargs))))
        return self.fn(completions, **kwargs)


def make_reward(cand: Candidate) -> Callable:
    """The candidate's reward function in TRL's convention (``rewards.combine_rewards``)."""
    names = [k for k, _ in cand.weights]
    return combine_rewards([COMPONENTS[k] for k in names], [w for _, w in cand.weights])


def score_candidate(cand: Candidate, steps: int = STEPS, prompts_per_step: int = PROMPTS_PER_STEP,
                    seed: int = SEED) -> dict:
    """Train GRPO from the shipped SFT model with the candidate's reward; measure gold accuracy.

    Returns:
        {"name", "weights", "parent", "why", "source", "gold_start", "gold_end" (held-out greedy
        accuracy before and after), "eval_step", "eval_accuracy", "shaped" (mean candidate reward
        per step), "components" (per component, its mean per step), "zero_variance_frac" (mean
        over the run), "train_seconds"}.
    """
    from ..grpo import GRPOConfig, train_grpo
    from ..lm import load_shipped
    from ..runs import RunOptions

    model, tok, _ = load_shipped("sft")
    rec = _Recorder(cand)
    cfg = GRPOConfig(steps=steps, prompts_per_step=prompts_per_step, eval_every=max(1, steps // 4), seed=seed)
    h = train_grpo(model, cfg, tokenizer=tok, reward_fn=rec, run=RunOptions(threads=1))
    r4 = lambda xs: [round(float(x), 4) for x in xs]  # noqa: E731
    return {"name": cand.name, "weights": dict(cand.weights), "parent": cand.parent, "why": cand.why,
            "source": cand.source(), "gold_start": h["eval_accuracy"][0], "gold_end": h["eval_accuracy"][-1],
            "eval_step": h["eval_step"], "eval_accuracy": r4(h["eval_accuracy"]), "shaped": r4(h["reward"]),
            "components": {k: r4(v) for k, v in rec.log.items()},
            "zero_variance_frac": round(float(np.mean(h["zero_variance_frac"])), 4),
            "train_seconds": round(h.train_seconds, 1)}


def _mean(xs, part: slice) -> float:
    xs = list(xs)[part]
    return float(np.mean(xs)) if xs else float("nan")


def reflect(result: dict, proposals: int = PROPOSALS, saturated: float = 0.95) -> list[Candidate]:
    """Reward reflection as a rule: read one run's statistics, propose the next candidates.

    Rules, in order (each proposes at most one candidate):
      1. a component that rose during training while the gold accuracy fell was hacked: drop it;
      2. a component whose batch mean was ≥ ``saturated`` from the start carried no signal
         (every completion earned it; in a group it cancels): drop it;
      3. most groups had zero variance (> 30%) and there is no partial credit: add "digits"
         with weight 0.5, a denser signal;
      4. otherwise reweight: double the accuracy weight relative to the rest (scaling every
         weight by one factor changes nothing in GRPO, whose advantages are normalised per group).
    """
    weights = dict(result["weights"])
    comps, name = result["components"], result["name"]
    fell = result["gold_end"] < result["gold_start"]
    out: list[Candidate] = []

    def propose(new: dict, why: str, tag: str):
        new = {k: v for k, v in new.items() if v != 0}
        if new and new != weights and len(out) < proposals and all(dict(c.weights) != new for c in out):
            out.append(Candidate(f"{name}_{tag}", new, parent=name, why=why))

    q = max(1, len(next(iter(comps.values()))) // 4)
    for k, series in comps.items():
        start, end = _mean(series, slice(0, q)), _mean(series, slice(-q, None))
        if fell and end > start + 0.02 and k != "accuracy":
            propose({c: v for c, v in weights.items() if c != k}, f"'{k}' rose ({start:.2f} -> {end:.2f}) while "
                    f"gold accuracy fell: hacked, dropped", f"no_{k}")
    for k, series in comps.items():
        start = _mean(series, slice(0, q))
        if start >= saturated and len(weights) > 1:
            propose({c: v for c, v in weights.items() if c != k}, f"'{k}' was {start:.2f} from the start: no "
                    f"signal, dropped", f"no_{k}")
    if result["zero_variance_frac"] > 0.3 and "digits" not in weights:
        propose({**weights, "digits": 0.5}, f"{result['zero_variance_frac']:.0%} of groups had zero variance: "
                "partial credit per digit added", "digits")
    if "accuracy" in weights and len(weights) > 1:
        propose({**weights, "accuracy": 2 * weights["accuracy"]}, "accuracy weighted twice as much "
                "relative to the rest", "acc2")
    elif "accuracy" not in weights:
        propose({**weights, "accuracy": 1.0}, "the gold metric's own reward added", "acc")
    return out


def search(seeds: Sequence[Candidate] = SEEDS, rounds: int = ROUNDS, steps: int = STEPS,
           prompts_per_step: int = PROMPTS_PER_STEP, proposals: int = PROPOSALS, log=print) -> dict:
    """Score the seeds; then, each round, reflect on the best candidate so far and score its proposals.

    Returns:
        {"rounds": [[result, ...], ...], "best": the name of the candidate with the highest gold
        accuracy, "steps", "prompts_per_step"}.
    """
    if not seeds:
        raise ValueError("seeds must hold at least one Candidate")
    done: list[dict] = []
    rounds_out = []
    todo = list(seeds)
    for r in range(rounds):
        results = []
        for cand in todo:
            res = score_candidate(cand, steps, prompts_per_step)
            res["round"] = r
            results.append(res)
            log(f"round {r} {cand.name}: gold {res['gold_start']:.3f} -> {res['gold_end']:.3f} "
                f"({res['train_seconds']:.0f} s)")
        done += results
        rounds_out.append(results)
        best = max(done, key=lambda x: x["gold_end"])
        seen = {tuple(sorted(d["weights"].items())) for d in done}
        todo = [c for c in reflect(best, proposals) if c.weights not in seen]
        if not todo:
            break
    best = max(done, key=lambda x: x["gold_end"])
    return {"rounds": rounds_out, "best": best["name"], "steps": steps, "prompts_per_step": prompts_per_step}


def build(log=print) -> dict:
    """The cached search of data/pitfalls/eureka.json (``python -m course_lib sweep pitfalls --only eureka``)."""
    return search(log=log)
