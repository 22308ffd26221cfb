"""Ranking and metric-learning losses: functional forms. The classes in
:mod:`losskit.losses.metric` document them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _fast
from .._array import (
    Array,
    abs_,
    check_array,
    clamp_min,
    device,
    divide_by_largest,
    dtype_kind,
    is_floating,
    kl_terms,
    log_softmax,
    logsumexp_parts,
    masked_logsumexp_parts,
    matmul,
    namespace,
    relu,
    relu_for_output,
    size,
    softplus,
    stop_gradient,
    take_along_axis,
)
from .._compile import is_symbolic_number
from .._core import (
    arrays_in,
    check_axis,
    check_batch_axis,
    check_flag,
    check_labels_in_range,
    check_not_nan,
    check_number,
    check_reduction,
    check_sample_weight,
    check_weight,
    finish,
    float_input,
    is_concrete,
    is_real,
    like,
    promoted_input,
    read_value,
    reduce_all,
    reshape_to,
)
from ._pointwise import pointwise


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
    xp = namespace(pred, positive, negative, sample_weight, *arrays_in(margin), names=("pred", "positive", "negative"))
    anchor, out_dtype = promoted_input(xp, pred, "pred", ("positive", positive), ("negative", negative))
    pos = like(xp, positive, anchor, "positive")
    neg = like(xp, negative, anchor, "negative")
    b_axis = check_batch_axis(batch_axis, pred.ndim)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, (pred.shape[b_axis],) if pred.ndim else ())
    axes = tuple(i for i in range(anchor.ndim) if i != b_axis)

    def squared_distance(other: Array) -> Array:
        d = xp.square(other - anchor)
        return xp.sum(d, axis=axes) if axes else d

    # the difference of the two sums, not the sum of the difference (Gluon's order): one
    # full-size array fewer to write and read back, 14 % faster on a CPU (equal up to rounding)
    loss = relu_for_output(xp, squared_distance(pos) - squared_distance(neg) + margin)  # returned as it is
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


def _triplet_vectors(xp: Any, pred: Array, positive: Array, negative: Array) -> tuple[Array, Array, Array, Any]:
    """The anchor, positive and negative of a triplet loss in their compute dtype, and the dtype of
    the result: the three of one shape, with at least the vector axis (the last)."""
    shape = tuple(pred.shape)
    for name, other in (("positive", positive), ("negative", negative)):
        if tuple(other.shape) != shape:
            raise ValueError(
                f"{name} shape {tuple(other.shape)} does not match pred (the anchor) shape {shape}: the three "
                "must have the same shape, the vectors along the last axis"
            )
    if pred.ndim < 1:
        raise ValueError("pred, positive and negative need at least one axis (the vector axis, last); got 0-d arrays")
    anchor, out_dtype = promoted_input(xp, pred, "pred", ("positive", positive), ("negative", negative))
    return anchor, like(xp, positive, anchor, "positive"), like(xp, negative, anchor, "negative"), out_dtype


def check_norm_order(p: Any) -> Any:
    """The order ``p`` of a p-norm: a real number in ``(0, inf]`` (``math.inf``: the largest entry),
    returned as a float (a symbolic one, under ``torch.compile``, as it is); else an error."""
    if not is_real(p):
        raise TypeError(f"p must be a real number (the order of the norm, > 0, or math.inf), got {p!r}")
    if not is_concrete(p):
        return check_number(p, "p", low=0.0, low_open=True)  # its bound becomes a guard
    try:
        value = float(p)
    except OverflowError:  # an int past float's range
        value = math.nan
    if not value > 0:  # NaN fails it too
        raise ValueError(f"p must be in (0, inf] (math.inf for the largest entry), got {p!r}")
    return value


def pairwise_distance(xp: Any, x: Array, y: Array, p: Any, eps: Any) -> Array:
    """``||x - y + eps||_p`` along the last axis (``torch.nn.functional.pairwise_distance``), the
    axis dropped. Its gradient is torch's, also where ``x - y + eps`` has zero entries (0 there)
    or is all zero (0: a finite stand-in for the subgradient)."""
    v = x - y + eps  # eps is added to the difference, as torch does (not to the norm)
    if v.shape[-1] == 0:  # vectors of no entries: distance 0 (the empty sum; torch's for finite p)
        return xp.sum(v, axis=-1)
    fixed = not is_symbolic_number(p)  # a symbolic p (torch.compile) takes the general formula below
    if fixed and p == 1:
        return xp.sum(abs_(xp, v), axis=-1)  # d/dv = sign(v), 0 at 0 (abs_: also on JAX)
    if fixed and p == math.inf:
        # max's derivative is shared equally by tied entries on torch and JAX: torch's norm's
        return xp.max(abs_(xp, v), axis=-1)
    # ||v||_p = m ||v / m||_p with m the largest |v_i| (its gradient through m is exactly 0, so m is
    # a constant for autodiff): |v_i / m|^p <= 1 never overflows, nor underflows to a zero sum
    if fixed and p == 2 and _fast.use_torch(v) and _fast.scaled_norm_applies(v):
        return _fast.torch_scaled_l2_norm(v)  # the same formula in two fused reductions
    m = xp.max(xp.abs(stop_gradient(v)), axis=-1, keepdims=True)
    u, _ = divide_by_largest(xp, v, m)
    if fixed and p == 2:
        total = xp.sum(u * u, axis=-1, keepdims=True)
        # total >= 1 unless v = 0 (the largest |u_i| is exactly 1): the floor binds only there,
        # where it makes the derivative 0 (torch's) instead of sqrt's infinite one at 0
        root = xp.sqrt(clamp_min(xp, total, 1.0))
    else:
        a = abs_(xp, u)
        nonzero = a > 0
        # |u_i|^p = exp(p log |u_i|), with derivative 0 at u_i = 0 (torch's choice; infinite for
        # p < 1, and 0 * inf = NaN for the others at a zero vector): log sees 1 there, the where
        # keeps 0. exp and log, not pow: torch.compile would fix a symbolic p's value in pow
        powered = xp.where(nonzero, xp.exp(p * xp.log(xp.where(nonzero, a, xp.ones_like(a)))), xp.zeros_like(a))
        total = clamp_min(xp, xp.sum(powered, axis=-1, keepdims=True), 1.0)  # the floor: as for p = 2
        root = xp.exp(xp.log(total) / p)  # total^(1/p); total >= 1, so no log(0)
    return xp.squeeze(m * root, axis=-1)


def euclidean_distance(xp: Any, x: Array, y: Array, eps: Any) -> Array:
    """:func:`pairwise_distance` with ``p = 2``, by torch's fused ``pairwise_distance`` where that is
    as accurate as the scaled norm (CPU tensors with finite, not tiny distances: see
    ``_fast.torch_euclidean_distance``), else the scaled norm."""
    fast = _fast.use_torch(x) and not is_symbolic_number(eps)
    d = _fast.torch_euclidean_distance(x, y, eps) if fast else None
    return pairwise_distance(xp, x, y, 2, eps) if d is None else d


def triplet_margin_loss(
    pred: Array,
    positive: Array,
    negative: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``max(0, d(a, pos) - d(a, neg) + margin)``, ``d(x, y) = ||x - y + eps||_p`` along the last axis,
    as ``torch.nn.functional.triplet_margin_loss``. See :class:`losskit.TripletMarginLoss`."""
    # the common call, (N, D) CPU tensors with no option: the general path's computation at once
    if _plain_triplet(sample_weight, weight, batch_axis, margin, swap) and type(p) in (float, int) and p == 2:
        if type(eps) is float and 0.0 <= eps < math.inf:
            loss = _fast.torch_triplet_rows(pred, positive, negative, margin, eps)
            if loss is not None:
                return loss
    margin = check_number(margin, "margin", array_ok=True)  # any real (torch refuses margin <= 0)
    p = check_norm_order(p)
    eps = check_number(eps, "eps", low=0.0)
    check_flag(swap, "swap")
    xp = namespace(pred, positive, negative, sample_weight, *arrays_in(margin), names=("pred", "positive", "negative"))
    shape = tuple(pred.shape)
    anchor, pos, neg, out_dtype = _triplet_vectors(xp, pred, positive, negative)
    triplets = shape[:-1]  # one triplet per index of the leading axes; () for one unbatched triplet
    b_axis = _item_batch_axis(batch_axis, triplets, "triplet", "pred's shape {} without its last, vector axis", shape)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, triplets or (1,))
    euclidean = not is_symbolic_number(p) and p == 2

    def distance(x: Array, y: Array) -> Array:
        return euclidean_distance(xp, x, y, eps) if euclidean else pairwise_distance(xp, x, y, p, eps)

    d_pos = distance(anchor, pos)
    d_neg = distance(anchor, neg)
    if swap:
        # the nearer of the negative's distances to the anchor and to the positive; at a tie (anchor
        # == positive) minimum's derivative is half each, on torch and JAX alike: torch's own
        d_neg = xp.minimum(d_neg, distance(pos, neg))
    # torch's order of the sums; torch's clamp_min: the derivative passes at the kink (a loss of 0)
    loss = clamp_min(xp, margin + d_pos - d_neg, 0.0)
    if not triplets:
        loss = xp.reshape(loss, (1,))  # one unbatched triplet: one example, as torch's 0-d value
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def _plain_triplet(sample_weight: Any, weight: Any, batch_axis: Any, margin: Any, swap: Any) -> bool:
    """No option of a triplet loss is set, and ``margin`` is a finite float: what
    :func:`_fast.torch_triplet_rows` may take at once (the types first: ``True == 1`` and a
    tensor's ``== 0`` pass a comparison, and the checks of the general path refuse them)."""
    return (
        sample_weight is None
        and weight is None
        and type(batch_axis) is int
        and batch_axis == 0
        and swap is False
        and type(margin) is float
        and math.isfinite(margin)
    )


