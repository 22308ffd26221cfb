"""Classification losses: functional forms. The classes in :mod:`losskit.losses.classification`
document them (formula, shapes, stability)."""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

from .. import _fast
from .._array import (
    LOG_ZERO,
    Array,
    broadcasts_to,
    clamp_min,
    device,
    dtype_kind,
    is_traced,
    kl_terms,
    log1m_softmax,
    log1m_softmax_at,
    log_sigmoid,
    log_softmax,
    logsumexp,
    logsumexp_parts,
    namespace,
    positions,
    relu,
    relu_for_output,
    safe_log,
    sigmoid,
    size,
    softplus,
    stop_gradient,
    take_along_axis,
    xlogx,
)
from .._compile import torch_tracing
from .._core import (
    arrays_in,
    as_array,
    as_index,
    as_number,
    check_axis,
    check_batch_axis,
    check_class_count,
    check_class_vector,
    check_flag,
    check_has_classes,
    check_ignore_index,
    check_labels_in_range,
    check_number,
    check_probabilities,
    check_ranges,
    check_reduction,
    check_sample_weight,
    check_weight,
    class_vector,
    finish,
    float_input,
    index_dtype,
    is_concrete,
    is_finite,
    is_real,
    kernel_checks_range,
    like,
    numpy_number,
    promoted_input,
    range_checked_by_kernel,
    reduce_all,
    value_checks_on,
    without_ignored,
)
from ._pointwise import pointwise

# torch's nll_loss and cross_entropy always skip the labels equal to their ignore_index; without
# one, losskit gives them a value that no label holds in practice: not torch's default -100 (with
# the value checks off a label of -100 fails as out of range instead of being skipped), nor
# int64's minimum or maximum, which invalid float-to-integer casts give (NaN, inf: -2**63 on x86,
# +-(2**63 - 1) or -2**63 on ARM) and which the CPU kernels, checking the labels themselves, must refuse
_NO_IGNORED_LABEL = -(2**63) + 1

# log(p + eps) on probabilities, as MXNet does; computed in float32 or wider, where 1e-12 is
# representable (float16 inputs are promoted first), so log(0) never happens.
_PROB_EPS = 1e-12


def check_pos_weight(pos_weight: Any, pred: Array) -> None:
    if pos_weight is None or (is_real(pos_weight) and not hasattr(pos_weight, "shape")):
        return
    if not hasattr(pos_weight, "dtype"):  # a bool, a list, ...
        raise TypeError(f"pos_weight must be an array or a number, got {pos_weight!r}")
    if not array_api_compat.array_namespace(pos_weight).isdtype(pos_weight.dtype, ("real floating", "integral")):
        raise TypeError(f"pos_weight must hold real numbers, got dtype {pos_weight.dtype}")
    if hasattr(pred, "shape"):  # (not an array: the namespace check names it)
        if not broadcasts_to(tuple(pos_weight.shape), tuple(pred.shape)):
            raise ValueError(
                f"pos_weight shape {tuple(pos_weight.shape)} does not broadcast to pred shape {tuple(pred.shape)}"
            )


def _like_pred(xp: Any, pos_weight: Any, x: Array) -> Any:
    """``pos_weight`` (None, a number or an array) in the compute dtype of ``x``."""
    if pos_weight is None or is_real(pos_weight):
        return pos_weight
    return xp.astype(pos_weight, x.dtype, copy=False)


def bce_with_logits(xp: Any, x: Array, z: Array, pos_weight: Any = None) -> Array:
    """``-[pw z log(sigmoid(x)) + (1 - z) log(1 - sigmoid(x))]`` elementwise, on logits ``x``."""
    pw = _like_pred(xp, pos_weight, x)
    # = (1 - z) x + w softplus(-x), w = 1 + (pw - 1) z,  as log(1 - sigmoid(x)) = -x - softplus(-x)
    log_weight = 1.0 if pw is None else 1 + (pw - 1) * z
    if _fast.use_torch(x):
        # torch's own binary_cross_entropy_with_logits form, and rounding: a confident right positive
        # (x = 20, z = 1) keeps its softplus(-x) = 2e-9, a negative (x = -20, z = 0) rounds to 0 (see
        # below). One fused pass under inductor, where the two wheres cost 1.15x; eager torch takes
        # the kernel itself
        tail = softplus(xp, -x)
        return (1 - z) * x + (tail if pw is None else log_weight * tail)
    # For x < 0 the same is w softplus(x) - pw z x (softplus(-x) = softplus(x) - x). Each side takes
    # the softplus that is small there, so a confident right answer (x = -20, z = 0) keeps its
    # 2e-9: (1 - z) x + softplus(-x) would be -20 + 20.000000002 (0 in float32), and its gradient
    # too. Each side is the loss itself, smooth, so the gradient is sigmoid(x) - z at 0 as well
    # (no relu or abs, whose subgradients gave -z there in MXNet 1.9.1).
    nonneg = x >= 0
    small = softplus(xp, xp.where(nonneg, -x, x))  # softplus(-|x|)
    return log_weight * small + xp.where(nonneg, (1 - z) * x, -(z if pw is None else pw * z) * x)


def check_label_smoothing(label_smoothing: Any) -> Any:
    """A binary label smoothing in [0, 1], as a float (or as it is if symbolic, see :func:`as_number`)."""
    return as_number(check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0))


def smooth_binary_label(z: Array, eps: Any) -> Array:
    """Keras's binary label smoothing: ``z (1 - eps) + eps / 2``, towards 1/2 (a new array; ``z`` is
    left alone). An explicit ``eps != 0``, not ``bool(eps)``: under torch.compile a symbolic
    ``eps`` then becomes a guard on its sign, not on its value (one graph for every eps > 0)."""
    return z * (1 - eps) + 0.5 * eps if eps != 0 else z


def sigmoid_binary_cross_entropy(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    pos_weight: Any = None,
    *,
    from_sigmoid: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
    label_smoothing: float = 0.0,
) -> Array:
    """Binary cross-entropy on logits (or probabilities). See :class:`losskit.SigmoidBCELoss`."""
    check_flag(from_sigmoid, "from_sigmoid")
    check_pos_weight(pos_weight, pred)
    eps = check_label_smoothing(label_smoothing)

    def formula(xp: Any, x: Array, z: Array) -> Array:
        z = smooth_binary_label(z, eps)
        if not from_sigmoid:
            return bce_with_logits(xp, x, z, pos_weight)
        check_probabilities(xp, x, "pred", "from_sigmoid=True takes probabilities (logits: from_sigmoid=False)")
        pw = _like_pred(xp, pos_weight, x)
        pos = xp.log(x + _PROB_EPS) * z
        if pw is not None:
            pos = pos * pw
        # clamp_min blocks XLA's rewrite of (1 - x) + eps into (1 + eps) - x, which is 1 - x in
        # float32 (log(0) at x = 1 under jax.jit); it changes nothing for x <= 1 (and gives
        # log(eps), not NaN, for an x > 1 that the value check did not see: traced or checks off)
        return -(pos + xp.log(clamp_min(xp, 1.0 - x, 0.0) + _PROB_EPS) * (1.0 - z))

    def fast(x: Array, z: Array) -> Array:
        # the smoothed label is an ordinary soft label to torch's op (as to the formula)
        return _fast.torch_bce_with_logits(x, smooth_binary_label(z, eps), pos_weight)

    use = None if from_sigmoid or not _fast.bce_applies(pos_weight) else fast
    return pointwise(
        formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, extra=(pos_weight,), fast=use
    )


def logistic_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    label_format: str = "signed",
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``log(1 + exp(-pred * label))`` for labels in {-1, 1} (or {0, 1}). See :class:`losskit.LogisticLoss`."""
    check_label_format(label_format)

    def formula(xp: Any, x: Array, z: Array) -> Array:
        if label_format == "signed":
            z = (z + 1.0) / 2.0  # {-1, 1} -> {0, 1}
        if _fast.use_torch(x):
            # torch.compile's graph (eager torch takes the kernel below): softplus(x) - x z. The
            # kernel's form, (1 - z) x + softplus(-x), takes 1.05x its time under inductor (256 x
            # 4096, a CPU core); it keeps a confident right positive's 2e-9, which this rounds to 0
            return softplus(xp, x) - x * z
        return bce_with_logits(xp, x, z)  # = log(1 + exp(-x)) for z=1, log(1 + exp(x)) for z=0

    def fast(x: Array, z: Array) -> Array:
        return _fast.torch_logistic(x, z, label_format)

    # eager, torch's fused binary_cross_entropy_with_logits is one kernel each way; inductor
    # compiles the formula (a fused softplus) into less than that op's decomposition (5.0 against
    # 5.5 ms, 256x4096 fwd + bwd on a CPU core), so a compiled graph gets the formula
    compiled = torch_tracing()
    return pointwise(
        formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, fast=None if compiled else fast
    )


def check_label_format(label_format: str) -> None:
    if label_format not in ("signed", "binary"):
        raise ValueError(f"label_format must be 'signed' or 'binary', got {label_format!r}")


def hinge_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``max(0, margin - pred * label)``. See :class:`losskit.HingeLoss`."""
    margin = check_number(margin, "margin", array_ok=True)  # any real, as Gluon
    return pointwise(
        # -(a - m), not m - a (the same float): a dynamic margin stays symbolic under torch.compile
        lambda xp, x, z: relu(xp, -(x * z - margin)),
        pred,
        label,
        sample_weight,
        weight=weight,
        batch_axis=batch_axis,
        extra=(margin,),
    )


