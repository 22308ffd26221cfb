"""Generate golden fixtures from the real Keras loss functions (Keras 3.15.1, JAX backend).

Every case in ``CASES`` calls one function of ``keras.losses`` (``mean_squared_error``,
``binary_focal_crossentropy``, ...) with keyword options on seeded random inputs, records its
per-sample result (the functions never reduce over the batch; Keras averages or sums over the
last axis only) and the gradient of the sum of that result with respect to ``y_pred``
(``jax.grad``; for ``circle``'s reference set, also with respect to ``ref_embeddings``), and
writes ``<function>__<case>.npz`` into ``tests/fixtures/keras``. The format
is described in ``tests/fixtures/keras/README.md``; ``tests/test_keras_losses.py`` maps each
function onto the losskit loss that computes the same thing.

Keras lives in its own virtual environment, with JAX as its backend (no TensorFlow, no torch)::

    python3 -m venv /work/kerasvenv
    /work/kerasvenv/bin/pip install keras==3.15.1 jax

Then, from the repository root::

    KERAS_BACKEND=jax /work/kerasvenv/bin/python tools/make_keras_fixtures.py [--out tests/fixtures/keras]

Inputs are float64, and so is every result (JAX's x64 mode and
``keras.config.set_floatx("float64")``); the script checks that each result and gradient is
float64 and finite. One Keras quirk limits the precision: on the JAX backend ``keras.ops.mean``
computes in float32 whatever its input (Keras's type promotion maps float64 to float32 on
every backend but TensorFlow) and casts the result back. The functions that reduce their last
axis with ``ops.mean`` (``mean_squared_error``, ``huber``, ``binary_crossentropy``, ...) are
therefore float64 elementwise and float32 in their final mean (a relative error up to ~1e-7
in the value, and the float32 ``1/n`` in the gradient, relative error ~1e-8); those summing
with ``ops.sum`` (``categorical_crossentropy``, ``kl_divergence``, ``dice``, ...) are float64
throughout. Each fixture records which in ``meta["mean_in_float32"]``. The output is
deterministic: each case has a fixed seed (derived from its file name), and the archives are
written with fixed zip timestamps, so a rerun on the same machine reproduces the files byte for
byte (on another CPU, five fixtures whose inputs pass through ``np.exp`` came out one unit in
the last place apart: the committed ones were kept). Stale ``*__*.npz`` files that no case
produces any more are removed.
"""

from __future__ import annotations

import inspect
import json
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from fixture_files import write_fixtures  # noqa: E402  (tools/, beside this script)

Rng = np.random.Generator
Inputs = tuple[np.ndarray, ...]  # (y_true, y_pred), Keras's argument order, then the case's extra_inputs
Builder = Callable[[Rng], Inputs]
Shape = tuple[int, ...]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "keras"
N = 4


@dataclass(frozen=True)
class Case:
    """One fixture: a function of ``keras.losses``, its keyword options and an input builder."""

    function: str
    name: str
    build: Builder
    kwargs: dict[str, Any] = field(default_factory=dict)
    int_label: bool = False  # y_true holds class indices (sparse categorical cross-entropy)
    note: str = ""
    # keyword inputs of the function beyond (y_true, y_pred), built after them by ``build`` (circle's
    # ref_labels, ref_embeddings): saved under their names, float ones differentiated as y_pred
    extra_inputs: tuple[str, ...] = ()
    # a class of keras.losses built with ``kwargs`` (Circle): its reduced value on the inputs is saved
    # as ``class_out``, a 0-d array (the class's default reduction, which may differ from a mean)
    keras_class: str = ""

    @property
    def stem(self) -> str:
        return f"{self.function}__{self.name}"

    @property
    def rng_seed(self) -> int:
        return zlib.crc32(self.stem.encode())


# --------------------------------------------------------------------------- helpers


