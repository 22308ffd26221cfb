"""Generate golden fixtures from the real ``mxnet.gluon.loss`` (MXNet 1.9.1).

Every case in ``CASES`` builds one Gluon loss from its class name and constructor
kwargs, feeds it seeded random inputs, records the forward pass with
``mxnet.autograd``, back-propagates ``sum(out)`` (``out.backward()``, head gradient
ones) and writes ``<LossClass>__<case>.npz`` with the inputs, the output and the
gradients of every float input. The format is described in
``tests/fixtures/mxnet/README.md``.

MXNet 1.9.1 only ships wheels for old Python/NumPy combinations, so it lives in its
own virtual environment, separate from the project's::

    python3.11 -m venv /work/mxvenv
    /work/mxvenv/bin/pip install mxnet==1.9.1 numpy==1.23.5

Then, from the repository root::

    /work/mxvenv/bin/python tools/make_mxnet_fixtures.py [--out tests/fixtures/mxnet]

The output is deterministic: each case has a fixed seed (derived from its file name
unless given), and the ``.npz`` archives are written with fixed zip timestamps, so a
rerun reproduces the files byte for byte. Stale ``*__*.npz`` files in the output
directory that no case produces any more are removed.
"""

from __future__ import annotations

import inspect
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np
from fixture_files import write_fixtures  # tools/, beside this script
from mxnet import autograd, nd
from mxnet.gluon import loss as gloss

Rng = np.random.Generator
Inputs = dict[str, Any]  # call-argument name -> np.ndarray | float | None
Builder = Callable[[Rng], Inputs]
Shape = tuple[int, ...]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mxnet"

# Losses whose MXNet implementation cannot run in float64 (checked: each fails with a
# dtype error when every input is float64), with the reason recorded in the fixture.
FLOAT32_ONLY: dict[str, str] = {
    "CTCLoss": "computed in float32: MXNet's CTCLoss operator rejects float64 "
    "('TBlob.get_with_shape: data type do not match'); compare with float32 tolerances.",
    "CosineEmbeddingLoss": "computed in float32: the Gluon code builds float32 constants "
    "(F.array([0]), F.array([1e-12])), so float64 inputs fail with 'Incompatible attr'.",
    "SDMLLoss": "computed in float32: the Gluon code builds its label matrix with F.eye "
    "(float32), so float64 inputs fail with 'Incompatible attr'.",
}

# Losses whose MXNet output is not one value per example.
MXNET_REDUCTION: dict[str, str] = {"PoissonNLLLoss": "mean_all"}

# Facts about a loss worth repeating in each of its fixtures.
LOSS_NOTES: dict[str, str] = {
    "L2Loss": "L2Loss default weight is 1.0 and MXNet applies weight/2 "
    "(loss = weight/2 * (label - pred)^2, averaged over non-batch axes).",
    "KLDivLoss": "MXNet 1.9.1 KLDivLoss SUMS (not averages) over the non-batch axes; "
    "loss = label * (log(label + 1e-12) - pred).",
    "CTCLoss": "blank is the last class (blank_label='last'); labels are padded with -1. "
    "grad_pred is the gradient w.r.t. the unnormalised activations (softmax - posterior, "
    "each frame sums to ~0) and is exactly 0 on frames beyond pred_lengths.",
    "PoissonNLLLoss": "MXNet 1.9.1 returns F.mean(loss) over ALL elements, shape (1,).",
    "CosineEmbeddingLoss": "MXNet returns shape (N, 1), not (N,). label is compared with "
    "==1 / ==-1 so grad_label is all zeros.",
    "SDMLLoss": "loss = KLDivLoss(from_logits=True)(log_softmax(-sqdist(x1, x2), axis=1), "
    "smoothed identity); the weight argument is stored but never applied by MXNet 1.9.1.",
    "TripletLoss": "TripletLoss takes no sample_weight in MXNet 1.9.1.",
}


@dataclass(frozen=True)
class Case:
    """One fixture: a Gluon loss, its constructor kwargs and an input builder."""

    loss: str
    name: str
    build: Builder
    init: dict[str, Any] = field(default_factory=dict)
    int_args: tuple[str, ...] = ()
    note: str = ""
    seed: int | None = None

    @property
    def stem(self) -> str:
        return f"{self.loss}__{self.name}"

    @property
    def rng_seed(self) -> int:
        return self.seed if self.seed is not None else zlib.crc32(self.stem.encode())