def squared_hinge_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``max(0, margin - pred * label)**2``. See :class:`losskit.SquaredHingeLoss`."""
    margin = check_number(margin, "margin", array_ok=True)  # any real, as Gluon
    return pointwise(
        lambda xp, x, z: xp.square(relu(xp, -(x * z - margin))),  # -(a - m): see hinge_loss
        pred,
        label,
        sample_weight,
        weight=weight,
        batch_axis=batch_axis,
        extra=(margin,),
    )


def sparse_label_indices(
    xp: Any,
    label: Array,
    pred: Array,
    axis: int,
    also: tuple[Any, ...] = (),
    check: bool = True,
    pred_name: str = "pred",
) -> Array:
    """Check a sparse label against ``pred`` and return it as indices with ``pred``'s rank.

    ``label`` has ``pred``'s shape without ``axis`` (or with ``axis`` of size 1); its values must
    be whole numbers in ``[0, C)``. ``also``: more checks of :func:`check_ranges`, read with it.
    ``check=False``: the values are left to a kernel that checks them (:func:`kernel_checks_range`).
    """
    return sparse_target(xp, label, pred, axis, also=also, check=check, pred_name=pred_name)[0]


#: The dtype kinds that hold real numbers (class indices given as floats are whole numbers).
_REAL_KINDS = ("integral", "real floating")


def class_indices(
    xp: Any,
    label: Array,
    pred: Array,
    axis: int,
    ignore_index: int | None = None,
    also: tuple[Any, ...] = (),
    check: bool = True,
    pred_name: str = "pred",
) -> Array:
    """A sparse ``label`` checked against ``pred`` (called ``pred_name`` in the message), as
    indices with ``pred``'s shape without ``axis``.

    ``label`` has that shape, or ``pred``'s with ``axis`` of size 1; its values must be whole
    numbers in ``[0, C)`` or ``ignore_index``, which is kept as it is. ``also``: more checks of
    :func:`check_ranges`, whose values reach the host with the label's (one synchronisation).
    ``check=False``: the shape and dtype are checked, the values left to a kernel that checks
    them (:func:`kernel_checks_range`).
    """
    shape = tuple(pred.shape)
    reduced = shape[:axis] + shape[axis + 1 :]
    keep = shape[:axis] + (1,) + shape[axis + 1 :]
    if tuple(label.shape) not in (reduced, keep):
        raise ValueError(
            f"sparse label shape {tuple(label.shape)} does not match {pred_name} shape {shape}: expected "
            f"{reduced} ({pred_name}'s shape without the class axis {axis})"
        )
    if dtype_kind(xp, label.dtype) not in _REAL_KINDS:
        raise TypeError(f"sparse label must hold class indices (integers), got dtype {label.dtype}")
    if label.ndim != len(reduced):
        label = xp.reshape(label, reduced)
    # ignored labels are checked as class 0, so that -100 is not refused
    if check:
        checked = label if ignore_index is None else without_ignored(xp, label, ignore_index)
        check_ranges(xp, (checked, 0, shape[axis], "label", "class indices"), *also)
    elif also:
        check_ranges(xp, *also)
    return as_index(xp, label)


def sparse_target(
    xp: Any,
    label: Array,
    pred: Array,
    axis: int,
    ignore_index: int | None = None,
    also: tuple[Any, ...] = (),
    check: bool = True,
    pred_name: str = "pred",
) -> tuple[Array, Any]:
    """:func:`class_indices` with ``pred``'s rank (``axis`` of size 1, for ``take_along_axis``), and
    the mask of the positions whose label is not ``ignore_index`` (``None`` without one). Ignored
    labels are replaced by class 0, so that the gather stays in range; callers mask them after.
    """
    index = class_indices(xp, label, pred, axis, ignore_index, also, check, pred_name)
    valid = None
    if ignore_index is not None:
        ignored = index == ignore_index
        valid = xp.expand_dims(xp.logical_not(ignored), axis=axis)
        index = xp.where(ignored, xp.zeros_like(index), index)  # any valid class; masked out after the gather
    return xp.expand_dims(index, axis=axis), valid


def _class_shape(ndim: int, axis: int, n: int) -> tuple[int, ...]:
    """The shape that lays a ``(C,)`` vector along ``axis`` of an ``ndim``-axis array."""
    return tuple(n if i == axis else 1 for i in range(ndim))


def zero_log_zero(xp: Any, logp: Array, target: Array) -> Array:
    """``logp`` with 0 where it is ``-inf`` (a logit of ``-inf``: a masked class) and ``target`` is 0,
    so that ``target * logp`` is ``0 log 0 = 0`` there, not ``0 * -inf = NaN`` (optax's
    ``safe_softmax_cross_entropy``); the where also keeps the NaN out of the gradients (the
    label's is 0 there). A target above 0 at such a class keeps its infinite loss."""
    masked = xp.logical_and(target == 0, logp == -math.inf)
    return xp.where(masked, xp.zeros_like(logp), logp)


def check_ignore_option(ignore_index: Any, sparse_label: bool) -> None:
    """``ignore_index``: None, or an int (:func:`check_ignore_index`) with sparse labels."""
    check_ignore_index(ignore_index)
    if ignore_index is not None and not sparse_label:
        raise ValueError(
            "ignore_index needs sparse labels (class indices); with sparse_label=False the label is a "
            "distribution: give ignored positions sample_weight 0 instead"
        )


def reduce_targets(
    xp: Any,
    loss: Array,
    valid: Any,
    reduction: str,
    out_dtype: Any,
    weight: Any,
    sample_weight: Any,
    batch_axis: int,
    denominator: Any = None,
) -> Array:
    """A per-position loss (the class axis of size 1) with the targets not ``valid`` (ignored) set
    to 0, reduced as the class-index losses reduce: ``'none'``, one value per example (an ignored
    target counts as 0 in its mean); ``'sum'``; ``'mean'``, the sum divided by ``denominator``
    when given (cross-entropy's class weights), else by the count of targets not ignored (of
    positions, without ``valid``); 0, with a zero gradient, when that is 0."""
    if valid is not None:
        loss = xp.where(valid, loss, xp.zeros_like(loss))  # where, not *: no gradient reaches them
    if reduction == "none":
        return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=batch_axis)
    count = denominator
    if count is None and valid is not None and reduction == "mean":
        count = xp.sum(xp.astype(valid, loss.dtype))
    total = reduce_all(
        xp,
        loss,
        out_dtype=loss.dtype,
        reduction=reduction,
        weight=weight,
        sample_weight=sample_weight,
        denominator=count,
    )
    return as_array(xp, xp.astype(total, out_dtype, copy=False))


def check_ce_options(
    *, sparse_label: bool, ignore_index: Any, label_smoothing: Any, z_loss: Any, reduction: str, class_weight: Any
) -> None:
    """The checks of :func:`softmax_cross_entropy`'s options, shared with the class's constructor."""
    check_flag(sparse_label, "sparse_label")
    check_ignore_option(ignore_index, sparse_label)
    check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    check_number(z_loss, "z_loss", low=0.0)
    check_reduction(reduction)
    check_class_vector(class_weight, "class_weight")


def softmax_cross_entropy(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    axis: int = -1,
    sparse_label: bool = True,
    from_logits: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    z_loss: float = 0.0,
    reduction: str = "none",
) -> Array:
    """Softmax cross-entropy of logits (of log-probabilities, taken as they are, when ``from_logits``, Gluon's
    name). See :class:`losskit.SoftmaxCELoss` for the formula, the arguments and the shapes."""
    if _plain_call(sample_weight, class_weight, weight, reduction, batch_axis, ignore_index, label_smoothing, z_loss):
        # (N, C) and (N,) on the CPU with no option: the general path's op at once (as nll_loss)
        if sparse_label is True and from_logits is False and type(axis) is int and axis in (-1, 1):
            loss = _fast.torch_class_rows(pred, label, _fast.torch_sparse_softmax_ce, 1, False, _NO_IGNORED_LABEL)
            if loss is not None:
                return loss
    check_flag(from_logits, "from_logits")
    check_ce_options(
        sparse_label=sparse_label,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        z_loss=z_loss,
        reduction=reduction,
        class_weight=class_weight,
    )
    xp = namespace(pred, label, sample_weight, *arrays_in(class_weight), names=("pred", "label"))
    pred_c = float_input(xp, pred, "pred")
    cls = check_axis(axis, pred.ndim)
    check_has_classes(tuple(pred.shape), cls)
    b_axis = check_batch_axis(batch_axis, pred.ndim, cls)
    check_weight(weight)
    loss_shape = tuple(pred.shape[:cls]) + (1,) + tuple(pred.shape[cls + 1 :])
    sample_weight = check_sample_weight(xp, sample_weight, loss_shape)
    n = pred.shape[cls]
    w = None if class_weight is None else class_vector(xp, class_weight, n, pred_c, "class_weight")
    w_c = None if w is None else xp.reshape(w, _class_shape(pred.ndim, cls, n))  # w along the class axis
    # explicit comparisons with 0, not truth values: under torch.compile with a dynamic number, a
    # comparison becomes a guard on its sign, bool() a guard on its value (a recompile per value)
    eps = as_number(label_smoothing)
    # torch's fused cross_entropy / nll_loss; with label smoothing of logits (no class weights:
    # torch's 'mean' then divides differently) the same formula as torch's label_smoothing
    smooth_fast = eps == 0 or (w is None and not from_logits and isinstance(eps, float))
    fast = sparse_label and smooth_fast and _fast.use_torch(pred_c)
    if fast and w is None and z_loss == 0 and reduction == "none" and b_axis != cls:
        # the common case whole in torch's op, ignore_index included; the loss never gets the
        # class axis back, which spares two view ops in the autograd graph (~30 us a call on a CPU)
        by_kernel = kernel_checks_range(label)  # torch's CPU kernel checks the labels as it reads them
        target = class_indices(xp, label, pred, cls, ignore_index, check=not by_kernel)
        ignored = _NO_IGNORED_LABEL if ignore_index is None else ignore_index

        def compute() -> Array:
            return _fast.torch_sparse_softmax_ce(pred_c, target, cls, from_logits, ignored, eps)

        def check() -> None:  # on the error's path only
            class_indices(xp, label, pred, cls, ignore_index)

        loss = range_checked_by_kernel(compute, check) if by_kernel else compute()
        if getattr(sample_weight, "ndim", 0) == pred.ndim:
            sample_weight = xp.squeeze(sample_weight, axis=cls)  # of size 1 there (checked above)
        b_reduced = b_axis - 1 if b_axis > cls else b_axis
        return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_reduced)
    valid = w_y = None
    if sparse_label:
        index, valid = sparse_target(xp, label, pred, cls, ignore_index)
    else:
        soft = like(xp, label, pred_c, "label")
    # logsumexp(x) = m + log_sum, kept apart: x - m before - log_sum (see logsumexp_parts)
    m, log_sum = (None, None) if from_logits or fast or not sparse_label else logsumexp_parts(xp, pred_c, axis=cls)
    if sparse_label:
        if fast:
            target = xp.squeeze(index, axis=cls)  # ignored labels are class 0 here, masked below
            per_target = _fast.torch_sparse_softmax_ce(pred_c, target, cls, from_logits, label_smoothing=eps)
            loss = xp.expand_dims(per_target, axis=cls)
        else:
            picked = take_along_axis(xp, pred_c, index, axis=cls)
            # -log softmax(x)[y] = logsumexp(x) - x[y]: one pass, no (N, C) log-probability array kept
            loss = -picked if from_logits else (m - picked) + log_sum
        if w is not None:
            w_y = xp.reshape(xp.take(w, xp.reshape(index, (-1,))), tuple(index.shape))
            loss = w_y * loss
        if eps != 0 and not fast:  # (the fast path's torch op smoothed already)
            logp = pred_c if from_logits else (pred_c - m) - log_sum  # log_softmax(x)
            smooth = -xp.sum(logp if w_c is None else logp * w_c, axis=cls, keepdims=True)
            # torch's label smoothing: (1 - eps) * w_y * (-log p_y) + eps / C * sum_c w_c * (-log p_c)
            loss = (1 - eps) * loss + (eps / n) * smooth
    else:
        if eps != 0:
            soft = soft * (1 - eps) + eps / n  # a smoothed distribution, as torch smooths soft targets
        if w_c is not None:
            soft = soft * w_c
        logp = pred_c if from_logits else log_softmax(xp, pred_c, axis=cls)  # torch's keeps one array
        loss = -xp.sum(zero_log_zero(xp, logp, soft) * soft, axis=cls, keepdims=True)
    z_term = None
    if z_loss != 0:
        lse = logsumexp(xp, pred_c, axis=cls, keepdims=True) if m is None else m + log_sum
        z_term = as_number(z_loss) * xp.square(lse)  # PaLM's z-loss: pushes log Z towards 0
        if reduction != "mean" or w_y is None:  # one per-position loss, one denominator
            loss, z_term = loss + z_term, None

    if reduction == "none":
        return reduce_targets(xp, loss, valid, reduction, pred.dtype, weight, sample_weight, b_axis)
    weights_kept = None  # 'mean' with class weights divides by torch's sum of w[y] over the targets kept
    if reduction == "mean" and w_y is not None:
        weights_kept = xp.sum(w_y if valid is None else xp.where(valid, w_y, xp.zeros_like(w_y)))
    total = reduce_targets(xp, loss, valid, reduction, loss.dtype, weight, sample_weight, b_axis, weights_kept)
    if z_term is not None:
        # 'mean' with class weights: the z-loss is averaged over the targets not ignored, unweighted
        # (as Liger-Kernel), so that scaling class_weight leaves its strength unchanged
        total = total + reduce_targets(xp, z_term, valid, "mean", loss.dtype, weight, sample_weight, b_axis)
    return as_array(xp, xp.astype(total, pred.dtype, copy=False))