def signed(rng: Rng, shape: Shape, lo: float, hi: float) -> np.ndarray:
    """Random values with |v| in [lo, hi] and a random sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def one_hot(rng: Rng, shape: Shape) -> np.ndarray:
    return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]


# ------------------------------------------------------------------ input builders


def regression(shape: Shape = (N, 5)) -> Builder:
    """y_pred ~ N(0, 1); y_true = y_pred + an offset of magnitude in [0.05, 2] (no L1 kink)."""

    def build(rng: Rng) -> Inputs:
        pred = rng.normal(size=shape)
        return pred + signed(rng, shape, 0.05, 2.0), pred

    return build


def percentage(near_zero: bool = False) -> Builder:
    """|y_true| in [0.5, 3] with a random sign; near_zero: a label of 0 and one of 1e-9 (below epsilon)."""

    def build(rng: Rng) -> Inputs:
        label = signed(rng, (N, 5), 0.5, 3.0)
        if near_zero:
            label[0, 1], label[2, 3] = 0.0, 1e-9
        return label, label + signed(rng, (N, 5), 0.05, 1.0)

    return build


def log_error(clamped: bool = False) -> Builder:
    """Positive values in [0.05, 4]; clamped: some y_pred and y_true negative or 0 (below epsilon)."""

    def build(rng: Rng) -> Inputs:
        label, pred = rng.uniform(0.05, 4.0, size=(2, N, 5))
        if clamped:
            pred[0, :2], pred[2, 4] = [-0.5, 0.0], -2.0
            label[1, 0], label[3, 2] = -1.0, 0.0
        return label, pred

    return build


def huber(delta: float) -> Builder:
    """Half of |y_pred - y_true| in [0.1, 0.9]*delta, half in [1.1, 3]*delta."""

    def build(rng: Rng) -> Inputs:
        n = N * 5
        mags = np.concatenate(
            [rng.uniform(0.1 * delta, 0.9 * delta, n // 2), rng.uniform(1.1 * delta, 3 * delta, n - n // 2)]
        )
        diff = rng.permutation(mags * rng.choice([-1.0, 1.0], size=n)).reshape(N, 5)
        pred = rng.normal(size=(N, 5))
        return pred - diff, pred

    return build


def poisson(rng: Rng) -> Inputs:
    """Counts in [0, 6] and rates in [0.2, 4]."""
    return rng.integers(0, 7, size=(N, 5)).astype(float), rng.uniform(0.2, 4.0, size=(N, 5))


def distributions(rng: Rng) -> Inputs:
    """Two softmax distributions per row (every probability well above epsilon = 1e-7)."""
    return softmax(rng.normal(size=(N, 5))), softmax(rng.normal(size=(N, 5)))


def binary(probs: bool = False, soft: bool = False, shape: Shape = (N, 5)) -> Builder:
    """Logits with |x| in [0.05, 3] (or their sigmoid); hard 0/1 or soft labels."""

    def build(rng: Rng) -> Inputs:
        logits = signed(rng, shape, 0.05, 3.0)
        label = rng.uniform(0, 1, size=shape) if soft else rng.integers(0, 2, size=shape).astype(float)
        return label, sigmoid(logits) if probs else logits

    return build


def categorical(probs: bool = False, soft: bool = False, shape: Shape = (N, 5)) -> Builder:
    """Logits ~ N(0, 1.5) (or their softmax, rescaled so that rows do not sum to 1); one-hot or soft labels."""

    def build(rng: Rng) -> Inputs:
        logits = rng.normal(scale=1.5, size=shape)
        label = softmax(rng.normal(size=shape)) if soft else one_hot(rng, shape)
        pred = softmax(logits) * rng.uniform(0.5, 2.0, size=shape[:-1] + (1,)) if probs else logits
        return label, pred

    return build


def sparse(probs: bool = False, shape: Shape = (N, 5), ignore: int | None = None) -> Builder:
    def build(rng: Rng) -> Inputs:
        logits = rng.normal(scale=1.5, size=shape)
        label = rng.integers(0, shape[-1], size=shape[:-1])
        if ignore is not None:
            label.flat[[1, 3]] = ignore
        return label, softmax(logits) * rng.uniform(0.5, 2.0, size=shape[:-1] + (1,)) if probs else logits

    return build


def hinge(labels: str) -> Builder:
    """Labels in {0, 1} (Keras maps them to {-1, 1}) or {-1, 1}; 1 - y_pred*y in +-[0.05, 1.5] (no kink)."""

    def build(rng: Rng) -> Inputs:
        signs = rng.choice([-1.0, 1.0], size=(N, 5))
        pred = signs * (1.0 + signed(rng, (N, 5), 0.05, 1.5))
        return (signs + 1) / 2 if labels == "binary" else signs, pred

    return build


def categorical_hinge(rng: Rng) -> Inputs:
    """One-hot labels; neg - pos + 1 at least 0.05 away from 0 (both signs) and no tie for the max."""
    while True:
        label, pred = one_hot(rng, (N, 5)), rng.normal(scale=1.5, size=(N, 5))
        pos = (label * pred).sum(-1)
        others = np.sort(np.where(label == 1, -np.inf, pred), axis=-1)
        margin = others[:, -1] - pos + 1
        if np.abs(margin).min() > 0.05 and (margin > 0).any() and (margin < 0).any():
            if (others[:, -1] - others[:, -2]).min() > 1e-3 and (others[:, -1] > 0).all():
                return label, pred


def categorical_hinge_quirks(rng: Rng) -> Inputs:
    """Rows 0-1: one-hot labels with every score negative, where Keras's max((1 - y) p) is the true
    class's 0, not the best rival's score; rows 2-3: soft labels. No tie for the max, no kink."""
    while True:
        label = np.concatenate([one_hot(rng, (2, 5)), rng.dirichlet(np.ones(5), size=2)])
        pred = np.concatenate([-rng.uniform(0.1, 2.0, size=(2, 5)), rng.normal(scale=1.5, size=(2, 5))])
        wrong = np.sort((1 - label) * pred, axis=-1)
        margin = wrong[:, -1] - (label * pred).sum(-1) + 1
        if np.abs(margin).min() > 0.05 and (wrong[:, -1] - wrong[:, -2]).min() > 1e-3:
            return label, pred


def masks(shape: Shape = (N, 6), soft: bool = False) -> Builder:
    """Binary (or soft) target masks and predicted probabilities in (0.02, 0.98)."""

    def build(rng: Rng) -> Inputs:
        label = rng.uniform(0, 1, size=shape) if soft else (rng.uniform(size=shape) < 0.5).astype(float)
        label[:, 0] = 1.0  # no empty mask
        return label, rng.uniform(0.02, 0.98, size=shape)

    return build


# --------------------------------------------------------------------------- cases

EPS_NOTE = "keras.config.epsilon() = 1e-7."

CASES: list[Case] = [
    Case("mean_squared_error", "default", regression()),
    Case(
        "mean_squared_error",
        "3d",
        regression((N, 3, 2)),
        note="(4, 3, 2) inputs: Keras averages the last axis only, so its result is (4, 3).",
    ),
    Case("mean_absolute_error", "default", regression()),
    Case("mean_absolute_percentage_error", "default", percentage()),
    Case(
        "mean_absolute_percentage_error",
        "near_zero_labels",
        percentage(near_zero=True),
        note="y_true[0, 1] = 0 and y_true[2, 3] = 1e-9: the denominator is clamped at epsilon. " + EPS_NOTE,
    ),
    Case("mean_squared_logarithmic_error", "default", log_error()),
    Case(
        "mean_squared_logarithmic_error",
        "clamped",
        log_error(clamped=True),
        note="some y_pred and y_true at or below 0: Keras clamps them at epsilon (gradient 0 there). " + EPS_NOTE,
    ),
    Case("huber", "delta0_5", huber(0.5), {"delta": 0.5}),
    Case("huber", "delta2", huber(2.0), {"delta": 2.0}),
    Case("log_cosh", "default", regression()),
    Case("poisson", "default", poisson, note="y_pred is a rate; Keras adds epsilon inside the log. " + EPS_NOTE),
    Case("kl_divergence", "default", distributions, note="Keras clips both arguments to [epsilon, 1]; inside here."),
    Case("binary_crossentropy", "from_logits", binary(), {"from_logits": True}),
    Case("binary_crossentropy", "from_logits_soft", binary(soft=True), {"from_logits": True}),
    Case(
        "binary_crossentropy",
        "probs",
        binary(probs=True, soft=True),
        note="y_pred holds probabilities in (0.04, 0.96); Keras clips them to [epsilon, 1 - epsilon].",
    ),
    Case(
        "binary_crossentropy",
        "from_logits_smoothing0_1",
        binary(),
        {"from_logits": True, "label_smoothing": 0.1},
        note="hard labels: Keras smooths them to 0.05 and 0.95 (y (1 - ls) + ls / 2).",
    ),
    Case(
        "binary_crossentropy",
        "probs_soft_smoothing0_3",
        binary(probs=True, soft=True),
        {"label_smoothing": 0.3},
        note="soft labels smoothed towards 1/2; y_pred holds probabilities in (0.04, 0.96).",
    ),
    Case("categorical_crossentropy", "from_logits", categorical(), {"from_logits": True}),
    Case(
        "categorical_crossentropy",
        "from_logits_smoothing0_1",
        categorical(soft=True),
        {"from_logits": True, "label_smoothing": 0.1},
    ),
    Case(
        "categorical_crossentropy",
        "probs",
        categorical(probs=True),
        note="y_pred rows are positive and do not sum to 1: Keras divides each by its sum.",
    ),
    Case("sparse_categorical_crossentropy", "from_logits", sparse(), {"from_logits": True}, int_label=True),
    Case(
        "sparse_categorical_crossentropy",
        "from_logits_3d",
        sparse(shape=(N, 3, 5)),
        {"from_logits": True},
        int_label=True,
        note="logits (4, 3, 5), labels (4, 3): Keras's result is (4, 3).",
    ),
    Case(
        "sparse_categorical_crossentropy",
        "ignore_class",
        sparse(ignore=-1),
        {"from_logits": True, "ignore_class": -1},
        int_label=True,
        note="labels -1 at rows 1 and 3: their loss is 0 (and their gradient).",
    ),
    Case("sparse_categorical_crossentropy", "probs", sparse(probs=True), int_label=True),
    Case("hinge", "binary_labels", hinge("binary"), note="y_true in {0, 1}: Keras converts it to 2 y_true - 1."),
    Case("hinge", "signed_labels", hinge("signed")),
    Case("squared_hinge", "binary_labels", hinge("binary"), note="y_true in {0, 1}: converted to 2 y_true - 1."),
    Case("squared_hinge", "signed_labels", hinge("signed")),
    Case("categorical_hinge", "default", categorical_hinge),
    Case(
        "categorical_hinge",
        "negative_scores_soft_labels",
        categorical_hinge_quirks,
        note="rows 0-1: every score negative (the true class's 0 is the max of (1 - y) p); rows 2-3: soft labels.",
    ),
    Case("cosine_similarity", "default", regression(), note="Keras returns -cos (between -1 and 1)."),
    Case("binary_focal_crossentropy", "from_logits", binary(), {"from_logits": True}),
    Case(
        "binary_focal_crossentropy",
        "from_logits_balanced",
        binary(soft=True),
        {"from_logits": True, "apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5},
    ),
    Case(
        "binary_focal_crossentropy",
        "probs_gamma3",
        binary(probs=True),
        {"gamma": 3.0},
        note="y_pred holds probabilities in (0.04, 0.96).",
    ),
    Case(
        "binary_focal_crossentropy",
        "from_logits_balanced_smoothing0_2",
        binary(),
        {"from_logits": True, "apply_class_balancing": True, "alpha": 0.3, "gamma": 2.0, "label_smoothing": 0.2},
        note="hard labels smoothed to 0.1 and 0.9 before the BCE, p_t and the class balancing alike.",
    ),
    Case(
        "binary_focal_crossentropy",
        "probs_soft_gamma1_5_smoothing0_1",
        binary(probs=True, soft=True),
        {"gamma": 1.5, "label_smoothing": 0.1},
        note="soft labels smoothed towards 1/2; y_pred holds probabilities in (0.04, 0.96).",
    ),
    Case("categorical_focal_crossentropy", "from_logits", categorical(), {"from_logits": True}),
    Case(
        "categorical_focal_crossentropy",
        "probs_soft_alpha0_5_gamma1_5",
        categorical(probs=True, soft=True),
        {"alpha": 0.5, "gamma": 1.5},
        note="y_pred rows do not sum to 1: Keras divides each by its sum.",
    ),
    Case(
        "dice",
        "axis1",
        masks(),
        {"axis": 1},
        note="axis=1: one value per row of (4, 6). Keras adds epsilon = 1e-7 to the denominator only.",
    ),
    Case(
        "dice",
        "axis1_2_soft",
        masks((N, 3, 4), soft=True),
        {"axis": (1, 2)},
        note="axis=(1, 2): one value per (3, 4) mask, soft targets.",
    ),
    Case(
        "tversky",
        "alpha0_3_beta0_7",
        masks(),
        {"alpha": 0.3, "beta": 0.7, "axis": 1},
        note="Keras's alpha multiplies sum(y_true * (1 - y_pred)) (missed target) and beta "
        "sum(y_pred * (1 - y_true)) (false alarm); epsilon = 1e-7 in the denominator.",
    ),
]


# ------------------------------------- circle and categorical_generalized_cross_entropy


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def near_centres(rng: Rng, centres: np.ndarray, labels: np.ndarray, spread: float) -> np.ndarray:
    """Unit embeddings near their class's centre (Gaussian noise of scale ``spread``, normalised)."""
    return unit_rows(centres[labels] + spread * rng.normal(size=(len(labels), centres.shape[1])))


