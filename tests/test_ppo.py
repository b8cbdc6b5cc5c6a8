"""Unit and property tests of course_lib.ppo: the math, the fast update path, the plumbing."""
from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

from course_lib.mdp import discounted_returns
from course_lib.ppo import (ActorCritic, PPOConfig, approx_kl, clipped_surrogate, entropy, evaluate,
                            explained_variance, gae, load_policy, make_vector_env, save_policy, steps_to_solve,
                            train_ppo, value_loss)
from course_lib.ppo.losses import ppo_loss, standardize_advantages
from course_lib.ppo.fast import (FlatAdam, PPOGradient, clip_grad_norm, flatten_parameters, logits_and_values,
                                 ppo_grads)


# --- gae -------------------------------------------------------------------------------------

def _episodes(rng, T):
    """Random rewards/values over several episodes; next_values consistent with values."""
    rewards = rng.normal(size=T)
    values = rng.normal(size=T)
    terminated = rng.random(T) < 0.2
    terminated[-1] = True  # the sequence ends with a real termination
    next_values = np.append(values[1:], 0.0)  # V(s_{t+1}) = value of the next row
    return rewards, values, next_values, terminated


@pytest.mark.parametrize("seed", range(5))
def test_gae_lambda_one_is_discounted_returns_minus_values(seed):
    rng = np.random.default_rng(seed)
    r, v, nv, term = _episodes(rng, 30)
    adv, ret = gae(r, v, nv, term, np.zeros(30, bool), gamma=0.9, lam=1.0)
    expected = discounted_returns(r, 0.9, term)
    np.testing.assert_allclose(adv, expected - v, atol=1e-10)
    np.testing.assert_allclose(ret, expected, atol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_gae_lambda_zero_is_td_errors(seed):
    rng = np.random.default_rng(seed)
    r, v, nv = rng.normal(size=(3, 20))
    term, trunc = rng.random(20) < 0.2, rng.random(20) < 0.1
    adv, _ = gae(r, v, nv, term, trunc, gamma=0.95, lam=0.0)
    np.testing.assert_allclose(adv, r + 0.95 * nv * (1 - term) - v, atol=1e-12)


def test_gae_truncation_bootstraps_termination_does_not():
    r, v, nv = np.array([1.0]), np.array([2.0]), np.array([10.0])
    adv_trunc, _ = gae(r, v, nv, [False], [True], gamma=0.5, lam=0.9)
    adv_term, _ = gae(r, v, nv, [True], [False], gamma=0.5, lam=0.9)
    assert adv_trunc[0] == pytest.approx(1.0 + 0.5 * 10.0 - 2.0)  # bootstraps from V(s_T)
    assert adv_term[0] == pytest.approx(1.0 - 2.0)  # nothing after a real end


def test_gae_recursion_stops_at_any_episode_end():
    r = np.array([1.0, 1.0, 1.0])
    v = np.zeros(3)
    nv = np.array([0.0, 5.0, 0.0])
    for term, trunc in (([False, True, False], [False] * 3), ([False] * 3, [False, True, False])):
        adv, _ = gae(r, v, nv, term, trunc, gamma=1.0, lam=1.0)
        # step 2 starts a new episode: its advantage must not flow into step 1
        assert adv[2] == pytest.approx(1.0)
        assert adv[0] == pytest.approx(1.0 + adv[1])


def test_gae_hand_worked_three_steps():
    # γ = 0.5, λ = 0.5, one episode terminated at the last step.
    r = [1.0, 2.0, 3.0]
    v = [0.5, 1.0, 1.5]
    nv = [1.0, 1.5, 9.0]  # the 9 must be ignored: step 2 terminates
    adv, ret = gae(r, v, nv, [False, False, True], [False] * 3, gamma=0.5, lam=0.5)
    # δ2 = 3 − 1.5 = 1.5;  δ1 = 2 + 0.5·1.5 − 1 = 1.75;  δ0 = 1 + 0.5·1 − 0.5 = 1.0
    # A2 = 1.5;  A1 = 1.75 + 0.25·1.5 = 2.125;  A0 = 1.0 + 0.25·2.125 = 1.53125
    np.testing.assert_allclose(adv, [1.53125, 2.125, 1.5])
    np.testing.assert_allclose(ret, [2.03125, 3.125, 3.0])


def test_gae_batched_columns_are_independent_and_torch_in_torch_out():
    rng = np.random.default_rng(0)
    T, N = 12, 3
    r, v, nv = rng.normal(size=(3, T, N))
    term, trunc = rng.random((T, N)) < 0.2, rng.random((T, N)) < 0.1
    adv, ret = gae(r, v, nv, term, trunc, 0.9, 0.8)
    for j in range(N):
        a_j, _ = gae(r[:, j], v[:, j], nv[:, j], term[:, j], trunc[:, j], 0.9, 0.8)
        np.testing.assert_allclose(adv[:, j], a_j)
    adv_t, ret_t = gae(torch.tensor(r, dtype=torch.float32), v, nv, term, trunc, 0.9, 0.8)
    assert isinstance(adv_t, torch.Tensor) and adv_t.dtype == torch.float32
    np.testing.assert_allclose(adv_t.numpy(), adv, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, word", [
    (dict(gamma=1.5), "gamma"), (dict(lam=-0.1), "lam"),
    (dict(values=np.zeros(4)), "values"), (dict(truncated=np.zeros(2)), "truncated"),
])
def test_gae_rejects_bad_input(kwargs, word):
    args = dict(rewards=np.zeros(3), values=np.zeros(3), next_values=np.zeros(3), terminated=np.zeros(3),
                truncated=np.zeros(3), gamma=0.9, lam=0.9)
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        gae(**args)