def _plain_call(
    sample_weight: Any,
    class_weight: Any,
    weight: Any,
    reduction: Any,
    batch_axis: Any,
    ignore_index: Any,
    label_smoothing: Any,
    z_loss: Any,
) -> bool:
    """No option of a class loss is set: what :func:`_fast.torch_class_rows` may take at once (the
    types first: ``True == 1`` and a tensor's ``== 0`` pass a comparison, and the checks of the
    general path refuse them)."""
    return (
        sample_weight is None
        and class_weight is None
        and weight is None
        and type(reduction) is str
        and reduction == "none"
        and type(batch_axis) is int
        and batch_axis == 0
        and ignore_index is None
        and type(label_smoothing) in (float, int)
        and label_smoothing == 0
        and type(z_loss) in (float, int)
        and z_loss == 0
    )


def nll_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    axis: int = 1,
    ignore_index: int | None = None,
    class_weight: Any = None,
    reduction: str = "none",
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``-pred[y]`` on log-probabilities, classes along ``axis`` (1, as torch). See :class:`losskit.NLLLoss`."""
    # the common call, (N, C) and (N,) on the CPU with no option: torch's op at once (a test checks
    # it against the general path, which computes it with the same op after its checks)
    if _plain_call(sample_weight, class_weight, weight, reduction, batch_axis, ignore_index, 0.0, 0.0):
        if type(axis) is int and axis == 1:  # (type first: True == 1, which the general path refuses)
            loss = _fast.torch_class_rows(pred, label, _fast.torch_sparse_softmax_ce, 1, True, _NO_IGNORED_LABEL)
            if loss is not None:
                return loss
    return softmax_cross_entropy(
        pred,
        label,
        sample_weight,
        axis=axis,
        sparse_label=True,
        from_logits=True,
        weight=weight,
        batch_axis=batch_axis,
        ignore_index=ignore_index,
        class_weight=class_weight,
        reduction=reduction,
    )


def _class_inputs(
    xp: Any,
    pred: Array,
    label: Array,
    sample_weight: Any,
    axis: int,
    batch_axis: int,
    weight: Any,
    sparse: bool,
    check_labels: bool = True,
    class_axis_kept: bool = True,
    ignore_index: int | None = None,
) -> tuple[Array, int, int, Any, Any]:
    """The checks every softmax loss shares: ``(pred in its compute dtype, class axis, batch axis,
    label, valid)``, the label as indices of ``pred``'s rank (sparse) or a distribution of its
    shape; ``valid``: the mask of the targets not ``ignore_index`` (``None`` without one; ignored
    targets are class 0 in the indices, see :func:`sparse_target`).
    ``check_labels=False``: the indices' values are left to a kernel that checks them;
    ``class_axis_kept=False``: the indices without the class axis (as torch's kernels take them)."""
    check_flag(sparse, "sparse_label")
    pred_c = float_input(xp, pred, "pred")
    cls = check_axis(axis, pred.ndim)
    check_has_classes(tuple(pred.shape), cls)
    b_axis = check_batch_axis(batch_axis, pred.ndim, cls)
    check_weight(weight)
    # checked only: the callers pass their own sample_weight to finish (one weight of fewer axes
    # broadcasts there as it is)
    check_sample_weight(xp, sample_weight, tuple(pred.shape[:cls]) + (1,) + tuple(pred.shape[cls + 1 :]))
    check_ignore_option(ignore_index, sparse)
    valid = None
    if not sparse:
        target = like(xp, label, pred_c, "label")
    elif class_axis_kept:
        target, valid = sparse_target(xp, label, pred, cls, ignore_index, check=check_labels)
    else:
        target = class_indices(xp, label, pred, cls, check=check_labels)
    return pred_c, cls, b_axis, target, valid


def check_focal_alpha(alpha: Any, *, per_class: bool) -> Any:
    """Sigmoid focal: ``None`` or a number in [0, 1] (a negative number means None, torchvision's
    ``alpha=-1``). Softmax focal: ``None``, a non-negative number or a per-class vector."""
    alpha = numpy_number(alpha)
    if alpha is None:
        return None
    if isinstance(alpha, (bool, np.bool_)):  # not a weight of 1 (or 0)
        raise TypeError(f"alpha must be a number{', a per-class vector' if per_class else ''} or None, got {alpha!r}")
    if per_class and not is_real(alpha):
        return check_class_vector(alpha, "alpha")
    if not per_class and is_real(alpha) and alpha < 0:
        if is_concrete(alpha) and not is_finite(alpha):  # -inf is no torchvision -1
            raise ValueError(f"alpha must be a finite number or None, got {alpha!r}")
        return None
    return check_number(alpha, "alpha", low=0.0, high=None if per_class else 1.0)


def log_floored(xp: Any, v: Array) -> Array:
    """``log(max(v, tiny))``, ``tiny`` the dtype's smallest normal number, constant below it to
    every order of differentiation: the log sees 1 there, not ``tiny`` (whose second derivative,
    ``-1 / tiny**2``, is -inf: times the zero tangent of ``maximum``, a NaN Hessian on JAX)."""
    tiny = xp.finfo(v.dtype).smallest_normal
    above = v > tiny
    return xp.where(above, xp.log(xp.where(above, v, xp.ones_like(v))), xp.full_like(v, math.log(tiny)))


def sigmoid_focal_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    pos_weight: Any = None,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    weight: float | None = None,
    batch_axis: int = 0,
    label_smoothing: float = 0.0,
) -> Array:
    """Focal loss of a sigmoid, as ``torchvision.ops.sigmoid_focal_loss``. See :class:`losskit.SigmoidFocalLoss`."""
    alpha = check_focal_alpha(alpha, per_class=False)
    gamma = check_number(gamma, "gamma", low=0.0, array_ok=True)
    check_pos_weight(pos_weight, pred)
    eps = check_label_smoothing(label_smoothing)

    def formula(xp: Any, x: Array, z: Array) -> Array:
        # Keras's binary_focal_crossentropy smooths first: the BCE, p_t and alpha_t all see the smoothed label
        z = smooth_binary_label(z, eps)
        ce = bce_with_logits(xp, x, z, pos_weight)
        # 1 - p_t = z sigmoid(-x) + (1 - z) sigmoid(x): a sum of two non-negative terms (no
        # cancellation, exact for hard labels even where p_t rounds to 1), linear in z, so its
        # gradient in the label is right at z = 0 and 1 too (a log-space sum has log(0) there)
        one_m_pt = z * sigmoid(xp, -x) + (1 - z) * sigmoid(xp, x)
        # floored at the smallest normal number: the log never meets 0 (where 1 - p_t underflows, so
        # does ce, and the loss is 0 either way)
        log_1m_pt = log_floored(xp, one_m_pt)
        loss = xp.exp(gamma * log_1m_pt) * ce  # (1 - p_t)^gamma = exp(gamma log(1 - p_t)): finite gradient
        if alpha is not None:
            loss = (alpha * z + (1 - alpha) * (1 - z)) * loss
        return loss

    return pointwise(
        formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, extra=(pos_weight, gamma)
    )