def off_the_kinks(s: np.ndarray, margin: float) -> bool:
    """No similarity within 1e-3 of the cap at 1 or of -margin, where alpha_n = [s + margin]_+ bends."""
    return bool((np.abs(s - 1) > 1e-3).all() and (np.abs(s + margin) > 1e-3).all())


def circle_batch(
    labels: list[int], margin: float = 0.4, spread: float = 0.6, norms: tuple[float, float] = (1, 1)
) -> Builder:
    """Class labels (y_true) and embeddings (y_pred) near a random unit centre per class, of norms
    drawn in ``norms`` (1: unit vectors, as Keras expects), every similarity off the kinks (the
    diagonal of unit vectors, exactly at the cap, is the remove_diagonal pairs': never a positive)."""

    def build(rng: Rng) -> Inputs:
        y = np.array(labels)
        while True:
            centres = unit_rows(rng.normal(size=(y.max() + 1, 6)))
            e = near_centres(rng, centres, y, spread) * rng.uniform(*norms, size=(len(y), 1))
            s = e @ e.T
            if np.allclose(norms, 1):  # unit vectors: s_ii = 1, at the cap (a pair remove_diagonal drops)
                np.fill_diagonal(s, 0.0)
            if off_the_kinks(s, margin):
                return y, e

    return build


