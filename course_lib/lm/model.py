"""A small GPT (decoder-only transformer) with a KV cache, sized for a laptop CPU.

Read it like nanoGPT's ``model.py``: a config dataclass, causal self-attention, an MLP, the
pre-norm residual block ``x + attn(ln(x))``, ``x + mlp(ln(x))``. Two additions make it usable as
an RL policy:

* **left padding.** A batch of prompts of different lengths is padded on the left with
  ``<pad>``. ``key_valid`` says which tokens are real; padded keys are never attended to and
  positions count real tokens only, so a prompt gets the same positions (``<bos>`` at 0) however
  much padding sits before it — the positions it saw in training.
* **a KV cache.** Generation appends one token at a time; the keys and values of the earlier
  tokens are kept, so each step costs one token's forward pass instead of the whole sequence's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import check_int_in_range, check_positive_int


@dataclass(frozen=True)
class GPTConfig:
    """Shape of the model. The defaults are the course's shipped model (about 0.2M parameters)."""

    vocab_size: int  # tokens in the vocabulary, specials included
    block_size: int = 32  # longest sequence (positions 0..block_size-1)
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block; n_embd must divide by it
    n_embd: int = 64  # width of the residual stream
    pad_id: int = 0  # the <pad> token: never attended to when it is padding

    def __post_init__(self):
        # NumPy and torch integers are accepted and stored as Python ints (course_lib.core's validators)
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        try:
            object.__setattr__(self, "pad_id", check_int_in_range("pad_id", self.pad_id, 0, self.vocab_size - 1))
        except ValueError:
            raise ValueError(f"pad_id must be a token id in [0, {self.vocab_size}), got {self.pad_id!r}") from None


class KVCache:
    """Keys and values of every layer for the tokens processed so far.

    Attributes:
        k, v: (n_layer, B, n_head, max_len, head_size) buffers, filled up to ``length``.
        key_valid: (B, max_len) which cached tokens are real (not padding).
        n_valid: (B,) how many real tokens each row has so far (the next position).
        length: how many slots are filled (the same for every row).
    """

    def __init__(self, config: GPTConfig, batch_size: int, max_len: int, device=None, dtype=torch.float32):
        if max_len < 1 or batch_size < 1:
            raise ValueError(f"batch_size and max_len must be positive, got {batch_size}, {max_len}")
        hs = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, max_len, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.key_valid = torch.zeros(batch_size, max_len, dtype=torch.bool, device=device)
        self.n_valid = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.length = 0
        self.max_len = max_len

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new tokens' keys and values of ``layer`` (each (B, nh, T, hs)); return all so far, (B, nh, L+T, hs)."""
        L, T = self.length, k.shape[2]
        self.k[layer, :, :, L:L + T] = k
        self.v[layer, :, :, L:L + T] = v
        return self.k[layer, :, :, :L + T], self.v[layer, :, :, :L + T]

    def update_valid(self, key_valid: torch.Tensor) -> torch.Tensor:
        """Store which new tokens are real ((B, T)); return it for every token so far, (B, L+T)."""
        L, T = self.length, key_valid.shape[1]
        self.key_valid[:, L:L + T] = key_valid
        return self.key_valid[:, :L + T]

    def repeat_interleave(self, repeats: int) -> "KVCache":
        """A cache of B · repeats rows, each row ``repeats`` times in a row: G completions of one prompt
        continue from the prompt's keys and values, computed once."""
        out = KVCache.__new__(type(self))
        out.k, out.v = self.k.repeat_interleave(repeats, 1), self.v.repeat_interleave(repeats, 1)
        out.key_valid = self.key_valid.repeat_interleave(repeats, 0)
        out.n_valid = self.n_valid.repeat_interleave(repeats, 0)
        out.length, out.max_len = self.length, self.max_len
        return out


