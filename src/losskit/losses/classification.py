"""Classification losses (Gluon names and semantics)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._array import Array
from .._core import check_axis_option, check_class_vector, check_flag, check_ignore_index, check_number, check_reduction
from ..functional.classification import (
    check_asl_options,
    check_ce_options,
    check_focal_alpha,
    check_gce_q,
    check_ignore_option,
    check_label_format,
    check_label_smoothing,
    check_margin_options,
    check_multi_margin,
    check_temperature,
)
from ..registry import register
from .base import Loss, _MarginLoss


@register("classification", aliases=("SigmoidBCELoss",), curve="binary")
class SigmoidBinaryCrossEntropyLoss(Loss):
    r"""Binary cross-entropy of a sigmoid, fused with it (alias ``SigmoidBCELoss``).

    .. math::
        \ell_i = -\bigl[\,p_w\, z_i \log \sigma(x_i) + (1 - z_i) \log(1 - \sigma(x_i))\bigr]

    With ``from_sigmoid=True``, ``pred`` already holds probabilities and
    :math:`\ell_i = -[p_w z_i \log(x_i + 10^{-12}) + (1 - z_i)\log(1 - x_i + 10^{-12})]`;
    a value outside ``[0, 1]`` (a logit passed by mistake) is a ``ValueError``, as in
    ``torch.nn.functional.binary_cross_entropy``, but NaN passes, as a NaN loss (a value check:
    see ``losskit.value_checks``).

    ``label_smoothing`` :math:`\epsilon \in [0, 1]` (keyword only) first moves the label towards
    1/2, :math:`z \to z (1 - \epsilon) + \epsilon / 2`, as Keras's
    ``BinaryCrossentropy(label_smoothing=...)`` (hard labels become :math:`\epsilon/2` and
    :math:`1 - \epsilon/2`); ``pos_weight`` then weighs the smoothed label's positive part.

    Shape:
        - pred: any shape; label: values in ``[0, 1]``, the same number of elements.
        - sample_weight: broadcastable to ``pred`` with as many axes, e.g. ``(N, 1)``.
        - pos_weight: weight of the positive term, broadcastable to ``pred``, e.g. ``(1, C)``.
        - output: ``(N,)``.

    Call: ``loss(pred, label, sample_weight=None, pos_weight=None)`` (Gluon 1.9.1's order).

    Stability: on logits, ``(1 - z) x + (1 + (p_w - 1) z) softplus(-x)`` (using
    ``log(1 - sigmoid(x)) = -x - softplus(-x)``), finite for any finite logit, formed from
    the side of 0 whose softplus is small, ``softplus(-|x|)`` plus a linear term, on NumPy and JAX (a
    confident right answer, ``x = -20`` for ``z = 0``, keeps its 2e-9 in float32 and its gradient,
    ``sigmoid(x) - z`` also at 0); on torch tensors torch's own form and kernel, which round a
    confident right negative's to 0.

    >>> import numpy as np, losskit
    >>> loss = losskit.SigmoidBCELoss()
    >>> loss(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]))  # log 2
    array([0.69314718])
    """

    _function = staticmethod(F.sigmoid_binary_cross_entropy)

    def __init__(
        self,
        from_sigmoid: bool = False,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._from_sigmoid = check_flag(from_sigmoid, "from_sigmoid")
        self._label_smoothing = check_label_smoothing(label_smoothing)

    def _compute(self, pred: Array, label: Array, sample_weight: Any = None, pos_weight: Any = None) -> Array:
        return self._function(pred, label, sample_weight, pos_weight, **self._options())


SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss


@register("classification", aliases=("SoftmaxCELoss",))
class SoftmaxCrossEntropyLoss(Loss):
    r"""Softmax fused with cross-entropy (alias ``SoftmaxCELoss``).

    .. math::
        \ell = -\log \operatorname{softmax}(x)_y = \operatorname{logsumexp}(x) - x_y
        \quad\text{(sparse)},\qquad
        \ell = -\sum_j z_j \log \operatorname{softmax}(x)_j \quad\text{(dense)}

    With ``from_logits=True``, ``pred`` already holds log-probabilities and is used as is (Gluon's
    meaning; the segmentation losses' ``from_logits=True``, smp's, applies the softmax instead).

    Beyond Gluon, keyword-only options (all off by default, where the result is Gluon's to
    rounding), with the semantics of ``torch.nn.functional.cross_entropy``; every combination works:

    - ``class_weight``: ``C`` weights (a sequence, or a 1-D array of ``pred``'s library). Sparse:
      :math:`\ell = -w_y \log p_y`; dense: :math:`\ell = -\sum_j w_j z_j \log p_j`.
    - ``label_smoothing`` :math:`\varepsilon \in [0, 1]`. Sparse:
      :math:`\ell = (1 - \varepsilon)\, w_y (-\log p_y) + \frac{\varepsilon}{C} \sum_j w_j (-\log p_j)`;
      dense: the label becomes :math:`(1 - \varepsilon) z + \varepsilon / C`.
    - ``ignore_index``: positions whose sparse label equals it give 0 (and no gradient). Dense
      labels have no index to ignore: ``ignore_index`` with ``sparse_label=False`` raises ``ValueError``.
    - ``z_loss`` :math:`\lambda \ge 0` adds :math:`\lambda \operatorname{logsumexp}(x)^2` per
      position (PaLM's auxiliary loss; 0 at ignored positions). With ``from_logits=True`` it is
      taken of ``pred`` as given (0 for normalised log-probabilities). In ``'mean'`` it is
      averaged over the non-ignored targets without their class weights (as Liger-Kernel), so
      that rescaling ``class_weight`` leaves its strength unchanged.
    - ``reduction``: ``'none'`` (default) keeps Gluon's one value per example, the mean over the
      non-batch axes (ignored positions count as 0 in that mean). ``'sum'`` returns the 0-d sum
      over all positions; ``'mean'`` divides it, as torch, by the number of non-ignored targets,
      each counted with its ``w_y`` (sparse labels), or by the number of positions (dense). When
      every target is ignored, or the ``w_y`` left sum to 0, the mean is 0 with a zero gradient,
      never NaN (torch's is NaN).

    ``sample_weight`` and ``weight`` multiply each position's loss; in ``'mean'`` they scale the
    numerator only (the denominator is torch's), so that without ``class_weight`` and ignored
    labels ``'mean'`` equals the mean of the ``'none'`` result.

    Shape:
        - pred: ``(N, C)``, or any shape with the classes along ``axis``.
        - label: sparse (default): ``pred``'s shape without ``axis``, integer class indices in
          ``[0, C)`` (floats holding whole numbers are accepted, as in Gluon), or ``ignore_index``;
          dense (``sparse_label=False``): a distribution of ``pred``'s shape.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1, e.g. ``(N, 1)``.
        - class_weight: ``(C,)``.
        - output: ``(N,)``; ``()`` for ``reduction='mean'`` or ``'sum'``.

    Stability: ``logsumexp`` subtracts the maximum first, so logits of any finite magnitude
    give finite values and gradients (the z-loss, ``lse**2``, can exceed a half-precision
    dtype's range); softmax probabilities are never formed. Ignored labels are replaced by
    class 0 before the gather and masked with ``where`` after, and the mean's
    denominator is guarded with ``where``, so no 0/0 enters the graph. Dense labels: a class
    with logit ``-inf`` (masked) and label 0 adds ``0 log 0 = 0``, not NaN, with finite gradients
    (optax's ``safe_softmax_cross_entropy``); a label above 0 there gives ``inf``.
    Out-of-range class indices raise ``ValueError`` on eager arrays; under ``jax.jit`` or
    ``torch.compile`` they are not checked (under ``jax.jit`` an index ``>= C`` gives NaN and a
    negative one other than ``ignore_index`` is read from the end, ``C + y``, as JAX indexes).

    >>> import numpy as np, losskit
    >>> losskit.SoftmaxCELoss()(np.array([[1.0, 10.0], [8.0, 2.0]]), np.array([0, 1]))
    array([9.0001234 , 6.00247569])
    >>> x, y = np.zeros((3, 4)), np.array([0, -100, 3])  # uniform logits: -log p = log 4 each
    >>> float(losskit.SoftmaxCELoss(ignore_index=-100, reduction="mean")(x, y).round(6))
    1.386294
    >>> float(losskit.SoftmaxCELoss(ignore_index=-100, reduction="mean")(x, np.full(3, -100)))
    0.0
    """

    _function = staticmethod(F.softmax_cross_entropy)

    def __init__(
        self,
        axis: int = -1,
        sparse_label: bool = True,
        from_logits: bool = False,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        class_weight: Any = None,
        z_loss: float = 0.0,
        reduction: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = check_axis_option(axis)
        self._sparse_label = check_flag(sparse_label, "sparse_label")
        self._from_logits = check_flag(from_logits, "from_logits")
        check_ce_options(
            sparse_label=self._sparse_label,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            z_loss=z_loss,
            reduction=reduction,
            class_weight=class_weight,
        )
        self._ignore_index = ignore_index
        self._label_smoothing = label_smoothing
        self._class_weight = check_class_vector(class_weight, "class_weight")
        self._z_loss = z_loss
        self._reduction = reduction


SoftmaxCELoss = SoftmaxCrossEntropyLoss


@register("classification")
class KLDivLoss(Loss):
    r"""Kullback-Leibler divergence of ``pred``'s distribution from ``label``'s.

    .. math:: \ell = \sum_{i \ne \text{batch}} z_i \bigl(\log z_i - \log p_i\bigr)

    ``log p = pred`` when ``from_logits`` (the default: ``pred`` holds log-probabilities),
    else ``log_softmax(pred, axis)``. As in MXNet 1.9.1 the result is the **sum** over the
    non-batch axes (the full divergence per example), not their mean. ``log_target=True``
    (PyTorch's option; optax's ``kl_divergence_with_log_targets``): ``label`` holds
    log-probabilities ``log z`` (-inf for a probability of 0, whose term is 0).
    ``generalized=True`` (optax's ``generalized_kl_divergence``, the Bregman divergence of
    :math:`x \log x - x`, for unnormalised measures) adds :math:`\sum_i (p_i - z_i)`, with
    :math:`p = \exp(\text{log p})`: 0 when both are normalised.

    Shape:
        - pred, label: the same number of elements; label holds probabilities.
        - sample_weight: broadcastable to ``pred`` with as many axes.
        - output: ``(N,)``.

    Stability: ``z log z`` is taken as 0 at ``z = 0`` with a finite gradient (MXNet adds 1e-12
    inside the log instead; the values agree to that order). Where a label probability is 0,
    the gradient *with respect to the label* is therefore ``-log p`` (the one-sided derivative is
    ``-inf``); MXNet's is ``log(1e-12) - log p``, about 27.6 lower, and torch's ``kl_div`` NaN.
    A log-probability of ``-inf`` (a masked class) against a label of 0 gives a NaN loss, as
    torch's ``kl_div`` and optax's ``kl_divergence`` do (``0 * inf``; a ``where`` there cost 1.2x
    of torch's op on a CPU): give the label as log-probabilities (``log_target=True``, where
    that term is 0), or use ``SoftmaxCELoss(sparse_label=False)``, which differs by the label's
    entropy and takes ``0 log 0 = 0`` there.
    The label is not broadcast: a ``(1, C)`` prior against ``(N, C)`` predictions (which Gluon
    1.9.1 broadcast) is refused; pass ``xp.broadcast_to(prior, pred.shape)``.

    >>> import numpy as np, losskit
    >>> losskit.KLDivLoss()(np.log(np.array([[0.5, 0.5]])), np.array([[0.5, 0.5]]))
    array([0.])
    >>> losskit.KLDivLoss(generalized=True)(np.log(np.array([[1.0, 1.0]])), np.array([[2.0, 1.0]])).round(6)
    array([0.386294])
    """

    _function = staticmethod(F.kl_div)

    def __init__(
        self,
        from_logits: bool = True,
        axis: int = -1,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        log_target: bool = False,
        generalized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits = check_flag(from_logits, "from_logits")
        self._axis = check_axis_option(axis)
        self._log_target = check_flag(log_target, "log_target")
        self._generalized = check_flag(generalized, "generalized")


@register("classification", curve="binary")
class HingeLoss(_MarginLoss):
    r"""Hinge loss of SVMs, for labels in {-1, 1}.

    .. math:: \ell_i = \max(0, m - x_i z_i)

    Shape:
        - pred, label: the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: piecewise linear; at the kink (``x z = m``) the gradient is 0, as with MXNet's and
    PyTorch's ``relu`` on every backend.

    >>> import numpy as np, losskit
    >>> losskit.HingeLoss()(np.array([[0.5, 2.0]]), np.array([[1.0, 1.0]]))
    array([0.25])
    """

    _function = staticmethod(F.hinge_loss)


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

    _function = staticmethod(F.squared_hinge_loss)


@register("classification", curve="binary")
class LogisticLoss(Loss):
    r"""Logistic loss for labels in {-1, 1} (``label_format='signed'``) or {0, 1} (``'binary'``).

    .. math:: \ell_i = \log(1 + \exp(-x_i z_i)) \quad (z_i \in \{-1, 1\})

    Shape:
        - pred, label: the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: the binary cross-entropy of ``z' = (z + 1)/2``, ``softplus(x) - x z'``, where
    ``softplus(x) = log(1 + exp(x))`` never overflows, formed from the side of 0 whose softplus is
    small, ``softplus(-|x|)`` plus a linear term, on NumPy and JAX (a confident right answer,
    ``x = -20`` for ``z = -1``, keeps its 2e-9 in float32 and its gradient, ``sigmoid(x) - z'``
    also at 0); eager torch takes torch's ``binary_cross_entropy_with_logits``, which rounds a
    confident right negative's to 0, and ``torch.compile`` ``softplus(x) - x z'`` as written, which
    rounds a confident right positive's.

    >>> import numpy as np, losskit
    >>> losskit.LogisticLoss()(np.array([[0.0]]), np.array([[1.0]]))  # log 2
    array([0.69314718])
    """

    _function = staticmethod(F.logistic_loss)

    def __init__(
        self, weight: float | None = None, batch_axis: int = 0, label_format: str = "signed", **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_label_format(label_format)
        self._label_format = label_format


@register("classification")
class NLLLoss(Loss):
    r"""Negative log-likelihood of class indices under log-probabilities (``torch.nn.NLLLoss``).

    .. math:: \ell = -w_y\, x_y \qquad (x = \log p,\ w = 1 \text{ without class\_weight})

    The classes lie along ``axis``, 1 by default as in PyTorch (``(N, C)`` or ``(N, C, d1, ...)``).
    It is :class:`SoftmaxCrossEntropyLoss` with ``from_logits=True`` and the same ``ignore_index``,
    ``class_weight`` and ``reduction`` options (see there): ``'none'`` gives one value per
    example, the mean of torch's ``nll_loss(reduction='none')`` over the non-batch axes;
    ``'mean'`` is torch's weighted mean, 0 (never NaN) when every target is ignored or the class
    weights of those left sum to 0.

    Shape:
        - pred: ``(N, C, ...)``, log-probabilities, classes along ``axis``.
        - label: ``pred``'s shape without ``axis``: class indices or ``ignore_index``.
        - sample_weight: broadcastable to ``pred`` with ``axis`` of size 1.
        - output: ``(N,)``; ``()`` for ``reduction='mean'`` or ``'sum'``.

    Stability: a gather and a sign; ignored labels are gathered as class 0 and masked with ``where``.

    >>> import numpy as np, losskit
    >>> logp = np.log(np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]]))
    >>> losskit.NLLLoss()(logp, np.array([0, 2]))  # log 2, -log 0.6
    array([0.69314718, 0.51082562])
    >>> losskit.NLLLoss(ignore_index=-100)(logp, np.array([0, -100]))
    array([0.69314718, 0.        ])
    """

    _function = staticmethod(F.nll_loss)

    def __init__(
        self,
        axis: int = 1,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        ignore_index: int | None = None,
        class_weight: Any = None,
        reduction: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_ignore_index(ignore_index)
        self._axis = check_axis_option(axis)
        self._ignore_index = ignore_index
        self._class_weight = check_class_vector(class_weight, "class_weight")
        self._reduction = check_reduction(reduction)


@register("classification", curve="binary")
class SigmoidFocalLoss(Loss):
    r"""Focal loss of a sigmoid (Lin et al., 2017), as ``torchvision.ops.sigmoid_focal_loss``.

    .. math::
        \ell_i = \alpha_t (1 - p_t)^\gamma \operatorname{BCE}(x_i, z_i),\quad
        p_t = z\,\sigma(x) + (1 - z)(1 - \sigma(x)),\quad \alpha_t = \alpha z + (1 - \alpha)(1 - z)

    ``BCE`` is :class:`SigmoidBCELoss`'s term, with its optional ``pos_weight`` on the positive
    part. ``alpha=None`` (or a negative one, as torchvision's ``alpha=-1``) drops
    :math:`\alpha_t`; ``gamma=0`` and ``alpha=None`` give the plain BCE; ``gamma`` may be a 0-d
    array (traced or learnt; not checked). Soft labels in ``[0, 1]`` are accepted (the formula as
    written, as torchvision and optax). ``label_smoothing`` :math:`\epsilon` (keyword only)
    replaces ``z`` by :math:`z (1 - \epsilon) + \epsilon / 2` everywhere in the formula (BCE,
    :math:`p_t` and :math:`\alpha_t`), as Keras's ``BinaryFocalCrossentropy(label_smoothing=...)``.

    Call: ``loss(pred, label, sample_weight=None, pos_weight=None)``, as :class:`SigmoidBCELoss`.

    Shape:
        - pred: logits, any shape; label: values in ``[0, 1]``, the same number of elements.
        - sample_weight: broadcastable to ``pred`` with as many axes; pos_weight broadcastable to ``pred``.
        - output: ``(N,)``, the mean over the non-batch axes.

    Stability: BCE as ``(1 - z) x + softplus(-x)`` (formed as :class:`SigmoidBCELoss`'s);
    :math:`1 - p_t` as
    ``z sigmoid(-x) + (1 - z) sigmoid(x)``, two non-negative terms (no cancellation where
    :math:`p_t` rounds to 1; linear in ``z``, so the label's gradient is right at 0 and 1), its log
    floored at the dtype's smallest normal number, and
    :math:`(1 - p_t)^\gamma = \exp(\gamma \log(1 - p_t))`:
    finite values and gradients at logits of ``±1e4`` in float32, also for ``gamma < 1`` where
    :math:`p_t` rounds to 1 (the power form has an infinite gradient there).

    >>> import numpy as np, losskit
    >>> losskit.SigmoidFocalLoss()(np.zeros((1, 1)), np.ones((1, 1)))  # 0.25 * 0.5**2 * log 2
    array([0.0433217])
    """

    _function = staticmethod(F.sigmoid_focal_loss)

    def __init__(
        self,
        alpha: float | None = 0.25,
        gamma: float = 2.0,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._alpha = check_focal_alpha(alpha, per_class=False)
        self._gamma = check_number(gamma, "gamma", low=0.0, array_ok=True)
        self._label_smoothing = check_label_smoothing(label_smoothing)

    def _compute(self, pred: Array, label: Array, sample_weight: Any = None, pos_weight: Any = None) -> Array:
        return self._function(pred, label, sample_weight, pos_weight, **self._options())


@register("classification", curve="binary")
class AsymmetricLoss(Loss):
    r"""Asymmetric loss for multi-label classification (ASL; Ridnik et al., ICCV 2021), on logits.

    .. math::
        \ell_i = -\bigl[z\,(1 - p)^{\gamma_+} \log p
                  + (1 - z)\, p_m^{\gamma_-} \log(1 - p_m)\bigr],\qquad
        p = \sigma(x_i),\quad p_m = \max(p - m, 0)

    for hard labels :math:`z \in \{0, 1\}`: a focal loss whose negatives are focused harder
    (``gamma_neg`` :math:`\gamma_-`, default 4) than its positives (``gamma_pos``
    :math:`\gamma_+`, default 0), and whose negatives' probability is first shifted down by the
    margin ``clip`` :math:`m` (default 0.05): a negative with :math:`p \le m` costs nothing.
    The defaults are the paper's recommended ones (and those of the authors' ``train.py``;
    their class's own defaults are ``gamma_pos=1``). Soft labels follow the authors' code: the
    bracket is :math:`[z \log p + (1 - z)\log(1 - p_m)]\,(1 - p_t)^{\gamma_t}` with
    :math:`p_t = z p + (1 - z)(1 - p_m)`, :math:`\gamma_t = \gamma_+ z + \gamma_- (1 - z)`.
    ``gamma_pos = gamma_neg = 0`` and ``clip=0`` give :class:`SigmoidBCELoss`;
    ``gamma_pos = gamma_neg = g`` and ``clip=0`` give ``SigmoidFocalLoss(alpha=None, gamma=g)``.
    ``clip=None`` is ``clip=0``, as in the authors' code.

    ``detach_focal_weight=True`` makes the weight :math:`(1 - p_t)^{\gamma_t}` a constant to
    automatic differentiation (``detach`` on PyTorch, ``stop_gradient`` on JAX): the gradient is
    then the weighted BCE's gradient only, as the authors' ``disable_torch_grad_focal_loss=True``
    in their ``AsymmetricLossOptimized`` (in their plain ``AsymmetricLoss`` the lines doing it are
    commented out, so the default ``False`` is what that class computes). Values are unchanged.

    Reduction: losskit's, as every elementwise loss: the mean over the non-batch axes, one value
    per example, scaled by ``weight`` and ``sample_weight``. The authors return ``-loss.sum()``
    over everything; for ``(N, C)`` inputs that is ``AsymmetricLoss(weight=C)(x, z).sum()``.

    Differences from the authors' code, numerics only: no ``eps``. They compute
    ``log(clamp(p, min=eps))`` with ``eps = 1e-8``, which caps a positive's loss at
    :math:`-\log 10^{-8} \approx 18.4` and gives it no gradient where :math:`p < 10^{-8}` (logits
    below about -18.4), and likewise a negative's where :math:`1 - p_m < 10^{-8}` (only with
    ``clip=0``, logits above about 18.4); here the logs are exact, so values (and gradients)
    differ there and only there.

    Shape:
        - pred: logits, any shape, e.g. ``(N, C)``; label: values in ``[0, 1]``, the same number of elements.
        - sample_weight: broadcastable to ``pred`` with as many axes, e.g. ``(N, 1)``.
        - output: ``(N,)``, the mean over the non-batch axes.

    Stability: :math:`\log p` as ``log_sigmoid(x)``; :math:`\log(1 - p_m)` as
    ``log_sigmoid(-x)`` when ``clip=0``, else as :math:`\min(\log(\sigma(-x) + m), 0)`, a sum of
    positive terms at least :math:`m`; :math:`1 - p_t` as ``z sigmoid(-x) + (1 - z) p_m`` (no
    cancellation), its log floored at the dtype's smallest normal number, and the power as
    :math:`\exp(\gamma_t \log(1 - p_t))`, as :class:`SigmoidFocalLoss`: finite values and
    gradients at logits of ``±1e4`` in float32.

    >>> import numpy as np, losskit
    >>> # positive at p = 1/2: log 2; negative at p = 1/2: p_m = 0.45, 0.45**4 * -log(0.55); mean of the two
    >>> losskit.AsymmetricLoss()(np.zeros((1, 2)), np.array([[1.0, 0.0]]))
    array([0.35883112])
    """

    _function = staticmethod(F.asymmetric_loss)

    def __init__(
        self,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float | None = 0.05,
        detach_focal_weight: bool = False,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._gamma_pos, self._gamma_neg, self._clip = check_asl_options(
            gamma_pos, gamma_neg, clip, detach_focal_weight
        )
        self._detach_focal_weight = detach_focal_weight


@register("classification")
class SoftmaxFocalLoss(Loss):
    r"""Focal loss of a softmax: cross-entropy down-weighted where the model is already right.

    .. math::
        \ell = -\alpha_y (1 - p_y)^\gamma \log p_y \quad\text{(sparse)},\qquad
        \ell = -\sum_j z_j\, \alpha_j (1 - p_j)^\gamma \log p_j \quad\text{(dense)}

    with :math:`p = \operatorname{softmax}(x)` along ``axis``. ``alpha`` is ``None`` (1), a number
    (scales every class) or one weight per class (a sequence, or a 1-D array of ``pred``'s
    library). ``gamma=0`` and ``alpha=None`` give :class:`SoftmaxCrossEntropyLoss`. ``gamma`` may
    be a 0-d array (traced or learnt; not checked). ``ignore_index`` and ``reduction``
    (keyword-only) as :class:`SoftmaxCrossEntropyLoss`'s without class weights: a target equal to
    ``ignore_index`` (void pixels, 255, in segmentation) adds 0 and gets no gradient; ``'none'``
    gives one value per example (ignored targets count as 0 in its mean), ``'sum'`` the sum,
    ``'mean'`` the sum over the targets not ignored divided by their count (``alpha`` weighs the
    terms, not the count; 0 when every target is ignored).

    Shape:
        - pred: logits ``(N, C)``, or any shape with the classes along ``axis``.
        - label: sparse: ``pred``'s shape without ``axis``, class indices; dense: ``pred``'s shape.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``; ``()`` for ``reduction='mean'`` or ``'sum'``.

    Stability: ``log p`` by ``log_softmax``; :math:`\log(1 - p_j)` as ``log1p(-p)`` where
    ``p <= 1/2``, above as the ``logsumexp`` of the other classes minus that of all (not
    ``log1p(-p)``, which is ``-inf`` where ``p`` rounds to 1), and the power as ``exp(gamma * log(1 - p))``: finite
    values and gradients at any finite logits.

    >>> import numpy as np, losskit
    >>> losskit.SoftmaxFocalLoss()(np.zeros((1, 2)), np.array([0]))  # 0.5**2 * log 2
    array([0.1732868])
    >>> x, y = np.zeros((2, 3, 2)), np.array([[0, 255], [255, 255]])  # (N, C, W) maps, 255 void
    >>> float(losskit.SoftmaxFocalLoss(axis=1, ignore_index=255, reduction="mean")(x, y).round(6))
    0.488272
    """

    _function = staticmethod(F.softmax_focal_loss)

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: Any = None,
        axis: int = -1,
        sparse_label: bool = True,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        ignore_index: int | None = None,
        reduction: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._gamma = check_number(gamma, "gamma", low=0.0, array_ok=True)
        self._alpha = check_focal_alpha(alpha, per_class=True)
        self._axis = check_axis_option(axis)
        self._sparse_label = check_flag(sparse_label, "sparse_label")
        check_ignore_option(ignore_index, self._sparse_label)
        self._ignore_index = ignore_index
        self._reduction = check_reduction(reduction)


@register("classification")
class PolyLoss(Loss):
    r"""Poly-1 loss (Leng et al., 2022): cross-entropy plus :math:`\varepsilon (1 - p_t)`.

    .. math::
        \ell = -\log p_y + \varepsilon (1 - p_y) \quad\text{(sparse)},\qquad
        \ell = \sum_j z_j \bigl(-\log p_j + \varepsilon (1 - p_j)\bigr) \quad\text{(dense)}

    with :math:`p = \operatorname{softmax}(x)` along ``axis``; the dense form is
    ``optax.poly_loss_cross_entropy`` (whose default ``epsilon`` is 2, losskit's 1).
    ``epsilon=0`` gives :class:`SoftmaxCrossEntropyLoss`; the paper suggests 2 for ImageNet
    classification, -1 for detection; a 0-d array is taken too. ``ignore_index`` and
    ``reduction`` (keyword-only) as :class:`SoftmaxFocalLoss`'s.

    Shape:
        - pred: logits ``(N, C)``, or any shape with the classes along ``axis``.
        - label: sparse: ``pred``'s shape without ``axis``, class indices; dense: ``pred``'s shape.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``; ``()`` for ``reduction='mean'`` or ``'sum'``.

    Stability: ``log p`` by ``log_softmax``, and :math:`1 - p = -\operatorname{expm1}(\log p)`,
    which does not cancel where ``p`` is near 1 (``1 - exp(log p)`` would): the loss is as
    accurate as ``log p``, that is as :class:`SoftmaxCrossEntropyLoss`. Dense labels: a class
    with logit ``-inf`` and label 0 adds 0 (not ``0 * -inf``), as in
    :class:`SoftmaxCrossEntropyLoss`.

    >>> import numpy as np, losskit
    >>> losskit.PolyLoss()(np.zeros((1, 2)), np.array([0]))  # log 2 + 0.5
    array([1.19314718])
    """

    _function = staticmethod(F.poly_loss)

    def __init__(
        self,
        epsilon: float = 1.0,
        axis: int = -1,
        sparse_label: bool = True,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        ignore_index: int | None = None,
        reduction: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._epsilon = check_number(epsilon, "epsilon", array_ok=True)
        self._axis = check_axis_option(axis)
        self._sparse_label = check_flag(sparse_label, "sparse_label")
        check_ignore_option(ignore_index, self._sparse_label)
        self._ignore_index = ignore_index
        self._reduction = check_reduction(reduction)


@register("classification", curve="binary")
class SoftMarginLoss(Loss):
    r"""Two-class logistic loss for labels in {-1, 1} (``torch.nn.SoftMarginLoss``).

    .. math:: \ell_i = \log(1 + \exp(-z_i x_i))

    For labels in {-1, 1} it equals :class:`LogisticLoss`; other real labels are used as given.

    Shape:
        - pred, label: the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``, the mean over the non-batch axes.

    Stability: ``softplus(-z x)`` as ``logaddexp(-z x, 0)`` (torch's fused ``softplus`` on tensors):
    it never overflows, and its derivative at 0 is 1/2 on every backend.

    >>> import numpy as np, losskit
    >>> losskit.SoftMarginLoss()(np.array([[0.0, 2.0]]), np.array([[1.0, -1.0]]))  # (log 2 + log(1 + e^2)) / 2
    array([1.4100376])
    """

    _function = staticmethod(F.soft_margin_loss)

    def __init__(self, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)


@register("classification", curve="binary")
class MultiLabelSoftMarginLoss(Loss):
    r"""Multi-label one-vs-all loss: a sigmoid BCE per class (``torch.nn.MultiLabelSoftMarginLoss``).

    .. math::
        \ell = -\frac{1}{C} \sum_c w_c \bigl[z_c \log \sigma(x_c) + (1 - z_c) \log \sigma(-x_c)\bigr]

    ``class_weight`` (``w``, a sequence or a 1-D array of ``pred``'s library) lies along the last axis.

    Shape:
        - pred: ``(N, C)`` logits (any shape, classes last; ``(C,)``: one example, as torch's);
          label: targets in ``[0, 1]``, same size.
        - sample_weight: broadcastable to ``pred`` with as many axes, e.g. ``(N, 1)``.
        - output: ``(N,)``, the mean over the non-batch axes (``(1,)`` for one example).

    Stability: each term as ``(1 - z) x + softplus(-x)``, finite at any finite logit (formed as
    :class:`SigmoidBCELoss`'s).

    >>> import numpy as np, losskit
    >>> losskit.MultiLabelSoftMarginLoss()(np.zeros((1, 3)), np.array([[1.0, 0.0, 1.0]]))  # log 2
    array([0.69314718])
    """

    _function = staticmethod(F.multilabel_soft_margin_loss)

    def __init__(
        self, weight: float | None = None, batch_axis: int = 0, *, class_weight: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._class_weight = check_class_vector(class_weight, "class_weight")


@register("classification")
class MultiMarginLoss(Loss):
    r"""Multi-class hinge loss (Weston & Watkins; ``torch.nn.MultiMarginLoss``).

    .. math:: \ell = \frac{w_y}{C} \sum_{c \ne y} \max(0,\ m - x_y + x_c)^p, \qquad p \in \{1, 2\}

    ``class_weight`` (``w``; 1 without it) multiplies after the power, as PyTorch computes it.

    Shape:
        - pred: scores ``(N, C)``, or any shape with the classes along ``axis``.
        - label: ``pred``'s shape without ``axis``: class indices.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``.

    Stability: piecewise polynomial; at a kink the gradient is 0 (``relu``'s, on every backend).
    ``p`` must be 1 or 2 and ``margin`` non-negative. Eager torch ``(N, C)`` input takes torch's
    ``multi_margin_loss``, which has first derivatives only: under ``torch.func`` transforms and
    forward-mode AD the formula runs, but ``create_graph=True`` through the kernel raises
    (``torch.func.hessian`` or ``jvp`` of ``grad`` give second derivatives).

    >>> import numpy as np, losskit
    >>> losskit.MultiMarginLoss()(np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3]))  # (0.3 + 0.4 + 0.6) / 4
    array([0.325])
    """

    _function = staticmethod(F.multi_margin_loss)

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        class_weight: Any = None,
        axis: int = -1,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_multi_margin(p, margin)
        self._p = p
        self._margin = margin
        self._class_weight = check_class_vector(class_weight, "class_weight")
        self._axis = check_axis_option(axis)


@register("classification")
class JSDLoss(Loss):
    r"""Generalised Jensen-Shannon divergence between the label's and the prediction's distributions.

    With :math:`P` the label's distribution, :math:`Q` the prediction's and
    :math:`M = \beta P + (1 - \beta) Q`, along ``axis``:

    .. math:: \ell = \beta\, \mathrm{KL}(P \,\|\, M) + (1 - \beta)\, \mathrm{KL}(Q \,\|\, M)

    the definition of Liger-Kernel's ``LigerJSD`` (student ``Q``, teacher ``P``), symmetric at
    ``beta=0.5`` (the classic JSD, at most ``log 2``); ``beta`` lies in ``(0, 1)``.
    ``from_logits`` has :class:`KLDivLoss`'s meaning: ``True`` (default) means ``pred`` holds
    log-probabilities, ``False`` that ``log_softmax(pred, axis)`` is taken first. ``label``
    holds probabilities.

    The divergence is summed over ``axis`` (one per distribution), then averaged over the other
    non-batch axes (e.g. tokens), one value per example.

    Shape:
        - pred, label: the same number of elements, distributions along ``axis``.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``.

    Stability: :math:`M = \beta P + (1 - \beta) Q` is a sum of two non-negative terms (no
    cancellation), its log taken directly; near :math:`P = Q`, where each class's two terms cancel
    to their square, a rearranged form (``expm1``/``log1p`` of :math:`\log Q - \log P`) keeps
    float32's digits. ``P log P`` and ``Q log Q`` are 0 where the probability is 0 (``log Q`` is
    floored at ``-1e30``, so ``pred = -inf`` is allowed), with finite gradients: at a label of 0
    the label's derivative is a finite stand-in (the one-sided derivative is :math:`-\infty`).

    >>> import numpy as np, losskit
    >>> logq = np.log(np.array([[0.5, 0.5]]))
    >>> losskit.JSDLoss()(logq, np.array([[1.0, 0.0]])).round(6)  # (log(4/3) + (log(2/3) + log 2) / 2) / 2
    array([0.215762])
    >>> losskit.JSDLoss()(logq, np.array([[0.5, 0.5]]))
    array([0.])
    """

    _function = staticmethod(F.jsd_loss)

    def __init__(
        self,
        beta: float = 0.5,
        from_logits: bool = True,
        axis: int = -1,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._beta = check_number(beta, "beta", low=0.0, high=1.0, low_open=True, high_open=True)
        self._from_logits = check_flag(from_logits, "from_logits")
        self._axis = check_axis_option(axis)


@register("classification")
class MultiLabelMarginLoss(Loss):
    r"""Multi-label hinge loss over listed target classes (``torch.nn.MultiLabelMarginLoss``).

    With :math:`T` the target classes, the entries of ``label`` before its first -1, each rival
    :math:`i \notin T` should score at least 1 below each target:

    .. math:: \ell = \frac{1}{C} \sum_{j} \sum_{i \notin T} \max(0,\ 1 - x_{y_j} + x_i)

    :math:`j` running over the listed entries before the first -1, as torch's sum: a class listed
    twice counts twice; entries after the first -1 are ignored (but must be in range, as torch
    requires). No target, or every class a target: 0.

    Shape:
        - pred: scores ``(N, C)``, or any shape with the classes along ``axis``; ``(C,)``: one
          example (torch's unbatched input), giving ``(1,)``.
        - label: ``pred``'s shape: class indices in ``[0, C)``, padded with -1 after the last target
          (values in ``[-1, C)``; others raise ``ValueError`` on eager arrays).
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``.

    Stability: piecewise linear; at a kink the gradient is 0 (``relu``'s, on every backend, as
    torch's kernel). The array-API path (NumPy, JAX, compiled torch) forms the (target, rival)
    pairs, ``(N, C, C)`` arrays, only up to 32 classes (192 under JAX and ``torch.compile``, which
    fuse them); past that it sorts each row's scores together with the thresholds ``x_c - 1``:
    ``O(N C)`` memory (N=64, C=1000 float32: ~8 MB, where the pairs took 1.1 GB) and
    ``O(N C log C)`` time, the sum formed from the gaps between sorted entries times whole counts,
    terms >= 0 (no cancellation, however large the scores). Eager torch ``(N, C)`` input takes
    torch's fused kernel, ``O(N C)``, which has first derivatives only: under ``torch.func``
    transforms and forward-mode AD the array-API path runs (its second derivatives are 0), but
    ``create_graph=True`` through the kernel raises
    (``torch.func.hessian`` or ``jvp`` of ``grad`` give second derivatives). A NaN score that enters a
    counted pair, or the same infinity at a target and a rival, makes the loss NaN on every path
    (torch's own kernel skips those terms).

    >>> import numpy as np, losskit
    >>> x, y = np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([[3, 0, -1, 1]])  # targets 3 and 0
    >>> losskit.MultiLabelMarginLoss()(x, y)  # ((0.4 + 0.6) + (1.1 + 1.3)) / 4
    array([0.85])
    """

    _function = staticmethod(F.multilabel_margin_loss)

    def __init__(self, weight: float | None = None, batch_axis: int = 0, *, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = check_axis_option(axis)


@register("classification")
class CategoricalHingeLoss(Loss):
    r"""Categorical hinge loss of one-hot (or soft) labels (Keras's ``CategoricalHinge``).

    .. math::
        \ell = \max\Bigl(0,\ \max_c\, (1 - z_c)\, x_c \;-\; \sum_c z_c x_c + 1\Bigr)

    along ``axis``: the best-scoring wrong class should score 1 below the true class. As in
    Keras, the maximum runs over every class, the true one with :math:`(1 - z_c) x_c = 0`; so
    where every wrong score is negative the wrong term is 0, not the best wrong score.

    Shape:
        - pred: scores ``(N, C)``, or any shape with the classes along ``axis`` (default -1);
          label: one-hot or soft labels, the same number of elements.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``, the mean over the positions of an example (``(1,)`` for a ``(C,)`` input).

    Stability: piecewise linear, finite for finite scores. At the hinge's kink the gradient is 0
    (``relu``'s; Keras's ``maximum`` gives it 1 on TensorFlow, 1/2 on JAX); tied maxima share the
    gradient of the maximum equally, as TensorFlow, JAX and torch's ``amax`` do.

    >>> import numpy as np, losskit
    >>> x, z = np.array([[0.5, 1.0, -2.0]]), np.array([[0.0, 1.0, 0.0]])
    >>> losskit.CategoricalHingeLoss()(x, z)  # max(0, 0.5 - 1.0 + 1)
    array([0.5])
    """

    _function = staticmethod(F.categorical_hinge_loss)

    def __init__(self, weight: float | None = None, batch_axis: int = 0, *, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = check_axis_option(axis)


@register("classification")
class SparsemaxLoss(Loss):
    r"""Multiclass sparsemax loss (Martins & Astudillo, 2016; ``optax.losses.multiclass_sparsemax_loss``).

    The loss of which :math:`\mathrm{sparsemax}(z) = \max(z - \tau(z), 0)`, the Euclidean
    projection of the scores onto the simplex, is the link, as softmax is cross-entropy's:

    .. math::
        \ell = -z_y + \frac{1}{2} \sum_{j \in S(z)} \bigl(z_j^2 - \tau(z)^2\bigr) + \frac{1}{2},
        \qquad \nabla_z \ell = \mathrm{sparsemax}(z) - e_y

    with :math:`S(z)` the support of sparsemax. It is at least 0, and 0 exactly when
    :math:`z_y` exceeds every other score by at least 1.

    Shape:
        - pred: scores ``(N, C)``, or any shape with the classes along ``axis`` (default -1).
        - label: ``pred``'s shape without ``axis``: class indices.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``, the mean over the positions of an example.

    Stability: the support is found with a sort and a cumulative sum: the ``k`` largest scores
    with ``k`` the largest for which ``1 + k z_(k) > z_(1) + ... + z_(k)`` (tied scores are both in
    or both out), and :math:`\tau = (\sum_S z_j - 1) / |S|`. Sparsemax ignores a shift of the
    scores, so they are first shifted by their maximum (a constant for autodiff): the support's
    scores then lie in ``[-1, 0]`` and the sums are exact to rounding even at scores of ``1e4`` in
    float32. The sum is taken as :math:`\tfrac12 \sum_S (z_j - \tau)(z_j + \tau)`, whose
    gradient is exactly :math:`\mathrm{sparsemax}(z) - e_y` and never passes through the sort
    (ties do not split it). A score of ``-inf`` (a masked class) is allowed, except the label's.

    >>> import numpy as np, losskit
    >>> z = np.array([[1.0, 0.5, -1.0]])  # sparsemax (0.75, 0.25, 0), tau = 0.25
    >>> losskit.SparsemaxLoss()(z, np.array([1]))  # -0.5 + ((1 - 1/16) + (1/4 - 1/16)) / 2 + 1/2
    array([0.5625])
    >>> losskit.SparsemaxLoss()(np.array([[3.0, 1.0, 0.0]]), np.array([0]))  # a margin of 2: 0
    array([0.])
    """

    _function = staticmethod(F.sparsemax_loss)

    def __init__(self, weight: float | None = None, batch_axis: int = 0, *, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = check_axis_option(axis)


@register("classification")
class MulticlassHingeLoss(Loss):
    r"""Multi-class hinge loss of Crammer & Singer (``optax.losses.multiclass_hinge_loss``).

    .. math:: \ell = \max\bigl(0,\ m + \max_{c \ne y} x_c - x_y\bigr)

    along ``axis``: the true class should outscore its *best* rival by the margin ``m`` (any
    real; 1 by default). ``margin=0`` is the multi-class perceptron loss
    :math:`\max_c x_c - x_y` (``optax.losses.multiclass_perceptron_loss``). Not
    :class:`MultiMarginLoss` (Weston & Watkins: the mean of a hinge over *every* rival), nor
    :class:`CategoricalHingeLoss` (Keras's: its maximum runs over every class with the true one
    at 0, so rivals that all score below 0 count as 0, not as their score).

    Shape:
        - pred: scores ``(N, C)``, or any shape with the classes along ``axis`` (default -1).
        - label: ``pred``'s shape without ``axis``: class indices.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``, the mean over the positions of an example.

    Stability: piecewise linear, finite for finite scores; the true class leaves the maximum
    through a ``where`` (``-inf``), so a rival of ``-inf`` (a masked class) is allowed. At the
    hinge's kink the gradient is 0 (``relu``'s, on every backend); tied best rivals share the
    gradient of the maximum equally. A single class has no rival: the loss is 0.

    >>> import numpy as np, losskit
    >>> x, y = np.array([[-0.2, 0.5, -2.0]]), np.array([1])
    >>> losskit.MulticlassHingeLoss()(x, y).round(6)  # 1 + (-0.2) - 0.5
    array([0.3])
    >>> losskit.MulticlassHingeLoss(margin=0)(x, y)  # the perceptron: max_c x_c - x_y
    array([0.])
    """

    _function = staticmethod(F.multiclass_hinge_loss)

    def __init__(
        self, margin: float = 1.0, weight: float | None = None, batch_axis: int = 0, *, axis: int = -1, **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_number(margin, "margin", array_ok=True)  # any real, as HingeLoss's
        self._margin = margin  # as given: the repr and plot labels show it so
        self._axis = check_axis_option(axis)


@register("classification", aliases=("CategoricalGeneralizedCrossEntropyLoss",))
class GeneralizedCrossEntropyLoss(Loss):
    r"""Generalized cross-entropy (Zhang & Sabuncu, 2018), robust to noisy labels (alias
    ``CategoricalGeneralizedCrossEntropyLoss``, Keras's ``CategoricalGeneralizedCrossEntropy``).

    .. math::
        \ell = \frac{1 - p_y^{\,q}}{q} \quad\text{(sparse)},\qquad
        \ell = \sum_j z_j\, \frac{1 - p_j^{\,q}}{q} \quad\text{(dense)}

    with :math:`p = \operatorname{softmax}(x)` along ``axis``; with ``from_logits=True`` (Gluon's
    name) ``pred`` holds log-probabilities :math:`\log p`, taken as they are (not renormalised).
    ``q`` is in ``(0, 1]``: as :math:`q \to 0` the loss tends to the cross-entropy
    :math:`-\log p_y`; ``q=1`` gives :math:`1 - p_y`, half the L1 distance of ``p`` from the
    one-hot label (the paper's MAE). The default ``q=0.5`` is Keras's (the paper's experiments use
    0.7); a 0-d array is taken too (traced or learnt; not checked).

    Keras takes probabilities: ``keras.losses.categorical_generalized_cross_entropy(y, p, q)`` is
    ``GeneralizedCrossEntropyLoss(q=q, from_logits=True)(log(p), y)``, also for rows of ``p`` that
    do not sum to 1 (Keras does not normalise them); the Keras class's default reduction is the
    result's ``.mean()``. A label outside ``[0, C)`` raises here, where Keras's one-hot gives
    :math:`p_y = 0` and a loss of :math:`1/q`.

    Shape:
        - pred: logits ``(N, C)``, or any shape with the classes along ``axis``.
        - label: sparse: ``pred``'s shape without ``axis``, class indices; dense: ``pred``'s shape.
        - sample_weight: broadcastable to ``pred``'s shape with ``axis`` of size 1.
        - output: ``(N,)``, the mean over the positions of an example.

    Stability: :math:`\log p` by ``log_softmax``, and the loss as
    :math:`-\operatorname{expm1}(q \log p) / q`: :math:`p^q` is never formed from ``p`` (whose
    ``0**q`` has an infinite derivative), so values and gradients are finite for any finite
    logits (a class whose probability underflows costs :math:`1/q`, with a zero gradient), and
    ``expm1`` keeps a small ``q`` exact.

    >>> import numpy as np, losskit
    >>> losskit.GeneralizedCrossEntropyLoss()(np.zeros((1, 2)), np.array([0]))  # 2 (1 - sqrt(1/2))
    array([0.58578644])
    >>> p = np.array([[0.7, 0.2, 0.1]])  # Keras's probabilities: pass log p with from_logits=True
    >>> losskit.GeneralizedCrossEntropyLoss(q=1.0, from_logits=True)(np.log(p), np.array([0]))  # 1 - 0.7
    array([0.3])
    """

    _function = staticmethod(F.generalized_cross_entropy)

    def __init__(
        self,
        q: float = 0.5,
        axis: int = -1,
        sparse_label: bool = True,
        from_logits: bool = False,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._q = check_gce_q(q)
        self._axis = check_axis_option(axis)
        self._sparse_label = check_flag(sparse_label, "sparse_label")
        self._from_logits = check_flag(from_logits, "from_logits")


CategoricalGeneralizedCrossEntropyLoss = GeneralizedCrossEntropyLoss


@register("classification")
class ArcFaceLoss(Loss):
    r"""ArcFace: softmax cross-entropy with an additive angular margin (Deng et al., CVPR 2019).

    .. math::
        \ell = -\log \frac{e^{s \cos(\theta_y + m)}}
                          {e^{s \cos(\theta_y + m)} + \sum_{j \ne y} e^{s \cos \theta_j}},
        \qquad \cos\theta_j = \text{cosine}_j

    ``scale`` :math:`s` (64 by default, as the paper, insightface and pytorch-metric-learning; a
    0-d array too, learnt as NormFace's, unchecked), ``margin`` :math:`m` in radians, in
    ``[0, pi)`` (0.5 by default, the paper's; pml's default is 28.6 degrees, 0.4992 rad).
    ``margin=0`` is ``SoftmaxCELoss`` of ``s * cosine``. It is insightface's
    ``CombinedMarginLoss`` with ``m1 = 1, m2 = margin, m3 = 0``; the core,
    ``losskit.functional.margin_softmax_cross_entropy``, takes both margins at once
    (``cos(theta_y + m2) - m3``; SphereFace's ``m1`` is not offered).

    ``cosine`` holds **cosine similarities**, not logits: the loss owns no weight matrix, so the
    model computes them from its embeddings and a learnt class-centre matrix ``W`` ``(C, D)``
    (pytorch-metric-learning's classes own ``W`` and take the embeddings instead)::

        # PyTorch
        import torch.nn.functional as tF
        cosine = tF.normalize(emb, dim=1) @ tF.normalize(W, dim=1).T     # (N, C)
        loss = losskit.ArcFaceLoss()(cosine, label).mean()

        # JAX
        unit = lambda v: v / jnp.linalg.norm(v, axis=1, keepdims=True)
        cosine = unit(emb) @ unit(W).T
        loss = losskit.ArcFaceLoss()(cosine, label).mean()

    Values beyond ``[-1, 1]`` by more than ``2**-6`` (rounding of a low-precision matmul lies
    within that) raise ``ValueError`` on eager arrays, as out-of-range class indices do: logits
    passed by mistake would otherwise be clamped silently. Within it they are clamped to
    ``[-1, 1]``; under ``jax.jit``, ``torch.compile`` or ``torch.func.vmap`` (and with
    :func:`losskit.set_value_checks` off) values are not read, only clamped. A NaN gives a NaN
    loss, as in every loss.

    Past :math:`\theta_y = \pi - m` (:math:`\cos\theta_y \le -\cos m`), :math:`\cos(\theta_y + m)`
    turns back up: the loss would push the embedding *away* from its class. There the logit is
    :math:`\cos\theta_y - m \sin m` instead, the fallback of insightface's ``ArcFace``
    (``th = cos(pi - m)``, ``mm = sin(pi - m) * m``) and of pytorch-metric-learning's ``ArcFaceLoss``:
    monotone, with a jump of :math:`\cos m + m \sin m - 1` (0.117 at :math:`m = 0.5`, down to the
    fallback's side) at the threshold. ``easy_margin=True`` (insightface's flag) applies the margin
    only where :math:`\cos\theta_y > 0` and leaves the logit :math:`\cos\theta_y` elsewhere.
    insightface's current ``CombinedMarginLoss`` has neither (its ``th`` and ``mm`` are unused), and
    computes the margin under ``torch.no_grad()``: its values are these (for
    :math:`\theta_y \le \pi - m`), but its gradient treats the margin as a constant shift, ``s``
    times the softmax gradient; here the gradient is the formula's.

    Differences from pytorch-metric-learning: it takes embeddings and owns ``W``, and returns
    the mean over the batch (its ``DoNothingReducer`` gives these per-example values); it takes
    the margin in degrees; its ``acos`` of ``clamp(cosine, -1, 1)`` has an infinite derivative
    at :math:`\pm 1` (NaN gradients), which this one does not (below).

    Shape:
        - cosine: ``(N, C)``, or any shape with the classes along ``axis``.
        - label: ``cosine``'s shape without ``axis``, class indices in ``[0, C)``.
        - sample_weight: broadcastable to ``cosine``'s shape with ``axis`` of size 1, e.g. ``(N, 1)``.
        - output: ``(N,)``.

    Stability: no ``acos``: :math:`\cos(\theta + m) = c \cos m - \sin\theta \sin m` with
    :math:`\sin\theta = \sqrt{(1 - c)(1 + c)}` (no cancellation near :math:`\pm 1`); exact values,
    and the exact derivative inside :math:`(-1, 1)`, finite however close to :math:`\pm 1`. At
    :math:`c = \pm 1` exactly, where the one-sided derivative is infinite, the square root's
    derivative is taken as 0 (the logit's derivative is then :math:`s \cos m`). The cross-entropy
    is :class:`SoftmaxCrossEntropyLoss`'s (``logsumexp``, torch's fused op on tensors), finite
    for any scale.

    >>> import numpy as np, losskit
    >>> cosine = np.array([[0.5, 0.5]])  # 60 degrees from both class centres
    >>> losskit.ArcFaceLoss(scale=1.0)(cosine, np.array([0]))  # log(1 + exp(0.5 - cos(pi/3 + 0.5)))
    array([0.95945462])
    >>> losskit.ArcFaceLoss()(cosine, np.array([0]))  # s = 64
    array([30.48981854])
    """

    _function = staticmethod(F.arcface_loss)

    def __init__(
        self,
        scale: float = 64.0,
        margin: float = 0.5,
        easy_margin: bool = False,
        axis: int = -1,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._scale, self._margin = check_margin_options(scale, margin, easy_margin, angular=True)
        self._easy_margin = check_flag(easy_margin, "easy_margin")
        self._axis = check_axis_option(axis)

    def _compute(self, cosine: Array, label: Array, sample_weight: Any = None) -> Array:
        return self._function(cosine, label, sample_weight, **self._options())


@register("classification")
class CosFaceLoss(Loss):
    r"""CosFace: softmax cross-entropy with a large margin on the cosine (Wang et al., CVPR 2018).

    .. math::
        \ell = -\log \frac{e^{s (\cos\theta_y - m)}}
                          {e^{s (\cos\theta_y - m)} + \sum_{j \ne y} e^{s \cos \theta_j}},
        \qquad \cos\theta_j = \text{cosine}_j

    ``scale`` :math:`s` (64 by default, as pytorch-metric-learning and insightface; the paper
    uses 64; a 0-d array too, learnt, unchecked), ``margin`` :math:`m` (0.35 by default, the
    paper's and pml's; insightface's class defaults to 0.4), any real number (a negative margin
    makes the true class easier, as some few-shot work uses). It is
    :class:`SoftmaxCrossEntropyLoss` of ``s * cosine`` with the true class's logit lowered by
    :math:`s m` (so ``margin=0`` is that cross-entropy), and insightface's
    ``CombinedMarginLoss`` with ``m1 = 1, m2 = 0, m3 = margin``; it shares its core with
    :class:`ArcFaceLoss`.

    ``cosine`` holds **cosine similarities**, not logits: the loss owns no weight matrix, so the
    model computes them from its embeddings and a learnt class-centre matrix ``W`` ``(C, D)``
    (pytorch-metric-learning's classes own ``W`` and take the embeddings instead)::

        # PyTorch
        import torch.nn.functional as tF
        cosine = tF.normalize(emb, dim=1) @ tF.normalize(W, dim=1).T     # (N, C)
        loss = losskit.CosFaceLoss()(cosine, label).mean()

        # JAX
        unit = lambda v: v / jnp.linalg.norm(v, axis=1, keepdims=True)
        cosine = unit(emb) @ unit(W).T
        loss = losskit.CosFaceLoss()(cosine, label).mean()

    Values beyond ``[-1, 1]`` by more than ``2**-6`` (rounding of a low-precision matmul lies
    within that) raise ``ValueError`` on eager arrays, as out-of-range class indices do: logits
    passed by mistake would otherwise be clamped silently. Within it they are clamped to
    ``[-1, 1]``; under ``jax.jit``, ``torch.compile`` or ``torch.func.vmap`` (and with
    :func:`losskit.set_value_checks` off) values are not read, only clamped. A NaN gives a NaN
    loss, as in every loss.

    Differences from pytorch-metric-learning's ``CosFaceLoss``: it takes embeddings and owns
    ``W``, and returns the batch mean (its ``DoNothingReducer`` gives these per-example values).

    Shape:
        - cosine: ``(N, C)``, or any shape with the classes along ``axis``.
        - label: ``cosine``'s shape without ``axis``, class indices in ``[0, C)``.
        - sample_weight: broadcastable to ``cosine``'s shape with ``axis`` of size 1, e.g. ``(N, 1)``.
        - output: ``(N,)``.

    Stability: the cross-entropy is :class:`SoftmaxCrossEntropyLoss`'s (``logsumexp``, torch's
    fused op on tensors), finite for any scale; the margin is a subtraction.

    >>> import numpy as np, losskit
    >>> cosine = np.array([[0.5, 0.5]])
    >>> losskit.CosFaceLoss(scale=1.0)(cosine, np.array([0]))  # log(1 + exp(0.35))
    array([0.88338216])
    >>> losskit.CosFaceLoss()(cosine, np.array([0]))  # s = 64: about 64 * 0.35
    array([22.4])
    """

    _function = staticmethod(F.cosface_loss)

    def __init__(
        self,
        scale: float = 64.0,
        margin: float = 0.35,
        axis: int = -1,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._scale, self._margin = check_margin_options(scale, margin, False, angular=False)
        self._axis = check_axis_option(axis)

    def _compute(self, cosine: Array, label: Array, sample_weight: Any = None) -> Array:
        return self._function(cosine, label, sample_weight, **self._options())


@register("classification")
class DistillationLoss(Loss):
    r"""Knowledge distillation (Hinton et al., 2015): the KL divergence of the student's softened
    distribution from the teacher's, times :math:`T^2`.

    .. math::
        \ell = T^2\, \mathrm{KL}\bigl(p \,\|\, q\bigr)
             = T^2 \sum_j p_j \bigl(\log p_j - \log q_j\bigr),\qquad
        p = \operatorname{softmax}(t / T),\quad q = \operatorname{softmax}(s / T)

    along ``axis``, with :math:`s` the ``student_logits`` and :math:`t` the ``teacher_logits`` (the
    same shape). The :math:`T^2` keeps the gradient's size independent of the temperature
    (:math:`\partial \ell / \partial s = T (q - p)`), as the paper recommends when the loss is
    mixed with the hard-label cross-entropy: ``alpha * DistillationLoss(temperature=T)(s, t) +
    (1 - alpha) * SoftmaxCELoss()(s, y)`` is the paper's objective (add the two yourself).
    ``temperature`` :math:`T > 0` is 1 by default, where the loss is plain
    ``KLDivLoss()(log_softmax(s), softmax(t))``; the paper uses 2 to 20, and 2 to 5 is common. A
    0-d array is taken too (a learnt or scheduled temperature; not checked).
    It equals ``torch.nn.functional.kl_div(log_softmax(s / T), softmax(t / T), reduction='none')
    .sum(axis) * T**2`` and ``optax.losses.kl_divergence(log_softmax(s / T), softmax(t / T)) * T**2``.
    Over more axes than two (tokens, say) the divergence is summed over ``axis`` and averaged
    over the other non-batch axes, one value per example (as :class:`JSDLoss`).

    **The teacher's gradient is not stopped.** The loss is differentiable in both inputs (the
    teacher's gradient is :math:`T\, p \odot ((\log p - \log q) - \mathrm{KL})`), so that mutual
    or online distillation, where both networks learn, works. For the usual frozen teacher,
    pass ``teacher_logits.detach()`` (PyTorch; or compute it under ``torch.no_grad()``) or
    ``jax.lax.stop_gradient(teacher_logits)`` (JAX); losskit never stops a gradient silently.

    Shape:
        - student_logits, teacher_logits: ``(N, C)``, or any shape with the classes along ``axis``; the same shape.
        - sample_weight: broadcastable to ``student_logits``'s shape with ``axis`` of size 1, e.g. ``(N, 1)``.
        - output: ``(N,)``.

    Dtypes: the two inputs are promoted together (a float64 teacher beside a float32 student
    gives float64); float16 and bfloat16 are computed in float32.

    Stability: both distributions as ``log_softmax`` (the maximum subtracted first), never as
    probabilities to take the log of; the teacher's log-probabilities are used directly, and a
    class whose teacher logit is ``-inf`` (masked) adds 0 with finite gradients (not
    ``0 * -inf``). Equal logits give exactly 0 with a zero gradient.

    >>> import numpy as np, losskit
    >>> student, teacher = np.array([[2.0, 0.0]]), np.array([[0.0, 0.0]])
    >>> losskit.DistillationLoss()(student, teacher).round(6)  # KL((1/2, 1/2) || softmax([2, 0]))
    array([0.433781])
    >>> losskit.DistillationLoss(temperature=2.0)(student, teacher).round(6)  # 4 KL((1/2, 1/2) || softmax([1, 0]))
    array([0.480458])
    >>> losskit.DistillationLoss(temperature=2.0)(teacher, teacher)
    array([0.])
    """

    _function = staticmethod(F.distillation_loss)

    def __init__(
        self,
        temperature: float = 1.0,
        axis: int = -1,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._temperature = check_temperature(temperature)
        self._axis = check_axis_option(axis)

    def _compute(self, student_logits: Array, teacher_logits: Array, sample_weight: Any = None) -> Array:
        return self._function(student_logits, teacher_logits, sample_weight, **self._options())


__all__ = [
    "SigmoidBinaryCrossEntropyLoss",
    "SigmoidBCELoss",
    "SoftmaxCrossEntropyLoss",
    "SoftmaxCELoss",
    "KLDivLoss",
    "HingeLoss",
    "SquaredHingeLoss",
    "LogisticLoss",
    "NLLLoss",
    "SigmoidFocalLoss",
    "AsymmetricLoss",
    "SoftmaxFocalLoss",
    "PolyLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "JSDLoss",
    "MultiLabelMarginLoss",
    "CategoricalHingeLoss",
    "SparsemaxLoss",
    "MulticlassHingeLoss",
    "GeneralizedCrossEntropyLoss",
    "CategoricalGeneralizedCrossEntropyLoss",
    "ArcFaceLoss",
    "CosFaceLoss",
    "DistillationLoss",
]
