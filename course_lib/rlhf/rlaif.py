"""RLAIF: preferences labelled by a model instead of people, and a reward model trained on them (notebook 10).

Reinforcement learning from AI feedback replaces the human annotators of RLHF with a model that
judges which of two answers is better (Constitutional AI, Bai et al. 2022, arXiv 2212.08073; RLAIF
vs RLHF, Lee et al. 2023, arXiv 2309.00267). The rest of the pipeline is unchanged: a Bradley–Terry
reward model is fitted to the judge's labels, and RL trains against that reward model.

Here the pairs are notebook 06's (``data/rm``: two sampled answers to a training prompt) and the
judge is a scoring model in the ``course_lib.rlhf.reward_model`` sense:

* a **language model as judge**: ``judge_from_lm(gpt)`` scores an answer by its log-likelihood
  under that model, log π_judge(y | x) (the small LM cannot be prompted "which answer is better?",
  as Lee et al. prompt a large one; its likelihood of each answer is the same question asked
  directly). A stronger checkpoint (for example the model GRPO trained) is a better judge;
* or **a reward model as judge**, such as the one of notebook 06.

The judge prefers the answer it scores higher (a hard label; ``p_chosen`` keeps σ(s_chosen −
s_rejected), its confidence). ``rlaif_reward_model`` relabels the training and validation pairs,
trains a reward model from the SFT model on them with notebook 06's trainer and settings, and
measures it on the test pairs against the truth, exactly as notebook 06 measures its own.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..lm.model import GPT
from .preferences import PreferencePair, pair_kind
from ..runs import RunOptions, threads
from .reward_model import (RewardModel, RewardModelConfig, center_scores, evaluate_reward_model, score_pairs,
                           train_reward_model)


def judge_from_lm(model: GPT) -> RewardModel:
    """A judge that scores an answer by its log-likelihood under ``model``: r(x, y) = log π(y <eos> | x).

    It is a ``RewardModel`` whose scalar head is zero, so ``reward_model.score`` works on it.
    """
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a course_lib GPT, got {type(model).__name__}")
    judge = RewardModel(model, loglik=True)
    judge.eval()
    return judge


def ai_label(pairs: Sequence[PreferencePair], judge: RewardModel, seed: int = 0) -> list[PreferencePair]:
    """The same pairs, labelled by ``judge``: ``chosen`` is the answer it scores higher.

    Args:
        pairs: preference pairs (their existing labels are ignored; prompts, answers and the true
            answer are kept).
        judge: a RewardModel (``judge_from_lm(gpt)`` or a trained reward model).
        seed: breaks exact ties at random.

    Returns:
        New PreferencePairs; ``utility_chosen``/``utility_rejected`` hold the judge's scores and
        ``p_chosen`` = σ(score difference), the judge's confidence in its label.
    """
    if not isinstance(judge, RewardModel):
        raise ValueError(f"judge must be a RewardModel (e.g. judge_from_lm(gpt)), got {type(judge).__name__}")
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must be a non-empty list of PreferencePair")
    s1, s2 = score_pairs(judge, pairs)  # the two answers as the pair lists them
    rng = np.random.default_rng(seed)
    out = []
    for p, a, b in zip(pairs, s1.tolist(), s2.tolist()):
        first = a > b or (a == b and rng.random() < 0.5)
        (yc, sc), (yr, sr) = ((p.chosen, a), (p.rejected, b)) if first else ((p.rejected, b), (p.chosen, a))
        out.append(PreferencePair(p.prompt, yc, yr, p.answer, round(sc, 6), round(sr, 6),
                                  round(1.0 / (1.0 + math.exp(-(sc - sr))), 6)))
    return out


def label_quality(labelled: Sequence[PreferencePair], reference: Sequence[PreferencePair] | None = None) -> dict:
    """How good a set of labels is: the truth on pairs with one right answer, and agreement with other labels.

    Args:
        labelled: labelled pairs.
        reference: the same pairs labelled by someone else (e.g. the simulated people), row for row.

    Returns:
        {"truth": share of one-right pairs whose chosen answer is the right one, "n_one_right",
        "agreement": share of pairs where both labellings chose the same answer (None without
        ``reference``), "longer_chosen": share of both-wrong pairs of different lengths where the
        longer answer was chosen (a length bias shows as > 0.5), "n_length"}.
    """
    labelled = list(labelled)
    one_right = [p for p in labelled if pair_kind(p) == "one right"]
    if not one_right:
        raise ValueError("labelled has no pair with exactly one right answer")
    length = [p for p in labelled if pair_kind(p) == "both wrong" and len(p.chosen) != len(p.rejected)]
    agreement = None
    if reference is not None:
        reference = list(reference)
        if len(reference) != len(labelled):
            raise ValueError(f"reference has {len(reference)} pairs but labelled has {len(labelled)}")
        agreement = float(np.mean([a.chosen == b.chosen for a, b in zip(labelled, reference)]))
    return {"truth": float(np.mean([p.chosen_right for p in one_right])), "n_one_right": len(one_right),
            "agreement": agreement,
            "longer_chosen": float(np.mean([len(p.chosen) > len(p.rejected) for p in length])) if length else float("nan"),
            "n_length": len(length)}


def rlaif_reward_model(judge: RewardModel, train_pairs: Sequence[PreferencePair],
                       val_pairs: Sequence[PreferencePair], test_pairs: Sequence[PreferencePair],
                       cfg: RewardModelConfig = RewardModelConfig(), *, run: RunOptions | None = None) -> dict:
    """RLAIF's reward model: label with ``judge``, train from the SFT model, measure against the truth.

    Stages: 1. the judge labels the training and validation pairs; 2. a reward model (notebook
    06's ``RewardModel.from_sft()``) is trained on those labels with ``train_reward_model``;
    3. it is measured on the test pairs with ``evaluate_reward_model`` (truth agreement on pairs
    with one right answer, label agreement with the test pairs' own labels, calibration, length
    bias), the same figures notebook 06 reports for the reward model trained on people's labels.

    Returns:
        {"model", "history", "figures": evaluate_reward_model(...), "labels": label_quality of the
        judge's training labels against the given ones, "train_pairs": the judge-labelled pairs}.
    """
    run = RunOptions.check(run)
    ai_train = ai_label(train_pairs, judge)
    ai_val = ai_label(val_pairs, judge, seed=1)
    model = RewardModel.from_sft()
    history = train_reward_model(model, ai_train, ai_val, cfg, run=run)
    center_scores(model, ai_train)
    with threads(run.threads):
        figures = evaluate_reward_model(model, list(test_pairs))
    return {"model": model, "history": history, "figures": figures,
            "labels": label_quality(ai_train, train_pairs), "train_pairs": ai_train}


__all__ = ["judge_from_lm", "ai_label", "label_quality", "rlaif_reward_model"]
