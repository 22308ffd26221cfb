"""Segmentation losses: functional forms. The classes in :mod:`losskit.losses.segmentation` document them."""

from __future__ import annotations

from typing import Any

from .._array import Array, log_sigmoid, log_softmax, namespace
from .._core import (
    check_axis,
    check_batch_axis,
    check_flag,
    check_number,
    check_sample_weight,
    check_weight,
    finish,
    float_input,
    like,
)


def check_tversky(alpha: Any, beta: Any, smooth: Any) -> tuple[float, float, float]:
    return (
        check_number(alpha, "alpha", low=0.0),
        check_number(beta, "beta", low=0.0),
        check_number(smooth, "smooth", low=0.0),
    )


def tversky_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1.0,
    from_logits: bool = True,
    axis: int = 1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``1 - mean_c (I_c + s) / (I_c + alpha FP_c + beta FN_c + s)`` per example. See :class:`losskit.TverskyLoss`."""
    alpha, beta, smooth = check_tversky(alpha, beta, smooth)
    check_flag(from_logits, "from_logits")
    xp = namespace(pred, label, sample_weight)
    x = float_input(xp, pred, "pred")
    if pred.ndim < 2:
        raise ValueError(f"pred must have a batch and a class axis, (N, C, ...); got shape {tuple(pred.shape)}")
    cls = check_axis(axis, pred.ndim)
    b_axis = check_batch_axis(batch_axis, pred.ndim)
    if cls == b_axis:
        raise ValueError(f"the class axis ({axis}) and batch_axis ({batch_axis}) must differ")
    check_weight(weight)
    n = pred.shape[b_axis]
    check_sample_weight(xp, sample_weight, (n,))
    check_mask_shape(tuple(label.shape), tuple(pred.shape), cls)
    target = like(xp, label, x, "label")
    if not from_logits:
        prob = x
    elif pred.shape[cls] == 1:
        prob = xp.exp(log_sigmoid(xp, x))  # one channel: a binary mask, sigmoid(x) = exp(log_sigmoid(x))
    else:
        prob = xp.exp(log_softmax(xp, x, axis=cls))  # softmax(x) = exp(log_softmax(x)): never overflows
    spatial = tuple(i for i in range(pred.ndim) if i not in (cls, b_axis))

    def total(v: Array) -> Array:
        return xp.sum(v, axis=spatial, keepdims=True) if spatial else v  # never sum over axis=()

    inter = total(prob * target)
    fp = total(prob) - inter  # false positives: predicted mass outside the mask
    fn = total(target) - inter  # false negatives: mask the prediction misses
    denominator = inter + alpha * fp + beta * fn + smooth
    # two empty masks with smooth = 0 give 0/0: their index is 1 (they agree), with no gradient
    nonzero = denominator != 0
    safe = xp.where(nonzero, denominator, xp.ones_like(denominator))
    index = xp.where(nonzero, (inter + smooth) / safe, xp.ones_like(safe))
    index = xp.mean(index, axis=cls, keepdims=True)
    loss = xp.reshape(1 - index, (n,))  # every other axis has size 1 now
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


def check_mask_shape(label_shape: tuple[int, ...], pred_shape: tuple[int, ...], cls: int) -> None:
    """The target masks have ``pred``'s shape, or, for a single class, that shape without its class
    axis. Not Gluon's any-same-size rule: a channels-last mask of a channels-first ``pred`` has as
    many elements and would be silently scrambled by a reshape."""
    binary = pred_shape[:cls] + pred_shape[cls + 1 :] if pred_shape[cls] == 1 else None
    if label_shape != pred_shape and label_shape != binary:
        hint = ""
        if sorted(label_shape) == sorted(pred_shape):
            hint = f"; a mask's class axis must be pred's (axis {cls}): move it, or use channels-last pred with axis=-1"
        raise ValueError(
            f"label shape {label_shape} does not match pred shape {pred_shape} (classes along axis {cls}): "
            f"the masks must have pred's shape{hint}"
        )


def dice_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    axis: int = 1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Soft Dice loss: the Tversky loss with ``alpha = beta = 1/2``. See :class:`losskit.DiceLoss`."""
    return tversky_loss(
        pred,
        label,
        sample_weight,
        alpha=0.5,
        beta=0.5,
        smooth=smooth,
        from_logits=from_logits,
        axis=axis,
        weight=weight,
        batch_axis=batch_axis,
    )


__all__ = ["tversky_loss", "dice_loss"]
