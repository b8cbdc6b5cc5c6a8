import random

import gymnasium as gym
import numpy as np
import pytest
import torch

from course_lib import budget, fast_mode, get_device, set_seed
from course_lib.core import check_probability


@pytest.mark.parametrize("raw,expected", [("1", True), ("true", True), ("YES", True), ("on", True),
                                          ("0", False), ("", False), ("false", False), ("off", False)])
def test_fast_mode_reads_course_fast(monkeypatch, raw, expected):
    monkeypatch.setenv("COURSE_FAST", raw)
    assert fast_mode() is expected
    assert budget(full=100, fast=3) == (3 if expected else 100)


def test_fast_mode_unset_is_full_mode(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert fast_mode() is False


def test_fast_mode_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST"):
        fast_mode()


def _draws(env=None):
    out = [random.random(), float(np.random.rand()), float(torch.rand(1))]
    if env is not None:
        out.append(int(env.action_space.sample()))
        out.extend(env.step(0)[0].tolist())
    return out


def test_set_seed_makes_everything_repeat():
    env = gym.make("CartPole-v1")
    set_seed(7, env)
    first = _draws(env)
    set_seed(7, env)
    assert _draws(env) == first
    set_seed(8, env)
    assert _draws(env) != first


def test_set_seed_returns_a_seeded_generator():
    assert set_seed(3).random() == np.random.default_rng(3).random()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        set_seed(bad)


def test_set_seed_rejects_a_non_env():
    with pytest.raises(ValueError, match="env"):
        set_seed(0, env=object())


def test_get_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected
    assert get_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="prefer"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            get_device("cuda")


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), "x", None])
def test_check_probability_names_the_argument(bad):
    with pytest.raises(ValueError, match="gamma"):
        check_probability("gamma", bad)