# Cosine similarity divides by max(|a| |b|, 1e-12) as MXNet does.
_NORM_EPS = 1e-12


def cosine_similarity(xp: Any, a: Array, b: Array, axis: int = -1) -> Array:
    dot = xp.sum(a * b, axis=axis)
    # a * a, not square: torch differentiates square (pow) through an extra full-size pow and copy
    sq_a, sq_b = xp.sum(a * a, axis=axis), xp.sum(b * b, axis=axis)
    # |a| |b| as the product of the roots: |a|^2 |b|^2 overflows float32 once |a| |b| > 1.8e19
    # (torch's cosine_embedding_loss then takes cos as 0). Each squared norm is floored at the
    # dtype's smallest normal number, where XLA's CPU flushes it to 0 anyway: the root's derivative
    # stays finite, so a zero vector's gradient is b / 1e-12, never NaN.
    tiny = float(xp.finfo(sq_a.dtype).smallest_normal)
    norms = xp.sqrt(clamp_min(xp, sq_a, tiny)) * xp.sqrt(clamp_min(xp, sq_b, tiny))
    return dot / clamp_min(xp, norms, _NORM_EPS)


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
    xp = namespace(input1, input2, label, sample_weight, *arrays_in(margin), names=("input1", "input2", "label"))
    # Gluon's reshape_like(input1, input2) takes input2's shape; the dtype is the two's promotion
    b, out_dtype = promoted_input(xp, input2, "input2", ("input1", input1))
    a = like(xp, input1, b, "input1", "input2")
    if input2.ndim < 1:
        raise ValueError("input1 and input2 need at least one axis (the vector axis, last)")
    pair_shape = tuple(input2.shape[:-1])
    origin = "input2's shape {} without its last, vector axis"
    b_axis = _item_batch_axis(batch_axis, pair_shape, "pair", origin, tuple(input2.shape))
    check_weight(weight)
    y = reshape_to(xp, label, pair_shape, "label", "the pairs (input2's shape without its last axis)")
    if dtype_kind(xp, y.dtype) not in ("integral", "real floating"):
        raise TypeError(f"label must hold 1 (similar) or -1 (dissimilar), integers or floats; got dtype {y.dtype}")
    # compared for equality: a label of 1.5 or NaN would add 0 unseen (as in torch and MXNet); 0
    # adds 0 there on purpose (a pair left out), and is kept
    check_labels_in_range(xp, y, -1, 2, "label", "labels (1: similar, -1: dissimilar, 0: left out)")
    if getattr(sample_weight, "ndim", None) == len(pair_shape) + 1:
        # Gluon 1.9.1's loss had a trailing axis of 1, so its weights were (N, 1): accept both
        sample_weight = check_sample_weight(xp, sample_weight, pair_shape + (1,))
        sample_weight = sample_weight[..., 0]
    sample_weight = check_sample_weight(xp, sample_weight, pair_shape)
    cos = cosine_similarity(xp, a, b)
    # Gluon's relu: derivative 0 at the kink (torch's clamp_min passes it; at a zero vector and
    # margin 0 that would be b / 1e-12)
    dissimilar = xp.where(y == -1, relu(xp, cos - margin), xp.zeros_like(cos))
    loss = xp.where(y == 1, 1 - cos, dissimilar)
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
    xp = namespace(x1, x2, sample_weight, names=("x1", "x2"))
    a, out_dtype = promoted_input(xp, x1, "x1", ("x2", x2))
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
    sample_weight = check_sample_weight(xp, sample_weight, (n,))
    dist = cross_squared_distances(xp, a, b)
    logp = log_softmax(xp, -dist, axis=1)
    eye = xp.eye(n, dtype=a.dtype, device=device(a))
    s = smoothing_parameter
    target = eye * (1 - s) + (1 - eye) * (s / (n - 1))
    kl = xp.sum(kl_terms(xp, target, logp), axis=1)
    return finish(xp, kl, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


def cross_squared_distances(xp: Any, a: Array, b: Array) -> Array:
    """The ``(N, M)`` squared Euclidean distances of the rows of ``a`` ``(N, D)`` to those of ``b``
    ``(M, D)``, as ``|a_i|^2 + |b_j|^2 - 2 a_i.b_j`` of the rows centred on their common mean.

    ``O(N M + (N + M) D)`` memory: MXNet's differences ``a_i - b_j`` are ``(N, M, D)``, 1 GiB at
    512 x 256 in float32 (16 GiB at 2048), kept for the backward pass. Centred, the expansion
    rounds in proportion to the rows' spread, not to their distance from 0 (``(5000, 0)`` and
    ``(5000, 1)`` lose nothing), and its rounding below 0 is clamped. The centre is a constant
    (the distances do not depend on it) of the finite entries: a row holding NaN or inf spoils
    its own distances only, as the differences' would, not every row's through the mean or its
    gradient. (A row far beyond the others' spread still costs them precision.)
    """
    rows = stop_gradient(xp.concat((a, b), axis=0))
    finite = xp.isfinite(rows)
    counts = xp.sum(xp.astype(finite, rows.dtype), axis=0)
    centre = xp.sum(xp.where(finite, rows, xp.zeros_like(rows)), axis=0) / xp.maximum(counts, xp.ones_like(counts))
    a, b = a - centre, b - centre
    norms = xp.sum(a * a, axis=1)[:, None] + xp.sum(b * b, axis=1)[None, :]
    return clamp_min(xp, norms - 2 * matmul(xp, a, xp.matrix_transpose(b)), 0.0)


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
    xp = namespace(input1, input2, label, sample_weight, *arrays_in(margin), names=("input1", "input2", "label"))
    a, out_dtype = promoted_input(xp, input1, "input1", ("input2", input2))
    b = like(xp, input2, a, "input2", "input1")
    y = like(xp, label, a, "label", "input1")
    axis = check_batch_axis(batch_axis, input1.ndim)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, tuple(input1.shape))
    # torch's order, -(y (a - b)) + margin: +0.0 at a tie, not -(y (a - b) - margin)'s -0.0; the
    # number added on the right, so a dynamic margin stays symbolic. torch's clamp_min: at a tie
    # (a == b, margin 0: every pair of a zero-initialised scorer) the derivative passes
    loss = clamp_min(xp, -(y * (a - b)) + margin, 0.0)
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=axis)


