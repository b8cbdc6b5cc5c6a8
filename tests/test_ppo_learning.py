"""Seeded learning tests: course_lib's PPO solves CartPole-v1 within 100k env steps."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.ppo import ActorCritic, PPOConfig, evaluate, train_ppo

SEED = 0


def test_train_ppo_solves_cartpole_within_100k_steps():
    # The rl-zoo settings (PPOConfig's defaults); stop once two evaluations in a row score 500.
    cfg = PPOConfig(seed=SEED, total_steps=100_000, eval_every=5_000, eval_episodes=10, stop_return=500.0)
    policy = ActorCritic.for_env("CartPole-v1", cfg)
    history = train_ppo(policy, "CartPole-v1", cfg)
    assert history["env_steps"][-1] <= 100_096  # 391 rollouts of 256 steps at most
    returns = evaluate(policy, "CartPole-v1", n_episodes=20, deterministic=True, seed=2024)
    assert returns.mean() >= 475, (returns, history["eval_returns"])
    # it learned: the first episodes were far from solved
    assert np.mean(history["episode_returns"][:20]) < 100


def test_stable_baselines3_runs_with_the_same_config():
    pytest.importorskip("stable_baselines3")
    from course_lib.experiments.sb3 import sb3_kwargs, train_sb3

    cfg = PPOConfig(total_steps=1024, eval_every=512, eval_episodes=2, seed=1)
    model, history = train_sb3("CartPole-v1", cfg)
    assert history["env_steps"][-1] == 1024 and len(history["eval_returns"]) == 2
    assert len(history["episode_returns"]) > 10
    kw = sb3_kwargs(cfg)
    assert kw["n_steps"] == 32 and kw["gae_lambda"] == 0.8 and kw["policy_kwargs"]["net_arch"]["pi"] == [64, 64]
    assert model.n_envs == cfg.n_envs


def test_bench_command_runs_and_reports_ratios(capsys, tmp_path):
    pytest.importorskip("stable_baselines3")
    from course_lib.experiments.bench_ppo import main

    out = tmp_path / "bench.json"
    assert main(["--seeds", "0", "--steps", "1024", "--eval-every", "512", "--eval-episodes", "2",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "course_lib" in text and "sb3" in text and "training throughput" in text
    import json

    result = json.loads(out.read_text())
    assert {r["lib"] for r in result["runs"]} == {"course_lib", "sb3"}
    assert result["ratios"]["throughput"] > 0
    with pytest.raises(SystemExit):
        main(["--steps", "1000", "--eval-every", "5000"])


def test_bench_skips_the_purejaxrl_peer_cleanly_without_jax_or_a_checkout(tmp_path, capsys):
    # PureJaxRL is not a dependency: without a checkout, or without JAX where the bench looks, it is
    # left out with the reason, and the bench goes on
    from course_lib.experiments.bench_ppo import _purejaxrl_peer, main

    peer, why = _purejaxrl_peer(None, None, 1024)
    assert peer is None and "checkout" in why
    peer, why = _purejaxrl_peer(None, str(tmp_path), 1024)
    assert peer is None and "purejaxrl/ppo.py" in why
    (tmp_path / "purejaxrl").mkdir()
    (tmp_path / "purejaxrl" / "ppo.py").write_text("")
    try:
        import jax  # noqa: F401
    except ImportError:
        peer, why = _purejaxrl_peer(None, str(tmp_path), 1024)
        assert peer is None and "not importable" in why
        assert main(["--seeds", "0", "--steps", "512", "--eval-every", "512", "--eval-episodes", "1",
                     "--peers", "purejaxrl", "--purejaxrl", str(tmp_path)]) == 0
        text = capsys.readouterr().out
        assert "PureJaxRL peer skipped" in text and "course_lib" in text
