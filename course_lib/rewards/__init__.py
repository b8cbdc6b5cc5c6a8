"""Rewards in TRL's convention: rule-based rewards for the arithmetic task (notebooks 06, 08, 09) and the
code-execution reward (notebook 06).

Every reward follows the convention of TRL's ``GRPOTrainer`` reward functions, so the same
functions can be handed to TRL later (notebook 10)::

    reward(completions, **kwargs) -> list[float]

``completions`` is a list of generated texts (the "standard" format; TRL's conversational format,
a list of messages ``[{"role": "assistant", "content": ...}]`` per completion, is accepted too).
Everything else arrives as keyword arguments: TRL passes ``prompts`` and every extra column of
the dataset under its column name. The course's task data has an ``answer`` column (the true
number), so accuracy reads ``answer``. A reward ignores keyword arguments it does not use.

DeepSeek-R1 trains with two rule-based rewards, accuracy and format, **added with equal weight**
(R1, Nature version, Eq. 4); rule-based rewards were chosen over a neural reward model because of
reward hacking. ``combine_rewards`` builds such a sum, with weights as a setting to explore.

The package: ``rules`` (accuracy, format, their weighted sums, R1's reward, and the checks of the
convention every reward uses: ``check_completions``, ``check_column``) and ``code_execution``
(``code_execution_reward``: the share of unit tests a program passes, run in the sandbox).
"""
from .code_execution import code_execution_reward
from .rules import RewardFn, accuracy_reward, check_column, check_completions, combine_rewards, format_reward, r1_reward

__all__ = ["accuracy_reward", "format_reward", "combine_rewards", "r1_reward", "code_execution_reward",
           "check_completions", "check_column", "RewardFn"]