# --------------------------------------------------------------------------- helpers


def sample_weight(rng: Rng, shape: Shape) -> np.ndarray:
    return rng.uniform(0.5, 2.0, size=shape)


def signed(rng: Rng, shape: Shape, lo: float, hi: float) -> np.ndarray:
    """Random values with |v| in [lo, hi] and a random sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.log(softmax(x, axis))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def with_sw(inputs: Inputs, rng: Rng, sw: Shape | None) -> Inputs:
    if sw is not None:
        inputs["sample_weight"] = sample_weight(rng, sw)
    return inputs


# ------------------------------------------------------------------ input builders


def regression(
    shape: Shape = (4, 3),
    label_shape: Shape | None = None,
    sw: Shape | None = None,
) -> Builder:
    """pred ~ N(0,1); label = pred + offset with |offset| in [0.05, 2] (no L1 kink)."""

    def build(rng: Rng) -> Inputs:
        pred = rng.normal(size=shape)
        label = (pred + signed(rng, shape, 0.05, 2.0)).reshape(label_shape or shape)
        return with_sw({"pred": pred, "label": label}, rng, sw)

    return build


def huber(rho: float, shape: Shape = (4, 4), sw: Shape | None = None) -> Builder:
    """Half of |label - pred| in [0.1, 0.9]*rho, half in [1.1, 3]*rho."""

    def build(rng: Rng) -> Inputs:
        n = int(np.prod(shape))
        mags = np.concatenate(
            [
                rng.uniform(0.1 * rho, 0.9 * rho, n // 2),
                rng.uniform(1.1 * rho, 3.0 * rho, n - n // 2),
            ]
        )
        diff = rng.permutation(mags * rng.choice([-1.0, 1.0], size=n)).reshape(shape)
        pred = rng.normal(size=shape)
        return with_sw({"pred": pred, "label": pred + diff}, rng, sw)

    return build


def hinge(margin: float, shape: Shape = (4, 3), sw: Shape | None = None) -> Builder:
    """Labels in {-1, 1}; margin - pred*label in +-[0.05, 1.5] (both sides of the kink)."""

    def build(rng: Rng) -> Inputs:
        label = rng.choice([-1.0, 1.0], size=shape)
        pred = label * (margin + signed(rng, shape, 0.05, 1.5))
        return with_sw({"pred": pred, "label": label}, rng, sw)

    return build


def logistic(binary: bool, shape: Shape = (4, 3), sw: Shape | None = None) -> Builder:
    def build(rng: Rng) -> Inputs:
        label = rng.integers(0, 2, size=shape).astype(float)
        if not binary:
            label = 2.0 * label - 1.0
        pred = signed(rng, shape, 0.05, 3.0)
        return with_sw({"pred": pred, "label": label}, rng, sw)

    return build


def bce(
    from_sigmoid: bool = False,
    soft: bool = False,
    shape: Shape = (4, 3),
    sw: Shape | None = None,
    pos_weight: bool = False,
    logit_range: tuple[float, float] = (0.05, 3.0),
) -> Builder:
    """Logits with |x| in logit_range (or their sigmoid); hard 0/1 or soft labels."""

    def build(rng: Rng) -> Inputs:
        pred = signed(rng, shape, *logit_range)
        if from_sigmoid:
            pred = sigmoid(pred)
        if soft:
            label = rng.uniform(0.0, 1.0, size=shape)
        else:
            label = rng.integers(0, 2, size=shape).astype(float)
        inputs: Inputs = {"pred": pred, "label": label}
        if sw is not None or pos_weight:
            inputs["sample_weight"] = None if sw is None else sample_weight(rng, sw)
        if pos_weight:
            inputs["pos_weight"] = rng.uniform(0.5, 3.0, size=(1, shape[-1]))
        return inputs

    return build


def softmax_ce(
    shape: Shape = (4, 5),
    axis: int = -1,
    sparse: bool = True,
    label_shape: Shape | None = None,
    from_logits: bool = False,
    sw: Shape | None = None,
) -> Builder:
    def build(rng: Rng) -> Inputs:
        logits = rng.normal(scale=1.5, size=shape)
        pred = log_softmax(logits, axis) if from_logits else logits
        if sparse:
            reduced = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
            label = rng.integers(0, shape[axis], size=reduced).reshape(label_shape or reduced)
        else:
            label = softmax(rng.normal(size=shape), axis)
        return with_sw({"pred": pred, "label": label}, rng, sw)

    return build


def kl_div(
    from_logits: bool = True,
    shape: Shape = (4, 5),
    axis: int = -1,
    sw: Shape | None = None,
) -> Builder:
    def build(rng: Rng) -> Inputs:
        logits = rng.normal(scale=1.5, size=shape)
        pred = log_softmax(logits, axis) if from_logits else logits
        label = softmax(rng.normal(size=shape), axis)
        return with_sw({"pred": pred, "label": label}, rng, sw)

    return build


def ctc(
    layout: str = "NTC",
    label_layout: str = "NT",
    pred_lengths: bool = False,
    label_lengths: bool = False,
    sw: bool = False,
    n: int = 4,
    t: int = 9,
    c: int = 5,
    max_label: int = 4,
) -> Builder:
    """Alphabet of c-1 symbols plus blank (= c-1, last); labels padded with -1.

    Every example is feasible: its number of frames is >= 2 * label_length + 1.
    """

    def build(rng: Rng) -> Inputs:
        lab_len = rng.integers(1, max_label + 1, size=n)
        lab_len[0], lab_len[-1] = max_label, 1  # full-width label and a short one
        frames = np.full(n, t)
        if pred_lengths:
            frames = np.array([rng.integers(2 * k + 1, t + 1) for k in lab_len])
            frames[-1] = 2 * lab_len[-1] + 2  # at least one example clearly shorter than t
        label = np.full((n, max_label), -1, dtype=np.int64)
        for i, k in enumerate(lab_len):
            label[i, :k] = rng.integers(0, c - 1, size=k)
        pred = rng.normal(scale=2.0, size=(n, t, c))
        inputs: Inputs = {
            "pred": pred if layout == "NTC" else pred.transpose(1, 0, 2),
            "label": label if label_layout == "NT" else label.T,
        }
        if pred_lengths or label_lengths or sw:
            inputs["pred_lengths"] = frames if pred_lengths else None
        if label_lengths or sw:
            inputs["label_lengths"] = lab_len.astype(np.int64) if label_lengths else None
        if sw:
            inputs["sample_weight"] = sample_weight(rng, (n,))
        return inputs

    return build


def triplet(shape: Shape = (4, 3), margin: float = 1.0) -> Builder:
    """Per-example distances chosen so the hinge is active for some examples only."""

    def build(rng: Rng) -> Inputs:
        n = shape[0]
        scale = np.array([0.3, 0.6, 1.0, 1.5, 2.0][:n]).reshape((n,) + (1,) * (len(shape) - 1))
        while True:
            pred = rng.normal(size=shape)
            positive = pred + 0.7 * rng.normal(size=shape)
            negative = pred + scale * rng.normal(size=shape)
            axes = tuple(range(1, len(shape)))
            z = ((positive - pred) ** 2).sum(axes) - ((negative - pred) ** 2).sum(axes) + margin
            if np.abs(z).min() > 1e-2 and (z > 0).any() and (z < 0).any():
                return {"pred": pred, "positive": positive, "negative": negative}

    return build


def poisson(
    from_logits: bool = True,
    min_target: int = 0,
    shape: Shape = (4, 3),
    sw: Shape | None = None,
    epsilon: float | None = None,
) -> Builder:
    """Counts in [min_target, 6] including min_target, 1 and values > 1."""

    def build(rng: Rng) -> Inputs:
        target = rng.integers(min_target, 7, size=shape).astype(float)
        target.flat[:3] = [min_target, 1.0, 4.0]
        if from_logits:
            pred = rng.normal(scale=0.8, size=shape)  # log-rate
        else:
            pred = rng.uniform(0.2, 4.0, size=shape)  # rate
            pred.flat[:2] = [1e-3, 2e-4]  # small rates, where epsilon matters
        inputs: Inputs = {"pred": pred, "target": target}
        if sw is not None or epsilon is not None:
            inputs["sample_weight"] = None if sw is None else sample_weight(rng, sw)
        if epsilon is not None:
            inputs["epsilon"] = epsilon
        return inputs

    return build


def cosine(margin: float = 0.0, n: int = 6, d: int = 4, sw: bool = False) -> Builder:
    """Pairs with varied cosine similarity; label -1 rows stay 0.02 away from the margin."""

    def build(rng: Rng) -> Inputs:
        mix = np.linspace(-1.0, 1.0, n).reshape(n, 1)
        while True:
            input1 = rng.normal(size=(n, d))
            input2 = mix * input1 + 0.8 * rng.normal(size=(n, d))
            label = rng.permutation(np.resize([1.0, -1.0], n))
            norms = np.linalg.norm(input1, axis=1) * np.linalg.norm(input2, axis=1)
            cos = (input1 * input2).sum(1) / norms
            neg = cos[label == -1] - margin
            if np.abs(neg).min() > 0.02 and (neg > 0).any() and (neg < 0).any():
                break
        inputs: Inputs = {"input1": input1, "input2": input2, "label": label}
        return with_sw(inputs, rng, (n, 1) if sw else None)

    return build


def sdml(n: int = 5, d: int = 4) -> Builder:
    def build(rng: Rng) -> Inputs:
        x1 = rng.normal(size=(n, d))
        return {"x1": x1, "x2": x1 + 0.7 * rng.normal(size=(n, d))}

    return build


def fixed(**inputs: Any) -> Builder:
    """Fixed inputs; lists become float arrays, arrays are used as given."""

    def build(rng: Rng) -> Inputs:
        as_array = {k: np.asarray(v, dtype=float) for k, v in inputs.items() if isinstance(v, list)}
        return {**inputs, **as_array}

    return build


# --------------------------------------------------------------------------- cases

SCE = "SoftmaxCrossEntropyLoss"
BCE = "SigmoidBinaryCrossEntropyLoss"
LABEL = ("label",)
CTC_INTS = ("label", "pred_lengths", "label_lengths")

ONE_WEIGHT_NOTE = "sample_weight is one weight as an array of one element, shape (1,) or (1, 1)."

CASES: list[Case] = [
    # L2Loss / L1Loss
    *[
        c
        for loss in ("L2Loss", "L1Loss")
        for c in (
            Case(loss, "default", regression()),
            Case(loss, "weight", regression(), {"weight": 2.0}),
            Case(loss, "sample_weight", regression(sw=(4, 1))),
            Case(
                loss,
                "label_flat",
                regression((4, 1), label_shape=(4,)),
                note="label has shape (N,) while pred is (N, 1); MXNet reshapes label like pred.",
            ),
            Case(
                loss,
                "batch_axis1",
                regression((3, 4, 2), sw=(1, 4, 1)),
                {"batch_axis": 1},
                note="3-D input, batch_axis=1: output has shape (4,).",
            ),
        )
    ],
    # HuberLoss
    Case("HuberLoss", "rho1", huber(1.0)),
    Case("HuberLoss", "rho0_5", huber(0.5), {"rho": 0.5}),
    Case("HuberLoss", "weight", huber(1.0), {"weight": 3.0}),
    Case("HuberLoss", "sample_weight", huber(0.5, sw=(4, 1)), {"rho": 0.5}),
    # HingeLoss / SquaredHingeLoss
    *[
        c
        for loss in ("HingeLoss", "SquaredHingeLoss")
        for c in (
            Case(loss, "margin1", hinge(1.0)),
            Case(loss, "margin2", hinge(2.0), {"margin": 2.0}),
            Case(loss, "sample_weight", hinge(1.0, sw=(4, 1))),
        )
    ],
    # LogisticLoss
    Case("LogisticLoss", "signed", logistic(binary=False)),
    Case("LogisticLoss", "binary", logistic(binary=True), {"label_format": "binary"}),
    Case("LogisticLoss", "sample_weight", logistic(binary=False, sw=(4, 1))),
    # SigmoidBinaryCrossEntropyLoss
    Case(BCE, "logits_hard", bce()),
    Case(BCE, "logits_soft", bce(soft=True)),
    Case(BCE, "sigmoid_hard", bce(from_sigmoid=True), {"from_sigmoid": True}),
    Case(BCE, "sigmoid_soft", bce(from_sigmoid=True, soft=True), {"from_sigmoid": True}),
    Case(
        BCE,
        "pos_weight",
        bce(soft=True, pos_weight=True),
        note="pos_weight has shape (1, C); sample_weight passed as None.",
    ),
    Case(
        BCE,
        "pos_weight_sigmoid",
        bce(from_sigmoid=True, soft=True, pos_weight=True),
        {"from_sigmoid": True},
        note="pos_weight has shape (1, C); sample_weight passed as None.",
    ),
    Case(BCE, "sample_weight_pos_weight", bce(sw=(4, 1), pos_weight=True)),
    Case(BCE, "weight", bce(soft=True, sw=(4, 1)), {"weight": 0.5}),
    Case(
        BCE,
        "batch_axis1",
        bce(shape=(3, 4), sw=(1, 4)),
        {"batch_axis": 1},
        note="pred is (C, N) with batch_axis=1; output has shape (4,).",
    ),
    Case(
        BCE,
        "large_logits",
        bce(logit_range=(25.0, 30.0)),
        note="|logits| in [25, 30]; stable formula keeps it finite.",
    ),
    # SoftmaxCrossEntropyLoss
    Case(SCE, "sparse", softmax_ce(), int_args=LABEL),
    Case(
        SCE,
        "sparse_label_n1",
        softmax_ce(label_shape=(4, 1)),
        int_args=LABEL,
        note="sparse labels of shape (N, 1) are accepted by MXNet (pick with keepdims).",
    ),
    Case(
        SCE,
        "axis1_3d",
        softmax_ce((4, 5, 3), axis=1),
        {"axis": 1},
        int_args=LABEL,
        note="pred (N, C, T), label (N, T).",
    ),
    Case(SCE, "dense_soft", softmax_ce(sparse=False), {"sparse_label": False}),
    Case(
        SCE,
        "from_logits",
        softmax_ce(from_logits=True),
        {"from_logits": True},
        int_args=LABEL,
        note="pred is log_softmax of random logits.",
    ),
    Case(
        SCE,
        "from_logits_dense",
        softmax_ce(sparse=False, from_logits=True),
        {"from_logits": True, "sparse_label": False},
    ),
    Case(SCE, "sample_weight", softmax_ce(sw=(4, 1)), int_args=LABEL),
    Case(SCE, "weight", softmax_ce(), {"weight": 0.5}, int_args=LABEL),
    Case(
        SCE,
        "batch_axis1",
        softmax_ce((3, 4, 5)),
        {"batch_axis": 1},
        int_args=LABEL,
        note="pred (T, N, C), label (T, N), batch_axis=1: output has shape (4,).",
    ),
    Case(
        SCE,
        "tutorial",
        fixed(pred=[[1.0, 10.0], [8.0, 2.0]], label=np.array([0, 1])),
        int_args=LABEL,
        note="Example from the Gluon loss tutorial.",
    ),
    # KLDivLoss
    Case("KLDivLoss", "from_logits", kl_div(), note="pred is log_softmax of random logits."),
    Case("KLDivLoss", "raw_logits", kl_div(from_logits=False), {"from_logits": False}),
    Case(
        "KLDivLoss",
        "raw_logits_axis1_3d",
        kl_div(False, (4, 5, 3), axis=1),
        {"from_logits": False, "axis": 1},
        note="label rows sum to 1 along axis 1.",
    ),
    Case("KLDivLoss", "sample_weight", kl_div(sw=(4, 1))),
    Case("KLDivLoss", "weight", kl_div(from_logits=False), {"from_logits": False, "weight": 2.0}),
    # CTCLoss
    Case("CTCLoss", "ntc_padded", ctc(), int_args=CTC_INTS),
    Case("CTCLoss", "tnc_padded", ctc("TNC"), {"layout": "TNC"}, int_args=CTC_INTS),
    Case("CTCLoss", "label_tn", ctc(label_layout="TN"), {"label_layout": "TN"}, int_args=CTC_INTS),
    Case(
        "CTCLoss",
        "tnc_label_tn",
        ctc("TNC", "TN"),
        {"layout": "TNC", "label_layout": "TN"},
        int_args=CTC_INTS,
    ),
    Case(
        "CTCLoss",
        "lengths",
        ctc(pred_lengths=True, label_lengths=True),
        int_args=CTC_INTS,
        note="pred_lengths and label_lengths vary per example; label still padded with -1.",
    ),
    Case(
        "CTCLoss",
        "label_lengths_only",
        ctc(label_lengths=True),
        int_args=CTC_INTS,
        note="pred_lengths passed as None.",
    ),
    Case(
        "CTCLoss",
        "sample_weight",
        ctc(sw=True),
        int_args=CTC_INTS,
        note="sample_weight shape (N,); pred_lengths and label_lengths passed as None.",
    ),
    Case(
        "CTCLoss",
        "weight_tnc_lengths",
        ctc("TNC", pred_lengths=True, label_lengths=True),
        {"layout": "TNC", "weight": 0.5},
        int_args=CTC_INTS,
    ),
    # TripletLoss
    Case("TripletLoss", "margin1", triplet()),
    Case("TripletLoss", "margin0_5", triplet(margin=0.5), {"margin": 0.5}),
    Case("TripletLoss", "3d", triplet((4, 2, 3))),
    Case("TripletLoss", "weight", triplet(margin=0.5), {"margin": 0.5, "weight": 2.0}),
    # PoissonNLLLoss
    Case("PoissonNLLLoss", "from_logits", poisson()),
    Case("PoissonNLLLoss", "rate", poisson(from_logits=False), {"from_logits": False}),
    Case(
        "PoissonNLLLoss",
        "rate_epsilon",
        poisson(from_logits=False, epsilon=1e-4),
        {"from_logits": False},
        note="epsilon=1e-4 passed as a call argument.",
    ),
    Case("PoissonNLLLoss", "full_from_logits", poisson(min_target=1), {"compute_full": True}),
    Case(
        "PoissonNLLLoss",
        "full_rate",
        poisson(from_logits=False, min_target=1),
        {"compute_full": True, "from_logits": False},
    ),
    Case("PoissonNLLLoss", "sample_weight", poisson(sw=(4, 1))),
    Case(
        "PoissonNLLLoss",
        "weight",
        poisson(from_logits=False),
        {"from_logits": False, "weight": 0.5},
    ),
    # CosineEmbeddingLoss
    Case("CosineEmbeddingLoss", "margin0", cosine()),
    Case("CosineEmbeddingLoss", "margin0_5", cosine(0.5), {"margin": 0.5}),
    Case("CosineEmbeddingLoss", "sample_weight", cosine(sw=True)),
    Case("CosineEmbeddingLoss", "weight", cosine(0.5), {"margin": 0.5, "weight": 2.0}),
    # SDMLLoss
    Case("SDMLLoss", "default", sdml()),
    Case("SDMLLoss", "smoothing0_1", sdml(), {"smoothing_parameter": 0.1}),
    Case(
        "SDMLLoss",
        "weight_ignored",
        sdml(),
        {"weight": 2.0},
        note="weight=2.0 has no effect in MXNet 1.9.1 (output equals the unweighted loss).",
    ),
    # one sample weight as an array of one element: Gluon code writes nd.array([w]), shape (1,),
    # as MXNet 1.x has no 0-d arrays; it broadcasts to every element
    *[
        Case(loss, "sample_weight_one", build, init, int_args=ints, note=ONE_WEIGHT_NOTE)
        for loss, build, init, ints in (
            ("L2Loss", regression(sw=(1,)), {}, ()),
            ("L1Loss", regression((3, 4, 2), sw=(1, 1)), {}, ()),
            ("HuberLoss", huber(0.5, sw=(1,)), {"rho": 0.5}, ()),
            ("HingeLoss", hinge(1.0, sw=(1,)), {}, ()),
            ("LogisticLoss", logistic(binary=False, sw=(1,)), {}, ()),
            (BCE, bce(sw=(1,)), {}, ()),
            (SCE, softmax_ce(sw=(1,)), {}, LABEL),
            ("KLDivLoss", kl_div(sw=(1,)), {}, ()),
            ("PoissonNLLLoss", poisson(sw=(1,)), {}, ()),
        )
    ],
]

POISSON_FULL_NOTE = (
    "compute_full=True: the Gluon code updates arrays in place (stirling_factor *= "
    "target_gt_1; loss += stirling_factor), which autograd.record() refuses, so only the "
    "forward output is available. It computes target*log(target) before masking with "
    "target>1, so a target of 0 gives NaN (0*-inf -> NaN even after the mask); targets here "
    "are >= 1 (target 1 is finite and contributes no Stirling term)."
)


# ---------------------------------------------------------------------------- runner


def call_params(loss_cls: type) -> list[str]:
    """Gluon's positional call-argument names, from hybrid_forward(self, F, ...)."""
    return list(inspect.signature(loss_cls.hybrid_forward).parameters)[2:]


