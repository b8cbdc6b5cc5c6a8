"""What the reward model learned (notebook 06): agreement with the labels and with the truth,
calibration, and its preference for longer answers."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ... import tasks
from ..preferences import PreferencePair, pair_kind
from .losses import pair_accuracy
from .model import RewardModel, score, score_pairs


def label_agreement(model: RewardModel, pairs: Sequence[PreferencePair]) -> dict:
    """How often the model ranks the annotator's chosen answer first, and the best any model could expect.

    Returns:
        {"agreement": share of pairs with r(chosen) > r(rejected), "ceiling": mean σ(|u₁ − u₂|), the
        expected agreement of the annotators' own utility with their noisy labels, "n"}.
    """
    rc, rr = score_pairs(model, pairs)
    ceiling = float(np.mean([1 / (1 + math.exp(-abs(p.utility_chosen - p.utility_rejected))) for p in pairs]))
    return {"agreement": pair_accuracy(rc, rr), "ceiling": ceiling, "n": len(pairs)}


def truth_agreement(model: RewardModel, pairs: Sequence[PreferencePair]) -> dict:
    """On pairs where exactly one answer is right: how often the model scores the right one higher.

    Returns:
        {"agreement": the model's share, "annotators": how often the labels picked the right one, "n"}.
    """
    one_right = [p for p in pairs if pair_kind(p) == "one right"]
    if not one_right:
        raise ValueError("no pair in pairs has exactly one right answer")
    rc, rr = score_pairs(model, one_right)
    right_first = torch.tensor([p.chosen_right for p in one_right])
    r_right = torch.where(right_first, rc, rr)
    r_wrong = torch.where(right_first, rr, rc)
    return {"agreement": pair_accuracy(r_right, r_wrong), "annotators": float(right_first.float().mean()),
            "n": len(one_right)}


def calibration(model: RewardModel, pairs: Sequence[PreferencePair], bins: int = 10) -> dict:
    """Predicted P(y₁ ≻ y₂) = σ(r₁ − r₂) in bins against the observed share of y₁ being chosen.

    Every pair counts in both orders ((chosen, rejected) observed 1, (rejected, chosen) observed 0),
    so the answer order carries no information and the diagram is symmetric about 0.5.

    Returns:
        {"bin_edges": (bins+1), "predicted": mean prediction per bin, "observed": observed rate per
        bin, "count": per bin (NaN rates for empty bins), "ece": expected calibration error
        Σ_b (n_b/N)·|observed_b − predicted_b|}.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    rc, rr = score_pairs(model, pairs)
    p = torch.sigmoid(torch.cat([rc - rr, rr - rc])).numpy()
    y = np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))])
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    pred, obs, count = [], [], []
    ece = 0.0
    for b in range(bins):
        sel = which == b
        count.append(int(sel.sum()))
        pred.append(float(p[sel].mean()) if sel.any() else float("nan"))
        obs.append(float(y[sel].mean()) if sel.any() else float("nan"))
        if sel.any():
            ece += sel.sum() / len(p) * abs(obs[-1] - pred[-1])
    return {"bin_edges": edges.tolist(), "predicted": pred, "observed": obs, "count": count, "ece": float(ece)}


def equal_distance_probes(problems: Sequence[tasks.Problem], max_distance: int = 30) -> list[dict]:
    """Pairs of wrong answers equally far from the truth but of different lengths.

    For the truth a and a distance k, a − k and a + k are equally wrong; when they have different
    numbers of digits (a = 12, k = 5: "7" and "71" for 7 and 17), any preference between them is a
    preference for length.

    Returns:
        dicts {"prompt", "answer", "distance", "short", "long"} (completions as the model writes them).
    """
    out = []
    for prob in problems:
        a = prob.answer
        for k in range(1, max_distance + 1):
            lo, hi = a - k, a + k
            if lo < 0 or hi > 999:
                continue
            s, l = tasks.format_answer(lo), tasks.format_answer(hi)
            if len(s) != len(l):
                out.append({"prompt": prob.prompt, "answer": a, "distance": k, "short": s, "long": l})
    return out


def length_bias(model: RewardModel, problems: Sequence[tasks.Problem], max_distance: int = 30) -> dict:
    """The reward model's preference for longer answers among equally wrong ones.

    Returns:
        {"score_gap": mean r(longer) − r(shorter) per extra digit over the probes (the annotators'
        utility gives exactly their ``length_bonus``, the truth 0), "longer_preferred": share of probes
        where the longer scores higher, "implied_preference": σ(score_gap), "n": probes,
        "by_distance": {k: mean gap}}.
    """
    probes = equal_distance_probes(problems, max_distance)
    if not probes:
        raise ValueError("no equal-distance probes: the problems' answers have no neighbour of another length")
    prompts = [p["prompt"] for p in probes]
    r_short = score(model, prompts, [p["short"] for p in probes])
    r_long = score(model, prompts, [p["long"] for p in probes])
    digits = torch.tensor([len(p["long"]) - len(p["short"]) for p in probes], dtype=torch.float32)
    gap = (r_long - r_short) / digits
    by_distance: dict[int, list] = {}
    for p, g in zip(probes, gap.tolist()):
        by_distance.setdefault(p["distance"], []).append(g)
    mean_gap = float(gap.mean())
    return {"score_gap": mean_gap, "longer_preferred": float((gap > 0).float().mean()),
            "implied_preference": 1 / (1 + math.exp(-mean_gap)), "n": len(probes),
            "by_distance": {k: float(np.mean(v)) for k, v in sorted(by_distance.items())}}


def probe_problems(n: int = 300) -> list[tasks.Problem]:
    """Test-split problems whose answers lie near a change in digit count (a < 30 or a > 70)."""
    from ..preferences import split_problems

    near = [p for p in split_problems()["test"] if p.answer < 30 or p.answer > 70]
    return near[:n]


def evaluate_reward_model(model: RewardModel, test_pairs: Sequence[PreferencePair]) -> dict:
    """Every figure of notebook 06 on the test pairs: label and truth agreement, calibration, length bias."""
    lab, tru = label_agreement(model, test_pairs), truth_agreement(model, test_pairs)
    cal = calibration(model, test_pairs)
    bias = length_bias(model, probe_problems())
    return {"label_agreement": lab["agreement"], "label_ceiling": lab["ceiling"],
            "truth_agreement": tru["agreement"], "truth_annotators": tru["annotators"], "truth_n": tru["n"],
            "ece": cal["ece"], "calibration": cal, "length_gap": bias["score_gap"],
            "longer_preferred": bias["longer_preferred"], "length_probes": bias["n"],
            "length_by_distance": bias["by_distance"], "n_test_pairs": len(test_pairs)}



__all__ = ["label_agreement", "truth_agreement", "calibration", "equal_distance_probes", "length_bias", "probe_problems",
           "evaluate_reward_model"]
