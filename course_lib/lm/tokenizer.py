"""A character-level tokenizer with an explicit vocabulary and three special tokens.

Every character of the vocabulary is one token; ``<pad>``, ``<bos>`` and ``<eos>`` come first
(ids 0, 1, 2). A character outside the vocabulary is an error that names it, never a silent
``<unk>``: the course's task text uses a fixed alphabet, and a surprise there is a bug.
"""
from __future__ import annotations

import functools
import numbers
from typing import Iterable, Sequence

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)


class CharTokenizer:
    """Maps text to token ids and back, one id per character.

    Args:
        chars: the vocabulary, one character each, no repeats (order fixes the ids).

    Attributes:
        pad_id, bos_id, eos_id: the ids of the special tokens (0, 1, 2).
        vocab_size: number of tokens, specials included.
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str) or not chars:
            raise ValueError(f"chars must be a non-empty string of vocabulary characters, got {chars!r}")
        if len(set(chars)) != len(chars):
            dup = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(f"chars must not repeat characters; repeated: {dup}")
        self.chars = chars
        self.itos: list[str] = [*SPECIALS, *chars]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars, start=len(SPECIALS))}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    @functools.cached_property
    def _text_of(self) -> list[str]:
        """What ``decode`` writes for each id when special tokens are skipped."""
        return ["" for _ in SPECIALS] + list(self.chars)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``, optionally with ``<bos>`` first and ``<eos>`` last."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        ids = [self.bos_id] if bos else []
        for pos, ch in enumerate(text):
            try:
                ids.append(self.stoi[ch])
            except KeyError:
                raise ValueError(
                    f"unknown character {ch!r} at position {pos} of text {text!r}; "
                    f"the vocabulary is {self.chars!r}") from None
        if eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], skip_special: bool = True, stop_at_eos: bool = False) -> str:
        """Text of token ids; special tokens are dropped (or written as ``<bos>`` etc.).

        Args:
            ids: token ids (a list or a 1-D tensor).
            skip_special: drop ``<pad>``, ``<bos>``, ``<eos>`` instead of spelling them out.
            stop_at_eos: end the text at the first ``<eos>``.
        """
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        if isinstance(ids, list) and all(type(t) is int for t in ids):  # the common case, checked at once
            if stop_at_eos and self.eos_id in ids:
                ids = ids[:ids.index(self.eos_id)]
            if ids and not 0 <= min(ids) <= max(ids) < self.vocab_size:
                bad = next(i for i in ids if not 0 <= i < self.vocab_size)
                raise ValueError(f"token id {bad} is outside the vocabulary (0..{self.vocab_size - 1})")
            table = self._text_of if skip_special else self.itos
            return "".join([table[i] for i in ids])
        out = []
        for t in ids:
            if isinstance(t, bool) or not isinstance(t, numbers.Integral):
                raise ValueError(f"token ids must be integers, got {t!r}")
            i = int(t)
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary (0..{self.vocab_size - 1})")
            if i == self.eos_id and stop_at_eos:
                break
            if i < len(SPECIALS):
                if not skip_special:
                    out.append(self.itos[i])
                continue
            out.append(self.itos[i])
        return "".join(out)

    def decode_batch(self, rows: Sequence[Iterable[int]], **kwargs) -> list[str]:
        return [self.decode(r, **kwargs) for r in rows]

    def to_dict(self) -> dict:
        return {"chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        if not isinstance(d, dict) or not isinstance(d.get("chars"), str):
            raise ValueError(f"a tokenizer description must be a dict with a 'chars' string, got {d!r}")
        return cls(d["chars"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"CharTokenizer(chars={self.chars!r}, vocab_size={self.vocab_size})"
