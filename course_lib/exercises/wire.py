"""Values passed between the checker's processes as plain data, never as code.

The learner's function runs in a child process; what it returns comes back through ``encode``
(in the child) and ``decode`` (in the checker). The encoding is a JSON tree plus raw ``.npy``
arrays read with ``allow_pickle=False``, so decoding cannot run code, whatever the bytes hold:
torch tensors, numpy arrays, Python numbers, strings, None, lists, tuples and str-keyed dicts
survive; anything else becomes an ``Opaque`` (its type name and a safe repr).
"""
from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_DEPTH = 12  # nesting of lists/tuples/dicts in a returned value
MAX_NODES = 200_000  # containers + leaves in a returned value
MAX_BYTES = 64 * 2**20  # encoded size


class WireError(ValueError):
    """Bytes that are not a valid encoding (truncated, tampered, too large)."""


@dataclass(frozen=True)
class Opaque:
    """A returned value the checker cannot turn into numbers, described for the learner."""

    type_name: str
    text: str  # a short repr, or why conversion failed

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.text}>"


@dataclass(frozen=True)
class TensorInfo:
    """What a torch tensor carried besides its values (recorded at encode time)."""

    dtype: str
    requires_grad: bool
    has_grad_fn: bool


def safe_repr(x: Any, limit: int = 120) -> str:
    """repr(x), shortened; never raises (a repr that raises is described instead)."""
    try:
        text = repr(x)
    except BaseException as exc:  # noqa: BLE001 - a learner's __repr__ may raise anything
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = f"(its repr raised {type(exc).__name__})"
    if not isinstance(text, str):
        text = "(its repr is not a string)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(x: Any) -> str:
    try:
        t = type(x)
        return f"{t.__module__}.{t.__qualname__}" if t.__module__ not in ("builtins", "__main__") else t.__qualname__
    except BaseException:  # noqa: BLE001
        return "object"