def unit_vectors(xp: Any, x: Array, axis: int, min_norm: Any) -> Array:
    """``x / max(|x|, min_norm)`` along ``axis`` (``torch.nn.functional.normalize``'s formula).

    ``|x|`` is ``m |x / m|`` with ``m`` the largest magnitude, and an unfloored vector is
    ``(x / m) / |x / m|``: nothing is squared or multiplied past the range, so any finite input
    works (a vector of 3e38 in float32 too). A zero vector gives 0, with ``min_norm = 0`` too.
    """
    # |x| does not depend on the scale m: its gradient through m is exactly 0, so m is a constant
    # for autodiff (no backward pass of max), and d|x|/dx = (x/m) / |x/m| = x / |x| as it should
    m = stop_gradient(xp.max(xp.abs(x), axis=axis, keepdims=True))
    y, _ = divide_by_largest(xp, x, m)
    # |y| >= 1 unless x = 0 (its largest entry is exactly +-1): the floor at 0.5 binds only at a
    # zero vector, where it keeps the square root's derivative finite (sqrt'(0) is infinite)
    r = xp.sqrt(clamp_min(xp, xp.sum(y * y, axis=axis, keepdims=True), 0.5))
    norm = m * r  # |x|, inf past the range: only compared, never divided by
    floored = norm < min_norm
    # the branch not taken divides by 1, not by an infinite or zero norm (a NaN in its backward pass)
    floor = xp.where(floored, clamp_min(xp, norm, min_norm), xp.ones_like(norm))
    return xp.where(floored, x / floor, y / r)


def floored_cosine(xp: Any, x: Array, t: Array, axis: int, min_norm: Any) -> Array:
    """``sum(x t) / (max(|x|, min_norm) max(|t|, min_norm))`` along ``axis`` (kept): the sum of the
    products of :func:`unit_vectors`, with the same scaling (any finite input, no over- or
    underflow), but without forming the unit vectors: one full-size product instead of three
    (2.5x faster forward + backward under ``jax.jit`` on a CPU, 256x4096 float32)."""

    def scaled(v: Array) -> tuple[Array, Array]:
        # v = m y with m the largest |v_i| (a constant for autodiff, as in unit_vectors), |y| = r
        m = stop_gradient(xp.max(xp.abs(v), axis=axis, keepdims=True))
        y, divisor = divide_by_largest(xp, v, m)  # a zero vector: divisor 1, y = v = 0
        r = xp.sqrt(clamp_min(xp, xp.sum(y * y, axis=axis, keepdims=True), 0.5))  # the floor: unit_vectors'
        floored = m * r < min_norm  # m r = |v|, inf past the range: only compared, never divided by
        # v / max(|v|, min_norm) = y * scale: 1 / r, or divisor / min_norm where the floor binds
        # (there m < min_norm, so the quotient is at most 1, or 1 / min_norm at a zero vector: the
        # derivative optax's floor gives there)
        # zeros + min_norm, not full_like: a symbolic min_norm (torch.compile) stays symbolic;
        # and the branch not taken divides by 1 (min_norm may be 0)
        floor = xp.where(floored, xp.zeros_like(m) + min_norm, xp.ones_like(m))
        return y, xp.where(floored, divisor / floor, 1 / r)

    y_x, scale_x = scaled(x)
    y_t, scale_t = scaled(t)
    return xp.sum(y_x * y_t, axis=axis, keepdims=True) * scale_x * scale_t


def unit_rows(xp: Any, x: Array) -> Array:
    """Rows of ``x`` divided by their norm, floored at 1e-12 (as ``torch.nn.functional.normalize``):
    :func:`unit_vectors` along the last axis. Any finite input works; a zero row stays 0 with a
    finite gradient, never NaN."""
    return unit_vectors(xp, x, -1, 1e-12)


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
    xp = namespace(x1, x2, sample_weight, *arrays_in(temperature), names=("x1", "x2"))
    a, out_dtype = promoted_input(xp, x1, "x1", ("x2", x2))
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
    sample_weight = check_sample_weight(xp, sample_weight, (n,))
    if n == 0:  # an empty batch: no loss values (the reductions below have nothing to take a max of)
        return xp.astype(xp.sum(a, axis=1) * 0, out_dtype, copy=False)  # of shape (0,), in x1's graph
    # logits[i, j] = cos(x1_i, x2_j) / T, bounded by 1/T: the softmax is safe for any inputs
    logits = matmul(xp, unit_rows(xp, a), xp.matrix_transpose(unit_rows(xp, b))) / temperature
    # the diagonal read from the logits themselves (a row's own dot product rounds differently: 1 in
    # 1e7 at a tiny temperature), gathered, not masked by an (N, N) identity
    diagonal = xp.reshape(xp.arange(n, device=device(a)), (n, 1))
    positive = xp.reshape(take_along_axis(xp, logits, diagonal, axis=1), (n,))

    def cross_entropy(axis: int) -> Array:
        # -log softmax(logits)[i] = logsumexp(logits) - logits[i, i] = (m - logits[i, i]) + log_sum:
        # the shift subtracted first, exact also for a tiny temperature (see logsumexp_parts)
        m, log_sum = logsumexp_parts(xp, logits, axis=axis)
        return xp.reshape(m, (n,)) - positive + xp.reshape(log_sum, (n,))

    loss = cross_entropy(1)  # x2_j are the candidates of x1_i (rows)
    if symmetric:
        loss = 0.5 * (loss + cross_entropy(0))  # the other direction: x1_j are those of x2_i (columns)
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


