"""The course's reward in verl's and OpenRLHF's conventions (course_lib.hf.engines)."""
from __future__ import annotations

import inspect

import pytest
import torch

from course_lib.hf.engines import openrlhf_reward_func, verl_compute_score
from course_lib.rewards import accuracy_reward, r1_reward


def test_verl_compute_score_is_the_course_reward_of_one_response():
    assert list(inspect.signature(verl_compute_score).parameters) == ["data_source", "solution_str", "ground_truth",
                                                                      "extra_info"]
    assert verl_compute_score("arith", "29", 92) == r1_reward(["29"], answer=[92])[0] == 2.0
    assert verl_compute_score("arith", "28", 92) == 1.0  # right format, wrong answer


def test_openrlhf_reward_func_returns_the_dict_openrlhf_reads():
    # OpenRLHF v0.11 decodes prompt + response with special tokens kept and reads rewards, scores, extra_logs
    out = openrlhf_reward_func(["34+58=29<eos>", "34+58=28<eos>", "34+58=2x"], ["34+58="] * 3, ["92", "92", "92"])
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert isinstance(out["rewards"], torch.Tensor) and out["rewards"].tolist() == [2.0, 1.0, 0.0]
    assert out["scores"].tolist() == accuracy_reward(["29", "28", "2x"], answer=[92] * 3) == [1.0, 0.0, 0.0]
    assert all(0.0 <= s <= 1.0 for s in out["scores"].tolist())  # dynamic filtering expects [0, 1]
    assert out["extra_logs"]["accuracy"] == pytest.approx(1 / 3)


def test_openrlhf_reward_func_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one entry per sample"):
        openrlhf_reward_func(["1+1=2"], ["1+1=", "2+2="], ["2"])
    with pytest.raises(ValueError, match="start with their prompt"):
        openrlhf_reward_func(["2+2=4"], ["1+1="], ["2"])
