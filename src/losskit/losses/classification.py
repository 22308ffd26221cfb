"""Classification losses (Gluon names and semantics)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._array import Array
from ..functional.classification import check_label_format
from ..registry import register
from .base import Loss


@register("classification", aliases=("SigmoidBCELoss",), curve="binary")
class SigmoidBinaryCrossEntropyLoss(Loss):
    r"""Binary cross-entropy of a sigmoid, fused with it (alias ``SigmoidBCELoss``).

    .. math::
        \ell_i = -\bigl[\,p_w\, z_i \log \sigma(x_i) + (1 - z_i) \log(1 - \sigma(x_i))\bigr]

    With ``from_sigmoid=True``, ``pred`` already holds probabilities and
    :math:`\ell_i = -[p_w z_i \log(x_i + 10^{-12}) + (1 - z_i)\log(1 - x_i + 10^{-12})]`.

    Shape:
        - pred: any shape; label: values in ``[0, 1]``, the same number of elements.
        - sample_weight: broadcastable to ``pred`` with as many axes, e.g. ``(N, 1)``.
        - pos_weight: weight of the positive term, broadcastable to ``pred``, e.g. ``(1, C)``.
        - output: ``(N,)``.

    Call: ``loss(pred, label, sample_weight=None, pos_weight=None)`` (Gluon 1.9.1's order).

    Stability: on logits, computed as ``(1 - z) x + (1 + (p_w - 1) z) softplus(-x)`` using
    ``log(1 - sigmoid(x)) = -x - softplus(-x)``: finite for any finite logit.

    >>> import numpy as np, losskit
    >>> loss = losskit.SigmoidBCELoss()
    >>> loss(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]))  # log 2
    array([0.69314718])
    """

    def __init__(
        self, from_sigmoid: bool = False, weight: float | None = None, batch_axis: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._from_sigmoid = bool(from_sigmoid)

    def forward(self, pred: Array, label: Array, sample_weight: Any = None, pos_weight: Any = None) -> Array:
        return F.sigmoid_binary_cross_entropy(
            pred,
            label,
            sample_weight,
            pos_weight,
            from_sigmoid=self._from_sigmoid,
            weight=self._weight,
            batch_axis=self._batch_axis,
        )


SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss


@register("classification", aliases=("SoftmaxCELoss",))
class SoftmaxCrossEntropyLoss(Loss):
    r"""Softmax fused with cross-entropy (alias ``SoftmaxCELoss``).

    .. math::
        \ell = -\log \operatorname{softmax}(x)_y = \operatorname{logsumexp}(x) - x_y
        \quad\text{(sparse)},\qquad
        \ell = -\sum_j z_j \log \operatorname{softmax}(x)_j \quad\text{(dense)}

    With ``from_logits=True``, ``pred`` already holds log-probabilities and is used as is.

    Shape:
        - pred: ``(N, C)``, or any shape with the classes along ``axis``.
        - label: sparse (default): ``pred``'s shape without ``axis``, integer class indices in
          ``[0, C)`` (floats holding whole numbers are accepted, as in Gluon); dense
          (``sparse_label=False``): a distribution of ``pred``'s shape.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1, e.g. ``(N, 1)``.
        - output: ``(N,)``.

    Stability: ``logsumexp`` subtracts the maximum first, so logits of any finite magnitude
    give finite values and gradients; softmax probabilities are never formed.
    Out-of-range class indices raise ``ValueError`` on eager arrays; under ``jax.jit`` or
    ``torch.compile`` they are not checked (JAX clamps the gather index, so results are wrong).

    >>> import numpy as np, losskit
    >>> losskit.SoftmaxCELoss()(np.array([[1.0, 10.0], [8.0, 2.0]]), np.array([0, 1]))
    array([9.0001234 , 6.00247569])
    """

    def __init__(
        self,
        axis: int = -1,
        sparse_label: bool = True,
        from_logits: bool = False,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = int(axis)
        self._sparse_label = bool(sparse_label)
        self._from_logits = bool(from_logits)

    def forward(self, pred: Array, label: Array, sample_weight: Any = None) -> Array:
        return F.softmax_cross_entropy(
            pred,
            label,
            sample_weight,
            axis=self._axis,
            sparse_label=self._sparse_label,
            from_logits=self._from_logits,
            weight=self._weight,
            batch_axis=self._batch_axis,
        )


SoftmaxCELoss = SoftmaxCrossEntropyLoss


@register("classification")
class KLDivLoss(Loss):
    r"""Kullback-Leibler divergence of ``pred``'s distribution from ``label``'s.

    .. math:: \ell = \sum_{i \ne \text{batch}} z_i \bigl(\log z_i - \log p_i\bigr)

    ``log p = pred`` when ``from_logits`` (the default: ``pred`` holds log-probabilities),
    else ``log_softmax(pred, axis)``. As in MXNet 1.9.1 the result is the **sum** over the
    non-batch axes (the full divergence per example), not their mean.

    Shape:
        - pred, label: the same number of elements; label holds probabilities.
        - sample_weight: broadcastable to ``pred`` with as many axes.
        - output: ``(N,)``.

    Stability: ``z log z`` is taken as 0 at ``z = 0`` with a finite gradient (MXNet adds 1e-12
    inside the log instead; the values agree to that order).

    >>> import numpy as np, losskit
    >>> losskit.KLDivLoss()(np.log(np.array([[0.5, 0.5]])), np.array([[0.5, 0.5]]))
    array([0.])
    """

    def __init__(
        self, from_logits: bool = True, axis: int = -1, weight: float | None = None, batch_axis: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits = bool(from_logits)
        self._axis = int(axis)

    def forward(self, pred: Array, label: Array, sample_weight: Any = None) -> Array:
        return F.kl_div(
            pred,
            label,
            sample_weight,
            from_logits=self._from_logits,
            axis=self._axis,
            weight=self._weight,
            batch_axis=self._batch_axis,
        )


class _MarginLoss(Loss):
    """Shared constructor of the hinge losses: a non-negative ``margin``."""

    def __init__(self, margin: float = 1, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        if margin < 0:
            raise ValueError(f"margin must be non-negative, got {margin!r}")
        self._margin = margin


@register("classification", curve="binary")
class HingeLoss(_MarginLoss):
    r"""Hinge loss of SVMs, for labels in {-1, 1}.

    .. math:: \ell_i = \max(0, m - x_i z_i)

    Shape:
        - pred, label: the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: piecewise linear; the gradient at the kink is the framework's choice for
    ``maximum`` (PyTorch and JAX split it evenly).

    >>> import numpy as np, losskit
    >>> losskit.HingeLoss()(np.array([[0.5, 2.0]]), np.array([[1.0, 1.0]]))
    array([0.25])
    """

    def forward(self, pred: Array, label: Array, sample_weight: Any = None) -> Array:
        return F.hinge_loss(
            pred, label, sample_weight, margin=self._margin, weight=self._weight, batch_axis=self._batch_axis
        )


@register("classification", curve="binary")
class SquaredHingeLoss(_MarginLoss):
    r"""Squared hinge loss (soft-margin SVM), for labels in {-1, 1}.

    .. math:: \ell_i = \max(0, m - x_i z_i)^2

    Shape:
        - pred, label: the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: a polynomial where positive; smooth at the margin.

    >>> import numpy as np, losskit
    >>> losskit.SquaredHingeLoss()(np.array([[0.5, 2.0]]), np.array([[1.0, 1.0]]))
    array([0.125])
    """

    def forward(self, pred: Array, label: Array, sample_weight: Any = None) -> Array:
        return F.squared_hinge_loss(
            pred, label, sample_weight, margin=self._margin, weight=self._weight, batch_axis=self._batch_axis
        )


@register("classification", curve="binary")
class LogisticLoss(Loss):
    r"""Logistic loss for labels in {-1, 1} (``label_format='signed'``) or {0, 1} (``'binary'``).

    .. math:: \ell_i = \log(1 + \exp(-x_i z_i)) \quad (z_i \in \{-1, 1\})

    Shape:
        - pred, label: the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: computed as ``softplus(x) - x z'`` with ``z' = (z + 1)/2``, where
    ``softplus(x) = max(x, 0) + log1p(exp(-|x|))`` never overflows.

    >>> import numpy as np, losskit
    >>> losskit.LogisticLoss()(np.array([[0.0]]), np.array([[1.0]]))  # log 2
    array([0.69314718])
    """

    def __init__(
        self, weight: float | None = None, batch_axis: int = 0, label_format: str = "signed", **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_label_format(label_format)
        self._label_format = label_format

    def forward(self, pred: Array, label: Array, sample_weight: Any = None) -> Array:
        return F.logistic_loss(
            pred,
            label,
            sample_weight,
            label_format=self._label_format,
            weight=self._weight,
            batch_axis=self._batch_axis,
        )


__all__ = [
    "SigmoidBinaryCrossEntropyLoss",
    "SigmoidBCELoss",
    "SoftmaxCrossEntropyLoss",
    "SoftmaxCELoss",
    "KLDivLoss",
    "HingeLoss",
    "SquaredHingeLoss",
    "LogisticLoss",
]