def hinge_embedding_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``pred`` where ``label`` is 1, ``max(0, margin - pred)`` where it is -1, averaged per example.
    See :class:`losskit.HingeEmbeddingLoss`."""
    margin = check_number(margin, "margin", array_ok=True)  # any real, as torch

    def formula(xp: Any, x: Array, y: Array) -> Array:
        zero = xp.zeros_like(x)
        # torch's rule, term by term: a label other than -1 takes pred, one other than 1 the hinge
        # (1 and -1 one term each; any other value, which torch does not refuse, both)
        # = margin - x, a dynamic margin symbolic; torch's clamp_min: derivative -1 at x = margin
        hinge = clamp_min(xp, -(x - margin), 0.0)
        return xp.where(y != -1, x, zero) + xp.where(y != 1, hinge, zero)

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, extra=arrays_in(margin))


def cosine_distance_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    axis: int = -1,
    epsilon: float = 1e-12,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``1 - cos(pred, label)`` along ``axis``, averaged per example. See :class:`losskit.CosineDistanceLoss`."""
    epsilon = check_number(epsilon, "epsilon", low=0.0)
    xp = namespace(pred, label, sample_weight, names=("pred", "label"))
    x = float_input(xp, pred, "pred")
    if pred.ndim < 2:
        raise ValueError(f"pred must have a batch axis and a vector axis, e.g. (N, D); got shape {tuple(pred.shape)}")
    vec = check_axis(axis, pred.ndim)
    b_axis = check_batch_axis(batch_axis, pred.ndim)
    if vec == b_axis:
        raise ValueError(f"the vector axis (axis={axis}) and batch_axis ({batch_axis}) must differ")
    if tuple(label.shape) != tuple(pred.shape):
        raise ValueError(
            f"label shape {tuple(label.shape)} does not match pred shape {tuple(pred.shape)}: "
            "the vectors compared must have the same shape"
        )
    if pred.shape[vec] == 0:
        raise ValueError(f"the vectors along axis {axis} are empty (pred shape {tuple(pred.shape)}): no cosine")
    t = like(xp, label, x, "label")
    check_weight(weight)
    sample_weight = check_sample_weight(
        xp, sample_weight, tuple(pred.shape[:vec]) + (1,) + tuple(pred.shape[vec + 1 :])
    )
    # optax's and tf.keras's floor, on each squared norm: v / sqrt(max(|v|^2, eps)) = v / max(|v|, sqrt(eps))
    cos = floored_cosine(xp, x, t, vec, epsilon**0.5)
    return finish(xp, 1 - cos, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def ranking_softmax_loss(
    pred: Array,
    label: Array,
    mask: Array | None = None,
    sample_weight: Any = None,
    *,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Listwise softmax cross-entropy ``-sum_i y_i log softmax(s)_i`` per list (the last axis).
    See :class:`losskit.RankingSoftmaxLoss`."""
    xp = namespace(pred, label, mask, sample_weight, names=("pred", "label"))
    x = float_input(xp, pred, "pred")
    if pred.ndim < 2:
        raise ValueError(
            f"pred must have a batch axis and a list axis (the last), e.g. (N, L); got shape {tuple(pred.shape)}"
        )
    b_axis = check_batch_axis(batch_axis, pred.ndim)
    if b_axis == pred.ndim - 1:
        raise ValueError(f"batch_axis={batch_axis} is the list axis (the last axis of pred, shape {tuple(pred.shape)})")
    if tuple(label.shape) != tuple(pred.shape):
        raise ValueError(
            f"label shape {tuple(label.shape)} does not match pred shape {tuple(pred.shape)}: one relevance per item"
        )
    if mask is not None:
        if not hasattr(mask, "shape") or not xp.isdtype(mask.dtype, "bool"):
            raise TypeError(
                "mask must be a boolean array (True for the items of a list, False for padding), "
                f"got {getattr(mask, 'dtype', type(mask).__name__)}"
            )
        if tuple(mask.shape) != tuple(pred.shape):
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match pred shape {tuple(pred.shape)}")
    y = like(xp, label, x, "label")
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, tuple(pred.shape))
    if mask is not None:
        y = xp.where(mask, y, xp.zeros_like(y))  # a padded item's label is not read (often -1)
    # one read of the smallest relevance (skipped when traced or with value checks off); NaN fails it too
    lowest = None if size(tuple(y.shape)) == 0 else read_value(xp.min(stop_gradient(y)))
    if lowest is not None and not lowest >= 0:
        where = " of the unmasked items" if mask is not None else ""
        raise ValueError(
            f"label holds negative or NaN relevance{where} (the smallest is {lowest:g}); relevance must be "
            "non-negative (mark padded items False in mask)"
        )
    if pred.shape[-1] == 0:  # lists of no items: a loss of 0 (the max below has nothing to take)
        loss = xp.sum(x, axis=-1, keepdims=True)
        return finish(xp, loss, out_dtype=pred.dtype, weight=weight, batch_axis=b_axis)
    if mask is None:
        # log softmax(s) = (s - m) - log(sum(exp(s - m))), m the max: no overflow, no log(0)
        m, log_sum = logsumexp_parts(xp, x, axis=-1)
        log_p = (x - m) - log_sum
    else:
        # masked items leave the softmax (exp of -inf: exactly 0, a zero derivative); a list with
        # no item gets m = 0 and log_sum = 0, so neither log(0) nor its derivative enters the graph
        m, log_sum, _ = masked_logsumexp_parts(xp, x, mask)
        # at masked items any finite stand-in (0) for the logit: the label there is 0, and so the term
        log_p = (xp.where(mask, x, xp.zeros_like(x)) - m) - log_sum
    terms = y * log_p
    if sample_weight is not None:  # per item (optax's weights) or per list: before the sum over the list
        terms = finish(xp, terms, out_dtype=terms.dtype, sample_weight=sample_weight, batch_axis=None)
    # + 0.0: a list without relevance (all labels 0, or every item masked) is +0.0, not -0.0
    loss = -xp.sum(terms, axis=-1, keepdims=True) + 0.0
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, batch_axis=b_axis)


# ---- circle loss (Sun et al., 2020; Keras's circle) ----


def _class_labels(xp: Any, label: Array, n: int, name: str, rows: str, what: str = "class labels") -> Array:
    """One label per row of ``rows`` (``n`` of them): shape ``(n,)`` or ``(n, 1)``, returned as
    ``(n,)``; integers, bools or floats (only ever compared for equality; NaN refused)."""
    one = what[:-1] if what.endswith("s") else what
    check_array(xp, label, name)  # a number (ref_labels=3) is no set of labels
    if tuple(label.shape) not in ((n,), (n, 1)):
        raise ValueError(f"{name} shape {tuple(label.shape)} does not match {rows}: expected ({n},), one {one} per row")
    if dtype_kind(xp, label.dtype) not in ("bool", "integral", "real floating"):
        raise TypeError(f"{name} must hold {what} (integers), got dtype {label.dtype}")
    check_group_ids(xp, label, name, what)
    return label if label.ndim == 1 else xp.reshape(label, (n,))


def check_group_ids(xp: Any, label: Array, name: str, what: str = "class labels") -> None:
    """Float labels compared for equality must not hold NaN: it equals nothing, not even itself,
    so its row would silently have no positive (a loss of 0)."""
    if dtype_kind(xp, label.dtype) == "real floating":
        check_not_nan(xp, label, name, what)


def _comparable(xp: Any, y: Array, ref: Array) -> tuple[Array, Array]:
    """``label`` and ``ref_labels`` in one dtype, for ``==``; ``TypeError`` for an integer beside a float."""
    if y.dtype == ref.dtype:
        return y, ref
    if dtype_kind(xp, y.dtype) != dtype_kind(xp, ref.dtype):
        raise TypeError(
            f"label dtype {y.dtype} and ref_labels dtype {ref.dtype} cannot be compared: give both integers (or floats)"
        )
    try:
        common = xp.result_type(y.dtype, ref.dtype)
    except (TypeError, ValueError):  # array_api_strict: uint64 against int64
        common = None
    if common is None or dtype_kind(xp, common) != dtype_kind(xp, y.dtype):
        # NumPy and JAX promote uint64 and int64 to float64, where labels past 2^53 compare equal
        raise TypeError(
            f"label dtype {y.dtype} and ref_labels dtype {ref.dtype} have no common dtype of their kind: "
            "give both the same dtype"
        )
    return xp.astype(y, common), xp.astype(ref, common)


def circle_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    ref_embeddings: Array | None = None,
    ref_labels: Array | None = None,
    *,
    gamma: float = 80.0,
    margin: float = 0.4,
    remove_diagonal: bool = True,
    normalize: bool = False,
    detach_weights: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Circle loss of embeddings against a reference set (the batch itself by default), as Keras's
    ``circle``. See :class:`losskit.CircleLoss`."""
    gamma = check_number(gamma, "gamma", low=0.0, array_ok=True)
    margin = check_number(margin, "margin", array_ok=True)
    check_flag(remove_diagonal, "remove_diagonal")
    check_flag(normalize, "normalize")
    check_flag(detach_weights, "detach_weights")
    if (ref_embeddings is None) != (ref_labels is None):
        given, missing = ("ref_embeddings", "ref_labels") if ref_labels is None else ("ref_labels", "ref_embeddings")
        raise ValueError(
            f"{given} was given without {missing}: a reference set needs both its embeddings and its labels "
            "(give neither to compare the batch with itself)"
        )
    options = arrays_in(gamma, margin)
    xp = namespace(pred, label, sample_weight, ref_embeddings, ref_labels, *options, names=("pred", "label"))
    refs = () if ref_embeddings is None else (("ref_embeddings", ref_embeddings),)
    x, out_dtype = promoted_input(xp, pred, "pred", *refs)
    if pred.ndim != 2:
        raise ValueError(f"pred must have shape (batch_size, dim), one embedding per row; got {tuple(pred.shape)}")
    n, dim = pred.shape
    ref = None
    if ref_embeddings is not None:
        if ref_embeddings.ndim != 2 or ref_embeddings.shape[1] != dim:
            raise ValueError(
                f"ref_embeddings shape {tuple(ref_embeddings.shape)} does not match pred shape {tuple(pred.shape)}: "
                f"expected (num_refs, {dim}), one embedding of pred's dimension per row"
            )
        ref = xp.astype(ref_embeddings, x.dtype, copy=False)  # its dtype checked by promoted_input
    if batch_axis not in (0, -2):
        raise ValueError(f"CircleLoss supports batch_axis=0 only, got {batch_axis}")
    y = _class_labels(xp, label, n, "label", f"pred's {n} rows")
    m = n if ref is None else ref.shape[0]
    ref_y = y if ref_labels is None else _class_labels(xp, ref_labels, m, "ref_labels", f"ref_embeddings' {m} rows")
    y, ref_y = _comparable(xp, y, ref_y)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, (n,))
    if n == 0 or m == 0:  # no pairs: 0 per example, in pred's graph (the max below has nothing to take)
        total = xp.sum(x, axis=1)
        # 0 per example, in pred's graph (a zero gradient); where, not * 0: an infinite row stays 0
        loss = xp.where(xp.zeros(total.shape, dtype=xp.bool, device=device(x)), total, xp.zeros_like(total))
        return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)
    if normalize:
        x = unit_rows(xp, x)
        ref = None if ref is None else unit_rows(xp, ref)
    dot = matmul(xp, x, xp.matrix_transpose(x if ref is None else ref))  # (n, m)
    # Keras's cosine distance d = max(1 - s, 0), s = x . ref: the similarity capped at 1 (the
    # derivative passes at d = 0 exactly, clamp_min's; Keras's maximum halves it there on JAX)
    d = clamp_min(xp, 1 - dot, 0.0)
    same = xp.expand_dims(y, axis=1) == xp.expand_dims(ref_y, axis=0)
    positive = same
    if remove_diagonal:  # pairs (i, i), as Keras: the self-similarity when ref is the batch
        rows = xp.arange(n, device=device(x))
        cols = xp.arange(m, device=device(x))
        positive = xp.logical_and(same, xp.expand_dims(rows, axis=1) != xp.expand_dims(cols, axis=0))
    # the paper's terms in s = 1 - d, with O_p = 1 + m, O_n = -m, Delta_p = 1 - m, Delta_n = m:
    # alpha_p = [O_p - s]_+ = [m + d]_+, alpha_n = [s - O_n]_+ = [1 + m - d]_+. Written d - c, never
    # c - d (the same floats: subtraction is antisymmetric): a number minus a tensor would fix a
    # dynamic margin's value under torch.compile (a recompile per value)
    alpha_p = relu(xp, d + margin)
    alpha_n = relu(xp, -(d - (1 + margin)))
    if detach_weights:  # constants in the backward pass: the paper's gradient, pytorch-metric-learning's
        alpha_p, alpha_n = stop_gradient(alpha_p), stop_gradient(alpha_n)
    logit_p = gamma * alpha_p * (d - margin)  # -gamma alpha_p (s_p - Delta_p), s_p - Delta_p = m - d
    logit_n = gamma * alpha_n * -(d - (1 - margin))  # gamma alpha_n (s_n - Delta_n), s_n - Delta_n = 1 - m - d
    m_p, log_sum_p, has_p = masked_logsumexp_parts(xp, logit_p, positive)
    m_n, log_sum_n, has_n = masked_logsumexp_parts(xp, logit_n, xp.logical_not(same))
    lse_p, lse_n = m_p + log_sum_p, m_n + log_sum_n
    # log(1 + sum_n e^{logit_n} sum_p e^{logit_p}) = softplus(lse_p + lse_n): no overflow. A row
    # without a positive or a negative pair costs 0, with a zero gradient (Keras's -inf logsumexp)
    loss = xp.where(xp.logical_and(has_p, has_n), softplus(xp, lse_p + lse_n), xp.zeros_like(lse_p))
    loss = xp.reshape(loss, (n,))
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