def circle_refs(rng: Rng) -> Inputs:
    """6 queries against 9 references (ref_labels, ref_embeddings): class 3 has no reference (query 3
    has no positive: 0); query i and reference i share a class for i in 0..2, pairs that
    remove_diagonal drops although reference i is not query i: for query 2 its only positive (0)."""
    y, ref_y = np.array([0, 1, 2, 3, 0, 1]), np.array([0, 1, 2, 0, 1, 0, 1, 4, 4])
    while True:
        centres = unit_rows(rng.normal(size=(5, 6)))
        e, ref = near_centres(rng, centres, y, 0.6), near_centres(rng, centres, ref_y, 0.6)
        if off_the_kinks(e @ ref.T, 0.4):
            return y, e, ref_y, ref


def sparse_probs(rng: Rng) -> Inputs:
    """Class indices and softmax probabilities (rows summing to 1)."""
    return rng.integers(0, 5, size=N), softmax(rng.normal(scale=1.5, size=(N, 5)))


CIRCLE_GCE_CASES: list[Case] = [
    Case(
        "circle",
        "default",
        circle_batch([0, 1, 2, 0, 1, 2, 0, 1]),
        int_label=True,
        keras_class="Circle",
        note="8 unit embeddings of 3 classes, compared with each other; gamma 80, margin 0.4.",
    ),
    Case(
        "circle",
        "gamma32_margin0_25_keep_diagonal",
        circle_batch([0, 0, 1, 1, 2, 2, 0, 3], margin=0.25, norms=(0.6, 0.95)),
        {"gamma": 32.0, "margin": 0.25, "remove_diagonal": False},
        int_label=True,
        note="norms in [0.6, 0.95] (s_ii < 1, off the cap): with remove_diagonal=False (i, i) is a positive "
        "pair, example 7's only one (alone in its class).",
    ),
    Case(
        "circle",
        "capped_similarities",
        circle_batch([0, 0, 0, 1, 1, 1], spread=0.3, norms=(1.05, 1.3)),
        {"gamma": 16.0},
        int_label=True,
        note="norms in [1.05, 1.3]: most same-class similarities exceed 1, where Keras's distance max(1 - s, 0) is 0.",
    ),
    Case(
        "circle",
        "singleton_class",
        circle_batch([0, 1, 0, 1, 2, 0]),
        int_label=True,
        keras_class="Circle",
        note="example 4 is alone in its class: no positive pair, a loss of 0 (it is still the others' negative).",
    ),
    Case(
        "circle",
        "one_class",
        circle_batch([1, 1, 1, 1]),
        int_label=True,
        keras_class="Circle",
        note="every example of one class: no negative pair, a loss of 0 everywhere, a zero gradient.",
    ),
    Case(
        "circle",
        "ref_set",
        circle_refs,
        int_label=True,
        extra_inputs=("ref_labels", "ref_embeddings"),
        note="6 queries against 9 references; query 3's class has no reference (0); remove_diagonal (default) "
        "drops the pairs (i, i), i < 6, of which three share a class: query 2's only positive (0).",
    ),
    Case(
        "categorical_generalized_cross_entropy",
        "q0_5",
        sparse_probs,
        {"q": 0.5},
        int_label=True,
        keras_class="CategoricalGeneralizedCrossEntropy",
    ),
    Case(
        "categorical_generalized_cross_entropy",
        "q0_7_rows_not_normalised",
        sparse(probs=True),
        {"q": 0.7},
        int_label=True,
        note="y_pred rows are positive and do not sum to 1: Keras takes them as they are (no normalisation).",
    ),
    Case(
        "categorical_generalized_cross_entropy",
        "q1",
        sparse_probs,
        {"q": 1.0},
        int_label=True,
        note="q = 1: 1 - p_y (the Keras class refuses q = 1, the function computes it).",
    ),
]
CASES += CIRCLE_GCE_CASES


