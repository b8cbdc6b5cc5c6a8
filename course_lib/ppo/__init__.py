"""PPO (notebook 04): the math as pure functions, the one minibatch loss, a config, a training loop, evaluation.

    from course_lib.ppo import ActorCritic, PPOConfig, train_ppo, evaluate
    cfg = PPOConfig(total_steps=100_000)
    policy = ActorCritic.for_env("CartPole-v1", cfg)  # sizes from the env, weights from cfg.seed
    history = train_ppo(policy, "CartPole-v1", cfg)  # trains policy in place
    evaluate(policy, "CartPole-v1", n_episodes=10)

``python -m course_lib bench ppo`` races it against Stable-Baselines3 (``course_lib.experiments.bench_ppo``).
"""
from .config import PPOConfig
from .losses import clipped_fraction, outside_clip_fraction, ppo_loss, standardize_advantages
from .math import approx_kl, clipped_surrogate, entropy, explained_variance, gae, value_loss
from .policy import ActorCritic, env_sizes, load_policy, save_policy
from .train import SOLVED_RETURN, evaluate, make_vector_env, steps_to_solve, train_ppo

__all__ = [
    "PPOConfig", "gae", "clipped_surrogate", "value_loss", "ppo_loss", "standardize_advantages",
    "outside_clip_fraction", "clipped_fraction", "approx_kl", "entropy", "explained_variance",
    "ActorCritic", "env_sizes", "save_policy", "load_policy", "train_ppo", "evaluate", "make_vector_env",
    "steps_to_solve", "SOLVED_RETURN",
]
