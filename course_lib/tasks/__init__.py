"""The course's tasks: what the language model is asked to do, and how answers are checked.

* ``arithmetic`` (notebooks 05–10): two-digit addition and subtraction with the answer written
  least-significant digit first; its problems, the answer format and its rule-based check, the
  held-out set, the evaluation harness. Its names are re-exported here, so
  ``from course_lib import tasks; tasks.evaluate(...)`` reads as it always has.
* ``recipe``: how the shipped language model is built for that task (pretraining text, SFT
  demonstrations, ``python -m course_lib train-lm``).
* ``code`` (notebook 06): small programming problems with visible and hidden tests, scored by
  running candidate programs in the sandbox (``course_lib.sandbox``).

The language model (``course_lib.lm``) never imports a task: a task uses the model, not the
other way round.
"""
from .arithmetic import (CHARS, EVAL_FILE, EVAL_SIZE, MAX_ANSWER_TOKENS, SEPARATOR, SPLIT_SEED, Problem,
                         prompts_and_answers, all_problems, as_answer, complete, eval_dataset, eval_problems,
                         evaluate, follows_format, format_answer, load_jsonl, make_tokenizer, parse_answer,
                         pretraining_documents, sample_problems, sft_examples, train_problems, write_eval_set)

__all__ = ["CHARS", "EVAL_FILE", "EVAL_SIZE", "MAX_ANSWER_TOKENS", "SEPARATOR", "SPLIT_SEED", "Problem",
           "all_problems", "as_answer", "complete", "eval_dataset", "eval_problems", "evaluate", "follows_format",
           "format_answer", "load_jsonl", "make_tokenizer", "parse_answer", "pretraining_documents",
           "prompts_and_answers", "sample_problems", "sft_examples", "train_problems", "write_eval_set"]
