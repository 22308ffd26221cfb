"""Segmentation losses: functional forms. The classes in :mod:`losskit.losses.segmentation` document them."""

from __future__ import annotations

import math
from typing import Any

from .._array import (
    Array,
    abs_,
    device,
    dtype_kind,
    namespace,
    relu,
    sigmoid,
    size,
    softmax,
    take_along_axis,
)
from .._core import (
    arrays_in,
    as_index,
    check_axis,
    check_batch_axis,
    check_class_count,
    check_class_vector,
    check_flag,
    check_has_classes,
    check_ignore_index,
    check_labels_in_range,
    check_number,
    check_sample_weight,
    check_weight,
    class_vector,
    finish,
    float_input,
    index_dtype,
    is_concrete,
    is_real,
    like,
    without_ignored,
)
from .classification import class_indices


def check_tversky(alpha: Any, beta: Any, smooth: Any) -> tuple[Any, Any, Any]:
    """Numbers >= 0, or 0-d arrays (traced or learnt; not checked)."""
    return (
        check_number(alpha, "alpha", low=0.0, array_ok=True),
        check_number(beta, "beta", low=0.0, array_ok=True),
        check_number(smooth, "smooth", low=0.0, array_ok=True),
    )


def check_focal(gamma: Any, log_loss: Any) -> tuple[Any, bool]:
    """The ``gamma`` (a number > 0, or a 0-d array: not checked) and ``log_loss`` (a bool) options
    of the overlap losses; the two do not combine (``-log`` of the index raised to a power is no
    published loss)."""
    gamma = check_number(gamma, "gamma", low=0.0, low_open=True, array_ok=True)
    log_loss = check_flag(log_loss, "log_loss")
    if log_loss and not (is_real(gamma) and gamma == 1):  # an array gamma: a power to take
        raise ValueError(f"gamma={gamma!r} and log_loss=True do not combine: gamma raises 1 - index to a power")
    return gamma, log_loss


def is_plain_one(gamma: Any) -> bool:
    """``gamma`` is a concrete 1 (no power to take). Under ``torch.compile`` it is not asked: a
    branch on its value would be a guard, one more compilation each time it passes 1 on a schedule;
    the general form of :func:`overlap_penalty` is then taken, equal up to rounding for an index
    in ``[0, 1]`` (one above 1 counts as ``1 - TI = 0`` there, as for any other ``gamma``)."""
    return is_real(gamma) and is_concrete(gamma) and gamma == 1


def overlap_penalty(xp: Any, index: Array, complement: Array, gamma: float, log_loss: bool) -> Array:
    """The loss of each class from its overlap index ``TI`` in ``[0, 1]`` and ``complement``,
    ``1 - TI`` formed directly (not by subtraction: near a perfect overlap that loses its digits):
    ``1 - TI``, ``(1 - TI) ** gamma``, or ``-log(TI)``.

    ``(1 - TI) ** gamma`` is taken as 0, with a zero gradient, where ``1 - TI`` is below the
    dtype's smallest normal number: at ``TI = 1`` the derivative of ``d ** gamma`` is infinite for
    ``gamma < 1`` (0 is the loss's minimum, and the one-sided derivative there is no descent
    direction); below 0 (an index over 1, from probabilities or masks outside ``[0, 1]``) the power
    would be NaN. Elsewhere the derivative ``gamma d ** (gamma - 1)`` is at most
    ``gamma tiny ** (gamma - 1)``, under ``1 / tiny``: finite (float16 and bfloat16 are computed in
    float32)."""
    if log_loss:
        # -log(TI) = -log1p(-(1 - TI)) where TI > 1/2: a TI rounded near 1 would lose the loss's
        # digits; below, TI itself is the accurate one. Each side is fed a harmless value where the
        # other is taken, so that no infinite derivative meets where's zero (0 * inf = NaN).
        near_one = index > 0.5
        return xp.where(
            near_one,
            -xp.log1p(-xp.where(near_one, complement, xp.zeros_like(complement))),
            -xp.log(xp.where(near_one, xp.ones_like(index), index)),
        )
    d = complement
    if is_plain_one(gamma):
        return d
    positive = d >= xp.finfo(d.dtype).smallest_normal
    # d ** gamma as exp(gamma log d) (gamma stays symbolic under torch.compile), of d where positive
    # and of 1 elsewhere: no infinite derivative reaches the gradient; 0 * d keeps a NaN a NaN
    power = xp.exp(gamma * xp.log(xp.where(positive, d, xp.ones_like(d))))
    return xp.where(positive, power, 0 * d)