# ---- NT-Xent (SimCLR; optax's ntxent) ----


def _pair_masks(xp: Any, y: Array) -> tuple[Array, Array, Array]:
    """``(positive, negative, self)`` masks of the ``(N, N)`` pairs: the same label but not the
    anchor itself, another label (a NaN label is no row's positive, nor its own negative), the diagonal."""
    n = y.shape[0]
    same = xp.expand_dims(y, axis=1) == xp.expand_dims(y, axis=0)
    idx = xp.arange(n, device=device(y))
    self_pair = xp.expand_dims(idx, axis=1) == xp.expand_dims(idx, axis=0)
    positive = xp.logical_and(same, xp.logical_not(self_pair))
    negative = xp.logical_not(xp.logical_or(same, self_pair))
    return positive, negative, self_pair


def _empty_batch(xp: Any, x: Array) -> Array:
    return xp.sum(x, axis=1) * 0  # of shape (0,), in the embeddings' graph


def _empty_pairs(xp: Any, x: Array) -> Array:
    """The ``(0, 1)`` pair losses of an empty batch, in the embeddings' graph."""
    return xp.expand_dims(_empty_batch(xp, x), axis=1)


def _over_positive_pairs(
    xp: Any, pair: Array, positive: Array | None, out_dtype: Any, reduction: str, weight: Any, sample_weight: Any
) -> Array:
    """The loss from ``pair``, the ``(N, N)`` losses of each anchor (row) against the others, 0 off
    ``positive`` (``None`` for an empty batch): ``'none'`` each anchor's mean over its positives
    (0, with no gradient, for an anchor without one); ``'mean'`` the mean over every positive
    pair of the batch (0 without any); ``'sum'`` their sum."""
    loss = xp.sum(pair, axis=1)  # each anchor's sum over its positives
    count = None if positive is None else xp.sum(xp.astype(positive, loss.dtype), axis=1)
    if reduction == "none":
        if count is not None:
            some = count > 0
            loss = xp.where(some, loss / xp.where(some, count, xp.ones_like(count)), xp.zeros_like(loss))
        return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)
    pairs = None if count is None else xp.sum(count)
    return reduce_all(
        xp,
        loss,
        out_dtype=out_dtype,
        reduction=reduction,
        weight=weight,
        sample_weight=sample_weight,
        denominator=pairs,
    )


def nt_xent_loss(
    embeddings: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    temperature: float = 0.07,
    reduction: str = "none",
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """NT-Xent over groups of positives: per anchor, the mean over its positives of
    ``-log(e^{s_ij} / (e^{s_ij} + sum_{k of another group} e^{s_ik}))``. See :class:`losskit.NTXentLoss`."""
    # a 0-d array is a learnt temperature: its value is not checked (as InfoNCELoss's)
    temperature = check_number(temperature, "temperature", low=0.0, low_open=True, array_ok=True)
    check_reduction(reduction)
    xp = namespace(embeddings, label, sample_weight, *arrays_in(temperature), names=("embeddings", "label"))
    x = float_input(xp, embeddings, "embeddings")
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must have shape (batch_size, dim); got {tuple(embeddings.shape)}")
    n = embeddings.shape[0]
    if embeddings.shape[1] == 0:
        raise ValueError(f"embeddings need at least one feature to compare, got shape {tuple(embeddings.shape)}")
    label = _class_labels(xp, label, n, "label", f"embeddings' {n} rows", "group ids")
    if batch_axis not in (0, -2):
        raise ValueError(f"NTXentLoss supports batch_axis=0 only, got {batch_axis}")
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, (n,))
    if n == 0:  # an empty batch: no anchor (the max below has nothing to take)
        pair, positive = _empty_pairs(xp, x), None
    else:
        # s_ij = cos(x_i, x_j) / T, bounded by 1/T
        unit = unit_rows(xp, x)
        sim = matmul(xp, unit, xp.matrix_transpose(unit)) / temperature
        positive, negative, _ = _pair_masks(xp, label)
        # log sum_{k negative} exp(s_ik) = m_i + log_total_i, m_i the largest negative (0 for an anchor
        # without one, whose pairs are masked out below)
        m, log_total, has_negative = masked_logsumexp_parts(xp, sim, negative, axis=1)
        # -log(e^{s_ij} / (e^{s_ij} + sum_k e^{s_ik})) = log(1 + sum_k e^{s_ik - s_ij}) = softplus(lse_i - s_ij),
        # (m_i - s_ij) first, as log_softmax: exact also for a tiny temperature; 0 without a negative
        pair = softplus(xp, (m - sim) + log_total)
        pair = xp.where(xp.logical_and(positive, has_negative), pair, xp.zeros_like(pair))
    # 'mean': over the positive pairs (optax's ntxent)
    return _over_positive_pairs(xp, pair, positive, embeddings.dtype, reduction, weight, sample_weight)


# ---- TensorFlow Addons: contrastive and mined triplet losses (tfa.losses) ----


def contrastive_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``y d^2 + (1 - y) max(margin - d, 0)^2`` of distances ``pred`` and binary labels, averaged per
    example (``tfa.losses.contrastive_loss``). See :class:`losskit.ContrastiveLoss`."""
    margin = check_number(margin, "margin", array_ok=True)  # any real, as tfa

    def formula(xp: Any, d: Array, y: Array) -> Array:
        # tfa's terms, the label taken as a number (as tfa casts it): d * d, not square (pow's backward)
        hinge = relu(xp, -(d - margin))  # = margin - d; a dynamic margin stays symbolic
        return y * (d * d) + (1 - y) * (hinge * hinge)

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, extra=arrays_in(margin))


DISTANCE_METRICS = ("L2", "squared-L2", "angular")
# the spellings of tfa before its "L2"/"squared-L2" names (its 0.23 takes those), whose 'L_2' was
# the *squared* distance: refused with the name that computes what they computed
_OLD_TFA_METRIC_NAMES = {"L_2": "squared-L2", "L_1": "L2"}


def check_distance_metric(metric: Any) -> str:
    """A triplet loss's ``distance_metric``: one of :data:`DISTANCE_METRICS`; else an error."""
    if not isinstance(metric, str):
        raise TypeError(
            f"distance_metric must be one of {DISTANCE_METRICS} (a callable, which tfa takes, is not), got {metric!r}"
        )
    if metric in _OLD_TFA_METRIC_NAMES:
        raise ValueError(
            f"distance_metric={metric!r} is an old tfa name: there 'L_2' was the squared Euclidean distance "
            "(now 'squared-L2') and 'L_1' the Euclidean one (now 'L2', as in tfa 0.23); "
            f"use distance_metric={_OLD_TFA_METRIC_NAMES[metric]!r}"
        )
    if metric not in DISTANCE_METRICS:
        raise ValueError(f"distance_metric must be one of {DISTANCE_METRICS}, got {metric!r}")
    return metric