class GrowingKVCache(KVCache):
    """A KVCache that autograd can differentiate through: each call appends by concatenation (no
    in-place write into a buffer that an earlier step saved for the backward pass). Used to train
    on completions that continue from keys and values of a prompt computed once for its G samples."""

    def __init__(self, config: GPTConfig, batch_size: int, device=None):
        self.k = [None] * config.n_layer
        self.v = [None] * config.n_layer
        self.key_valid = torch.zeros(batch_size, 0, dtype=torch.bool, device=device)
        self.n_valid = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.length = 0
        self.max_len = config.block_size

    def update(self, layer, k, v):
        if self.k[layer] is not None:
            k, v = torch.cat([self.k[layer], k], 2), torch.cat([self.v[layer], v], 2)
        self.k[layer], self.v[layer] = k, v
        return k, v

    def update_valid(self, key_valid):
        self.key_valid = torch.cat([self.key_valid, key_valid], 1)
        return self.key_valid

    def repeat_interleave(self, repeats):
        out = KVCache.__new__(type(self))
        out.k = [None if x is None else x.repeat_interleave(repeats, 0) for x in self.k]
        out.v = [None if x is None else x.repeat_interleave(repeats, 0) for x in self.v]
        out.key_valid = self.key_valid.repeat_interleave(repeats, 0)
        out.n_valid = self.n_valid.repeat_interleave(repeats, 0)
        out.length, out.max_len = self.length, self.max_len
        return out


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, nh, L+T, hs): the past and the new tokens
        # softmax(q k^T / sqrt(hs)) v, each query seeing only the keys ``mask`` allows
        if mask is None:  # training on right-padded rows: plain causal attention, fused kernel
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # written out: for one query per row (generation) this beats the fused kernel on CPU
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))  # (B, nh, T, L+T)
            att = torch.where(mask, att, float("-inf"))  # (one operation; masked_fill would need ~mask first)
            y = F.softmax(att, dim=-1) @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x, mask, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), mask, cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The policy π_θ(token | text so far): token ids in, next-token logits out."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ValueError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embeddings
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # position embeddings
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        return self.wte.weight.device

    def forward(self, idx: torch.Tensor, key_valid: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        """Next-token logits for every position: ``lm_head(hidden(...))``.

        Args and shapes as in ``hidden``. Returns (B, T, vocab_size) logits; logits[:, t] scores
        the token after idx[:, t].
        """
        return self.lm_head(self.hidden(idx, key_valid, cache))  # (B, T, vocab_size)

    def hidden(self, idx: torch.Tensor, key_valid: torch.Tensor | None = None,
               cache: KVCache | None = None) -> torch.Tensor:
        """The trunk's final hidden state at every position (after the last layer norm).

        The language-model head reads it to score the next token; a scalar head reads it for a
        reward model or a value model (``course_lib.lm.heads``).

        Args:
            idx: (B, T) token ids.
            key_valid: (B, T) bool, True for real tokens, False for padding. None means the
                batch has no left padding (padding, if any, only at the end), so plain causal
                attention and positions 0..T-1 are used: the fast path of training.
            cache: a KVCache; ``idx`` then continues the cached tokens, and the cache is
                extended by them.

        Returns:
            (B, T, n_embd) hidden states; position t has seen idx[:, :t+1].
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        B, T = idx.shape
        dev = idx.device
        L = 0 if cache is None else cache.length
        if cache is not None and L + T > cache.max_len:
            raise ValueError(f"the cache holds {cache.max_len} tokens; {L} + {T} do not fit")
        mask = None
        if key_valid is None and cache is None:
            pos = torch.arange(T, device=dev).expand(B, T)
        else:
            if key_valid is None:
                key_valid = torch.ones(B, T, dtype=torch.bool, device=dev)
            if key_valid.shape != (B, T):
                raise ValueError(f"key_valid must have shape {(B, T)}, got {tuple(key_valid.shape)}")
            key_valid = key_valid.to(torch.bool)
            start = torch.zeros(B, dtype=torch.long, device=dev) if cache is None else cache.n_valid
            # position = number of real tokens before this one (padding does not count)
            pos = (start[:, None] + key_valid.long().cumsum(1) - 1).clamp(min=0)
            if cache is not None:
                all_valid = cache.update_valid(key_valid)  # (B, L+T)
            else:
                all_valid = key_valid
            q_slot = torch.arange(L, L + T, device=dev)[:, None]  # (T, 1)
            k_slot = torch.arange(L + T, device=dev)[None, :]  # (1, L+T)
            allowed = (k_slot <= q_slot)[None] & all_valid[:, None, :]  # causal and real: (B, T, L+T)
            allowed = allowed | (k_slot == q_slot)[None]  # a padding query sees itself (no empty rows)
            mask = allowed[:, None]  # (B, 1, T, L+T), broadcast over heads
        # with a cache no position exceeds its length (checked above): only a cache longer than the
        # model's positions needs the check (it costs a synchronising read of pos)
        if (cache is None or cache.max_len > self.config.block_size) and int(pos.max()) >= self.config.block_size:
            raise ValueError(f"sequence too long: position {int(pos.max())} but block_size is "
                             f"{self.config.block_size}")
        x = self.wte(idx) + self.wpe(pos)  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, mask, cache, layer)
        if cache is not None:
            cache.length = L + T
            cache.n_valid = cache.n_valid + key_valid.long().sum(1)
        return self.ln_f(x)  # (B, T, C)