def class_and_batch_axes(ndim: int, shape: tuple[int, ...], axis: int, batch_axis: int) -> tuple[int, int]:
    """The class axis and the batch axis of a ``(N, C, ...)`` prediction (any two distinct axes)."""
    if ndim < 2:
        raise ValueError(f"pred must have a batch and a class axis, (N, C, ...); got shape {shape}")
    cls = check_axis(axis, ndim)
    return cls, check_batch_axis(batch_axis, ndim, cls)


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
    class_weight: Any = None,
    gamma: float = 1.0,
    log_loss: bool = False,
) -> Array:
    """``mean_c (1 - TI_c) ** gamma`` per example, ``TI_c = (I_c + s) / (I_c + alpha FP_c + beta FN_c + s)``
    (``mean_c w_c (1 - TI_c) ** gamma`` with ``class_weight``; ``-log(TI_c)`` for ``1 - TI_c`` with
    ``log_loss``). See :class:`losskit.TverskyLoss`. The core of :func:`dice_loss` and :func:`jaccard_loss`."""
    alpha, beta, smooth = check_tversky(alpha, beta, smooth)
    gamma, log_loss = check_focal(gamma, log_loss)
    check_flag(from_logits, "from_logits")
    class_weight = check_class_vector(class_weight, "class_weight")
    options = arrays_in(class_weight, alpha, beta, smooth, gamma)
    xp = namespace(pred, label, sample_weight, *options, names=("pred", "label"))
    x = float_input(xp, pred, "pred")
    cls, b_axis = class_and_batch_axes(pred.ndim, tuple(pred.shape), axis, batch_axis)
    check_has_classes(tuple(pred.shape), cls)
    check_weight(weight)
    n = pred.shape[b_axis]
    sample_weight = check_sample_weight(xp, sample_weight, (n,))
    check_class_count(class_weight, pred.shape[cls], "class_weight")
    check_mask_shape(tuple(label.shape), tuple(pred.shape), cls)
    target = like(xp, label, x, "label")
    if not from_logits:
        prob = x
    elif pred.shape[cls] == 1:
        prob = sigmoid(xp, x)  # one channel: a binary mask
    else:
        prob = softmax(xp, x, axis=cls)
    spatial = tuple(i for i in range(pred.ndim) if i not in (cls, b_axis))

    def total(v: Array) -> Array:
        return xp.sum(v, axis=spatial, keepdims=True) if spatial else v  # never sum over axis=()

    inter = total(prob * target)
    # each sum on its own, not total(prob) - inter: near a perfect mask that is the difference of
    # two large sums (131072.13 - 131072 in float32 keeps a 0.0078 step of fp's 0.13)
    fp = total(prob * (1 - target))  # false positives: predicted mass outside the mask
    fn = total((1 - prob) * target)  # false negatives: mask the prediction misses
    miss = alpha * fp + beta * fn
    denominator = inter + miss + smooth
    # two empty masks with smooth = 0 give 0/0: their index is 1 (they agree), with no gradient
    nonzero = denominator != 0
    safe = xp.where(nonzero, denominator, xp.ones_like(denominator))
    index = xp.where(nonzero, (inter + smooth) / safe, xp.ones_like(safe))
    complement = xp.where(nonzero, miss / safe, xp.zeros_like(safe))  # 1 - TI
    if class_weight is None and is_plain_one(gamma) and not log_loss:
        loss = xp.mean(complement, axis=cls, keepdims=True)
    elif class_weight is None:
        loss = xp.mean(overlap_penalty(xp, index, complement, gamma, log_loss), axis=cls, keepdims=True)
    else:
        # optax's class_weights: mean_c w_c (1 - index_c), the weights along the class axis
        c = pred.shape[cls]
        w = class_vector(xp, class_weight, c, x, "class_weight")
        w = xp.reshape(w, tuple(c if i == cls else 1 for i in range(pred.ndim)))
        if log_loss:
            # a weight of 0 leaves its class out: an index of 0 there is read as 1 (a penalty of 0),
            # else -log(0) would make 0 * inf = NaN of the loss and its gradient (a finite penalty
            # keeps its own value: d loss / d w stays right for a weight learnt through 0)
            left_out = xp.logical_and(w == 0, index == 0)
            index = xp.where(left_out, xp.ones_like(index), index)
            complement = xp.where(left_out, xp.zeros_like(complement), complement)
        loss = xp.mean(w * overlap_penalty(xp, index, complement, gamma, log_loss), axis=cls, keepdims=True)
    loss = xp.reshape(loss, (n,))  # every other axis has size 1 now
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
    class_weight: Any = None,
    log_loss: bool = False,
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
        class_weight=class_weight,
        log_loss=log_loss,
    )


