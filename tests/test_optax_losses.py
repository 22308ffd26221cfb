"""Porting from optax: every function of ``optax.losses`` (optax 0.2.8) mapped onto losskit, and
checked against optax itself.

``PORTS`` holds, per optax function, one or more ``Port``: the losskit loss, options and input
conversion that compute what the optax call computes, each on its own seeded inputs. ``ref`` is
the optax call followed by the conversion of its output to losskit's convention (written in the
entry: a mean over the non-batch axes, a constant factor, a shift), so that its JAX gradient is
the expected gradient too. Values are compared on every backend (NumPy, PyTorch, JAX,
array_api_strict), gradients on PyTorch and JAX against ``jax.grad`` of the optax call, all in
float64 (JAX's x64, turned on by ``backends``).

Conventions shared by every port:

- optax's functions keep every axis they do not reduce: elementwise losses return ``pred``'s
  shape, class losses drop the class axis. losskit returns one value per example, the mean over
  the non-batch axes: ``per_example(optax_out)`` below. For ``(N, C)`` class inputs the two agree.
- optax's ``where`` (softmax cross-entropies, poly, KL, cosine) masks entries: a class left out
  of a softmax is a logit of ``-inf`` (with label 0) for losskit, a row left out a
  ``sample_weight`` of 0, an entry left out of a sum (KL, cosine) a ``sample_weight`` of 0 or a
  zeroed entry.
- ``NOT_APPLICABLE`` lists what has no losskit loss, with the reason; each of those is still
  tested for the part that maps (smooth_labels through ``label_smoothing``, the Fenchel-Young
  factory through cross-entropy, the CTC forward probabilities' loss through ``CTCLoss``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np
import pytest

import losskit
from backends import AUTOGRAD_BACKENDS, BACKENDS, to_backend, to_numpy

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")
O = optax.losses

N, C, D = 4, 5, 6


def _xp(x: Any) -> Any:
    return array_api_compat.array_namespace(x)


def _numpy(x: Any) -> np.ndarray:
    """A backend's result as NumPy (NumPy's reductions give a scalar, not an array)."""
    return np.asarray(x) if isinstance(x, (np.generic, float)) else to_numpy(x)


def _mean(x: Any) -> Any:
    """The mean of every element, on any backend (array_api_strict's arrays have no ``.mean()``)."""
    return _xp(x).mean(x)


def per_example(out: Any) -> Any:
    """optax's output, ``(N, ...)``, in losskit's convention: the mean over the non-batch axes."""
    return jnp.reshape(out, (out.shape[0], -1)).mean(axis=1)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.log(_softmax(x, axis))


def _neg_inf_where_not(x: Any, mask: Any) -> Any:
    """A class left out of optax's ``where`` is a logit of ``-inf`` for losskit."""
    xp = _xp(x)
    return xp.where(mask, x, xp.full_like(x, -math.inf))


def _zero_where_not(x: Any, mask: Any) -> Any:
    xp = _xp(x)
    return xp.where(mask, x, xp.zeros_like(x))


def _as_weight(mask: Any, like: Any, axis: int | None = None) -> Any:
    xp = _xp(like)
    w = xp.astype(mask, like.dtype)
    return w if axis is None else xp.expand_dims(w, axis=axis)


@dataclass(frozen=True)
class Port:
    """How losskit computes one optax call.

    ``make(rng)`` gives the NumPy inputs, in the optax call's order; ``ref(*jax_arrays)`` is the
    optax call in losskit's convention and ``mine(*backend_arrays)`` the losskit call (the same
    inputs, converted on the backend). ``float_args``: the inputs differentiated.
    """

    make: Callable[[np.random.Generator], tuple[Any, ...]]
    ref: Callable[..., Any]
    mine: Callable[..., Any]
    float_args: tuple[int, ...] = (0,)
    note: str = ""
    tol: dict[str, float] = field(default_factory=lambda: {"rtol": 1e-9, "atol": 1e-11})
    grad_tol: dict[str, float] = field(default_factory=lambda: {"rtol": 1e-9, "atol": 1e-11})
    ref_jit: bool = True  # False where optax checks a value with a Python `if`
    grads: bool = True


# ---- inputs -----------------------------------------------------------------------------------


def _pair(shape: tuple[int, ...], scale: float = 1.0) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    return lambda r: (scale * r.normal(size=shape), scale * r.normal(size=shape))


def _one(shape: tuple[int, ...], scale: float = 1.0) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    return lambda r: (scale * r.normal(size=shape),)


def _dense(shape: tuple[int, ...], axis: int = -1) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    """Logits and a target distribution along ``axis``."""
    return lambda r: (2 * r.normal(size=shape), _softmax(r.normal(size=shape), axis))


def _sparse(shape: tuple[int, ...], axis: int = -1, dtype: Any = np.int64) -> Callable[..., tuple[Any, ...]]:
    """Logits and integer labels (``shape`` without ``axis``)."""

    def make(r: np.random.Generator) -> tuple[Any, ...]:
        n = shape[axis]
        label_shape = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
        return 2 * r.normal(size=shape), r.integers(0, n, size=label_shape).astype(dtype)

    return make


def _class_mask(r: np.random.Generator, shape: tuple[int, ...], keep: np.ndarray | None = None) -> np.ndarray:
    """A mask over the classes (last axis): about a third left out, never a ``keep`` class."""
    mask = r.uniform(size=shape) > 0.35
    if keep is not None:
        np.put_along_axis(mask, keep[..., None], True, axis=-1)
    mask[..., 0] |= ~mask.any(axis=-1)  # every row keeps a class
    return mask


def _dense_masked(r: np.random.Generator) -> tuple[Any, ...]:
    x, y = _dense((N, C))(r)
    mask = _class_mask(r, (N, C))
    y = np.where(mask, y, 0.0)
    y = y / y.sum(-1, keepdims=True)
    return x, y, mask


def _dense_neg_inf(r: np.random.Generator) -> tuple[Any, ...]:
    """safe_softmax_cross_entropy's case: logits of -inf where the label is 0."""
    x, y, mask = _dense_masked(r)
    return np.where(mask, x, -np.inf), y


def _sparse_masked(r: np.random.Generator) -> tuple[Any, ...]:
    x, y = _sparse((N, C))(r)
    return x, y, _class_mask(r, (N, C), keep=y)


def _rows_mask(r: np.random.Generator) -> np.ndarray:
    mask = r.uniform(size=(N,)) > 0.4
    mask[0], mask[1] = True, False
    return mask


def _signed(shape: tuple[int, ...]) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    return lambda r: (1.5 * r.normal(size=shape), r.choice([-1.0, 1.0], size=shape))


def _binary(shape: tuple[int, ...], hard: bool = False) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    def make(r: np.random.Generator) -> tuple[Any, ...]:
        y = r.integers(0, 2, size=shape).astype(float) if hard else r.uniform(size=shape)
        return 2 * r.normal(size=shape), y

    return make


def _kl(shape: tuple[int, ...], zeros: bool = True) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    """Log-predictions and target probabilities (some exactly 0) along the last axis."""

    def make(r: np.random.Generator) -> tuple[Any, ...]:
        t = _softmax(r.normal(size=shape))
        if zeros:
            t[..., 1] = 0.0
            t = t / t.sum(-1, keepdims=True)
        return _log_softmax(r.normal(size=shape)), t

    return make


def _masks(r: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Entries kept by optax's ``where``; every row keeps at least one."""
    mask = r.uniform(size=shape) > 0.3
    mask[..., 0] = True
    return mask


def _segmentation(shape: tuple[int, ...], probs: bool = False) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    """Channels-last logits (or softmax probabilities) and one-hot masks; a last axis of 1 is a binary mask."""

    def make(r: np.random.Generator) -> tuple[Any, ...]:
        c = shape[-1]
        x = 2 * r.normal(size=shape)
        if c == 1:
            t = (r.uniform(size=shape) < 0.4).astype(float)
        else:
            t = np.eye(c)[r.integers(0, c, size=shape[:-1])]
        return (_softmax(x) if probs else x), t

    return make


def _binary_masks(shape: tuple[int, ...]) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    return lambda r: (2 * r.normal(size=shape), (r.uniform(size=shape) < 0.4).astype(float))


# ---- CTC: optax's paddings and blank_id, losskit's lengths and last-class blank --------------------

T, K = 8, 5  # frames; classes with the blank


def _ctc_inputs(blank: int) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    """Logits (N, T, K), right-padded frames (lengths 8, 6, 8, 7) and labels (lengths 3, 1, 2, 3,
    a repeat among them: ``a a`` needs a blank between), padded with 0."""

    def make(r: np.random.Generator) -> tuple[Any, ...]:
        x = r.normal(size=(N, T, K))
        frames = np.array([8, 6, 8, 7])
        logit_pad = (np.arange(T)[None, :] >= frames[:, None]).astype(float)
        classes = [c for c in range(K) if c != blank]
        lengths = np.array([3, 1, 2, 3])
        label = np.zeros((N, 3), dtype=np.int64)
        for i, n in enumerate(lengths):
            label[i, :n] = r.choice(classes, size=n)
        label[0, 1] = label[0, 0]  # a repeated label
        label_pad = (np.arange(3)[None, :] >= lengths[:, None]).astype(float)
        return x, logit_pad, label, label_pad

    return make


def _ctc_mine(blank: int) -> Callable[..., Any]:
    """The blank moved to the last class (losskit's, as Gluon's), the classes above it down by
    one; the paddings (right-padded, 1.0 = padded) become lengths."""

    def mine(x: Any, logit_pad: Any, label: Any, label_pad: Any) -> Any:
        xp = _xp(x)
        k = x.shape[-1]
        order = xp.asarray([c for c in range(k) if c != blank] + [blank], device=array_api_compat.device(x))
        x = xp.take(x, order, axis=-1)
        label = xp.where(label > blank, label - 1, label)
        pred_lengths = xp.astype(x.shape[1] - xp.sum(logit_pad, axis=1), xp.int64)
        label_lengths = xp.astype(label.shape[1] - xp.sum(label_pad, axis=1), xp.int64)
        return losskit.CTCLoss()(x, label, pred_lengths, label_lengths)

    return mine


# ---- segmentation helpers ----------------------------------------------------------------------


def _generalized_dice_weights(t: Any, ignore_background: bool = False) -> Any:
    """optax's multiclass_generalized_dice_loss weights from the targets of the whole batch:
    ``1 / (f_c**2 + 1e-7)``, ``f_c`` the class's target mass, normalised to sum to C; with
    ignore_background, class 0's weight is 0 and the others' times C / (C - 1), so that
    losskit's mean over C classes is optax's mean over the C - 1 others."""
    xp = _xp(t)
    c = t.shape[-1]
    f = xp.sum(t, axis=tuple(range(t.ndim - 1)))
    w = 1.0 / (f**2 + 1e-7)
    w = w / xp.sum(w) * c
    if ignore_background:
        w = xp.concat([xp.zeros_like(w[:1]), w[1:] * (c / (c - 1))])
    return w


def _background_weights(c: int) -> list[float]:
    """optax's ignore_background as a class weight: class 0 out, the mean still over C - 1 classes."""
    return [0.0] + [c / (c - 1)] * (c - 1)


def _dice_per_class(**options: Any) -> Callable[..., Any]:
    """optax's reduction='none' (one loss per class, (N, C)): losskit's with class_weight
    ``C e_c`` is class c's loss alone."""

    def mine(x: Any, t: Any) -> Any:
        xp, c = _xp(x), x.shape[-1]
        per_class = [
            losskit.TverskyLoss(axis=-1, class_weight=[c * float(j == k) for j in range(c)], **options)(x, t)
            for k in range(c)
        ]
        return xp.stack(per_class, axis=1)

    return mine


def _binary_sparsemax_mine(x: Any, y: Any) -> Any:
    """optax's binary sparsemax loss is the multiclass one of the two scores (x, 0), the label
    1 being the first: SparsemaxLoss over a new last axis, the label flipped."""
    xp = _xp(x)
    return losskit.SparsemaxLoss()(xp.stack([x, xp.zeros_like(x)], axis=-1), 1 - y)


def _ntxent_groups(r: np.random.Generator) -> tuple[Any, ...]:
    """Groups of 3, 2, 2 and a singleton (an anchor without a positive)."""
    return r.normal(size=(8, 3)), np.array([0, 1, 0, 2, 1, 0, 2, 3])


def _ntxent_simclr(r: np.random.Generator) -> tuple[Any, ...]:
    """SimCLR's batch: two views of N images, view i and N + i positives of each other."""
    x = r.normal(size=(N, D))
    return np.concatenate([x + 0.3 * r.normal(size=(N, D)), x + 0.3 * r.normal(size=(N, D))]), np.tile(np.arange(N), 2)


def _triplets(shape: tuple[int, ...], axis: int = -1) -> Callable[[np.random.Generator], tuple[Any, ...]]:
    def make(r: np.random.Generator) -> tuple[Any, ...]:
        a = r.normal(size=shape)
        # negatives near the anchor (active hinges) in examples 0 and 2, far (inactive) in 1 and 3
        near_far = np.reshape([0.4, 2.5, 0.4, 2.5], (N,) + (1,) * (len(shape) - 1))
        return a, a + 0.5 * r.normal(size=shape), a + near_far * r.normal(size=shape)

    return make


def _ranking(r: np.random.Generator) -> tuple[Any, ...]:
    """Scores, graded relevance, a padding mask (one list half padded), per-item weights."""
    scores = 2 * r.normal(size=(N, 6))
    label = r.integers(0, 4, size=(N, 6)).astype(float)
    label[:, 0] = 2.0
    mask = np.ones((N, 6), dtype=bool)
    mask[1, 3:] = False
    return scores, label, mask, r.uniform(0.5, 2, size=(N, 6))


def _deprecated(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return fn(*args, **kwargs)

    return call


# ---- the ports ---------------------------------------------------------------------------------

L = losskit
CE_DENSE = lambda **kw: L.SoftmaxCELoss(sparse_label=False, **kw)  # noqa: E731

PORTS: dict[str, dict[str, Port]] = {
    # ---- regression (elementwise): losskit's mean over the non-batch axes -----------------------
    "squared_error": {
        # (p - t)**2; L2Loss is half of it: weight=2
        "default": Port(_pair((N, D)), lambda p, t: per_example(O.squared_error(p, t)), L.L2Loss(weight=2.0), (0, 1)),
        "3d": Port(_pair((N, 3, D)), lambda p, t: per_example(O.squared_error(p, t)), L.L2Loss(weight=2.0), (0, 1)),
        # targets=None is a target of 0
        "no_targets": Port(
            _one((N, D)), lambda p: per_example(O.squared_error(p)), lambda p: L.L2Loss(weight=2.0)(p, 0 * p)
        ),
    },
    "l2_loss": {
        "default": Port(_pair((N, D)), lambda p, t: per_example(O.l2_loss(p, t)), L.L2Loss(), (0, 1)),
        "no_targets": Port(_one((N, D)), lambda p: per_example(O.l2_loss(p)), lambda p: L.L2Loss()(p, 0 * p)),
    },
    "huber_loss": {
        # optax: 0.5 e**2 within delta, delta (|e| - delta/2) beyond; losskit's HuberLoss(rho) is
        # that divided by rho: optax's is HuberLoss(rho=delta, weight=delta)
        f"delta{d:g}": Port(
            _pair((N, D) if d != 0.5 else (N, 3, D), 1.5),
            lambda p, t, d=d: per_example(O.huber_loss(p, t, delta=d)),
            L.HuberLoss(rho=d, weight=d),
            (0, 1),
        )
        for d in (1.0, 0.5, 2.5)
    }
    | {
        "no_targets": Port(
            _one((N, D), 1.5), lambda p: per_example(O.huber_loss(p)), lambda p: L.HuberLoss()(p, 0 * p)
        ),
    },
    "log_cosh": {
        "default": Port(_pair((N, D)), lambda p, t: per_example(O.log_cosh(p, t)), L.LogCoshLoss(), (0, 1)),
        "large": Port(_pair((N, D), 30.0), lambda p, t: per_example(O.log_cosh(p, t)), L.LogCoshLoss(), (0, 1)),
    },
    "cosine_distance": {
        # optax's epsilon defaults to 0, losskit's to 1e-12: the same for these vectors, given anyway
        "default": Port(_pair((N, D)), lambda p, t: O.cosine_distance(p, t), L.CosineDistanceLoss(epsilon=0.0), (0, 1)),
        # axis: the vectors' axis; losskit then averages the other non-batch axes
        "axis1": Port(
            _pair((N, D, 3)),
            lambda p, t: per_example(O.cosine_distance(p, t, axis=1)),
            L.CosineDistanceLoss(axis=1, epsilon=0.0),
            (0, 1),
        ),
        # epsilon floors each squared norm, as losskit's: a zero vector and a tiny one (norm < 1e-2)
        "epsilon_tiny_vectors": Port(
            lambda r: (r.normal(size=(N, D)) * np.array([[0.0], [1e-3], [1.0], [1.0]]), r.normal(size=(N, D))),
            lambda p, t: O.cosine_distance(p, t, epsilon=1e-4),
            L.CosineDistanceLoss(epsilon=1e-4),
            (0, 1),
        ),
        # where: the entries left out of the sums are zeros for losskit
        "where": Port(
            lambda r: (*_pair((N, D))(r), _masks(r, (N, D))),
            lambda p, t, m: O.cosine_distance(p, t, where=m),
            lambda p, t, m: L.CosineDistanceLoss(epsilon=0.0)(_zero_where_not(p, m), _zero_where_not(t, m)),
            (0, 1),
        ),
    },
    "cosine_similarity": {
        # losskit has the distance: cosine_similarity is 1 - CosineDistanceLoss (the gradient's sign flips)
        "default": Port(
            _pair((N, D)),
            lambda p, t: O.cosine_similarity(p, t),
            lambda p, t: 1 - L.CosineDistanceLoss(epsilon=0.0)(p, t),
            (0, 1),
        ),
        "axis1_epsilon": Port(
            _pair((N, D, 3)),
            lambda p, t: per_example(O.cosine_similarity(p, t, axis=1, epsilon=1e-6)),
            lambda p, t: 1 - L.CosineDistanceLoss(axis=1, epsilon=1e-6)(p, t),
            (0, 1),
        ),
    },
    # ---- classification -------------------------------------------------------------------------
    "sigmoid_binary_cross_entropy": {
        "soft": Port(
            _binary((N, C)), lambda x, y: per_example(O.sigmoid_binary_cross_entropy(x, y)), L.SigmoidBCELoss(), (0, 1)
        ),
        "hard_3d": Port(
            _binary((N, 3, C), hard=True),
            lambda x, y: per_example(O.sigmoid_binary_cross_entropy(x, y)),
            L.SigmoidBCELoss(),
        ),
        # integer labels: optax casts them to the logits' dtype, as losskit
        "int_labels": Port(
            lambda r: (2 * r.normal(size=(N, C)), r.integers(0, 2, size=(N, C))),
            lambda x, y: per_example(O.sigmoid_binary_cross_entropy(x, y)),
            L.SigmoidBCELoss(),
        ),
    },
    "sigmoid_focal_loss": {
        # optax's alpha defaults to None (no weighting), losskit's to 0.25 (torchvision's): given
        "default": Port(
            _binary((N, C), hard=True),
            lambda x, y: per_example(O.sigmoid_focal_loss(x, y)),
            L.SigmoidFocalLoss(alpha=None, gamma=2.0),
        ),
        "alpha_gamma_soft": Port(
            _binary((N, 3, C)),
            lambda x, y: per_example(O.sigmoid_focal_loss(x, y, alpha=0.3, gamma=0.5)),
            L.SigmoidFocalLoss(alpha=0.3, gamma=0.5),
            (0, 1),
        ),
    },
    "hinge_loss": {
        # max(0, 1 - x y), labels in {-1, 1}
        "default": Port(_signed((N, C)), lambda x, y: per_example(O.hinge_loss(x, y)), L.HingeLoss(), (0, 1)),
    },
    "perceptron_loss": {
        # max(0, -x y): the hinge with margin 0
        "default": Port(
            _signed((N, C)), lambda x, y: per_example(O.perceptron_loss(x, y)), L.HingeLoss(margin=0.0), (0, 1)
        ),
    },
    "sparsemax_loss": {
        # binary: sparse_plus(-x) for label 1, sparse_plus(x) for 0 (all three pieces hit)
        "binary": Port(
            lambda r: (1.5 * r.normal(size=(N, C)), r.integers(0, 2, size=(N, C))),
            lambda x, y: per_example(O.sparsemax_loss(x, y)),
            _binary_sparsemax_mine,
        ),
    },
    "multiclass_sparsemax_loss": {
        "default": Port(
            lambda r: (2 * r.normal(size=(N, C)), r.integers(0, C, size=(N,))),
            lambda x, y: O.multiclass_sparsemax_loss(x, y),
            L.SparsemaxLoss(),
        ),
    },
    "multiclass_hinge_loss": {
        # Crammer-Singer: max(0, 1 + max_{c != y} x_c - x_y)
        "default": Port(_sparse((N, C)), lambda x, y: O.multiclass_hinge_loss(x, y), L.MulticlassHingeLoss()),
        "3d": Port(
            _sparse((N, 3, C)), lambda x, y: per_example(O.multiclass_hinge_loss(x, y)), L.MulticlassHingeLoss()
        ),
    },
    "multiclass_perceptron_loss": {
        # max_c x_c - x_y: the Crammer-Singer hinge with margin 0
        "default": Port(
            _sparse((N, C)), lambda x, y: O.multiclass_perceptron_loss(x, y), L.MulticlassHingeLoss(margin=0.0)
        ),
    },
    "softmax_cross_entropy": {
        "default": Port(_dense((N, C)), lambda x, y: O.softmax_cross_entropy(x, y), CE_DENSE(), (0, 1)),
        "3d": Port(_dense((N, 3, C)), lambda x, y: per_example(O.softmax_cross_entropy(x, y)), CE_DENSE(), (0, 1)),
        "axis1": Port(
            _dense((N, C, 3), axis=1),
            lambda x, y: per_example(O.softmax_cross_entropy(x, y, axis=1)),
            CE_DENSE(axis=1),
            (0, 1),
        ),
        # where over the classes: a class left out is a logit of -inf (label 0) for losskit
        "where_classes": Port(
            _dense_masked,
            lambda x, y, m: O.softmax_cross_entropy(x, y, where=m),
            lambda x, y, m: CE_DENSE()(_neg_inf_where_not(x, m), y),
        ),
        # where over the rows: a row left out is a sample weight of 0
        "where_rows": Port(
            lambda r: (*_dense((N, C))(r), _rows_mask(r)),
            lambda x, y, m: O.softmax_cross_entropy(x, y, where=m),
            lambda x, y, m: CE_DENSE()(x, y, _as_weight(m, x, axis=1)),
            note="optax's label gradient is NaN in a row left out: pred only",
        ),
    },
    "safe_softmax_cross_entropy": {
        "default": Port(_dense((N, C)), lambda x, y: O.safe_softmax_cross_entropy(x, y), CE_DENSE(), (0, 1)),
        # logits of -inf where the label is 0: 0 log 0 = 0 (softmax_cross_entropy gives NaN there),
        # and so does losskit's dense cross-entropy
        "neg_inf_logits": Port(_dense_neg_inf, lambda x, y: O.safe_softmax_cross_entropy(x, y), CE_DENSE()),
    },
    "softmax_cross_entropy_with_integer_labels": {
        "default": Port(
            _sparse((N, C)), lambda x, y: O.softmax_cross_entropy_with_integer_labels(x, y), L.SoftmaxCELoss()
        ),
        "int32_labels": Port(
            _sparse((N, C), dtype=np.int32),
            lambda x, y: O.softmax_cross_entropy_with_integer_labels(x, y),
            L.SoftmaxCELoss(),
        ),
        "axis1": Port(
            _sparse((N, C, 3), axis=1),
            lambda x, y: per_example(O.softmax_cross_entropy_with_integer_labels(x, y, axis=1)),
            L.SoftmaxCELoss(axis=1),
        ),
        # a tuple of axes is one class axis, flattened in C order: the labels are flat indices
        "axis_tuple": Port(
            lambda r: (2 * r.normal(size=(N, 3, 4)), r.integers(0, 12, size=(N,))),
            lambda x, y: O.softmax_cross_entropy_with_integer_labels(x, y, axis=(1, 2)),
            lambda x, y: L.SoftmaxCELoss()(_xp(x).reshape(x, (x.shape[0], 12)), y),
        ),
        "where_classes": Port(
            _sparse_masked,
            lambda x, y, m: O.softmax_cross_entropy_with_integer_labels(x, y, where=m),
            lambda x, y, m: L.SoftmaxCELoss()(_neg_inf_where_not(x, m), y),
        ),
        "where_rows": Port(
            lambda r: (*_sparse((N, C))(r), _rows_mask(r)),
            lambda x, y, m: O.softmax_cross_entropy_with_integer_labels(x, y, where=m),
            lambda x, y, m: L.SoftmaxCELoss()(x, y, _as_weight(m, x, axis=1)),
        ),
    },
    "poly_loss_cross_entropy": {
        # dense labels; optax's epsilon defaults to 2, losskit's PolyLoss to 1
        "default": Port(
            _dense((N, C)), lambda x, y: O.poly_loss_cross_entropy(x, y), L.PolyLoss(2.0, sparse_label=False), (0, 1)
        ),
        "eps_minus1_3d": Port(
            _dense((N, 3, C)),
            lambda x, y: per_example(O.poly_loss_cross_entropy(x, y, epsilon=-1.0)),
            L.PolyLoss(-1.0, sparse_label=False),
            (0, 1),
        ),
        "where_classes": Port(
            _dense_masked,
            lambda x, y, m: O.poly_loss_cross_entropy(x, y, where=m),
            lambda x, y, m: L.PolyLoss(2.0, sparse_label=False)(_neg_inf_where_not(x, m), y),
        ),
    },
    "kl_divergence": {
        # log-predictions; KLDivLoss sums over the non-batch axes, as optax sums over the last.
        # Targets of 0 included; the label gradient there is NaN in optax, so only pred is differentiated
        "default": Port(_kl((N, C)), lambda lp, t: O.kl_divergence(lp, t), L.KLDivLoss()),
        "3d": Port(_kl((N, 3, C)), lambda lp, t: O.kl_divergence(lp, t).sum(1), L.KLDivLoss()),
        "no_zeros": Port(_kl((N, C), zeros=False), lambda lp, t: O.kl_divergence(lp, t), L.KLDivLoss(), (0, 1)),
        # where: the entries left out of the sum are a sample weight of 0
        "where": Port(
            lambda r: (*_kl((N, C), zeros=False)(r), _masks(r, (N, C))),
            lambda lp, t, m: O.kl_divergence(lp, t, where=m),
            lambda lp, t, m: L.KLDivLoss()(lp, t, _as_weight(m, lp)),
            (0, 1),
        ),
    },
    "kl_divergence_with_log_targets": {
        "default": Port(
            lambda r: (_log_softmax(r.normal(size=(N, C))), _log_softmax(r.normal(size=(N, C)))),
            lambda lp, lt: O.kl_divergence_with_log_targets(lp, lt),
            L.KLDivLoss(log_target=True),
            (0, 1),
        ),
    },
    "generalized_kl_divergence": {
        # unnormalised measures: the KL plus sum(p - t)
        "default": Port(
            lambda r: (r.normal(size=(N, C)), r.uniform(0.1, 2.0, size=(N, C))),
            lambda lp, t: O.generalized_kl_divergence(lp, t),
            L.KLDivLoss(generalized=True),
            (0, 1),
        ),
        "where": Port(
            lambda r: (r.normal(size=(N, C)), r.uniform(0.1, 2.0, size=(N, C)), _masks(r, (N, C))),
            lambda lp, t, m: O.generalized_kl_divergence(lp, t, where=m),
            lambda lp, t, m: L.KLDivLoss(generalized=True)(lp, t, _as_weight(m, lp)),
            (0, 1),
        ),
    },
    "convex_kl_divergence": {
        # optax's deprecated name of generalized_kl_divergence
        "default": Port(
            lambda r: (r.normal(size=(N, C)), r.uniform(0.1, 2.0, size=(N, C))),
            _deprecated(lambda lp, t: O.convex_kl_divergence(lp, t)),
            L.KLDivLoss(generalized=True),
            (0, 1),
        ),
    },
    "ctc_loss": {
        # optax's blank is blank_id (0 by default), losskit's the last class: the blank's logits
        # move last and the classes above it down by one; paddings (right-padded) become lengths
        "blank0": Port(
            _ctc_inputs(0),
            lambda x, xp_, y, yp: O.ctc_loss(x, xp_, y, yp),
            _ctc_mine(0),
            note="log_epsilon=-1e5 (optax's log 0) is beyond these paths' likelihoods",
        ),
        "blank_last": Port(
            _ctc_inputs(K - 1),
            lambda x, xp_, y, yp: O.ctc_loss(x, xp_, y, yp, blank_id=K - 1),
            _ctc_mine(K - 1),
        ),
        "blank_middle": Port(
            _ctc_inputs(2),
            lambda x, xp_, y, yp: O.ctc_loss(x, xp_, y, yp, blank_id=2),
            _ctc_mine(2),
        ),
    },
    # ---- segmentation: optax is channels-last, summing over every axis but the first and last ----
    "dice_loss": {
        "default": Port(_segmentation((N, 4, 3, 3)), lambda x, t: O.dice_loss(x, t), L.DiceLoss(axis=-1), (0, 1)),
        # optax's alpha weighs false positives and beta false negatives, as losskit's TverskyLoss
        "tversky_smooth0": Port(
            _segmentation((N, 4, 3, 3)),
            lambda x, t: O.dice_loss(x, t, alpha=0.3, beta=0.7, smooth=0.0),
            L.TverskyLoss(alpha=0.3, beta=0.7, smooth=0.0, axis=-1),
            (0, 1),
        ),
        "class_weights": Port(
            _segmentation((N, 4, 3, 3)),
            lambda x, t: O.dice_loss(x, t, class_weights=jnp.asarray([0.5, 2.0, 1.25])),
            L.DiceLoss(axis=-1, class_weight=[0.5, 2.0, 1.25]),
            (0, 1),
        ),
        # reduction='sum' over the classes: C times losskit's mean
        "reduction_sum": Port(
            _segmentation((N, 4, 3, 3)),
            lambda x, t: O.dice_loss(x, t, reduction="sum"),
            L.DiceLoss(axis=-1, weight=3.0),
            (0, 1),
        ),
        # reduction='none', (N, C): class c alone is class_weight = C e_c
        "reduction_none": Port(
            _segmentation((N, 4, 3, 3)),
            lambda x, t: O.dice_loss(x, t, alpha=0.4, beta=0.6, reduction="none"),
            _dice_per_class(alpha=0.4, beta=0.6),
            (0, 1),
        ),
        "ignore_background": Port(
            _segmentation((N, 4, 3, 3)),
            lambda x, t: O.dice_loss(x, t, ignore_background=True),
            L.DiceLoss(axis=-1, class_weight=_background_weights(3)),
            (0, 1),
        ),
        # one channel: a sigmoid, in both
        "one_channel": Port(_segmentation((N, 5, 1)), lambda x, t: O.dice_loss(x, t), L.DiceLoss(axis=-1), (0, 1)),
        # probabilities (apply_softmax=False): optax checks that they sum to 1 with a Python `if`
        "probabilities": Port(
            _segmentation((N, 4, 3, 3), probs=True),
            lambda p, t: O.dice_loss(p, t, apply_softmax=False),
            L.DiceLoss(axis=-1, from_logits=False),
            (0, 1),
            ref_jit=False,
        ),
        # axis: the summed axes; the others are examples: (N, T, W, C) with axis=(2,) is N * T examples
        "axis": Port(
            _segmentation((N, 3, 5, 3)),
            lambda x, t: O.dice_loss(x, t, axis=(2,)).mean(1),
            lambda x, t: _xp(x).mean(
                _xp(x).reshape(
                    L.DiceLoss(axis=-1)(_xp(x).reshape(x, (-1, 5, 3)), _xp(t).reshape(t, (-1, 5, 3))), (N, 3)
                ),
                axis=1,
            ),
            (0, 1),
        ),
    },
    "binary_dice_loss": {
        # logits of a binary mask, (N, ...) or (N, ..., 1): a one-class DiceLoss on a new channel axis
        "default": Port(
            _binary_masks((N, 4, 3)),
            lambda x, t: O.binary_dice_loss(x, t),
            lambda x, t: L.DiceLoss(axis=-1)(_xp(x).expand_dims(x, axis=-1), _xp(t).expand_dims(t, axis=-1)),
            (0, 1),
        ),
        "channel_smooth0": Port(
            _binary_masks((N, 6, 1)),
            lambda x, t: O.binary_dice_loss(x, t, smooth=0.0),
            L.DiceLoss(axis=-1, smooth=0.0),
            (0, 1),
        ),
    },
    "multiclass_generalized_dice_loss": {
        # a scalar: optax's mean over the examples and classes of w_c (1 - Dice_c), the weights
        # from the targets of the whole batch (see _generalized_dice_weights); losskit's mean
        "default": Port(
            _segmentation((N, 4, 3, 3)),
            lambda x, t: O.multiclass_generalized_dice_loss(x, t),
            lambda x, t: _mean(L.DiceLoss(axis=-1, class_weight=_generalized_dice_weights(t))(x, t)),
        ),
        "ignore_background_smooth": Port(
            _segmentation((N, 4, 3, 4)),
            lambda x, t: O.multiclass_generalized_dice_loss(x, t, smooth=0.5, ignore_background=True),
            lambda x, t: _mean(L.DiceLoss(axis=-1, smooth=0.5, class_weight=_generalized_dice_weights(t, True))(x, t)),
        ),
    },
    # ---- ranking, contrastive, triplets ---------------------------------------------------------
    "ranking_softmax_loss": {
        "per_list": Port(
            _ranking,
            lambda s, y, m, w: O.ranking_softmax_loss(s, y, reduce_fn=None),
            lambda s, y, m, w: L.RankingSoftmaxLoss()(s, y),
        ),
        # the default reduce_fn is the mean over the lists
        "mean": Port(
            _ranking,
            lambda s, y, m, w: O.ranking_softmax_loss(s, y),
            lambda s, y, m, w: _mean(L.RankingSoftmaxLoss()(s, y)),
        ),
        # where is losskit's mask, weights (per item) its sample_weight
        "where_weights": Port(
            _ranking,
            lambda s, y, m, w: O.ranking_softmax_loss(s, y, where=m, weights=w, reduce_fn=None),
            lambda s, y, m, w: L.RankingSoftmaxLoss()(s, y, m, w),
        ),
    },
    "ntxent": {
        # the mean over the positive pairs: NTXentLoss's reduction='mean' (optax's temperature 0.07 is its default)
        "simclr": Port(_ntxent_simclr, lambda x, y: O.ntxent(x, y), L.NTXentLoss(reduction="mean")),
        "groups_singleton": Port(
            _ntxent_groups, lambda x, y: O.ntxent(x, y, 0.5), L.NTXentLoss(temperature=0.5, reduction="mean")
        ),
        "tiny_temperature": Port(
            _ntxent_groups, lambda x, y: O.ntxent(x, y, 0.005), L.NTXentLoss(temperature=0.005, reduction="mean")
        ),
    },
    "triplet_margin_loss": {
        # optax: (sum (a - b)**p + eps)**(1/p); losskit (torch's): ||a - b + eps||_p. With eps=0 the same
        "eps0": Port(
            _triplets((N, D)),
            lambda a, p, n: O.triplet_margin_loss(a, p, n, eps=0.0),
            L.TripletMarginLoss(eps=0.0),
            (0, 1, 2),
        ),
        "p4_margin_eps0": Port(
            _triplets((N, D)),
            lambda a, p, n: O.triplet_margin_loss(a, p, n, norm_degree=4, margin=0.5, eps=0.0),
            L.TripletMarginLoss(p=4.0, margin=0.5, eps=0.0),
            (0, 1, 2),
        ),
        # axis: losskit takes the vectors along the last axis, the other non-batch axes averaged
        "axis1_eps0": Port(
            _triplets((N, D, 3)),
            lambda a, p, n: per_example(O.triplet_margin_loss(a, p, n, axis=1, margin=2.0, eps=0.0)),
            lambda a, p, n: L.TripletMarginLoss(margin=2.0, eps=0.0)(
                *(_xp(v).permute_dims(v, (0, 2, 1)) for v in (a, p, n))
            ),
            (0, 1, 2),
        ),
        # optax's default eps=1e-6 against losskit's: each distance moves by at most
        # eps / (2 d) (optax) and eps sqrt(D) (losskit), d >= 0.3 here: under 5e-6 for the loss
        "default_eps": Port(
            _triplets((N, D)),
            lambda a, p, n: O.triplet_margin_loss(a, p, n),
            L.TripletMarginLoss(),
            tol={"rtol": 0.0, "atol": 1e-5},
            grads=False,
        ),
    },
}


NOT_APPLICABLE: dict[str, str] = {
    "make_fenchel_young_loss": "a factory of losses from a max function, not a loss; its logsumexp instance "
    "is SoftmaxCELoss(sparse_label=False) (test_fenchel_young_with_logsumexp_is_cross_entropy)",
    "smooth_labels": "a label transform, not a loss: SoftmaxCELoss(label_smoothing=a) smooths as it does "
    "(test_smooth_labels_is_label_smoothing)",
    "ctc_loss_with_forward_probs": "its forward probabilities have no losskit counterpart; its loss is "
    "ctc_loss's, CTCLoss (test_ctc_forward_probs_loss_is_ctc_loss)",
}

PORT_PARAMS = [pytest.param(fn, variant, id=f"{fn}-{variant}") for fn, ports in PORTS.items() for variant in ports]


# ---- the checks --------------------------------------------------------------------------------


def _inputs(fn: str, variant: str) -> tuple[Port, tuple[Any, ...]]:
    import zlib

    port = PORTS[fn][variant]
    return port, port.make(np.random.default_rng(zlib.crc32(f"{fn}/{variant}".encode())))


def _jax_args(raw: tuple[Any, ...]) -> list[Any]:
    return [jnp.asarray(a) for a in raw]


def _reference(port: Port, raw: tuple[Any, ...]) -> np.ndarray:
    ref = jax.jit(port.ref) if port.ref_jit else port.ref
    return np.asarray(ref(*_jax_args(raw)))


def _grads_of(
    fn: Callable[..., Any], args: list[Any], float_args: tuple[int, ...], lib: str, jit: bool = True
) -> list[np.ndarray]:
    """Gradients of ``sum(fn(*args))`` with respect to ``args[i]``, ``i`` in ``float_args`` (on JAX
    under ``jax.jit``: eager JAX dispatches op by op, several times slower)."""
    if lib == "torch":
        import torch

        leaves = [args[i].requires_grad_(True) for i in float_args]
        return [to_numpy(g) for g in torch.autograd.grad(fn(*args).sum(), leaves)]

    def total(*xs: Any) -> Any:
        call = list(args)
        for i, x in zip(float_args, xs):
            call[i] = x
        return jnp.sum(fn(*call))

    grad = jax.grad(total, argnums=tuple(range(len(float_args))))
    return [np.asarray(g) for g in (jax.jit(grad) if jit else grad)(*[args[i] for i in float_args])]


@pytest.mark.parametrize(("fn", "variant"), PORT_PARAMS)
def test_value_matches_optax(fn: str, variant: str) -> None:
    port, raw = _inputs(fn, variant)
    want = _reference(port, raw)
    assert np.isfinite(want).all(), "the inputs must give optax a finite loss"
    assert np.abs(want).max() > 0, "a loss of 0 everywhere: a comparison that cannot fail"
    for backend in BACKENDS:
        got = _numpy(port.mine(*[to_backend(a, backend, "float64") for a in raw]))
        assert got.shape == want.shape, (backend, got.shape, want.shape)
        np.testing.assert_allclose(got, want, err_msg=f"{fn}-{variant} on {backend}", **port.tol)


@pytest.mark.parametrize(("fn", "variant"), [p for p in PORT_PARAMS if PORTS[p.values[0]][p.values[1]].grads])
def test_gradient_matches_optax(fn: str, variant: str) -> None:
    port, raw = _inputs(fn, variant)
    want = _grads_of(port.ref, _jax_args(raw), port.float_args, "jax", jit=port.ref_jit)
    for w in want:
        assert np.isfinite(w).all() and np.abs(w).max() > 0, "a gradient that cannot fail"
    for backend in AUTOGRAD_BACKENDS:
        args = [to_backend(a, backend, "float64") for a in raw]
        got = _grads_of(port.mine, args, port.float_args, backend)
        for i, g, w in zip(port.float_args, got, want):
            np.testing.assert_allclose(g, w, err_msg=f"{fn}-{variant}: d/d arg {i} on {backend}", **port.grad_tol)


def test_every_optax_loss_is_ported_or_said_not_to_be() -> None:
    """Every public function of optax.losses is in PORTS or in NOT_APPLICABLE (never both): a new
    optax loss fails here until it is mapped, and nothing is claimed twice."""
    public = {name for name in dir(O) if not name.startswith("_") and callable(getattr(O, name))}
    assert set(PORTS) | set(NOT_APPLICABLE) == public, sorted(public ^ (set(PORTS) | set(NOT_APPLICABLE)))
    assert not set(PORTS) & set(NOT_APPLICABLE)
    assert all(PORTS[name] for name in PORTS)  # every port has a variant
    assert optax.__version__ == "0.2.8", "the ports were read off optax 0.2.8's source: re-read them"


def test_the_awkward_inputs_are_there() -> None:
    """The cases optax handles specially are exercised as claimed."""
    port, (x, y) = _inputs("safe_softmax_cross_entropy", "neg_inf_logits")
    assert np.isneginf(x).any() and (y[np.isneginf(x)] == 0).all()
    assert np.isnan(np.asarray(O.softmax_cross_entropy(x, y))).any()  # what the safe version avoids
    _, (x, y, m) = _inputs("softmax_cross_entropy", "where_classes")
    assert (~m).any() and m.any(axis=1).all()
    _, (x, y) = _inputs("ntxent", "groups_singleton")
    assert (np.bincount(y) == 1).any() and (np.bincount(y) > 2).any()
    _, (x, xpad, y, ypad) = _inputs("ctc_loss", "blank0")
    assert xpad.any() and ypad.any() and (y[0, 0] == y[0, 1]) and (y != 0)[ypad == 0].all()
    _, (p, t) = _inputs("cosine_distance", "epsilon_tiny_vectors")
    assert (np.linalg.norm(p, axis=1) < 1e-2).sum() == 2
    _, (x, t) = _inputs("sparsemax_loss", "binary")
    assert (x > 1).any() and (x < -1).any() and (np.abs(x) < 1).any()  # the three pieces of sparse_plus
    # the tolerance of triplet_margin_loss-default_eps rests on distances of at least 0.3
    a, p, n = _inputs("triplet_margin_loss", "default_eps")[1]
    assert min(np.linalg.norm(a - p, axis=1).min(), np.linalg.norm(a - n, axis=1).min()) >= 0.3
    # hinges active and not, and rows where the true class scores highest (CS differs from "any class")
    for fn, variant in (("multiclass_hinge_loss", "3d"), ("triplet_margin_loss", "eps0")):
        port, raw = _inputs(fn, variant)
        out = _reference(port, raw) if fn == "triplet_margin_loss" else np.asarray(O.multiclass_hinge_loss(*raw))
        assert (out == 0).any() and (out > 0).any(), fn
    x, y = _inputs("multiclass_hinge_loss", "3d")[1]
    assert (x.argmax(-1) == y).any()


def _ctc_blank_not_moved(x: Any, logit_pad: Any, label: Any, label_pad: Any) -> Any:
    """optax's blank_id=0 inputs given to CTCLoss with only the labels shifted: class 0 read as a label."""
    lengths = [np.asarray(a.shape[1] - a.sum(1), dtype=np.int64) for a in (logit_pad, label_pad)]
    return L.CTCLoss()(x, label - 1, *lengths)


def test_the_ports_that_differ_are_not_the_naive_mapping() -> None:
    """The factors, defaults and conversions written in the ports are needed: without them
    losskit differs from optax."""
    naive = {
        ("squared_error", "default"): L.L2Loss(),
        ("huber_loss", "delta2.5"): L.HuberLoss(rho=2.5),
        ("sigmoid_focal_loss", "default"): L.SigmoidFocalLoss(),  # losskit's alpha=0.25
        ("poly_loss_cross_entropy", "default"): L.PolyLoss(sparse_label=False),  # epsilon 1, not 2
        ("ntxent", "groups_singleton"): lambda x, y: L.NTXentLoss(temperature=0.5)(x, y).mean(),  # per anchor
        ("dice_loss", "ignore_background"): L.DiceLoss(axis=-1),
        ("ctc_loss", "blank0"): _ctc_blank_not_moved,
        ("triplet_margin_loss", "eps0"): L.TripletMarginLoss(p=1.0, eps=0.0),
        ("perceptron_loss", "default"): L.HingeLoss(),
    }
    for (fn, variant), loss in naive.items():
        port, raw = _inputs(fn, variant)
        got = np.asarray(loss(*raw))
        assert np.abs(got - _reference(port, raw)).max() > 1e-3, (fn, variant)
    # Crammer-Singer is not Keras's categorical hinge, nor torch's MultiMarginLoss: where every
    # score is negative, Keras's max over (1 - z) x is 0, not the best rival's score
    port, (x, y) = _inputs("multiclass_hinge_loss", "default")
    x = x - 10.0
    want = _reference(port, (x, y))
    for loss, label in ((L.CategoricalHingeLoss(), np.eye(C)[y]), (L.MultiMarginLoss(), y)):
        assert np.abs(np.asarray(loss(x, label)) - want).max() > 1e-3, type(loss).__name__


# ---- what is not a loss: the part of it that maps -----------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_smooth_labels_is_label_smoothing(backend: str) -> None:
    """softmax_cross_entropy(x, smooth_labels(y, a)) is SoftmaxCELoss(label_smoothing=a), with
    dense labels and with the integer labels they one-hot encode."""
    r = np.random.default_rng(3)
    x, idx = 2 * r.normal(size=(N, C)), r.integers(0, C, size=(N,))
    soft = _softmax(r.normal(size=(N, C)))
    for a in (0.1, 0.35):
        for label, sparse in ((idx, True), (np.eye(C)[idx], False), (soft, False)):
            want = O.softmax_cross_entropy(x, O.smooth_labels(jnp.asarray(np.eye(C)[idx] if sparse else label), a))
            loss = L.SoftmaxCELoss(sparse_label=sparse, label_smoothing=a)
            got = loss(to_backend(x, backend, "float64"), to_backend(label, backend, "float64"))
            np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, err_msg=f"{a} {sparse}")
    # and the gradients, on the autograd backends
    if backend in AUTOGRAD_BACKENDS:
        ref = lambda v: O.softmax_cross_entropy(v, O.smooth_labels(jnp.asarray(np.eye(C)[idx]), 0.2))  # noqa: E731
        want = _grads_of(ref, [jnp.asarray(x)], (0,), "jax")[0]
        mine = lambda v, y: L.SoftmaxCELoss(label_smoothing=0.2)(v, y)  # noqa: E731
        got = _grads_of(mine, [to_backend(x, backend, "float64"), to_backend(idx, backend)], (0,), backend)[0]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fenchel_young_with_logsumexp_is_cross_entropy(backend: str) -> None:
    """make_fenchel_young_loss(logsumexp) is logsumexp(x) - <y, x>: the dense softmax
    cross-entropy for labels summing to 1 (and the sparse one for one-hot labels)."""
    from jax.scipy.special import logsumexp

    fy = O.make_fenchel_young_loss(max_fun=logsumexp)
    r = np.random.default_rng(4)
    x, y = 2 * r.normal(size=(N, C)), _softmax(r.normal(size=(N, C)))
    got = CE_DENSE()(to_backend(x, backend, "float64"), to_backend(y, backend, "float64"))
    np.testing.assert_allclose(to_numpy(got), fy(jnp.asarray(x), jnp.asarray(y)), rtol=1e-12)
    # a distribution not summing to 1 breaks it: the factory's loss is not a cross-entropy then
    assert np.abs(to_numpy(CE_DENSE()(x, 2 * y)) - np.asarray(fy(jnp.asarray(x), jnp.asarray(2 * y)))).max() > 0.1


def test_ctc_forward_probs_loss_is_ctc_loss() -> None:
    """ctc_loss_with_forward_probs returns (loss, log alpha blank, log alpha label): its loss is
    CTCLoss's, through the ctc_loss port; the forward probabilities have no losskit output."""
    for variant, blank in (("blank0", 0), ("blank_middle", 2)):
        _, raw = _inputs("ctc_loss", variant)
        loss, alpha_blank, alpha_label = O.ctc_loss_with_forward_probs(*_jax_args(raw), blank_id=blank)
        assert alpha_blank.shape == (T, N, 4) and alpha_label.shape == (T, N, 3)
        for backend in BACKENDS:
            got = _ctc_mine(blank)(*[to_backend(a, backend, "float64") for a in raw])
            np.testing.assert_allclose(to_numpy(got), loss, rtol=1e-9, err_msg=backend)


def test_binary_dice_on_probabilities() -> None:
    """binary_dice_loss(apply_sigmoid=False) raises in optax 0.2.8 for any probabilities but 1
    (it checks that one channel "sums to 1" over the class axis); losskit's
    DiceLoss(from_logits=False) takes them, and equals optax on their logits."""
    r = np.random.default_rng(5)
    p, t = r.uniform(0.05, 0.95, size=(N, 4, 3)), (r.uniform(size=(N, 4, 3)) < 0.4).astype(float)
    with pytest.raises(ValueError, match="sum to 1"):
        O.binary_dice_loss(jnp.asarray(p), jnp.asarray(t), apply_sigmoid=False)
    want = O.binary_dice_loss(jnp.asarray(np.log(p) - np.log1p(-p)), jnp.asarray(t))
    for backend in BACKENDS:
        pb, tb = (to_backend(a[..., None], backend, "float64") for a in (p, t))
        np.testing.assert_allclose(to_numpy(L.DiceLoss(axis=-1, from_logits=False)(pb, tb)), want, rtol=1e-10)
