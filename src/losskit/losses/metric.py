"""Ranking and metric-learning losses (Gluon names and semantics)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._array import Array
from .._core import check_axis_option, check_flag, check_number, check_reduction
from ..functional.metric import (
    check_distance_function,
    check_distance_metric,
    check_norm_order,
    triplet_margin_with_distance_traced,
)
from ..registry import register
from .base import Loss, _MarginLoss


@register("metric")
class TripletLoss(_MarginLoss):
    r"""Triplet loss: the anchor ``pred`` should be nearer ``positive`` than ``negative`` by ``margin``.

    .. math::
        \ell = \max\Bigl(0,\ \sum_{i \ne \text{batch}} (p_i - a_i)^2 - (n_i - a_i)^2 + m\Bigr)

    Squared distances are **summed** over the non-batch axes (as in Gluon).
    ``sample_weight`` is accepted, as in MXNet 2.x (1.9.1 had none).
    This is Gluon's loss, not ``torch.nn.TripletMarginLoss``, which is :class:`TripletMarginLoss`:
    that one takes (unsquared) p-norm distances along the last axis only, adds ``eps`` to each
    difference, can ``swap``, and gives one value per triplet (averaged over the leading axes);
    this one has no ``eps``, and squares the distances of all the non-batch axes taken as one vector.

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
class TripletMarginLoss(Loss):
    r"""Triplet margin loss with p-norm distances (``torch.nn.TripletMarginLoss``): the anchor
    ``pred`` should be nearer ``positive`` than ``negative`` by ``margin``.

    .. math::
        \ell = \max\bigl(0,\ m + d(a, p) - d(a, n)\bigr),\qquad
        d(x, y) = \lVert x - y + \varepsilon \rVert_p = \Bigl(\sum_k |x_k - y_k + \varepsilon|^p\Bigr)^{1/p}

    along the last axis, ``eps`` (:math:`\varepsilon`, default 1e-6) added to every entry of the
    difference, as ``torch.nn.functional.pairwise_distance``. ``p`` is any order in ``(0, inf]``
    (``math.inf``: the largest :math:`|x_k - y_k + \varepsilon|`; default 2, Euclidean).
    ``swap=True`` takes :math:`\min(d(a, n), d(p, n))` as the negative's distance (the distance
    swap of Balntas et al., 2016). ``margin`` is any real number, or a 0-d array; torch refuses
    ``margin <= 0``, losskit computes the formula for it.

    Not Gluon's :class:`TripletLoss`, which sums *squared* differences over all the non-batch
    axes, without ``eps``: ``TripletMarginLoss(p=2, eps=0)`` of ``(N, D)`` inputs is the
    hinge of the distances, ``TripletLoss`` that of their squares.

    Shape:
        - pred (the anchor), positive, negative: the same shape ``(N, D)``, the vectors along the
          last axis; ``(D,)``: one unbatched triplet, output ``(1,)`` (torch's 0-d value); or
          ``(N, T, ..., D)``: a triplet per leading index, the triplets' losses averaged over every
          axis but ``batch_axis`` (torch returns ``(N, T, ...)``). Of float dtypes; the
          result's is their promotion, as torch's.
        - sample_weight: broadcastable to the triplets' shape ``(N, T, ...)`` with as many axes:
          ``(N,)`` for ``(N, D)`` inputs.
        - output: ``(N,)``.
        - batch_axis: an axis of the triplets, ``pred.shape[:-1]``.

    Stability: each distance is computed as :math:`s \lVert v / s \rVert_p` with :math:`s` the
    largest :math:`|v_k|`, so :math:`|v_k|^p` never overflows or underflows, for any finite input
    and order. On CPU tensors with ``p=2`` it is torch's fused ``pairwise_distance`` whenever every
    distance of the call is finite and far from 0 (where that is as accurate; about 1.5x faster),
    the scaled norm otherwise. The gradients are torch's: entries of :math:`v` that are exactly 0 get 0 (also for
    ``p < 1``, where the derivative is infinite), and so does a whole zero difference (``eps=0``
    and ``x == y``; torch's choice, where a square root's derivative is infinite). An
    ``anchor == positive`` (a distance of :math:`\varepsilon D^{1/p}`) has a finite gradient. With
    ``swap``, a tie of the two negative distances (``anchor == positive``) splits the gradient in
    half between them, as torch's ``minimum``. At the kink (a loss of exactly 0) the derivative is
    torch's ``clamp_min``'s: it passes (1), as everywhere the loss is positive.

    >>> import numpy as np, losskit
    >>> a = np.zeros((2, 2))
    >>> pos, neg = np.array([[3.0, 4.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [3.0, 4.0]])
    >>> losskit.TripletMarginLoss(eps=0.0)(a, pos, neg)  # max(0, 1 + 5 - 1), max(0, 1 + 1 - 5)
    array([5., 0.])
    >>> losskit.TripletMarginLoss(p=1, eps=0.0)(a, pos, neg)  # |3| + |4| = 7: 1 + 7 - 1
    array([7., 0.])
    >>> neg = np.array([[3.0, 5.0], [3.0, 4.0]])  # |neg - pos| = 1 in row 0, |neg| = sqrt(34)
    >>> losskit.TripletMarginLoss(eps=0.0, swap=True)(a, pos, neg)  # 1 + 5 - min(sqrt(34), 1)
    array([5., 0.])
    """

    _function = staticmethod(F.triplet_margin_loss)

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_number(margin, "margin", array_ok=True)  # any real (torch: > 0)
        self._margin = margin  # as given: the repr and plot labels show it so
        self._p = check_norm_order(p)
        self._eps = check_number(eps, "eps", low=0.0)
        self._swap = check_flag(swap, "swap")

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
        - label: ``(N,)`` of 1 and -1 (``(N, ...)``: one per pair); 0 leaves a pair out (its loss
          is 0, as in torch and MXNet), any other value is refused (there it added 0 unseen).
        - sample_weight: ``(N,)`` (or ``(N, 1)``, Gluon 1.9.1's; ``(N, ...)`` for more axes).
        - output: ``(N,)`` (MXNet 1.9.1 returned ``(N, 1)``; this follows MXNet 2.x), in the
          wider dtype of ``input1`` and ``input2`` when both are float (as torch).
        - batch_axis: an axis of the pairs, ``input2.shape[:-1]``; Gluon ignored the argument and
          always took 0, losskit refuses one out of range.

    Stability: the norm product is floored at 1e-12, as MXNet's, and formed from the roots of the
    squared norms (``torch.nn.functional.cosine_embedding_loss`` multiplies the squares, which
    overflow float32 once ``|a| |b| > ~1.8e19``: it takes the cosine as 0 there); each ``|x|^2``
    must be finite (``|x| < ~1.8e19`` in float32). A squared norm below the dtype's smallest
    normal number (``|x| < ~1.1e-19`` in float32) is taken as that number, so that a zero vector
    gets a finite gradient, ``b / 1e-12``, never NaN (MXNet 1.9.1 gives NaN there; a float16
    gradient rounds it to inf). At the hinge's kink (label -1, ``cos = margin``) the derivative is
    0, Gluon's ``relu``'s; torch's ``clamp_min`` passes it. float16 and bfloat16 inputs are computed in float32. Vectors
    beyond that range: :class:`CosineDistanceLoss`, which scales each by its largest entry (any
    finite input), gives ``1 - cos``.

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
        - sample_weight: ``(N,)``, one factor per pair (Gluon took none).
        - output: ``(N,)``; ``batch_axis`` must be 0 (Gluon ignored any other value).

    ``weight`` (default 1) scales the result; MXNet 1.9.1 stored it but never applied it.

    Stability: ``log_softmax`` via ``logsumexp``; ``q log q`` is 0 where ``q = 0`` (``s = 0``).
    The distances are :math:`\lvert a_i \rvert^2 + \lvert b_j \rvert^2 - 2 a_i \cdot b_j` of the
    rows centred on their mean (rounding in proportion to the rows' spread, clamped at 0), in
    :math:`O(N^2 + N D)` memory, where MXNet forms the ``(N, N, D)`` differences.

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

    Stability: piecewise linear; at the kink (a loss of exactly 0) the derivative is torch's
    ``clamp_min``'s on every backend: it passes, as where the loss is positive, so that tied scores
    (every pair of a zero-initialised scorer with ``margin=0``) still get a gradient.

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


@register("metric")  # drawn by plot._hinge_embedding_slice: a dissimilar pair by default
class HingeEmbeddingLoss(_MarginLoss):
    r"""Hinge embedding loss: a distance ``pred`` kept small where ``label`` is 1, past ``margin`` where -1.

    .. math::
        \ell_i = \begin{cases} x_i & y_i = 1 \\ \max(0,\ m - x_i) & y_i = -1 \end{cases}

    as ``torch.nn.HingeEmbeddingLoss`` (default ``margin=1``), averaged per example. As in torch,
    labels are not checked: a label that is neither 1 nor -1 takes both terms, :math:`x_i + \max(0, m - x_i)`.
    ``margin`` is any real number, or a 0-d array.

    Shape:
        - pred: any shape, batch along ``batch_axis``; label (1 or -1): the same number of elements.
        - sample_weight: broadcastable to ``pred`` with as many axes.
        - output: ``(N,)``, the mean over the non-batch axes (torch's ``reduction='none'``
          averaged per example).

    Stability: piecewise linear; at the kink (``x = m`` with label -1) the derivative is -1 on
    every backend, torch's ``clamp_min``'s (the side where the loss is positive).

    >>> import numpy as np, losskit
    >>> losskit.HingeEmbeddingLoss()(np.array([[0.3, 2.0], [0.3, 0.4]]), np.array([[1, -1], [-1, -1]]))
    array([0.15, 0.65])
    """

    _function = staticmethod(F.hinge_embedding_loss)


@register("metric")
class CosineDistanceLoss(Loss):
    r"""Cosine distance: ``1 - cos(pred, label)`` between the vectors along ``axis`` (``optax.losses.cosine_distance``).

    .. math::
        \ell = 1 - \sum_k \frac{x_k}{\max(\lVert x\rVert, \sqrt{\varepsilon})}
        \frac{z_k}{\max(\lVert z\rVert, \sqrt{\varepsilon})}

    ``epsilon`` floors each *squared* norm, as optax's ``epsilon`` (default 0) and tf.keras 2's
    ``l2_normalize`` (1e-12, the default here): with equal ``epsilon`` the values and gradients
    are optax's. A library that floors the norm itself at ``eps`` is matched by ``epsilon = eps**2``:
    ``torch.nn.functional.cosine_similarity`` (``eps=1e-8``: 1e-16), and Keras 3's
    ``CosineSimilarity`` loss (``keras.backend.epsilon()`` = 1e-7: 1e-14), which returns
    :math:`-\cos`, this loss minus 1, with the same gradient.

    Shape:
        - pred, label: the same shape, at least 2 axes, the vectors along ``axis`` (default -1,
          any axis but ``batch_axis``): ``(N, D)``, or ``(N, T, ..., D)`` whose cosines are
          averaged over every axis but ``batch_axis``.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1, e.g. ``(N, 1)``.
        - output: ``(N,)``.

    Stability: each vector is divided by its largest entry before its norm is taken, so no
    finite input overflows or underflows (3e38 in float32 included). A vector whose norm is below
    :math:`\sqrt{\varepsilon}` is divided by :math:`\sqrt{\varepsilon}`, as optax's, so its
    cosine shrinks towards 0; a zero vector gives a cosine of 0, a loss of 1, and a finite
    gradient of size about :math:`1/\sqrt{\varepsilon}` (1e6; past float16's range, so a float16
    zero vector needs ``epsilon >= 1e-9`` for a finite gradient). With ``epsilon=0`` a zero vector
    still gives a loss of 1 and a finite gradient, where optax's 0/0 gives NaN. The result has
    ``pred``'s dtype.

    >>> import numpy as np, losskit
    >>> pred = np.array([[1.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    >>> label = np.array([[0.0, 2.0], [6.0, 8.0], [1.0, 0.0]])
    >>> losskit.CosineDistanceLoss()(pred, label)  # orthogonal, parallel, 45 degrees: 1 - 1/sqrt(2)
    array([1.        , 0.        , 0.29289322])
    """

    _function = staticmethod(F.cosine_distance_loss)

    def __init__(
        self, axis: int = -1, epsilon: float = 1e-12, weight: float | None = None, batch_axis: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = check_axis_option(axis)
        self._epsilon = check_number(epsilon, "epsilon", low=0.0)


@register("metric")
class RankingSoftmaxLoss(Loss):
    r"""Listwise softmax cross-entropy for learning to rank (``optax.losses.ranking_softmax_loss``).

    With scores :math:`s` and relevance labels :math:`y \ge 0` of the items of a list (the last axis):

    .. math:: \ell = -\sum_i y_i \log \frac{e^{s_i}}{\sum_j e^{s_j}}

    Labels are used as given, as optax does, not normalised per list (as some ListNet
    implementations do): the loss is :math:`\sum_i y_i` times the softmax cross-entropy against
    :math:`y / \sum_i y_i`, and a list without a relevant item costs 0, with a zero gradient.
    ``mask`` (optax's ``where``) marks the real items of each list: masked items (padding) leave
    the softmax and the sum, whatever their scores and labels; a list with no unmasked item costs
    0 (optax's default ``reduce_fn`` leaves such lists out of its mean: ``loss.sum() /
    mask.any(-1).sum()`` is that mean). Negative (or NaN) relevance of an unmasked item raises
    ``ValueError`` on eager arrays (one read of the labels' minimum, skipped under
    ``jax.jit``/``torch.compile`` and by :func:`losskit.set_value_checks`).

    Shape:
        - pred: scores ``(N, L)``, or ``(N, ..., L)``: a list along the last axis per leading
          index, whose losses are averaged over every axis but ``batch_axis`` (not the last).
        - label: ``pred``'s shape, relevance ``>= 0`` (any real dtype).
        - mask: ``None`` or a boolean array of ``pred``'s shape, False for padded items.
        - sample_weight: broadcastable to ``pred``'s shape with as many axes: ``(N, L)`` weighs
          each item's term (optax's ``weights``), ``(N, 1)`` each list.
        - output: ``(N,)``.

    Stability: the log-softmax subtracts the largest unmasked score first, so scores of any
    finite magnitude give finite values and gradients; masked scores become :math:`-\infty`
    before the exponential (an exact 0 with a zero derivative), and a list with no unmasked item
    never forms ``log(0)``.

    >>> import numpy as np, losskit
    >>> scores, relevance = np.zeros((2, 3)), np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    >>> mask = np.array([[True, True, True], [True, True, False]])
    >>> losskit.RankingSoftmaxLoss()(scores, relevance, mask)  # 2 log 3, log 2 (the third item is padding)
    array([2.19722458, 0.69314718])
    """

    _function = staticmethod(F.ranking_softmax_loss)

    def __init__(self, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)

    def _compute(self, pred: Array, label: Array, mask: Array | None = None, sample_weight: Any = None) -> Array:
        return self._function(pred, label, mask, sample_weight, **self._options())


@register("metric")
class CircleLoss(Loss):
    r"""Circle loss (Sun et al., 2020), as Keras's ``Circle``: each similarity weighted by its
    distance from its optimum, positives pulled towards 1, negatives pushed below 0.

    Each row of ``pred`` (an embedding, L2-normalised by the model as Keras expects, or here with
    ``normalize=True``) is compared with a reference set: the batch itself by default, else
    ``ref_embeddings`` with their ``ref_labels``. With :math:`s_{ij} = \min(x_i \cdot r_j, 1)`, the
    positives :math:`P_i` (references of example ``i``'s class; without :math:`j = i` when
    ``remove_diagonal``) and the negatives :math:`N_i` (the other classes):

    .. math::
        \ell_i = \log\Bigl(1 + \sum_{j \in N_i} e^{\gamma\, \alpha^n_{ij} (s_{ij} - \Delta_n)}
        \sum_{j \in P_i} e^{-\gamma\, \alpha^p_{ij} (s_{ij} - \Delta_p)}\Bigr),\qquad
        \alpha^p = [1 + m - s]_+,\ \alpha^n = [s + m]_+,\ \Delta_p = 1 - m,\ \Delta_n = m

    with :math:`\gamma` = ``gamma`` (default 80) and :math:`m` = ``margin`` (default 0.4), Keras's
    defaults. An example without a positive or without a negative reference costs 0, with a zero
    gradient, as in Keras.

    The weights :math:`\alpha` depend on the similarities, and Keras differentiates through them
    (the default here). The paper's gradient takes them as constants (each similarity's gradient
    scaled by its :math:`\alpha`), as ``pytorch-metric-learning``'s ``CircleLoss`` and most
    published code do, by ``detach``: ``detach_weights=True`` does that (the same loss values; a
    gradient that differs by half its size or more in typical batches). ``pytorch-metric-learning``
    also L2-normalises the embeddings: ``normalize=True``.

    ``keras.losses.circle(y, e, ref_labels, ref_embeddings, remove_diagonal, gamma, margin)`` is
    ``CircleLoss(gamma, margin, remove_diagonal)(e, y, None, ref_embeddings, ref_labels)``. The
    class ``keras.losses.Circle`` then averages over the examples whose loss is above 0 only (a
    Keras mask): ``loss.sum() / (loss > 0).sum()``. ``remove_diagonal`` drops the pairs
    :math:`(i, i)` whatever the reference set, as Keras does: with references other than the batch,
    pass ``False`` unless reference ``i`` is example ``i``. A reference set needs both
    ``ref_embeddings`` and ``ref_labels`` (Keras took the batch's labels for a set given without them).
    Labels are compared as given, for equality: Keras casts them to int32 first (there 1.2 and 1.7
    are one class), and integer labels beside float ``ref_labels`` raise a ``TypeError`` here.

    Shape:
        - pred: ``(N, D)``; label: ``(N,)`` (or ``(N, 1)``), class labels, compared for equality only.
        - ref_embeddings: ``(M, D)``; ref_labels: ``(M,)``; both or neither.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``, in the wider dtype of ``pred`` and ``ref_embeddings`` when both are float.

    Stability: both sums are ``logsumexp`` over the pairs they take (the others enter as
    :math:`-\infty`, an exact 0), and :math:`\log(1 + e^{a + b})` is ``softplus(a + b)``: no
    overflow. For unit vectors every exponent lies within :math:`\pm 4\gamma`; they grow with
    the square of the dot product, so unnormalised embeddings overflow float32 past
    :math:`|x \cdot r| \approx 10^{18}` (``normalize=True`` bounds them for any finite input; a zero
    row stays 0). At :math:`x \cdot r = 1` exactly the cap passes the derivative (Keras's
    ``maximum`` halves it on JAX).

    >>> import numpy as np, losskit
    >>> e, y = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([0, 0, 1])
    >>> losskit.CircleLoss(gamma=1.0, margin=0.25)(e, y)  # log(1 + e^-1/16 e^-1/16); row 2: no positive
    array([0.63259904, 0.63259904, 0.        ])
    """

    _function = staticmethod(F.circle_loss)

    def __init__(
        self,
        gamma: float = 80.0,
        margin: float = 0.4,
        remove_diagonal: bool = True,
        normalize: bool = False,
        detach_weights: bool = False,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._gamma = check_number(gamma, "gamma", low=0.0, array_ok=True)
        self._margin = check_number(margin, "margin", array_ok=True)
        self._remove_diagonal = check_flag(remove_diagonal, "remove_diagonal")
        self._normalize = check_flag(normalize, "normalize")
        self._detach_weights = check_flag(detach_weights, "detach_weights")

    def _compute(
        self,
        pred: Array,
        label: Array,
        sample_weight: Any = None,
        ref_embeddings: Array | None = None,
        ref_labels: Array | None = None,
    ) -> Array:
        return self._function(pred, label, sample_weight, ref_embeddings, ref_labels, **self._options())


@register("metric")
class NTXentLoss(Loss):
    r"""NT-Xent, SimCLR's normalized temperature-scaled cross-entropy (Chen et al., 2020;
    ``optax.losses.ntxent``), over groups of positives given by ``label``.

    With :math:`s_{ij} = \cos(x_i, x_j) / T`, the positives :math:`P(i)` of anchor :math:`i` the
    other embeddings of its group and its negatives :math:`N(i)` those of every other group:

    .. math::
        \ell_{ij} = -\log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N(i)} e^{s_{ik}}},\qquad
        \ell_i = \frac{1}{|P(i)|} \sum_{j \in P(i)} \ell_{ij}

    (the other positives are not in the denominator; an anchor without a positive has
    :math:`\ell_i = 0`, a pair without a negative :math:`\ell_{ij} = 0`). SimCLR's batch of
    ``2N`` views with labels ``[0..N-1, 0..N-1]`` gives each anchor one positive, and the mean
    of the result is its loss. Not :class:`InfoNCELoss` (CLIP's), whose negatives are only the
    other side's rows.

    ``reduction``: ``'none'`` (default) gives :math:`\ell_i` per anchor; ``'mean'`` the mean of
    :math:`\ell_{ij}` over every positive pair of the batch, optax's ``ntxent`` (and
    pytorch-metric-learning's ``NTXentLoss``), equal to the mean of ``'none'`` when every
    anchor has as many positives, 0 when there are none; ``'sum'`` their sum. ``sample_weight``
    (per anchor) and ``weight`` multiply the pairs' losses (the mean's denominator stays the
    pair count).

    Shape:
        - embeddings: ``(N, D)``.
        - label: ``(N,)`` or ``(N, 1)``, group ids (integers, bools or floats, not NaN; equal ids
          are positives of each other).
        - sample_weight: ``(N,)``.
        - output: ``(N,)``; ``()`` for ``reduction='mean'`` or ``'sum'``.

    Stability: rows are normalised as in :class:`InfoNCELoss` (scaled by their largest entry;
    norms floored at 1e-12, where optax floors the squared norms at the dtype's epsilon: the two
    differ for rows of norm below ``sqrt(eps)`` only), so :math:`|s| \le 1/T`. The negatives'
    log-sum-exp is shifted by their maximum (a constant for autodiff) and
    :math:`\ell_{ij} = \operatorname{softplus}(\operatorname{lse}_{k \in N(i)} s_{ik} - s_{ij})`,
    finite while :math:`1/T` is finite in the compute dtype; non-pairs are excluded with ``where`` (no ``0 * inf``).
    ``temperature`` must be positive: a number or a 0-d array (a learnt one, not checked).

    >>> import numpy as np, losskit
    >>> x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])  # two groups, orthogonal
    >>> losskit.NTXentLoss(temperature=1.0)(x, np.array([0, 0, 1, 1]))  # log(1 + 2 / e)
    array([0.55144471, 0.55144471, 0.55144471, 0.55144471])
    """

    _function = staticmethod(F.nt_xent_loss)

    def __init__(
        self,
        temperature: float = 0.07,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        reduction: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._temperature = check_number(temperature, "temperature", low=0.0, low_open=True, array_ok=True)
        self._reduction = check_reduction(reduction)

    def _compute(self, embeddings: Array, label: Array, sample_weight: Any = None) -> Array:
        return self._function(embeddings, label, sample_weight, **self._options())


# ---- TensorFlow Addons (tfa.losses): contrastive, batch-hard and semi-hard triplet losses ----


@register("metric")  # drawn by plot._contrastive_slice: against the distance, a dissimilar pair by default
class ContrastiveLoss(_MarginLoss):
    r"""Contrastive loss (Hadsell, Chopra and LeCun, 2006), as ``tfa.losses.contrastive_loss``:
    ``pred`` holds the distances of pairs, ``label`` is 1 for a similar pair and 0 for a dissimilar one.

    .. math::
        \ell_i = y_i\, d_i^2 + (1 - y_i) \max(0,\ m - d_i)^2

    with :math:`m` = ``margin`` (default 1; any real number, or a 0-d array), averaged per example
    over the non-batch axes. As in tfa the label is used as a number (a label other than 0 or 1
    mixes the two terms) and ``pred`` is not checked: give it Euclidean distances, e.g.
    ``sqrt(sum((a - b)**2, axis=-1))`` of two embeddings (tfa's ``tf.linalg.norm(a - b, axis=1)``).
    ``tfa.losses.ContrastiveLoss()`` averages over the batch: ``reduction='mean'`` there is the
    mean of this loss's values.

    Shape:
        - pred: distances, any shape, batch along ``batch_axis``; label (1 or 0): the same number of
          elements.
        - sample_weight: broadcastable to ``pred`` with as many axes.
        - output: ``(N,)``, the mean over the non-batch axes.

    Stability: polynomial; the hinge's square is smooth (its derivative is 0 at
    :math:`d = m` from both sides), and its derivative is 0 at the kink on every backend.

    >>> import numpy as np, losskit
    >>> d, y = np.array([0.5, 0.5, 1.5, 0.25]), np.array([1, 0, 0, 0])
    >>> losskit.ContrastiveLoss()(d, y)  # 0.5^2, (1 - 0.5)^2, 0 (past the margin), (1 - 0.25)^2
    array([0.25  , 0.25  , 0.    , 0.5625])
    """

    _function = staticmethod(F.contrastive_loss)


@register("metric")
class TripletHardLoss(Loss):
    r"""Batch-hard triplet loss (Hermans, Beyer and Leibe, 2017), as ``tfa.losses.TripletHardLoss``:
    each anchor against its farthest positive and its nearest negative in the batch.

    With :math:`d` the distance between rows of ``embeddings``, the positives :math:`P(a)` of anchor
    :math:`a` (the other rows of its label) and its negatives :math:`N(a)` (the rows of other labels):

    .. math::
        \ell_a = \max\bigl(0,\ \max_{p \in P(a)} d_{ap} - \min_{n \in N(a)} d_{an} + m\bigr)
        \quad\text{or, with } \texttt{soft}\text{:}\quad
        \ell_a = \log\bigl(1 + e^{\max_{p} d_{ap} - \min_{n} d_{an}}\bigr)

    with :math:`m` = ``margin`` (default 1; not used with ``soft``). As in tfa, an anchor without a
    positive takes :math:`\max_p d_{ap} = 0` (its loss is :math:`\max(0, m - \min_n d_{an})`, not 0),
    and one without a negative takes :math:`\min_n d_{an} = \max_j d_{aj}`, its row's largest distance
    (a batch of one class costs :math:`m` per anchor, :math:`\log 2` with ``soft``; a batch of one
    row :math:`\max(0, m)`).

    ``distance_metric``: ``'L2'`` (default) the Euclidean distance :math:`\lVert x_i - x_j\rVert`,
    ``'squared-L2'`` its square, ``'angular'`` :math:`1 - \cos(x_i, x_j)` (rows divided by
    :math:`\max(\lVert x\rVert, 10^{-6})`, tf's ``l2_normalize``): tfa 0.23's names and default.
    Older tfa releases named them ``'L_1'`` (the Euclidean distance) and ``'L_2'`` (the *squared*
    one, their default): both spellings raise a ``ValueError`` naming the one to use. A callable
    distance (tfa takes one) is not taken: it could not be a ``torch.compile`` graph's argument.
    Labels are compared for equality only (integers, or floats); embeddings are used as given (tfa
    expects L2-normalised rows, which neither library enforces).

    ``reduction``: ``'none'`` (default) gives :math:`\ell_a` per anchor; ``'mean'`` their mean over
    every anchor of the batch, tfa's scalar (``tfa.losses.triplet_hard_loss``); ``'sum'`` their sum.
    ``sample_weight`` (per anchor) and ``weight`` multiply the anchors' losses (the mean's
    denominator stays :math:`N`); an empty batch gives 0.

    Shape:
        - embeddings: ``(N, D)``.
        - label: ``(N,)`` or ``(N, 1)``, class labels.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``; ``()`` for ``reduction='mean'`` or ``'sum'``.

    Stability: distances come from the differences of the rows (not tfa's
    :math:`|a|^2 + |b|^2 - 2a\cdot b`, which cancels for near-duplicates and needs a clamp at 0), so they
    are accurate to a few roundings for near-duplicates too, and never negative (two distances equal
    in exact arithmetic may still differ by an ulp, and tfa's by others: a tie broken otherwise);
    ``'L2'`` scales each difference by its largest entry and its
    derivative is 0 at :math:`d = 0` (two equal rows), as tfa's mask makes it, never NaN. This takes
    :math:`O(N^2 D)` memory. The soft margin is ``softplus`` (tfa's ``log1p(exp(.))`` overflows to inf
    past 89 in float32). Ties share the derivative of the max or min equally (tfa's, torch's, JAX's);
    at the hinge's kink it is 0 (tfa's ``maximum`` passes 1). float16/bfloat16 are computed in float32.

    >>> import numpy as np, losskit
    >>> x, y = np.array([[0.0], [2.0], [3.0], [7.0]]), np.array([0, 0, 1, 1])
    >>> losskit.TripletHardLoss(margin=2.0)(x, y)  # 2 - 3 + 2, 2 - 1 + 2, 4 - 1 + 2, 4 - 5 + 2
    array([1., 3., 5., 1.])
    >>> losskit.TripletHardLoss(margin=2.0, reduction="mean")(x, y)  # tfa's scalar, (1 + 3 + 5 + 1) / 4
    array(2.5)
    """

    _function = staticmethod(F.triplet_hard_loss)

    def __init__(
        self,
        margin: float = 1.0,
        soft: bool = False,
        distance_metric: str = "L2",
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        reduction: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = check_number(margin, "margin", array_ok=True)
        self._soft = check_flag(soft, "soft")
        self._distance_metric = check_distance_metric(distance_metric)
        self._reduction = check_reduction(reduction)

    def _compute(self, embeddings: Array, label: Array, sample_weight: Any = None) -> Array:
        return self._function(embeddings, label, sample_weight, **self._options())


@register("metric")
class TripletSemiHardLoss(Loss):
    r"""Triplet loss with semi-hard negative mining (Schroff, Kalenichenko and Philbin, 2015: FaceNet),
    as ``tfa.losses.TripletSemiHardLoss``: each positive pair against the nearest negative that is
    farther than the positive.

    With :math:`d` the distance between rows of ``embeddings``, the positives :math:`P(a)` of anchor
    :math:`a` (the other rows of its label) and its negatives :math:`N(a)` (the rows of other labels),
    each positive pair :math:`(a, p)` takes the negative

    .. math::
        n(a, p) = \begin{cases} \operatorname{arg\,min}\{d_{an} : n \in N(a),\ d_{an} > d_{ap}\}
        & \text{if there is one (semi-hard)} \\
        \operatorname{arg\,max}\{d_{an} : n \in N(a)\} & \text{else (the farthest)} \end{cases}

    .. math::
        \ell_{ap} = \max\bigl(0,\ d_{ap} - d_{a\,n(a,p)} + m\bigr),\qquad
        \ell_a = \frac{1}{|P(a)|} \sum_{p \in P(a)} \ell_{ap}

    with :math:`m` = ``margin`` (default 1). As in tfa, an anchor without a negative takes
    :math:`d_{an} = 0` (its pairs cost :math:`\max(0, d_{ap} + m)`: a batch of one class is not free);
    an anchor without a positive has no pair, :math:`\ell_a = 0`.

    ``distance_metric``: ``'L2'`` (default) the Euclidean distance :math:`\lVert x_i - x_j\rVert`,
    ``'squared-L2'`` its square, ``'angular'`` :math:`1 - \cos(x_i, x_j)` (rows divided by
    :math:`\max(\lVert x\rVert, 10^{-6})`, tf's ``l2_normalize``): tfa 0.23's names and default.
    Older tfa releases named them ``'L_1'`` (the Euclidean distance) and ``'L_2'`` (the *squared*
    one, their default): both spellings raise a ``ValueError`` naming the one to use. A callable
    distance (tfa takes one) is not taken: it could not be a ``torch.compile`` graph's argument.
    Labels are compared for equality only (integers, or floats); embeddings are used as given (tfa
    expects L2-normalised rows, which neither library enforces).

    ``reduction``: ``'none'`` (default) gives :math:`\ell_a` per anchor, the mean over its positive
    pairs (0 without one); ``'mean'`` the mean of :math:`\ell_{ap}` over every positive pair of the
    batch, tfa's scalar (``tfa.losses.triplet_semihard_loss``), equal to the mean of ``'none'`` when
    every anchor has as many positives; 0 when there is no pair (tfa's 0/0 gives NaN); ``'sum'``
    their sum. ``sample_weight`` (per anchor) and ``weight`` multiply the pairs' losses (the mean's
    denominator stays the pair count).

    Shape:
        - embeddings: ``(N, D)``.
        - label: ``(N,)`` or ``(N, 1)``, class labels.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``; ``()`` for ``reduction='mean'`` or ``'sum'``.

    Stability: as :class:`TripletHardLoss`'s distances (accurate for near-duplicates, never
    negative, derivative 0 at :math:`d = 0` for ``'L2'``); the mining ranks each pair's distance among
    the anchor's sorted negatives (stable sorts), :math:`O(N^2 \log N)` time and :math:`O(N^2)` memory
    where tfa compares every pair with every negative (:math:`N^3`: 0.5 GB at :math:`N = 512` in
    float32; 9x slower there on a CPU). "Farther" is strict: a negative at exactly :math:`d_{ap}` is not semi-hard.
    Ties share the derivative of the min or max equally; at the hinge's kink it is 0 (tfa's
    ``maximum`` passes 1). float16/bfloat16 are computed in float32.

    >>> import numpy as np, losskit
    >>> x, y = np.array([[0.0], [2.0], [3.0], [7.0]]), np.array([0, 0, 1, 1])
    >>> loss = losskit.TripletSemiHardLoss(margin=2.0)
    >>> loss(x, y)  # 2 - 3 + 2; 2 - 5 + 2 < 0; none past 4, the farthest: 4 - 3 + 2; 4 - 5 + 2
    array([1., 0., 3., 1.])
    >>> losskit.TripletSemiHardLoss(margin=2.0, reduction="mean")(x, y)  # tfa's: 5 over 4 pairs
    array(1.25)
    """

    _function = staticmethod(F.triplet_semihard_loss)

    def __init__(
        self,
        margin: float = 1.0,
        distance_metric: str = "L2",
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        reduction: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = check_number(margin, "margin", array_ok=True)
        self._distance_metric = check_distance_metric(distance_metric)
        self._reduction = check_reduction(reduction)

    def _compute(self, embeddings: Array, label: Array, sample_weight: Any = None) -> Array:
        return self._function(embeddings, label, sample_weight, **self._options())


__all__ = [
    "TripletLoss",
    "TripletMarginLoss",
    "CosineEmbeddingLoss",
    "SDMLLoss",
    "MarginRankingLoss",
    "InfoNCELoss",
    "HingeEmbeddingLoss",
    "CosineDistanceLoss",
    "RankingSoftmaxLoss",
    "CircleLoss",
    "NTXentLoss",
    "ContrastiveLoss",
    "TripletHardLoss",
    "TripletSemiHardLoss",
    "SupConLoss",
    "TripletMarginWithDistanceLoss",
]


# ---- supervised contrastive (pytorch-metric-learning's SupConLoss) and torch's triplet loss with a distance ----


@register("metric")
class SupConLoss(Loss):
    r"""Supervised contrastive loss (Khosla et al., NeurIPS 2020), as pytorch-metric-learning's
    ``SupConLoss``: every embedding an anchor, pulled towards the others of its class (the other
    views of its sample, and its class's other samples) against all the rest of the batch.

    With :math:`s_{ak} = \cos(x_a, x_k) / T` (the rows L2-normalised inside), the positives
    :math:`P(a)` of anchor :math:`a` the other rows of its label and :math:`A(a)` every row but :math:`a`:

    .. math::
        \ell_a = -\frac{1}{|P(a)|} \sum_{p \in P(a)} \log \frac{e^{s_{ap}}}{\sum_{k \in A(a)} e^{s_{ak}}}

    (the other positives *are* in the denominator, unlike :class:`NTXentLoss`). As in pml, an
    anchor without a positive (a class of one row) or without a negative (a batch of one class)
    has :math:`\ell_a = 0`, with a zero gradient; it is still in the other anchors' denominators.
    ``temperature`` :math:`T` defaults to pml's 0.1 (the authors' code: 0.07): a positive number,
    or a 0-d array of the inputs' library (a learnt temperature, not checked).

    The authors' reference code (HobbitLong/SupContrast, ``losses.py``) multiplies the loss by
    :math:`T / T_\text{base}`: pass ``base_temperature`` (their default 0.07) to do so; ``None``
    (the default) leaves the factor out, as pml. Their code takes ``features`` of shape
    ``(bsz, n_views, D)`` and already-normalised features: ``x.transpose(0, 1).reshape(-1, D)``
    (views stacked, view-major) with ``labels.repeat(n_views)`` is this loss's input, and the
    mean of ``reduction='none'`` is their scalar, ``contrast_mode='all'``. An anchor without a
    positive gives NaN in their 2020 code (0/0; their later code gives 0, as here); a batch of one
    class gives the formula there, 0 here (pml's).

    ``reduction``: ``'none'`` (default) gives :math:`\ell_a` per anchor; ``'mean'`` their mean over
    the anchors that have a loss (a positive and a negative), pml's scalar (its
    ``AvgNonZeroReducer`` averages the losses above 0: the same unless one rounds to exactly 0),
    0 when none has; ``'sum'`` their sum. ``sample_weight`` (per anchor) and ``weight`` multiply
    the anchors' losses (the mean's denominator stays the anchor count). pml's miners
    (``indices_tuple``) and reference sets (``ref_emb``) are not taken.

    Shape:
        - embeddings: ``(N, D)``; each row one view of a sample.
        - label: ``(N,)`` or ``(N, 1)``, class labels (integers, bools or floats, not NaN; the
          views of one sample share their sample's label), compared for equality only.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``; ``()`` for ``reduction='mean'`` or ``'sum'``.

    Stability: rows are scaled by their largest entry, then normalised (norms floored at 1e-12,
    ``torch.nn.functional.normalize``'s, as pml's ``CosineSimilarity``; a zero row has cosine 0 with
    every row and a finite gradient, about 1e12 as ``normalize``'s), so :math:`|s| \le 1/T`. With
    :math:`m_a` the largest :math:`s_{ak}`, :math:`k \in A(a)`,
    :math:`-\log p_{ap} = (m_a - s_{ap}) + \operatorname{log1p}(\sum_{k \ne a, \text{top}} e^{s_{ak} - m_a})`:
    both terms :math:`\ge 0`, no ``log(0)``, no overflow, and a loss near 0 (a small temperature, the
    positive far ahead) keeps its digits where ``log(sum)`` rounds it to 0; the derivative is the
    softmax's, ties of the largest term (duplicate rows) included. Anchors without a loss are
    excluded with ``where`` (no ``0 * inf``). float16/bfloat16 are computed in float32.

    >>> import numpy as np, losskit
    >>> x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])  # two classes, orthogonal
    >>> losskit.SupConLoss(temperature=1.0)(x, np.array([0, 0, 1, 1]))  # log(e + 2) - 1
    array([0.55144471, 0.55144471, 0.55144471, 0.55144471])
    >>> losskit.SupConLoss(temperature=1.0)(x, np.array([0, 0, 1, 2]))  # rows 2, 3: no positive
    array([0.55144471, 0.55144471, 0.        , 0.        ])
    """

    _function = staticmethod(F.supcon_loss)

    def __init__(
        self,
        temperature: float = 0.1,
        base_temperature: float | None = None,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        reduction: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._temperature = check_number(temperature, "temperature", low=0.0, low_open=True, array_ok=True)
        self._base_temperature = (
            None
            if base_temperature is None
            else check_number(base_temperature, "base_temperature", low=0.0, low_open=True)
        )
        self._reduction = check_reduction(reduction)

    def _compute(self, embeddings: Array, label: Array, sample_weight: Any = None) -> Array:
        return self._function(embeddings, label, sample_weight, **self._options())


@register("metric")
class TripletMarginWithDistanceLoss(Loss):
    r"""Triplet margin loss with a distance function of your own (``torch.nn.TripletMarginWithDistanceLoss``):
    the anchor ``pred`` should be nearer ``positive`` than ``negative`` by ``margin``.

    .. math::
        \ell = \max\bigl(0,\ m + d(a, p) - d(a, n)\bigr)

    ``distance_function`` is any callable ``(x1, x2) -> distances`` written with the inputs'
    library (``torch.nn.functional.pairwise_distance``, ``lambda x, y: 1 - F.cosine_similarity(x, y)``,
    a ``jax.numpy`` or NumPy function, or one written against the array API for every library); it
    is given the inputs in their compute dtype (float16/bfloat16 promoted to float32). It must
    return one real distance per triplet, an array of shape ``(N,)`` for ``(N, D)`` inputs: a
    result of another shape, library or dtype (a scalar such as ``torch.dist``'s, say) raises a
    ``ValueError`` or ``TypeError`` naming what it returned. ``None`` (the default) is torch's
    default, ``pairwise_distance``: :math:`\lVert x - y + \varepsilon \rVert_2` along the last
    axis, ``eps=1e-6``, equal to :class:`TripletMarginLoss` with its defaults. ``swap=True`` takes
    :math:`\min(d(a, n), d(p, n))` as the negative's distance (the distance swap of Balntas et
    al., 2016). ``margin`` is any real number or a 0-d array (torch refuses ``margin <= 0``).
    torch's ``reduction='mean'`` is the mean of this loss's values, ``'sum'`` their sum.

    Under ``torch.compile`` a callable among a graph node's arguments is not supported by every
    torch version (2.13 accepts a lambda): with one, Dynamo traces through the loss and inlines the
    function (one graph still, ``fullgraph=True`` works, if the function's own code compiles);
    without one the loss is one node, as every loss. (The function
    ``losskit.functional.triplet_margin_with_distance_loss`` is always a node: under
    ``torch.compile`` give a distance function through this class.)

    Shape:
        - pred (the anchor), positive, negative: the same shape ``(N, D)``, the vectors along the
          last axis; ``(D,)``: one unbatched triplet, output ``(1,)`` (torch's 0-d value); or
          ``(N, T, ..., D)``: a triplet per leading index (the distances ``(N, T, ...)``, or any
          leading part of the shape a distance function of more axes reduces to), averaged over
          every axis but ``batch_axis``. Of float dtypes; the result's is their promotion.
        - sample_weight: broadcastable to the distances' shape with as many axes: ``(N,)`` for
          ``(N, D)`` inputs.
        - output: ``(N,)``.

    Stability: the default distance is :class:`TripletMarginLoss`'s (scaled by the largest entry, no
    overflow; a zero difference has a zero gradient). A distance function's own stability is its
    own: :math:`\lVert x - y \rVert` written as ``sqrt(sum((x - y)**2))`` has a NaN gradient at
    ``x == y``. With ``swap``, a tie of the two negative distances splits the gradient in half
    between them, as torch's ``minimum``. At the kink (a loss of exactly 0) the derivative is
    torch's ``clamp_min``'s: it passes (1), as everywhere the loss is positive.

    >>> import numpy as np, losskit
    >>> a = np.zeros((2, 2))
    >>> pos, neg = np.array([[3.0, 4.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [3.0, 4.0]])
    >>> l1 = lambda x, y: np.abs(x - y).sum(axis=-1)
    >>> losskit.TripletMarginWithDistanceLoss(distance_function=l1)(a, pos, neg)  # 1 + 7 - 1, 1 + 1 - 7
    array([7., 0.])
    >>> losskit.TripletMarginWithDistanceLoss()(a, pos, neg).round(5)  # Euclidean: 1 + 5 - 1
    array([5., 0.])
    """

    _function = staticmethod(F.triplet_margin_with_distance_loss)
    _traced = staticmethod(triplet_margin_with_distance_traced)

    def __init__(
        self,
        distance_function: Any = None,
        margin: float = 1.0,
        swap: bool = False,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._distance_function = check_distance_function(distance_function)
        check_number(margin, "margin", array_ok=True)  # any real (torch: > 0)
        self._margin = margin  # as given: the repr and plot labels show it so
        self._swap = check_flag(swap, "swap")

    def _compute(self, pred: Array, positive: Array, negative: Array, sample_weight: Any = None) -> Array:
        # a distance function cannot be an argument of a torch.compile graph node (which _function
        # is): with one the computation is traced through, the function's operations inlined
        function = self._function if self._distance_function is None else self._traced
        return function(pred, positive, negative, sample_weight, **self._options())