def jaccard_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    axis: int = 1,
    weight: float | None = None,
    batch_axis: int = 0,
    class_weight: Any = None,
    log_loss: bool = False,
) -> Array:
    """Soft Jaccard (IoU) loss: the Tversky loss with ``alpha = beta = 1``, ``1 - mean_c (I_c + s) /
    (P_c + T_c - I_c + s)``. See :class:`losskit.JaccardLoss`."""
    return tversky_loss(
        pred,
        label,
        sample_weight,
        alpha=1.0,
        beta=1.0,
        smooth=smooth,
        from_logits=from_logits,
        axis=axis,
        weight=weight,
        batch_axis=batch_axis,
        class_weight=class_weight,
        log_loss=log_loss,
    )


LOVASZ_CLASSES = ("present", "all")


def check_lovasz_classes(classes: Any) -> str:
    """The ``classes`` option of :func:`lovasz_softmax_loss`: ``"present"`` or ``"all"``."""
    if not isinstance(classes, str):
        raise TypeError(
            f"classes must be 'present' or 'all', got {classes!r} (a list of classes to average over is not supported)"
        )
    if classes not in LOVASZ_CLASSES:
        raise ValueError(f"classes must be 'present' or 'all', got {classes!r}")
    return classes


def lovasz_gradient(xp: Any, gt_sorted: Array, dtype: Any) -> Array:
    """The gradient of the Lovasz extension of the Jaccard loss with respect to the errors sorted
    in decreasing order (Berman et al., 2018, Alg. 1), along the last axis of ``gt_sorted``, the
    ground truth (0 or 1, an integer array) in that order.

    With ``G`` the foreground count, ``F_i`` and ``B_i`` the foreground and background counts among
    the first ``i + 1`` pixels, ``I_i = G - F_i`` and ``U_i = G + B_i``, the Jaccard loss of the
    first ``i + 1`` pixels is ``J_i = 1 - I_i / U_i`` and ``g_i = J_i - J_{i-1}`` (``g_0 = J_0``).
    The difference is taken in closed form, not by subtracting the rounded ``J``: at a foreground
    pixel ``U`` stays and ``I`` drops by 1, so ``g_i = 1 / U_i``; at a background pixel ``I`` stays
    and ``U`` grows by 1, so ``g_i = I_i / (U_i U_{i-1})``. Each ``g_i`` is then exact to a few
    roundings, where ``J_i - J_{i-1}`` of two float32 values near 1 is off by up to 6e-8: 6% of
    a ``g_i`` of 1e-6 (a one-megapixel mask). The counts are integers (exact cumulative sums at
    any size); ``U_i >= 1`` always, and ``U_{i-1} = 0`` only at ``i = 0`` without any foreground,
    where ``g_0 = J_0 = 1``.
    """
    # g_i = where(foreground, 1, I_i / U_{i-1}) / U_i, the counts in gt_sorted's integer dtype (the
    # standard's cumulative_sum would widen int32), each dropped once used: the memory
    ints = gt_sorted.dtype
    total = xp.sum(gt_sorted, axis=-1, keepdims=True, dtype=ints)
    background = 1 - gt_sorted
    union = total + xp.cumulative_sum(background, axis=-1, dtype=ints)  # U_i
    before = union - background  # U_{i-1}
    del background
    first = before == 0  # i = 0 with no foreground: J_{-1} is read as 0, so g_0 = J_0 = 1 (I_0 = 0, U_0 = 1)
    one = xp.ones((), dtype=ints, device=device(before))
    before = xp.astype(xp.where(first, one, before), dtype)
    inter = xp.astype(total - xp.cumulative_sum(gt_sorted, axis=-1, dtype=ints), dtype)  # I_i
    ratio = inter / before
    del inter, before
    ratio = xp.where(xp.logical_or(gt_sorted == 1, first), xp.astype(one, dtype), ratio)
    return ratio / xp.astype(union, dtype)


