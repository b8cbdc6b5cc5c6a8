"""Rule-based rewards in TRL's reward-function convention (course_lib.rewards)."""
import pytest

from course_lib.rewards import accuracy_reward, combine_rewards, format_reward, r1_reward
from course_lib.tasks import format_answer


def test_accuracy_is_exact_match_of_the_parsed_reversed_answer():
    # the task writes answers least-significant digit first: 92 is "29"
    completions = ["29", "92", "2a", "", "001", "0"]
    answers = [92, 92, 92, 5, 100, 0]
    assert accuracy_reward(completions, answer=answers) == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]


def test_format_rewards_parsable_answers_only():
    completions = ["29", "1234", "2+", "", "007", "5"]
    assert format_reward(completions) == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]


def test_unfinished_completion_breaks_the_format_and_earns_no_accuracy():
    completions = ["29", "29"]
    assert format_reward(completions, finished=[True, False]) == [1.0, 0.0]
    assert accuracy_reward(completions, answer=[92, 92], finished=[True, False]) == [1.0, 0.0]


def test_trl_calling_convention_all_keywords_and_extra_columns_ignored():
    # GRPOTrainer calls reward_func(prompts=..., completions=..., completion_ids=..., **dataset_columns)
    kwargs = dict(prompts=["34+58=", "9-4="], completions=["29", "4"], completion_ids=[[5, 6], [7]],
                  answer=[92, 5], a=[34, 9], op=["+", "-"], b=[58, 4], trainer_state=None)
    assert accuracy_reward(**kwargs) == [1.0, 0.0]
    assert format_reward(**kwargs) == [1.0, 1.0]
    assert r1_reward(**kwargs) == [2.0, 1.0]


def test_conversational_completions_are_read_from_their_content():
    completions = [[{"role": "assistant", "content": "29"}], [{"role": "assistant", "content": "x"}]]
    assert accuracy_reward(completions, answer=[92, 92]) == [1.0, 0.0]
    assert format_reward(completions) == [1.0, 0.0]


def test_answers_may_be_integer_strings():
    assert accuracy_reward(["29"], answer=["92"]) == [1.0]


def test_r1_reward_adds_accuracy_and_format_with_equal_weight():
    completions = ["29", "39", "x"]
    answers = [92, 92, 92]
    acc = accuracy_reward(completions, answer=answers)
    fmt = format_reward(completions)
    assert r1_reward(completions, answer=answers) == [a + f for a, f in zip(acc, fmt)] == [2.0, 1.0, 0.0]


def test_weighted_combination():
    reward = combine_rewards([accuracy_reward, format_reward], [0.7, 0.3])
    out = reward(["29", "39", "x"], answer=[92, 92, 92])
    assert out == pytest.approx([1.0, 0.3, 0.0])
    assert "0.7*accuracy_reward" in reward.__doc__


def test_every_true_answer_round_trips_through_the_format():
    answers = list(range(0, 199))
    completions = [format_answer(a) for a in answers]
    assert accuracy_reward(completions, answer=answers) == [1.0] * len(answers)


@pytest.mark.parametrize("call, match", [
    (lambda: accuracy_reward(["29", "1"], answer=[92]), "answer has 1 values but there are 2 completions"),
    (lambda: accuracy_reward(["29"]), "answer is required"),
    (lambda: accuracy_reward(["29"], answer=["x"]), "answer values must be integers"),
    (lambda: format_reward(["29"], finished=[True, True]), "finished has 2 values"),
    (lambda: format_reward("29"), "completions must be a list"),
    (lambda: format_reward([29]), "each completion must be a string"),
    (lambda: combine_rewards([]), "reward_fns must be a non-empty list"),
    (lambda: combine_rewards([accuracy_reward], [1.0, 2.0]), "weights has 2 values"),
    (lambda: combine_rewards([accuracy_reward], ["a"]), "weights must be a number"),
    (lambda: combine_rewards([lambda c, **k: [1.0]])(["1", "2"]), "returned 1 rewards for 2 completions"),
])
def test_bad_input_is_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_answers_are_never_truncated_and_weights_must_be_finite():
    import numpy as np

    from course_lib.rewards import accuracy_reward, combine_rewards, format_reward

    with pytest.raises(ValueError, match="answer"):
        accuracy_reward(["3"], answer=[3.7])
    assert accuracy_reward(["21"], answer=[np.int64(12)]) == [1.0]
    assert format_reward(["12\n"]) == [0.0]  # the format is the whole string
    with pytest.raises(ValueError, match="weights"):
        combine_rewards([accuracy_reward, format_reward], [1.0, float("inf")])
    assert combine_rewards([format_reward], [np.float32(0.5)])(["12"]) == [0.5]