def mxnet_error_line(err: Exception) -> str:
    """The first sentence of MXNet's 'Check failed' line (or the last line)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    picked = next((ln for ln in lines if "Check failed" in ln), lines[-1] if lines else "")
    picked = picked.split("Check failed: ", 1)[-1]
    return picked.split(". ", 1)[0].rstrip(".")[:200]


def run_case(case: Case) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    loss_cls = getattr(gloss, case.loss)
    params = call_params(loss_cls)
    inputs = case.build(np.random.default_rng(case.rng_seed))
    unknown = set(inputs) - set(params)
    if unknown:
        raise ValueError(f"{case.stem}: {sorted(unknown)} not in {case.loss}{params}")
    args = params[: max(params.index(k) for k in inputs) + 1]

    dtype = "float32" if case.loss in FLOAT32_ONLY else "float64"
    notes = [case.note, LOSS_NOTES.get(case.loss, ""), FLOAT32_ONLY.get(case.loss, "")]
    if case.init.get("compute_full"):
        notes.append(POISSON_FULL_NOTE)

    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, float] = {}
    for name in args:
        value = inputs.get(name)
        if isinstance(value, float):
            scalars[name] = value
        elif value is not None:
            value = np.asarray(value)
            if name in case.int_args:
                assert np.array_equal(value, np.round(value)), f"{case.stem}: {name} not int"
                arrays[name] = value.astype(np.int64)
            else:
                arrays[name] = value.astype(dtype)

    # MXNet takes integer-valued inputs as float32; only float inputs get gradients.
    nd_dtype = {k: "float32" if k in case.int_args else dtype for k in arrays}
    nd_inputs = {k: nd.array(v, dtype=nd_dtype[k]) for k, v in arrays.items()}
    float_names = [k for k in nd_inputs if k not in case.int_args]
    for k in float_names:
        nd_inputs[k].attach_grad()
    call_args = [nd_inputs[a] if a in nd_inputs else scalars.get(a) for a in args]

    block = loss_cls(**case.init)
    grads: dict[str, np.ndarray] = {}
    try:
        with autograd.record():
            out = block(*call_args)
        out.backward()
        grads = {k: nd_inputs[k].grad.asnumpy() for k in float_names}
    except mx.base.MXNetError as err:
        out = block(*call_args)  # forward only, not recorded
        notes.insert(0, f"No gradients: MXNet autograd fails ({mxnet_error_line(err)}).")
    out_np = out.asnumpy()
    if str(out_np.dtype) != dtype:
        raise TypeError(f"{case.stem}: MXNet computed in {out_np.dtype}, expected {dtype}")
    if not np.isfinite(out_np).all():
        raise FloatingPointError(f"{case.stem}: non-finite output {out_np}")
    for k, g in grads.items():
        if not np.isfinite(g).all():
            raise FloatingPointError(f"{case.stem}: non-finite grad_{k}")

    meta = {
        "loss": case.loss,
        "init": case.init,
        "args": args,
        "none": [a for a in args if inputs.get(a) is None],
        "scalars": scalars,
        "int_args": [a for a in args if a in case.int_args],
        "dtype": dtype,
        "mxnet_reduction": MXNET_REDUCTION.get(case.loss, "per_example"),
        "note": " ".join(n.strip() for n in notes if n),
        "seed": case.rng_seed,
        "mxnet_version": mx.__version__,
    }
    data = {"meta": np.array(json.dumps(meta))}
    data.update({f"in_{k}": v for k, v in arrays.items()})
    data["out"] = out_np
    data.update({f"grad_{k}": v for k, v in grads.items()})
    return meta, data


def main() -> None:
    def line(case: Case, meta: dict[str, Any], data: dict[str, np.ndarray]) -> str:
        grads = [k.removeprefix("grad_") for k in data if k.startswith("grad_")]
        return (
            f"{case.stem:58s} {meta['dtype']:7s} out{str(tuple(data['out'].shape)):8s} grads: {', '.join(grads) or '-'}"
        )

    write_fixtures(CASES, description=__doc__.splitlines()[0], default_out=DEFAULT_OUT, run=run_case, line=line)


if __name__ == "__main__":
    main()
