"""The course's GPT and character tokenizer as Hugging Face transformers objects, and back (notebook 10).

The course's GPT has GPT-2's shape (learned positions, pre-norm blocks ``x + attn(ln(x))``,
``x + mlp(ln(x))``, a GELU MLP four times as wide, a head tied to the token embeddings), so it
becomes a ``transformers.GPT2LMHeadModel`` with a locally built ``GPT2Config`` and the same
numbers in every weight. Three details make the two compute the same function:

* **GELU.** The course uses ``F.gelu`` (the exact, erf-based GELU); GPT-2's default
  ``activation_function="gelu_new"`` is the tanh approximation. The config says ``"gelu"``.
* **Linear vs Conv1D.** GPT-2 stores its projections as ``Conv1D`` with the weight transposed,
  (in, out) instead of ``nn.Linear``'s (out, in); biases and layer-norm epsilon (1e-5) match.
* **Positions under left padding.** The course counts positions over real tokens only, so a
  prompt's ``<bos>`` sits at position 0 however much padding is on its left. Hugging Face's
  ``generate`` does the same (``cumsum(attention_mask) - 1``), but a plain forward call without
  ``position_ids`` numbers the columns 0..T-1, padding included — which is what TRL does when it
  recomputes log-probabilities. With rotary positions (Llama, Qwen) only distances between
  tokens matter and that shift is harmless; with GPT-2's learned absolute positions it is not.
  ``CourseGPT2LMHeadModel`` is a ``GPT2LMHeadModel`` whose trunk fills in the real-token
  positions whenever none are passed, so both code paths see the positions the model was
  trained with.

The tokenizer becomes a ``PreTrainedTokenizerFast`` built from a ``tokenizers`` word-level model
over single characters: the same ids, ``<bos>`` added in front, ``<pad>``/``<bos>``/``<eos>`` as
the special tokens, padding on the left. Nothing is downloaded.
"""
from __future__ import annotations

import torch
import transformers

from ..lm.model import GPT, GPTConfig
from ..lm.tokenizer import SPECIALS, CharTokenizer

LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, which the course's GPT uses


def real_token_positions(attention_mask: torch.Tensor, length: int | None = None) -> torch.Tensor:
    """Position of every token counted over real tokens only: cumsum(mask) − 1, clamped at 0.

    Args:
        attention_mask: (B, S) 1 for real tokens, 0 for padding (S covers cached tokens too).
        length: keep the last ``length`` columns (the tokens of this call); default all.

    Returns:
        (B, length) long tensor; padding on the left gets 0, as in ``course_lib.lm.model.GPT``.
    """
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must have shape (B, S), got {tuple(attention_mask.shape)}")
    pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    return pos if length is None else pos[:, -length:]


class CourseGPT2Model(transformers.GPT2Model):
    """GPT-2's trunk with positions counted over real tokens when none are given."""

    def forward(self, input_ids=None, *args, attention_mask=None, position_ids=None, **kwargs):
        if position_ids is None and attention_mask is not None and attention_mask.dim() == 2:
            n_new = (input_ids if input_ids is not None else kwargs["inputs_embeds"]).shape[1]
            position_ids = real_token_positions(attention_mask, n_new)  # (B, T)
        return super().forward(input_ids, *args, attention_mask=attention_mask,
                               position_ids=position_ids, **kwargs)


class CourseGPT2LMHeadModel(transformers.GPT2LMHeadModel):
    """A ``GPT2LMHeadModel`` whose trunk is ``CourseGPT2Model`` (same weights, same names)."""

    def __init__(self, config):
        super().__init__(config)
        self.transformer = CourseGPT2Model(config)
        self.post_init()


