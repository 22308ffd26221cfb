"""Ranking and metric-learning losses (Gluon names and semantics)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._array import Array
from .._core import check_flag, check_number
from ..registry import register
from .base import Loss, _MarginLoss


@register("metric")
class TripletLoss(_MarginLoss):
    r"""Triplet loss: the anchor ``pred`` should be nearer ``positive`` than ``negative`` by ``margin``.

    .. math::
        \ell = \max\Bigl(0,\ \sum_{i \ne \text{batch}} (p_i - a_i)^2 - (n_i - a_i)^2 + m\Bigr)

    Squared distances are **summed** over the non-batch axes (as in Gluon).
    ``sample_weight`` is accepted, as in MXNet 2.x (1.9.1 had none).

    Shape:
        - pred, positive, negative: the same number of elements, batch along ``batch_axis``.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``.

    Stability: polynomial; at the kink (a loss of exactly 0) the derivative is 0 (``relu``'s), on every backend.

    >>> import numpy as np, losskit
    >>> a, p, n = np.zeros((1, 2)), np.ones((1, 2)), 2 * np.ones((1, 2))
    >>> losskit.TripletLoss(margin=1)(a, p, n)  # max(0, 2 - 8 + 1)
    array([0.])
    >>> losskit.TripletLoss(margin=1)(a, n, p)  # max(0, 8 - 2 + 1)
    array([7.])
    """

    _function = staticmethod(F.triplet_loss)

    def _compute(self, pred: Array, positive: Array, negative: Array, sample_weight: Any = None) -> Array:
        return self._function(pred, positive, negative, sample_weight, **self._options())


@register("metric")
class CosineEmbeddingLoss(Loss):
    r"""Cosine embedding loss: pull pairs labelled 1 together, push pairs labelled -1 apart.

    .. math::
        \ell = \begin{cases} 1 - \cos(a, b) & y = 1 \\ \max(0, \cos(a, b) - m) & y = -1 \end{cases},
        \qquad \cos(a, b) = \frac{a \cdot b}{\max(\lVert a\rVert \lVert b\rVert, 10^{-12})}

    Shape:
        - input1, input2: ``(N, D)`` (vectors along the last axis), the same number of elements;
          or ``(N, T, ..., D)``: a pair per leading index, the pairs' losses averaged over every
          axis but ``batch_axis`` as any loss's are (Gluon 1.9.1 returned each pair's loss,
          flattened to ``(N * T * ..., 1)``: ``loss.sum()`` and its gradient were ``T * ...``
          times losskit's).
        - label: ``(N,)`` of 1 and -1 (``(N, ...)``: one per pair).
        - sample_weight: ``(N,)`` (or ``(N, 1)``, Gluon 1.9.1's; ``(N, ...)`` for more axes).
        - output: ``(N,)`` (MXNet 1.9.1 returned ``(N, 1)``; this follows MXNet 2.x), in the
          wider dtype of ``input1`` and ``input2`` when both are float (as torch).
        - batch_axis: an axis of the pairs, ``input2.shape[:-1]``; Gluon ignored the argument and
          always took 0, losskit refuses one out of range.

    Stability: the norm product is floored at 1e-12, computed as
    ``sqrt(max(|a|^2 |b|^2, 1e-24))`` so that a zero vector gets a finite gradient, never NaN
    (MXNet 1.9.1 gives NaN there). Inputs must keep ``|a|^2 |b|^2`` finite in the compute dtype
    (``|x| < ~1e9`` in float32).

    >>> import numpy as np, losskit
    >>> a = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> b = np.array([[0.0, 1.0], [1.0, 1.0]])
    >>> losskit.CosineEmbeddingLoss()(a, b, np.array([1, -1]))
    array([1.        , 0.70710678])
    """

    _function = staticmethod(F.cosine_embedding_loss)

    def __init__(self, weight: float | None = None, batch_axis: int = 0, margin: float = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_number(margin, "margin", array_ok=True)
        self._margin = margin

    def _compute(self, input1: Array, input2: Array, label: Array, sample_weight: Any = None) -> Array:
        return self._function(input1, input2, label, sample_weight, **self._options())


@register("metric")
class SDMLLoss(Loss):
    r"""Batchwise Smoothed Deep Metric Learning loss (Bonadiman et al., 2019).

    Row ``i`` of ``x1`` is paired with row ``i`` of ``x2``; the other rows of the batch are its
    negatives. With squared distances :math:`d_{ij} = \lVert x1_i - x2_j \rVert^2` and the
    smoothed identity :math:`q_{ij} = 1 - s` on the diagonal, :math:`s / (N - 1)` elsewhere:

    .. math:: \ell_i = \sum_j q_{ij} \bigl(\log q_{ij} - \log \operatorname{softmax}_j(-d_{i\cdot})\bigr)

    Shape:
        - x1, x2: ``(N, D)`` with ``N >= 2``.
        - output: ``(N,)``; ``batch_axis`` must be 0 (Gluon ignored any other value).

    ``weight`` (default 1) scales the result; MXNet 1.9.1 stored it but never applied it.

    Stability: ``log_softmax`` via ``logsumexp``; ``q log q`` is 0 where ``q = 0`` (``s = 0``).

    >>> import numpy as np, losskit
    >>> x = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> losskit.SDMLLoss(smoothing_parameter=0.0)(x, x).round(6)  # log(1 + exp(-25))
    array([0., 0.])
    """

    _function = staticmethod(F.sdml_loss)

    def __init__(
        self, smoothing_parameter: float = 0.3, weight: float | None = 1.0, batch_axis: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_number(smoothing_parameter, "smoothing_parameter", low=0.0, high=1.0, high_open=True)
        self._smoothing_parameter = smoothing_parameter

    def _compute(self, x1: Array, x2: Array, sample_weight: Any = None) -> Array:
        return self._function(x1, x2, sample_weight, **self._options())


@register("metric")
class MarginRankingLoss(Loss):
    r"""Margin ranking loss: ``input1`` should rank above ``input2`` where ``label`` is 1, below where -1.

    .. math:: \ell_i = \max\bigl(0,\ -y_i\,(a_i - b_i) + m\bigr)

    as ``torch.nn.MarginRankingLoss``, averaged per example.

    Call: ``loss(input1, input2, label, sample_weight=None)``.

    Shape:
        - input1: any shape, batch along ``batch_axis``; input2, label (1 or -1): the same number of elements.
        - sample_weight: broadcastable to ``input1`` with as many axes.
        - output: ``(N,)``.

    Stability: piecewise linear; at the kink the derivative is 0 (``relu``'s), on every backend.

    >>> import numpy as np, losskit
    >>> losskit.MarginRankingLoss(margin=0.5)(np.array([2.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    array([0. , 1.5])
    """

    _function = staticmethod(F.margin_ranking_loss)

    def __init__(self, margin: float = 0.0, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_number(margin, "margin", array_ok=True)
        self._margin = margin

    def _compute(self, input1: Array, input2: Array, label: Array, sample_weight: Any = None) -> Array:
        return self._function(input1, input2, label, sample_weight, **self._options())


@register("metric")
class InfoNCELoss(Loss):
    r"""InfoNCE contrastive loss with in-batch negatives (van den Oord et al., 2018; CLIP's loss).

    Row ``i`` of ``x1`` is paired with row ``i`` of ``x2``; the other rows of ``x2`` are its
    negatives. With :math:`s_{ij} = \cos(x1_i, x2_j) / T`:

    .. math::
        r_i = -\log \frac{e^{s_{ii}}}{\sum_j e^{s_{ij}}},\quad
        c_i = -\log \frac{e^{s_{ii}}}{\sum_j e^{s_{ji}}},\qquad
        \ell_i = \tfrac12 (r_i + c_i) \ \text{(symmetric)}\ \text{ or } r_i

    ``symmetric=True`` (default) averages both directions (x1 -> x2 and x2 -> x1), as CLIP.
    The mean of the result is CLIP's loss; SimCLR's NT-Xent (``optax.ntxent``) differs in
    also taking the other rows of the same side as negatives.

    Shape:
        - x1, x2: ``(N, D)``.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``.

    Stability: each row is scaled by its largest entry, then normalised (no overflow for any
    finite input; a zero row stays 0 with a finite gradient), so the logits are bounded by
    ``1/T``; the log-softmax goes through ``logsumexp``.
    ``temperature`` must be positive: a number, or a 0-d array of the inputs' library for a
    learnt temperature (CLIP's ``1 / logit_scale.exp()``), whose value is not checked.

    >>> import numpy as np, losskit
    >>> x = np.eye(2)  # cos = 1 with the partner, 0 with the other row
    >>> losskit.InfoNCELoss(temperature=1.0)(x, x)  # log(e + 1) - 1
    array([0.31326169, 0.31326169])
    """

    _function = staticmethod(F.info_nce_loss)

    def __init__(
        self,
        temperature: float = 0.1,
        symmetric: bool = True,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._temperature = check_number(temperature, "temperature", low=0.0, low_open=True, array_ok=True)
        self._symmetric = check_flag(symmetric, "symmetric")

    def _compute(self, x1: Array, x2: Array, sample_weight: Any = None) -> Array:
        return self._function(x1, x2, sample_weight, **self._options())


__all__ = ["TripletLoss", "CosineEmbeddingLoss", "SDMLLoss", "MarginRankingLoss", "InfoNCELoss"]
