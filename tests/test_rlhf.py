"""RLHF (notebook 07): the per-token rewards, the value loss, DPO's loss, the config, the trainer's
argument checks, the shared cost measurement, and the pieces the notebook plots."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import tasks
from course_lib.lm import GPT, GPTConfig, load_shipped
from course_lib.runs import RunOptions, threads
from course_lib.timing import PHASES, PhaseTimer
from course_lib.lm.heads import ScalarHeadModel
from course_lib.grpo import grpo_step
from course_lib.lmrl import cost, token_gae
from course_lib.rewards import r1_reward
from course_lib.rlhf import (RLHFConfig, RLHFState, clipped_value_loss, completion_values, dpo_loss,
                             kl_penalized_rewards, ppo_step, sequence_kl, train_rlhf)
from course_lib.rlhf.dpo import DPOConfig, encode_pairs, train_dpo


@pytest.fixture(scope="module")
def sft():
    model, tok, _ = load_shipped("sft")
    return model, tok


# -- kl_penalized_rewards -----------------------------------------------------------------------


def test_kl_penalized_rewards_matches_a_hand_worked_case():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -1.0, -7.0]])
    logp_ref = torch.tensor([[-1.5, -1.0, -0.5], [-0.3, -2.0, 3.0]])  # padding holds anything
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    r = kl_penalized_rewards(logp, logp_ref, torch.tensor([1.0, 2.0]), mask, beta=0.1)
    # row 0: -0.1·(0.5), -0.1·(-1.0), 0 + score 1;  row 1: 0, -0.1·(1.0) + score 2, padding 0
    expected = torch.tensor([[-0.05, 0.1, 1.0], [0.0, 1.9, 0.0]])
    assert torch.allclose(r, expected, atol=1e-6)


def test_kl_penalized_rewards_nothing_on_prompt_or_padding_and_sums_to_the_rlhf_objective():
    gen = torch.Generator().manual_seed(3)
    B, P, N = 5, 3, 4
    logp = -torch.rand(B, P + N, generator=gen) * 2
    logp_ref = logp + torch.randn(B, P + N, generator=gen)
    lengths = torch.tensor([4, 1, 2, 3, 4])
    cols = torch.arange(P + N)[None]
    mask = (cols >= P) & (cols < P + lengths[:, None])
    score = torch.randn(B, generator=gen)
    beta = 0.3
    r = kl_penalized_rewards(logp, logp_ref, score, mask, beta)
    assert (r[~mask] == 0).all()
    # Σ_t r_t = score − β·Σ_t log(π/π_ref): InstructGPT's per-sequence objective
    assert torch.allclose(r.sum(1), score - beta * torch.where(mask, logp - logp_ref, 0.0).sum(1), atol=1e-5)
    last = P + lengths - 1
    assert torch.allclose(r[torch.arange(B), last], score - beta * (logp - logp_ref)[torch.arange(B), last], atol=1e-6)
    assert not r.requires_grad


def test_kl_penalized_rewards_with_beta_zero_is_the_score_at_the_end():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    r = kl_penalized_rewards(torch.randn(2, 4), torch.randn(2, 4), torch.tensor([3.0, -1.0]), mask, 0.0)
    assert torch.equal(r, torch.tensor([[0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, -1.0]]))


@pytest.mark.parametrize("kwargs,match", [
    (dict(logp_ref=torch.zeros(2, 4)), "logp_ref"),
    (dict(mask=torch.ones(2, 4, dtype=torch.bool)), "mask"),
    (dict(score=torch.zeros(3)), "score"),
    (dict(score=[1.0, 2.0]), "score"),
    (dict(logp=torch.zeros(6)), "logp"),
    (dict(beta=-0.1), "beta"),
    (dict(beta=float("nan")), "beta"),
    (dict(mask=torch.tensor([[1, 1, 0], [0, 0, 0]], dtype=torch.bool)), "at least one real token"),
])
def test_kl_penalized_rewards_rejects_bad_input(kwargs, match):
    args = dict(logp=torch.zeros(2, 3), logp_ref=torch.zeros(2, 3), score=torch.zeros(2),
                mask=torch.ones(2, 3, dtype=torch.bool), beta=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kl_penalized_rewards(**args)


def test_rewards_then_token_gae_with_gamma_one_give_the_return_to_go():
    """λ = 1, γ = 1: A_t + V_t = Σ_{k>=t} r_k (the penalised return from token t on)."""
    logp = torch.tensor([[-1.0, -0.5, -0.2], [-0.7, -0.1, 0.0]])
    logp_ref = torch.tensor([[-0.8, -0.9, -0.2], [-0.7, -0.6, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    r = kl_penalized_rewards(logp, logp_ref, torch.tensor([2.0, 1.0]), mask, 0.5)
    values = torch.tensor([[0.3, 0.1, -0.2], [0.5, 0.4, 9.0]])
    adv, ret = token_gae(r, values, mask, gamma=1.0, lam=1.0)
    to_go = torch.where(mask, r, 0.0).flip(1).cumsum(1).flip(1)
    assert torch.allclose(ret[mask], to_go[mask], atol=1e-6)
    assert (adv[~mask] == 0).all()


# -- clipped value loss and DPO's loss ----------------------------------------------------------


def test_clipped_value_loss_by_hand_and_its_gradient_stops_past_the_clip():
    v_old = torch.tensor([[0.0, 0.0]])
    ret = torch.tensor([[1.0, 1.0]])
    mask = torch.tensor([[1, 0]], dtype=torch.bool)
    v = torch.tensor([[0.5, 7.0]], requires_grad=True)
    loss = clipped_value_loss(v, v_old, ret, mask, clip=0.2)
    # unclipped (0.5-1)² = 0.25, clipped (0.2-1)² = 0.64 -> max 0.64, halved; padding ignored
    assert math.isclose(float(loss.detach()), 0.32, rel_tol=1e-6)
    loss.backward()
    assert v.grad.abs().sum() == 0  # the clipped branch won: no gradient, as PPO's ratio clip
    v2 = torch.tensor([[0.1, 0.0]], requires_grad=True)
    clipped_value_loss(v2, v_old, ret, mask, 0.2).backward()
    assert math.isclose(float(v2.grad[0, 0]), 0.1 - 1.0, rel_tol=1e-6)
    with pytest.raises(ValueError, match="returns"):
        clipped_value_loss(v, v_old, torch.zeros(3), mask, 0.2)
    with pytest.raises(ValueError, match="clip"):
        clipped_value_loss(v, v_old, ret, mask, 0.0)


def test_dpo_loss_is_bradley_terry_on_the_scaled_log_ratio():
    lw, ll = torch.tensor([-1.0, -2.0], requires_grad=True), torch.tensor([-1.5, -1.0], requires_grad=True)
    rw, rl = torch.tensor([-1.2, -2.0]), torch.tensor([-1.2, -1.5])
    loss = dpo_loss(lw, ll, rw, rl, beta=0.5)
    margin = torch.tensor([0.5 * ((-1.0 + 1.2) - (-1.5 + 1.2)), 0.5 * ((-2.0 + 2.0) - (-1.0 + 1.5))])
    assert math.isclose(float(loss.detach()), float(-F.logsigmoid(margin).mean()), rel_tol=1e-6)
    assert math.isclose(float(dpo_loss(rw, rl, rw, rl, 0.1)), math.log(2), rel_tol=1e-6)  # π = π_ref
    loss.backward()
    assert lw.grad[0] < 0 and ll.grad[0] > 0  # descending raises the chosen, lowers the rejected
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(lw, ll, rw, rl, 0.0)
    with pytest.raises(ValueError, match="ref_rejected"):
        dpo_loss(lw, ll, rw, torch.zeros(3), 0.1)


# -- config and trainer arguments ---------------------------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("beta", -0.01), ("gamma", 1.5), ("lam", -0.1), ("clip_eps", 0.0), ("clip_eps", 1.0), ("value_clip", 0.0),
    ("lr", 0.0), ("value_lr", -1.0), ("prompts_per_step", 0), ("samples_per_prompt", 1.5), ("n_epochs", 0),
    ("minibatch_size", True), ("max_completion_length", 0), ("temperature", 0.0), ("max_grad_norm", 0.0),
    ("value_init", "critic"), ("steps", 0), ("eval_every", -1), ("seed", -1), ("normalize_advantages", 1),
    ("beta", float("inf")),
])
def test_rlhf_config_rejects_out_of_range_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        RLHFConfig(**{field: value})


def test_rlhf_config_defaults_cite_instructgpt():
    cfg = RLHFConfig()
    assert (cfg.beta, cfg.gamma, cfg.lam) == (0.02, 1.0, 0.95)
    assert cfg.batch_size == cfg.prompts_per_step * cfg.samples_per_prompt


def test_train_rlhf_rejects_bad_rewards_models_and_value_models(sft):
    model, tok = sft
    with pytest.raises(ValueError, match="reward must be a reward function"):
        train_rlhf(copy.deepcopy(model), "accuracy", RLHFConfig(steps=1), tokenizer=tok)
    with pytest.raises(ValueError, match="reward must be a reward function"):
        train_rlhf(copy.deepcopy(model), copy.deepcopy(model), RLHFConfig(steps=1), tokenizer=tok)
    other = GPT(GPTConfig(vocab_size=model.config.vocab_size + 3))
    with pytest.raises(ValueError, match="share a vocabulary"):
        RLHFState.create(model, r1_reward, tokenizer=tok, ref_model=other)
    with pytest.raises(ValueError, match="ScalarHeadModel"):
        RLHFState.create(model, r1_reward, tokenizer=tok, value_model=copy.deepcopy(model))
    wide = ScalarHeadModel(model)
    wide.head = torch.nn.Linear(model.config.n_embd, 3)
    with pytest.raises(ValueError, match="one value per position"):
        RLHFState.create(model, r1_reward, tokenizer=tok, value_model=wide)
    with pytest.raises(ValueError, match="vocabulary"):
        RLHFState.create(model, r1_reward, tokenizer=tok, value_model=ScalarHeadModel(other))
    with pytest.raises(ValueError, match="value_init='reward_model' needs"):
        RLHFState.create(model, r1_reward, RLHFConfig(value_init="reward_model"), tokenizer=tok)
    with pytest.raises(ValueError, match="cfg must be an RLHFConfig"):
        RLHFState.create(model, r1_reward, {"beta": 0.1}, tokenizer=tok)
    with pytest.raises(ValueError, match="policy must be"):
        RLHFState.create(ScalarHeadModel(model), r1_reward, tokenizer=tok)
    with pytest.raises(ValueError, match="max_seconds"):
        train_rlhf(copy.deepcopy(model), r1_reward, RLHFConfig(steps=1), tokenizer=tok, run=RunOptions(max_seconds=0))


def test_one_step_freezes_the_reference_and_records_every_statistic(sft):
    model, tok = sft
    policy = copy.deepcopy(model)
    cfg = RLHFConfig(prompts_per_step=16, samples_per_prompt=2, minibatch_size=16, steps=1)
    state = RLHFState.create(policy, r1_reward, cfg, tokenizer=tok)
    ref_before = [p.clone() for p in state.ref_model.parameters()]
    pol_before = [p.clone() for p in policy.parameters()]
    with threads(1):  # one thread: much faster than two on a busy machine
        rec = state.step(tasks.sample_problems(16, seed=1), torch.Generator().manual_seed(0),
                         np.random.default_rng(0))
    assert all(torch.equal(a, b) for a, b in zip(ref_before, state.ref_model.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(pol_before, policy.parameters()))
    assert all(not p.requires_grad for p in state.ref_model.parameters())
    for k in ("reward", "accuracy", "kl", "value_loss", "explained_variance", "clip_fraction", "entropy",
              "completion_len"):
        assert np.isfinite(rec[k]), k
    assert rec["completions"] == 32 and 1 <= rec["completion_len"] <= 4
    # the value model starts from the SFT trunk with a zero head: V = 0 before training
    fresh = RLHFState.create(copy.deepcopy(model), r1_reward, cfg, tokenizer=tok)
    assert torch.equal(fresh.value_model.head.weight, torch.zeros_like(fresh.value_model.head.weight))


def test_completion_values_read_the_position_before_each_token(sft):
    model, tok = sft
    from course_lib.lmrl import sample_rollouts

    probs = tasks.sample_problems(3, seed=2)
    b = sample_rollouts(model, tok, [p.prompt for p in probs], max_new_tokens=4, temperature=1.0,
                        generator=torch.Generator().manual_seed(0), reward_fn=r1_reward,
                        columns={"answer": [p.answer for p in probs]})
    vm = ScalarHeadModel(model)
    torch.nn.init.normal_(vm.head.weight)
    with torch.no_grad():
        v = completion_values(vm, b)
        full = vm(b.tokens, b.key_valid())
    P = b.prompt_len
    assert v.shape == b.mask.shape
    assert torch.allclose(v[:, 0], full[:, P - 1]) and torch.allclose(v[:, 1], full[:, P])


def test_sequence_kl_is_zero_for_the_reference_itself():
    logp = -torch.rand(3, 4)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(sequence_kl(logp, logp.clone(), mask), torch.zeros(3))


# -- DPO plumbing -------------------------------------------------------------------------------


def test_encode_pairs_masks_the_completion_and_eos(sft):
    from course_lib.rlhf.preferences import PreferencePair

    _, tok = sft
    pairs = [PreferencePair("12+5=", "71", "7", 17, 1.0, 0.0, 0.7)]
    tokens, mask = encode_pairs(tok, pairs)
    assert tokens.shape[0] == 2
    assert tok.decode(tokens[0].tolist()) == "12+5=71"
    assert mask[0].sum() == 3 and mask[1].sum() == 2  # digits and <eos>
    assert int(tokens[0][mask[0]][-1]) == tok.eos_id
    with pytest.raises(ValueError, match="pairs"):
        encode_pairs(tok, [])


@pytest.mark.parametrize("field,value", [("beta", 0.0), ("lr", -1.0), ("batch_size", 0), ("steps", 1.0),
                                         ("eval_every", 0), ("kl_temperature", 0.0), ("seed", -2)])
def test_dpo_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        DPOConfig(**{field: value})


def test_train_dpo_rejects_bad_arguments(sft):
    model, tok = sft
    with pytest.raises(ValueError, match="train_pairs"):
        train_dpo(copy.deepcopy(model), [], tokenizer=tok)
    with pytest.raises(ValueError, match="policy"):
        train_dpo("model", [1], tokenizer=tok)


# -- the cost measurement -----------------------------------------------------------------------


def test_state_bytes_counts_weights_gradients_and_adam_moments(sft):
    model, _ = sft
    n = sum(p.numel() for p in model.parameters())
    s = cost.state_bytes({"policy": model}, {"reference": model})
    trained, frozen = s["rows"]
    assert trained["params"] == n and trained["weights"] == 4 * n
    assert trained["total"] == 4 * trained["weights"]  # weights, gradients, 2 Adam moments
    assert frozen["total"] == frozen["weights"] == 4 * n
    assert s["total"] == 5 * 4 * n
    with pytest.raises(ValueError, match="trained"):
        cost.state_bytes({"policy": "model"})


def test_phase_timer_and_measure_step_split_the_time():
    import time

    def step(timer):
        with timer.phase("sampling"):
            time.sleep(0.02)
        with timer.phase("update"):
            x = torch.ones(1000, 1000)
            time.sleep(0.01)
            del x

    out = cost.measure_step(step, repeats=2, warmup=0)
    assert out["sampling"] >= 0.018 and out["update"] >= 0.009 and out["scoring"] == 0.0
    assert math.isclose(out["total"], out["sampling"] + out["update"], rel_tol=0.05)
    assert out["peak_method"] in ("peak RSS growth (Linux VmHWM)", "unavailable", "cuda max_memory_allocated")
    timer = PhaseTimer()
    with pytest.raises(ValueError, match="name"):
        with timer.phase("eating"):
            pass
    moved = timer.moved(lambda: time.sleep(0.01))
    with timer.phase("sampling"):
        moved()
    assert timer.seconds["scoring"] >= 0.009 and timer.seconds["sampling"] < 0.005
    with pytest.raises(ValueError, match="repeats"):
        cost.measure_step(step, repeats=0)


def test_grpo_and_ppo_steps_measure_the_same_phases(sft):
    model, tok = sft
    from course_lib.grpo import GRPOConfig

    probs = tasks.sample_problems(64, seed=4)
    g_step, g_trained, g_frozen = grpo_step(copy.deepcopy(model), tok, probs,
                                                 cfg=GRPOConfig(prompts_per_step=4, group_size=4))
    p_step, p_trained, p_frozen = ppo_step(copy.deepcopy(model), tok, probs, reward=r1_reward,
                                                cfg=RLHFConfig(prompts_per_step=8, samples_per_prompt=2,
                                                               minibatch_size=8))
    with threads(1):
        g, p = cost.measure_step(g_step, repeats=1, warmup=0), cost.measure_step(p_step, repeats=1, warmup=0)
    for m in (g, p):
        assert all(m[k] > 0 for k in PHASES)
    assert set(g_trained) == {"policy"} and set(p_trained) == {"policy", "value model"}
    assert set(p_frozen) == {"reference"} and g_frozen == {}
    ratio = cost.state_bytes(p_trained, p_frozen)["total"] / cost.state_bytes(g_trained, g_frozen)["total"]
    assert 2.0 < ratio < 2.4  # PPO: two trained networks (4 copies each) + a reference; GRPO: one trained


# -- figures and the slider (any values, no training) -------------------------------------------


def _fake_run(beta, rm="strong", n=6):
    kl = np.linspace(0, 2.0 / (1 + 10 * beta), n)
    return {"reward_model": rm, "beta": beta, "eval_step": list(range(0, 5 * n, 5)), "eval_kl": kl.tolist(),
            "eval_sampled_reward": (0.5 + kl).tolist(), "eval_sampled_accuracy": (0.2 + kl * (1 - kl) / 4).tolist(),
            "eval_accuracy": np.linspace(0.43, 0.38, n).tolist(), "eval_longer_than_truth": (kl / 4).tolist(),
            "eval_reward": (1 + kl).tolist(), "eval_answer_len": (2.2 + kl).tolist()}


def test_hacking_and_sweep_figures_and_the_beta_slider():
    from course_lib.experiments.rlhf_sweep import find_run, summary_rows
    from course_lib.plotting import rlhf as rplots
    from course_lib.widgets.rlhf import beta_slider

    sweep = {"runs": [_fake_run(b) for b in (0.0, 0.02, 0.1, 0.5)] + [_fake_run(0.0, "shipped")]}
    assert rplots.hacking_figure(sweep["runs"][0]) is not None
    for b in (0.0, 0.02, 0.1, 0.5):
        fig = rplots.beta_sweep_figure(sweep, b)
        assert "β = " in fig._suptitle.get_text()
    assert rplots.beta_sweep_figure(sweep, 0.0, "shipped") is not None
    with pytest.raises(ValueError, match="no run"):
        rplots.beta_sweep_figure(sweep, 0.3)
    with pytest.raises(ValueError, match="run must have"):
        rplots.hacking_figure({"eval_kl": [0.0]})
    rows = summary_rows(sweep)
    assert len(rows) == 5 and rows[0]["gold_peak"] >= rows[0]["gold_end"]
    assert find_run(sweep, 0.0, "shipped")["reward_model"] == "shipped"
    box = beta_slider(sweep, beta=0.1)
    assert box.children[0].children[0].value == 0.1
    with pytest.raises(ValueError, match="sweep"):
        beta_slider({"runs": []})


def test_training_dpo_and_cost_figures_accept_histories():
    from course_lib.plotting import rlhf as rplots

    hist = {"step": [1, 2, 3], "seconds": [1.0, 2.0, 3.0], "eval_step": [0, 3], "eval_accuracy": [0.43, 0.6],
            "kl": [0.1, 0.2, 0.3], "explained_variance": [0.0, 0.2, 0.3], "clip_fraction": [0.01, 0.02, 0.02],
            "eval_kl": [0.0, 0.3]}
    assert rplots.rlhf_training_figure(hist) is not None
    assert rplots.dpo_vs_ppo_figure({"PPO": hist, "DPO": {"eval_kl": [0, 0.1], "eval_accuracy": [0.43, 0.4]}})
    with pytest.raises(ValueError, match="hist must have"):
        rplots.rlhf_training_figure({"step": [1]})
    summary = {n: {"sampling_s": 0.3, "scoring_s": 0.5, "update_s": 2.0, "state_bytes": 7e6, "peak_bytes": 1e8}
               for n in ("RLHF-PPO", "GRPO")}
    assert rplots.cost_figure(summary) is not None
    with pytest.raises(ValueError, match="summary"):
        rplots.cost_figure({})


def test_bench_summary_and_table_from_histories():
    from course_lib.experiments import bench_rlhf as B

    def rec(acc, secs):
        return {"seed": 0, "eval_step": [0, 5, 10], "eval_accuracy": acc, "steps": 10, "train_seconds": secs,
                "completions_per_step": 512}

    cost_rows = {n: {"state": {"rows": [{"name": "policy", "role": "trained", "params": 10, "total": 160}],
                               "params": 10, "total": 160},
                     "step": {"sampling": 0.1, "scoring": 0.2, "update": 0.3, "total": 0.6, "peak_bytes": 2**20,
                              "peak_method": "test"}} for n in (B.PPO_NAME, B.GRPO_NAME)}
    runs = [{B.PPO_NAME: rec([0.4, 0.5, 0.7], 40.0), B.GRPO_NAME: rec([0.4, 0.66, 0.68], 20.0)}]
    s = B.summarize(cost_rows, runs)
    assert s[B.PPO_NAME]["accuracy_equal_completions"] == 0.7
    assert s[B.PPO_NAME]["accuracy_equal_time"] == 0.5  # PPO at 20 s (step 5), GRPO's whole run
    assert s[B.PPO_NAME]["steps_to_gain"] == [10] and s[B.GRPO_NAME]["steps_to_gain"] == [5]
    assert s[B.GRPO_NAME]["seconds_to_gain"] == [10.0]
    table = B.format_table(s)
    grid, _, noise = table.partition("\n\n")
    assert grid.count("\n") == 12 and "| RLHF-PPO | GRPO |" in grid and "5 steps (10 s)" in grid
    # one seed: the held-out set's sampling noise on 500 problems; 70 % vs 68 % is within it, 50 % vs 68 % not
    assert "one seed" in noise
    assert "equal completions: -2.0 points" in noise and "within the noise" in noise.splitlines()[1]
    assert "equal training time: +18.0 points" in noise and "outside the noise" in noise.splitlines()[2]
    diff = B.differences(s)
    assert not diff["accuracy_equal_completions"].outside_noise and diff["accuracy_equal_time"].outside_noise


def test_bench_rlhf_refuses_bad_options(capsys):
    from course_lib.experiments import bench_rlhf

    for argv in (["--minutes", "0"], ["--max-steps", "0"], ["--seeds"]):
        with pytest.raises(SystemExit):
            bench_rlhf.main(argv)


def test_the_shipped_sweep_has_three_seeds_of_the_strong_bias_runs_and_their_spread():
    from course_lib import stats
    from course_lib.experiments.rlhf_sweep import find_run, load_sweep, seed_rows, summary_rows

    sweep = load_sweep()
    rows = seed_rows(sweep)
    assert [r["beta"] for r in rows] == sorted(sweep["betas"]) and all(r["seeds"] == [0, 1, 2] for r in rows)
    assert len(summary_rows(sweep)) == len(sweep["betas"]) + len(sweep["shipped_betas"])  # seed 0 only
    assert find_run(sweep, 0.5, seed=2)["seed"] == 2
    by = {r["beta"]: r for r in rows}
    # the trend notebook 07 reads: the further the policy moves (β small), the lower its greedy gold ends,
    # by more than the spread between seeds; the proxy rises in every run
    assert stats.compare_seeds(by[0.0]["greedy_end_values"], by[0.5]["greedy_end_values"]).outside_noise
    assert by[0.0]["kl_end"].mean > by[0.5]["kl_end"].mean
    assert all(v > 0 for r in rows for v in r["proxy_change_values"])


def test_add_seeds_keeps_the_cached_runs_and_refuses_a_non_sweep():
    from course_lib.experiments.rlhf_sweep import add_seeds, load_sweep

    sweep = load_sweep()
    assert add_seeds(sweep, [0, 1, 2]) is sweep  # every seed is there already: nothing to train
    with pytest.raises(ValueError, match="sweep"):
        add_seeds({"nope": 1}, [3])
