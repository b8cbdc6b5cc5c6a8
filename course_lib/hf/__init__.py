"""The course's model, tokenizer and reward functions in the Hugging Face stack (notebook 10).

``convert``: the GPT as a ``transformers`` GPT-2 and the character tokenizer as a fast tokenizer,
and back. ``trl_grpo``: TRL's ``GRPOTrainer`` with the course's reward functions and a config
mapped from ``course_lib.grpo.GRPOConfig``. ``distributed``: the same training as data
parallelism over two processes with ``accelerate launch``. ``engines``: the course's reward in the
conventions of verl and OpenRLHF.

Importing it imports transformers (a few seconds); the rest of course_lib does not need it.
"""
import os

# Offline by construction: these are read when huggingface_hub is first imported.
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .convert import (CourseGPT2LMHeadModel, CourseGPT2Model, export, from_hf_model, from_hf_tokenizer,  # noqa: E402
                      hf_config, real_token_positions, to_hf_model, to_hf_tokenizer)
from .engines import openrlhf_reward_func, verl_compute_score  # noqa: E402
from .trl_grpo import (COURSE_REWARDS, TRL_FIELDS, TRL_FIXED, CourseEvalCallback, make_trl_trainer,  # noqa: E402
                       to_trl_config, train_with_trl, trl_dataset)

__all__ = ["CourseGPT2LMHeadModel", "CourseGPT2Model", "export", "from_hf_model", "from_hf_tokenizer",
           "hf_config", "real_token_positions", "to_hf_model", "to_hf_tokenizer", "COURSE_REWARDS", "TRL_FIELDS",
           "TRL_FIXED", "CourseEvalCallback", "make_trl_trainer", "to_trl_config", "train_with_trl", "trl_dataset",
           "openrlhf_reward_func", "verl_compute_score"]
