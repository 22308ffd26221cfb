"""Segmentation losses: overlap indices of predicted and target masks."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._core import check_axis_option, check_class_vector, check_flag, check_ignore_index
from ..functional.segmentation import check_focal, check_lovasz_classes, check_tversky
from ..registry import register
from .base import Loss


@register("segmentation")
class TverskyLoss(Loss):
    r"""Tversky loss (Salehi et al., 2017): one minus the Tversky index, averaged over classes.

    With :math:`p` the predicted probabilities and :math:`t` the target mask of class
    :math:`c`, summed over the spatial axes (every axis but the batch and class axes):
    :math:`I_c = \sum p t`, :math:`FP_c = \sum p - I_c`, :math:`FN_c = \sum t - I_c`, and

    .. math::
        \ell = 1 - \frac{1}{C} \sum_c \frac{I_c + s}{I_c + \alpha FP_c + \beta FN_c + s}

    per example: ``optax.losses.dice_loss`` with ``alpha``, ``beta`` (channels along ``axis``).
    ``alpha = beta = 1/2`` is :class:`DiceLoss`; ``beta > alpha`` weighs missed pixels more.
    ``alpha``, ``beta``, ``smooth`` and ``gamma`` may be 0-d arrays (traced or learnt; not checked).

    ``from_logits=True`` (default): ``pred`` holds logits, turned into probabilities by a softmax
    over the class axis, or a sigmoid when there is a single class (a binary mask).
    ``from_logits=False``: ``pred`` holds probabilities. (optax's meaning, and
    segmentation_models_pytorch's in its binary and multiclass modes; the opposite of Gluon's in
    :class:`SoftmaxCrossEntropyLoss` and :class:`KLDivLoss`, whose ``from_logits=True`` takes
    log-probabilities and applies no softmax.) Classes that are not exclusive (smp's multilabel
    mode, a sigmoid per channel): pass ``sigmoid(logits)`` with ``from_logits=False``.

    ``class_weight`` (``w``, optax's ``class_weights``) weighs each class's loss:
    :math:`\ell = \frac{1}{C} \sum_c w_c \bigl(1 - \mathrm{TI}_c\bigr)`, ``TI_c`` the index above
    (still divided by ``C``, not by :math:`\sum_c w_c`, as optax). A weight of 0 leaves a class out
    (optax's ``ignore_background``: ``w = (0, C/(C-1), ..., C/(C-1))``).

    ``gamma`` (the focal Tversky loss, Abraham & Khan, ISBI 2019): each class's loss is raised to
    the power ``gamma`` *before* the class mean,

    .. math::
        \ell = \frac{1}{C} \sum_c w_c \bigl(1 - \mathrm{TI}_c\bigr)^{\gamma}

    (:math:`w_c = 1` without ``class_weight``); ``gamma=1`` (default) is the Tversky loss. The
    paper writes :math:`\sum_c (1 - \mathrm{TI}_c)^{1/\gamma}` with its :math:`\gamma \in [1, 3]`
    and recommends :math:`4/3`: that is ``gamma=0.75`` here (the exponent itself, as the authors'
    code, ``K.pow(1 - tversky, 0.75)``), and the paper sums over classes where this averages (a
    factor ``C``). Beware two other conventions: segmentation_models_pytorch's
    ``TverskyLoss(gamma=g)`` raises the *aggregated* loss to the power, :math:`\bigl(\frac1C
    \sum_c (1 - \mathrm{TI}_c)\bigr)^{g}` (the same only for a single class), its index taken over
    the whole batch with absent classes counted 0; the paper's code (and ours, with ``alpha``
    weighing false positives) may swap the names of ``alpha`` and ``beta``: its ``alpha=0.7``
    weighs false *negatives*, ``beta=0.7`` here. ``gamma < 1`` makes the loss steeper near
    perfect overlap; ``gamma > 1`` flatter there, so that poorly overlapping classes dominate.

    ``log_loss=True``: :math:`-\log \mathrm{TI}_c` for :math:`1 - \mathrm{TI}_c` (per class,
    weighted and averaged as above), segmentation_models_pytorch's ``log_loss`` (which clamps the
    index at its ``eps``, 1e-7, instead; not combined with ``gamma != 1``). Infinite, with a NaN
    gradient, where an index is 0: ``smooth=0`` and no overlap at all; keep ``smooth > 0`` for it.

    Shape:
        - pred: ``(N, C, d1, ...)``, classes along ``axis`` (1; ``-1`` for channels-last).
        - label: target masks (one-hot or soft) of ``pred``'s shape; for a single class also
          without the class axis, ``(N, d1, ...)``.
        - sample_weight: ``(N,)``.
        - class_weight: ``(C,)``, a sequence or a 1-D array of ``pred``'s library.
        - output: ``(N,)``.

    Stability: probabilities as a softmax that subtracts the row's max (no overflow; torch's fused
    ``softmax`` on tensors, ``exp(log_softmax)`` elsewhere); the denominator is at
    least ``smooth``; with ``smooth=0`` two empty masks would be 0/0: their index is taken as
    1 (perfect agreement) with no gradient. ``alpha``, ``beta``, ``smooth`` must be non-negative,
    ``gamma`` positive. The power :math:`d^\gamma`, :math:`d = 1 - \mathrm{TI}_c`, has an
    infinite derivative at :math:`d = 0` for ``gamma < 1``: there (perfect overlap, the minimum)
    the loss is 0 with a zero gradient, and so below the dtype's smallest normal number ``tiny``;
    above it the derivative :math:`\gamma d^{\gamma - 1}` is under ``1 / tiny``: finite. FP, FN
    and :math:`d` are each summed or divided on their own, not as differences of large sums, so a
    near-perfect mask keeps their digits (``-log TI`` as ``-log1p(-d)`` above ``TI = 1/2``).
    An index above 1 (probabilities or masks outside ``[0, 1]``) counts as :math:`d = 0` when
    ``gamma != 1`` or under ``torch.compile`` (eager ``gamma=1`` gives the negative ``d``).

    >>> import numpy as np, losskit
    >>> probs = np.full((1, 2, 2), 0.5)  # (N, C, W): half of each class everywhere
    >>> mask = np.array([[[1.0, 1.0], [0.0, 0.0]]])  # all of class 0
    >>> losskit.TverskyLoss(alpha=0.7, beta=0.3, smooth=0.0, from_logits=False)(probs, mask).round(6)
    array([0.615385])
    >>> # focal: class 0 has TI = 1/(1 + 0.3) = 10/13, class 1 (empty) TI = 0; ((3/13)**2 + 1) / 2
    >>> losskit.TverskyLoss(alpha=0.7, beta=0.3, smooth=0.0, from_logits=False, gamma=2.0)(probs, mask).round(6)
    array([0.526627])
    """

    _function = staticmethod(F.tversky_loss)

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        smooth: float = 1.0,
        from_logits: bool = True,
        axis: int = 1,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        class_weight: Any = None,
        gamma: float = 1.0,
        log_loss: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._alpha, self._beta, self._smooth = check_tversky(alpha, beta, smooth)
        self._from_logits = check_flag(from_logits, "from_logits")
        self._axis = check_axis_option(axis)
        self._class_weight = check_class_vector(class_weight, "class_weight")
        self._gamma, self._log_loss = check_focal(gamma, log_loss)


@register("segmentation")
class DiceLoss(Loss):
    r"""Soft Dice loss (Milletari et al., 2016): one minus the Dice coefficient, averaged over classes.

    With :math:`I_c = \sum p t`, :math:`P_c = \sum p`, :math:`T_c = \sum t` over the spatial axes:

    .. math::
        \ell = 1 - \frac{1}{C} \sum_c \frac{I_c + s}{\tfrac12 (P_c + T_c) + s}
             = 1 - \frac{1}{C} \sum_c \frac{2 I_c + 2 s}{P_c + T_c + 2 s}

    per example: :class:`TverskyLoss` with ``alpha = beta = 1/2``, and ``optax.losses.dice_loss``.
    Note where ``smooth`` enters: :math:`2s`, not the :math:`s` of ``(2I + s) / (P + T + s)``.
    ``from_logits`` as in :class:`TverskyLoss` (softmax over classes; sigmoid for one class);
    ``class_weight`` too (:math:`\frac{1}{C} \sum_c w_c (1 - \mathrm{Dice}_c)`, optax's ``class_weights``).
    ``log_loss=True``: :math:`-\log \mathrm{Dice}_c` per class instead (as :class:`TverskyLoss`).
    For a focal Dice loss use ``TverskyLoss(gamma=...)`` (``alpha = beta = 1/2``).

    Porting from segmentation_models_pytorch (0.6), whose ``DiceLoss`` differs in four ways (and
    its ``JaccardLoss`` and ``TverskyLoss`` alike): it sums over the batch too (one index per
    class for the whole batch: reshape to a single example for that); a class absent from the
    target costs 0 there, still divided by :math:`C` (here it is scored, its index
    :math:`s / (\tfrac12 P_c + s)`: ``class_weight`` with 0 for the absent classes gives smp's
    value); for soft targets smp takes :math:`\sum \min(p, t)` as the intersection, here
    :math:`\sum p t` (the same for 0/1 masks); and its ``ignore_index``: here multiply the
    probabilities and the masks by the mask of valid pixels (``from_logits=False``), which
    removes those pixels from every sum.

    Shape:
        - pred: ``(N, C, d1, ...)``, classes along ``axis`` (1; ``-1`` for channels-last).
        - label: target masks (one-hot or soft) of ``pred``'s shape; for a single class also
          without the class axis, ``(N, d1, ...)``.
        - sample_weight: ``(N,)``.
        - class_weight: ``(C,)``, a sequence or a 1-D array of ``pred``'s library.
        - output: ``(N,)``.

    Stability: as :class:`TverskyLoss`: probabilities by a softmax without overflow, denominator at least
    ``smooth``, empty masks with ``smooth=0`` scored as agreeing.

    >>> import numpy as np, losskit
    >>> probs = np.full((1, 2, 2), 0.5)
    >>> mask = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # each class on one pixel
    >>> losskit.DiceLoss(from_logits=False)(probs, mask)  # 1 - (0.5 + 1) / (1 + 1)
    array([0.25])
    >>> losskit.DiceLoss(from_logits=False)(mask, mask)
    array([0.])
    >>> losskit.DiceLoss(from_logits=False, class_weight=[3.0, 0.0])(probs, mask)  # (3 * 0.25 + 0) / 2
    array([0.375])
    """

    _function = staticmethod(F.dice_loss)

    def __init__(
        self,
        smooth: float = 1.0,
        from_logits: bool = True,
        axis: int = 1,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        class_weight: Any = None,
        log_loss: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        _, _, self._smooth = check_tversky(0.5, 0.5, smooth)
        self._from_logits = check_flag(from_logits, "from_logits")
        self._axis = check_axis_option(axis)
        self._class_weight = check_class_vector(class_weight, "class_weight")
        _, self._log_loss = check_focal(1.0, log_loss)


@register("segmentation")
class JaccardLoss(Loss):
    r"""Soft Jaccard loss (soft IoU): one minus the Jaccard index of the masks, averaged over classes.

    With :math:`I_c = \sum p t`, :math:`P_c = \sum p`, :math:`T_c = \sum t` over the spatial axes:

    .. math::
        \ell = 1 - \frac{1}{C} \sum_c \frac{I_c + s}{P_c + T_c - I_c + s}

    per example: :class:`TverskyLoss` with ``alpha = beta = 1`` (the soft union
    :math:`P_c + T_c - I_c = I_c + FP_c + FN_c`), and segmentation_models_pytorch's
    ``soft_jaccard_score``, ``(I + s) / (U + s)``. The soft indices of one class relate as
    :math:`J = D / (2 - D)`, :math:`D` the Dice index of :class:`DiceLoss` with the same ``smooth``
    (exact for every ``smooth``, as Dice's enters as :math:`2s`).
    ``from_logits`` as in :class:`TverskyLoss` (softmax over classes; sigmoid for one class);
    ``class_weight`` too (:math:`\frac{1}{C} \sum_c w_c (1 - J_c)`); ``log_loss=True``:
    :math:`-\log J_c` per class instead, smp's ``log_loss``. Unlike smp's ``JaccardLoss``, every
    example has its own index (smp sums over the batch too) and a class absent from the mask is
    scored, not dropped (its index is :math:`s / (P_c + s)`).

    Shape:
        - pred: ``(N, C, d1, ...)``, classes along ``axis`` (1; ``-1`` for channels-last).
        - label: target masks (one-hot or soft) of ``pred``'s shape; for a single class also
          without the class axis, ``(N, d1, ...)``.
        - sample_weight: ``(N,)``.
        - class_weight: ``(C,)``, a sequence or a 1-D array of ``pred``'s library.
        - output: ``(N,)``.

    Stability: as :class:`TverskyLoss`: probabilities by a softmax without overflow, denominator at least
    ``smooth``, empty masks with ``smooth=0`` scored as agreeing (index 1, no gradient).

    >>> import numpy as np, losskit
    >>> probs = np.full((1, 2, 2), 0.5)
    >>> mask = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # each class on one pixel
    >>> losskit.JaccardLoss(from_logits=False)(probs, mask)  # 1 - (0.5 + 1) / (1 + 1 - 0.5 + 1)
    array([0.4])
    >>> losskit.JaccardLoss(from_logits=False, smooth=0.0)(probs, mask).round(6)  # 1 - 0.5 / 1.5
    array([0.666667])
    >>> losskit.JaccardLoss(from_logits=False)(mask, mask)
    array([0.])
    """

    _function = staticmethod(F.jaccard_loss)

    def __init__(
        self,
        smooth: float = 1.0,
        from_logits: bool = True,
        axis: int = 1,
        weight: float | None = None,
        batch_axis: int = 0,
        *,
        class_weight: Any = None,
        log_loss: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        _, _, self._smooth = check_tversky(1.0, 1.0, smooth)
        self._from_logits = check_flag(from_logits, "from_logits")
        self._axis = check_axis_option(axis)
        self._class_weight = check_class_vector(class_weight, "class_weight")
        _, self._log_loss = check_focal(1.0, log_loss)


@register("segmentation")
class LovaszSoftmaxLoss(Loss):
    r"""Lovasz-Softmax loss (Berman, Rannen Triki & Blaschko, 2018): a tractable surrogate of one minus
    the intersection over union (Jaccard index), averaged over classes.

    Per example and class :math:`c`, with :math:`p_{c,i}` the predicted probability of class
    :math:`c` at pixel :math:`i` and :math:`y_i` its label, the errors :math:`e_i = |[y_i = c] - p_{c,i}|`
    are sorted in decreasing order, :math:`e_{(1)} \ge \dots \ge e_{(P)}`, and

    .. math::
        \ell_c = \sum_{i=1}^{P} e_{(i)} \bigl(J_c(i) - J_c(i - 1)\bigr), \qquad
        J_c(i) = 1 - \frac{G_c - F_c(i)}{G_c + B_c(i)}, \quad J_c(0) = 0,

    where :math:`G_c` counts the pixels of class :math:`c`, and :math:`F_c(i)`, :math:`B_c(i)`
    those of class :math:`c` and of other classes among the first :math:`i` sorted:
    :math:`J_c(i)` is the Jaccard loss of getting exactly those :math:`i` pixels wrong, and
    :math:`\ell_c` the Lovasz extension of the Jaccard loss at the errors (convex in them). At a hard (one-hot)
    prediction :math:`\ell_c` is :math:`1 - \mathrm{IoU}_c`. The example's loss is the mean of
    :math:`\ell_c` over the classes in its label (``classes="present"``, the default) or over all
    :math:`C` (``classes="all"``). Gradients flow through the sorted errors, the order held
    constant, as in Berman's ``lovasz_softmax``.

    Per example: Berman's ``per_image=True``. For his default, one loss over the whole batch,
    make the batch one example: ``(1, C, N * H * W)`` after moving the class axis first.

    ``from_logits=True`` (default): ``pred`` holds logits, turned into probabilities by a softmax
    over the class axis (as :class:`DiceLoss`); ``from_logits=False``: ``pred`` holds
    probabilities, taken as they are. ``ignore_index``: the pixels with that label are left out,
    as if cropped away.

    A class absent from an example's label is skipped with ``"present"``; with ``"all"`` its
    :math:`\ell_c` is its largest predicted probability (the IoU of an empty truth is 0 once the
    class is predicted anywhere, 1 if nowhere: two empty masks agree, as in :class:`DiceLoss`). An
    example without a pixel to score (all ignored) gives 0, with a zero gradient.

    Shape:
        - pred: ``(N, C, d1, ...)``, ``C >= 2`` classes along ``axis`` (1; ``-1`` for channels-last).
        - label: ``(N, d1, ...)``, ``pred``'s shape without the class axis (or with it of size 1):
          class indices in ``[0, C)`` (integers, or floats holding whole numbers) or ``ignore_index``.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``.

    Stability: probabilities as :class:`TverskyLoss`'s (no overflow). The coefficients
    :math:`J_c(i) - J_c(i - 1)` come from integer counts in closed form, :math:`1 / U_i` at a
    pixel of class :math:`c` and :math:`I_i / (U_i U_{i-1})` elsewhere
    (:math:`I_i = G_c - F_c(i)`, :math:`U_i = G_c + B_c(i) \ge 1`), not as the difference of two
    rounded Jaccard values, which in float32 is off by up to 6e-8 (6% of a coefficient of a
    one-megapixel mask). Tied errors give the same loss in any order; the gradient follows the
    stable order (first pixel first). Every example and class is sorted at once: forward and
    backward peak at about ten arrays of the logits' size (9.5 measured with torch in float32,
    counting the sort's int64 order as two; 8 x 21 x 512 x 512 needs about 1.7 GB: chunk the
    batch yourself past that).

    >>> import numpy as np, losskit
    >>> probs = np.array([[[0.9, 0.4, 0.2], [0.1, 0.6, 0.8]]])  # (N, C, W): 1 example, 2 classes, 3 pixels
    >>> label = np.array([[0, 0, 1]])
    >>> loss = losskit.LovaszSoftmaxLoss(from_logits=False)
    >>> loss(probs, label).round(6)  # (0.6/2 + 0.2/6 + 0.1/3 + 0.6/2 + 0.2/2) / 2
    array([0.383333])
    >>> hard = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]])  # predicts [0, 1, 1]: IoU 1/2 for both classes
    >>> loss(hard, label)
    array([0.5])
    """

    _function = staticmethod(F.lovasz_softmax_loss)

    def __init__(
        self,
        classes: str = "present",
        ignore_index: int | None = None,
        from_logits: bool = True,
        axis: int = 1,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._classes = check_lovasz_classes(classes)
        check_ignore_index(ignore_index)
        self._ignore_index = ignore_index
        self._from_logits = check_flag(from_logits, "from_logits")
        self._axis = check_axis_option(axis)


@register("segmentation", curve="binary")
class LovaszHingeLoss(Loss):
    r"""Lovasz hinge loss (Berman, Rannen Triki & Blaschko, 2018): a convex surrogate of one minus the
    intersection over union of a binary mask, on logits.

    Per example, with :math:`x_i` the logit of pixel :math:`i` (positive: foreground),
    :math:`s_i = 2 y_i - 1` the sign of its label :math:`y_i \in \{0, 1\}`, and the hinge errors
    :math:`e_i = 1 - x_i s_i` sorted in decreasing order, :math:`e_{(1)} \ge \dots \ge e_{(P)}`:

    .. math::
        \ell = \sum_{i=1}^{P} \max(e_{(i)}, 0) \bigl(J(i) - J(i - 1)\bigr), \qquad
        J(i) = 1 - \frac{G - F(i)}{G + B(i)}, \quad J(0) = 0,

    :math:`J` the Jaccard loss of the foreground as in :class:`LovaszSoftmaxLoss` (:math:`G`
    foreground pixels; :math:`F(i)`, :math:`B(i)` foreground and background pixels among the
    first :math:`i` sorted). One pixel gives the hinge :math:`\max(0, 1 - x s)`, and
    :math:`x s \ge 1` everywhere gives 0. Gradients flow through the sorted errors, the order held
    constant, as in Berman's ``lovasz_hinge``; per example, his ``per_image=True``.

    ``ignore_index``: the pixels with that label are left out. An example without foreground
    gives its largest error, :math:`\max(0, 1 + \max_i x_i)` (the IoU of an empty truth is 0 once a
    pixel is predicted foreground); one without a pixel to score (all ignored) gives 0, with a
    zero gradient.

    Shape:
        - pred: ``(N, d1, ...)`` logits, examples along ``batch_axis``; ``(N,)`` is one pixel each.
        - label: ``pred``'s shape: 0 or 1 (bool, integer or float) or ``ignore_index``.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``.

    Stability: the Lovasz coefficients :math:`J(i) - J(i - 1)` come from integer counts in closed
    form, as in :class:`LovaszSoftmaxLoss` (exact at any mask size in float32). The errors are
    sorted before the clip at 0, as Berman's; the clip's derivative is 0 at 0.

    >>> import numpy as np, losskit
    >>> logits = np.array([[2.0, -0.5, 0.25]])  # (N, W): errors -1, 0.5, 0.75
    >>> mask = np.array([[1, 0, 1]])
    >>> losskit.LovaszHingeLoss()(logits, mask).round(6)  # 0.75 * 1/2 + 0.5 * 1/6 + 0 * 1/3
    array([0.458333])
    >>> losskit.LovaszHingeLoss()(np.array([[3.0, -2.0, 1.5]]), mask)  # x s >= 1 everywhere
    array([0.])
    """

    _function = staticmethod(F.lovasz_hinge_loss)

    def __init__(
        self,
        ignore_index: int | None = None,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_ignore_index(ignore_index)
        self._ignore_index = ignore_index


__all__ = ["DiceLoss", "JaccardLoss", "TverskyLoss", "LovaszSoftmaxLoss", "LovaszHingeLoss"]