def check_asl_options(gamma_pos: Any, gamma_neg: Any, clip: Any, detach_focal_weight: Any) -> tuple[Any, Any, Any]:
    """The checks of :func:`asymmetric_loss`'s options, shared with the class's constructor: the
    two gammas >= 0, ``clip`` in [0, 1) (``None``, the authors' "off", is 0), a bool flag."""
    gamma_pos = check_number(gamma_pos, "gamma_pos", low=0.0)
    gamma_neg = check_number(gamma_neg, "gamma_neg", low=0.0)
    clip = 0.0 if clip is None else check_number(clip, "clip", low=0.0, high=1.0, high_open=True)
    check_flag(detach_focal_weight, "detach_focal_weight")
    return gamma_pos, gamma_neg, clip


def asymmetric_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float | None = 0.05,
    detach_focal_weight: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Asymmetric loss (ASL, Ridnik et al., 2021) of multi-label logits. See :class:`losskit.AsymmetricLoss`."""
    gamma_pos, gamma_neg, clip = check_asl_options(gamma_pos, gamma_neg, clip, detach_focal_weight)
    gp, gn, m = as_number(gamma_pos), as_number(gamma_neg), as_number(clip)

    def formula(xp: Any, x: Array, z: Array) -> Array:
        log_p = log_sigmoid(xp, x)  # log p = log sigmoid(x) = -softplus(-x)
        log_q = log_sigmoid(xp, -x)  # log(1 - p) = log sigmoid(-x) = -softplus(x)
        if m != 0:
            # probability shifting: p_m = max(p - m, 0), so 1 - p_m = min(sigmoid(-x) + m, 1): a sum
            # of two positive terms (no cancellation, and >= m: its log is finite), its log capped at 0
            # by -relu(-log(.)), whose derivative is 0 where p <= m (the authors' clamp(max=1))
            log_1m_pm = -relu(xp, -xp.log(xp.exp(log_q) + m))
            p_m = relu(xp, xp.exp(log_p) - m)
        else:
            log_1m_pm, p_m = log_q, xp.exp(log_p)
        ce = -(z * log_p + (1 - z) * log_1m_pm)
        if gp == 0 and gn == 0:
            return ce
        # the focusing weight (1 - p_t)^gamma_t, p_t = z p + (1 - z)(1 - p_m) and gamma_t = gamma_pos z +
        # gamma_neg (1 - z), as the authors' (soft labels too): 1 - p_t = z sigmoid(-x) + (1 - z) p_m, a sum
        # of two non-negative terms, floored at the smallest normal number before its log, and the
        # power as exp(gamma_t log(1 - p_t)), as in sigmoid_focal_loss (finite gradient at 1 - p_t = 0)
        one_m_pt = z * xp.exp(log_q) + (1 - z) * p_m
        log_1m_pt = log_floored(xp, one_m_pt)
        focal = xp.exp((gp * z + gn * (1 - z)) * log_1m_pt)
        if detach_focal_weight:  # the authors' disable_torch_grad_focal_loss: a constant weight to autograd
            focal = stop_gradient(focal)
        return focal * ce

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis)


def softmax_focal_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    gamma: float = 2.0,
    alpha: Any = None,
    axis: int = -1,
    sparse_label: bool = True,
    weight: float | None = None,
    batch_axis: int = 0,
    ignore_index: int | None = None,
    reduction: str = "none",
) -> Array:
    """``-alpha_y (1 - p_y)^gamma log p_y`` over a softmax. See :class:`losskit.SoftmaxFocalLoss`."""
    alpha = check_focal_alpha(alpha, per_class=True)
    gamma = check_number(gamma, "gamma", low=0.0, array_ok=True)
    check_reduction(reduction)
    xp = namespace(pred, label, sample_weight, *arrays_in(alpha, gamma), names=("pred", "label"))
    x, cls, b_axis, target, valid = _class_inputs(
        xp, pred, label, sample_weight, axis, batch_axis, weight, sparse_label, ignore_index=ignore_index
    )
    n = pred.shape[cls]
    alpha_c = None
    if alpha is not None and not is_real(alpha):
        alpha_c = xp.reshape(class_vector(xp, alpha, n, x, "alpha"), _class_shape(x.ndim, cls, n))
    if sparse_label:
        # the target's log p and log(1 - p) alone (exact where p rounds to 1), gathered before any
        # product: a masked class (logit -inf, log p = -inf) must not enter one, whose backward
        # would form 0 * inf = NaN for every class
        m, log_sum = logsumexp_parts(xp, x, axis=cls)
        logp = (take_along_axis(xp, x, target, axis=cls) - m) - log_sum
        log1m_p = log1m_softmax_at(xp, x, target, logp, m, log_sum, axis=cls)
        if valid is not None:  # an ignored target reads class 0, whose log p may be -inf (masked):
            # 0 before the product, or its zero gradient would meet inf there (0 * inf = NaN)
            logp, log1m_p = xp.where(valid, logp, 0.0), xp.where(valid, log1m_p, 0.0)
        if alpha_c is not None:
            alpha_c = xp.reshape(xp.take(xp.reshape(alpha_c, (n,)), xp.reshape(target, (-1,))), tuple(target.shape))
    else:
        # a masked class (logit -inf) with target 0 adds 0, as in CE
        logp = zero_log_zero(xp, log_softmax(xp, x, axis=cls), target)
        log1m_p = log1m_softmax(xp, x, axis=cls)  # log(1 - p), exact where p rounds to 1
    # (1 - p)^gamma = exp(gamma * log(1 - p)): a finite gradient also where p rounds to 1
    term = -xp.exp(gamma * log1m_p) * logp
    if is_real(alpha):
        term = alpha * term
    elif alpha_c is not None:
        term = alpha_c * term
    loss = term if sparse_label else xp.sum(term * target, axis=cls, keepdims=True)
    return reduce_targets(xp, loss, valid, reduction, pred.dtype, weight, sample_weight, b_axis)


def poly_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    epsilon: float = 1.0,
    axis: int = -1,
    sparse_label: bool = True,
    weight: float | None = None,
    batch_axis: int = 0,
    ignore_index: int | None = None,
    reduction: str = "none",
) -> Array:
    """Poly-1: cross-entropy ``+ epsilon * (1 - p_t)``. See :class:`losskit.PolyLoss`."""
    epsilon = check_number(epsilon, "epsilon", array_ok=True)
    check_reduction(reduction)
    xp = namespace(pred, label, sample_weight, *arrays_in(epsilon), names=("pred", "label"))
    x, cls, b_axis, target, valid = _class_inputs(
        xp, pred, label, sample_weight, axis, batch_axis, weight, sparse_label, ignore_index=ignore_index
    )
    logp = log_softmax(xp, x, axis=cls)
    if sparse_label:
        logp_t = take_along_axis(xp, logp, target, axis=cls)
        # 1 - p_t = -expm1(log p_t): exact for p_t near 1, where 1 - exp(log p_t) cancels
        loss = -logp_t + epsilon * -xp.expm1(logp_t)
    else:
        # optax.poly_loss_cross_entropy: sum_c z_c (-log p_c) + epsilon * sum_c z_c (1 - p_c)
        logp = zero_log_zero(xp, logp, target)
        loss = -xp.sum(target * (logp + epsilon * xp.expm1(logp)), axis=cls, keepdims=True)
    return reduce_targets(xp, loss, valid, reduction, pred.dtype, weight, sample_weight, b_axis)


def kl_log_target_terms(xp: Any, log_q: Array, log_p: Array) -> Array:
    """``exp(log_p) (log_p - log_q)`` elementwise, the terms of ``KL(p || q)`` from log-probabilities,
    with 0 where ``log_p = -inf`` (a class of probability 0): torch's and optax's formula gives
    ``0 * -inf = NaN`` there; the where keeps the NaN out of the gradient too."""
    if _fast.use_torch(log_p):
        terms = _fast.torch_kl_log_target(log_q, log_p)  # None where the kernel's NaN could show
        if terms is not None:
            return terms
    impossible = log_p == -math.inf
    return xp.exp(log_p) * xp.where(impossible, xp.zeros_like(log_p), log_p - log_q)


def kl_div(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    from_logits: bool = True,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
    log_target: bool = False,
    generalized: bool = False,
) -> Array:
    """``sum(label * (log(label) - log_prob))`` per example (``+ sum(prob - label)`` when
    ``generalized``). See :class:`losskit.KLDivLoss`."""
    check_flag(from_logits, "from_logits")
    check_flag(log_target, "log_target")
    check_flag(generalized, "generalized")
    xp = namespace(pred, label, sample_weight, names=("pred", "label"))
    pred_c = float_input(xp, pred, "pred")
    cls = check_axis(axis, pred.ndim)
    # the class axis matters only for the log-softmax: on log-probabilities any batch_axis is fine
    b_axis = check_batch_axis(batch_axis, pred.ndim, None if from_logits else cls)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, tuple(pred.shape))
    target = like(xp, label, pred_c, "label")
    logp = pred_c if from_logits else log_softmax(xp, pred_c, axis=cls)
    if log_target:
        loss = kl_log_target_terms(xp, logp, target)
    elif _fast.use_torch(logp) and _fast.kl_div_applies(target):
        loss = _fast.torch_kl_div(logp, target)
    else:
        loss = kl_terms(xp, target, logp)  # label * (log(label) - logp), 0 where label = 0
    if generalized:
        # optax's generalized_kl_divergence, the Bregman divergence of x log x - x: + sum(p - z),
        # 0 for normalised p and z; p = exp(log p), z = exp(log z) for a log-target
        loss = loss + (xp.exp(logp) - (xp.exp(target) if log_target else target))
    return finish(
        xp,
        loss,
        out_dtype=pred.dtype,
        weight=weight,
        sample_weight=sample_weight,
        batch_axis=b_axis,
        reduce="sum",
    )


def soft_margin_loss(
    pred: Array, label: Array, sample_weight: Any = None, *, weight: float | None = None, batch_axis: int = 0
) -> Array:
    """``log(1 + exp(-label * pred))``, averaged per example. See :class:`losskit.SoftMarginLoss`."""
    # log(1 + exp(-z x)) = softplus(-z x): exp never overflows
    return pointwise(
        lambda xp, x, z: softplus(xp, -z * x), pred, label, sample_weight, weight=weight, batch_axis=batch_axis
    )


def multilabel_soft_margin_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    class_weight: Any = None,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Independent sigmoid BCE per class (last axis), averaged per example. See
    :class:`losskit.MultiLabelSoftMarginLoss`."""
    class_weight = check_class_vector(class_weight, "class_weight")
    if hasattr(pred, "shape"):  # (not an array: the namespace check names it)
        if pred.ndim < 1:
            raise ValueError("pred needs a class axis (the last)")
        check_has_classes(tuple(pred.shape), pred.ndim - 1)
        check_class_count(class_weight, pred.shape[-1], "class_weight")
        if pred.ndim == 1:  # one example's classes (torch's unbatched input): one value, (1,) as CE's
            check_batch_axis(batch_axis, 1)
            xp = namespace(pred, label, sample_weight, *arrays_in(class_weight), names=("pred", "label"))
            pred, batch_axis = xp.reshape(pred, (1, pred.shape[0])), 0  # the label follows pred's shape
            if getattr(sample_weight, "ndim", 0) == 1:
                sample_weight = xp.reshape(sample_weight, (1, sample_weight.shape[0]))
        else:  # the classes (last axis) are averaged: a batch_axis there would average the batch
            check_batch_axis(batch_axis, pred.ndim, pred.ndim - 1)

    def formula(xp: Any, x: Array, z: Array) -> Array:
        loss = bce_with_logits(xp, x, z)  # -[z log sigmoid(x) + (1 - z) log sigmoid(-x)]
        if class_weight is not None:
            loss = loss * class_vector(xp, class_weight, x.shape[-1], x, "class_weight")  # along the last axis
        return loss

    return pointwise(
        formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, extra=arrays_in(class_weight)
    )