class _Encoder:
    def __init__(self):
        self.arrays: list[np.ndarray] = []
        self.nodes = 0

    def array(self, a: np.ndarray) -> int:
        self.arrays.append(np.array(a, order="C", copy=True))  # keeps 0-d arrays 0-d
        return len(self.arrays) - 1

    def node(self, x: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise WireError(f"the returned value has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            return {"t": "opaque", "type": _type_name(x), "text": f"nested more than {MAX_DEPTH} levels deep"}
        torch = _torch()
        if x is None:
            return {"t": "none"}
        if type(x) is bool:
            return {"t": "bool", "v": x}
        if type(x) is int:
            return {"t": "int", "v": str(x)}
        if type(x) is float:
            return {"t": "float", "v": repr(x)}
        if type(x) is str:
            return {"t": "str", "v": x[:2000]}
        if torch is not None and isinstance(x, torch.Tensor):
            return self.tensor(x)
        if isinstance(x, np.ndarray) or isinstance(x, np.generic):
            a = np.asarray(x)
            if a.dtype.hasobject or a.dtype.kind not in "biufc":
                return {"t": "opaque", "type": _type_name(x), "text": f"an array of dtype {a.dtype}"}
            return {"t": "ndarray" if isinstance(x, np.ndarray) else "npscalar", "i": self.array(a)}
        if type(x) in (list, tuple):
            return {"t": type(x).__name__, "v": [self.node(v, depth + 1) for v in x]}
        if type(x) is dict and all(type(k) is str for k in x):
            return {"t": "dict", "v": {k: self.node(v, depth + 1) for k, v in x.items()}}
        return self.other(x)

    def tensor(self, x: Any) -> dict:
        torch = _torch()
        info = {"dtype": str(x.dtype).replace("torch.", ""), "rg": bool(x.requires_grad),
                "gf": x.grad_fn is not None}
        t = x.detach()
        if t.layout != torch.strided:
            t = t.to_dense()
        t = t.cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return {"t": "tensor", "i": self.array(t.numpy().copy()), **info}

    def other(self, x: Any) -> dict:
        # An object the course does not ask for (a pandas Series, a custom class): accept it if
        # numpy turns it into numbers, otherwise describe it. Its __array__, __len__ or repr
        # may raise anything: every such failure is described, never raised.
        name = _type_name(x)
        try:
            a = np.asarray(x)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            return {"t": "opaque", "type": name, "text": f"converting it to an array raised {type(exc).__name__}: "
                                                       f"{safe_repr(str(exc) if _str_ok(exc) else '')}"}
        if isinstance(a, np.ndarray) and not a.dtype.hasobject and a.dtype.kind in "biufc":
            return {"t": "ndarray", "i": self.array(a), "from": name}
        return {"t": "opaque", "type": name, "text": safe_repr(x)}


def _str_ok(exc: BaseException) -> bool:
    try:
        str(exc)
        return True
    except BaseException:  # noqa: BLE001
        return False


def _torch():
    import sys

    return sys.modules.get("torch")


def encode(value: Any) -> bytes:
    """``value`` as bytes that ``decode`` reads back without running code."""
    enc = _Encoder()
    tree = enc.node(value, 0)
    header = json.dumps({"tree": tree, "n": len(enc.arrays)}).encode()
    parts = [struct.pack(">Q", len(header)), header]
    for a in enc.arrays:
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        data = buf.getvalue()
        parts += [struct.pack(">Q", len(data)), data]
    out = b"".join(parts)
    if len(out) > MAX_BYTES:
        raise WireError(f"the returned value is larger than {MAX_BYTES // 2**20} MB")
    return out


def decode(data: bytes, tensors: bool = True) -> Any:
    """The value ``encode`` wrote. Tensors come back as torch tensors (``tensors=True``, with a
    ``TensorInfo`` under ``_course_info``), or as numpy arrays. Raises WireError on bad bytes."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_BYTES:
        raise WireError("not an encoding (wrong type or too large)")
    try:
        view = memoryview(data)
        (hlen,) = struct.unpack(">Q", view[:8])
        header = json.loads(bytes(view[8:8 + hlen]))
        pos = 8 + hlen
        arrays = []
        for _ in range(int(header["n"])):
            (alen,) = struct.unpack(">Q", view[pos:pos + 8])
            pos += 8
            if pos + alen > len(data):
                raise WireError("truncated array")
            a = np.load(io.BytesIO(bytes(view[pos:pos + alen])), allow_pickle=False)
            arrays.append(a)
            pos += alen
        return _Decoder(arrays, tensors).node(header["tree"], 0)
    except WireError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, struct.error, RecursionError, OverflowError) as exc:
        raise WireError(f"not a valid encoding ({type(exc).__name__}: {exc})") from None


class _Decoder:
    def __init__(self, arrays, tensors):
        self.arrays, self.tensors = arrays, tensors

    def node(self, n: Any, depth: int) -> Any:
        if depth > MAX_DEPTH + 1 or not isinstance(n, dict):
            raise WireError("bad node")
        t = n["t"]
        if t == "none":
            return None
        if t == "bool":
            return bool(n["v"])
        if t == "int":
            return int(str(n["v"])[:5000])
        if t == "float":
            return float(n["v"])
        if t == "str":
            return str(n["v"])
        if t in ("ndarray", "npscalar"):
            a = self.arrays[n["i"]]
            return a if t == "ndarray" else a[()]
        if t == "tensor":
            a = self.arrays[n["i"]]
            if not self.tensors:
                return a
            import torch

            out = torch.from_numpy(np.array(a, copy=True))
            info = TensorInfo(str(n["dtype"]), bool(n["rg"]), bool(n["gf"]))
            if (info.requires_grad or info.has_grad_fn) and (out.is_floating_point() or out.is_complex()):
                out.requires_grad_(True)  # a leaf: its graph stayed behind, the flag says it had one
            out._course_info = info
            return out
        if t in ("list", "tuple"):
            items = [self.node(v, depth + 1) for v in n["v"]]
            return items if t == "list" else tuple(items)
        if t == "dict":
            return {str(k): self.node(v, depth + 1) for k, v in n["v"].items()}
        if t == "opaque":
            return Opaque(str(n["type"])[:200], str(n["text"])[:500])
        raise WireError(f"unknown node type {t!r}")


def tensor_info(x: Any) -> TensorInfo | None:
    """The ``TensorInfo`` of a decoded tensor (None for anything else)."""
    return getattr(x, "_course_info", None)


# --- framing: length-prefixed messages on a file descriptor -------------------------------------


def pack_frame(kind: str, meta: dict | None = None, blob: bytes = b"") -> bytes:
    head = json.dumps({"kind": kind, **(meta or {})}).encode()
    return struct.pack(">II", len(head), len(blob)) + head + blob


def unpack_frames(buffer: bytearray) -> list[tuple[dict, bytes]]:
    """Complete frames at the start of ``buffer`` (removed from it); partial frames stay."""
    frames = []
    while len(buffer) >= 8:
        hlen, blen = struct.unpack(">II", bytes(buffer[:8]))
        if len(buffer) < 8 + hlen + blen:
            break
        head = json.loads(bytes(buffer[8:8 + hlen]))
        blob = bytes(buffer[8 + hlen:8 + hlen + blen])
        del buffer[:8 + hlen + blen]
        if not isinstance(head, dict):
            raise WireError("bad frame")
        frames.append((head, blob))
    return frames
