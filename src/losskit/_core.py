"""What every loss shares: input checks, dtype handling, weighting and the batch-axis reduction.

A loss's public function finds the namespace once, calls the checks here *before* any
arithmetic (so bad input raises without work done and nothing is modified), computes its
formula in the compute dtype, and hands the unreduced loss to :func:`finish`.
"""

from __future__ import annotations

import numbers
from typing import Any

from ._array import Array, broadcasts_to, compute_dtype, is_floating, is_traced, size


def float_input(xp: Any, x: Array, name: str) -> Array:
    """``x`` in its compute dtype (float16/bfloat16 promoted to float32); ``TypeError`` if not float."""
    if not is_floating(xp, x):
        raise TypeError(f"{name} must be a real floating-point array, got dtype {x.dtype}")
    return xp.astype(x, compute_dtype(xp, x.dtype), copy=False)


def like(xp: Any, x: Array, ref: Array, name: str, ref_name: str = "pred") -> Array:
    """``x`` cast to ``ref``'s dtype and, when it has as many elements, reshaped to ``ref``'s shape.

    This is Gluon's ``_reshape_like`` rule: a label of shape ``(N,)`` serves a prediction of
    shape ``(N, 1)``. Shapes with different element counts never broadcast: they raise.
    """
    return xp.astype(reshape_to(xp, x, tuple(ref.shape), name, ref_name), ref.dtype, copy=False)


def reshape_to(xp: Any, x: Array, shape: tuple[int, ...], name: str, ref_name: str) -> Array:
    """``x`` reshaped to ``shape`` if it has that many elements; ``ValueError`` otherwise."""
    if tuple(x.shape) != shape:
        if size(x.shape) != size(shape):
            raise ValueError(
                f"{name} shape {tuple(x.shape)} does not match {ref_name} shape "
                f"{shape}: they must have the same number of elements"
            )
        x = xp.reshape(x, shape)
    return x


def check_batch_axis(batch_axis: int, ndim: int) -> int:
    if not isinstance(batch_axis, numbers.Integral) or not -max(ndim, 1) <= batch_axis < max(ndim, 1):
        raise ValueError(f"batch_axis={batch_axis!r} is out of range for an input with {ndim} axes")
    return int(batch_axis) % max(ndim, 1)


def check_weight(weight: Any) -> None:
    if weight is not None and (not isinstance(weight, numbers.Real) or isinstance(weight, bool)):
        raise TypeError(f"weight must be a number or None, got {weight!r}")


def check_sample_weight(xp: Any, sample_weight: Any, loss_shape: tuple[int, ...]) -> None:
    """``sample_weight`` must broadcast to the unreduced loss *without changing its shape*.

    It needs as many axes as the loss (or none): a ``(N,)`` weight against a ``(N, C)`` loss is
    refused instead of being silently aligned with the class axis.
    """
    if sample_weight is None or isinstance(sample_weight, numbers.Real):
        return
    shape = tuple(sample_weight.shape)
    if len(shape) not in (0, len(loss_shape)) or not broadcasts_to(shape, loss_shape):
        hint = ""
        if len(shape) == 1 and len(loss_shape) > 1 and shape[0] == loss_shape[0]:
            hint = f"; for one weight per example use shape {(shape[0],) + (1,) * (len(loss_shape) - 1)}"
        raise ValueError(
            f"sample_weight shape {shape} does not broadcast to the loss shape {tuple(loss_shape)} "
            f"(it needs {len(loss_shape)} axes, each equal to the loss's or 1){hint}"
        )
    if not (is_floating(xp, sample_weight) or xp.isdtype(sample_weight.dtype, ("integral", "bool"))):
        raise TypeError(f"sample_weight must be a real array, got dtype {sample_weight.dtype}")


def check_labels_in_range(
    xp: Any, label: Array, low: int, high: int, name: str = "label", what: str = "class indices"
) -> None:
    """On eager arrays, raise ``ValueError`` if ``label`` holds a value outside ``[low, high)`` or
    a non-integer. Skipped for traced arrays (``jax.jit``, ``torch.compile``)."""
    if is_traced(label) or size(label.shape) == 0:
        return
    if is_floating(xp, label) and not bool(xp.all(label == xp.floor(label))):
        raise ValueError(f"{name} holds non-integer values; {what} must be whole numbers")
    lo, hi = int(xp.min(label)), int(xp.max(label))
    if lo < low or hi >= high:
        raise ValueError(f"{name} holds {what} in [{lo}, {hi}], outside the valid range [{low}, {high - 1}]")


def index_dtype(xp: Any) -> Any:
    return xp.__array_namespace_info__().default_dtypes()["indexing"]


def finish(
    xp: Any,
    loss: Array,
    *,
    out_dtype: Any,
    weight: float | None = None,
    sample_weight: Any = None,
    batch_axis: int | None = 0,
    reduce: str = "mean",
) -> Array:
    """Apply ``sample_weight`` and ``weight``, then reduce every axis but ``batch_axis``.

    ``batch_axis=None`` leaves the loss unreduced (for losses that are already per example).
    """
    if sample_weight is not None:
        if not isinstance(sample_weight, numbers.Real):
            sample_weight = xp.astype(sample_weight, loss.dtype, copy=False)
        loss = loss * sample_weight
    if weight is not None:
        loss = loss * weight
    if batch_axis is not None and loss.ndim > 1:
        axes = tuple(i for i in range(loss.ndim) if i != batch_axis)
        # never reduce with axis=(): torch.mean(dim=()) reduces *every* axis
        loss = xp.mean(loss, axis=axes) if reduce == "mean" else xp.sum(loss, axis=axes)
    return xp.astype(loss, out_dtype, copy=False)
