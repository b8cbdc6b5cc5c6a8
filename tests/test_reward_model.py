"""The Bradley–Terry loss, the scalar-head model and the reward model (course_lib.rlhf.reward_model, lm.heads)."""
import math

import pytest
import torch

from course_lib.rlhf import preferences as P
from course_lib.rlhf import reward_model as R
from course_lib import tasks
from course_lib.lm import GPT, GPTConfig, load_shipped
from course_lib.lm.heads import ScalarHeadModel, last_token_index, last_token_values

# ---------------------------------------------------------------------------------------------
# bradley_terry_loss
# ---------------------------------------------------------------------------------------------


def t(xs, grad=False):
    return torch.tensor(xs, dtype=torch.float32, requires_grad=grad)


def test_bt_loss_by_hand():
    assert R.bradley_terry_loss(t([0.0]), t([0.0])).item() == pytest.approx(math.log(2))
    # margins +1 and -1: (log(1 + e^-1) + log(1 + e^1)) / 2
    expected = (math.log1p(math.exp(-1)) + math.log1p(math.exp(1))) / 2
    assert R.bradley_terry_loss(t([2.0, 0.5]), t([1.0, 1.5])).item() == pytest.approx(expected, rel=1e-6)


def test_bt_loss_depends_only_on_the_difference_and_is_stable_for_huge_margins():
    rc, rr = torch.randn(16), torch.randn(16)
    base = R.bradley_terry_loss(rc, rr)
    assert R.bradley_terry_loss(rc + 7.5, rr + 7.5).item() == pytest.approx(base.item(), rel=1e-5)
    # L(c, r) − L(r, c) = −mean(r_c − r_r)
    swapped = R.bradley_terry_loss(rr, rc)
    assert (base - swapped).item() == pytest.approx(-(rc - rr).mean().item(), abs=1e-5)
    assert R.bradley_terry_loss(t([-100.0]), t([100.0])).item() == pytest.approx(200.0)
    assert R.bradley_terry_loss(t([100.0]), t([-100.0])).item() == pytest.approx(0.0, abs=1e-6)


def test_bt_loss_gradient_is_minus_one_minus_sigma_over_b():
    rc, rr = t([0.3, -1.2, 2.0], grad=True), t([0.0, 0.5, 2.5], grad=True)
    R.bradley_terry_loss(rc, rr).backward()
    m = (rc - rr).detach()
    assert torch.allclose(rc.grad, -(1 - torch.sigmoid(m)) / 3, atol=1e-6)
    assert torch.allclose(rr.grad, -rc.grad, atol=1e-6)


@pytest.mark.parametrize("a,b,match", [
    (t([1.0, 2.0]), t([1.0]), "same shape"),
    (t([[1.0]]), t([[1.0]]), "1-D"),
    (t([]), t([]), "non-empty"),
    ([1.0], t([1.0]), "r_chosen"),
])
def test_bt_loss_bad_shapes(a, b, match):
    with pytest.raises(ValueError, match=match):
        R.bradley_terry_loss(a, b)


# ---------------------------------------------------------------------------------------------
# ScalarHeadModel and reading the last token
# ---------------------------------------------------------------------------------------------


def _tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=9, block_size=12, n_layer=1, n_head=2, n_embd=8))


def test_scalar_head_shapes_and_copy():
    gpt = _tiny_gpt()
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    model = ScalarHeadModel.from_gpt(gpt)
    assert model(torch.randint(3, 9, (4, 7))).shape == (4, 7)
    assert torch.count_nonzero(model(torch.randint(3, 9, (2, 5)))) == 0  # the head starts at zero
    torch.nn.init.normal_(model.head.weight)
    model(torch.randint(3, 9, (2, 5))).sum().backward()
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    assert all(torch.equal(v, gpt.state_dict()[k]) for k, v in before.items())  # the given GPT is untouched


def test_left_and_right_padding_give_the_same_last_token_value():
    model = ScalarHeadModel(_tiny_gpt())
    torch.nn.init.normal_(model.head.weight)
    rows = [[1, 4, 5, 6, 2], [1, 7, 2]]
    right = torch.tensor([[1, 4, 5, 6, 2], [1, 7, 2, 0, 0]])
    left = torch.tensor([[1, 4, 5, 6, 2], [0, 0, 1, 7, 2]])
    v_right = last_token_values(model(right), torch.tensor([5, 3]))
    v_left = last_token_values(model(left, key_valid=left != 0), left != 0)
    assert torch.allclose(v_right, v_left, atol=1e-5)
    assert last_token_index(right != 0).tolist() == [4, 2]  # a mask works for right padding too
    assert len(rows) == 2