def _embedding_distances(xp: Any, x: Array, metric: str) -> Array:
    """The ``(N, N)`` distances between the rows of ``x`` (``(N, D)``): Euclidean, squared Euclidean or
    ``1 - cos``. From the differences of the rows, not tfa's ``|a|^2 + |b|^2 - 2 a.b``: exact for
    near-duplicate rows (no cancellation), never negative, so no clamp; ``O(N^2 D)`` memory (on
    CPU torch tensors ``O(N^2)``: torch's ``cdist``, where as accurate)."""
    if metric == "angular":
        # tf.math.l2_normalize's floor on the squared norm, 1e-12: x / max(|x|, 1e-6)
        unit = unit_vectors(xp, x, -1, 1e-6)
        dot = matmul(xp, unit, xp.matrix_transpose(unit))
        # 1 - cos may round below 0 for (near-)parallel rows: floored at 0 (tfa floors at 1e-16)
        return clamp_min(xp, -(dot - 1), 0.0)
    if _fast.use_torch(x):
        # O(N^2) memory where as accurate (else None); create_graph=True differentiates the generic path
        d = _fast.torch_self_distances(x, lambda x: _difference_distances(xp, x, metric), metric == "squared-L2")
        if d is not None:
            return d
    return _difference_distances(xp, x, metric)


def _difference_distances(xp: Any, x: Array, metric: str) -> Array:
    """:func:`_embedding_distances` ``"L2"`` or ``"squared-L2"`` from the ``(N, N, D)`` differences."""
    a, b = xp.expand_dims(x, axis=1), xp.expand_dims(x, axis=0)
    if metric == "L2":
        # scaled by the largest |difference|, and a derivative of 0 (not sqrt's infinite one, a NaN
        # after the chain rule) at d = 0: two equal rows, and each row with itself
        return pairwise_distance(xp, a, b, 2, 0.0)
    v = a - b
    return xp.sum(v * v, axis=-1)  # derivative 2 (x_i - x_j): 0 at equal rows


def _triplet_setup(
    embeddings: Array,
    label: Array,
    sample_weight: Any,
    margin: Any,
    distance_metric: Any,
    reduction: str,
    weight: Any,
    batch_axis: int,
    name: str,
) -> tuple[Any, Any, Array, Array]:
    """The checks shared by the mined triplet losses, before any work: the namespace, the margin,
    the embeddings in their compute dtype and the labels as ``(N,)``."""
    check_distance_metric(distance_metric)
    xp, x, y = _labelled_rows(embeddings, label, sample_weight, arrays_in(margin), reduction, weight, batch_axis, name)
    return xp, margin, x, y


def _labelled_rows(
    embeddings: Array,
    label: Array,
    sample_weight: Any,
    extra: tuple[Any, ...],
    reduction: str,
    weight: Any,
    batch_axis: int,
    name: str,
) -> tuple[Any, Array, Array]:
    """The checks of a loss of labelled embeddings ``(N, D)`` with a ``reduction`` (the mined
    triplet losses, SupCon): the namespace (``extra``: the options' arrays), the embeddings in
    their compute dtype and the labels as ``(N,)``."""
    check_reduction(reduction)
    xp = namespace(embeddings, label, sample_weight, *extra, names=("embeddings", "label"))
    x = float_input(xp, embeddings, "embeddings")
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must have shape (batch_size, dim); got {tuple(embeddings.shape)}")
    n = embeddings.shape[0]
    if embeddings.shape[1] == 0:
        raise ValueError(f"embeddings need at least one feature to compare, got shape {tuple(embeddings.shape)}")
    y = _class_labels(xp, label, n, "label", f"embeddings' {n} rows")
    if batch_axis not in (0, -2):
        raise ValueError(f"{name} supports batch_axis=0 only, got {batch_axis}")
    check_weight(weight)
    check_sample_weight(xp, sample_weight, (n,))  # checked only: the callers pass theirs to finish
    return xp, x, y


