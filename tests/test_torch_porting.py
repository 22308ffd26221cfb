"""README's "Porting from PyTorch" table, row by row: each ``torch.nn`` loss module, with its
default ``reduction='mean'`` (and the options the row names), against the losskit expression the
table gives for it, in value and in gradient with respect to every float input (float64).

A torch module reduces every element at once; a losskit loss returns one value per example (the
mean over every axis but the batch axis, Gluon's rule), so torch's ``'mean'`` of an elementwise
loss is ``.mean()`` of losskit's and its ``'sum'`` that times the elements per example. The rows
that need more say so in the table and here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import losskit
from losskit.fused import linear_cross_entropy

torch = pytest.importorskip("torch")
nn = torch.nn

RNG = np.random.default_rng(2026)
N, D, C = 5, 4, 6


def t(a: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(a))


def floats(*shape: int, scale: float = 1.0) -> Any:
    return t(RNG.normal(size=shape) * scale)


def unit(*shape: int) -> Any:  # probabilities away from 0 and 1 (torch's BCELoss clamps its logs at -100)
    return t(RNG.uniform(0.05, 0.95, size=shape))


def signs(*shape: int) -> Any:
    return t(RNG.choice([-1.0, 1.0], size=shape))


def classes(*shape: int, high: int = C) -> Any:
    return t(RNG.integers(0, high, size=shape))


def log_probs(*shape: int, axis: int = -1) -> Any:
    return torch.log_softmax(floats(*shape), dim=axis)


LABELS = classes(N)
LABELS[1] = -100  # torch's default ignore_index, given to losskit as ignore_index=-100
CLASS_WEIGHT = t(RNG.uniform(0.5, 2.0, size=C))
MULTILABEL = t(np.array([[3, 0, -1, 1, 1, 1], [1, 2, 5, -1, 0, 0], [4, -1, 0, 0, 0, 0]]))
SEQ_T, SEQ_S = 9, 3
CTC_LOG_PROBS = log_probs(SEQ_T, N, C)  # (T, N, C), torch's layout
CTC_TARGETS = classes(N, SEQ_S, high=C - 1) + 1  # torch's blank=0: labels 1..C-1
CTC_INPUT_LENGTHS = t(np.array([9, 8, 9, 7, 9]))
CTC_TARGET_LENGTHS = t(np.array([3, 2, 1, 3, 2]))


torch.manual_seed(0)
LINEAR_CE = nn.LinearCrossEntropyLoss(D, C, bias=True, dtype=torch.float64)  # its own Linear(D, C)


def ctc_blank_last(x: Any) -> Any:
    """torch's blank=0 moved to losskit's (and Gluon's) blank, the last class."""
    return torch.cat([x[..., 1:], x[..., :1]], dim=-1)


#: (row id, torch module, losskit expression, inputs; the float ones are differentiated)
ROWS: list[tuple[str, Callable[..., Any], Callable[..., Any], Callable[[], tuple[Any, ...]]]] = [
    ("MSELoss", nn.MSELoss(), lambda p, y: losskit.L2Loss(weight=2)(p, y).mean(), lambda: (floats(N, D), floats(N, D))),
    (
        "MSELoss-sum",
        nn.MSELoss(reduction="sum"),
        lambda p, y: losskit.L2Loss(weight=2)(p, y).sum() * D,
        lambda: (floats(N, D), floats(N, D)),
    ),
    ("L1Loss", nn.L1Loss(), lambda p, y: losskit.L1Loss()(p, y).mean(), lambda: (floats(N, D), floats(N, D))),
    (
        "SmoothL1Loss",
        nn.SmoothL1Loss(beta=0.5),
        lambda p, y: losskit.HuberLoss(rho=0.5)(p, y).mean(),
        lambda: (floats(N, D), floats(N, D)),
    ),
    (
        "HuberLoss",
        nn.HuberLoss(delta=0.5),
        lambda p, y: losskit.HuberLoss(rho=0.5, weight=0.5)(p, y).mean(),
        lambda: (floats(N, D), floats(N, D)),
    ),
    (
        "PoissonNLLLoss",
        nn.PoissonNLLLoss(full=True),
        lambda p, y: losskit.PoissonNLLLoss(compute_full=True)(p, y).mean(),
        lambda: (floats(N, D), t(RNG.poisson(2.0, size=(N, D)).astype(np.float64))),
    ),
    (
        "PoissonNLLLoss-rates",
        nn.PoissonNLLLoss(log_input=False, eps=1e-4),
        lambda p, y: losskit.PoissonNLLLoss(from_logits=False)(p, y, None, 1e-4).mean(),
        lambda: (unit(N, D) * 3, t(RNG.poisson(2.0, size=(N, D)).astype(np.float64))),
    ),
    (
        "GaussianNLLLoss",
        nn.GaussianNLLLoss(full=True, eps=1e-3),
        lambda p, y, v: losskit.GaussianNLLLoss(full=True, eps=1e-3)(p, y, v).mean(),
        lambda: (floats(N, D), floats(N, D), unit(N, 1)),
    ),
    (
        "BCELoss",
        nn.BCELoss(),
        lambda p, z: losskit.SigmoidBCELoss(from_sigmoid=True)(p, z).mean(),
        lambda: (unit(N, D), unit(N, D)),
    ),
    (
        "BCEWithLogitsLoss",
        nn.BCEWithLogitsLoss(weight=t(np.array([[1.0, 0.5, 2.0, 1.5]])), pos_weight=t(np.array([3.0, 1.0, 0.5, 2.0]))),
        lambda x, z: losskit.SigmoidBCELoss()(
            x, z, t(np.array([[1.0, 0.5, 2.0, 1.5]])), t(np.array([3.0, 1.0, 0.5, 2.0]))
        ).mean(),
        lambda: (floats(N, D, scale=3), unit(N, D)),
    ),
    (
        "CrossEntropyLoss",
        nn.CrossEntropyLoss(weight=CLASS_WEIGHT, label_smoothing=0.1),
        lambda x, y: losskit.SoftmaxCELoss(
            axis=1, class_weight=CLASS_WEIGHT, ignore_index=-100, label_smoothing=0.1, reduction="mean"
        )(x, y),
        lambda: (floats(N, C, scale=2), LABELS),
    ),
    (
        "CrossEntropyLoss-2d",
        nn.CrossEntropyLoss(),
        lambda x, y: losskit.SoftmaxCELoss(axis=1, ignore_index=-100, reduction="mean")(x, y),
        lambda: (floats(N, C, 3, 2, scale=2), classes(N, 3, 2)),
    ),
    (
        "CrossEntropyLoss-probabilities",
        nn.CrossEntropyLoss(label_smoothing=0.2),
        lambda x, q: losskit.SoftmaxCELoss(axis=1, sparse_label=False, label_smoothing=0.2)(x, q).mean(),
        lambda: (floats(N, C, scale=2), torch.softmax(floats(N, C), dim=1)),
    ),
    (
        "NLLLoss",
        nn.NLLLoss(weight=CLASS_WEIGHT),
        lambda x, y: losskit.NLLLoss(class_weight=CLASS_WEIGHT, ignore_index=-100, reduction="mean")(x, y),
        lambda: (log_probs(N, C), LABELS),
    ),
    (
        "KLDivLoss",
        nn.KLDivLoss(reduction="batchmean"),
        lambda x, q: losskit.KLDivLoss()(x, q).mean(),
        lambda: (log_probs(N, C), torch.softmax(floats(N, C), dim=1)),
    ),
    (
        "KLDivLoss-log_target",
        nn.KLDivLoss(reduction="batchmean", log_target=True),
        lambda x, q: losskit.KLDivLoss(log_target=True)(x, q).mean(),
        lambda: (log_probs(N, C), log_probs(N, C)),
    ),
    (
        "MarginRankingLoss",
        nn.MarginRankingLoss(margin=0.3),
        lambda a, b, y: losskit.MarginRankingLoss(margin=0.3)(a, b, y).mean(),
        lambda: (floats(N), floats(N), signs(N)),
    ),
    (
        "HingeEmbeddingLoss",
        nn.HingeEmbeddingLoss(margin=1.5),
        lambda d, y: losskit.HingeEmbeddingLoss(margin=1.5)(d, y).mean(),
        lambda: (unit(N, D) * 2, signs(N, D)),
    ),
    (
        "SoftMarginLoss",
        nn.SoftMarginLoss(),
        lambda x, y: losskit.SoftMarginLoss()(x, y).mean(),
        lambda: (floats(N, D), signs(N, D)),
    ),
    (
        "MultiLabelSoftMarginLoss",
        nn.MultiLabelSoftMarginLoss(weight=CLASS_WEIGHT),
        lambda x, z: losskit.MultiLabelSoftMarginLoss(class_weight=CLASS_WEIGHT)(x, z).mean(),
        lambda: (floats(N, C, scale=2), t(RNG.integers(0, 2, size=(N, C)).astype(np.float64))),
    ),
    (
        "MultiMarginLoss",
        nn.MultiMarginLoss(p=2, margin=0.7, weight=CLASS_WEIGHT),
        lambda x, y: losskit.MultiMarginLoss(p=2, margin=0.7, class_weight=CLASS_WEIGHT)(x, y).mean(),
        lambda: (floats(N, C), classes(N)),
    ),
    (
        "MultiLabelMarginLoss",
        nn.MultiLabelMarginLoss(),
        lambda x, y: losskit.MultiLabelMarginLoss()(x, y).mean(),
        lambda: (floats(3, C), MULTILABEL),
    ),
    (
        "CosineEmbeddingLoss",
        nn.CosineEmbeddingLoss(margin=0.2),
        lambda a, b, y: losskit.CosineEmbeddingLoss(margin=0.2)(a, b, y).mean(),
        lambda: (floats(N, D), floats(N, D), signs(N)),
    ),
    (
        "TripletMarginLoss",
        nn.TripletMarginLoss(margin=0.5, p=1.0, swap=True),
        lambda a, p, n: losskit.TripletMarginLoss(margin=0.5, p=1.0, swap=True)(a, p, n).mean(),
        lambda: (floats(N, D), floats(N, D), floats(N, D)),
    ),
    (
        "TripletMarginWithDistanceLoss",
        nn.TripletMarginWithDistanceLoss(distance_function=lambda a, b: 1 - nn.functional.cosine_similarity(a, b)),
        lambda a, p, n: losskit.TripletMarginWithDistanceLoss(
            distance_function=lambda a, b: 1 - nn.functional.cosine_similarity(a, b)
        )(a, p, n).mean(),
        lambda: (floats(N, D), floats(N, D), floats(N, D)),
    ),
    (
        "LinearCrossEntropyLoss",
        LINEAR_CE,
        lambda h, y: linear_cross_entropy(h, LINEAR_CE.linear.weight, y, bias=LINEAR_CE.linear.bias),
        lambda: (floats(N, D), LABELS),
    ),
    (
        "CTCLoss",
        nn.CTCLoss(),
        lambda x, y, lx, ly: (losskit.CTCLoss(layout="TNC")(ctc_blank_last(x), y - 1, lx, ly) / ly).mean(),
        lambda: (CTC_LOG_PROBS, CTC_TARGETS, CTC_INPUT_LENGTHS, CTC_TARGET_LENGTHS),
    ),
]


#: the inputs differentiated, where more than the prediction: torch's soft_margin_loss and others
#: refuse a target that requires grad, and poisson_nll_loss(full=True)'s is NaN at a target of 0
GRAD_INPUTS = {
    "MSELoss": (0, 1),
    "L1Loss": (0, 1),
    "SmoothL1Loss": (0, 1),
    "HuberLoss": (0, 1),
    "GaussianNLLLoss": (0, 1, 2),
    "BCELoss": (0, 1),
    "CrossEntropyLoss-probabilities": (0, 1),
    "KLDivLoss": (0, 1),
    "KLDivLoss-log_target": (0, 1),
    "MarginRankingLoss": (0, 1),
    "CosineEmbeddingLoss": (0, 1),
    "TripletMarginLoss": (0, 1, 2),
    "TripletMarginWithDistanceLoss": (0, 1, 2),
}
#: BCELoss: losskit's log(p + 1e-12) (MXNet's) against torch's log(p), 1e-12 / p apart (p >= 0.05)
RTOL = {"BCELoss": 1e-10}


@pytest.mark.parametrize(("name", "module", "port", "inputs"), ROWS, ids=[row[0] for row in ROWS])
def test_a_torch_module_ported_by_the_table(name, module, port, inputs):
    diff = GRAD_INPUTS.get(name, (0,))
    args = tuple(a.clone().requires_grad_(i in diff) for i, a in enumerate(inputs()))
    diffable = [a for a in args if a.requires_grad]
    want = module(*args)
    got = port(*args)
    assert got.shape == want.shape == () and got.dtype == want.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=RTOL.get(name, 1e-12), atol=1e-14)
    grads_want = torch.autograd.grad(want, diffable)
    grads_got = torch.autograd.grad(got, diffable)
    for g, w in zip(grads_got, grads_want):
        assert float(w.abs().sum()) > 0  # every input the row differentiates moves torch's loss
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-14)


def test_the_table_has_a_row_for_every_torch_loss_module_but_one():
    """Every loss module torch.nn exports is in the rows above, but AdaptiveLogSoftmaxWithLoss (a
    module with parameters of its own and clusters of classes, not a loss of given inputs)."""
    modules = {name for name in dir(nn) if name.endswith("Loss") and not name.startswith("_")}
    modules -= {"AdaptiveLogSoftmaxWithLoss"}
    covered = {row[0].split("-")[0] for row in ROWS}
    assert modules <= covered, sorted(modules - covered)
