"""What every notebook needs first: fast/full mode, seeding, the device, argument checks."""
from __future__ import annotations

import numbers
import os
import random
import sys
from contextlib import contextmanager
from typing import Any, Sequence, TypeVar

import numpy as np

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def fast_mode() -> bool:
    """True when the environment variable ``COURSE_FAST`` asks for shrunken budgets.

    ``COURSE_FAST=1`` (or true/yes/on) is what CI sets so the whole notebook suite runs in
    minutes; unset (or 0/false/no/off) is full mode, the budgets the notebooks' claims are
    measured with.
    """
    raw = os.environ.get("COURSE_FAST", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"COURSE_FAST must be one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def budget(full: T, fast: T) -> T:
    """Pick a training budget: ``fast`` under ``COURSE_FAST=1``, otherwise ``full``."""
    return fast if fast_mode() else full


FAST_NOTE_PREFIX = "fast mode: "
FAST_NOTE_KEY = "fast_note.{notebook}.{cell}"  # the message key of the sentence a notebook's cell passes


def fast_note_messages() -> dict[str, str]:
    """The message keys of ``fast_note``'s words with their current English: the prefix, and each sentence
    an English notebook's code passes to it (one string literal per call, as tests/test_fast_notes.py
    checks), keyed by notebook and cell id (see ``course_lib.i18n.MESSAGE_SOURCES``)."""
    import ast
    import json

    from .i18n import english_notebooks

    out = {"fast_note.prefix": FAST_NOTE_PREFIX}
    for path in english_notebooks():
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            try:
                tree = ast.parse(source)
            except SyntaxError:  # an IPython magic: no fast_note call in such a cell
                continue
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "fast_note"
                        and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                    out[FAST_NOTE_KEY.format(notebook=path.stem[:2], cell=cell["id"])] = node.args[0].value.strip()
    return out


_FAST_NOTE_KEYS: dict[str, str] = {}  # English sentence -> its key, filled on the first translated note


def _fast_note_text(sentence: str) -> str:
    """``FAST_NOTE_PREFIX + sentence`` in the learner's language (``course_lib.i18n``): a sentence that no
    English notebook passes, or whose translation is missing or stale, is shown in English."""
    from .i18n import current_lang, message

    if current_lang() == "en":
        return FAST_NOTE_PREFIX + sentence
    if not _FAST_NOTE_KEYS:
        _FAST_NOTE_KEYS.update({english: key for key, english in fast_note_messages().items()
                                if key != "fast_note.prefix"})
    key = _FAST_NOTE_KEYS.get(sentence)
    return message("fast_note.prefix", FAST_NOTE_PREFIX) + (message(key, sentence) if key else sentence)


def fast_note(what_differs: str) -> None:
    """In fast mode, print one line saying how this cell's result differs from the text's; else nothing.

    Every cell whose printed result the text discusses, and which fast mode shrinks, calls this once
    after printing, e.g. ``fast_note("40 steps instead of 400: the gain the text describes needs full
    mode")``, so a learner never reads a fast-mode number against full-mode prose without being told.
    Returns None, so a call on a cell's last line echoes nothing in either mode.
    """
    if not isinstance(what_differs, str) or not what_differs.strip():
        raise ValueError(f"what_differs must be a non-empty sentence, got {what_differs!r}")
    if fast_mode():
        print(_fast_note_text(what_differs.strip()))


def set_seed(seed: int, env: Any = None) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    This is the one function of the course that sets the global generators, on purpose: a
    notebook calls it once at the top. Training functions use their own generators instead.

    Args:
        seed: a non-negative integer.
        env: optionally a gymnasium environment (or vector environment); it is reset with
            ``seed`` and its action space is seeded, which is how gymnasium 1.x seeds.

    Returns:
        A fresh ``numpy.random.Generator`` seeded with ``seed``, for code that prefers an
        explicit generator to the global one.
    """
    seed = check_nonnegative_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # the course needs torch, but seeding should not be what fails
        pass
    else:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    if env is not None:
        if not hasattr(env, "reset") or not hasattr(env, "action_space"):
            raise ValueError(f"env must be a gymnasium environment, got {type(env).__name__}")
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return np.random.default_rng(seed)


@contextmanager
def seeded(seed: int, device: Any = None):
    """Inside the block torch's global generator starts from ``seed``; after it the caller's is as it was.

    How a trainer owns its seed: whatever inside the block draws from torch's global generator
    (weight initialisation, dropout) is the same for the same ``seed``, and the caller's stream
    continues afterwards as if the block had not run (``torch.random.fork_rng``). The CPU generator
    is always forked and seeded; the generator of ``device`` too when it is a CUDA device.

    Args:
        seed: a non-negative integer.
        device: None, or the torch device (or its name) the block computes on.
    """
    import torch

    seed = check_nonnegative_int("seed", seed)
    dev = torch.device("cpu" if device is None else device)
    cuda = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def get_device(prefer: str | None = None):
    """The torch device to train on: CUDA when present, else the CPU.

    Args:
        prefer: "cpu" or "cuda" to force one; None reads ``COURSE_DEVICE`` and otherwise
            picks CUDA when available.
    """
    import torch

    choice = (prefer or os.environ.get("COURSE_DEVICE", "")).strip().lower()
    if choice in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice not in ("cpu", "cuda"):
        raise ValueError(f"prefer must be 'cpu', 'cuda' or None, got {prefer!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("prefer='cuda' was asked for, but torch sees no CUDA device")
    return torch.device(choice)


# -- argument checks ----------------------------------------------------------------------------
# One small set of validators that every module uses, so that a bad argument gets the same kind
# of message everywhere: it names the argument, says what was expected and shows what was given.
# They accept Python, NumPy and torch scalars alike (``np.int64(8)`` is an integer, a 0-d tensor
# is a number) and refuse bool, strings, NaN and infinities.


def _torch_tensor_type():
    torch = sys.modules.get("torch")  # a tensor can only exist if torch was imported already
    return None if torch is None else torch.Tensor


def _fmt(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def _expectation(integer: bool, low, high, low_open: bool, high_open: bool) -> tuple[str, str]:
    """(what was expected, the range alone) in words, e.g. ('a number in (0, 1]', 'lie in (0, 1]')."""
    kind = "an integer" if integer else "a number"
    if low is not None and high is not None:
        interval = f"{'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}{')' if high_open else ']'}"
        return f"{kind} in {interval}", f"lie in {interval}"
    if low is not None:
        if float(low) == 0 and not low_open:
            words = "a non-negative integer" if integer else "a non-negative number"
        elif (float(low) == 0 and low_open) or (integer and float(low) == 1 and not low_open):
            words = "a positive integer" if integer else "a positive number"
        else:
            words = f"{kind} {'>' if low_open else '>='} {_fmt(low)}"
        return words, f"be {words}"
    if high is not None:
        words = f"{kind} {'<' if high_open else '<='} {_fmt(high)}"
        return words, f"be {words}"
    return kind, f"be {kind}"


def check_finite_number(name: str, x: Any, *, low: float | None = None, high: float | None = None,
                        low_open: bool = False, high_open: bool = False, integer: bool = False) -> Any:
    """Return ``x`` as a Python ``float`` (or ``int`` with ``integer=True``) if it is a finite
    real number within the given bounds; otherwise a ValueError naming ``name``.

    Accepts Python, NumPy and 0-d torch scalars; refuses bool, strings, NaN and +-inf. With
    ``integer=True`` only integer types pass (``3.0`` is refused, ``np.int64(3)`` passes).
    ``low``/``high`` are inclusive unless ``low_open``/``high_open``.
    """
    expected, in_range = _expectation(integer, low, high, low_open, high_open)
    v = x
    tensor = _torch_tensor_type()
    if isinstance(v, np.ndarray) or (tensor is not None and isinstance(v, tensor)):
        if v.ndim != 0 or v.dtype == bool or str(v.dtype) == "torch.bool":
            raise ValueError(f"{name} must be {expected}, got {_show(x)}")
        v = v.item()
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise ValueError(f"{name} must be {expected}, got {_show(x)}")
    if integer:
        if not isinstance(v, numbers.Integral):
            raise ValueError(f"{name} must be {expected}, got {_show(x)}")
        v = int(v)
    else:
        v = float(v)
        if not np.isfinite(v):
            raise ValueError(f"{name} must be a finite {expected[2:]}, got {_show(x)}")
    if (low is not None and (v <= low if low_open else v < low)) or (
            high is not None and (v >= high if high_open else v > high)):
        raise ValueError(f"{name} must {in_range}, got {_show(x)}")
    return v


def check_positive_int(name: str, x: Any) -> int:
    """Return ``x`` as an ``int`` if it is an integer >= 1 (Python, NumPy or torch)."""
    return check_finite_number(name, x, low=1, integer=True)


def check_nonnegative_int(name: str, x: Any) -> int:
    """Return ``x`` as an ``int`` if it is an integer >= 0 (seeds, counts that may be zero)."""
    return check_finite_number(name, x, low=0, integer=True)


def check_int_in_range(name: str, x: Any, low: int, high: int) -> int:
    """Return ``x`` as an ``int`` if ``low <= x <= high`` (both ends included)."""
    return check_finite_number(name, x, low=low, high=high, integer=True)


def check_bool(name: str, x: Any) -> bool:
    """Return ``x`` if it is ``True`` or ``False`` (a switch of a config); otherwise a ValueError naming ``name``."""
    if not isinstance(x, bool):
        raise ValueError(f"{name} must be True or False, got {_show(x)}")
    return x


def check_choice(name: str, x: Any, choices: tuple) -> Any:
    """Return ``x`` if it is one of ``choices`` (e.g. the names of an option); otherwise a ValueError naming ``name``."""
    if not isinstance(x, (str, int, float, type(None))) or x not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {_show(x)}")
    return x


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float if it lies in [0, 1]; otherwise a ValueError naming it."""
    return check_finite_number(name, value, low=0.0, high=1.0)


def check_finite_array(name: str, x: Any, *, ndim: int | None = None,
                       shape: Sequence[int | None] | None = None, nonempty: bool = True,
                       dtype: Any = float, mask: Any = None) -> Any:
    """Return ``x`` as an array of finite numbers, or a ValueError naming ``name``.

    The course's one rule for non-finite numbers: every real entry must be finite. With ``mask``
    (same shape, 1/True on real entries, 0 on padding) only the real entries are checked: padding
    may hold anything (NaN, ±inf), and the function that receives it ignores it, in its value and
    in its gradient.

    A torch tensor is checked and returned as it is (same device and dtype); anything else is
    converted with ``np.asarray(x, dtype=dtype)`` (``dtype=None`` keeps NumPy's choice).
    Strings, objects, ragged lists, complex numbers, NaN and +-inf are refused.

    Args:
        ndim: the required number of dimensions, or None for any.
        shape: the required shape; an entry of None matches any length in that dimension.
        nonempty: refuse an array with no elements.
        mask: optional, the real entries (see above).
    """
    tensor = _torch_tensor_type()
    is_tensor = tensor is not None and isinstance(x, tensor)
    if is_tensor:
        arr = x
        if arr.is_complex():
            raise ValueError(f"{name} must be an array of real numbers, got a {arr.dtype} tensor")
    else:
        try:
            raw = np.asarray(x)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an array of numbers, got {_show(x)}") from None
        if raw.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be an array of numbers, got {_show(x)}")
        arr = raw
    got = tuple(arr.shape)
    if ndim is not None and len(got) != ndim:
        raise ValueError(f"{name} must be a {ndim}-D sequence or array, got shape {got}")
    if shape is not None:
        want = tuple(shape)
        if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
            shown = "(" + ", ".join("any" if w is None else str(w) for w in want) + ("," if len(want) == 1 else "") + ")"
            raise ValueError(f"{name} must have shape {shown}, got shape {got}")
    size = arr.numel() if is_tensor else arr.size
    if nonempty and size == 0:
        raise ValueError(f"{name} must not be empty, got shape {got}")
    if size:
        finite = arr.isfinite() if is_tensor else np.isfinite(arr)
        if mask is not None:  # padding (mask 0) may hold anything
            finite = finite | ~(mask.bool() if is_tensor else np.asarray(mask, dtype=bool))
        if not bool(finite.all()):
            if arr.ndim == 0:
                where, value = (), arr.item()
            else:
                bad = (~finite).nonzero()
                where = tuple(int(i) for i in bad[0]) if is_tensor else tuple(int(b[0]) for b in bad)
                value = arr[where].item()
            raise ValueError(f"{name} must contain only finite numbers, got {value} at index {where}")
    if not is_tensor and dtype is not None:
        arr = arr.astype(dtype, copy=False)  # after the finiteness check: NaN cast to int or bool is silent
    return arr


def check_same_shape(**arrays: Any) -> tuple:
    """Check that the named arrays share one shape; e.g. ``check_same_shape(logp=a, returns=b)``.

    Returns that shape. The error names every argument with its shape.
    """
    shapes = {n: tuple(np.shape(a)) if not hasattr(a, "shape") else tuple(a.shape) for n, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        names = " and ".join(shapes)
        given = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"{names} must have the same shape, got {given}")
    return next(iter(shapes.values()), ())


def check_indices(name: str, x: Any, size: int) -> Any:
    """Return ``x`` (an integer, array or tensor of integers) if every entry lies in
    ``0 .. size-1`` (state indices, action indices, token ids); otherwise a ValueError.

    A scalar comes back as an ``int``, a tensor as it is, anything else as an int64 array.
    """
    tensor = _torch_tensor_type()
    if isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_)):
        if not 0 <= int(x) < size:
            raise ValueError(f"{name} must be an index in 0..{size - 1}, got {_show(x)}")
        return int(x)
    if tensor is not None and isinstance(x, tensor):
        if x.is_floating_point() or x.is_complex() or x.dtype == __import__("torch").bool:
            raise ValueError(f"{name} must hold integer indices in 0..{size - 1}, got a {x.dtype} tensor")
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold integer indices in 0..{size - 1}, got {_show(x)}") from None
        if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
            raise ValueError(f"{name} must hold integer indices in 0..{size - 1}, got {_show(x)}")
        arr = arr.astype(np.int64, copy=False)
    if arr.ndim == 0:
        return check_indices(name, int(arr.item()), size)
    n = arr.numel() if tensor is not None and isinstance(arr, tensor) else arr.size
    if n and (int(arr.min()) < 0 or int(arr.max()) >= size):
        bad = int(arr.min()) if int(arr.min()) < 0 else int(arr.max())
        raise ValueError(f"{name} must hold indices in 0..{size - 1}, got {bad}")
    return arr


def current_names(fields: Any, former_names: dict[str, str]) -> dict:
    """``fields`` (a stored config, or part of one) with every former field name replaced by today's.

    A config saved before a field was renamed (a checkpoint's metadata, a cached run) still reads:
    each config class keeps its ``FORMER_NAMES`` (old name -> new name) and passes it here.
    Raises ValueError when a former name and its successor are both present (which one counts?).
    """
    if not isinstance(fields, dict):
        raise ValueError(f"fields must be a dict of config fields, got {type(fields).__name__}")
    out = {}
    for key, value in fields.items():
        new = former_names.get(key, key)
        if new in out or (new != key and new in fields):
            raise ValueError(f"fields holds both {key!r} and its new name {new!r}")
        out[new] = value
    return out


def config_from_dict(cls: type[T], fields: Any, former_names: dict[str, str] | None = None) -> T:
    """The dataclass config ``cls`` that a stored ``asdict(cfg)`` describes, former names accepted.

    Raises ValueError naming any field ``cls`` does not know (rather than a TypeError from ``cls(**fields)``).
    """
    fields = current_names(fields, former_names or {})
    unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
    if unknown:
        raise ValueError(f"fields has names {cls.__name__} does not know: {unknown}")
    return cls(**fields)
