"""losskit against the real Keras 3.15.1, and the two losses ported from it.

Golden results and gradients of ``keras.losses.*`` functions come from
``tools/make_keras_fixtures.py`` (see tests/fixtures/keras/README.md). ``PORTS`` maps each Keras
function onto the losskit loss, options and input conventions that compute the same thing; a
constant factor or a convention that differs is written there and checked by the fixtures.
Values are compared on every backend, gradients with respect to ``y_pred`` on PyTorch and JAX.

Conventions shared by every port:

- argument order: Keras takes ``(y_true, y_pred)``, losskit ``(pred, label)``;
- reduction: a Keras loss function reduces the last axis only (``(N, T, D)`` gives ``(N, T)``);
  losskit averages every axis but the batch axis. For 2-D inputs they agree; otherwise losskit's
  result is the mean of Keras's over its non-batch axes, and its gradient Keras's divided by
  their size.

The second half tests :class:`losskit.SquaredLogErrorLoss` and
:class:`losskit.AbsolutePercentageErrorLoss` against closed forms, their errors and identities.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, to_backend, to_numpy

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "keras"
FIXTURES = sorted(FIXTURE_DIR.glob("*__*.npz"))
EPS = 1e-7  # keras.config.epsilon()


def load(path: Path) -> tuple[dict, dict]:
    data = np.load(path, allow_pickle=False)
    return json.loads(str(data["meta"])), {k: data[k] for k in data.files if k != "meta"}


# ---- the ports: Keras function -> losskit ----------------------------------------------------

Fn = Callable[..., Any]  # (pred, label, **extra inputs of the fixture) -> (N,)


@dataclass(frozen=True)
class Port:
    """How losskit computes one Keras function.

    ``make(kwargs)`` returns ``f(pred, label)`` on any backend; ``label_map`` rewrites Keras's
    ``y_true`` (a NumPy array) before it reaches losskit; ``shift`` is added to losskit's result
    to give Keras's (a constant: the gradients agree). Tolerances are float64's unless the port
    says why not.
    """

    make: Callable[[dict], Fn]
    label_map: Callable[[np.ndarray], np.ndarray] | None = None
    shift: float = 0.0
    tol: dict[str, float] = field(default_factory=lambda: {"rtol": 1e-9, "atol": 1e-10})
    grad_tol: dict[str, float] = field(default_factory=lambda: {"rtol": 1e-9, "atol": 1e-10})


def _xp(x: Any) -> Any:
    return array_api_compat.array_namespace(x)


def _log(x: Any) -> Any:
    return _xp(x).log(x)


def _logit(p: Any) -> Any:
    xp = _xp(p)
    return xp.log(p) - xp.log1p(-p)


def _class_axis(x: Any) -> Any:
    """``(N, ...)`` -> ``(N, 1, ...)``: one class, for the segmentation losses."""
    return _xp(x).expand_dims(x, axis=1)


def _keras_hinge_labels(y: np.ndarray) -> np.ndarray:
    """Keras's ``convert_binary_labels_to_hinge``: {0, 1} labels (all of them) become {-1, 1}."""
    return 2 * y - 1 if np.isin(y, (0, 1)).all() else y


def _probs_or_logits(kw: dict, on_logits: Callable[[], Fn], transform: Callable[[Any], Any]) -> Fn:
    """Keras's ``from_logits=False`` takes probabilities: losskit gets ``transform(p)`` (log or logit)."""
    loss = on_logits()
    return loss if kw.get("from_logits") else (lambda p, y: loss(transform(p), y))


def _circle(kw: dict) -> Fn:
    """Keras's ``circle``: its keyword inputs ``ref_labels`` and ``ref_embeddings`` are
    :class:`losskit.CircleLoss`'s call arguments after ``sample_weight``."""
    loss = losskit.CircleLoss(
        gamma=kw.get("gamma", 80.0), margin=kw.get("margin", 0.4), remove_diagonal=kw.get("remove_diagonal", True)
    )
    return lambda p, y, ref_labels=None, ref_embeddings=None: loss(p, y, None, ref_embeddings, ref_labels)


# Keras's Dice and Tversky add epsilon to the denominator only, where losskit's smooth enters
# both: with smooth=0 the values differ by eps * (1 - loss) / denominator, below 1e-7 for these
# inputs (every denominator exceeds 1), and the gradients by the relative eps / denominator.
SEGMENTATION_TOL = {"rtol": 0.0, "atol": 1e-7}
SEGMENTATION_GRAD_TOL = {"rtol": 1e-6, "atol": 1e-9}

