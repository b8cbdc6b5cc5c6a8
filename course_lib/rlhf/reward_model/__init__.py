"""A Bradley–Terry reward model for the arithmetic task (notebook 06; notebook 07 trains against it).

The Bradley–Terry model says a preferred answer y_w beats a rejected one y_l with probability
σ(r(x, y_w) − r(x, y_l)), where r is a scalar score. Fitting r to the annotators' comparisons by
maximum likelihood is minimising

    L_RM = −E[ log σ(r(x, y_w) − r(x, y_l)) ]                      (InstructGPT, arXiv 2203.02155, Eq. 1)

``bradley_terry_loss`` is that line. The reward model r is the course's GPT (notebook 05), started
from the shipped SFT checkpoint, with a scalar head read at the last real token of
``<bos> prompt completion <eos>`` (``course_lib.lm.heads``), plus the completion's log-likelihood
under the trunk's own language-model head (``RewardModel`` says why). Only differences of scores
matter to the loss, so after training the scores are shifted to average 0 on the training answers.

``python -m course_lib train-rm`` rebuilds the preference data (``course_lib.rlhf.preferences``) and
the reward model (``data/rm/reward_model.pt``) byte for byte; ``load_shipped_reward_model()``
loads it.

The sub-package's rooms: ``losses`` (the Bradley–Terry loss, pair accuracy), ``model`` (``RewardModel``,
scoring, the reward function, saving and loading), ``config`` (``RewardModelConfig``), ``train``
(``train_reward_model``, ``center_scores``), ``evaluate`` (the figures of notebook 06) and ``build``
(``python -m course_lib train-rm``); this face exports their public names.
"""
from .build import CONFIG, SEED, build, main
from .config import RewardModelConfig
from .evaluate import (calibration, equal_distance_probes, evaluate_reward_model, label_agreement, length_bias,
                       probe_problems, truth_agreement)
from .losses import bradley_terry_loss, pair_accuracy
from .model import (FILE, KIND, REBUILD, RewardModel, load_reward_model, load_shipped_reward_model, reward_model_reward,
                    save_reward_model, score, score_pairs)
from .train import center_scores, train_reward_model

__all__ = ["bradley_terry_loss", "RewardModel", "RewardModelConfig", "train_reward_model", "score",
           "score_pairs", "pair_accuracy", "center_scores", "label_agreement", "truth_agreement",
           "calibration", "equal_distance_probes", "length_bias", "probe_problems", "evaluate_reward_model",
           "reward_model_reward", "save_reward_model", "load_reward_model", "load_shipped_reward_model", "main",
           "build", "SEED", "CONFIG", "FILE", "KIND", "REBUILD"]