def lovasz_extension(xp: Any, values: Array, key: Array, gt: Array, valid: Array | None) -> tuple[Array, Array]:
    """``sum_i values_(i) g_i`` along the last axis, the entries taken in decreasing order of
    ``key`` (the errors) and ``g`` the :func:`lovasz_gradient` of ``gt`` (bool) in that order; and
    the foreground count of each row. Entries where ``valid`` is false are left out: sorted after
    every other (key ``-inf``), with value 0 and no foreground, they change nothing before them
    and add nothing. The order is a constant: gradients reach ``values`` through the gather."""
    if valid is not None:
        values = xp.where(valid, values, xp.zeros_like(values))  # where, not *: no NaN of a dropped pixel
        key = xp.where(valid, key, xp.full_like(key, -math.inf))
    order = xp.argsort(key, axis=-1, descending=True, stable=True)
    # counts of a row's length: int32 where they fit (half int64's memory)
    counts = xp.int32 if key.shape[-1] < 2**31 else index_dtype(xp)
    gt_sorted = take_along_axis(xp, xp.astype(gt, counts), order, axis=-1)
    g = lovasz_gradient(xp, gt_sorted, values.dtype)
    return xp.sum(take_along_axis(xp, values, order, axis=-1) * g, axis=-1), xp.sum(gt_sorted, axis=-1)


def _to_front(xp: Any, x: Array, axes: tuple[int, ...], n_front: int) -> Array:
    """``x`` with ``axes`` first, in that order, and every other axis flattened into one after them."""
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    order = axes + rest
    if order != tuple(range(x.ndim)):
        x = xp.permute_dims(x, order)
    return xp.reshape(x, tuple(x.shape[:n_front]) + (size(tuple(x.shape[n_front:])),))


