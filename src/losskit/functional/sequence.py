"""Sequence losses: Connectionist Temporal Classification. :class:`losskit.CTCLoss` documents it.

One generic array-API implementation (the log-space forward algorithm) serves every backend
and is the reference; PyTorch arrays take ``torch.nn.functional.ctc_loss`` and JAX arrays
``optax.ctc_loss`` (when optax is installed), both checked against the generic path in tests.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat

from .. import _fast
from .._array import (
    LOG_ZERO,
    Array,
    check_array,
    device,
    dtype_kind,
    log_softmax,
    logaddexp,
    namespace,
    take_along_axis,
)
from .._core import (
    check_flag,
    check_has_classes,
    check_ranges,
    check_sample_weight,
    check_weight,
    comparable_index,
    finish,
    float_input,
    index_dtype,
)

LAYOUTS = ("NTC", "TNC")
LABEL_LAYOUTS = ("NT", "TN")


def check_layouts(layout: str, label_layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if label_layout not in LABEL_LAYOUTS:
        raise ValueError(f"label_layout must be one of {LABEL_LAYOUTS}, got {label_layout!r}")


def ctc_loss(
    pred: Array,
    label: Array,
    pred_lengths: Array | None = None,
    label_lengths: Array | None = None,
    sample_weight: Any = None,
    *,
    layout: str = "NTC",
    label_layout: str = "NT",
    weight: float | None = None,
    zero_infinity: bool = False,
    backend: str = "auto",
) -> Array:
    """CTC negative log-likelihood per sequence; blank is the last class. See :class:`losskit.CTCLoss`.

    ``backend="generic"`` forces the array-API implementation (the reference the fast paths
    are tested against); ``"auto"`` uses the host framework's CTC where there is one.
    """
    check_layouts(layout, label_layout)
    check_flag(zero_infinity, "zero_infinity")
    if backend not in ("auto", "generic"):
        raise ValueError(f"backend must be 'auto' or 'generic', got {backend!r}")
    xp = namespace(pred, label, pred_lengths, label_lengths, sample_weight, names=("pred", "label"))
    logits = float_input(xp, pred, "pred")
    if pred.ndim != 3:
        raise ValueError(f"pred must have 3 axes ({layout}), got shape {tuple(pred.shape)}")
    check_has_classes(tuple(pred.shape), 2)
    if label.ndim != 2:
        raise ValueError(f"label must have 2 axes ({label_layout}), got shape {tuple(label.shape)}")
    for name, values in (("label", label), ("pred_lengths", pred_lengths), ("label_lengths", label_lengths)):
        if values is not None:
            check_array(xp, values, name)
            if dtype_kind(xp, values.dtype) not in ("integral", "real floating"):  # not bool, complex or str
                raise TypeError(f"{name} must hold integers (or whole-number floats), got dtype {values.dtype}")
    # torch compares neither uint16/32 (cast to int64 here) nor uint64 (refused): label_lengths are compared below
    label, pred_lengths, label_lengths = (
        None if values is None else comparable_index(xp, values, name)
        for name, values in (("label", label), ("pred_lengths", pred_lengths), ("label_lengths", label_lengths))
    )
    if layout == "NTC":
        logits = xp.permute_dims(logits, (1, 0, 2))
    if label_layout == "TN":
        label = xp.permute_dims(label, (1, 0))
    t_max, n, c = logits.shape
    s_max = label.shape[1]
    if label.shape[0] != n:
        raise ValueError(
            f"label has batch size {label.shape[0]} but pred has {n} "
            f"(pred shape {tuple(pred.shape)} as {layout}, label shape {tuple(label.shape)} as {label_layout})"
        )
    for name, lengths in (("pred_lengths", pred_lengths), ("label_lengths", label_lengths)):
        if lengths is not None and tuple(lengths.shape) != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(lengths.shape)}")
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, (n,))
    # -1 pads the labels; the blank (c - 1) may not appear as a label
    if label_lengths is None:
        ranges = [(label, -1, c - 1, "label", "labels (-1 for padding, blank = last class excluded)")]
    else:
        # given lengths: a label within its length must be a class (a -1 there would be read as
        # class 0), what lies past it is never read
        dev = device(label)
        lengths = array_api_compat.to_device(label_lengths, dev)  # torch takes CPU lengths beside CUDA labels
        # float lengths (whole numbers, checked below) are compared as floats: the standard does
        # not promote an integer array with a float one
        kind = lengths.dtype if dtype_kind(xp, lengths.dtype) == "real floating" else None
        position = xp.arange(s_max, device=dev, dtype=kind)[None, :]
        label = xp.where(position < lengths[:, None], label, xp.zeros_like(label))
        ranges = [(label, 0, c - 1, "label", "labels within label_lengths (blank = last class excluded)")]
    # the lengths first: a wrong length (1.5, say) also misplaces the label's mask, and the error
    # is the length's
    if label_lengths is not None:
        ranges.insert(0, (label_lengths, 0, s_max + 1, "label_lengths", "lengths"))
    if pred_lengths is not None:
        ranges.insert(0, (pred_lengths, 0, t_max + 1, "pred_lengths", "lengths"))
    check_ranges(xp, *ranges)

    idx = index_dtype(xp)
    label = xp.astype(label, idx, copy=False)
    if label_lengths is None:
        # the length is the count of labels before the first -1
        padded = xp.astype(label < 0, idx)
        label_lengths = xp.sum(xp.astype(xp.cumulative_sum(padded, axis=1) == 0, idx), axis=1)
    label_lengths = xp.astype(label_lengths, idx, copy=False)
    if pred_lengths is None:
        pred_lengths = xp.full((n,), t_max, dtype=idx, device=device(logits))
    pred_lengths = xp.astype(pred_lengths, idx, copy=False)
    label = xp.where(label < 0, xp.zeros_like(label), label)  # padding -> any valid index

    if n == 0 or t_max == 0:
        # nothing to align (torch's kernel refuses empty inputs): with no frame the empty label
        # has probability 1 and any other 0; 0 * sum(logits) keeps the loss in pred's graph
        zero = 0 * xp.sum(logits, axis=(0, 2))
        loss = xp.where(label_lengths == 0, zero, zero + float("inf"))
    else:
        impl = (_fast_path(logits) if backend == "auto" else None) or _ctc_generic
        loss = impl(xp, logits, label, pred_lengths, label_lengths)
    if zero_infinity:  # as torch's: an impossible alignment's loss and its gradient are 0
        loss = xp.where(loss == float("inf"), xp.zeros_like(loss), loss)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)


def _fast_path(logits: Array) -> Any:
    """The framework's CTC for torch and JAX arrays; None where there is none or
    :func:`losskit._fast.disabled` is in force."""
    if _fast.use_torch(logits) and _fast.untransformed():  # torch's kernel has no forward derivative
        return _ctc_torch
    if _fast.use_jax(logits):
        try:
            import optax  # noqa: F401
        except ImportError:
            return None
        return _ctc_optax
    return None


def _ctc_torch(xp: Any, logits: Array, label: Array, pred_lengths: Array, label_lengths: Array) -> Array:
    # a -inf logit (a masked class) made the gradient of torch's kernel NaN, for every frame
    # through log_softmax: -1e30 is the same zero probability, finite (as the optax path's).
    # Eager CPU tensors are read first (no device to wait for): the floor, 8 % of a large CTC
    # step there, only where a -inf is
    if not _fast.holds_no_neg_inf(logits):
        # masked_fill saves its mask for the backward, not the logits (clamp_min kept them alive)
        logits = logits.masked_fill(logits == -math.inf, LOG_ZERO)  # NaN stays NaN
        loss = _fast.torch_ctc_loss(logits, label, pred_lengths, label_lengths)
        # a label only masked classes could produce: a path through -1e30 is now the kernel's
        # best, where -inf left none: +inf, as the generic path gives, with no gradient
        return xp.where(loss > -LOG_ZERO / 2, xp.full_like(loss, math.inf), loss)
    # F.ctc_loss eagerly; under torch.compile a custom op with static shapes (no graph break)
    return _fast.torch_ctc_loss(logits, label, pred_lengths, label_lengths)


def _ctc_optax(xp: Any, logits: Array, label: Array, pred_lengths: Array, label_lengths: Array) -> Array:
    import jax.numpy as jnp
    import optax

    t_max, _, c = logits.shape
    # a -inf logit (a masked class) made optax's loss and gradient NaN: -1e30 is the same zero
    # probability, finite (NaN stays NaN: NaN < x is false). A select, not jnp.maximum, whose
    # derivative splits a tie in half (at -1e30 itself; the generic path passes it whole) at the
    # cost of two full-size masks and a divide in the backward pass: 1.04-1.10x optax's CTC under
    # jit on a CPU at 32 x 256 x 64, 1.00-1.02x with the select
    batch_logits = jnp.transpose(logits, (1, 0, 2))
    batch_logits = jnp.where(batch_logits < LOG_ZERO, LOG_ZERO, batch_logits)
    logit_pad = (jnp.arange(t_max)[None, :] >= pred_lengths[:, None]).astype(logits.dtype)
    label_pad = (jnp.arange(label.shape[1])[None, :] >= label_lengths[:, None]).astype(logits.dtype)
    # optax's log(0), log_epsilon, is -1e5 by default: a path less likely than exp(-1e5) was
    # clamped there, and a label that no alignment can produce cost ~1e5, where torch and the
    # generic path give +inf. With the generic path's -1e30, the same test as there finds them.
    loss = optax.ctc_loss(batch_logits, logit_pad, label, label_pad, blank_id=c - 1, log_epsilon=LOG_ZERO)
    # too few frames is decided from the lengths, as torch does, whatever the logits (a NaN there)
    impossible = (loss > -LOG_ZERO / 2) | _infeasible(xp, label, pred_lengths, label_lengths)
    return xp.where(impossible, xp.full_like(loss, float("inf")), loss)


def _infeasible(xp: Any, label: Array, pred_lengths: Array, label_lengths: Array) -> Array:
    """Rows whose label needs more frames than the input has: one per label, and one more blank
    between each two equal neighbours (``a a`` needs ``a - a``)."""
    s_max = label.shape[1]
    if s_max < 2:
        return pred_lengths < label_lengths
    position = xp.arange(1, s_max, device=device(label))[None, :]
    repeats = (label[:, 1:] == label[:, :-1]) & (position < label_lengths[:, None])
    return pred_lengths < label_lengths + xp.sum(xp.astype(repeats, label_lengths.dtype), axis=1)


def _ctc_generic(xp: Any, logits: Array, label: Array, pred_lengths: Array, label_lengths: Array) -> Array:
    """Forward algorithm in log space over the blank-extended label (Graves et al., 2006)."""
    t_max, n, c = logits.shape
    s_max = label.shape[1]
    logp = log_softmax(xp, logits, axis=-1)
    blank = c - 1
    dev = device(logits)
    idx = label.dtype
    # extended label: blank, l1, blank, l2, ..., blank  -> (n, 2 * s_max + 1)
    blanks = xp.full((n, s_max), blank, dtype=idx, device=dev)
    ext = xp.reshape(xp.stack([blanks, label], axis=2), (n, 2 * s_max))
    ext = xp.concat([ext, xp.full((n, 1), blank, dtype=idx, device=dev)], axis=1)
    width = 2 * s_max + 1
    # emissions: logp[t, b, ext[b, s]]  -> (t_max, n, width)
    emit = take_along_axis(xp, logp, xp.broadcast_to(ext[None, ...], (t_max, n, width)), axis=2)
    # a transition may skip a blank between two different labels
    prev2 = xp.concat([xp.full((n, 2), blank, dtype=idx, device=dev), ext[:, :-2]], axis=1)
    can_skip = (ext != blank) & (ext != prev2)

    log_zero = xp.full((n, width), LOG_ZERO, dtype=logits.dtype, device=dev)
    position = xp.arange(width, device=dev)[None, :]
    alpha = xp.where(position < 2, emit[0, ...], log_zero)
    for t in range(1, t_max):
        shift1 = xp.concat([log_zero[:, :1], alpha[:, :-1]], axis=1)
        shift2 = xp.concat([log_zero[:, :2], alpha[:, :-2]], axis=1)
        shift2 = xp.where(can_skip, shift2, log_zero)
        step = logaddexp(xp, alpha, shift1, shift2) + emit[t, ...]
        alpha = xp.where((pred_lengths > t)[:, None], step, alpha)  # frozen past each input's end
    last = take_along_axis(xp, alpha, (2 * label_lengths)[:, None], axis=1)[:, 0]
    before = take_along_axis(xp, alpha, xp.maximum(2 * label_lengths - 1, 0 * label_lengths)[:, None], axis=1)[:, 0]
    before = xp.where(label_lengths > 0, before, log_zero[:, 0])
    log_likelihood = logaddexp(xp, last, before)
    # a label that no alignment of the input can produce has likelihood 0: loss +inf, as torch
    # LOG_ZERO plus any log-probability stays far below every reachable path
    infeasible = log_likelihood < LOG_ZERO / 2
    loss = xp.where(infeasible, xp.full_like(log_likelihood, float("inf")), -log_likelihood)
    # no input frame at all (alpha above started from frame 0 regardless): the empty label has
    # probability 1, any other 0
    empty = xp.where(label_lengths == 0, xp.zeros_like(loss), xp.full_like(loss, float("inf")))
    return xp.where(pred_lengths == 0, empty, loss)


__all__ = ["ctc_loss"]
