"""The shared skeleton of losses that compare ``pred`` and ``label`` element by element."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _fast
from .._array import Array, namespace
from .._core import check_batch_axis, check_sample_weight, check_weight, finish, float_input, like

Formula = Callable[[Any, Array, Array], Array]
Fast = Callable[[Array, Array], Array]


def pointwise(
    formula: Formula,
    pred: Array,
    label: Array,
    sample_weight: Any,
    *,
    weight: float | None,
    batch_axis: int,
    extra: tuple[Any, ...] = (),
    fast: Fast | None = None,
    label_name: str = "label",
) -> Array:
    """Check inputs, evaluate ``formula(xp, pred, label)`` elementwise, weight and reduce.

    ``extra`` lists further array arguments of the call (``pos_weight``, say) so that they
    take part in the namespace check. ``fast(pred, label)``, if given, computes the same loss with
    the framework's fused op on torch tensors (:mod:`losskit._fast`, tested against ``formula``).
    ``label_name``: what the loss calls its label, for the messages (PoissonNLLLoss's ``target``).
    """
    xp = namespace(pred, label, sample_weight, *extra, names=("pred", label_name))
    pred_c = float_input(xp, pred, "pred")
    label_c = like(xp, label, pred_c, label_name)
    axis = check_batch_axis(batch_axis, pred.ndim)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, tuple(pred.shape))
    loss = fast(pred_c, label_c) if fast is not None and _fast.use_torch(pred_c) else formula(xp, pred_c, label_c)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=axis)
