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


# -- the shared validators ----------------------------------------------------------------------

from course_lib.core import (check_finite_array, check_finite_number, check_indices,  # noqa: E402
                             check_int_in_range, check_nonnegative_int, check_positive_int,
                             check_same_shape)


@pytest.mark.parametrize("good,expected", [(8, 8), (np.int64(8), 8), (np.uint8(8), 8), (torch.tensor(8), 8)])
def test_integer_checks_accept_numpy_and_torch_scalars(good, expected):
    out = check_positive_int("n", good)
    assert out == expected and type(out) is int


@pytest.mark.parametrize("bad", [True, np.bool_(True), 0, -2, 2.0, 1.5, "3", None, float("nan"),
                                 float("inf"), torch.tensor([3]), np.array([3])])
def test_check_positive_int_refuses_and_names_the_argument(bad):
    with pytest.raises(ValueError, match=r"n_steps must be a positive integer, got"):
        check_positive_int("n_steps", bad)


def test_check_finite_number_bounds_and_messages():
    assert check_finite_number("x", np.float32(0.5), low=0, high=1) == 0.5
    assert check_finite_number("x", torch.tensor(2.5)) == 2.5
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\], got 0"):
        check_finite_number("alpha", 0, low=0, high=1, low_open=True)
    with pytest.raises(ValueError, match=r"lr must be a finite positive number, got inf"):
        check_finite_number("lr", float("inf"), low=0, low_open=True)
    with pytest.raises(ValueError, match=r"beta must be a non-negative number, got -1"):
        check_finite_number("beta", -1, low=0)
    with pytest.raises(ValueError, match=r"k must be an integer >= 2, got 1"):
        check_finite_number("k", 1, low=2, integer=True)
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer"):
        check_nonnegative_int("seed", -1)
    with pytest.raises(ValueError, match=r"state must lie in \[0, 3\], got 4"):
        check_int_in_range("state", 4, 0, 3)
    assert check_nonnegative_int("seed", np.int32(0)) == 0


def test_check_finite_array():
    a = check_finite_array("x", [1, 2, 3], ndim=1)
    assert a.dtype == np.float64 and a.tolist() == [1.0, 2.0, 3.0]
    t = torch.ones(2, 3)
    assert check_finite_array("t", t, shape=(None, 3)) is t
    cases = [([1.0, float("nan")], r"x must contain only finite numbers, got nan at index \(1,\)"),
             (torch.tensor([0.0, float("-inf")]), r"x must contain only finite numbers, got -inf at index \(1,\)"),
             ([], r"x must not be empty"),
             ([[1], [2, 3]], r"x must be an array of numbers"),
             (["1", "2"], r"x must be an array of numbers"),
             ([1 + 2j], r"x must be an array of numbers"),
             (np.zeros((2, 2)), r"x must be a 1-D sequence or array, got shape \(2, 2\)")]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            check_finite_array("x", bad, ndim=1)
    with pytest.raises(ValueError, match=r"x must have shape \(any, 4\), got shape \(2, 3\)"):
        check_finite_array("x", np.zeros((2, 3)), shape=(None, 4))
    assert check_finite_array("x", [], nonempty=False).shape == (0,)


def test_check_same_shape_and_indices():
    assert check_same_shape(a=np.zeros(3), b=torch.zeros(3)) == (3,)
    with pytest.raises(ValueError, match=r"logp and returns must have the same shape, got logp \(3,\), returns \(2,\)"):
        check_same_shape(logp=np.zeros(3), returns=[1, 2])
    assert check_indices("s", np.int64(2), 3) == 2
    assert check_indices("ids", [[0, 4]], 5).tolist() == [[0, 4]]
    for bad, match in [(5, r"s must be an index in 0..4, got 5"), ([1, 7], r"s must hold indices in 0..4, got 7"),
                       (torch.tensor([-1]), r"got -1"), ([0.5], r"integer indices"), (True, r"s must")]:
        with pytest.raises(ValueError, match=match):
            check_indices("s", bad, 5)