# ---------------------------------------------------------------------------- runner


def mean_is_float32() -> bool:
    """Whether ``keras.ops.mean`` of float64 values is computed in float32 (Keras 3.15.1 on JAX: yes)."""
    x = np.array([1 / 3, 1 / 7, 1 / 11])
    return float(keras.ops.mean(jnp.asarray(x))) != float(np.mean(x))


def run_case(case: Case) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    fn = getattr(keras.losses, case.function)
    # the function's own source: does it reduce its last axis with ops.mean?
    uses_mean = "ops.mean(" in inspect.getsource(inspect.unwrap(fn))
    y_true, y_pred, *rest = case.build(np.random.default_rng(case.rng_seed))
    if len(rest) != len(case.extra_inputs):
        raise ValueError(f"{case.stem}: built {len(rest)} extra inputs for extra_inputs={case.extra_inputs}")
    y_true = y_true.astype(np.int64) if case.int_label else y_true.astype(np.float64)
    y_pred = y_pred.astype(np.float64)
    # extra inputs: int64 if built as integers (labels), else float64
    extras = {
        name: value.astype(np.int64 if np.issubdtype(value.dtype, np.integer) else np.float64)
        for name, value in zip(case.extra_inputs, rest)
    }
    t, p = jnp.asarray(y_true), jnp.asarray(y_pred)
    given = {name: jnp.asarray(value) for name, value in extras.items()}

    out = np.asarray(fn(t, p, **given, **case.kwargs))
    grads = {"grad_y_pred": np.asarray(jax.grad(lambda q: jnp.sum(fn(t, q, **given, **case.kwargs)))(p))}
    for name, value in extras.items():
        if value.dtype == np.float64:

            def total(v: Any, name: str = name) -> Any:
                return jnp.sum(fn(t, p, **{**given, name: v}, **case.kwargs))

            grads[f"grad_{name}"] = np.asarray(jax.grad(total)(given[name]))
    for what, value in (("out", out), *grads.items()):
        if value.dtype != np.float64:
            raise TypeError(f"{case.stem}: Keras computed {what} in {value.dtype}, expected float64")
        if not np.isfinite(value).all():
            raise FloatingPointError(f"{case.stem}: non-finite {what}")

    meta = {
        "function": case.function,
        "kwargs": case.kwargs,
        "dtype": "float64",
        "mean_in_float32": uses_mean and mean_is_float32(),
        "int_label": case.int_label,
        "note": case.note,
        "seed": case.rng_seed,
        "keras_version": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "jax_version": jax.__version__,
        "epsilon": keras.config.epsilon(),
    }
    if case.extra_inputs:
        meta["extra_inputs"] = list(case.extra_inputs)
    data = {"meta": np.array(json.dumps(meta)), "y_true": y_true, "y_pred": y_pred, **extras, "out": out, **grads}
    if case.keras_class:
        meta["keras_class"] = case.keras_class
        data["meta"] = np.array(json.dumps(meta))
        data["class_out"] = np.asarray(getattr(keras.losses, case.keras_class)(**case.kwargs)(t, p), dtype=np.float64)
    return meta, data


def main() -> None:
    if keras.backend.backend() != "jax":
        raise SystemExit(f"run with KERAS_BACKEND=jax (got {keras.backend.backend()!r})")
    keras.config.set_floatx("float64")

    def line(case: Case, meta: dict[str, Any], data: dict[str, np.ndarray]) -> str:
        mean32 = " (float32 mean)" if meta["mean_in_float32"] else ""
        return f"{case.stem:60s} out{tuple(data['out'].shape)!s:8s} grad{tuple(data['grad_y_pred'].shape)}{mean32}"

    write_fixtures(
        CASES,
        description=__doc__.splitlines()[0],
        default_out=DEFAULT_OUT,
        run=run_case,
        line=line,
        done=f" (Keras {keras.__version__})",
    )


if __name__ == "__main__":
    main()