def test_last_token_bad_input():
    v = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="lengths"):
        last_token_values(v, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="lengths"):
        last_token_values(v, torch.tensor([5, 2]))
    with pytest.raises(ValueError, match="real token"):
        last_token_values(v, torch.tensor([[True, False, False, False], [False] * 4]))
    with pytest.raises(ValueError, match="rows"):
        last_token_values(v, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="tensor"):
        last_token_values(v, [1, 2])
    with pytest.raises(ValueError, match="trunk"):
        ScalarHeadModel(torch.nn.Linear(2, 2))


# ---------------------------------------------------------------------------------------------
# The reward model: scoring, saving, bad input
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return R.load_shipped_reward_model()


def test_untrained_reward_model_scores_the_sft_log_likelihood():
    from course_lib.lm import sequence_logprobs

    rm = R.RewardModel.from_sft()
    gpt, tok, _ = load_shipped("sft")
    idx, lengths, starts = rm.encode(["12+5=", "3+4="], ["71", "7"])
    cols = torch.arange(idx.shape[1])[None]
    mask = (cols >= starts[:, None]) & (cols < lengths[:, None])
    expected = sequence_logprobs(gpt, idx, mask.long(), key_valid=cols < lengths[:, None])
    assert torch.allclose(R.score(rm, ["12+5=", "3+4="], ["71", "7"]), expected.detach(), atol=1e-5)
    plain = R.RewardModel.from_sft(loglik=False)
    assert torch.count_nonzero(R.score(plain, ["12+5="], ["71"])) == 0


def test_score_bad_batches(shipped):
    rm, _ = shipped
    with pytest.raises(ValueError, match="empty"):
        R.score(rm, [], [])
    with pytest.raises(ValueError, match="2 entries but completions has 1"):
        R.score(rm, ["1+1=", "2+2="], ["2"])
    with pytest.raises(ValueError, match="unknown character"):
        R.score(rm, ["1+1="], ["two"])
    with pytest.raises(ValueError, match="RewardModel"):
        R.score(object(), ["1+1="], ["2"])


def test_reward_function_in_trl_convention(shipped):
    rm, _ = shipped
    fn = R.reward_model_reward(rm)
    out = fn(["21", "31"], prompts=["7+5=", "7+5="], answer=[12, 12])
    assert isinstance(out, list) and all(isinstance(x, float) for x in out)
    assert out == pytest.approx(R.score(rm, ["7+5="] * 2, ["21", "31"]).tolist())
    conversational = fn([[{"role": "assistant", "content": "21"}]], prompts=[[{"role": "user", "content": "7+5="}]])
    assert conversational == pytest.approx(out[:1])
    with pytest.raises(ValueError, match="prompts is required"):
        fn(["21"])


def test_save_and_load_round_trip(tmp_path, shipped):
    rm, meta = shipped
    path = R.save_reward_model(tmp_path / "rm.pt", rm, {"note": "copy"})
    again, meta2 = R.load_reward_model(path)
    assert meta2["note"] == "copy" and again.loglik == rm.loglik
    prompts, comps = ["7+5=", "50-8=", "99+9="], ["21", "24", "801"]
    assert torch.equal(R.score(again, prompts, comps), R.score(rm, prompts, comps))
    assert R.save_reward_model(tmp_path / "rm2.pt", again, {"note": "copy"}).read_bytes() == path.read_bytes()


def test_a_damaged_checkpoint_gives_the_lms_clear_error(tmp_path):
    from course_lib.data import data_dir

    good = (data_dir() / R.FILE).read_bytes()
    bad = tmp_path / "damaged.pt"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="damaged, truncated or not a checkpoint.*train-rm"):
        R.load_reward_model(bad)
    lm_ckpt = data_dir() / "lm" / "sft.pt"
    with pytest.raises(ValueError, match="not a course_lib scalar-head checkpoint"):
        R.load_reward_model(lm_ckpt)
    with pytest.raises(FileNotFoundError):
        R.load_reward_model(tmp_path / "missing.pt")


def test_config_bad_values():
    for kw, match in (({"steps": 0}, "steps"), ({"lr": 0.0}, "lr"), ({"min_lr_frac": 2.0}, "min_lr_frac"),
                      ({"batch_size": 1.5}, "batch_size"), ({"warmup": -1}, "warmup")):
        with pytest.raises(ValueError, match=match):
            R.RewardModelConfig(**kw)
    with pytest.raises(ValueError, match="train_pairs"):
        R.train_reward_model(R.RewardModel.from_sft(), [])


def test_train_rm_refuses_to_overwrite_the_shipped_files_with_other_settings(capsys):
    with pytest.raises(SystemExit):
        R.main(["--steps", "3"])
    assert "--out" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Learning, and the shipped model's figures
# ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_seeded_training_learns_the_annotators_preferences_and_their_length_bias():
    train, val = P.load_pairs("train")[:3000], P.load_pairs("val")
    probes = R.probe_problems(60)
    rm = R.RewardModel.from_sft()
    gap_before = R.length_bias(rm, probes)["score_gap"]
    hist = R.train_reward_model(rm, train, val, R.RewardModelConfig(steps=80, eval_every=40, seed=0))
    gap_after = R.length_bias(rm, probes)["score_gap"]
    # measured (seed 0): val loss 0.634 -> 0.609, val accuracy 67.4% -> 69.6%, gap -1.18 -> -0.21
    assert hist["val_loss"][-1] < hist["val_loss"][0] - 0.015
    assert hist["val_accuracy"][-1] > hist["val_accuracy"][0] + 0.01
    # the SFT model's log-likelihood prefers short answers; training moves towards the annotators' +0.5
    assert gap_before < -0.5 and gap_after > gap_before + 0.6
    assert R.truth_agreement(rm, P.load_pairs("test"))["agreement"] > 0.8


def test_shipped_reward_model_figures(shipped):
    rm, meta = shipped
    test = P.load_pairs("test")
    f = meta["figures"]
    rc, rr = R.score_pairs(rm, test)  # every test pair scored once
    labels = R.pair_accuracy(rc, rr)
    truth = R.truth_agreement(rm, test)
    assert truth["agreement"] == pytest.approx(f["truth_agreement"], abs=0.01)
    assert labels == pytest.approx(f["label_agreement"], abs=0.01)
    assert truth["agreement"] >= 0.80  # the floor
    assert 0.6 < labels <= f["label_ceiling"] + 0.02
    assert f["ece"] < 0.08 and sum(f["calibration"]["count"]) == 2 * len(test)
    assert 0.2 < f["length_gap"] < 1.0  # learned the annotators' bias (0.5 per digit), modestly
    # the comparison recorded by the build: without the log-likelihood term the truth is not learned
    assert meta["scalar_only"]["truth_agreement"] < 0.65 < f["truth_agreement"]


# ---------------------------------------------------------------------------------------------
# Figures and the format-weight slider
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples():
    from course_lib.widgets.rewards import sample_answers

    gpt, tok, _ = load_shipped("sft")
    return sample_answers(gpt, tok, "58+37=", 95, n_samples=16, seed=3)


def test_samples_are_scored_by_the_rule_rewards(samples):
    assert sum(samples["counts"]) == 16 and len(set(samples["answers"])) == len(samples["answers"])
    for a, ra, rf in zip(samples["answers"], samples["r_acc"], samples["r_fmt"]):
        assert ra == (1.0 if tasks.parse_answer(a) == 95 else 0.0) and ra <= rf


@pytest.mark.parametrize("w_fmt", [-2.0, -1.0, 0.0, 0.3, 1.0, 2.0])
def test_format_weight_view_draws_for_any_weight(samples, w_fmt):
    import matplotlib.figure

    from course_lib.widgets.rewards import format_weight_slider, weights_view

    assert isinstance(weights_view(samples, w_fmt), matplotlib.figure.Figure)
    if w_fmt == 1.0:
        box = format_weight_slider(samples)
        box.children[0].children[0].value = -1.5  # moving the slider redraws without error


def test_figures_reject_bad_input_and_draw_the_shipped_history(shipped):
    from course_lib.plotting import rewards as rp

    _, meta = shipped
    rp.rm_training_figure(meta["history"], ceiling=0.75)
    rp.calibration_figure(meta["figures"]["calibration"])
    rp.length_bias_figure(meta["figures"]["length_by_distance"], annotator_bonus=0.5)
    with pytest.raises(ValueError, match="history"):
        rp.rm_training_figure({"step": []})
    with pytest.raises(ValueError, match="w_fmt"):
        rp.weighted_rewards_figure(["1"], [0.0], [1.0], 1.0, float("nan"))
    with pytest.raises(ValueError, match="same length"):
        rp.weighted_rewards_figure(["1", "2"], [0.0], [1.0], 1.0, 1.0)
    with pytest.raises(ValueError, match="same length"):
        rp.score_curve_figure([1, 2], [0.5], 1)
    with pytest.raises(ValueError, match="by_distance"):
        rp.length_bias_figure({})


def test_a_small_build_writes_the_pairs_and_a_loadable_reward_model(tmp_path):
    out = R.build(tmp_path, cfg=R.RewardModelConfig(steps=2, eval_every=1), compare_scalar_only=False,
                  sizes={"train": 20, "val": 10, "test": 40}, log=lambda *a: None)
    rm, meta = R.load_reward_model(tmp_path / "reward_model.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reward_model.pt", "test.jsonl", "train.jsonl", "val.jsonl"]
    assert meta["train"]["steps"] == 2 and meta["figures"]["truth_n"] == out["figures"]["truth_n"] > 0
    assert "seconds" not in meta["history"]  # no wall-clock in the file: the bytes depend on the seed only
    pairs = P.read_pairs(tmp_path / "test.jsonl")[:5]
    assert torch.allclose(R.score_pairs(rm, pairs)[0], R.score_pairs(out["model"], pairs)[0])