def multi_margin_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    p: int = 1,
    margin: float = 1.0,
    class_weight: Any = None,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Multi-class hinge: ``sum_{c != y} max(0, margin - x_y + x_c)^p / C``. See :class:`losskit.MultiMarginLoss`."""
    # the common call, (N, C) and (N,) on the CPU with no option: the general path's op at once (as nll_loss)
    if (
        _plain_call(sample_weight, class_weight, weight, "none", batch_axis, None, 0.0, 0.0)
        and type(p) is int
        and p in (1, 2)
        and type(margin) is float
        and 0.0 <= margin < math.inf  # (NaN fails it: the general path refuses it)
        and type(axis) is int
        and axis in (-1, 1)
    ):
        loss = _fast.torch_class_rows(pred, label, _fast.torch_multi_margin, p, margin, None)
        if loss is not None:
            return loss
    margin = check_multi_margin(p, margin)
    check_class_vector(class_weight, "class_weight")
    xp = namespace(pred, label, sample_weight, *arrays_in(class_weight, margin), names=("pred", "label"))
    # torch's multi_margin_loss (N, C): the same sum, w[y] after the power, 0 gradient at a kink;
    # it takes margin as a concrete float (a dynamic one, under torch.compile, takes the formula)
    # and no gradient for its weight (a learnt class weight takes the formula)
    fast = (
        _fast.use_torch(pred)
        and pred.ndim == 2
        and pred.shape[1] > 1  # one class: the loss is 0 whatever the logit (no rival), NaN too
        and axis in (1, -1)
        and batch_axis in (0, -2)
        and isinstance(margin, float)
        and not getattr(class_weight, "requires_grad", False)
        and _fast.untransformed()  # the kernel has no forward derivative: torch.func.jvp/hessian take the formula
    )
    by_kernel = fast and kernel_checks_range(label)  # torch's CPU kernel checks the labels as it reads them
    x, cls, b_axis, index, _ = _class_inputs(
        xp, pred, label, sample_weight, axis, batch_axis, weight, True, not by_kernel, class_axis_kept=not fast
    )
    n = pred.shape[cls]
    w = None if class_weight is None else class_vector(xp, class_weight, n, x, "class_weight")
    if fast:

        def compute() -> Array:
            return _fast.torch_multi_margin(x, index, p, margin, w)  # index (N,)

        def check() -> None:  # on the error's path only
            sparse_label_indices(xp, label, pred, cls)

        loss = range_checked_by_kernel(compute, check) if by_kernel else compute()
        if getattr(sample_weight, "ndim", 0) == 2:
            sample_weight = xp.reshape(sample_weight, (sample_weight.shape[0],))  # (N, 1) or (1, 1), checked above
        return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)
    picked = take_along_axis(xp, x, index, axis=cls)
    hinge = relu(xp, -(picked - margin) + x)  # -(a - m) = m - a exactly: see hinge_loss
    if p == 2:
        hinge = xp.square(hinge)
    position = positions(xp, x, cls)
    hinge = xp.where(position == index, xp.zeros_like(hinge), hinge)  # the true class is not its own rival
    loss = xp.sum(hinge, axis=cls, keepdims=True) / n
    if w is not None:
        loss = loss * xp.reshape(xp.take(w, xp.reshape(index, (-1,))), tuple(index.shape))  # as torch: w[y] * ...
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def check_multi_margin(p: Any, margin: Any) -> Any:
    """Check ``p`` and ``margin``; return the margin as :func:`check_number` does."""
    if isinstance(p, (bool, np.bool_)):  # True would be 1
        raise TypeError(f"p must be 1 or 2, got {p!r}")
    if not is_real(p):
        # p picks a formula: a concrete 0-d array is read (as before), a traced one chooses nothing
        if getattr(p, "shape", None) != () or is_traced(p) or dtype_kind(namespace(p), p.dtype) not in _REAL_KINDS:
            raise TypeError(
                f"p must be 1 or 2: a number or a concrete 0-d array (a traced p picks no formula), got {p!r}"
            )
        p = p.item()
    if p not in (1, 2):  # 2.0 too, as torch
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    return check_number(margin, "margin", low=0.0, array_ok=True)


def jsd_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    beta: float = 0.5,
    from_logits: bool = True,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Generalised Jensen-Shannon divergence between ``label`` and ``pred``'s distribution. See
    :class:`losskit.JSDLoss`."""
    check_flag(from_logits, "from_logits")
    beta = check_number(beta, "beta", low=0.0, high=1.0, low_open=True, high_open=True)
    xp = namespace(pred, label, sample_weight, names=("pred", "label"))
    x = float_input(xp, pred, "pred")
    cls = check_axis(axis, pred.ndim)
    b_axis = check_batch_axis(batch_axis, pred.ndim, cls)
    check_weight(weight)
    sample_weight = check_sample_weight(
        xp, sample_weight, tuple(pred.shape[:cls]) + (1,) + tuple(pred.shape[cls + 1 :])
    )
    p = like(xp, label, x, "label")
    log_q = x if from_logits else log_softmax(xp, x, axis=cls)
    # log Q below LOG_ZERO (-inf = log 0 included) is LOG_ZERO: Q (log Q - log M) is then 0, not 0 * -inf
    log_q = xp.maximum(log_q, xp.full_like(log_q, LOG_ZERO))
    log_p = safe_log(xp, p)  # a finite stand-in for log(0) where the label is 0
    q = xp.exp(log_q)
    # M = beta P + (1 - beta) Q, a sum of two non-negative terms (no cancellation), its log a stand-in
    # where both are 0 (fewer operations than a logaddexp of the logs)
    log_m = safe_log(xp, beta * p + (1 - beta) * q)
    # beta KL(P || M) + (1 - beta) KL(Q || M), with P log P taken as 0 where P = 0
    far = beta * (xlogx(xp, p) - p * log_m) + (1 - beta) * q * (log_q - log_m)
    # Near P = Q each class's two terms are O(|log Q - log P|) and cancel to its square: 2 x 10 classes
    # 1e-3 apart lose most of float32's digits. There, with u_P = log M - log P and u_Q = log M - log Q,
    # a class's terms are beta P phi(u_P) + (1 - beta) Q phi(u_Q), phi(u) = expm1(u) - u >= 0: the
    # same value (P phi(u_P) = (M - P) - P u_P, and beta (M - P) + (1 - beta) (M - Q) = 0 in every
    # class), no cancellation but phi's own, as accurate as the rounding of log P and log Q allows.
    # With e = Q / P - 1 = expm1(log Q - log P): expm1(u_P) = M / P - 1 = (1 - beta) e and
    # expm1(u_Q) = M / Q - 1 = -beta e / (1 + e), so one expm1 and two log1p make them.
    gap = log_q - log_p
    # a label of 0 (log P a stand-in far below) is near only where Q is 0 too: both terms 0 there
    near = xp.abs(gap) < 1.0
    e = xp.expm1(xp.clip(gap, -1.0, 1.0))  # clipped where not near: a finite branch, a finite gradient
    rise_p, rise_q = (1 - beta) * e, -beta * e / (1 + e)  # M / P - 1, M / Q - 1; 1 + e = Q / P > exp(-1)
    close = beta * p * (rise_p - xp.log1p(rise_p)) + (1 - beta) * q * (rise_q - xp.log1p(rise_q))
    loss = xp.sum(xp.where(near, close, far), axis=cls, keepdims=True)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def multilabel_margin_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Multi-label hinge: ``sum_{j in targets} sum_{i not a target} max(0, 1 - x_{y_j} + x_i) / C``, the
    targets being the entries of ``label`` before its first -1. See :class:`losskit.MultiLabelMarginLoss`."""
    xp = namespace(pred, label, sample_weight, names=("pred", "label"))
    x = float_input(xp, pred, "pred")
    if pred.ndim < 1:
        raise ValueError("pred needs a class axis: shape (N, C), or (C,) for one example")
    cls = check_axis(axis, pred.ndim)
    b_axis = check_batch_axis(batch_axis, pred.ndim, cls)
    check_weight(weight)
    shape = tuple(pred.shape)
    if tuple(label.shape) != shape:
        raise ValueError(
            f"label shape {tuple(label.shape)} does not match pred shape {shape}: it must have pred's shape, "
            f"class indices along axis {cls} followed by -1 after the last target"
        )
    if dtype_kind(xp, label.dtype) not in ("integral", "real floating"):
        raise TypeError(f"label must hold class indices (integers), got dtype {label.dtype}")
    sample_weight = check_sample_weight(xp, sample_weight, shape[:cls] + (1,) + shape[cls + 1 :])
    n = shape[cls]
    check_has_classes(shape, cls)
    check_labels_in_range(xp, label, -1, n, what="class indices (or -1, which ends the targets)")
    if (
        _fast.use_torch(x)
        and _fast.multilabel_margin_applies(x)
        and x.ndim == 2
        and (cls, b_axis) == (1, 0)
        and not torch_tracing()
        and _fast.untransformed()  # no forward derivative in the kernel: torch.func.jvp/hessian take the formula
    ):
        # torch's multilabel_margin_loss (N, C): the same sum, duplicates and the first -1 included,
        # gradient 0 at a kink, in O(N C) memory; a row with a NaN in a counted pair is NaN. Eager
        # only: the decomposition torch.compile traces (torch 2.13) ignores the -1 that ends the
        # targets, so a compiled graph takes the formula. CPU only: see multilabel_margin_applies
        loss = _fast.torch_multilabel_margin(x, as_index(xp, label))
        if getattr(sample_weight, "ndim", 0) == 2:
            sample_weight = xp.reshape(sample_weight, (sample_weight.shape[0],))  # (N, 1) or (1, 1), checked above
        return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)
    # classes last (permute_dims, not moveaxis, which torch.func.vmap cannot batch)
    order = tuple(i for i in range(pred.ndim) if i != cls) + (cls,)
    x = xp.permute_dims(x, order)
    idx = xp.permute_dims(as_index(xp, label), order)
    if n <= (_PAIRS_UP_TO_COMPILED if array_api_compat.is_jax_array(x) or torch_tracing() else _PAIRS_UP_TO):
        total = _multilabel_margin_pairs(xp, x, idx)
    else:
        total = _multilabel_margin_sum(xp, x, _listed_counts(xp, idx))
    loss = xp.expand_dims(total / n, axis=cls)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


# The formula path of multilabel_margin_loss. Up to a few dozen classes it forms the (C, C) pairs:
# few operations, fused by XLA and inductor. Past that, O(C) memory per row: sorts of 2C entries
# stand in for the (C, C) one-hot of the listed classes and the (target, rival) pairs. The limits:
# where the sorts became faster on the CPU (N = 64; NumPy near C = 20, eager torch 40, torch.compile
# 160, jax.jit 240), one traced limit between the last two, so that the pairs take at most 192 C
# entries per row.
_PAIRS_UP_TO = 32  # NumPy, eager torch, other libraries
_PAIRS_UP_TO_COMPILED = 192  # JAX; torch.compile and other torch tracing


def _multilabel_margin_pairs(xp: Any, x: Array, idx: Array) -> Array:
    """:func:`_multilabel_margin_sum` of ``x`` ``(..., C)`` and the lists ``idx`` ``(..., C)``, by
    forming every pair: ``(..., C, C)`` arrays indexed ``[..., target class c, rival class i]``."""
    n = x.shape[-1]
    # an entry is a target while no negative entry came before it (torch stops at the first -1;
    # a later entry, in range, is not a target): the running count of negatives is still 0
    negatives = xp.cumulative_sum(xp.astype(idx < 0, index_dtype(xp)), axis=-1)
    active = negatives == 0
    classes = xp.arange(n, dtype=idx.dtype, device=device(idx))
    hit = xp.logical_and(xp.expand_dims(idx, axis=-1) == classes, xp.expand_dims(active, axis=-1))  # [.., entry, c]
    # how often class c is listed as a target: torch's sum runs over the entries, so a duplicated
    # target counts once per listing (and stays out of the rivals)
    count = xp.sum(xp.astype(hit, x.dtype), axis=-2)
    target = count > 0
    pairs = xp.logical_and(xp.expand_dims(target, axis=-1), xp.expand_dims(xp.logical_not(target), axis=-2))
    hinge = relu(xp, -(xp.expand_dims(x, axis=-1) - 1.0) + xp.expand_dims(x, axis=-2))  # 1 - x_c + x_i
    # where, not *: a pair that does not count takes no part, nor its NaN or infinity
    terms = xp.where(pairs, xp.expand_dims(count, axis=-1) * hinge, xp.zeros_like(hinge))
    return xp.sum(terms, axis=(-2, -1))


def _listed_counts(xp: Any, idx: Array) -> Array:
    """How often each class is listed in ``idx`` ``(..., C)`` before its first negative entry (torch's
    sum runs over the entries: a class listed twice counts twice, and is no rival): ``(..., C)`` in
    the index dtype. The listed classes ``2 y`` and the probes ``2 c + 1`` (``c = -1, ..., C - 1``)
    are sorted together (never equal): probe ``c`` lands at position ``c + 1 + #{listed y <= c}``,
    which the argsort of the argsort gives (no scatter in the array API)."""
    n = idx.shape[-1]
    # an entry is a target while no negative entry came before it (torch stops at the first -1;
    # a later entry, in range, is not a target): the running count of negatives is still 0
    negatives = xp.cumulative_sum(xp.astype(idx < 0, idx.dtype), axis=-1)
    # past every class: an entry after the -1 (or, unchecked under jit, one >= C)
    listed = xp.where(xp.logical_and(negatives == 0, idx < n), idx, n)
    probes = 2 * xp.arange(n + 1, dtype=idx.dtype, device=device(idx)) - 1  # for c = -1, 0, ..., C - 1
    keys = xp.concat([2 * listed, xp.broadcast_to(probes, tuple(idx.shape[:-1]) + (n + 1,))], axis=-1)
    # no ties between a listed class and a probe, nor in a permutation: the quicker unstable sorts
    position = xp.argsort(xp.argsort(keys, axis=-1, stable=False), axis=-1, stable=False)
    at_most = position[..., n:] - xp.arange(n + 1, dtype=position.dtype, device=device(idx))  # #{y <= c}
    return at_most[..., 1:] - at_most[..., :-1]


def _multilabel_margin_sum(xp: Any, x: Array, count: Array) -> Array:
    """``sum_{c target} count_c sum_{i rival} relu(1 - x_c + x_i)`` over the last axis of ``x`` ``(..., C)``,
    ``count`` (:func:`_listed_counts`) saying how often each class is a target (0: a rival): ``(...)``.
    The values, NaNs and gradients of the sum over the ``(C, C)`` pairs, in O(C) memory per row.

    A pair counts where its ``relu(-(x_c - 1) + x_i)`` has ``x_i - t_c`` not ``<= 0``, ``t_c = x_c - 1``
    rounded as there: ``x_i > t_c``, or a NaN (a NaN score; the same infinity at ``x_i`` and ``t_c``).
    At the kink ``x_i = t_c`` it is 0 with gradient 0 (``relu``'s). Whether counted or not, a pair's
    gradient is ``relu``'s times -1 for ``x_c`` and +1 for ``x_i``, so the gradient of the sum is
    ``-count_c K_c`` at a target (``K_c``: the rivals it counts) and ``g_i`` at a rival (the counts of
    the targets that count it). One stable sort of the scores (the rivals' flagged) and the thresholds
    (scores first: a rival ties below an equal threshold) gives both as running sums, the non-finite ones
    mapped to keep the pairs' rule: a NaN score as +inf, a -inf one as -max; a NaN threshold as
    -inf, a +inf one as +max (it counts the rivals at +inf or NaN only).

    Its value where no non-finite score has a nonzero gradient: with ``z`` the merged scores and
    thresholds sorted, a counted pair's ``x_i - t_c`` is the sum of the gaps ``z_{p+1} - z_p``
    between them, so the sum is ``sum_p (z_{p+1} - z_p) W_p R_p``, ``W_p`` the counts of the thresholds
    at or before ``p``, ``R_p`` the rivals after it: terms >= 0, no cancellation whatever the offset
    of the scores (the pairs' accuracy, in any dtype; ``sum coef x`` would lose ``eps |x| C^2``).
    Else the pairs' sum is +inf or NaN, and so is ``sum coef z`` over those entries (+inf from a
    target at -inf or a rival at +inf; -inf, from a target at +inf or a rival at -inf, only beside a
    NaN pair: inf - inf as the pairs'). The gradient comes in through ``sum coef (z - stop_gradient(z))``,
    0 in value, ``z`` gathered from ``x`` (the gather's backward adds ``coef`` back to the classes).
    Counts and ``W_p R_p`` are whole numbers held as floats: exact up to 2**24 in float32 (C^2 past
    4096 classes rounds, relative 6e-8). Memory: a few ``(..., 2C)`` arrays.
    """
    n = x.shape[-1]
    s = stop_gradient(x)  # the order and the counts; the gradient comes in through z below
    nan = xp.isnan(s)
    big = float(xp.finfo(x.dtype).max)
    scores = xp.where(nan, xp.inf, xp.where(s == -xp.inf, -big, s))
    thresholds = xp.where(nan, -xp.inf, xp.where(s == xp.inf, big, s - 1.0))
    order = xp.argsort(xp.concat([scores, thresholds], axis=-1), axis=-1, stable=True)
    first = order < n  # the sorted entry is a score
    # at a score its rival flag, at a threshold its count (as floats: whole, exact up to 2**24 in float32)
    flags = xp.concat([xp.astype(count == 0, x.dtype), xp.astype(count, x.dtype)], axis=-1)
    v = take_along_axis(xp, flags, order, axis=-1)
    rivals_to = xp.cumulative_sum(xp.where(first, v, 0.0), axis=-1)  # running sums, p included
    weights_to = xp.cumulative_sum(v, axis=-1) - rivals_to  # W_p
    after = rivals_to[..., -1:] - rivals_to  # R_p: the rivals after p
    # the gradient: g_i = W_p at a rival's score, -count_c K_c = -count_c R_p at a threshold
    coef = xp.where(first, v * weights_to, -(v * after))
    # the sorted entries, x_i or t_c = x_c - 1 (rounded as the pairs' threshold), differentiable
    z = take_along_axis(xp, xp.concat([x, x - 1.0], axis=-1), order, axis=-1)
    finite = xp.isfinite(z)
    bad = xp.logical_and(coef != 0, xp.logical_not(finite))
    zf = xp.where(finite, z, 0.0)  # a gap beside a non-finite entry has W_p R_p = 0 unless the row is bad
    zs = stop_gradient(zf)
    pairs = weights_to[..., :-1] * after[..., :-1]  # W_p R_p, for the gap after p
    total = xp.sum(xp.where(pairs != 0, zs[..., 1:] - zs[..., :-1], 0.0) * pairs, axis=-1)
    total = xp.where(xp.any(bad, axis=-1), 0.0, total)
    # a bad row's sum: coef z over its bad entries (+inf or NaN); every entry's gradient: coef
    return total + xp.sum(coef * xp.where(bad, z, zf - zs), axis=-1)


def categorical_hinge_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Keras's categorical hinge: ``max(0, max((1 - z) * x) - sum(z * x) + 1)`` along ``axis``. See
    :class:`losskit.CategoricalHingeLoss`."""
    xp = namespace(pred, label, sample_weight, names=("pred", "label"))
    x, cls, b_axis, z, _ = _class_inputs(xp, pred, label, sample_weight, axis, batch_axis, weight, False)
    # an infinite score (-inf: a masked class) is left out of a term whose factor is 0 there:
    # 0 * inf would be NaN; finite scores keep every gradient, the label's included
    infinite = xp.isinf(x)
    pos = xp.sum(z * xp.where(xp.logical_and(infinite, z == 0), xp.zeros_like(x), x), axis=cls, keepdims=True)
    neg = xp.max((1 - z) * xp.where(xp.logical_and(infinite, z == 1), xp.zeros_like(x), x), axis=cls, keepdims=True)
    loss = relu(xp, (neg - pos) + 1.0)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def sparsemax_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Multiclass sparsemax loss (Martins & Astudillo, 2016): ``-z_y + 1/2 sum_{j in S(z)} (z_j^2 - tau^2)
    + 1/2``. See :class:`losskit.SparsemaxLoss`."""
    xp = namespace(pred, label, sample_weight, names=("pred", "label"))
    x, cls, b_axis, index, _ = _class_inputs(xp, pred, label, sample_weight, axis, batch_axis, weight, True)
    n = pred.shape[cls]
    # sparsemax and the loss are unchanged by a shift of every score: shifted by the row's maximum
    # (a constant for autodiff), the support's scores lie in [-1, 0], so the cumulative sums that
    # find it, and tau, are exact to rounding also where the scores are ~1e4 in float32
    z = x - stop_gradient(xp.max(x, axis=cls, keepdims=True))
    # the support: the k largest scores, k the largest with 1 + k z_(k) > z_(1) + ... + z_(k)
    # (true for k = 1, and for a prefix of k only; tied scores are both in or both out)
    ranked = xp.sort(z, axis=cls, descending=True)
    k = xp.reshape(xp.arange(1, n + 1, dtype=z.dtype, device=device(z)), _class_shape(z.ndim, cls, n))
    grows = 1.0 + k * ranked > xp.cumulative_sum(ranked, axis=cls)
    size_ = xp.sum(xp.astype(grows, index_dtype(xp)), axis=cls, keepdims=True)
    size_ = xp.maximum(size_, xp.ones_like(size_))  # 0 only for a row with a NaN: gather in range
    smallest = take_along_axis(xp, ranked, size_ - 1, axis=cls)
    support = z >= smallest  # by value, so that tau below is computed over exactly these scores
    on = xp.where(support, z, xp.zeros_like(z))  # (not z * mask: a score of -inf stays out, gradient too)
    count = xp.sum(xp.astype(support, z.dtype), axis=cls, keepdims=True)
    count = xp.maximum(count, xp.ones_like(count))  # empty only for a row with a NaN (NaN >= x is false)
    tau = (xp.sum(on, axis=cls, keepdims=True) - 1.0) / count  # sparsemax(z) = max(z - tau, 0)
    # 1/2 sum_S (z_j^2 - tau^2) as 1/2 sum_S (z_j - tau)(z_j + tau): no square of a large score.
    # Its gradient is, exactly, sum_S (z_j - tau) e_j (tau's own derivative cancels, as
    # d tau = sum_S dz_j / |S|), so the loss's is sparsemax(z) - onehot(y), never through the sort
    half = xp.where(support, (on - tau) * (on + tau), xp.zeros_like(on))
    picked = take_along_axis(xp, z, index, axis=cls)
    loss = (0.5 * xp.sum(half, axis=cls, keepdims=True) - picked) + 0.5
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


# ---- optax's multiclass hinge (Crammer & Singer) ----


def multiclass_hinge_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    margin: float = 1.0,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Crammer-Singer multi-class hinge ``max(0, margin + max_{c != y} x_c - x_y)`` along ``axis``
    (``margin=0``: the multi-class perceptron loss). See :class:`losskit.MulticlassHingeLoss`."""
    margin = check_number(margin, "margin", array_ok=True)  # any real, as HingeLoss's
    xp = namespace(pred, label, sample_weight, *arrays_in(margin), names=("pred", "label"))
    x, cls, b_axis, index, _ = _class_inputs(xp, pred, label, sample_weight, axis, batch_axis, weight, True)
    picked = take_along_axis(xp, x, index, axis=cls)
    position = positions(xp, x, cls)
    # the true class leaves the max as -inf (where, not a product: its score takes no part, nor its
    # gradient); a single class has no rival, so max is -inf and the loss 0, with a zero gradient
    rivals = xp.where(position == index, xp.full_like(x, -math.inf), x)
    best = xp.max(rivals, axis=cls, keepdims=True)
    loss = relu_for_output(xp, -(picked - margin) + best)  # -(a - m) = m - a exactly: see hinge_loss
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


# ---- generalized cross-entropy (Keras's categorical_generalized_cross_entropy) ----


def check_gce_q(q: Any) -> Any:
    """GCE's ``q``: a real number in ``(0, 1]`` (its limit 0 is cross-entropy; 1 is ``1 - p_y``)."""
    return check_number(q, "q", low=0.0, high=1.0, low_open=True, array_ok=True)


def generalized_cross_entropy(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    q: float = 0.5,
    axis: int = -1,
    sparse_label: bool = True,
    from_logits: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Generalized cross-entropy ``(1 - p_y**q) / q`` (Zhang & Sabuncu, 2018) over a softmax (over
    log-probabilities taken as they are, when ``from_logits``). See :class:`losskit.GeneralizedCrossEntropyLoss`."""
    q = check_gce_q(q)
    check_flag(from_logits, "from_logits")
    xp = namespace(pred, label, sample_weight, *arrays_in(q), names=("pred", "label"))
    x, cls, b_axis, target, _ = _class_inputs(xp, pred, label, sample_weight, axis, batch_axis, weight, sparse_label)
    logp = x if from_logits else log_softmax(xp, x, axis=cls)
    if sparse_label:
        logp = take_along_axis(xp, logp, target, axis=cls)  # gather first: one term per position
    # (1 - p^q) / q = -expm1(q log p) / q: p^q is never formed from p (no 0^q, whose derivative is
    # infinite), the loss tends to 1/q, with a zero gradient, as log p -> -inf, and expm1 keeps it
    # exact for a small q, where it tends to -log p (cross-entropy)
    terms = -xp.expm1(q * logp) / q
    loss = terms if sparse_label else xp.sum(target * terms, axis=cls, keepdims=True)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


# ---- margin softmax on cosines (ArcFace, CosFace) ----

# How far past +-1 a "cosine" may lie and still be taken for one (and clamped to +-1): the rounding
# of normalize(e) @ normalize(W).T when computed in bfloat16 (eps 2**-7, errors of a few eps on a
# unit dot product) or by TF32 matmuls (eps 2**-10), whatever the dtype it arrives in. Not tied to
# the input's dtype on purpose: float32 cosines may well come from a bfloat16 autocast matmul. What
# the check is for, logits or unnormalised embeddings passed by mistake, lies far outside.
_COSINE_SLACK = 2.0**-6


def check_margin_options(scale: Any, margin: Any, easy_margin: Any, *, angular: bool) -> tuple[Any, Any]:
    """The checks of :func:`arcface_loss`'s and :func:`cosface_loss`'s options, shared with the
    classes' constructors: ``scale > 0``; the margin in ``[0, pi)`` (an angle) or any real (a
    cosine margin: a negative one makes the true class easier, as in few-shot work); a bool flag."""
    scale = check_number(scale, "scale", low=0.0, low_open=True, array_ok=True)  # a learnt one too
    if angular:
        margin = check_number(margin, "margin", low=0.0, high=math.pi, high_open=True, array_ok=True)
    else:
        margin = check_number(margin, "margin", array_ok=True)
    check_flag(easy_margin, "easy_margin")
    return scale, margin


def _cosine_check(xp: Any, c: Array, label: Array) -> tuple[Any, ...]:
    """The check, for :func:`check_ranges` beside the labels' (one read of the device), that every
    value of ``c`` lies within ``[-1, 1]`` up to :data:`_COSINE_SLACK`: a 0-d flag in the label's
    dtype (so that both travel in one copy), and the message, which reads the largest magnitude
    (a second read, on the error's path only). Skipped as the class-index checks are (traced
    values, value checks off). A NaN passes: it gives a NaN loss, as in every loss."""
    if not value_checks_on() or size(tuple(c.shape)) == 0 or is_traced(c):
        return ()
    largest = xp.max(xp.abs(stop_gradient(c)))  # NaN if c holds one: NaN > x is False
    flag = xp.astype(largest > 1.0 + _COSINE_SLACK, label.dtype)

    def message() -> str:
        return (
            f"cosine holds values up to {float(largest):g} in magnitude: it must hold cosine similarities in "
            "[-1, 1], normalize(embeddings) @ normalize(W).T (unnormalised logits given by mistake?)"
        )

    return ((flag, 0, 1, "cosine", "values within [-1, 1]", message),)


def _clamp_unit(xp: Any, c: Array) -> Array:
    """``c`` clamped to ``[-1, 1]`` (rounding past it, within the slack); NaN stays NaN, and the
    derivative is 1 inside (the bounds included) and 0 outside."""
    one = xp.ones_like(c)
    return xp.where(c > 1.0, one, xp.where(c < -1.0, -one, c))


def _angular_margin(xp: Any, c: Array, margin: Any, easy_margin: bool) -> Array:
    """ArcFace's ``cos(theta + m)`` of the true class's cosine ``c = cos(theta)`` in ``[-1, 1]``, as
    ``c cos m - sin(theta) sin m`` with ``sin(theta) = sqrt((1 - c)(1 + c))``: no ``acos``, whose
    derivative is infinite at +-1, and no cancellation in ``1 - c**2`` near +-1. At ``c = +-1``
    exactly the square root is 0 with a zero derivative (a ``where``), so the derivative there is
    ``cos m``, finite, where the one-sided one is infinite; inside it is exact.

    Past ``theta = pi - m`` (``c <= -cos m``), where ``cos(theta + m)`` would rise again and reward
    moving away from the class, insightface's and pytorch-metric-learning's fallback ``c - m sin m``
    (monotone; a jump of ``cos m + m sin m - 1`` at the threshold, 0.117 at ``m = 0.5``).
    ``easy_margin``: the margin only where ``c > 0`` (``theta < pi/2``), ``c`` itself elsewhere.
    """
    # an array (not math.cos of a number, nor full_like, which fixes its value): a margin that is
    # symbolic under torch.compile stays so, one graph for every margin
    m = xp.zeros_like(c) + margin
    cos_m, sin_m = xp.cos(m), xp.sin(m)
    one_m_c2 = (1.0 - c) * (1.0 + c)
    inside = one_m_c2 > 0.0
    sin_theta = xp.where(inside, xp.sqrt(xp.where(inside, one_m_c2, xp.ones_like(c))), xp.zeros_like(c))
    shifted = c * cos_m - sin_theta * sin_m
    if easy_margin:
        return xp.where(c > 0.0, shifted, c)
    # cos(pi - m) = -cos m: where c > -cos m, theta + m < pi; at equality the fallback, as insightface
    # (pml's angle test theta <= pi - m takes cos(pi) = -1 there: the one point where the two differ).
    # insightface's threshold is math.cos(math.pi - m), which may be an ulp from -cos m: at that one
    # float the two may take different branches
    return xp.where(c > -cos_m, shifted, c - m * sin_m)


def margin_softmax_cross_entropy(
    cosine: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    scale: float = 64.0,
    angular_margin: float = 0.0,
    cosine_margin: float = 0.0,
    easy_margin: bool = False,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Softmax cross-entropy of the logits ``scale * cos(theta_j)``, the true class's replaced by
    ``scale * (cos(theta_y + angular_margin) - cosine_margin)``: insightface's combined margin with
    ``m1 = 1``, ``m2 = angular_margin``, ``m3 = cosine_margin``; ArcFace is ``m3 = 0``, CosFace
    ``m2 = 0``. The core of :class:`losskit.ArcFaceLoss` and :class:`losskit.CosFaceLoss`, which
    document the formula, the shapes and the choices."""
    scale, angular_margin = check_margin_options(scale, angular_margin, easy_margin, angular=True)
    cosine_margin = check_number(cosine_margin, "cosine_margin", array_ok=True)
    options = arrays_in(scale, angular_margin, cosine_margin)
    xp = namespace(cosine, label, sample_weight, *options, names=("cosine", "label"))
    c = float_input(xp, cosine, "cosine")
    cls = check_axis(axis, cosine.ndim)
    check_has_classes(tuple(cosine.shape), cls)
    b_axis = check_batch_axis(batch_axis, cosine.ndim, cls)
    check_weight(weight)
    sample_weight = check_sample_weight(
        xp, sample_weight, tuple(cosine.shape[:cls]) + (1,) + tuple(cosine.shape[cls + 1 :])
    )
    # shape, dtype and range of the class indices, and the cosines' range: one read of the device
    index = sparse_label_indices(xp, label, c, cls, also=_cosine_check(xp, c, label), pred_name="cosine")
    c = _clamp_unit(xp, c)
    target = take_along_axis(xp, c, index, axis=cls)
    # explicit comparisons with 0: a symbolic margin then guards on its sign, not its value (an
    # array margin, traced or learnt, is applied whatever its value)
    if not (is_real(angular_margin) and angular_margin == 0) or easy_margin:
        target = _angular_margin(xp, target, angular_margin, easy_margin)
    if not (is_real(cosine_margin) and cosine_margin == 0):
        target = target - cosine_margin
    position = positions(xp, c, cls)
    logits = xp.where(position == index, target, c) * scale  # where: the other classes keep cos exactly
    # the cross-entropy of the logits and the indices checked above, as SoftmaxCELoss computes it
    # (not through it: that would check the inputs and read the labels' range a second time)
    if _fast.use_torch(logits):
        loss = xp.expand_dims(_fast.torch_sparse_softmax_ce(logits, xp.squeeze(index, axis=cls), cls), axis=cls)
    else:
        m, log_sum = logsumexp_parts(xp, logits, axis=cls)
        loss = (m - take_along_axis(xp, logits, index, axis=cls)) + log_sum
    return finish(xp, loss, out_dtype=cosine.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def arcface_loss(
    cosine: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    scale: float = 64.0,
    margin: float = 0.5,
    easy_margin: bool = False,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """ArcFace (additive angular margin): cross-entropy of ``scale * cos(theta_y + margin)`` for the
    true class and ``scale * cos(theta_j)`` for the others. See :class:`losskit.ArcFaceLoss`."""
    scale, margin = check_margin_options(scale, margin, easy_margin, angular=True)
    return margin_softmax_cross_entropy(
        cosine,
        label,
        sample_weight,
        scale=scale,
        angular_margin=margin,
        easy_margin=easy_margin,
        axis=axis,
        weight=weight,
        batch_axis=batch_axis,
    )


def cosface_loss(
    cosine: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    scale: float = 64.0,
    margin: float = 0.35,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """CosFace (large-margin cosine): cross-entropy of ``scale * (cos(theta_y) - margin)`` for the
    true class and ``scale * cos(theta_j)`` for the others. See :class:`losskit.CosFaceLoss`."""
    scale, margin = check_margin_options(scale, margin, False, angular=False)
    return margin_softmax_cross_entropy(
        cosine,
        label,
        sample_weight,
        scale=scale,
        cosine_margin=margin,
        axis=axis,
        weight=weight,
        batch_axis=batch_axis,
    )


# ---- knowledge distillation (Hinton et al., 2015) ----


def check_temperature(temperature: Any) -> Any:
    """A distillation temperature: a real number > 0."""
    return check_number(temperature, "temperature", low=0.0, low_open=True, array_ok=True)


def distillation_loss(
    student_logits: Array,
    teacher_logits: Array,
    sample_weight: Any = None,
    *,
    temperature: float = 1.0,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``T**2 * KL(softmax(teacher / T) || softmax(student / T))`` along ``axis``. See
    :class:`losskit.DistillationLoss`."""
    temperature = check_temperature(temperature)
    names = ("student_logits", "teacher_logits")
    xp = namespace(student_logits, teacher_logits, sample_weight, *arrays_in(temperature), names=names)
    s, out_dtype = promoted_input(xp, student_logits, "student_logits", ("teacher_logits", teacher_logits))
    if tuple(teacher_logits.shape) != tuple(student_logits.shape):
        raise ValueError(
            f"teacher_logits shape {tuple(teacher_logits.shape)} does not match student_logits shape "
            f"{tuple(student_logits.shape)}: they must be the same"
        )
    t = xp.astype(teacher_logits, s.dtype, copy=False)
    if student_logits.ndim < 1:
        raise ValueError("student_logits needs a class axis: shape (N, C), or any shape with the classes along axis")
    cls = check_axis(axis, s.ndim)
    check_has_classes(tuple(s.shape), cls)
    b_axis = check_batch_axis(batch_axis, s.ndim, cls)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, tuple(s.shape[:cls]) + (1,) + tuple(s.shape[cls + 1 :]))
    log_q = log_softmax(xp, s / temperature, axis=cls)  # the student's softened log-probabilities
    log_p = log_softmax(xp, t / temperature, axis=cls)  # the teacher's: the target distribution
    # KL(p || q) = sum p (log p - log q), as KLDivLoss(log_target=True): the teacher's log-probabilities
    # are used as they are (no log(exp(.)) round trip), and a class the teacher rules out (logit -inf,
    # log p = -inf) adds 0, not 0 * -inf = NaN
    terms = kl_log_target_terms(xp, log_q, log_p)
    # T**2 keeps the gradient's size independent of T (Hinton et al.): d/ds = T (q - p)
    loss = (temperature * temperature) * xp.sum(terms, axis=cls, keepdims=True)
    return finish(xp, loss, out_dtype=out_dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


__all__ = [
    "sigmoid_binary_cross_entropy",
    "logistic_loss",
    "hinge_loss",
    "squared_hinge_loss",
    "softmax_cross_entropy",
    "kl_div",
    "nll_loss",
    "sigmoid_focal_loss",
    "asymmetric_loss",
    "softmax_focal_loss",
    "poly_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "jsd_loss",
    "multilabel_margin_loss",
    "categorical_hinge_loss",
    "sparsemax_loss",
    "multiclass_hinge_loss",
    "generalized_cross_entropy",
    "margin_softmax_cross_entropy",
    "arcface_loss",
    "cosface_loss",
    "distillation_loss",
]
