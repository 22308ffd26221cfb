"""Ranking and metric-learning losses: functional forms. The classes in
:mod:`losskit.losses.metric` document them."""

from __future__ import annotations

from typing import Any

from .._array import Array, device, kl_terms, log_softmax, logsumexp_parts, namespace, relu
from .._core import (
    arrays_in,
    check_batch_axis,
    check_flag,
    check_number,
    check_sample_weight,
    check_weight,
    finish,
    like,
    promoted_input,
    reshape_to,
)


def triplet_loss(
    pred: Array,
    positive: Array,
    negative: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``max(0, |pos - pred|^2 - |neg - pred|^2 + margin)`` per example. See :class:`losskit.TripletLoss`."""
    margin = check_number(margin, "margin", array_ok=True)  # any real, as Gluon
    xp = namespace(pred, positive, negative, sample_weight)
    anchor, out_dtype = promoted_input(xp, pred, "pred", positive, negative)
    pos = like(xp, positive, anchor, "positive")
    neg = like(xp, negative, anchor, "negative")
    b_axis = check_batch_axis(batch_axis, pred.ndim)
    check_weight(weight)
    check_sample_weight(xp, sample_weight, (pred.shape[b_axis],) if pred.ndim else ())
    axes = tuple(i for i in range(anchor.ndim) if i != b_axis)

    def squared_distance(other: Array) -> Array:
        d = xp.square(other - anchor)
        return xp.sum(d, axis=axes) if axes else d

    # the difference of the two sums, not the sum of the difference (Gluon's order): one
    # full-size array fewer to write and read back, 14 % faster on a CPU (equal up to rounding)
    loss = relu(xp, squared_distance(pos) - squared_distance(neg) + margin)
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


# Cosine similarity divides by max(|a| |b|, 1e-12) as MXNet does; it is computed as
# sqrt(max(|a|^2 |b|^2, 1e-24)) so that a zero vector gets a finite gradient (b / 1e-12), never NaN.
_NORM_EPS_SQ = 1e-24


def cosine_similarity(xp: Any, a: Array, b: Array, axis: int = -1) -> Array:
    dot = xp.sum(a * b, axis=axis)
    # a * a, not square: torch differentiates square (pow) through an extra full-size pow and copy
    sq = xp.sum(a * a, axis=axis) * xp.sum(b * b, axis=axis)
    return dot / xp.sqrt(xp.maximum(sq, xp.full_like(sq, _NORM_EPS_SQ)))


def cosine_embedding_loss(
    input1: Array,
    input2: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 0.0,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``1 - cos`` for label 1, ``max(0, cos - margin)`` for label -1. See :class:`losskit.CosineEmbeddingLoss`."""
    margin = check_number(margin, "margin", array_ok=True)
    xp = namespace(input1, input2, label, sample_weight)
    # Gluon's reshape_like(input1, input2) takes input2's shape; the dtype is the two's promotion
    b, out_dtype = promoted_input(xp, input2, "input2", input1)
    a = like(xp, input1, b, "input1", "input2")
    if input2.ndim < 1:
        raise ValueError("input1 and input2 need at least one axis (the vector axis, last)")
    pair_shape = tuple(input2.shape[:-1])
    try:
        b_axis = check_batch_axis(batch_axis, max(len(pair_shape), 1))
    except ValueError:  # said of the pairs: "an input with 1 axes" misled for 2-D inputs
        raise ValueError(
            f"batch_axis={batch_axis} is out of range for the pairs, shape {pair_shape} (input2's shape "
            f"{tuple(input2.shape)} without its last, vector axis): the loss has one value per pair"
        ) from None
    check_weight(weight)
    y = reshape_to(xp, label, pair_shape, "label", "the pairs (input2's shape without its last axis)")
    if getattr(sample_weight, "ndim", None) == len(pair_shape) + 1:
        # Gluon 1.9.1's loss had a trailing axis of 1, so its weights were (N, 1): accept both
        check_sample_weight(xp, sample_weight, pair_shape + (1,))
        sample_weight = sample_weight[..., 0]
    check_sample_weight(xp, sample_weight, pair_shape)
    cos = cosine_similarity(xp, a, b)
    zero = xp.zeros_like(cos)
    loss = xp.where(y == 1, 1 - cos, zero) + xp.where(y == -1, relu(xp, cos - margin), zero)
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def sdml_loss(
    x1: Array,
    x2: Array,
    sample_weight: Any = None,
    *,
    smoothing_parameter: float = 0.3,
    weight: float | None = 1.0,
    batch_axis: int = 0,
) -> Array:
    """Batchwise smoothed deep metric learning loss. See :class:`losskit.SDMLLoss`."""
    xp = namespace(x1, x2, sample_weight)
    a, out_dtype = promoted_input(xp, x1, "x1", x2)
    b = like(xp, x2, a, "x2", "x1")
    if x1.ndim != 2 or tuple(x1.shape) != tuple(x2.shape):
        raise ValueError(
            f"x1 and x2 must both have shape (batch_size, dim); got {tuple(x1.shape)} and {tuple(x2.shape)}"
        )
    if batch_axis not in (0, -2):
        raise ValueError(f"SDMLLoss supports batch_axis=0 only, got {batch_axis}")
    check_number(smoothing_parameter, "smoothing_parameter", low=0.0, high=1.0, high_open=True)
    n = x1.shape[0]
    if n < 2:
        raise ValueError(f"SDMLLoss needs a batch of at least 2 pairs (the other pairs are the negatives), got {n}")
    check_weight(weight)
    check_sample_weight(xp, sample_weight, (n,))
    # squared euclidean distance of every x1 row to every x2 row, as MXNet computes it
    dist = xp.sum(xp.square(a[:, None, :] - b[None, :, :]), axis=2)
    logp = log_softmax(xp, -dist, axis=1)
    eye = xp.eye(n, dtype=a.dtype, device=device(a))
    s = smoothing_parameter
    target = eye * (1 - s) + (1 - eye) * (s / (n - 1))
    kl = xp.sum(kl_terms(xp, target, logp), axis=1)
    return finish(xp, kl, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


def margin_ranking_loss(
    input1: Array,
    input2: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 0.0,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``max(0, -label * (input1 - input2) + margin)``, averaged per example. See :class:`losskit.MarginRankingLoss`."""
    margin = check_number(margin, "margin", array_ok=True)
    xp = namespace(input1, input2, label, sample_weight)
    a, out_dtype = promoted_input(xp, input1, "input1", input2)
    b = like(xp, input2, a, "input2", "input1")
    y = like(xp, label, a, "label", "input1")
    axis = check_batch_axis(batch_axis, input1.ndim)
    check_weight(weight)
    check_sample_weight(xp, sample_weight, tuple(input1.shape))
    loss = relu(xp, -(y * (a - b) - margin))  # = margin - y (a - b) exactly; a dynamic margin stays symbolic
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=axis)


def unit_rows(xp: Any, x: Array) -> Array:
    """Rows of ``x`` divided by their norm (as ``torch.nn.functional.normalize``).

    Each row is first divided by its largest magnitude, so that squaring never overflows (any
    finite input works); the norm is then ``sqrt(max(|y|^2, 1e-24))``, so that a zero row has a
    finite gradient, never NaN.
    """
    m = xp.max(xp.abs(x), axis=-1, keepdims=True)
    y = x / xp.where(m > 0, m, xp.ones_like(m))  # x / |x| = y / |y| for y = x / m
    sq = xp.sum(xp.square(y), axis=-1, keepdims=True)
    return y / xp.sqrt(xp.maximum(sq, xp.full_like(sq, _NORM_EPS_SQ)))


def info_nce_loss(
    x1: Array,
    x2: Array,
    sample_weight: Any = None,
    *,
    temperature: float = 0.1,
    symmetric: bool = True,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """InfoNCE (CLIP's contrastive loss) with in-batch negatives. See :class:`losskit.InfoNCELoss`."""
    # a 0-d array is a learnt temperature (CLIP's 1 / exp(logit_scale)): its value is not checked
    temperature = check_number(temperature, "temperature", low=0.0, low_open=True, array_ok=True)
    xp = namespace(x1, x2, sample_weight, *arrays_in(temperature))
    a, out_dtype = promoted_input(xp, x1, "x1", x2)
    if x1.ndim != 2 or tuple(x1.shape) != tuple(x2.shape):
        raise ValueError(
            f"x1 and x2 must both have shape (batch_size, dim); got {tuple(x1.shape)} and {tuple(x2.shape)}"
        )
    if x1.shape[1] == 0:
        raise ValueError(f"x1 and x2 need at least one feature to compare, got shape {tuple(x1.shape)}")
    b = like(xp, x2, a, "x2", "x1")
    if batch_axis not in (0, -2):
        raise ValueError(f"InfoNCELoss supports batch_axis=0 only, got {batch_axis}")
    check_weight(weight)
    check_flag(symmetric, "symmetric")
    n = x1.shape[0]
    check_sample_weight(xp, sample_weight, (n,))
    if n == 0:  # an empty batch: no loss values (the reductions below have nothing to take a max of)
        return xp.astype(xp.sum(a, axis=1) * 0, out_dtype, copy=False)  # of shape (0,), in x1's graph
    # logits[i, j] = cos(x1_i, x2_j) / T, bounded by 1/T: the softmax is safe for any inputs
    logits = xp.matmul(unit_rows(xp, a), xp.matrix_transpose(unit_rows(xp, b))) / temperature
    eye = xp.eye(n, dtype=a.dtype, device=device(a))
    positive = xp.sum(logits * eye, axis=1)

    def cross_entropy(axis: int) -> Array:
        # -log softmax(logits)[i] = logsumexp(logits) - logits[i, i] = (m - logits[i, i]) + log_sum:
        # the shift subtracted first, exact also for a tiny temperature (see logsumexp_parts)
        m, log_sum = logsumexp_parts(xp, logits, axis=axis)
        return xp.reshape(m, (n,)) - positive + xp.reshape(log_sum, (n,))

    loss = cross_entropy(1)  # x2_j are the candidates of x1_i (rows)
    if symmetric:
        loss = 0.5 * (loss + cross_entropy(0))  # the other direction: x1_j are those of x2_i (columns)
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


__all__ = [
    "triplet_loss",
    "cosine_embedding_loss",
    "sdml_loss",
    "margin_ranking_loss",
    "info_nce_loss",
]
