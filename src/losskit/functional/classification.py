"""Classification losses: functional forms. The classes in :mod:`losskit.losses.classification`
document them (formula, shapes, stability)."""

from __future__ import annotations

from typing import Any

from .._array import Array, broadcasts_to, log_softmax, logsumexp, namespace, relu, softplus, xlogx
from .._core import (
    check_batch_axis,
    check_labels_in_range,
    check_sample_weight,
    check_weight,
    finish,
    float_input,
    index_dtype,
    like,
)
from ._pointwise import pointwise

# log(p + eps) on probabilities, as MXNet does; computed in float32 or wider, where 1e-12 is
# representable (float16 inputs are promoted first), so log(0) never happens.
_PROB_EPS = 1e-12


def sigmoid_binary_cross_entropy(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    pos_weight: Any = None,
    *,
    from_sigmoid: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Binary cross-entropy on logits (or probabilities). See :class:`losskit.SigmoidBCELoss`."""
    if pos_weight is not None and not isinstance(pos_weight, (int, float)):
        if not broadcasts_to(tuple(pos_weight.shape), tuple(pred.shape)):
            raise ValueError(
                f"pos_weight shape {tuple(pos_weight.shape)} does not broadcast to pred shape {tuple(pred.shape)}"
            )

    def formula(xp: Any, x: Array, z: Array) -> Array:
        pw = pos_weight
        if pw is not None and not isinstance(pw, (int, float)):
            pw = xp.astype(pw, x.dtype, copy=False)
        if not from_sigmoid:
            # -[pw*z*log(sigmoid(x)) + (1-z)*log(1-sigmoid(x))]
            #   = (1-z)*x + (1 + (pw-1)*z) * softplus(-x),  as log(1-sigmoid(x)) = -x - softplus(-x)
            log_weight = 1.0 if pw is None else 1 + (pw - 1) * z
            return (1 - z) * x + log_weight * softplus(xp, -x)
        pos = xp.log(x + _PROB_EPS) * z
        if pw is not None:
            pos = pos * pw
        return -(pos + xp.log(1.0 - x + _PROB_EPS) * (1.0 - z))

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, extra=(pos_weight,))


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
        return softplus(xp, x) - x * z  # = log(1 + exp(-x)) for z=1, log(1 + exp(x)) for z=0

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis)


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
    return pointwise(
        lambda xp, x, z: relu(xp, margin - x * z), pred, label, sample_weight, weight=weight, batch_axis=batch_axis
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
    return pointwise(
        lambda xp, x, z: xp.square(relu(xp, margin - x * z)),
        pred,
        label,
        sample_weight,
        weight=weight,
        batch_axis=batch_axis,
    )


def _class_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} is out of range for pred with {ndim} axes")
    return axis % ndim


def sparse_label_indices(xp: Any, label: Array, pred: Array, axis: int) -> Array:
    """Check a sparse label against ``pred`` and return it as indices with ``pred``'s rank.

    ``label`` has ``pred``'s shape without ``axis`` (or with ``axis`` of size 1); its values must
    be whole numbers in ``[0, C)``.
    """
    shape = tuple(pred.shape)
    reduced = shape[:axis] + shape[axis + 1 :]
    keep = shape[:axis] + (1,) + shape[axis + 1 :]
    if tuple(label.shape) not in (reduced, keep):
        raise ValueError(
            f"sparse label shape {tuple(label.shape)} does not match pred shape {shape}: expected "
            f"{reduced} (pred's shape without the class axis {axis})"
        )
    if not xp.isdtype(label.dtype, ("integral", "real floating")):
        raise TypeError(f"sparse label must hold class indices (integers), got dtype {label.dtype}")
    check_labels_in_range(xp, label, 0, shape[axis])
    index = xp.astype(label, index_dtype(xp), copy=False)
    return xp.reshape(index, keep) if index.ndim != len(shape) else index


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
) -> Array:
    """Softmax (log-softmax when ``from_logits``) cross-entropy. See :class:`losskit.SoftmaxCELoss`."""
    xp = namespace(pred, label, sample_weight)
    pred_c = float_input(xp, pred, "pred")
    cls = _class_axis(axis, pred.ndim)
    b_axis = check_batch_axis(batch_axis, pred.ndim)
    check_weight(weight)
    loss_shape = tuple(pred.shape[:cls]) + (1,) + tuple(pred.shape[cls + 1 :])
    check_sample_weight(xp, sample_weight, loss_shape)
    if sparse_label:
        index = sparse_label_indices(xp, label, pred, cls)
        picked = xp.take_along_axis(pred_c, index, axis=cls)
        # -log softmax(x)[y] = logsumexp(x) - x[y]: one pass, no (N, C) log-probability array kept
        loss = -picked if from_logits else logsumexp(xp, pred_c, axis=cls, keepdims=True) - picked
    else:
        soft = like(xp, label, pred_c, "label")
        logp = pred_c if from_logits else log_softmax(xp, pred_c, axis=cls)
        loss = -xp.sum(logp * soft, axis=cls, keepdims=True)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=b_axis)


def kl_div(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    from_logits: bool = True,
    axis: int = -1,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``sum(label * (log(label) - log_prob))`` per example. See :class:`losskit.KLDivLoss`."""
    xp = namespace(pred, label, sample_weight)
    pred_c = float_input(xp, pred, "pred")
    cls = _class_axis(axis, pred.ndim)
    b_axis = check_batch_axis(batch_axis, pred.ndim)
    check_weight(weight)
    check_sample_weight(xp, sample_weight, tuple(pred.shape))
    target = like(xp, label, pred_c, "label")
    logp = pred_c if from_logits else log_softmax(xp, pred_c, axis=cls)
    loss = xlogx(xp, target) - target * logp  # label*log(label) taken as 0 where label = 0
    return finish(
        xp,
        loss,
        out_dtype=pred.dtype,
        weight=weight,
        sample_weight=sample_weight,
        batch_axis=b_axis,
        reduce="sum",
    )


__all__ = [
    "sigmoid_binary_cross_entropy",
    "logistic_loss",
    "hinge_loss",
    "squared_hinge_loss",
    "softmax_cross_entropy",
    "kl_div",
]
