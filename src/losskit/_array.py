"""Private array helpers: the namespace lookup and the few operations the standard lacks.

Everything here takes the array namespace ``xp`` explicitly; only the public entry points
call :func:`namespace`, once, and pass ``xp`` down (the scikit-learn / SciPy pattern).
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat

Array = Any  # an array of any array-API library (NumPy, PyTorch, JAX, array-api-strict)


def namespace(*arrays: Any) -> Any:
    """Return the array-API namespace shared by ``arrays`` (``None`` and Python scalars are skipped).

    Raises ``TypeError`` when the arrays come from different libraries, or when an input is
    not an array at all (a list, say), naming the offending types.
    """
    candidates = [a for a in arrays if a is not None and not isinstance(a, (int, float, bool))]
    if not candidates:
        raise TypeError("losskit: expected at least one array input, got only None or scalars")
    try:
        return array_namespace(*candidates)
    except TypeError:
        kinds = sorted({f"{type(a).__module__}.{type(a).__qualname__}" for a in candidates})
        raise TypeError(
            "losskit: all array inputs of one call must come from the same array library "
            f"(NumPy, PyTorch, JAX, ...); got {', '.join(kinds)}"
        ) from None


array_namespace = array_api_compat.array_namespace
device = array_api_compat.device


def is_floating(xp: Any, x: Array) -> bool:
    return xp.isdtype(x.dtype, "real floating")


def compute_dtype(xp: Any, dtype: Any) -> Any:
    """The dtype a loss computes in: float16/bfloat16 are promoted to float32, others kept."""
    if xp.finfo(dtype).bits < 32:
        return xp.float32
    return dtype


def is_traced(x: Array) -> bool:
    """True when ``x`` is symbolic (a JAX tracer, or PyTorch under ``torch.compile``).

    Value checks (class indices in range, say) need concrete values and are skipped then.
    """
    if array_api_compat.is_jax_array(x):
        import jax

        return isinstance(x, jax.core.Tracer)
    if array_api_compat.is_torch_array(x):
        import torch

        return bool(torch.compiler.is_compiling())
    return False


def size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def logsumexp(xp: Any, x: Array, axis: int, keepdims: bool = False) -> Array:
    """``log(sum(exp(x), axis))`` computed as ``m + log(sum(exp(x - m)))`` with ``m = max(x)``.

    ``m`` is replaced by 0 where it is infinite so that all ``-inf`` rows give ``-inf``, not NaN.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    out = m + xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(xp: Any, x: Array, axis: int) -> Array:
    # log(softmax(x)) = x - logsumexp(x): never forms softmax, so no log(0) for tiny probabilities
    return x - logsumexp(xp, x, axis=axis, keepdims=True)


def softplus(xp: Any, x: Array) -> Array:
    # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): exp never overflows
    return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(-xp.abs(x)))


def log_sigmoid(xp: Any, x: Array) -> Array:
    # log(sigmoid(x)) = -softplus(-x)
    return -softplus(xp, -x)


def relu(xp: Any, x: Array) -> Array:
    return xp.maximum(x, xp.zeros_like(x))


def xlogx(xp: Any, x: Array) -> Array:
    """``x * log(x)`` with the limit 0 at ``x = 0``, and a finite gradient there."""
    positive = x > 0
    safe = xp.where(positive, x, xp.ones_like(x))  # keeps log(0) out of the backward pass
    return xp.where(positive, x * xp.log(safe), xp.zeros_like(x))


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when an array of ``shape`` broadcasts to ``target`` without changing ``target``."""
    if len(shape) > len(target):
        return False
    for s, t in zip(reversed(shape), reversed(target)):
        if s != t and s != 1:
            return False
    return True