PORTS: dict[str, Port] = {
    # mean((y - p)**2, -1): L2Loss halves its weight, so weight=2
    "mean_squared_error": Port(lambda kw: losskit.L2Loss(weight=2.0)),
    "mean_absolute_error": Port(lambda kw: losskit.L1Loss()),
    "mean_absolute_percentage_error": Port(lambda kw: losskit.AbsolutePercentageErrorLoss()),
    "mean_squared_logarithmic_error": Port(lambda kw: losskit.SquaredLogErrorLoss()),
    # Keras: 0.5 d**2 within delta, delta (|d| - delta/2) beyond; losskit: d**2 / (2 rho) and
    # |d| - rho/2: Keras's is delta times losskit's
    "huber": Port(lambda kw: losskit.HuberLoss(rho=kw["delta"], weight=kw["delta"])),
    "log_cosh": Port(lambda kw: losskit.LogCoshLoss()),
    # y_pred is a rate: from_logits=False, with Keras's epsilon inside the log (a call argument)
    "poisson": Port(lambda kw: lambda p, y: losskit.PoissonNLLLoss(from_logits=False)(p, y, None, EPS)),
    # Keras takes probabilities and sums over the last axis; KLDivLoss takes log-probabilities
    # (from_logits=True, its default) and sums over the non-batch axes
    "kl_divergence": Port(lambda kw: lambda p, y: losskit.KLDivLoss()(_log(p), y)),
    # from_logits=False: probabilities; losskit puts 1e-12 inside the log where Keras clips at
    # 1e-7, equal to ~1e-11 relative for probabilities in (0.04, 0.96). label_smoothing: Keras's
    # y (1 - ls) + ls / 2, losskit's same-named option
    "binary_crossentropy": Port(
        lambda kw: losskit.SigmoidBCELoss(
            from_sigmoid=not kw.get("from_logits", False), label_smoothing=kw.get("label_smoothing", 0.0)
        )
    ),
    # Keras smooths one-hot labels to (1 - ls) y + ls / C, as losskit's label_smoothing on dense
    # labels; probabilities p (Keras divides them by their sum) are log p to losskit, whose
    # log_softmax(log p) = log(p / sum p) is that same normalisation
    "categorical_crossentropy": Port(
        lambda kw: _probs_or_logits(
            kw, lambda: losskit.SoftmaxCELoss(sparse_label=False, label_smoothing=kw.get("label_smoothing", 0.0)), _log
        )
    ),
    # ignore_class -> ignore_index (0 loss, 0 gradient at those positions)
    "sparse_categorical_crossentropy": Port(
        lambda kw: _probs_or_logits(kw, lambda: losskit.SoftmaxCELoss(ignore_index=kw.get("ignore_class")), _log)
    ),
    # Keras converts {0, 1} labels to {-1, 1} (when every label is 0 or 1); losskit takes {-1, 1}
    "hinge": Port(lambda kw: losskit.HingeLoss(), label_map=_keras_hinge_labels),
    "squared_hinge": Port(lambda kw: losskit.SquaredHingeLoss(), label_map=_keras_hinge_labels),
    # Keras's default apply_class_balancing=False ignores alpha: losskit's alpha=None; with it,
    # alpha_t = alpha y + (1 - alpha)(1 - y), as losskit. Probabilities p are logit(p) to losskit.
    # label_smoothing: the smoothed label in the BCE, p_t and alpha_t alike, in Keras and losskit
    "binary_focal_crossentropy": Port(
        lambda kw: _probs_or_logits(
            kw,
            lambda: losskit.SigmoidFocalLoss(
                alpha=kw.get("alpha", 0.25) if kw.get("apply_class_balancing") else None,
                gamma=kw.get("gamma", 2.0),
                label_smoothing=kw.get("label_smoothing", 0.0),
            ),
            _logit,
        )
    ),
    # Keras's alpha (default 0.25) scales every class, as a number alpha of SoftmaxFocalLoss
    # (default None); dense labels; probabilities p are log p (normalised by the softmax)
    "categorical_focal_crossentropy": Port(
        lambda kw: _probs_or_logits(
            kw,
            lambda: losskit.SoftmaxFocalLoss(
                gamma=kw.get("gamma", 2.0), alpha=kw.get("alpha", 0.25), sparse_label=False
            ),
            _log,
        )
    ),
    # Keras pools the axes it is given (one "class"); losskit's DiceLoss averages per-class
    # scores: one class axis of size 1 makes them agree. Probabilities, smooth=0
    "dice": Port(
        lambda kw: lambda p, y: losskit.DiceLoss(smooth=0.0, from_logits=False)(_class_axis(p), _class_axis(y)),
        tol=SEGMENTATION_TOL,
        grad_tol=SEGMENTATION_GRAD_TOL,
    ),
    # Keras's alpha weighs sum(y (1 - p)), the missed target (losskit's FN, beta), and its beta
    # sum(p (1 - y)), the false alarm (losskit's FP, alpha): the two are swapped
    "tversky": Port(
        lambda kw: (
            lambda p, y: losskit.TverskyLoss(alpha=kw["beta"], beta=kw["alpha"], smooth=0.0, from_logits=False)(
                _class_axis(p), _class_axis(y)
            )
        ),
        tol=SEGMENTATION_TOL,
        grad_tol=SEGMENTATION_GRAD_TOL,
    ),
    # max(max((1 - y) p) - sum(y p) + 1, 0), one-hot y
    "categorical_hinge": Port(lambda kw: losskit.CategoricalHingeLoss()),
    # Keras returns -cos; CosineDistanceLoss is 1 - cos: Keras's is losskit's minus 1
    "cosine_similarity": Port(lambda kw: losskit.CosineDistanceLoss(), shift=-1.0),
    # (1 - p_y**q) / q of probabilities p taken as they are: log p with from_logits=True (the
    # default, a softmax, would renormalise rows that do not sum to 1)
    "categorical_generalized_cross_entropy": Port(
        lambda kw: lambda p, y: losskit.GeneralizedCrossEntropyLoss(q=kw["q"], from_logits=True)(_log(p), y)
    ),
    # embeddings and class labels, the same options (Keras's defaults, gamma 80, margin 0.4)
    "circle": Port(lambda kw: _circle(kw)),
}