def hf_config(config: GPTConfig, tokenizer: CharTokenizer | None = None):
    """A ``transformers.GPT2Config`` of the same shape as the course's ``GPTConfig`` (built locally)."""
    if not isinstance(config, GPTConfig):
        raise ValueError(f"config must be a course_lib GPTConfig, got {type(config).__name__}")
    tok = tokenizer or CharTokenizer("0")  # only its special ids are read
    return transformers.GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
        n_layer=config.n_layer, n_head=config.n_head, n_inner=4 * config.n_embd,
        activation_function="gelu",  # exact GELU, as F.gelu (GPT-2's own default is "gelu_new")
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,  # the course's GPT has no dropout
        layer_norm_epsilon=LAYER_NORM_EPS, scale_attn_weights=True, tie_word_embeddings=True,
        pad_token_id=config.pad_id, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
    )


def _course_to_hf_names(n_layer: int) -> list[tuple[str, str, bool]]:
    """(course name, transformers name, transpose?) for every weight; Conv1D stores (in, out)."""
    pairs = [("wte.weight", "transformer.wte.weight", False), ("wpe.weight", "transformer.wpe.weight", False),
             ("ln_f.weight", "transformer.ln_f.weight", False), ("ln_f.bias", "transformer.ln_f.bias", False)]
    for i in range(n_layer):
        c, h = f"blocks.{i}.", f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            pairs += [(c + ln + ".weight", h + ln + ".weight", False), (c + ln + ".bias", h + ln + ".bias", False)]
        for lin in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            pairs += [(c + lin + ".weight", h + lin + ".weight", True), (c + lin + ".bias", h + lin + ".bias", False)]
    return pairs


