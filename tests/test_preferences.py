"""Simulated annotators and the shipped preference pairs (course_lib.rlhf.preferences)."""
import json
import math

import numpy as np
import pytest

from course_lib.rlhf import preferences as P
from course_lib import tasks
from course_lib.data import data_dir

CFG = P.AnnotatorConfig()


def test_utility_prefers_right_then_nearer_and_longer_by_the_bonus():
    # truth 12, written "21"
    right = P.annotator_utility("21", 12)
    assert right == pytest.approx(CFG.right_bonus + CFG.length_bonus * 2)
    near, far = P.annotator_utility("31", 12), P.annotator_utility("19", 12)  # 13 and 91
    assert right > near > far
    assert near == pytest.approx(-CFG.distance_weight * math.log(2) + 2 * CFG.length_bonus)
    # equally wrong (distance 5): 7 and 17; the longer gets exactly the bias
    assert P.annotator_utility("71", 12) - P.annotator_utility("7", 12) == pytest.approx(CFG.length_bonus)
    assert P.annotator_utility("1+", 12) == CFG.malformed_utility
    assert P.annotator_utility("", 12) == CFG.malformed_utility


def test_a_trailing_zero_is_still_right_and_earns_the_length_bonus():
    # "210" reads 012 = 12: right, and one digit longer than "21"
    assert tasks.parse_answer("210") == 12
    assert P.annotator_utility("210", 12) - P.annotator_utility("21", 12) == pytest.approx(CFG.length_bonus)


def test_bias_is_modest_a_right_answer_beats_an_equally_long_wrong_one_most_of_the_time():
    # the worst case for the truth: right 1-digit answer against a wrong 3-digit one nearby is impossible
    # (3 digits are >= 100); against the nearest wrong 2-digit one (9 vs 10):
    p = P.preference_probability(P.annotator_utility("9", 9), P.annotator_utility("01", 9))
    assert p > 0.8
    assert P.preference_probability(0.5, 0.0) == pytest.approx(1 / (1 + math.exp(-0.5)))  # ≈ 62%


def test_labels_follow_the_bradley_terry_probability():
    rng = np.random.default_rng(0)
    pairs = [P.label_pair("7+5=", "21", "31", 12, rng) for _ in range(4000)]
    share = np.mean([p.chosen == "21" for p in pairs])
    expected = P.preference_probability(P.annotator_utility("21", 12), P.annotator_utility("31", 12))
    assert abs(share - expected) < 0.025
    for p in pairs:
        assert p.p_chosen == pytest.approx(P.preference_probability(p.utility_chosen, p.utility_rejected), abs=1e-6)


def test_splits_are_disjoint_by_prompt_and_exclude_the_held_out_problems():
    splits = P.split_problems()
    held = {p.prompt for p in tasks.eval_problems()}
    seen = set()
    for name in P.SPLITS:
        prompts = {p.prompt for p in splits[name]}
        assert len(prompts) == P.SPLIT_SIZES[name]
        assert not prompts & held
        assert not prompts & seen
        seen |= prompts


def test_shipped_pairs_load_and_have_the_documented_mix():
    for name in P.SPLITS:
        pairs = P.load_pairs(name)
        s = P.summarize(pairs)
        assert s["prompts"] <= P.SPLIT_SIZES[name]
        assert s["kinds"].get("one right", 0) > 0.2 * len(pairs)
        assert s["both_wrong_different_length"] > 0.05 * len(pairs)
        assert 0.85 < s["label_follows_truth"] < 1.0  # noisy, but mostly right
    test = P.summarize(P.load_pairs("test"))
    assert 0.55 < test["longer_chosen"] < 0.72  # the bias is there, and modest


def test_shipped_splits_share_no_prompt():
    prompts = [{p.prompt for p in P.load_pairs(n)} for n in P.SPLITS]
    assert not (prompts[0] & prompts[1] or prompts[0] & prompts[2] or prompts[1] & prompts[2])


@pytest.mark.timeout(120)
def test_rebuilding_a_split_gives_the_shipped_bytes(tmp_path):
    # split "val" alone, with the shipped seed (0 + its index 1): the same bytes as data/rm/val.jsonl
    from course_lib.lm import load_shipped

    model, tok, _ = load_shipped("sft")
    pairs = P.build_split(model, tok, P.split_problems()["val"], seed=1)
    path = P.write_pairs(tmp_path / "val.jsonl", pairs)
    assert path.read_bytes() == (data_dir() / "rm" / "val.jsonl").read_bytes()


def test_a_small_build_is_reproducible(tmp_path):
    sizes = {"train": 20, "val": 10, "test": 10}
    P.build_preferences(tmp_path / "a", sizes=sizes, log=lambda *a: None)
    P.build_preferences(tmp_path / "b", sizes=sizes, log=lambda *a: None)
    for name in P.SPLITS:
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (tmp_path / "b" / f"{name}.jsonl").read_bytes()
        assert P.read_pairs(tmp_path / "a" / f"{name}.jsonl")


def _write(tmp_path, lines):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = {"prompt": "7+5=", "chosen": "21", "rejected": "31", "answer": 12,
        "utility_chosen": 3.0, "utility_rejected": 0.65, "p_chosen": 0.91}


@pytest.mark.parametrize("bad,what", [
    ("{not json", "line 2"),
    (json.dumps({**GOOD, "answer": "twelve"}), "answer"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "chosen"}), "chosen"),
    (json.dumps({**GOOD, "rejected": "21"}), "same completion"),
    (json.dumps({**GOOD, "p_chosen": 1.5}), "p_chosen"),
    (json.dumps({**GOOD, "chosen": "2x"}), "unknown character"),
    (json.dumps([1, 2]), "JSON object"),
])
def test_a_malformed_preference_file_names_the_file_and_line(tmp_path, bad, what):
    path = _write(tmp_path, [json.dumps(GOOD), bad])
    with pytest.raises(ValueError) as err:
        P.read_pairs(path)
    assert str(path) in str(err.value) and "line 2" in str(err.value) and what in str(err.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="samples_per_prompt"):
        P.AnnotatorConfig(samples_per_prompt=1)
    with pytest.raises(ValueError, match="length_bonus"):
        P.AnnotatorConfig(length_bonus=float("nan"))
    with pytest.raises(ValueError, match="split"):
        P.load_pairs("dev")
    with pytest.raises(ValueError, match="sizes"):
        P.build_preferences(None, sizes={"train": 0}, model=object(), tokenizer=None)
    with pytest.raises(ValueError, match="PreferencePair"):
        P.write_pairs("/tmp/never.jsonl", [GOOD])
    with pytest.raises(FileNotFoundError):
        P.read_pairs("/nonexistent/pairs.jsonl")