def _call_port(port: Port, meta: dict, arrays: dict, backend: str) -> tuple[Fn, Any, Any, dict[str, Any]]:
    """The port's function, pred, label, and the fixture's extra inputs by name (circle's reference
    set: float ones in float64, labels as they are), all on ``backend``."""
    label = arrays["y_true"] if port.label_map is None else port.label_map(arrays["y_true"])
    pred = to_backend(arrays["y_pred"], backend, "float64")
    extras = {name: to_backend(arrays[name], backend, "float64") for name in meta.get("extra_inputs", ())}
    label = to_backend(label, backend, None if meta["int_label"] else "float64")
    return port.make(meta["kwargs"]), pred, label, extras


def _expected(port: Port, arrays: dict) -> tuple[np.ndarray, float]:
    """Keras's result in losskit's convention (the mean over its non-batch axes, minus the
    port's shift), and the size of those axes, which divides Keras's gradient."""
    out = arrays["out"]
    n = out.shape[0]
    per_example = out.reshape(n, -1)
    return per_example.mean(axis=1) - port.shift, per_example.shape[1]


def _grad(fn: Fn, pred: Any, label: Any, backend: str) -> np.ndarray:
    if backend == "torch":
        import torch

        pred.requires_grad_(True)
        (g,) = torch.autograd.grad(fn(pred, label).sum(), [pred])
        return to_numpy(g)
    import jax

    return to_numpy(jax.grad(lambda p: fn(p, label).sum())(pred))


# Keras 3.15.1 on JAX takes ops.mean in float32 whatever the input (its type promotion maps
# float64 to float32 off TensorFlow): the functions reducing with it (meta "mean_in_float32":
# mean_squared_error, huber, binary_crossentropy, hinge, ...) are float64 elementwise, then a
# float32 mean of C = 5 values: a relative error up to ~C * 2**-24 = 3e-7 of the terms' size
# (losses of order 1; poisson's terms of mixed sign included), and in the gradient only the
# float32 1/C, a relative error below 2**-24. A wrong sign or a dropped term is off by 1e-2 or more.
FLOAT32_MEAN_TOL = {"rtol": 1e-6, "atol": 1e-6}
FLOAT32_MEAN_GRAD_TOL = {"rtol": 1e-7, "atol": 1e-12}


def check_against_keras(path: Path) -> None:
    meta, arrays = load(path)
    assert meta["keras_version"] == "3.15.1" and meta["dtype"] == "float64"
    port = PORTS[meta["function"]]
    tol, grad_tol = port.tol, port.grad_tol
    if meta["mean_in_float32"]:
        tol, grad_tol = FLOAT32_MEAN_TOL, FLOAT32_MEAN_GRAD_TOL
    want, axes_size = _expected(port, arrays)
    for backend in BACKENDS:
        fn, pred, label, extras = _call_port(port, meta, arrays, backend)
        got = to_numpy(fn(pred, label, **extras))
        assert got.shape == want.shape, (backend, got.shape, want.shape)
        np.testing.assert_allclose(got, want, err_msg=f"{backend} value", **tol)
    want_grad = arrays["grad_y_pred"] / axes_size
    for backend in AUTOGRAD_BACKENDS:
        fn, pred, label, extras = _call_port(port, meta, arrays, backend)
        got = _grad(lambda p, y, fn=fn, extras=extras: fn(p, y, **extras), pred, label, backend)
        np.testing.assert_allclose(got, want_grad, err_msg=f"{backend} gradient", **grad_tol)
        for name in extras:  # the float extra inputs (ref_embeddings) have a gradient of their own
            if f"grad_{name}" in arrays:

                def with_extra(v, y, fn=fn, pred=pred, extras=extras, name=name):
                    return fn(pred, y, **{**extras, name: v})

                got = _grad(with_extra, extras[name], label, backend)
                want_extra = arrays[f"grad_{name}"] / axes_size
                np.testing.assert_allclose(got, want_extra, err_msg=f"{backend} gradient of {name}", **grad_tol)