# --- clipped surrogate and friends -----------------------------------------------------------

def _surrogate_grad(ratio: float, adv: float, eps: float = 0.2) -> float:
    r = torch.tensor([ratio], requires_grad=True)
    clipped_surrogate(r, torch.tensor([adv]), eps).backward()
    return float(r.grad)


def test_clipped_surrogate_gradient_vanishes_beyond_the_clip_on_the_advantage_side():
    # A > 0: pushing ρ above 1 + ε earns nothing more; below 1 − ε the gradient still acts.
    assert _surrogate_grad(1.5, 2.0) == 0.0
    assert _surrogate_grad(0.5, 2.0) == pytest.approx(-2.0)
    # A < 0: pushing ρ below 1 − ε earns nothing more; above 1 + ε the gradient still acts.
    assert _surrogate_grad(0.5, -2.0) == 0.0
    assert _surrogate_grad(1.5, -2.0) == pytest.approx(2.0)
    # inside the clip range the surrogate is just −ρA
    assert _surrogate_grad(1.05, 3.0) == pytest.approx(-3.0)


def test_clipped_surrogate_value_and_validation():
    ratio = torch.tensor([0.5, 1.0, 1.5, 1.5])
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    # min(ρA, clip(ρ)A): 0.5, -1.0, 1.2, -1.5  -> mean -0.2  -> loss 0.2
    assert float(clipped_surrogate(ratio, adv, 0.2)) == pytest.approx(0.2)
    assert float(clipped_surrogate(np.array([1.5]), np.array([1.0]), 0.2)) == pytest.approx(-1.2)
    with pytest.raises(ValueError, match="eps"):
        clipped_surrogate(ratio, adv, -0.1)
    with pytest.raises(ValueError, match="shape"):
        clipped_surrogate(ratio, adv[:2], 0.2)


