"""One input recipe per loss configuration, shared by the backend, gradient and JAX tests.

Each case builds NumPy inputs in the order the loss is called; ``float_args`` marks the
inputs that are differentiated and cast to the dtype under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

N, C = 4, 5


@dataclass(frozen=True)
class Case:
    id: str
    loss: str
    init: dict[str, Any]
    make: Callable[[np.random.Generator], tuple[Any, ...]]
    float_args: tuple[int, ...] = (0,)
    out_shape: tuple[int, ...] = (N,)
    call_kwargs: dict[str, Any] = field(default_factory=dict)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _reg(rng):
    return rng.normal(size=(N, 3)), rng.normal(size=(N, 3)), rng.uniform(0.5, 2, size=(N, 1))


def _signed(rng):
    return rng.normal(size=(N, 3)), rng.choice([-1.0, 1.0], size=(N, 3)), rng.uniform(0.5, 2, size=(N, 1))


def _binary(rng):
    return rng.normal(size=(N, 3)), rng.uniform(0, 1, size=(N, 3)), rng.uniform(0.5, 2, size=(N, 1))


def _ctc(rng):
    label = np.array([[0, 1, 1], [2, -1, -1], [1, 2, -1], [0, 0, 2]])
    return rng.normal(size=(N, 8, 4)), label


CASES = [
    Case("l2", "L2Loss", {}, _reg, (0, 1, 2)),
    Case("l1", "L1Loss", {"weight": 2.0}, _reg, (0, 1, 2)),
    Case("huber", "HuberLoss", {"rho": 0.7}, _reg, (0, 1, 2)),
    # the Stirling term switches on at target > 1 (a jump at 1): differentiate pred only
    Case(
        "poisson_logits_full",
        "PoissonNLLLoss",
        {"compute_full": True},
        lambda r: (r.normal(size=(N, 3)), r.integers(0, 6, size=(N, 3)).astype(float)),
        (0,),
    ),
    Case(
        "poisson_rate",
        "PoissonNLLLoss",
        {"from_logits": False},
        lambda r: (r.uniform(0.2, 3, size=(N, 3)), r.integers(0, 6, size=(N, 3)).astype(float)),
        (0, 1),
    ),
    Case("bce", "SigmoidBCELoss", {}, _binary, (0, 1, 2)),
    Case("bce_pos_weight", "SigmoidBCELoss", {}, lambda r: (*_binary(r), r.uniform(0.5, 3, size=(1, 3))), (0, 1, 2, 3)),
    Case(
        "bce_from_sigmoid",
        "SigmoidBCELoss",
        {"from_sigmoid": True},
        lambda r: (r.uniform(0.05, 0.95, size=(N, 3)), r.uniform(0, 1, size=(N, 3))),
        (0, 1),
    ),
    Case(
        "ce_sparse",
        "SoftmaxCELoss",
        {},
        lambda r: (r.normal(size=(N, C)), r.integers(0, C, size=(N,)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
    ),
    Case(
        "ce_dense",
        "SoftmaxCELoss",
        {"sparse_label": False},
        lambda r: (r.normal(size=(N, C)), _softmax(r.normal(size=(N, C)))),
        (0, 1),
    ),
    Case(
        "ce_axis1_3d",
        "SoftmaxCELoss",
        {"axis": 1},
        lambda r: (r.normal(size=(N, C, 2)), r.integers(0, C, size=(N, 2))),
        (0,),
    ),
    Case(
        "kl_logits",
        "KLDivLoss",
        {"from_logits": False},
        lambda r: (r.normal(size=(N, C)), _softmax(r.normal(size=(N, C)))),
        (0, 1),
    ),
    Case("hinge", "HingeLoss", {"margin": 1.5}, _signed, (0, 2)),
    Case("squared_hinge", "SquaredHingeLoss", {}, _signed, (0, 2)),
    Case("logistic", "LogisticLoss", {}, _signed, (0, 2)),
    Case(
        "logistic_binary",
        "LogisticLoss",
        {"label_format": "binary"},
        lambda r: (r.normal(size=(N, 3)), r.integers(0, 2, size=(N, 3)).astype(float)),
        (0,),
    ),
    Case(
        "triplet",
        "TripletLoss",
        {"margin": 2.0},
        lambda r: (r.normal(size=(N, 3)), r.normal(size=(N, 3)), r.normal(size=(N, 3))),
        (0, 1, 2),
    ),
    Case(
        "cosine",
        "CosineEmbeddingLoss",
        {"margin": 0.1},
        lambda r: (r.normal(size=(N, 3)), r.normal(size=(N, 3)), np.array([1.0, -1.0, 1.0, -1.0])),
        (0, 1),
    ),
    Case("sdml", "SDMLLoss", {}, lambda r: (r.normal(size=(N, 3)), r.normal(size=(N, 3))), (0, 1)),
    Case("ctc", "CTCLoss", {}, _ctc, (0,)),
]


def _ctc_one_infeasible(rng):
    """As _ctc, with "a a a a" (needs 7 frames) in 6: infinite, zeroed by zero_infinity."""
    label = np.array([[0, 0, 0, 0], [2, -1, -1, -1], [1, 2, -1, -1], [0, 0, 2, -1]])
    return rng.normal(size=(N, 6, 4)), label


def case_ids() -> list[str]:
    return [c.id for c in CASES]


# ---- beyond Gluon (issue 4): the new options of SoftmaxCE and the new losses ------------------

CW = [1.0, 2.0, 0.5, 1.5, 0.25]  # class weights (a list: the same loss object serves every backend)


def _ignored(r, shape, ignore=-100):
    label = r.integers(0, C, size=shape)
    label[r.uniform(size=shape) < 0.3] = ignore
    label.flat[0] = 1  # at least one target counts
    return label


def _onehot_masks(r, shape, c):
    idx = r.integers(0, c, size=(shape[0],) + shape[2:])
    return np.moveaxis(np.eye(c)[idx], -1, 1)


EXTENDED_CASES = [
    Case(
        "kl_log_target",
        "KLDivLoss",
        {"log_target": True},
        lambda r: (np.log(_softmax(r.normal(size=(N, C)))), np.log(_softmax(r.normal(size=(N, C))))),
        (0, 1),
    ),
    Case("ctc_zero_infinity", "CTCLoss", {"zero_infinity": True}, _ctc_one_infeasible, (0,)),
    Case(
        "ce_ignore_smooth_weight_z",
        "SoftmaxCELoss",
        {"ignore_index": -100, "label_smoothing": 0.1, "class_weight": CW, "z_loss": 1e-2},
        lambda r: (r.normal(size=(N, C)), _ignored(r, (N,)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
    ),
    Case(
        "ce_dense_smooth_weight_z",
        "SoftmaxCELoss",
        {"sparse_label": False, "label_smoothing": 0.2, "class_weight": CW, "z_loss": 1e-2},
        lambda r: (r.normal(size=(N, C)), _softmax(r.normal(size=(N, C)))),
        (0, 1),
    ),
    # label smoothing without class weights: torch's cross_entropy(label_smoothing=) on the fast path
    Case(
        "ce_ignore_smooth",
        "SoftmaxCELoss",
        {"ignore_index": -100, "label_smoothing": 0.1},
        lambda r: (r.normal(size=(N, C)), _ignored(r, (N,)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
    ),
    Case(
        "ce_mean_axis1_ignore_smooth_z",
        "SoftmaxCELoss",
        {"axis": 1, "ignore_index": -100, "label_smoothing": 0.2, "z_loss": 1e-2, "reduction": "mean"},
        lambda r: (r.normal(size=(N, C, 3)), _ignored(r, (N, 3))),
        (0,),
        out_shape=(),
    ),
    Case(
        "ce_mean_ignore_weight_smooth",
        "SoftmaxCELoss",
        {"ignore_index": -1, "class_weight": CW, "label_smoothing": 0.1, "reduction": "mean"},
        lambda r: (r.normal(size=(N, C)), _ignored(r, (N,), -1), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
        out_shape=(),
    ),
    Case(
        "ce_sum_axis1_ignore_z",
        "SoftmaxCELoss",
        {"axis": 1, "ignore_index": -100, "z_loss": 1e-3, "reduction": "sum"},
        lambda r: (r.normal(size=(N, C, 3)), _ignored(r, (N, 3))),
        (0,),
        out_shape=(),
    ),
    Case(
        "nll_nchw_ignore_weight_mean",
        "NLLLoss",
        {"ignore_index": -100, "class_weight": CW, "reduction": "mean"},
        lambda r: (np.log(_softmax(r.normal(size=(N, C, 2)), axis=1)), _ignored(r, (N, 2))),
        (0,),
        out_shape=(),
    ),
    Case(
        "sigmoid_focal_pos_weight_gamma_half",
        "SigmoidFocalLoss",
        {"gamma": 0.5},
        lambda r: (*_binary(r), r.uniform(0.5, 3, size=(1, 3))),
        (0, 1, 2, 3),
    ),
    Case(
        "softmax_focal_sparse_alpha",
        "SoftmaxFocalLoss",
        {"alpha": CW},
        lambda r: (r.normal(size=(N, C)), r.integers(0, C, size=(N,)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
    ),
    Case(
        "poly_sparse",
        "PolyLoss",
        {"epsilon": 2.0},
        lambda r: (r.normal(size=(N, C)), r.integers(0, C, size=(N,))),
        (0,),
    ),
    Case(  # segmentation: classes on axis 1, void pixels 255, the mean over the others
        "softmax_focal_axis1_ignore_mean",
        "SoftmaxFocalLoss",
        {"alpha": CW, "axis": 1, "ignore_index": 255, "reduction": "mean"},
        lambda r: (r.normal(size=(N, C, 3)), _ignored(r, (N, 3), 255), r.uniform(0.5, 2, size=(N, 1, 3))),
        (0, 2),
        out_shape=(),
    ),
    Case(
        "poly_ignore_sum",
        "PolyLoss",
        {"epsilon": -0.5, "ignore_index": -100, "reduction": "sum"},
        lambda r: (r.normal(size=(N, C)), _ignored(r, (N,))),
        (0,),
        out_shape=(),
    ),
    Case(
        "poly_ignore_none",
        "PolyLoss",
        {"ignore_index": -1},
        lambda r: (r.normal(size=(N, C)), _ignored(r, (N,), -1)),
        (0,),
    ),
    Case("soft_margin", "SoftMarginLoss", {}, _signed, (0, 2)),
    Case("multilabel_soft_margin", "MultiLabelSoftMarginLoss", {"class_weight": [1.0, 0.5, 2.0]}, _binary, (0, 1, 2)),
    Case(
        "multi_margin_p2_weight",
        "MultiMarginLoss",
        {"p": 2, "margin": 0.5, "class_weight": CW},
        lambda r: (r.normal(size=(N, C)), r.integers(0, C, size=(N,))),
        (0,),
    ),
    Case(
        "jsd_logits",
        "JSDLoss",
        {"from_logits": False},
        lambda r: (r.normal(size=(N, C)), _softmax(r.normal(size=(N, C)))),
        (0, 1),
    ),
    Case(
        "gaussian_nll_full_shared_var",
        "GaussianNLLLoss",
        {"full": True},
        lambda r: (*_reg(r)[:2], r.uniform(0.5, 2, size=(N, 1)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 1, 2, 3),
    ),
    Case("log_cosh", "LogCoshLoss", {}, _reg, (0, 1, 2)),
    Case("quantile", "QuantileLoss", {"quantile": 0.3}, _reg, (0, 1, 2)),
    Case(
        "margin_ranking",
        "MarginRankingLoss",
        {"margin": 0.2},
        lambda r: (r.normal(size=(N, 3)), r.normal(size=(N, 3)), r.choice([-1.0, 1.0], size=(N, 3))),
        (0, 1),
    ),
    Case(
        "info_nce",
        "InfoNCELoss",
        {},
        lambda r: (r.normal(size=(N, 3)), r.normal(size=(N, 3)), r.uniform(0.5, 2, size=(N,))),
        (0, 1, 2),
    ),
    Case(
        "dice",
        "DiceLoss",
        {},
        lambda r: (r.normal(size=(N, 3, 4, 4)), _onehot_masks(r, (N, 3, 4, 4), 3), r.uniform(0.5, 2, size=(N,))),
        (0, 2),
    ),
    Case(
        "tversky_binary",
        "TverskyLoss",
        {"alpha": 0.3, "beta": 0.7, "smooth": 0.5},
        lambda r: (r.normal(size=(N, 1, 6)), r.uniform(0, 1, size=(N, 1, 6))),
        (0, 1),
    ),
]
# ---- Keras's regression losses (MSLE, MAPE) ------------------------------------------------------


def _away(r, low, high, shape):
    """Magnitudes in [low, high] with a random sign."""
    return r.choice([-1.0, 1.0], size=shape) * r.uniform(low, high, size=shape)


def _msle(r):
    return r.uniform(0.1, 3, size=(N, 3)), r.uniform(0.1, 3, size=(N, 3)), r.uniform(0.5, 2, size=(N, 1))


def _msle_clamped(r):
    """Some predictions and labels below epsilon (negative, or under 0.2), where the clamp holds them."""
    pred = np.concatenate([_away(r, 0.3, 1.0, (N, 1)), r.uniform(0.3, 3, size=(N, 2))], axis=1)
    label = np.concatenate([r.uniform(0.3, 3, size=(N, 2)), -r.uniform(0.3, 1, size=(N, 1))], axis=1)
    return pred, label


def _mape(r):
    label = _away(r, 0.5, 2.0, (N, 3))
    return label + _away(r, 0.05, 1.0, (N, 3)), label, r.uniform(0.5, 2, size=(N, 1))


def _mape_clamped(r):
    """|label| on both sides of epsilon=0.5 (never at it): the denominator is clamped for some."""
    label = np.where(r.uniform(size=(N, 3)) < 0.5, _away(r, 0.05, 0.4, (N, 3)), _away(r, 0.6, 2.0, (N, 3)))
    return label + _away(r, 0.05, 1.0, (N, 3)), label


REGRESSION_CASES = [
    Case("squared_log_error", "SquaredLogErrorLoss", {}, _msle, (0, 1, 2)),
    Case("squared_log_error_clamped", "SquaredLogErrorLoss", {"epsilon": 0.2, "weight": 0.5}, _msle_clamped, (0, 1)),
    Case("absolute_percentage_error", "AbsolutePercentageErrorLoss", {}, _mape, (0, 1, 2)),
    Case("absolute_percentage_error_clamped", "AbsolutePercentageErrorLoss", {"epsilon": 0.5}, _mape_clamped, (0, 1)),
]


# ---- multi-label margin, categorical hinge, sparsemax --------------------------------------------


def _target_lists(r, shape, axis=-1):
    """Class indices along ``axis``, each list of distinct targets ended by -1 (one list empty, one
    full, one with a duplicate; not the first, whose first score the NaN test sets), then more
    indices after the -1 that must be ignored."""
    n = shape[axis]
    moved = np.moveaxis(np.empty(shape, dtype=np.int64), axis, -1)
    rows = moved.reshape(-1, n)
    for i, row in enumerate(rows):
        k = (0, n, 2)[i - 1] if 1 <= i <= 3 else int(r.integers(1, n))
        row[:] = r.permutation(n)
        if i == 3:
            row[1] = row[0]  # a duplicated target counts twice, as torch's sum over the entries
        if k < n:
            row[k] = -1
    return np.moveaxis(rows.reshape(moved.shape), -1, axis)


def _onehot(r, shape, axis=-1):
    n = shape[axis]
    idx = r.integers(0, n, size=shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :])
    return np.moveaxis(np.eye(n)[idx], -1, axis % len(shape))


CLASSIFICATION_CASES = [
    Case(
        "multilabel_margin",
        "MultiLabelMarginLoss",
        {},
        lambda r: (r.normal(size=(N, C)), _target_lists(r, (N, C)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
    ),
    Case(
        "multilabel_margin_axis1_3d",
        "MultiLabelMarginLoss",
        {"axis": 1, "weight": 0.5},
        lambda r: (r.normal(size=(N, C, 2)), _target_lists(r, (N, C, 2), axis=1)),
        (0,),
    ),
    Case(
        # more classes than the (C, C) pairs take (32 eager, 192 traced): the sort path everywhere
        "multilabel_margin_many_classes",
        "MultiLabelMarginLoss",
        {},
        lambda r: (r.normal(size=(N, 200)), _target_lists(r, (N, 200))),
        (0,),
    ),
    Case(
        "categorical_hinge_soft",
        "CategoricalHingeLoss",
        {},
        lambda r: (r.normal(size=(N, C)), _softmax(r.normal(size=(N, C)) * 2), r.uniform(0.5, 2, size=(N, 1))),
        (0, 1, 2),
    ),
    Case(
        "categorical_hinge_axis1_3d",
        "CategoricalHingeLoss",
        {"axis": 1},
        lambda r: (r.normal(size=(N, C, 3)), _onehot(r, (N, C, 3), axis=1)),
        (0,),
    ),
    Case(
        "sparsemax",
        "SparsemaxLoss",
        {},
        lambda r: (r.normal(size=(N, C)) * 2, r.integers(0, C, size=(N,)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
    ),
    Case(
        "sparsemax_axis1_3d",
        "SparsemaxLoss",
        {"axis": 1, "weight": 2.0},
        lambda r: (r.normal(size=(N, C, 3)), r.integers(0, C, size=(N, 3))),
        (0,),
    ),
]


# ---- hinge embedding, cosine distance, listwise ranking ------------------------------------------


def _hinge_embedding(r):
    """Distances on both sides of the margin (0.7), never at it; labels 1 and -1."""
    pred = r.uniform(0.0, 1.5, size=(N, 3))
    pred = np.where(np.abs(pred - 0.7) < 0.05, pred + 0.1, pred)
    return pred, r.choice([-1.0, 1.0], size=(N, 3)), r.uniform(0.5, 2, size=(N, 1))


def _cosine_axis1(r):
    """Vectors along axis 1 of (N, D, T); one vector of pred is zero (its cosine is 0), one tiny,
    below sqrt(epsilon) = 1e-2 (its norm is floored)."""
    pred, label = r.normal(size=(N, 5, 3)), r.normal(size=(N, 5, 3))
    pred[1, :, 0] = 0.0
    pred[2, :, 2] *= 1e-3
    return pred, label


def _ranking(r):
    """Scores, graded relevance 0..3 (list 1 has none relevant), a padding mask (list 2 wholly
    padded, list 3 half; labels of padded items are -1, as in TF-Ranking data), per-item weights."""
    scores = 3 * r.normal(size=(N, 6))
    label = r.integers(0, 4, size=(N, 6)).astype(float)
    label[0, 0] = 3.0
    label[1] = 0.0
    mask = np.ones((N, 6), dtype=bool)
    mask[2] = False
    mask[3, 3:] = False
    label[~mask] = -1.0
    return scores, label, mask, r.uniform(0.5, 2, size=(N, 6))


def _p_dist(x, y, p, eps):
    v = np.abs(x - y + eps)
    return v.max(-1) if p == np.inf else (v**p).sum(-1) ** (1 / p)


def _triplets(r, shape, margin=1.0, p=2.0, eps=1e-6, swap=False):
    """Anchor, positive, negative of ``shape`` (vectors along the last axis), the negatives moved
    until every hinge argument is at least 0.05 from its kink and, with ``swap``, the two negative
    distances at least 0.01 apart: no kink within a gradcheck step (1e-6)."""
    a = r.normal(size=shape)
    pos = a + 0.6 * r.normal(size=shape)
    neg = a + r.uniform(0.5, 1.2, size=shape[:-1] + (1,)) * r.normal(size=shape)
    for _ in range(100):
        d_an, d_pn = _p_dist(a, neg, p, eps), _p_dist(pos, neg, p, eps)
        d_neg = np.minimum(d_an, d_pn) if swap else d_an
        near = (np.abs(margin + _p_dist(a, pos, p, eps) - d_neg) < 0.05) | (swap & (np.abs(d_an - d_pn) < 0.01))
        if not near.any():
            return a, pos, neg
        neg = np.where(near[..., None], a + r.uniform(0.6, 1.3) * (neg - a) + 0.3 * r.normal(size=shape), neg)
    raise AssertionError("no triplets away from the kinks")


METRIC_CASES = [
    Case("hinge_embedding", "HingeEmbeddingLoss", {"margin": 0.7}, _hinge_embedding, (0, 2)),
    Case(
        "cosine_distance",
        "CosineDistanceLoss",
        {},
        lambda r: (r.normal(size=(N, 5)), r.normal(size=(N, 5)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 1, 2),
    ),
    Case("cosine_distance_axis1_eps", "CosineDistanceLoss", {"axis": 1, "epsilon": 1e-4}, _cosine_axis1, (0, 1)),
    # graded labels are data (0 is the edge of their domain, where a gradcheck step would go negative)
    Case("ranking_softmax_masked_weighted", "RankingSoftmaxLoss", {}, _ranking, (0, 3)),
    Case(
        "ranking_softmax_3d",
        "RankingSoftmaxLoss",
        {"weight": 0.5},
        lambda r: (r.normal(size=(N, 2, 5)), r.uniform(0.05, 1, size=(N, 2, 5))),
        (0, 1),
    ),
    # TripletMarginLoss (torch's): p-norm distances along the last axis, eps, swap
    Case(
        "triplet_margin",
        "TripletMarginLoss",
        {},
        lambda r: (*_triplets(r, (N, 5)), r.uniform(0.5, 2, size=(N,))),
        (0, 1, 2, 3),
    ),
    Case(
        "triplet_margin_p1_swap_weight",
        "TripletMarginLoss",
        {"p": 1.0, "swap": True, "margin": 0.5, "weight": 2.0},
        lambda r: _triplets(r, (N, 6), margin=0.5, p=1.0, swap=True),
        (0, 1, 2),
    ),
    Case(
        # a triplet per (T, N) index, examples along axis 1: (3, N, 4) inputs, weights (1, N)
        "triplet_margin_p3_eps_3d_batch1",
        "TripletMarginLoss",
        {"p": 3.0, "eps": 1e-2, "margin": 2.0, "batch_axis": 1},
        lambda r: (*_triplets(r, (3, N, 4), margin=2.0, p=3.0, eps=1e-2), r.uniform(0.5, 2, size=(1, N))),
        (0, 1, 2, 3),
    ),
    Case(
        "triplet_margin_pinf_swap_unbatched",
        "TripletMarginLoss",
        {"p": float("inf"), "swap": True, "margin": 0.3},
        lambda r: _triplets(r, (7,), margin=0.3, p=np.inf, swap=True),
        (0, 1, 2),
        out_shape=(1,),
    ),
    Case(
        "triplet_margin_p_half",
        "TripletMarginLoss",
        {"p": 0.5, "margin": 3.0},
        lambda r: _triplets(r, (N, 3), margin=3.0, p=0.5),
        (0, 1, 2),
    ),
]


# ---- the Lovasz losses ---------------------------------------------------------------------------

# Lovasz losses: continuous random scores (no tied errors, so the sort order, and with it the
# gradient, is the same on every backend and under finite differences)
_HW = (3, 4)


def _lovasz_labels(r, classes=3):
    """(N, 3, 4) class indices; example 1 has no pixel of the last class (skipped by classes='present')."""
    label = r.integers(0, classes, size=(N, *_HW))
    label[1] = r.integers(0, classes - 1, size=_HW)
    return label


def _lovasz_ignored(r):
    """As _lovasz_labels, with 255 (ignored) on a few pixels, never the first (test_backends puts a
    NaN there), and every pixel of example 2 ignored (its loss is 0)."""
    label = _lovasz_labels(r)
    label[0, 2, 1:3] = 255
    label[3, 0, 1] = 255
    label[2] = 255
    return label


def _probs(r, shape, axis):
    e = np.exp(r.normal(size=shape))
    return e / e.sum(axis=axis, keepdims=True)


SEGMENTATION_CASES = [
    Case(
        "lovasz_softmax",
        "LovaszSoftmaxLoss",
        {},
        lambda r: (r.normal(size=(N, 3, *_HW)), _lovasz_labels(r), r.uniform(0.5, 2, size=(N,))),
        (0, 2),
    ),
    Case(
        "lovasz_softmax_all_ignore_weight",
        "LovaszSoftmaxLoss",
        {"classes": "all", "ignore_index": 255, "weight": 2.0},
        lambda r: (2 * r.normal(size=(N, 3, *_HW)), _lovasz_ignored(r)),
        (0,),
    ),
    Case(
        # probabilities, channels last, examples along axis 1: pred (3, N, 4, C), label (3, N, 4)
        "lovasz_softmax_probs_channels_last_batch1",
        "LovaszSoftmaxLoss",
        {"from_logits": False, "axis": -1, "batch_axis": 1},
        lambda r: (_probs(r, (3, N, 4, 4), -1), np.moveaxis(_lovasz_labels(r, 4), 0, 1).astype(np.float64)),
        (0,),
    ),
    Case(
        "lovasz_hinge",
        "LovaszHingeLoss",
        {},
        lambda r: (2 * r.normal(size=(N, *_HW)), r.integers(0, 2, size=(N, *_HW)), r.uniform(0.5, 2, size=(N,))),
        (0, 2),
    ),
    Case(
        # float labels, 255 ignored, examples along axis 1: pred (3, N, 4)
        "lovasz_hinge_ignore_batch1",
        "LovaszHingeLoss",
        {"ignore_index": 255, "batch_axis": 1, "weight": 0.5},
        lambda r: (
            2 * r.normal(size=(3, N, 4)),
            np.moveaxis(np.where(_lovasz_ignored(r) == 255, 255, _lovasz_labels(r, 2)), 0, 1).astype(np.float64),
        ),
        (0,),
    ),
]


# ---- generalized cross-entropy and circle (keras.losses) -----------------------------------------


def _unit_rows(r, n, dim):
    e = r.normal(size=(n, dim))
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def _off_circle_kinks(s):
    """Similarities at least 0.05 from the cap at 1 and from -margin (0.4 and 0.25, the recipes'
    margins), where alpha_n = [s + margin]_+ bends: no kink within a gradcheck step."""
    return all(np.abs(s - k).min() > 0.05 for k in (1.0, -0.4, -0.25))


def _circle(r):
    """Unit embeddings (N, 3) of labels [0, 0, 1, 1] (one positive, two negatives each), weights (N,);
    the similarities of two different rows off the kinks (the diagonal's, 1, is never a pair)."""
    for _ in range(1000):
        e = _unit_rows(r, N, 3)
        if _off_circle_kinks((e @ e.T)[~np.eye(N, dtype=bool)]):
            return e, np.array([0, 0, 1, 1]), r.uniform(0.5, 2, size=(N,))
    raise AssertionError("no embeddings away from the kinks")


def _circle_refs(r):
    """Raw queries (N, 4) (normalize=True), weights, and a reference set of 6 rows; query 3's class
    (2) has no reference (its loss is 0), query 0's only positive is reference 0 (a pair that
    remove_diagonal=False keeps). Every query-reference similarity off the kinks."""
    for _ in range(1000):
        queries, refs = _unit_rows(r, N, 4), _unit_rows(r, 6, 4)
        if _off_circle_kinks(queries @ refs.T):
            scale = r.uniform(0.5, 2, size=(N + 6, 1))
            weights = r.uniform(0.5, 2, size=(N,))
            labels, ref_labels = np.array([0, 1, 1, 2]), np.array([0, 1, 3, 1, 3, 3])
            return queries * scale[:N], labels, weights, refs * scale[N:], ref_labels
    raise AssertionError("no embeddings away from the kinks")


KERAS_CASES = [
    Case(
        "gce",
        "GeneralizedCrossEntropyLoss",
        {"q": 0.7},
        lambda r: (r.normal(size=(N, C)), r.integers(0, C, size=(N,)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
    ),
    Case(
        # dense labels, log-probabilities (Keras's probabilities, logged), classes along axis 1
        "gce_dense_logprobs_axis1_3d",
        "GeneralizedCrossEntropyLoss",
        {"q": 0.3, "axis": 1, "sparse_label": False, "from_logits": True},
        lambda r: (np.log(_softmax(r.normal(size=(N, C, 2)), axis=1)), _softmax(r.normal(size=(N, C, 2)), axis=1)),
        (0, 1),
    ),
    Case("circle", "CircleLoss", {"gamma": 16.0}, _circle, (0, 2)),
    Case(
        "circle_refs_keep_diagonal_normalize",
        "CircleLoss",
        {"gamma": 8.0, "margin": 0.25, "remove_diagonal": False, "normalize": True, "weight": 0.5},
        _circle_refs,
        (0, 2, 3),
    ),
]


# ---- optax ports: MulticlassHingeLoss, NTXentLoss, KLDivLoss(generalized), Dice/Tversky class_weight ----


def _scores_away_from_kinks(r, shape, margin=1.0, axis=-1):
    """Scores and labels whose Crammer-Singer hinge argument (margin + best rival - true score)
    is at least 0.05 from 0 and whose two best rivals are 0.05 apart: no kink within a gradcheck step."""
    x = np.moveaxis(2 * r.normal(size=shape), axis, -1)
    y = r.integers(0, shape[axis], size=x.shape[:-1])
    flat_x, flat_y = x.reshape(-1, x.shape[-1]), y.reshape(-1)
    for i in range(len(flat_y)):
        for _ in range(100):
            rivals = np.sort(np.delete(flat_x[i], flat_y[i]))
            if abs(margin + rivals[-1] - flat_x[i, flat_y[i]]) > 0.05 and rivals[-1] - rivals[-2] > 0.05:
                break
            flat_x[i] = 2 * r.normal(size=x.shape[-1])
    # contiguous: the NaN test of test_backends writes through reshape(-1)
    return np.ascontiguousarray(np.moveaxis(flat_x.reshape(x.shape), -1, axis)), flat_y.reshape(y.shape)


OPTAX_CASES = [
    Case(
        "multiclass_hinge",
        "MulticlassHingeLoss",
        {},
        lambda r: (*_scores_away_from_kinks(r, (N, C)), r.uniform(0.5, 2, size=(N, 1))),
        (0, 2),
    ),
    Case(
        "multiclass_hinge_margin_axis1_3d",
        "MulticlassHingeLoss",
        {"margin": 0.5, "axis": 1, "weight": 2.0},
        lambda r: _scores_away_from_kinks(r, (N, C, 3), margin=0.5, axis=1),
        (0,),
    ),
    Case(
        "multiclass_perceptron",  # margin 0: optax's multiclass_perceptron_loss
        "MulticlassHingeLoss",
        {"margin": 0.0},
        lambda r: _scores_away_from_kinks(r, (N, C), margin=0.0),
        (0,),
    ),
    Case(
        "kl_generalized",  # unnormalised measures: + sum(p - label)
        "KLDivLoss",
        {"generalized": True},
        lambda r: (r.normal(size=(N, C)), r.uniform(0.1, 2, size=(N, C)), r.uniform(0.5, 2, size=(N, C))),
        (0, 1, 2),
    ),
    Case(
        "kl_generalized_log_target_logits",
        "KLDivLoss",
        {"generalized": True, "log_target": True, "from_logits": False},
        lambda r: (r.normal(size=(N, C)), np.log(r.uniform(0.1, 2, size=(N, C)))),
        (0, 1),
    ),
    Case(
        "dice_class_weight",
        "DiceLoss",
        {"class_weight": [0.5, 2.0, 1.0]},
        lambda r: (r.normal(size=(N, 3, 4, 4)), _onehot_masks(r, (N, 3, 4, 4), 3), r.uniform(0.5, 2, size=(N,))),
        (0, 2),
    ),
    Case(
        # channels last, as optax's dice_loss; soft masks differentiated too
        "tversky_class_weight_channels_last",
        "TverskyLoss",
        {"alpha": 0.3, "beta": 0.7, "axis": -1, "class_weight": [0.0, 1.5, 1.5]},
        lambda r: (r.normal(size=(N, 6, 3)), _softmax(r.normal(size=(N, 6, 3)))),
        (0, 1),
    ),
    Case(
        # two groups of two: every anchor one positive, two negatives
        "ntxent",
        "NTXentLoss",
        {"temperature": 0.2},
        lambda r: (r.normal(size=(N, 3)), np.array([0, 1, 0, 1]), r.uniform(0.5, 2, size=(N,))),
        (0, 2),
    ),
    Case(
        # optax's ntxent: the mean over the positive pairs (one group of two, two singletons)
        "ntxent_mean_singletons",
        "NTXentLoss",
        {"reduction": "mean"},
        lambda r: (r.normal(size=(N, 3)), np.array([0, 0, 1, 2])),
        (0,),
        out_shape=(),
    ),
]


# ---- AsymmetricLoss and binary label smoothing ----
# AsymmetricLoss bends where p = sigmoid(x) equals clip (p_m = max(p - clip, 0)): its logits keep
# clear of logit(clip) (-2.94 for 0.05, -2.20 for 0.1) by more than a gradcheck step, some of them
# below it (where a negative costs nothing), the others above.


def _asl_logits(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Logits in [-6, -4] (p < 0.018, under every clip here) or [-1.5, 2.5] (p > 0.18)."""
    low = rng.uniform(-6.0, -4.0, size=shape)
    high = rng.uniform(-1.5, 2.5, size=shape)
    return np.where(rng.uniform(size=shape) < 0.3, low, high)


def _asl_soft(rng):
    shape = (N, C)
    return _asl_logits(rng, shape), rng.uniform(0, 1, size=shape), rng.uniform(0.5, 2, size=(N, 1))


def _asl_hard(rng):
    shape = (N, C)
    return _asl_logits(rng, shape), rng.integers(0, 2, size=shape).astype(float), rng.uniform(0.5, 2, size=(N, 1))


def _asl_3d(rng):
    shape = (3, N, 2)  # batch_axis=1
    return _asl_logits(rng, shape), rng.integers(0, 2, size=shape).astype(float)


ASL_CASES: list[Case] = [
    Case("asl_default", "AsymmetricLoss", {}, _asl_soft, (0, 1, 2)),
    Case(
        "asl_hard_gamma_pos1_clip0_1",
        "AsymmetricLoss",
        {"gamma_pos": 1.0, "gamma_neg": 3.0, "clip": 0.1},
        _asl_hard,
        (0, 2),
    ),
    Case(
        "asl_clip0_batch_axis1_weight",
        "AsymmetricLoss",
        {"gamma_pos": 0.5, "gamma_neg": 2.0, "clip": 0.0, "weight": 2.0, "batch_axis": 1},
        _asl_3d,
        (0,),
    ),
    Case("bce_label_smoothing", "SigmoidBCELoss", {"label_smoothing": 0.1}, _binary, (0, 1, 2)),
    Case(
        "bce_pos_weight_label_smoothing",
        "SigmoidBCELoss",
        {"label_smoothing": 0.2},
        lambda r: (*_binary(r), r.uniform(0.5, 3, size=(1, 3))),
        (0, 1, 2, 3),
    ),
    Case(
        "bce_from_sigmoid_label_smoothing",
        "SigmoidBCELoss",
        {"from_sigmoid": True, "label_smoothing": 0.2},
        lambda r: (r.uniform(0.05, 0.95, size=(N, 3)), r.uniform(0, 1, size=(N, 3))),
        (0, 1),
    ),
    Case(
        "sigmoid_focal_label_smoothing",
        "SigmoidFocalLoss",
        {"gamma": 1.5, "label_smoothing": 0.1},
        lambda r: (*_binary(r), r.uniform(0.5, 3, size=(1, 3))),
        (0, 1, 2, 3),
    ),
]


# ---- TensorFlow Addons ports: ContrastiveLoss, TripletHardLoss, TripletSemiHardLoss ----
# a gradcheck step is 1e-6: every hinge argument, every mining comparison (two candidate
# distances of one anchor, a negative's against a positive's) and every distance is kept this far
# from its kink, tie or 0
_GAP = 0.05


def _distances(x, metric):
    if metric == "angular":
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        return 1 - u @ u.T
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return sq if metric == "squared-L2" else np.sqrt(sq)


def _away_from_ties(x, y, metric, margin, soft):
    """Whether no distance, mining comparison or hinge argument of either triplet loss is within _GAP of a kink."""
    d = _distances(x, metric)
    n = len(y)
    off = ~np.eye(n, dtype=bool)
    if d[off].min() < _GAP:
        return False
    same = y[:, None] == y[None, :]
    for a in range(n):
        pos, neg = d[a, same[a] & off[a]], np.sort(d[a, ~same[a]])
        row = np.sort(np.concatenate([pos, neg]))
        if np.diff(row).min() < _GAP:  # any two distances of the row: the max, min and comparisons
            return False
        hard = (pos.max() if pos.size else 0.0) - neg[0]  # no positive: d_ap = 0 (tfa's)
        if not soft and abs(hard + margin) < _GAP:
            return False
        for p in pos:
            outside = neg[neg > p]
            semi = outside[0] if outside.size else neg[-1]
            if abs(p - semi + margin) < _GAP:
                return False
    return True


def _labelled_embeddings(labels, metric="L2", margin=1.0, soft=False, dim=3, column=False):
    """Embeddings ``(n, dim)`` near a centre per class, the labels (``(n, 1)`` with ``column``) and
    per-anchor weights; drawn until every kink is _GAP away (see _away_from_ties)."""
    y = np.array(labels)

    def make(r):
        for _ in range(1000):
            centres = r.normal(size=(y.max() + 1, dim))
            x = centres[y] + 0.7 * r.normal(size=(len(y), dim))
            if _away_from_ties(x, y, metric, margin, soft):
                return x, (y[:, None] if column else y), r.uniform(0.5, 2, size=(len(y),))
        raise AssertionError("no embeddings away from the kinks")

    return make


def _distances_and_pairs(r):
    """Distances in [0, 1.5] off the margin (0.7) and binary labels, as floats; weights (N, 1)."""
    d = r.uniform(0.0, 1.5, size=(N, 3))
    d = np.where(np.abs(d - 0.7) < 0.05, d + 0.1, d)
    return d, r.integers(0, 2, size=(N, 3)).astype(float), r.uniform(0.5, 2, size=(N, 1))


_SIX = [0, 1, 0, 2, 1, 0]  # class 2 a singleton (no positive); the others two or three members

TFA_CASES: list[Case] = [
    Case("contrastive", "ContrastiveLoss", {"margin": 0.7}, _distances_and_pairs, (0, 2)),
    Case(
        "triplet_hard",
        "TripletHardLoss",
        {"margin": 0.5},
        _labelled_embeddings(_SIX, margin=0.5),
        (0, 2),
        out_shape=(6,),
    ),
    Case(
        "triplet_hard_soft_angular_labels_n1",
        "TripletHardLoss",
        {"soft": True, "distance_metric": "angular", "weight": 2.0},
        _labelled_embeddings(_SIX, "angular", soft=True, column=True),
        (0, 2),
        out_shape=(6,),
    ),
    Case(
        "triplet_hard_squared_mean",
        "TripletHardLoss",
        {"distance_metric": "squared-L2", "margin": 2.0, "reduction": "mean"},
        _labelled_embeddings(_SIX, "squared-L2", margin=2.0),
        (0, 2),
        out_shape=(),
    ),
    Case(
        "triplet_semihard",
        "TripletSemiHardLoss",
        {"margin": 1.0},
        _labelled_embeddings(_SIX, margin=1.0),
        (0, 2),
        out_shape=(6,),
    ),
    Case(
        "triplet_semihard_angular_mean",
        "TripletSemiHardLoss",
        {"margin": 0.3, "distance_metric": "angular", "reduction": "mean"},
        _labelled_embeddings(_SIX, "angular", margin=0.3),
        (0, 2),
        out_shape=(),
    ),
    Case(
        "triplet_semihard_squared_sum_labels_n1",
        "TripletSemiHardLoss",
        {"margin": 3.0, "distance_metric": "squared-L2", "reduction": "sum", "weight": 0.5},
        _labelled_embeddings(_SIX, "squared-L2", margin=3.0, column=True),
        (0, 2),
        out_shape=(),
    ),
]


# ---- margin softmax (ArcFace, CosFace) and distillation ----
# The cosines lie in [-0.8, 0.95]: inside [-1, 1] (the losses refuse anything else), away from +-1
# (where the angle's derivative is infinite) and from ArcFace's threshold ``-cos(m)`` (-0.955 at
# m = 0.3, where its fallback jumps), so that finite differences see a smooth function.


def _cosines(r, shape):
    return r.uniform(-0.8, 0.95, size=shape)


def _margin(r):
    return _cosines(r, (N, C)), r.integers(0, C, size=(N,)), r.uniform(0.5, 2, size=(N, 1))


def _margin_3d(r):
    return _cosines(r, (N, C, 2)), r.integers(0, C, size=(N, 2))


def _distill(r):
    return r.normal(size=(N, C)) * 2, r.normal(size=(N, C)) * 2, r.uniform(0.5, 2, size=(N, 1))


def _distill_3d(r):
    return r.normal(size=(N, C, 3)), r.normal(size=(N, C, 3))


MARGIN_CASES: list[Case] = [
    Case("arcface", "ArcFaceLoss", {"scale": 8.0, "margin": 0.3}, _margin, (0, 2)),
    Case("arcface_defaults", "ArcFaceLoss", {}, lambda r: _margin(r)[:2], (0,)),
    Case("arcface_easy_margin", "ArcFaceLoss", {"scale": 4.0, "easy_margin": True, "weight": 2.0}, _margin, (0, 2)),
    Case("arcface_axis1_3d", "ArcFaceLoss", {"scale": 6.0, "axis": 1}, _margin_3d, (0,)),
    Case("cosface", "CosFaceLoss", {"scale": 8.0, "margin": 0.2}, _margin, (0, 2)),
    Case("cosface_axis1_3d", "CosFaceLoss", {"axis": 1, "scale": 5.0}, _margin_3d, (0,)),
    Case("distill", "DistillationLoss", {"temperature": 2.0}, _distill, (0, 1, 2)),
    Case("distill_default_t", "DistillationLoss", {}, lambda r: _distill(r)[:2], (0, 1)),
    Case("distill_axis1_3d", "DistillationLoss", {"temperature": 3.0, "axis": 1, "weight": 0.5}, _distill_3d, (0, 1)),
]


# ---- SupCon and the triplet loss of a distance function ----
# Only the default distance of TripletMarginWithDistanceLoss is here: with a distance function the
# loss is traced through by ``torch.compile`` (a callable cannot be a graph node's argument), which
# ``test_compile.py``'s one-node test would refuse; ``test_supcon_and_distance_triplet.py`` puts
# the callables through every backend, dtype, ``torch.compile`` and ``jax.jit`` itself.

# views of 3 samples, one of them seen once (class 2: no positive, loss 0) and one 3 times
_SUPCON_LABELS = np.array([0, 1, 0, 2, 1, 0])


def _supcon(r):
    """Embeddings near a centre per class; the cosine and the loss are smooth in them everywhere
    but at a zero row, so no kink to keep away from. Per-anchor weights."""
    centres = r.normal(size=(3, 4))
    x = centres[_SUPCON_LABELS] + 0.7 * r.normal(size=(6, 4))
    return x, _SUPCON_LABELS, r.uniform(0.5, 2, size=(6,))


def _supcon_column_labels(r):
    x, y, _ = _supcon(r)
    return 3 * x, y[:, None]  # (N, 1) labels; the scale changes nothing (rows are normalised)


PML_CASES: list[Case] = [
    Case("supcon", "SupConLoss", {"temperature": 0.2}, _supcon, (0, 2), out_shape=(6,)),
    Case(
        # the authors' T / T_base factor; pml's scalar: the mean over the anchors with a loss
        "supcon_mean_base_temperature_labels_n1",
        "SupConLoss",
        {"temperature": 0.5, "base_temperature": 0.07, "reduction": "mean", "weight": 0.5},
        _supcon_column_labels,
        (0,),
        out_shape=(),
    ),
    Case(
        "distance_triplet",
        "TripletMarginWithDistanceLoss",
        {},
        lambda r: (*_triplets(r, (N, 5)), r.uniform(0.5, 2, size=(N,))),
        (0, 1, 2, 3),
    ),
    Case(
        "distance_triplet_swap_margin_weight",
        "TripletMarginWithDistanceLoss",
        {"swap": True, "margin": 0.5, "weight": 2.0},
        lambda r: _triplets(r, (N, 6), margin=0.5, swap=True),
        (0, 1, 2),
    ),
]


# ---- Jaccard, focal Tversky, the log of the overlap index ----
OVERLAP_CASES: list[Case] = [
    Case(
        "jaccard",
        "JaccardLoss",
        {},
        lambda r: (r.normal(size=(N, 3, 4, 4)), _onehot_masks(r, (N, 3, 4, 4), 3), r.uniform(0.5, 2, size=(N,))),
        (0, 2),
    ),
    Case(
        # one class (sigmoid), soft masks differentiated too, log of the index, class weight
        "jaccard_binary_log_smooth",
        "JaccardLoss",
        {"smooth": 0.5, "log_loss": True, "class_weight": [2.0], "weight": 0.5},
        lambda r: (r.normal(size=(N, 1, 6)), r.uniform(0, 1, size=(N, 1, 6))),
        (0, 1),
    ),
    Case(
        # probabilities, channels last, examples along axis 1: pred (3, N, 5, 3)
        "jaccard_probs_channels_last_batch1",
        "JaccardLoss",
        {"from_logits": False, "axis": -1, "batch_axis": 1, "smooth": 0.0},
        lambda r: (_probs(r, (3, N, 5, 3), -1), _probs(r, (3, N, 5, 3), -1)),
        (0, 1),
    ),
    Case(
        # the paper's recommended focal exponent, 1/(4/3): an exponent below 1
        "focal_tversky_gamma075",
        "TverskyLoss",
        {"alpha": 0.3, "beta": 0.7, "gamma": 0.75},
        lambda r: (r.normal(size=(N, 3, 6)), _onehot_masks(r, (N, 3, 6), 3), r.uniform(0.5, 2, size=(N,))),
        (0, 2),
    ),
    Case(
        "focal_tversky_gamma2_class_weight_channels_last",
        "TverskyLoss",
        {"alpha": 0.6, "beta": 0.4, "gamma": 2.0, "axis": -1, "class_weight": [0.0, 1.5, 1.5], "smooth": 0.25},
        lambda r: (r.normal(size=(N, 6, 3)), _probs(r, (N, 6, 3), -1)),
        (0, 1),
    ),
    Case(
        "dice_log",
        "DiceLoss",
        {"log_loss": True},
        lambda r: (r.normal(size=(N, 3, 4, 4)), _onehot_masks(r, (N, 3, 4, 4), 3)),
        (0,),
    ),
]


CASES = (
    CASES
    + EXTENDED_CASES
    + REGRESSION_CASES
    + CLASSIFICATION_CASES
    + METRIC_CASES
    + SEGMENTATION_CASES
    + KERAS_CASES
    + OPTAX_CASES
    + ASL_CASES
    + TFA_CASES
    + MARGIN_CASES
    + PML_CASES
    + OVERLAP_CASES
)