@pytest.mark.parametrize("path", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_losskit_matches_keras(path: Path) -> None:
    check_against_keras(path)


KERAS_FUNCTIONS = {
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "huber", "log_cosh", "poisson", "kl_divergence", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky",
    "categorical_generalized_cross_entropy", "circle",
}  # fmt: skip


def test_every_keras_function_has_a_port_and_fixtures() -> None:
    covered = {load(p)[0]["function"] for p in FIXTURES}
    assert covered == KERAS_FUNCTIONS == set(PORTS), (covered ^ KERAS_FUNCTIONS, set(PORTS) ^ KERAS_FUNCTIONS)


def test_the_fixtures_exercise_what_they_claim() -> None:
    """The cases are where the conventions matter: clamps active, labels converted, ignored rows."""
    _, msle = load(FIXTURE_DIR / "mean_squared_logarithmic_error__clamped.npz")
    assert (msle["y_pred"] < EPS).any() and (msle["y_true"] < EPS).any()
    assert (msle["grad_y_pred"][msle["y_pred"] < EPS] == 0).all()  # Keras's clamp: no gradient below eps
    _, mape = load(FIXTURE_DIR / "mean_absolute_percentage_error__near_zero_labels.npz")
    assert (np.abs(mape["y_true"]) < EPS).sum() == 2
    _, hinge = load(FIXTURE_DIR / "hinge__binary_labels.npz")
    assert set(np.unique(hinge["y_true"])) == {0.0, 1.0}
    _, sparse = load(FIXTURE_DIR / "sparse_categorical_crossentropy__ignore_class.npz")
    ignored = sparse["y_true"] == -1
    assert ignored.any() and (sparse["out"][ignored] == 0).all() and (sparse["grad_y_pred"][ignored] == 0).all()


def test_the_ports_that_differ_are_not_the_naive_mapping() -> None:
    """The factor of huber, the label conversion of hinge, the swap of Tversky's alpha and beta
    and the weight of 2 of MSE are needed: without them losskit differs from Keras."""
    naive = {
        "huber__delta2.npz": lambda: losskit.HuberLoss(rho=2.0),
        "hinge__binary_labels.npz": lambda: losskit.HingeLoss(),
        "mean_squared_error__default.npz": lambda: losskit.L2Loss(),
        "tversky__alpha0_3_beta0_7.npz": lambda: (
            lambda p, y: losskit.TverskyLoss(alpha=0.3, beta=0.7, smooth=0.0, from_logits=False)(p[:, None], y[:, None])
        ),
    }
    for name, make in naive.items():
        _, arrays = load(FIXTURE_DIR / name)
        got = make()(arrays["y_pred"], arrays["y_true"])
        assert np.abs(got - arrays["out"]).max() > 1e-3, name


SMOOTHING_FIXTURES = [
    "binary_crossentropy__from_logits_smoothing0_1.npz",
    "binary_crossentropy__probs_soft_smoothing0_3.npz",
    "binary_focal_crossentropy__from_logits_balanced_smoothing0_2.npz",
    "binary_focal_crossentropy__probs_soft_gamma1_5_smoothing0_1.npz",
]


@pytest.mark.parametrize("name", SMOOTHING_FIXTURES)
def test_keras_label_smoothing_goes_towards_one_half(name: str) -> None:
    """The binary label_smoothing fixtures need the smoothing, and Keras's kind of it: without it,
    or smoothing towards 0 (``y (1 - ls)``, as a one-class categorical smoothing would), losskit
    is off by more than 1e-3; with the label smoothed towards 1/2 by hand and no option, it agrees."""
    meta, arrays = load(FIXTURE_DIR / name)
    kw, ls = dict(meta["kwargs"]), meta["kwargs"]["label_smoothing"]
    assert ls > 0
    fn = PORTS[meta["function"]].make({**kw, "label_smoothing": 0.0})
    want, _ = _expected(PORTS[meta["function"]], arrays)
    p, y = arrays["y_pred"], arrays["y_true"]
    assert np.abs(fn(p, y) - want).max() > 1e-3  # no smoothing
    assert np.abs(fn(p, y * (1 - ls)) - want).max() > 1e-3  # towards 0
    np.testing.assert_allclose(fn(p, y * (1 - ls) + ls / 2), want, **FLOAT32_MEAN_TOL)  # towards 1/2


def test_the_circle_and_gce_fixtures_exercise_what_they_claim() -> None:
    """The cap at similarity 1 is active, the examples without a positive or a negative pair cost 0
    with no gradient, and the GCE probabilities of one case do not sum to 1."""
    _, capped = load(FIXTURE_DIR / "circle__capped_similarities.npz")
    e, y = capped["y_pred"], capped["y_true"]
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    assert ((e @ e.T)[same] > 1 + 1e-3).sum() >= 4  # positive pairs past the cap
    _, single = load(FIXTURE_DIR / "circle__singleton_class.npz")
    alone = [i for i, c in enumerate(single["y_true"]) if (single["y_true"] == c).sum() == 1]
    assert alone == [4] and single["out"][4] == 0 and (np.delete(single["out"], 4) > 1).all()
    _, one = load(FIXTURE_DIR / "circle__one_class.npz")
    assert (one["out"] == 0).all() and (one["grad_y_pred"] == 0).all()
    _, refs = load(FIXTURE_DIR / "circle__ref_set.npz")
    assert 3 not in refs["ref_labels"] and refs["out"][3] == 0 and (refs["grad_y_pred"][3] == 0).all()
    n = len(refs["y_true"])
    assert (refs["y_true"] == refs["ref_labels"][:n]).sum() == 3  # pairs (i, i) that remove_diagonal drops
    # query 2's only positive is reference 2: Keras's remove_diagonal leaves it none, a loss of 0
    assert list(np.flatnonzero(refs["ref_labels"] == refs["y_true"][2])) == [2] and refs["out"][2] == 0
    _, kept = load(FIXTURE_DIR / "circle__gamma32_margin0_25_keep_diagonal.npz")
    assert (np.abs(np.diag(kept["y_pred"] @ kept["y_pred"].T) - 1) > 0.05).all()  # s_ii off the cap
    _, gce = load(FIXTURE_DIR / "categorical_generalized_cross_entropy__q0_7_rows_not_normalised.npz")
    assert np.abs(gce["y_pred"].sum(axis=1) - 1).min() > 0.04


def test_circle_and_gce_ports_are_not_the_naive_mapping() -> None:
    """GCE of Keras's probabilities needs from_logits=True (a softmax of log p renormalises the
    rows); Keras's remove_diagonal drops the pairs (i, i) of a separate reference set too; the
    diagonal matters where it is kept."""
    _, gce = load(FIXTURE_DIR / "categorical_generalized_cross_entropy__q0_7_rows_not_normalised.npz")
    naive = losskit.GeneralizedCrossEntropyLoss(q=0.7)(np.log(gce["y_pred"]), gce["y_true"])
    assert np.abs(naive - gce["out"]).max() > 1e-2
    _, refs = load(FIXTURE_DIR / "circle__ref_set.npz")
    naive = losskit.CircleLoss(remove_diagonal=False)(
        refs["y_pred"], refs["y_true"], None, refs["ref_embeddings"], refs["ref_labels"]
    )
    assert naive[2] > 1 and refs["out"][2] == 0
    _, kept = load(FIXTURE_DIR / "circle__gamma32_margin0_25_keep_diagonal.npz")
    naive = losskit.CircleLoss(gamma=32.0, margin=0.25)(kept["y_pred"], kept["y_true"])
    assert naive[7] == 0 and kept["out"][7] > 1  # example 7, alone in its class, is its own positive


def test_keras_class_reductions() -> None:
    """``keras.losses.Circle`` averages over the examples whose loss is above 0 (a Keras mask; 0
    when there is none); ``CategoricalGeneralizedCrossEntropy`` over every example."""
    fixtures = [p for p in FIXTURES if "class_out" in load(p)[1]]
    assert {p.stem for p in fixtures} == {
        "circle__default",
        "circle__singleton_class",
        "circle__one_class",
        "categorical_generalized_cross_entropy__q0_5",
    }
    for path in fixtures:
        meta, arrays = load(path)
        port = PORTS[meta["function"]]
        fn, pred, label, extras = _call_port(port, meta, arrays, "numpy")
        out = fn(pred, label, **extras)
        if meta["keras_class"] == "Circle":
            want = out.sum() / max((out > 0).sum(), 1)
        else:
            want = out.mean()
        np.testing.assert_allclose(want, arrays["class_out"], rtol=1e-12, atol=0, err_msg=path.stem)
    # the mask's mean is not the plain mean where an example costs 0
    _, single = load(FIXTURE_DIR / "circle__singleton_class.npz")
    assert abs(single["out"].mean() - single["class_out"]) > 1


# ---- SquaredLogErrorLoss and AbsolutePercentageErrorLoss: closed forms ------------------------

rng = np.random.default_rng(7)
N, D = 5, 4


def msle_reference(p: np.ndarray, y: np.ndarray, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """The elementwise MSLE (Keras's definition, in NumPy) and its derivative in ``p``."""
    pc, yc = np.maximum(p, eps), np.maximum(y, eps)
    r = np.log(1 + pc) - np.log(1 + yc)
    return r**2, np.where(p >= eps, 2 * r / (1 + pc), 0.0)


def mape_reference(p: np.ndarray, y: np.ndarray, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """The elementwise MAPE and its derivative in ``p``."""
    den = np.maximum(np.abs(y), eps)
    return 100 * np.abs(y - p) / den, -100 * np.sign(y - p) / den


REFERENCES = {"SquaredLogErrorLoss": msle_reference, "AbsolutePercentageErrorLoss": mape_reference}


def _inputs(loss_name: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Values on both sides of epsilon = 0.05, never at it: every other one below (a generator of
    its own, so that the inputs do not depend on which tests ran before)."""
    gen = np.random.default_rng(11)
    below = np.arange(math.prod(shape)).reshape(shape) % 2 == 0
    if loss_name == "SquaredLogErrorLoss":
        p = np.where(below, gen.uniform(-0.5, 0.04, size=shape), gen.uniform(0.06, 3, size=shape))
        return p, np.where(~below, gen.uniform(-0.5, 0.04, size=shape), gen.uniform(0.06, 3, size=shape))
    sign = gen.choice([-1.0, 1.0], size=shape)
    y = sign * np.where(below, gen.uniform(0.001, 0.04, size=shape), gen.uniform(0.06, 3, size=shape))
    return y + gen.choice([-1.0, 1.0], size=shape) * gen.uniform(0.05, 2, size=shape), y


@pytest.mark.parametrize("loss_name", sorted(REFERENCES))
@pytest.mark.parametrize("batch_axis", [0, 1])
def test_closed_form_with_weights_and_batch_axis(loss_name: str, batch_axis: int) -> None:
    """Three axes, batch_axis 0 or 1, a sample_weight and weight, epsilon=0.05 so that the clamp
    acts: values on every backend, gradients (with respect to pred) on PyTorch and JAX."""
    shape = (N, D, 3)
    p, y = _inputs(loss_name, shape)
    sw_shape = [1, 1, 1]
    sw_shape[batch_axis] = shape[batch_axis]
    sw = rng.uniform(0.5, 2, size=sw_shape)
    elem, d_elem = REFERENCES[loss_name](p, y, 0.05)
    axes = tuple(i for i in range(3) if i != batch_axis)
    count = math.prod(shape[i] for i in axes)
    want = 0.7 * (sw * elem).sum(axis=axes) / count
    want_grad = 0.7 * sw * d_elem / count
    loss = getattr(losskit, loss_name)(epsilon=0.05, weight=0.7, batch_axis=batch_axis)
    for backend in BACKENDS:
        args = [to_backend(a, backend, "float64") for a in (p, y, sw)]
        np.testing.assert_allclose(to_numpy(loss(*args)), want, rtol=1e-12, atol=1e-12, err_msg=backend)
    for backend in AUTOGRAD_BACKENDS:
        pred, label, weight = (to_backend(a, backend, "float64") for a in (p, y, sw))
        got = _grad(lambda q, t, w=weight: loss(q, t, w), pred, label, backend)
        np.testing.assert_allclose(got, want_grad, rtol=1e-12, atol=1e-12, err_msg=backend)


def test_closed_form_label_gradient() -> None:
    """The label is differentiable too: the derivative of each formula in ``label``."""
    torch = pytest.importorskip("torch")
    p, y = _inputs("SquaredLogErrorLoss", (N, D))
    yc = np.maximum(y, EPS)
    r = np.log1p(np.maximum(p, EPS)) - np.log1p(yc)
    cases = [
        (losskit.SquaredLogErrorLoss(), p, y, np.where(y >= EPS, -2 * r / (1 + yc), 0.0) / D),
    ]
    p2, y2 = _inputs("AbsolutePercentageErrorLoss", (N, D))
    y2[0, 0] = 1e-9  # clamped denominator: |y - p| / eps, derivative sign(y - p) / eps
    a = np.abs(y2)
    d = np.where(a >= EPS, np.sign(y2 - p2) / a - np.abs(y2 - p2) * np.sign(y2) / a**2, np.sign(y2 - p2) / EPS)
    cases.append((losskit.AbsolutePercentageErrorLoss(), p2, y2, 100 * d / D))
    for loss, pred, label, want in cases:
        t = torch.tensor(label, requires_grad=True)
        (g,) = torch.autograd.grad(loss(torch.tensor(pred), t).sum(), [t])
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-10, atol=1e-12)


def test_the_clamps_are_keras_and_give_no_gradient_below_epsilon() -> None:
    torch = pytest.importorskip("torch")
    pred = torch.tensor([[-3.0, 0.0, 1e-8, 2.0]], dtype=torch.float64, requires_grad=True)
    out = losskit.MSLELoss()(pred, torch.full((1, 4), 0.5, dtype=torch.float64))
    want = np.mean([(np.log1p(EPS) - np.log1p(0.5)) ** 2] * 3 + [(np.log1p(2.0) - np.log1p(0.5)) ** 2])
    np.testing.assert_allclose(out.item(), want, rtol=1e-14)
    (g,) = torch.autograd.grad(out.sum(), [pred])
    assert (g[0, :3] == 0).all() and g[0, 3] > 0
    # a label of 0 in MAPE divides by epsilon: 100 |p| / 1e-7
    out = losskit.MAPELoss()(torch.tensor([[0.25]], dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
    np.testing.assert_allclose(out.item(), 100 * 0.25 / EPS, rtol=1e-14)


def test_gradient_at_a_perfect_prediction_is_zero() -> None:
    """|label - pred| differentiates to sign(0) = 0 on every autograd backend (JAX's abs gives 1)."""
    y = np.array([[0.5, -2.0, 3.0]])
    for backend in AUTOGRAD_BACKENDS:
        for loss in (losskit.MAPELoss(), losskit.MSLELoss()):
            g = _grad(loss, to_backend(y, backend, "float64"), to_backend(y, backend, "float64"), backend)
            np.testing.assert_array_equal(g, 0.0, err_msg=f"{type(loss).__name__} {backend}")


# ---- identities ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_identities(backend: str) -> None:
    def close(a, b, **tol):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), **({"rtol": 1e-12, "atol": 1e-13} | tol))

    b = lambda x: to_backend(x, backend, "float64")  # noqa: E731
    p, y = rng.uniform(0.1, 5, size=(N, D)), rng.uniform(0.1, 5, size=(N, D))
    # above epsilon, MSLE is the squared error of log1p: L2Loss(weight=2) of the transformed inputs
    close(losskit.SquaredLogErrorLoss()(b(p), b(y)), losskit.L2Loss(weight=2.0)(b(np.log1p(p)), b(np.log1p(y))))
    # symmetric in pred and label
    close(losskit.SquaredLogErrorLoss()(b(p), b(y)), losskit.SquaredLogErrorLoss()(b(y), b(p)))
    # a prediction off by the factor (1 + r) of the label: MAPE is 100 |r|
    r = rng.uniform(-0.9, 0.9, size=(N, 1))
    close(losskit.AbsolutePercentageErrorLoss()(b(y * (1 + r)), b(y)), 100 * np.abs(r[:, 0]))
    # labels of one magnitude c: MAPE is 100 / c times the absolute error
    c = 2.5
    close(
        losskit.AbsolutePercentageErrorLoss()(b(p), b(np.full((N, D), -c))),
        100 / c * losskit.L1Loss()(b(p), b(-c + 0 * p)),
    )
    # the functional forms are the classes; the aliases are the classes
    close(F.squared_log_error_loss(b(p), b(y), epsilon=0.3), losskit.SquaredLogErrorLoss(epsilon=0.3)(b(p), b(y)))
    close(F.absolute_percentage_error_loss(b(p), b(y), weight=2.0), losskit.MAPELoss(weight=2.0)(b(p), b(y)))
    assert losskit.MSLELoss is losskit.SquaredLogErrorLoss and losskit.MAPELoss is losskit.AbsolutePercentageErrorLoss


def test_registry_and_aliases() -> None:
    for name, alias in (("SquaredLogErrorLoss", "MSLELoss"), ("AbsolutePercentageErrorLoss", "MAPELoss")):
        info = losskit.loss_info(alias.lower())
        assert (info.name, info.family, info.aliases) == (name, "regression", (alias,))
        assert info.params == {"epsilon": 1e-7}
        assert type(losskit.get_loss(alias, epsilon=0.5)) is getattr(losskit, name)
        assert repr(losskit.get_loss(alias, epsilon=0.5)).count("0.5") == 1
    assert {"SquaredLogErrorLoss", "AbsolutePercentageErrorLoss"} <= set(losskit.list_losses("regression"))
    # MSLE is drawn as the other regression losses, at label 0; MAPE at label 1 (plot._percentage_slice)
    assert losskit.loss_info("MSLELoss").curve == "regression" and losskit.loss_info("MAPELoss").curve is None


def test_float16_computes_in_float32_and_returns_float16() -> None:
    torch = pytest.importorskip("torch")
    p, y = rng.uniform(0.5, 3, size=(N, D)), rng.uniform(0.5, 3, size=(N, D))
    for loss in (losskit.MSLELoss(), losskit.MAPELoss()):
        for dtype in (torch.float16, torch.bfloat16):
            ph, yh = torch.tensor(p).to(dtype), torch.tensor(y).to(dtype)
            out = loss(ph, yh)
            assert out.dtype == dtype
            want = loss(ph.double(), yh.double())  # the same rounded inputs, in float64
            np.testing.assert_allclose(
                out.double().numpy(), want.numpy(), rtol=4e-3 if dtype == torch.float16 else 2e-2
            )


@pytest.mark.parametrize("dtype_name, magnitude", [("float32", 1e30), ("float16", 6e4), ("bfloat16", 1e30)])
def test_finite_at_extreme_inputs(dtype_name: str, magnitude: float) -> None:
    """MSLE stays finite at any finite input (log1p of the clamped value); MAPE too, as long as
    the percentage fits the dtype (float16 overflows past 65504, a relative error of 655)."""
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, dtype_name)
    x = torch.tensor([[-magnitude, -1.0, 0.0, 1e-8, 1.0, magnitude]], dtype=dtype, requires_grad=True)
    for loss, label in ((losskit.MSLELoss(), torch.zeros_like(x)), (losskit.MSLELoss(), torch.full_like(x, magnitude))):
        out = loss(x, label)
        (g,) = torch.autograd.grad(out.float().sum(), [x])
        assert out.dtype == dtype and torch.isfinite(out.float()).all() and torch.isfinite(g.float()).all()
    label = torch.tensor([[-4.0, 2.0, 1.0, 1.0, -2.0, 4.0]], dtype=dtype)
    small = torch.tensor([[-3.0, 1.0, 0.0, 1e-3, 2.0, 5.0]], dtype=dtype, requires_grad=True)
    out = losskit.MAPELoss()(small, label)
    (g,) = torch.autograd.grad(out.float().sum(), [small])
    assert out.dtype == dtype and torch.isfinite(out.float()).all() and torch.isfinite(g.float()).all()


# ---- errors -------------------------------------------------------------------------------------

_X = np.ones((3, 4))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: losskit.SquaredLogErrorLoss(epsilon=-1e-3), ValueError, r"epsilon must be in \[0, inf\), got -0.001"),
        (lambda: losskit.SquaredLogErrorLoss(epsilon=math.nan), ValueError, "epsilon must be in"),
        (lambda: losskit.SquaredLogErrorLoss(epsilon=math.inf), ValueError, "epsilon must be in"),
        (lambda: losskit.SquaredLogErrorLoss(epsilon="1e-7"), TypeError, "epsilon must be a real number, got '1e-7'"),
        (lambda: losskit.SquaredLogErrorLoss(epsilon=True), TypeError, "epsilon must be a real number, got True"),
        (lambda: losskit.SquaredLogErrorLoss(eps=1e-3), TypeError, "unexpected keyword arguments: eps"),
        (lambda: losskit.AbsolutePercentageErrorLoss(epsilon=0.0), ValueError, r"epsilon must be in \(0, inf\), got 0"),
        (lambda: losskit.AbsolutePercentageErrorLoss(epsilon=-1.0), ValueError, r"epsilon must be in \(0, inf\)"),
        (
            lambda: losskit.AbsolutePercentageErrorLoss(epsilon=None),
            TypeError,
            "epsilon must be a real number, got None",
        ),
        (lambda: losskit.MAPELoss(weight="2"), TypeError, "weight must be a number or None, got '2'"),
        (lambda: losskit.MSLELoss(weight=math.inf), ValueError, "weight must be finite"),
        (lambda: losskit.MSLELoss(batch_axis=0.5), TypeError, "batch_axis must be an int"),
        (lambda: F.squared_log_error_loss(_X, _X, epsilon=-1.0), ValueError, "epsilon must be in"),
        (lambda: F.absolute_percentage_error_loss(_X, _X, epsilon=0), ValueError, r"epsilon must be in \(0, inf\)"),
        (lambda: F.absolute_percentage_error_loss(_X, _X, epsilon=[1e-7]), TypeError, "epsilon must be a real number"),
    ],
)
def test_invalid_options_raise(make, error, match) -> None:
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("loss", [losskit.SquaredLogErrorLoss(), losskit.AbsolutePercentageErrorLoss()], ids=repr)
def test_input_errors_name_the_inputs_and_leave_them_unchanged(loss) -> None:
    pred, label = np.arange(1.0, 13.0).reshape(3, 4), np.arange(2.0, 14.0).reshape(3, 4)
    before = pred.copy(), label.copy()
    with pytest.raises(ValueError, match=re.escape("label shape (3, 5) does not match pred shape (3, 4)")):
        loss(pred, np.ones((3, 5)))
    with pytest.raises(ValueError, match=re.escape("label shape (4,) does not match pred shape (3, 4)")):
        loss(pred, np.ones(4))  # never broadcast
    with pytest.raises(
        ValueError, match=re.escape("sample_weight shape (3,) does not broadcast to the loss shape (3, 4)")
    ):
        loss(pred, label, np.ones(3))
    with pytest.raises(ValueError, match=re.escape("batch_axis=2 is out of range for an input with 2 axes")):
        type(loss)(batch_axis=2)(pred, label)
    with pytest.raises(TypeError, match="pred must be a real floating-point array, got dtype int64"):
        loss(np.ones((3, 4), dtype=np.int64), label)
    with pytest.raises(TypeError, match="label must hold real numbers, got dtype complex128"):
        loss(pred, label.astype(complex))
    with pytest.raises(TypeError, match="same array library"):
        loss(pred, label.tolist())
    np.testing.assert_array_equal(pred, before[0])
    np.testing.assert_array_equal(label, before[1])
    # a label of (N,) serves a pred of (N, 1), as every Gluon loss
    np.testing.assert_array_equal(loss(pred[:, :1], label[:, 0]), loss(pred[:, :1], label[:, :1]))
