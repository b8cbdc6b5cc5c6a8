"""The course's small language model: tokenizer, GPT with a KV cache, sampling, checkpoints, training.

Notebook 05 introduces it as a policy; notebooks 06–09 train it further with rewards.
"""
from .checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from .generate import Generation, generate, left_pad, logprobs_from_logits, sequence_logprobs, token_logprobs
from .model import GPT, GPTConfig, KVCache
from .tokenizer import BOS, EOS, PAD, CharTokenizer
from .train import TrainConfig, lm_loss, new_model, pretrain, sft


def load_shipped(stage: str = "sft"):
    """Load a shipped checkpoint: ``"sft"`` (the policy later notebooks start from) or ``"pretrained"``.

    The file is checked against ``data/MANIFEST.json`` first (``course_lib.data.verified_path``):
    a damaged or changed checkpoint is refused with a message saying how to restore it.

    Returns:
        (model, tokenizer, meta).
    """
    from ..data import verified_path

    if stage not in ("sft", "pretrained"):
        raise ValueError(f"stage must be 'sft' or 'pretrained', got {stage!r}")
    return load_checkpoint(verified_path(f"lm/{stage}.pt"))


__all__ = [
    "BOS", "EOS", "PAD", "CharTokenizer", "GPT", "GPTConfig", "KVCache", "Generation", "generate",
    "left_pad", "logprobs_from_logits", "sequence_logprobs", "token_logprobs", "save_checkpoint",
    "load_checkpoint", "load_shipped", "FORMAT_VERSION", "TrainConfig", "lm_loss", "new_model",
    "pretrain", "sft",
]