def lovasz_softmax_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    classes: str = "present",
    ignore_index: int | None = None,
    from_logits: bool = True,
    axis: int = 1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """The Lovasz-Softmax loss per example, averaged over classes. See :class:`losskit.LovaszSoftmaxLoss`."""
    classes = check_lovasz_classes(classes)
    check_ignore_index(ignore_index)
    check_flag(from_logits, "from_logits")
    xp = namespace(pred, label, sample_weight, names=("pred", "label"))
    x = float_input(xp, pred, "pred")
    cls, b_axis = class_and_batch_axes(pred.ndim, tuple(pred.shape), axis, batch_axis)
    check_weight(weight)
    n, c = pred.shape[b_axis], pred.shape[cls]
    if c < 2:
        raise ValueError(
            f"pred has {c} class along axis {cls}; the Lovasz-Softmax loss needs at least 2 "
            "(for a binary mask of logits use LovaszHingeLoss, or give both classes' scores)"
        )
    sample_weight = check_sample_weight(xp, sample_weight, (n,))
    index = class_indices(xp, label, pred, cls, ignore_index)  # pred's shape without the class axis
    x = _to_front(xp, x, (b_axis, cls), 2)  # (N, C, P)
    index = _to_front(xp, index, (b_axis - (b_axis > cls),), 1)  # (N, P)
    index = xp.expand_dims(index, axis=1)  # (N, 1, P)
    prob = softmax(xp, x, axis=1) if from_logits else x
    valid = None
    if ignore_index is not None:
        valid = index != ignore_index
        index = xp.where(valid, index, xp.zeros_like(index))
    fg = index == xp.reshape(xp.arange(c, dtype=index.dtype, device=device(index)), (1, c, 1))  # (N, C, P)
    if valid is not None:
        fg = xp.logical_and(fg, valid)
    if from_logits:
        # |1[y = c] - p_c| of a softmax (0 <= p <= 1): where keeps only fg for the backward pass
        errors = xp.where(fg, 1 - prob, prob)
    else:
        errors = abs_(xp, xp.astype(fg, prob.dtype) - prob)  # as Berman's (and sign'(0) = 0)
    per_class, counts = lovasz_extension(xp, errors, errors, fg, valid)  # (N, C) each
    if classes == "all":
        loss = xp.mean(per_class, axis=1)
    else:
        present = counts > 0
        count = xp.sum(xp.astype(present, per_class.dtype), axis=1)
        total = xp.sum(xp.where(present, per_class, xp.zeros_like(per_class)), axis=1)
        # no class present (every pixel ignored): 0, with no gradient
        some = count > 0
        loss = xp.where(some, total / xp.where(some, count, xp.ones_like(count)), xp.zeros_like(total))
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


def lovasz_hinge_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    ignore_index: int | None = None,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """The Lovasz hinge loss of binary masks, per example. See :class:`losskit.LovaszHingeLoss`."""
    check_ignore_index(ignore_index)
    xp = namespace(pred, label, sample_weight, names=("pred", "label"))
    x = float_input(xp, pred, "pred")
    if pred.ndim < 1:
        raise ValueError("pred must have a batch axis, (N, ...); got a 0-d array")
    b_axis = check_batch_axis(batch_axis, pred.ndim)
    check_weight(weight)
    n = pred.shape[b_axis]
    sample_weight = check_sample_weight(xp, sample_weight, (n,))
    if tuple(label.shape) != tuple(pred.shape):
        raise ValueError(
            f"label shape {tuple(label.shape)} does not match pred shape {tuple(pred.shape)}: "
            "the binary masks must have pred's shape"
        )
    kind = dtype_kind(xp, label.dtype)
    if kind not in ("bool", "integral", "real floating"):
        raise TypeError(f"label must hold 0 or 1 (bool, integer or float), got dtype {label.dtype}")
    if kind != "bool":
        checked = label if ignore_index is None else without_ignored(xp, label, ignore_index)
        check_labels_in_range(xp, checked, 0, 2, what="binary labels (0 or 1)")
    label = as_index(xp, label)
    x = _to_front(xp, x, (b_axis,), 1)  # (N, P)
    label = _to_front(xp, label, (b_axis,), 1)
    fg = label == 1
    valid = None
    if ignore_index is not None:
        valid = label != ignore_index
        fg = xp.logical_and(fg, valid)
    errors = 1 - x * (2 * xp.astype(fg, x.dtype) - 1)  # 1 - x s, s = 2 y - 1 the sign of the label
    loss, _ = lovasz_extension(xp, relu(xp, errors), errors, fg, valid)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


__all__ = ["tversky_loss", "dice_loss", "jaccard_loss", "lovasz_softmax_loss", "lovasz_hinge_loss"]