def test_value_loss_kl_entropy_explained_variance():
    assert float(value_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0]))) == pytest.approx(2.5)
    logp = torch.log(torch.tensor([0.2, 0.5, 0.9]))
    assert float(approx_kl(logp, logp)) == 0.0
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = torch.tensor(rng.normal(size=8)), torch.tensor(rng.normal(size=8))
        assert float(approx_kl(a, b)) >= 0.0
    assert float(entropy(torch.zeros(4))) == pytest.approx(np.log(4))
    assert float(entropy(torch.tensor([100.0, 0.0]))) == pytest.approx(0.0, abs=1e-6)
    assert explained_variance([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert explained_variance([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="shape"):
        value_loss(torch.zeros(2), torch.zeros(3))


# --- config ----------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("n_envs", 0), ("gamma", 1.2), ("lam", -1), ("lr", 0.0),
                                          ("clip_eps", -0.1), ("hidden", ()), ("minibatch_size", 2.5),
                                          ("device", "tpu"), ("max_grad_norm", -1.0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        PPOConfig(**{field: value})


def test_config_is_frozen_and_documented():
    cfg = PPOConfig()
    with pytest.raises(Exception):
        cfg.lr = 1.0  # type: ignore[misc]
    assert cfg.replace(lr=3e-4).lr == 3e-4 and cfg.rollout_size == 256
    with pytest.raises(ValueError, match="stop_return"):
        PPOConfig(stop_return=500.0)
    with pytest.raises(ValueError, match="no field"):
        cfg.replace(learning_rate=1.0)
    import inspect

    source = inspect.getsource(PPOConfig)
    for f in cfg.__dataclass_fields__:
        assert f'{f}:' in source and source.split(f"    {f}:")[1].split("\n")[1].strip().startswith('"""'), f


# --- environment ------------------------------------------------------------------------------

def test_vector_cartpole_matches_gymnasium_cartpole_step_by_step():
    venv = make_vector_env("CartPole-v1", 4)
    venv.reset(seed=3)
    singles = [gym.make("CartPole-v1").unwrapped for _ in range(4)]
    for i, env in enumerate(singles):
        env.reset(seed=i)
        env.state = venv.unwrapped.state[:, i].copy()
    rng = np.random.default_rng(0)
    alive = np.ones(4, bool)
    for _ in range(60):
        actions = rng.integers(0, 2, size=4)
        obs, rew, term, trunc, _ = venv.step(actions)
        for i, env in enumerate(singles):
            if not alive[i]:
                continue
            o, r, te, tr, _ = env.step(int(actions[i]))
            np.testing.assert_array_equal(obs[i], o)
            assert (rew[i], bool(term[i])) == (r, te)
            if te:
                alive[i] = False
    assert not alive.all(), "some episode should have terminated within 60 random steps"
    venv.close()


def test_course_cartpole_is_gymnasiums_vector_cartpole_bit_for_bit():
    # the same seed, the same actions: every observation, reward, termination and truncation
    # equal over thousands of steps with many episode ends and autoresets (random actions fall
    # within ~20 steps; a stretch of "balancing" actions reaches the 500-step time limit)
    ours = make_vector_env("CartPole-v1", 5)
    ref = gym.make_vec("CartPole-v1", num_envs=5, vectorization_mode="vector_entry_point")
    assert type(ours).__name__ == "CartPoleVec"
    o1, _ = ours.reset(seed=11)
    o2, _ = ref.reset(seed=11)
    np.testing.assert_array_equal(o1, o2)
    rng = np.random.default_rng(0)
    ends = truncs = 0
    for t in range(3000):
        if 1000 <= t < 2000:  # push against the pole's lean: episodes last to the time limit
            actions = (o1[:, 2] + 0.5 * o1[:, 3] > 0).astype(np.int64)
        else:
            actions = rng.integers(0, 2, size=5)
        o1, r1, te1, tr1, _ = ours.step(actions)
        o2, r2, te2, tr2, _ = ref.step(actions)
        np.testing.assert_array_equal(o1, o2)
        for a, b in ((r1, r2), (te1, te2), (tr1, tr2)):
            np.testing.assert_array_equal(a, b)
        ends += int(te1.sum())
        truncs += int(tr1.sum())
    assert ends > 100 and truncs >= 5
    with pytest.raises(ValueError, match="action"):
        ours.step(np.array([0, 1, 2, 0, 1]))
    ours.close()
    ref.close()


def test_time_limit_truncates_at_500():
    venv = make_vector_env("CartPole-v1", 1)
    venv.reset(seed=0)
    venv.unwrapped.steps[:] = 498
    venv.unwrapped.state[:] = 0.0
    _, _, term, trunc, _ = venv.step(np.array([0]))
    assert not trunc[0]
    _, _, term, trunc, _ = venv.step(np.array([1]))
    assert trunc[0] and not term[0]
    venv.close()


# --- policy, fast path, optimizer -----------------------------------------------------------

def test_numpy_policy_matches_torch_and_samples_its_probabilities():
    torch.manual_seed(0)
    pol = ActorCritic(4, 3)
    for p in pol.parameters():  # make the logits far from uniform
        p.data.normal_(0, 0.5)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        logits, _ = pol(torch.from_numpy(obs))
    np.testing.assert_allclose(pol.logits_numpy(obs), logits.numpy(), rtol=1e-5, atol=1e-5)
    probs = torch.softmax(logits, -1).numpy()
    rng = np.random.default_rng(1)
    draws = np.stack([pol.act_numpy(obs, rng) for _ in range(4000)])
    freq = np.stack([(draws == a).mean(0) for a in range(3)], axis=1)
    np.testing.assert_allclose(freq, probs, atol=0.03)
    assert (pol.act_numpy(obs, deterministic=True) == probs.argmax(1)).all()


@pytest.mark.parametrize("ent_coef,seed,hidden", [(0.0, 0, (64, 64)), (0.01, 0, (64, 64)), (0.0, 1, (64, 64)),
                                                   (0.01, 2, (64, 64)), (0.0, 3, (32,)), (0.01, 4, (16, 8, 24))])
def test_manual_gradients_equal_autograd(ent_coef, seed, hidden):
    # the fast path stacks the two nets' hidden layers: any depth and widths, as autograd
    torch.manual_seed(seed)
    pol = ActorCritic(4, 3, hidden)
    fast = copy.deepcopy(pol)
    flatten_parameters(fast)
    B = 64
    obs = torch.randn(B, 4)
    act = torch.randint(0, 3, (B,))
    with torch.no_grad():
        logits0, _ = pol(obs)
    # an old policy different enough that some ratios fall outside the clip range
    logp_old = torch.log_softmax(logits0 + 0.5 * torch.randn(B, 3), -1).gather(1, act[:, None]).squeeze(1)
    adv, ret = torch.randn(B), torch.randn(B)
    logits, v = pol(obs)
    logp = torch.log_softmax(logits, -1).gather(1, act[:, None]).squeeze(1)
    ratio = torch.exp(logp - logp_old)
    assert ((ratio - 1).abs() > 0.2).any() and ((ratio - 1).abs() < 0.2).any()
    # the one PPO loss, by autograd, against its hand-derived gradient (train_ppo's default path)
    loss, stats = ppo_loss(logp, logp_old, adv, v, ret, 0.2, 0.5, ent_coef=ent_coef, logits=logits)
    loss.backward()
    pg, vl = ppo_grads(fast, obs, act, logp_old, standardize_advantages(adv), ret, 0.2, 0.5, ent_coef)
    assert float(pg) == pytest.approx(float(stats["policy_loss"]), rel=1e-5)
    assert float(vl) == pytest.approx(float(stats["value_loss"]), rel=1e-5)
    for (name, p), q in zip(pol.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
    lv_fast = logits_and_values(fast, obs)
    torch.testing.assert_close(lv_fast[0], logits.detach(), rtol=1e-5, atol=1e-6)


def test_fast_gradient_needs_the_flat_buffer():
    pol = ActorCritic(4, 2)
    with pytest.raises(ValueError, match="flatten_parameters"):
        PPOGradient(pol, 8)  # no gradient buffers yet
    sum(p.sum() for p in pol.parameters()).backward()  # autograd's own gradient tensors, one per parameter
    with pytest.raises(ValueError, match="one flat buffer"):
        PPOGradient(pol, 8)


def test_fast_gradient_without_the_losses_writes_the_same_gradient():
    torch.manual_seed(0)
    pol = ActorCritic(4, 2)
    _, flat_grad = flatten_parameters(pol)
    grad = PPOGradient(pol, 32)
    rng = np.random.default_rng(0)
    obs, act = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 2, 32)
    logp_old, adv, ret = (rng.normal(size=32).astype(np.float32) for _ in range(3))
    pg, vl = grad(obs, act, logp_old - 1.0, adv, ret, 0.2, 0.5)
    first = flat_grad.clone()
    assert np.isfinite(pg) and vl > 0
    pg, vl = grad(obs, act, logp_old - 1.0, adv, ret, 0.2, 0.5, losses=False)
    assert np.isnan(pg) and np.isnan(vl)
    assert torch.equal(flat_grad, first)


def test_flat_adam_and_clip_match_torch():
    torch.manual_seed(0)
    a, b = ActorCritic(4, 2), None
    b = copy.deepcopy(a)
    flat, grad = flatten_parameters(b)
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-3, eps=1e-5)
    opt_b = FlatAdam(flat, lr=1e-3, eps=1e-5)
    x = torch.randn(32, 4)
    for _ in range(5):
        for net in (a, b):
            net.zero_grad(set_to_none=False) if net is a else grad.zero_()
            logits, v = net(x)
            (logits.pow(2).sum() + v.sum()).backward()
        torch.nn.utils.clip_grad_norm_(a.parameters(), 0.5)
        clip_grad_norm(grad, 0.5)
        opt_a.step()
        opt_b.step(grad)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)
    assert b.pi[0].weight.data_ptr() == flat.data_ptr()  # views into the flat buffer


def test_save_and_load_policy(tmp_path):
    torch.manual_seed(0)
    pol = ActorCritic(4, 2, hidden=(16, 8))
    flatten_parameters(pol)
    path = save_policy(pol, tmp_path / "p.pt")
    loaded = load_policy(path)
    x = torch.randn(3, 4)
    torch.testing.assert_close(loaded(x)[0], pol(x)[0])
    assert loaded.hidden == (16, 8)
    with pytest.raises(ValueError, match="path"):
        load_policy(tmp_path / "missing.pt")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a course_lib PPO policy"):
        load_policy(tmp_path / "other.pt")


# --- training plumbing ------------------------------------------------------------------------

def _small(**kw) -> PPOConfig:
    return PPOConfig(total_steps=2048, n_envs=4, n_steps=64, minibatch_size=64, n_epochs=2, **kw)


def test_autoreset_steps_are_masked_out():
    # Pass a SyncVectorEnv: gymnasium's generic next-step autoreset. On CartPole the return of
    # an episode equals its length only if the reset step added neither reward nor a step.
    venv = gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode="sync")
    h = train_ppo(ActorCritic.for_env(venv, _small()), venv, _small())
    assert len(h["episode_returns"]) > 20
    assert h["episode_returns"] == [float(n) for n in h["episode_lengths"]]
    # every env step is either a step of a finished/unfinished episode or an autoreset step
    assert sum(h["episode_lengths"]) + len(h["episode_lengths"]) <= h["env_steps"][-1]
    venv.close()


def test_training_is_seeded_and_records_history():
    cfg = _small(eval_every=1024, eval_episodes=3)
    h1 = train_ppo(ActorCritic.for_env("CartPole-v1", cfg), "CartPole-v1", cfg)
    h2 = train_ppo(ActorCritic.for_env("CartPole-v1", cfg), "CartPole-v1", cfg)
    assert h1["episode_returns"] == h2["episode_returns"]
    assert h1["approx_kl"] == h2["approx_kl"]
    n = len(h1["env_steps"])
    assert n == 8 and h1["env_steps"][-1] == 2048
    for key in ("train_seconds", "lr", "clip_eps", "policy_loss", "value_loss", "entropy", "approx_kl",
                "clip_fraction", "explained_variance"):
        assert len(h1[key]) == n, key
    assert h1["eval_steps"] == [1024, 2048]
    assert all(k >= 0 for k in h1["approx_kl"]) and all(0 <= c <= 1 for c in h1["clip_fraction"])
    assert h1["lr"][0] < cfg.lr and h1["lr"][-1] == 0.0  # linear schedule to 0
    cfg1 = cfg.replace(seed=1)
    h3 = train_ppo(ActorCritic.for_env("CartPole-v1", cfg1), "CartPole-v1", cfg1)
    assert h3["episode_returns"] != h1["episode_returns"]


@pytest.mark.parametrize("minibatch_size", [256, 64])
def test_manual_and_autograd_updates_agree_on_a_first_update(minibatch_size):
    # the default (hand-derived, NumPy) path and autograd of ppo.losses.ppo_loss take the same
    # steps, with one minibatch per epoch and with shuffled minibatches standardised one by one
    cfg = PPOConfig(total_steps=256, n_epochs=3, minibatch_size=minibatch_size)
    pol_fast, pol_auto = ActorCritic.for_env("CartPole-v1", cfg), ActorCritic.for_env("CartPole-v1", cfg)
    train_ppo(pol_fast, "CartPole-v1", cfg)
    train_ppo(pol_auto, "CartPole-v1", cfg.replace(manual_grad=False))
    for p, q in zip(pol_fast.parameters(), pol_auto.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_evaluate_runs_episodes_side_by_side():
    rets = evaluate(lambda obs: np.zeros(len(obs), dtype=np.int64), "CartPole-v1", n_episodes=6, seed=0)
    assert rets.shape == (6,)
    assert (rets >= 5).all() and (rets <= 20).all()  # always pushing left falls over fast
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate(lambda o: o, "CartPole-v1", n_episodes=0)
    with pytest.raises(ValueError, match="env_id"):
        evaluate(lambda o: o, "NoSuchEnv-v9", n_episodes=1)


def test_steps_to_solve():
    h = {"eval_returns": [100, 480, 300, 476, 500], "eval_steps": [1, 2, 3, 4, 5], "eval_seconds": [1, 2, 3, 4, 5]}
    assert steps_to_solve(h) == (5, 5.0)
    assert steps_to_solve({"eval_returns": [500], "eval_steps": [1], "eval_seconds": [1]}) is None


def test_the_network_comes_from_the_env_and_the_config():
    cfg = _small(hidden=(16, 8), seed=4)
    pol = ActorCritic.for_env("CartPole-v1", cfg)
    assert (pol.obs_dim, pol.n_actions, pol.hidden) == (4, 2, (16, 8))
    # a vector env's spaces give the same network; the same seed draws the same weights, another seed others
    venv = make_vector_env("CartPole-v1", 3)
    same = ActorCritic.for_env(venv, cfg)
    venv.close()
    assert all(torch.equal(p, q) for p, q in zip(pol.parameters(), same.parameters()))
    other = ActorCritic.for_env("CartPole-v1", cfg.replace(seed=5))
    assert not torch.equal(pol.pi[0].weight, other.pi[0].weight)
    # drawn with one thread whatever torch's setting (orthogonal init rounds differently with more)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        many = ActorCritic.for_env("CartPole-v1", _small(seed=4))
    finally:
        torch.set_num_threads(old)
    assert all(torch.equal(p, q) for p, q in zip(ActorCritic.for_env("CartPole-v1", _small(seed=4)).parameters(),
                                                 many.parameters()))


def test_train_ppo_trains_the_callers_network_in_place():
    cfg = _small().replace(total_steps=512)
    pol = ActorCritic.for_env("CartPole-v1", cfg)
    before = [p.detach().clone() for p in pol.parameters()]
    h = train_ppo(pol, "CartPole-v1", cfg)
    assert len(h["env_steps"]) == 2
    assert all(not torch.equal(p, q) for p, q in zip(before, pol.parameters()) if p.dim() == 2)
    h2 = train_ppo(pol, "CartPole-v1", cfg)  # training on continues from where it stopped
    assert h2["env_steps"] == h["env_steps"] and h2["policy_loss"] != h["policy_loss"]


def test_train_ppo_rejects_bad_arguments():
    pol = ActorCritic.for_env("CartPole-v1", _small())
    with pytest.raises(ValueError, match="cfg"):
        train_ppo(pol, "CartPole-v1", {"lr": 1})
    with pytest.raises(ValueError, match="Discrete"):
        train_ppo(pol, "Pendulum-v1", _small())
    with pytest.raises(ValueError, match="Discrete"):
        ActorCritic.for_env("Pendulum-v1", _small())
    with pytest.raises(ValueError, match="not a registered"):
        ActorCritic.for_env("NoSuchEnv-v9", _small())
    with pytest.raises(ValueError, match="cfg must be a PPOConfig"):
        ActorCritic.for_env("CartPole-v1", {"hidden": (8,)})
    with pytest.raises(ValueError, match=r"policy must be an ActorCritic.*train_ppo\(policy, env, cfg\)"):
        train_ppo("CartPole-v1", _small())  # the call before the network came from the caller
    with pytest.raises(ValueError, match="3 actions"):
        train_ppo(ActorCritic(4, 3), "CartPole-v1", _small())
    with pytest.raises(ValueError, match=r"cfg.hidden is \(64, 64\)"):
        train_ppo(ActorCritic.for_env("CartPole-v1", _small(hidden=(8,))), "CartPole-v1", _small())


# --- figures, sliders and the shipped data ------------------------------------------------------

def test_figures_draw_for_any_value():
    from matplotlib.figure import Figure

    from course_lib.plotting import ppo as plots
    from course_lib.experiments.ppo_sweep import load_clip_sweep, load_recorded_rollout

    for eps in (0.0, 0.2, 0.5):
        assert isinstance(plots.clip_objective(eps), Figure)
    with pytest.raises(ValueError, match="eps"):
        plots.clip_objective(-1)
    rollout = load_recorded_rollout()
    for lam in (0.0, 0.5, 1.0):
        assert isinstance(plots.gae_weights(lam, rollout), Figure)
    with pytest.raises(ValueError, match="lam"):
        plots.gae_weights(1.5, rollout)
    sweep = load_clip_sweep()
    for eps in sweep["eps"]:
        assert isinstance(plots.clip_sweep(sweep, eps), Figure)
    with pytest.raises(ValueError, match="eps"):
        plots.clip_sweep(sweep, 0.77)
    cfg = _small(eval_every=1024, eval_episodes=2)
    h = train_ppo(ActorCritic.for_env("CartPole-v1", cfg), "CartPole-v1", cfg)
    assert isinstance(plots.diagnostics(h), Figure)
    assert isinstance(plots.side_by_side({"a": [h, h], "b": [h]}), Figure)


def test_sliders_build():
    pytest.importorskip("ipywidgets")
    from course_lib.widgets import ppo as w

    for box in (w.clip_slider(0.1), w.lambda_slider(lam=0.9), w.clip_sweep_slider(eps=0.3)):
        assert box.children


def test_shipped_sweep_covers_the_clip_ranges_and_seeds():
    from course_lib.experiments.ppo_sweep import SWEEP_EPS, SWEEP_SEEDS, load_clip_sweep, load_recorded_rollout

    sweep = load_clip_sweep()
    assert sorted(sweep["eps"]) == sorted(SWEEP_EPS) and sweep["seeds"] == list(SWEEP_SEEDS)
    assert len(sweep["runs"]) == len(SWEEP_EPS) * len(SWEEP_SEEDS)
    for run in sweep["runs"]:
        n = len(run["env_steps"])
        assert n > 100 and len(run["clip_fraction"]) == n == len(run["approx_kl"]) == len(run["episode_return"])
    rollout = load_recorded_rollout()
    assert len(rollout["rewards"]) == len(rollout["values"]) == len(rollout["terminated"]) == 400
    assert any(rollout["terminated"])


def test_config_refuses_non_finite_numbers_and_accepts_numpy_scalars():
    import numpy as np

    for field in ("lr", "clip_eps", "vf_coef", "gamma"):
        with pytest.raises(ValueError, match=field):
            PPOConfig(**{field: float("inf")})
        with pytest.raises(ValueError, match=field):
            PPOConfig(**{field: float("nan")})
    cfg = PPOConfig(n_envs=np.int64(4), lr=np.float32(3e-4), hidden=(np.int64(8),))
    assert type(cfg.n_envs) is int and type(cfg.lr) is float and cfg.hidden == (8,)


def test_the_clip_fractions_count_what_their_definitions_say():
    from course_lib.ppo import clipped_fraction, outside_clip_fraction

    ratio = torch.tensor([0.7, 0.9, 1.0, 1.1, 1.3, 1.3])
    adv = torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0, -1.0])
    assert float(outside_clip_fraction(ratio, 0.2)) == pytest.approx(3 / 6)  # 0.7 and both 1.3
    assert float(outside_clip_fraction(ratio, 0.2, 0.35)) == pytest.approx(1 / 6)  # only 0.7
    # stopped gradients: 1.3 with A > 0 only (0.7 has A > 0: pushing it up is not clipped)
    assert float(clipped_fraction(ratio, adv, 0.2)) == pytest.approx(1 / 6)
    mask = torch.tensor([1, 1, 1, 1, 0, 1])
    assert float(clipped_fraction(ratio, adv, 0.2, mask=mask)) == pytest.approx(0.0)



def test_standardize_advantages_numpy_equals_torch():
    adv = np.random.default_rng(0).normal(3.0, 2.0, size=50).astype(np.float32)
    a_np = standardize_advantages(adv)
    a_t = standardize_advantages(torch.from_numpy(adv))
    assert isinstance(a_np, np.ndarray) and a_np.dtype == np.float32
    np.testing.assert_allclose(a_np, a_t.numpy(), rtol=1e-5, atol=1e-6)
    one = np.array([2.5], dtype=np.float32)
    assert standardize_advantages(one) is one


def test_thread_guard_pins_numpys_openblas_and_restores_it():
    from course_lib.runs import _numpy_blas_threads, threads

    blas = _numpy_blas_threads()
    if blas is None:
        pytest.skip("this NumPy has no bundled OpenBLAS")
    get, put = blas
    before = get()
    with threads(1):
        assert get() == 1
    assert get() == before
