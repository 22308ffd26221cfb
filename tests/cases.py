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
CASES = CASES + EXTENDED_CASES
