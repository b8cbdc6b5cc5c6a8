"""course_lib.rlhf.rlaif: a model labels the preference pairs, a reward model learns from its labels."""
import pytest
import torch

from course_lib.lm import load_shipped
from course_lib.rlhf.preferences import PreferencePair, load_pairs, pair_kind
from course_lib.rlhf.reward_model import RewardModelConfig, load_shipped_reward_model, score_pairs
from course_lib.rlhf.rlaif import ai_label, judge_from_lm, label_quality, rlaif_reward_model


def _pair(chosen, rejected, answer=92):
    return PreferencePair("34+58=", chosen, rejected, answer, 0.0, 0.0, 0.5)


def test_label_quality_by_hand():
    pairs = [_pair("29", "28"), _pair("28", "29"), _pair("281", "28"), _pair("28", "281")]
    q = label_quality(pairs, reference=[_pair("29", "28"), _pair("29", "28"), _pair("281", "28"), _pair("281", "28")])
    assert q["truth"] == 0.5 and q["n_one_right"] == 2
    assert q["agreement"] == 0.5  # pairs 1 and 3 agree
    assert q["longer_chosen"] == 0.5 and q["n_length"] == 2
    with pytest.raises(ValueError, match="one right"):
        label_quality([_pair("28", "27")])
    with pytest.raises(ValueError, match="reference"):
        label_quality(pairs, reference=pairs[:1])


def test_ai_labels_follow_the_judge_and_keep_the_pairs():
    judge = judge_from_lm(load_shipped("sft")[0])
    pairs = load_pairs("train")[:200]
    labelled = ai_label(pairs, judge)
    assert len(labelled) == len(pairs)
    for p, q in zip(pairs, labelled):
        assert {p.chosen, p.rejected} == {q.chosen, q.rejected} and (p.prompt, p.answer) == (q.prompt, q.answer)
        assert q.utility_chosen >= q.utility_rejected and q.p_chosen >= 0.5
    sc, sr = score_pairs(judge, labelled)
    assert bool((sc >= sr).all())
    # the SFT log-likelihood picks the right answer far more often than chance on one-right pairs
    assert label_quality(labelled)["truth"] > 0.75
    with pytest.raises(ValueError, match="judge must be a RewardModel"):
        ai_label(pairs, load_shipped("sft")[0])
    with pytest.raises(ValueError, match="GPT"):
        judge_from_lm("sft")


def test_reward_model_learns_the_ai_labels():
    """Seeded: trained on the notebook-06 reward model's labels, the new reward model agrees with them more."""
    judge, _ = load_shipped_reward_model()
    train, val, test = load_pairs("train")[:600], load_pairs("val")[:200], load_pairs("test")[:300]
    run = rlaif_reward_model(judge, train, val, test, RewardModelConfig(steps=20, eval_every=10, seed=0))
    acc = run["history"]["val_accuracy"]
    assert acc[-1] > acc[0], acc
    assert 0.5 < run["figures"]["truth_agreement"] <= 1.0
    assert run["labels"]["agreement"] is not None and len(run["train_pairs"]) == len(train)
    assert all(pair_kind(p) in ("one right", "both wrong", "both right", "malformed") for p in run["train_pairs"])
    assert all(bool(torch.isfinite(p).all()) for p in run["model"].parameters())
