"""Sequence losses (Gluon names and semantics)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._array import Array
from .._core import check_flag
from ..functional.sequence import check_layouts
from ..registry import register
from .base import Loss


@register("sequence")
class CTCLoss(Loss):
    r"""Connectionist Temporal Classification loss (Graves et al., 2006).

    The negative log-likelihood of the label sequence, summed over every alignment of it
    (with blanks and repeats) to the input frames:

    .. math:: \ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_t \operatorname{softmax}(x_t)_{\pi_t}

    The blank is the **last** class (``C - 1``), as in Gluon; labels are padded with ``-1``
    unless ``label_lengths`` is given, in which case only the first ``label_lengths[i]`` labels
    of sequence ``i`` are read (each must be a class) and the rest may hold anything.

    Shape:
        - pred: ``(N, T, C)`` for ``layout='NTC'``, ``(T, N, C)`` for ``'TNC'``; unnormalised scores.
        - label: ``(N, S)`` for ``label_layout='NT'``, ``(S, N)`` for ``'TN'``; integers in ``[0, C-1)``.
        - pred_lengths, label_lengths: optional ``(N,)`` integer lengths.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``. A label no alignment can produce gives ``inf`` (as PyTorch), or 0
          with ``zero_infinity=True`` (PyTorch's option: the loss and its gradient are 0 there).

    Backends: PyTorch arrays use ``torch.nn.functional.ctc_loss``, JAX arrays ``optax.ctc_loss``
    (if optax is installed); other arrays a log-space forward algorithm on the array API, which
    the tests check the fast paths against.

    Stability: the recursion runs in log space with ``logaddexp``; log(0) is a finite -1e30 so
    that no NaN reaches a gradient. On NumPy and JAX a loss above 5e29 is therefore taken as no
    alignment (``inf``): a path of likelihood below exp(-5e29), logits 1e29 apart (PyTorch
    reports such a loss as the finite number). Eager PyTorch takes torch's ``ctc_loss`` kernel,
    which has first derivatives only: under ``torch.func`` transforms and forward-mode AD the
    recursion above runs, but ``create_graph=True`` through the kernel raises
    (``torch.func.hessian`` or ``jvp`` of ``grad`` give second derivatives). JAX takes
    ``optax.ctc_loss``, which with ``jax_enable_x64`` runs its recursion in float64 for float32
    logits (the result is float32).

    >>> import numpy as np, losskit
    >>> pred = np.zeros((1, 2, 3))  # uniform over {a, b, blank} at both frames
    >>> round(float(losskit.CTCLoss()(pred, np.array([[0, -1]]))[0]), 6)  # -log(3/9): "a-", "-a", "aa"
    1.098612
    """

    def __init__(
        self,
        layout: str = "NTC",
        label_layout: str = "NT",
        weight: float | None = None,
        *,
        zero_infinity: bool = False,
        **kwargs: Any,
    ) -> None:
        check_layouts(layout, label_layout)
        check_flag(zero_infinity, "zero_infinity")
        if "batch_axis" in kwargs:  # Gluon's signature: the batch axis is where label_layout has N
            raise TypeError(
                f"CTCLoss takes its batch axis from label_layout ('NT': 0, 'TN': 1), not batch_axis; "
                f"got batch_axis={kwargs['batch_axis']!r}"
            )
        super().__init__(weight, label_layout.find("N"), **kwargs)
        self._layout = layout
        self._label_layout = label_layout
        self._zero_infinity = zero_infinity

    def _compute(
        self,
        pred: Array,
        label: Array,
        pred_lengths: Array | None = None,
        label_lengths: Array | None = None,
        sample_weight: Any = None,
    ) -> Array:
        return F.ctc_loss(
            pred,
            label,
            pred_lengths,
            label_lengths,
            sample_weight,
            layout=self._layout,
            label_layout=self._label_layout,
            weight=self._weight,
            zero_infinity=self._zero_infinity,
        )


__all__ = ["CTCLoss"]