def to_hf_model(model: GPT, tokenizer: CharTokenizer | None = None):
    """Export the course's GPT to a ``CourseGPT2LMHeadModel`` (a ``transformers.GPT2LMHeadModel``).

    Args:
        model: a ``course_lib.lm.GPT``.
        tokenizer: its tokenizer (for the bos/eos ids in the config); default the task's.

    Returns:
        The transformers model in eval mode, on the course model's device, with a copy of its
        weights (training one does not change the other).
    """
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a course_lib GPT, got {type(model).__name__}")
    if tokenizer is not None and tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                         f"{model.config.vocab_size}")
    cfg = hf_config(model.config, tokenizer)
    hf = CourseGPT2LMHeadModel(cfg)
    src = model.state_dict()
    state = {}
    for course_name, hf_name, transpose in _course_to_hf_names(model.config.n_layer):
        w = src[course_name].detach().cpu()
        state[hf_name] = (w.t() if transpose else w).contiguous().clone()
    state["lm_head.weight"] = state["transformer.wte.weight"]  # tied, as in the course's GPT
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(".attn.bias") and not k.endswith(".attn.masked_bias")]
    if missing or unexpected:  # pragma: no cover - guards against a transformers layout change
        raise RuntimeError(f"GPT-2 layout changed: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    hf.generation_config.pad_token_id = cfg.pad_token_id
    hf.generation_config.bos_token_id = cfg.bos_token_id
    hf.generation_config.eos_token_id = cfg.eos_token_id
    return hf.to(model.device).eval()


def from_hf_model(hf_model) -> GPT:
    """Import a GPT-2-shaped transformers model back into the course's GPT (same weights).

    Args:
        hf_model: a ``GPT2LMHeadModel`` (e.g. one exported by ``to_hf_model`` and trained with TRL),
            or a wrapper with ``.module`` (DDP) around one.

    Returns:
        A ``course_lib.lm.GPT`` in eval mode on the same device.

    Raises:
        ValueError: the model is not GPT-2-shaped in the ways the course's GPT needs (exact GELU,
            MLP four times as wide, tied head, layer-norm epsilon 1e-5).
    """
    hf_model = getattr(hf_model, "module", hf_model)
    if not isinstance(hf_model, transformers.GPT2LMHeadModel):
        raise ValueError(f"hf_model must be a transformers GPT2LMHeadModel, got {type(hf_model).__name__}")
    c = hf_model.config
    expected = {"activation_function": "gelu", "tie_word_embeddings": True}
    for name, want in expected.items():
        if getattr(c, name) != want:
            raise ValueError(f"hf_model.config.{name} must be {want!r} to match the course's GPT, got {getattr(c, name)!r}")
    if c.n_inner not in (None, 4 * c.n_embd):
        raise ValueError(f"hf_model.config.n_inner must be 4 * n_embd = {4 * c.n_embd}, got {c.n_inner!r}")
    if abs(c.layer_norm_epsilon - LAYER_NORM_EPS) > 1e-12:
        raise ValueError(f"hf_model.config.layer_norm_epsilon must be {LAYER_NORM_EPS}, got {c.layer_norm_epsilon!r}")
    pad_id = c.pad_token_id if c.pad_token_id is not None else 0
    model = GPT(GPTConfig(vocab_size=c.vocab_size, block_size=c.n_positions, n_layer=c.n_layer,
                          n_head=c.n_head, n_embd=c.n_embd, pad_id=pad_id))
    src = hf_model.state_dict()
    state = {}
    for course_name, hf_name, transpose in _course_to_hf_names(c.n_layer):
        w = src[hf_name].detach().cpu()
        state[course_name] = (w.t() if transpose else w).contiguous().clone()
    state["lm_head.weight"] = state["wte.weight"]
    model.load_state_dict(state)
    return model.to(hf_model.device).eval()


def to_hf_tokenizer(tokenizer: CharTokenizer):
    """The character tokenizer as a ``transformers.PreTrainedTokenizerFast`` (built locally).

    One token per character with the course's ids; ``<bos>`` is added in front of every text (as
    ``CharTokenizer.encode(text, bos=True)``); ``<pad>``, ``<bos>``, ``<eos>`` are the special
    tokens; batches are padded on the left; decoding joins characters without spaces. A
    character outside the vocabulary raises an error, as ``CharTokenizer.encode`` does.
    """
    if not isinstance(tokenizer, CharTokenizer):
        raise ValueError(f"tokenizer must be a course_lib CharTokenizer, got {type(tokenizer).__name__}")
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    pad, bos, eos = SPECIALS
    vocab = {s: i for i, s in enumerate(tokenizer.itos)}
    # No unknown token in the vocabulary: an unknown character is an error, never a silent <unk>.
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unknown character>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # every character a token
    core.decoder = decoders.Fuse()  # join tokens without spaces
    core.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tokenizer.bos_id)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=bos, eos_token=eos, pad_token=pad, padding_side="left",
        model_max_length=10**6)


def from_hf_tokenizer(hf_tokenizer) -> CharTokenizer:
    """The ``CharTokenizer`` a tokenizer made by ``to_hf_tokenizer`` came from."""
    vocab = hf_tokenizer.get_vocab() if hasattr(hf_tokenizer, "get_vocab") else None
    if not isinstance(vocab, dict):
        raise ValueError(f"hf_tokenizer must be a transformers tokenizer, got {type(hf_tokenizer).__name__}")
    for i, s in enumerate(SPECIALS):
        if vocab.get(s) != i:
            raise ValueError(f"hf_tokenizer must map {s!r} to id {i} (a course character tokenizer), got {vocab.get(s)!r}")
    chars = sorted((i, s) for s, i in vocab.items() if s not in SPECIALS)
    if [i for i, _ in chars] != list(range(len(SPECIALS), len(vocab))) or any(len(s) != 1 for _, s in chars):
        raise ValueError("hf_tokenizer must have one single-character token per id after the specials")
    return CharTokenizer("".join(s for _, s in chars))


def export(model: GPT, tokenizer: CharTokenizer):
    """Both at once: ``(to_hf_model(model, tokenizer), to_hf_tokenizer(tokenizer))``."""
    return to_hf_model(model, tokenizer), to_hf_tokenizer(tokenizer)