def triplet_hard_loss(
    embeddings: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    soft: bool = False,
    distance_metric: str = "L2",
    reduction: str = "none",
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Batch-hard triplet loss ``max(d(a, hardest positive) - d(a, hardest negative) + margin, 0)`` per
    anchor (``softplus`` of the difference with ``soft``), as ``tfa.losses.triplet_hard_loss``.
    See :class:`losskit.TripletHardLoss`."""
    margin = check_number(margin, "margin", array_ok=True)  # any real, as tfa (unused with soft)
    check_flag(soft, "soft")
    xp, margin, x, y = _triplet_setup(
        embeddings, label, sample_weight, margin, distance_metric, reduction, weight, batch_axis, "TripletHardLoss"
    )
    if embeddings.shape[0] == 0:
        loss = _empty_batch(xp, x)
    else:
        d = _embedding_distances(xp, x, distance_metric)
        positive, negative, self_pair = _pair_masks(xp, y)
        zero = xp.zeros_like(d)
        # distances are >= 0, so 0 stands in for a missing pair: an anchor without a positive takes
        # d_ap = 0, as tfa's masked maximum (which falls back on the row's minimum, the anchor's own 0)
        hardest_positive = xp.max(xp.where(positive, d, zero), axis=1)
        # an anchor without a negative takes the largest distance of its row (tfa's masked minimum
        # falls back on the row's maximum); any negative is at most that, so the fill never wins
        farthest = xp.max(xp.where(self_pair, zero, d), axis=1, keepdims=True)
        hardest_negative = xp.min(xp.where(negative, d, farthest), axis=1)
        gap = hardest_positive - hardest_negative
        if soft:
            # softplus(gap) = log(1 + e^gap) without overflow (tfa's log1p(exp(gap)) is inf past ~89 in
            # float32). The margin is not used: adding 0 * margin (an array of zeros times it, which
            # is not folded away as margin * 0 is) keeps it in the graph, since torch.compile
            # specialises an unused symbolic number (a recompile for each value passed)
            loss = softplus(xp, gap + xp.zeros_like(gap) * margin)
        else:
            loss = relu(xp, gap + margin)  # relu: derivative 0 at the kink
    if reduction == "none":
        return finish(xp, loss, out_dtype=embeddings.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)
    # 'mean': over every anchor (tfa's reduce_mean); 0 for an empty batch
    return reduce_all(
        xp, loss, out_dtype=embeddings.dtype, reduction=reduction, weight=weight, sample_weight=sample_weight
    )


def _nearest_farther_negative(xp: Any, d: Array, negative: Array) -> tuple[Array, Array]:
    """For each pair ``(a, j)`` of the ``(N, N)`` distances ``d``: the smallest ``d[a, k]`` over the
    negatives ``k`` of ``a`` with ``d[a, k] > d[a, j]``, and whether there is one; ``(N, N)`` each.

    In ``O(N^2 log N)`` time and ``O(N^2)`` memory (tfa compares every pair with every negative:
    ``N^3``). Each row's negatives are sorted (the others after them); a stable sort of them
    merged with the row's distances ranks each ``d[a, j]`` among them, the negatives first on a
    tie, so that the rank is the count of negatives not farther: the index of the one sought.
    Its gradient is shared evenly by the negatives tied at its distance, as ``min``'s (tfa's
    ``reduce_min``): the sorted values' mean over their run of equal values, formed from a running
    sum of ``s - stop_gradient(s)``, exactly 0 (so the value is the sorted value's, exactly),
    whose gradient is the run's ``1 / count`` each."""
    n = d.shape[0]
    const = stop_gradient(d)
    # the others sorted after every negative (+inf keys: no finite distance reaches them, where a
    # finite fill max(d) + 1 is max(d) itself past 2^24 in float32); their values are 0, so that
    # s - stop_gradient(s) below is 0, not inf - inf
    keys = xp.where(negative, const, xp.full_like(const, math.inf))
    order = xp.argsort(keys, axis=1, stable=True)
    s_const = take_along_axis(xp, keys, order, axis=1)
    s = take_along_axis(xp, xp.where(negative, d, xp.zeros_like(d)), order, axis=1)  # differentiable

    def count_not_above(queries: Array) -> Array:
        # for each query of a row, how many of its sorted negatives are <= it (the +inf keys never)
        merged = xp.argsort(xp.concat([s_const, queries], axis=1), axis=1, stable=True)
        position = xp.argsort(merged, axis=1, stable=True)[:, n:]  # where each query landed
        rank = xp.argsort(xp.argsort(queries, axis=1, stable=True), axis=1, stable=True)  # among the queries
        return position - rank

    start = count_not_above(const)  # (N, N): the index in s of the nearest negative farther than d[a, j]
    count = xp.sum(xp.astype(negative, start.dtype), axis=1, keepdims=True)
    found = start < count
    at = xp.where(found, start, xp.zeros_like(start))
    # the run of negatives tied with s[at]: [at, end), end the count of entries <= s[at]
    end = take_along_axis(xp, count_not_above(s_const), at, axis=1)
    sums = xp.cumulative_sum(s - stop_gradient(s), axis=1, include_initial=True)  # all exactly 0
    size = end - at
    tie_mean = (take_along_axis(xp, sums, end, axis=1) - take_along_axis(xp, sums, at, axis=1)) / xp.astype(
        xp.where(size > 0, size, xp.ones_like(size)), d.dtype
    )
    return take_along_axis(xp, s_const, at, axis=1) + tie_mean, found


def triplet_semihard_loss(
    embeddings: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    distance_metric: str = "L2",
    reduction: str = "none",
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Triplet loss with semi-hard negatives (FaceNet): per positive pair ``(a, p)``,
    ``max(d_ap - d_an + margin, 0)`` with ``n`` the nearest negative farther than ``p`` (else the
    farthest negative), averaged over the anchor's positives, as ``tfa.losses.triplet_semihard_loss``.
    See :class:`losskit.TripletSemiHardLoss`."""
    margin = check_number(margin, "margin", array_ok=True)  # any real, as tfa
    xp, margin, x, y = _triplet_setup(
        embeddings, label, sample_weight, margin, distance_metric, reduction, weight, batch_axis, "TripletSemiHardLoss"
    )
    if embeddings.shape[0] == 0:
        pair, positive = _empty_pairs(xp, x), None
    else:
        d = _embedding_distances(xp, x, distance_metric)
        positive, negative, self_pair = _pair_masks(xp, y)
        zero = xp.zeros_like(d)
        # the farthest negative of each anchor, 0 without one (tfa's masked maximum falls back on
        # the row's minimum, the anchor's distance to itself): distances are >= 0, 0 never wins
        farthest_negative = xp.max(xp.where(negative, d, zero), axis=1, keepdims=True)  # (N, 1)
        # per pair (a, p): the nearest negative of a farther from a than p, strictly (tfa's greater)
        nearest_outside, has_outside = _nearest_farther_negative(xp, d, negative)
        # a NaN distance in the anchor's row (a NaN embedding) makes its losses NaN, as tfa's and
        # the hard loss's: at a negative the sort put it after the others and a +inf stand-in was
        # taken as "the negative farther than p" (a loss of 0); farthest_negative is NaN there
        has_outside = xp.logical_and(has_outside, xp.logical_not(xp.any(xp.isnan(d), axis=1, keepdims=True)))
        semi_hard = xp.where(has_outside, nearest_outside, farthest_negative)
        pair = relu(xp, (d - semi_hard) + margin)  # relu: derivative 0 at the kink
        pair = xp.where(positive, pair, zero)
    # 'mean': over the positive pairs (tfa's; 0 with none, where tfa's 0/0 is NaN)
    return _over_positive_pairs(xp, pair, positive, embeddings.dtype, reduction, weight, sample_weight)


__all__ = [
    "triplet_loss",
    "triplet_margin_loss",
    "cosine_embedding_loss",
    "sdml_loss",
    "margin_ranking_loss",
    "info_nce_loss",
    "hinge_embedding_loss",
    "cosine_distance_loss",
    "ranking_softmax_loss",
    "nt_xent_loss",
    "circle_loss",
    "contrastive_loss",
    "triplet_hard_loss",
    "triplet_semihard_loss",
    "supcon_loss",
    "triplet_margin_with_distance_loss",
]


# ---- supervised contrastive loss (Khosla et al., 2020; pytorch-metric-learning's SupConLoss) ----


def supcon_loss(
    embeddings: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    temperature: float = 0.1,
    base_temperature: float | None = None,
    reduction: str = "none",
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Supervised contrastive loss: per anchor, the mean over its positives of
    ``-log(e^{s_ap} / sum_{k != a} e^{s_ak})``, ``s = cos / T``. See :class:`losskit.SupConLoss`."""
    # a 0-d array is a learnt temperature: its value is not checked (as NTXentLoss's)
    temperature = check_number(temperature, "temperature", low=0.0, low_open=True, array_ok=True)
    if base_temperature is not None:
        base_temperature = check_number(base_temperature, "base_temperature", low=0.0, low_open=True)
    extra = arrays_in(temperature)
    xp, x, label = _labelled_rows(embeddings, label, sample_weight, extra, reduction, weight, batch_axis, "SupConLoss")
    n = embeddings.shape[0]
    if n == 0:  # an empty batch: no anchor (the argmax below has nothing to take)
        loss, anchors = _empty_batch(xp, x), None
    else:
        # s_ak = cos(x_a, x_k) / T, bounded by 1/T; a zero row has cosine 0 with every row
        unit = unit_rows(xp, x)
        sim = matmul(xp, unit, xp.matrix_transpose(unit)) / temperature
        positive, negative, self_pair = _pair_masks(xp, label)
        m, log_total = _log_sum_exp_but_self(xp, sim, self_pair)
        # -log(e^{s_ap} / sum_k e^{s_ak}) = (m_a - s_ap) + log_total_a: two terms >= 0 (m_a is at
        # least s_ap, log_total_a = log1p(...) at least 0), the shift subtracted first as in log_softmax
        pair = (m - sim) + log_total
        # pml's rule: an anchor without a positive or without a negative has no loss (0, with a
        # zero gradient); where, not a product, so that nothing of the other pairs enters the graph
        has_negative = xp.any(negative, axis=1, keepdims=True)
        pair = xp.where(xp.logical_and(positive, has_negative), pair, xp.zeros_like(pair))
        count = xp.sum(xp.astype(positive, x.dtype), axis=1)
        anchors = xp.logical_and(count > 0, xp.reshape(has_negative, (n,)))
        mean = xp.sum(pair, axis=1) / xp.where(anchors, count, xp.ones_like(count))
        loss = xp.where(anchors, mean, xp.zeros_like(mean))
        if base_temperature is not None:  # the authors' scale T / T_base (1 at their defaults, 0.07 and 0.07)
            loss = loss * (temperature / base_temperature)
    if reduction == "none":
        return finish(xp, loss, out_dtype=embeddings.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)
    # 'mean': over the anchors that have a loss (a positive and a negative), pml's AvgNonZeroReducer
    # up to losses that round to exactly 0; 0 when there is none
    denominator = None if anchors is None else xp.sum(xp.astype(anchors, x.dtype))  # None: 0 / 1
    return reduce_all(
        xp,
        loss,
        out_dtype=embeddings.dtype,
        reduction=reduction,
        weight=weight,
        sample_weight=sample_weight,
        denominator=denominator,
    )


def _log_sum_exp_but_self(xp: Any, sim: Array, self_pair: Array) -> tuple[Array, Array]:
    """``(m, log_total)`` of each row of ``sim`` ``(N, N)`` without its diagonal, ``(N, 1)`` each:
    ``log sum_{k != a} e^{s_ak} = m_a + log_total_a``, ``m_a`` the row's largest such entry.

    ``log_total_a = log1p(sum_{k != a, top} e^{s_ak - m_a})``, the largest entry's ``e^0 = 1`` taken
    out of the sum: accurate to the last digit also where the rest is tiny (a loss of 1e-40, whose
    ``log(1 + 1e-40)`` rounds to 0). So that the derivative stays the softmax's, ``m_a`` is not a
    constant here (as the shift of :func:`logsumexp_parts` is): it is that entry itself, picked by
    a one-hot mask of the row's *first* largest entry, the one left out of the sum (a tie, between
    duplicate rows, stays in the sum at ``e^0``). A batch of one row (no ``k``) gets ``(s_aa, 0)``,
    finite, for the caller to mask out."""
    n = sim.shape[0]
    shut = xp.where(self_pair, xp.full_like(sim, -math.inf), sim)  # n = 1: all -inf, top the diagonal, R = 0
    cols = xp.arange(n, device=device(sim))
    top = xp.expand_dims(xp.argmax(stop_gradient(shut), axis=1), axis=1) == xp.expand_dims(cols, axis=0)
    zero = xp.zeros_like(sim)
    m = xp.sum(xp.where(top, sim, zero), axis=1, keepdims=True)  # the largest s_ak, k != a, differentiable
    # each term <= 1; from shut, not sim: the diagonal is exp(-inf) = 0 with a zero derivative, where
    # exp(s_aa - m) may overflow (up to e^{2/T}), and its zeroed derivative would be 0 * inf = NaN
    rest = xp.where(top, zero, xp.exp(shut - m))
    # log(1 + R), R = sum_k e^{s_ak - m}: d/dm = 1/(1 + R) with m's own 1, the top entry's softmax
    return m, xp.log1p(xp.sum(rest, axis=1, keepdims=True))


# ---- triplet margin loss with a distance function (torch.nn.TripletMarginWithDistanceLoss) ----


def triplet_margin_with_distance_loss(
    pred: Array,
    positive: Array,
    negative: Array,
    sample_weight: Any = None,
    *,
    distance_function: Any = None,
    margin: float = 1.0,
    swap: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``max(0, d(a, pos) - d(a, neg) + margin)`` with ``d`` any distance function (default: the
    Euclidean ``pairwise_distance``, ``eps=1e-6``), as ``torch.nn.functional.triplet_margin_with_distance_loss``.
    See :class:`losskit.TripletMarginWithDistanceLoss`.

    Under ``torch.compile`` this function is one graph node (as every function here), and a
    Python function among a graph node's arguments is not supported by every torch version
    (2.13 accepts a lambda): with a ``distance_function`` there, the class is the supported route,
    which traces through the computation and the distance function."""
    if distance_function is None and _plain_triplet(sample_weight, weight, batch_axis, margin, swap):
        # the common call, as triplet_margin_loss's; torch's default distance: eps=1e-6
        loss = _fast.torch_triplet_rows(pred, positive, negative, margin, 1e-6)
        if loss is not None:
            return loss
    return triplet_margin_with_distance_traced(
        pred,
        positive,
        negative,
        sample_weight,
        distance_function=distance_function,
        margin=margin,
        swap=swap,
        weight=weight,
        batch_axis=batch_axis,
    )


def triplet_margin_with_distance_traced(
    pred: Array,
    positive: Array,
    negative: Array,
    sample_weight: Any = None,
    *,
    distance_function: Any = None,
    margin: float = 1.0,
    swap: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """:func:`triplet_margin_with_distance_loss`, not a ``torch.compile`` graph node (not in
    ``__all__``): Dynamo traces through it, and through a ``distance_function`` it is given."""
    check_distance_function(distance_function)
    margin = check_number(margin, "margin", array_ok=True)  # any real (torch refuses margin <= 0)
    check_flag(swap, "swap")
    xp = namespace(pred, positive, negative, sample_weight, *arrays_in(margin), names=("pred", "positive", "negative"))
    shape = tuple(pred.shape)
    anchor, pos, neg, out_dtype = _triplet_vectors(xp, pred, positive, negative)
    check_weight(weight)
    if distance_function is None:
        triplets = shape[:-1]  # the default distance takes the last axis, as TripletMarginLoss's
        b_axis = _item_batch_axis(batch_axis, triplets, "triplet", "the distances of pred, shape {}", shape)
        sample_weight = check_sample_weight(xp, sample_weight, triplets or (1,))

        def distance(x: Array, y: Array) -> Array:
            return euclidean_distance(xp, x, y, 1e-6)  # torch's default: pairwise_distance, eps=1e-6

    else:
        # the distances' shape is known once the function has run: batch_axis and sample_weight are
        # checked against the first distances, before the loss is formed
        triplets = None

        def distance(x: Array, y: Array) -> Array:
            return _checked_distances(xp, distance_function(x, y), shape, anchor.dtype, triplets)

    d_pos = distance(anchor, pos)
    if triplets is None:
        triplets = tuple(d_pos.shape)
        b_axis = _item_batch_axis(batch_axis, triplets, "triplet", "the distances of pred, shape {}", shape)
        sample_weight = check_sample_weight(xp, sample_weight, triplets or (1,))
    d_neg = distance(anchor, neg)
    if swap:
        # the nearer of the negative's distances to the anchor and to the positive (torch's minimum:
        # at a tie each gets half the derivative, on torch and JAX alike)
        d_neg = xp.minimum(d_neg, distance(pos, neg))
    # torch's order of the sums; torch's clamp_min: the derivative passes at the kink (a loss of 0)
    loss = clamp_min(xp, margin + d_pos - d_neg, 0.0)
    if not triplets:
        loss = xp.reshape(loss, (1,))  # one unbatched triplet: one example, as torch's 0-d value
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def check_distance_function(distance_function: Any) -> Any:
    """``None`` (the default distance) or a callable; else a ``TypeError`` naming what was given."""
    if distance_function is not None and not callable(distance_function):
        raise TypeError(
            "distance_function must be a callable (x1, x2) -> distances, one per triplet, or None for the "
            f"Euclidean pairwise distance; got {type(distance_function).__name__}: {distance_function!r:.60}"
        )
    return distance_function


def _item_batch_axis(batch_axis: Any, items: tuple[int, ...], item: str, origin: str, shape: tuple[int, ...]) -> int:
    """``batch_axis`` as an axis of the shape ``items`` of the triplets or pairs (one loss per
    ``item``); ``ValueError`` naming that shape and where it comes from, ``origin`` with ``shape``
    in it (formatted on the error's path only: a call's overhead)."""
    try:
        return check_batch_axis(batch_axis, max(len(items), 1))
    except ValueError:  # said of the items: "an input with 1 axes" misled for 2-D inputs
        raise ValueError(
            f"batch_axis={batch_axis} is out of range for the {item}s, shape {items} ({origin.format(shape)}): "
            f"the loss has one value per {item}"
        ) from None


def _checked_distances(xp: Any, d: Any, shape: tuple[int, ...], dtype: Any, expected: tuple[int, ...] | None) -> Array:
    """The result of a user's distance function: an array of the inputs' library, real floating
    (cast to the inputs' compute dtype), one distance per triplet. Its shape is ``pred``'s without
    its last axis (``(N,)`` for ``(N, D)`` inputs) or, for inputs of more axes, any leading part of
    ``pred``'s shape short of all of it (a distance of images ``(N, C, H, W)`` may give ``(N,)``);
    ``()`` only for one unbatched triplet (1-D inputs). Every call must give the shape of the first
    (``expected``). A ``TypeError`` or ``ValueError`` names what the function returned."""
    if isinstance(d, np.generic):  # what NumPy's reductions give for one unbatched triplet: 0-d
        d = np.asarray(d)
    if not hasattr(d, "shape") or not hasattr(d, "dtype") or isinstance(d, (int, float)):
        raise TypeError(
            "distance_function must return an array of the inputs' library, one distance per triplet; "
            f"it returned {type(d).__name__}: {d!r:.60}"
        )
    try:
        same = namespace(d) is xp
    except TypeError:
        same = False
    if not same:
        library = getattr(xp, "__name__", "the inputs'").replace("array_api_compat.", "")
        raise TypeError(
            f"distance_function must return an array of the inputs' library ({library}), one distance per "
            f"triplet; it returned a {type(d).__module__}.{type(d).__qualname__} of shape {tuple(d.shape)}"
        )
    got = tuple(d.shape)
    n_axes = len(shape)
    fits = got == () if n_axes == 1 else (1 <= len(got) < n_axes and got == shape[: len(got)])
    if not fits or (expected is not None and got != expected):
        want = expected if expected is not None else shape[:-1]
        also = ", or a leading part of it with the batch axis" if n_axes > 2 and expected is None else ""
        again = "; the same shape for every pair of inputs it is given" if expected is not None else ""
        raise ValueError(
            f"distance_function returned distances of shape {got} for inputs of shape {shape}: it must return "
            f"one distance per triplet, shape {want} (the inputs' shape without the last, vector axis{also}){again}"
        )
    if not is_floating(xp, d):
        raise TypeError(f"distance_function must return real floating-point distances, got dtype {d.dtype}")
    return d if d.dtype == dtype else xp.astype(d, dtype)  # the compute dtype of the inputs
