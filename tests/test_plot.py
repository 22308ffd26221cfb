"""losskit.plot: the curves hold what the losses compute, gradients come from autograd, errors are clear."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import losskit  # noqa: E402
from custom_losses import Pinball  # noqa: E402
from losskit import plot, registry  # noqa: E402
from losskit.losses.base import Loss  # noqa: E402

X = np.linspace(-5.0, 5.0, 41)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def lines_by_gid(ax: Any) -> dict[str, Any]:
    return {line.get_gid(): line for line in ax.get_lines()}


def pointwise_names(kind: str) -> list[str]:
    return [n for n in losskit.list_losses() if losskit.loss_info(n).curve == kind]


@pytest.mark.parametrize(("kind", "label"), [("regression", 0.0), ("binary", 1.0)])
def test_compare_draws_each_registered_loss_with_the_tutorials_label(kind: str, label: float) -> None:
    names = pointwise_names(kind)
    assert names
    ax = plot.compare(names, x=X)
    lines = lines_by_gid(ax)
    assert ax.get_title() == f"label fixed at {label:g}"
    assert ax.get_xlabel() == "prediction x" and ax.get_ylabel() == "loss"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == names
    for name in names:
        line = lines[f"loss:{name}"]
        # the tutorial's show_*_loss, one example of one class per point (a 1-D pred is one example of
        # MultiLabelSoftMarginLoss, as torch's)
        expected = losskit.get_loss(name)(X[:, None], np.full((X.size, 1), label))
        np.testing.assert_allclose(line.get_xdata(), X)
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12, atol=1e-12)


def test_plot_loss_applies_params_label_and_default_range() -> None:
    ax = plot.plot_loss("huberloss", label=2.0, rho=0.5)
    (line,) = ax.get_lines()
    x = np.asarray(line.get_xdata())
    assert x[0] == -5.0 and x[-1] == 5.0 and x.size == plot.DEFAULT_POINTS
    expected = losskit.HuberLoss(rho=0.5)(x, np.full_like(x, 2.0))
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
    assert line.get_label() == "HuberLoss(rho=0.5)"
    assert ax.get_title() == "label fixed at 2"


def _two_class(x: np.ndarray) -> np.ndarray:
    return np.stack([x, np.zeros_like(x)], axis=-1)


# each slice of a loss without a registry ``curve``, rebuilt here by hand from its description
DIRECT = {
    "SoftmaxCrossEntropyLoss": lambda loss, x: loss(_two_class(x), np.zeros(x.shape, dtype=np.int64)),
    "KLDivLoss": lambda loss, x: loss(
        _two_class(x) - np.log(np.exp(x) + 1)[:, None], np.tile([0.75, 0.25], (x.size, 1))
    ),
    "PoissonNLLLoss": lambda loss, x: loss(x, np.ones_like(x)),
    "TripletLoss": lambda loss, x: loss(x[:, None], np.zeros((x.size, 1)), np.full((x.size, 1), 2.0)),
    "CosineEmbeddingLoss": lambda loss, x: loss(
        np.stack([x, np.ones_like(x)], -1), np.tile([1.0, 0.0], (x.size, 1)), np.ones(x.size, dtype=np.int64)
    ),
    "SDMLLoss": lambda loss, x: np.array([loss(np.array([[v], [1.0]]), np.array([[0.0], [1.0]]))[0] for v in x]),
    "CTCLoss": lambda loss, x: loss(
        np.repeat(_two_class(x)[:, None, :], 2, axis=1), np.zeros((x.size, 1), dtype=np.int64)
    ),
    "NLLLoss": lambda loss, x: loss(_two_class(x) - np.log(np.exp(x) + 1)[:, None], np.zeros(x.shape, dtype=np.int64)),
    "JSDLoss": lambda loss, x: loss(_two_class(x) - np.log(np.exp(x) + 1)[:, None], np.tile([0.75, 0.25], (x.size, 1))),
    "InfoNCELoss": lambda loss, x: np.array(
        [loss(np.array([[v, 1.0, 0.0], [0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))[0] for v in x]
    ),
    "CircleLoss": lambda loss, x: np.array(
        [loss(np.array([[v, 1.0] / np.hypot(v, 1.0), [1.0, 0.0], [0.0, 1.0]]), np.array([0, 0, 1]))[0] for v in x]
    ),
    "NTXentLoss": lambda loss, x: np.array(
        [loss(np.array([[v, 1.0] / np.hypot(v, 1.0), [1.0, 0.0], [0.0, 1.0]]), np.array([0, 0, 1]))[0] for v in x]
    ),
    "SupConLoss": lambda loss, x: np.array(
        [loss(np.array([[v, 1.0] / np.hypot(v, 1.0), [1.0, 0.0], [0.0, 1.0]]), np.array([0, 0, 1]))[0] for v in x]
    ),
    "TripletMarginWithDistanceLoss": lambda loss, x: loss(x[:, None], np.zeros((x.size, 1)), np.full((x.size, 1), 2.0)),
    "DiceLoss": lambda loss, x: loss(np.repeat(x[:, None, None], 4, axis=2), np.ones((x.size, 1, 4))),
    "JaccardLoss": lambda loss, x: loss(np.repeat(x[:, None, None], 4, axis=2), np.ones((x.size, 1, 4))),
    "DistillationLoss": lambda loss, x: loss(_two_class(x), np.tile([1.0, 0.0], (x.size, 1))),
    "TverskyLoss": lambda loss, x: loss(np.repeat(x[:, None, None], 4, axis=2), np.ones((x.size, 1, 4))),
}


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_slices_of_losses_without_a_registry_curve(name: str) -> None:
    assert losskit.loss_info(name).curve is None
    ax = plot.plot_loss(name, x=X)
    (line,) = ax.get_lines()
    expected = DIRECT[name](losskit.get_loss(name), X)
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-10, atol=1e-12)
    assert ax.get_title()  # the slice says what it fixes


def test_every_registered_loss_has_a_curve_or_a_reason() -> None:
    for name in losskit.list_losses():
        curve = plot.curve_for(name)
        if curve.fn is None:
            assert curve.reason, name
            continue
        _, values, _ = plot.curve_data(curve, points=11)
        assert values.shape == (11,) and np.isfinite(values).any(), name


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# ----------------------------------------------------------------------------------------------
# the slices of NLLLoss, JSDLoss, InfoNCELoss, DiceLoss and TverskyLoss against closed forms


def _jsd(x: np.ndarray, p: float, beta: float) -> np.ndarray:
    # beta KL(P || M) + (1 - beta) KL(Q || M), P = (p, 1 - p), Q = softmax([x, 0]), M = beta P + (1 - beta) Q
    big_p = np.array([p, 1 - p])[None, :]
    q = np.stack([_sigmoid(x), _sigmoid(-x)], axis=-1)
    m = beta * big_p + (1 - beta) * q
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(big_p > 0, big_p * np.log(big_p / m), 0.0).sum(-1)
    return beta * kl_p + (1 - beta) * (q * np.log(q / m)).sum(-1)


def _tversky(x: np.ndarray, t: float, alpha: float, beta: float, smooth: float, pixels: int = 4) -> np.ndarray:
    # every pixel predicted p = sigmoid(x), every pixel of the mask labelled t
    p = _sigmoid(x)
    inter = pixels * p * t
    fp, fn = pixels * p - inter, pixels * t - inter
    return 1 - (inter + smooth) / (inter + alpha * fp + beta * fn + smooth)


def _circle(x: np.ndarray, gamma: float = 80.0, m: float = 0.4) -> np.ndarray:
    # the slice's first example: s_p = x / r with (1, 0), s_n = 1 / r with (0, 1), r = sqrt(1 + x^2)
    r = np.sqrt(1 + x**2)
    s_p, s_n = x / r, 1 / r
    a_p, a_n = np.maximum(1 + m - s_p, 0), np.maximum(s_n + m, 0)
    return np.logaddexp(0, gamma * (a_n * (s_n - m) - a_p * (s_p - 1 + m)))


def _falling(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.full(x.shape, True), np.full(x.shape, False)


def _rising(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.full(x.shape, False), np.full(x.shape, True)


# (loss, its parameters, the curve's label, the closed form, where the derivative is < 0 and > 0)
CLOSED_FORMS = [
    ("NLLLoss", {}, None, lambda x: np.logaddexp(0, -x), _falling),
    ("NLLLoss", {}, 1, lambda x: np.logaddexp(0, x), _rising),
    ("NLLLoss", {"axis": -1}, None, lambda x: np.logaddexp(0, -x), _falling),
    ("JSDLoss", {}, None, lambda x: _jsd(x, 0.75, 0.5), lambda x: (x < np.log(3), x > np.log(3))),
    (
        "JSDLoss",
        {"beta": 0.3, "from_logits": False},
        0.2,
        lambda x: _jsd(x, 0.2, 0.3),
        lambda x: (x < np.log(0.25), x > np.log(0.25)),
    ),
    ("JSDLoss", {}, 1.0, lambda x: _jsd(x, 1.0, 0.5), _falling),
    (
        "InfoNCELoss",
        {},
        None,
        lambda x: np.logaddexp(0, -x / np.sqrt(1 + x**2) / 0.1),
        _falling,
    ),
    (
        "InfoNCELoss",
        {"temperature": 0.5, "symmetric": False},
        None,
        lambda x: np.logaddexp(0, -x / np.sqrt(1 + x**2) / 0.5),
        _falling,
    ),
    # its positive's cosine x / r against a negative's 1 / r: rising up to x = -1, falling after
    (
        "NTXentLoss",
        {},
        None,
        lambda x: np.logaddexp(0, (1 - x) / np.sqrt(1 + x**2) / 0.07),
        lambda x: (x > -1, x < -1),
    ),
    (
        "NTXentLoss",
        {"temperature": 0.5},
        None,
        lambda x: np.logaddexp(0, (1 - x) / np.sqrt(1 + x**2) / 0.5),
        lambda x: (x > -1, x < -1),
    ),
    (  # one positive: SupCon is NT-Xent, at SupCon's temperature
        "SupConLoss",
        {},
        None,
        lambda x: np.logaddexp(0, (1 - x) / np.sqrt(1 + x**2) / 0.1),
        lambda x: (x > -1, x < -1),
    ),
    ("CircleLoss", {}, None, lambda x: _circle(x), _falling),
    ("CircleLoss", {"gamma": 8.0, "margin": 0.25}, None, lambda x: _circle(x, 8.0, 0.25), _falling),
    # two classes scoring [x, 0] (the softmax rule): p_0 = sigmoid(x), (1 - p_0**q) / q
    ("GeneralizedCrossEntropyLoss", {"q": 0.5}, None, lambda x: (1 - _sigmoid(x) ** 0.5) / 0.5, _falling),
    ("GeneralizedCrossEntropyLoss", {"q": 1.0}, 1, lambda x: _sigmoid(x), _rising),
    ("DiceLoss", {}, None, lambda x: _tversky(x, 1.0, 0.5, 0.5, 1.0), _falling),
    (
        "DiceLoss",
        {"from_logits": False, "smooth": 0.1, "axis": -1},
        None,
        lambda x: _tversky(x, 1.0, 0.5, 0.5, 0.1),
        _falling,
    ),
    ("DiceLoss", {}, 0.0, lambda x: _tversky(x, 0.0, 0.5, 0.5, 1.0), _rising),
    ("TverskyLoss", {}, None, lambda x: _tversky(x, 1.0, 0.5, 0.5, 1.0), _falling),
    (
        "TverskyLoss",
        {"alpha": 0.2, "beta": 0.8, "smooth": 0.5},
        None,
        lambda x: _tversky(x, 1.0, 0.2, 0.8, 0.5),
        _falling,
    ),
    (
        "TverskyLoss",
        {"alpha": 0.7, "beta": 0.3, "from_logits": False},
        0.5,
        lambda x: _tversky(x, 0.5, 0.7, 0.3, 1.0),
        _falling,  # a soft mask of 0.5 is still best met by p = 1, not p = 0.5
    ),
    # one pixel: the Lovasz extension of one error is the error, 1 - p(true class)
    ("LovaszSoftmaxLoss", {}, None, lambda x: 1 / (1 + np.exp(x)), _falling),
    ("LovaszSoftmaxLoss", {"axis": -1, "classes": "all"}, 1, lambda x: 1 / (1 + np.exp(-x)), _rising),
    ("LovaszSoftmaxLoss", {"from_logits": False}, 0, lambda x: 1 / (1 + np.exp(x)), _falling),
    # scores [x, 0]: the target's margin over its rival is x (class 0) or -x (class 1)
    ("MultiLabelMarginLoss", {}, None, lambda x: np.maximum(0, 1 - x) / 2, _falling),
    ("MultiLabelMarginLoss", {"axis": 1}, 1, lambda x: np.maximum(0, 1 + x) / 2, _rising),
    ("CategoricalHingeLoss", {}, 0, lambda x: np.maximum(0, 1 - x), _falling),
    ("CategoricalHingeLoss", {}, 1, lambda x: 1 + np.maximum(0, x), _rising),  # Keras's max((1 - z) x) >= 0
    ("RankingSoftmaxLoss", {}, None, lambda x: np.logaddexp(0, -x), _falling),
    ("RankingSoftmaxLoss", {}, 1, lambda x: np.logaddexp(0, x), _rising),
    ("SparsemaxLoss", {}, None, lambda x: np.where(x >= 1, 0, np.where(x <= -1, -x, (1 - x) ** 2 / 4)), _falling),
    ("CosineDistanceLoss", {}, None, lambda x: 1 - x / np.sqrt(x**2 + 1), _falling),
    ("HingeEmbeddingLoss", {"margin": 2.0}, None, lambda x: np.maximum(0, 2 - x), _falling),
    ("HingeEmbeddingLoss", {}, 1, lambda x: x, _rising),
]


def _grad_backend() -> str:
    present = [name for name in plot.AUTOGRAD_BACKENDS if plot.importable(name)]
    if not present:
        pytest.skip("neither torch nor jax is installed")
    return present[0]


@pytest.mark.parametrize(
    ("name", "params", "label", "closed_form", "signs"),
    CLOSED_FORMS,
    ids=[f"{c[0]}-{c[1]}-label={c[2]}" for c in CLOSED_FORMS],
)
def test_new_slices_match_their_closed_form_and_slope(
    name: str, params: dict, label: float | None, closed_form: Any, signs: Any
) -> None:
    curve = plot.curve_for(name, label, **params)
    assert curve.fn is not None and curve.what and curve.xlabel != "prediction x", curve.reason
    np.testing.assert_allclose(curve.fn(X), closed_form(X), rtol=1e-10, atol=1e-12)
    x, values, grads = plot.curve_data(curve, grad=True, backend="torch" if plot.importable("torch") else None)
    assert x[0] == -5.0 and x[-1] == 5.0  # the default range
    np.testing.assert_allclose(values, closed_form(x), rtol=1e-5, atol=1e-6)
    # the derivative by autograd against central differences of the closed form; at a kink (the
    # hinges' x = 1), where the one-sided slopes differ, a subgradient between them (h small: where
    # f'' jumps, as sparsemax's at 1, the central difference is off by h |jump| / 8)
    h = 1e-7
    left, right = (closed_form(x) - closed_form(x - h)) / h, (closed_form(x + h) - closed_form(x)) / h
    kink = np.abs(left - right) > 1e-3
    assert kink.sum() <= 2
    np.testing.assert_allclose(
        grads[~kink], (closed_form(x + h) - closed_form(x - h))[~kink] / (2 * h), rtol=1e-4, atol=1e-7
    )
    low, high = np.minimum(left, right)[kink], np.maximum(left, right)[kink]
    assert ((low - 1e-6 <= grads[kink]) & (grads[kink] <= high + 1e-6)).all()
    falling, rising = signs(x)
    away = np.abs(grads) > 1e-12  # where the derivative is within rounding of 0 its sign means nothing
    assert (grads[falling & away] < 0).all() and (grads[rising & away] > 0).all()
    assert (falling & away).any() or (rising & away).any()


@pytest.mark.parametrize(
    "name",
    [
        "NLLLoss",
        "JSDLoss",
        "InfoNCELoss",
        "CircleLoss",
        "NTXentLoss",
        "TripletHardLoss",
        "TripletSemiHardLoss",
        "SupConLoss",
        "TripletMarginWithDistanceLoss",
        "DiceLoss",
        "JaccardLoss",
        "TverskyLoss",
        "DistillationLoss",
    ],
)
@pytest.mark.parametrize("backend", plot.AUTOGRAD_BACKENDS)
def test_new_slices_and_their_derivatives_are_finite_on_the_default_range(name: str, backend: str) -> None:
    if not plot.importable(backend):
        pytest.skip(f"{backend} is not installed")
    x, values, grads = plot.curve_data(plot.curve_for(name), grad=True, backend=backend)
    assert x.size == plot.DEFAULT_POINTS and (x[0], x[-1]) == plot.DEFAULT_RANGE
    assert np.isfinite(values).all() and np.isfinite(grads).all()
    assert np.ptp(values) > 1e-3  # a curve, not a constant


@pytest.mark.parametrize("label", [0, 1])
def test_nll_slice_is_the_softmax_cross_entropy_slice(label: int) -> None:
    # NLLLoss of log_softmax(logits) is the cross-entropy of the logits, point by point
    nll, ce = plot.curve_for("NLLLoss", label), plot.curve_for("SoftmaxCrossEntropyLoss", label)
    np.testing.assert_allclose(nll.fn(X), ce.fn(X), rtol=1e-12, atol=1e-12)
    backend = _grad_backend()
    _, nll_values, nll_grads = plot.curve_data(nll, X, grad=True, backend=backend)
    _, ce_values, ce_grads = plot.curve_data(ce, X, grad=True, backend=backend)
    np.testing.assert_allclose(nll_values, ce_values, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(nll_grads, ce_grads, rtol=1e-6, atol=1e-7)
    assert "log_softmax([x, 0])" in nll.what and f"true class {label}" in nll.what


def test_new_slices_reject_what_they_cannot_draw() -> None:
    with pytest.raises(ValueError, match="label must be 0 or 1"):
        plot.curve_for("NLLLoss", label=2)
    with pytest.raises(ValueError, match=r"target probability of class 0, in \[0, 1\]"):
        plot.curve_for("JSDLoss", label=1.5)
    with pytest.raises(ValueError, match="the InfoNCE curve has no label"):
        plot.curve_for("InfoNCELoss", label=1)
    with pytest.raises(ValueError, match="the circle curve has no label"):
        plot.curve_for("CircleLoss", label=1)
    with pytest.raises(ValueError, match="the NT-Xent curve has no label"):
        plot.curve_for("NTXentLoss", label=1)
    with pytest.raises(ValueError, match=r"every pixel of the mask, in \[0, 1\]"):
        plot.curve_for("DiceLoss", label=2)
    assert "the NLL curve puts the classes on axis 1 or -1" in plot.curve_for("NLLLoss", axis=0).reason
    assert "not the batch axis" in plot.curve_for("TverskyLoss", axis=0).reason
    # an axis the slice's pred does not have: said so (CosineDistance's curve failed when drawn,
    # Dice's axis=3 was called the batch axis)
    for name, axis, ndim in [("CosineDistanceLoss", 3, 2), ("SoftmaxCELoss", -3, 2), ("DiceLoss", 3, 3)]:
        curve = plot.curve_for(name, axis=axis)
        assert curve.fn is None and f"axis={axis} is out of range for the" in curve.reason, curve.reason
        assert f"{ndim}-axis pred" in curve.reason


# ----------------------------------------------------------------------------------------------
# options that change what the loss takes or gives: the curve follows them, or says why it can't


def test_from_sigmoid_draws_bce_against_a_probability() -> None:
    """With from_sigmoid=True the input is a probability: x in (0, 1), never the logits' -5..5."""
    curve = plot.curve_for("SigmoidBCELoss", from_sigmoid=True)
    assert curve.xlabel == "predicted probability x" and curve.what == "probability x, label fixed at 1"
    x, values, grads = plot.curve_data(curve, grad=True, backend=_grad_backend())
    assert 0 < x[0] and x[-1] < 1
    np.testing.assert_allclose(values, -np.log(x), rtol=1e-5)
    np.testing.assert_allclose(grads, -1 / x, rtol=1e-4)  # finite: no -1e12 spike at x = 0
    x, values, _ = plot.curve_data(plot.curve_for("SigmoidBCELoss", 0.0, from_sigmoid=True))
    np.testing.assert_allclose(values, -np.log(1 - x), rtol=1e-9)


def test_rates_are_drawn_away_from_zero() -> None:
    x, values, grads = plot.curve_data(plot.curve_for("PoissonNLLLoss", from_logits=False), grad=True)
    assert x[0] > 0 and np.abs(grads).max() < 100  # 1 - 1/(x + eps) was -1e8 at x = 0
    np.testing.assert_allclose(values, x - np.log(x), rtol=1e-6)


def test_percentage_error_is_drawn_against_a_label_of_one() -> None:
    # at label 0 the relative error is |x| / epsilon: 1e9 |x|, a true but useless curve
    x, values, grads = plot.curve_data(plot.curve_for("MAPELoss"), grad=True)
    assert plot.curve_for("MAPELoss").what == "label fixed at 1"
    np.testing.assert_allclose(values, 100 * np.abs(x - 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[x > 1.01], 100.0)
    np.testing.assert_allclose(grads[x < 0.99], -100.0)


def test_log_target_passes_the_targets_log() -> None:
    # the same target, given by its log: the same divergence, 0 where softmax([x, 0]) meets it
    plain, logged = plot.curve_for("KLDivLoss"), plot.curve_for("KLDivLoss", log_target=True)
    np.testing.assert_allclose(logged.fn(X), plain.fn(X), rtol=1e-12, atol=1e-12)
    assert logged.fn(np.array([np.log(3)])) == pytest.approx(0, abs=1e-12)
    assert logged.what.endswith("passed as its log")
    # a target probability of 1 is a log-target of -inf, where the loss takes 0 * -inf as 0
    np.testing.assert_allclose(plot.curve_for("KLDivLoss", 1.0, log_target=True).fn(X), np.logaddexp(0, -X))


@pytest.mark.parametrize("sparse_label", [True, False])
@pytest.mark.parametrize("label", [0, 1])
def test_softmax_from_logits_takes_log_softmax(sparse_label: bool, label: int) -> None:
    """from_logits=True: pred is log-probabilities, log_softmax([x, 0]) (it was [x, 0], the line -x)."""
    curve = plot.curve_for("SoftmaxCELoss", label, from_logits=True, sparse_label=sparse_label)
    np.testing.assert_allclose(curve.fn(X), plot.curve_for("SoftmaxCELoss", label).fn(X), rtol=1e-12, atol=1e-12)
    assert "log_softmax([x, 0])" in curve.what and curve.xlabel == "logit of class 0, x"


def test_softmax_rule_follows_the_losss_options() -> None:
    # SoftmaxFocalLoss is drawn by the family's softmax rule, which was given no options: dense labels had no curve
    dense = plot.curve_for("SoftmaxFocalLoss", sparse_label=False)
    np.testing.assert_allclose(dense.fn(X), plot.curve_for("SoftmaxFocalLoss").fn(X), rtol=1e-12)


def test_multilabel_curve_has_one_value_per_point_and_a_class_per_weight() -> None:
    curve = plot.curve_for("MultiLabelSoftMarginLoss")
    assert curve.what == "label fixed at 1"
    np.testing.assert_allclose(curve.fn(X), np.logaddexp(0, -X), rtol=1e-12)
    weighted = plot.curve_for("MultiLabelSoftMarginLoss", class_weight=[1.0, 2.0])
    assert weighted.what == "2 classes, each predicted x, label fixed at 1"
    np.testing.assert_allclose(weighted.fn(X), 1.5 * np.logaddexp(0, -X), rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "params", "reason"),
    [
        ("SoftmaxCELoss", {"reduction": "mean"}, "reduction='mean' gives one number for the whole batch"),
        ("NLLLoss", {"reduction": "sum"}, "reduction='sum' gives one number for the whole batch"),
        ("SoftmaxCELoss", {"axis": 0}, "the softmax curve puts the classes on axis 1 or -1"),
        ("SoftmaxFocalLoss", {"axis": 0}, "the softmax curve puts the classes on axis 1 or -1"),
        ("JSDLoss", {"axis": 0}, "the divergence curve puts the classes on axis 1 or -1"),
        ("KLDivLoss", {"axis": 0, "from_logits": False}, "the divergence curve puts the classes on axis 1 or -1"),
        ("LovaszSoftmaxLoss", {"axis": 0}, "the Lovasz-Softmax curve puts the classes on axis 1 or -1"),
        ("ArcFaceLoss", {"axis": 0}, "the cosine softmax curve puts the classes on axis 1 or -1"),
        ("DistillationLoss", {"axis": 0}, "the distillation curve puts the classes on axis 1 or -1"),
        ("LovaszSoftmaxLoss", {"ignore_index": 0}, "ignore_index=0 drops the curve's one pixel"),
        ("MultiLabelMarginLoss", {"axis": 0}, "the two-class curve puts the classes on axis 1 or -1"),
        ("CosineDistanceLoss", {"axis": 0}, "the cosine distance curve puts the vectors on axis 1 or -1"),
    ],
)
def test_options_without_a_curve_say_why(name: str, params: dict, reason: str) -> None:
    curve = plot.curve_for(name, **params)
    assert curve.fn is None and reason in curve.reason


def test_a_curve_must_give_one_value_per_point() -> None:
    summed = plot.Curve("Summed", "Summed", lambda x: x.sum(keepdims=True))
    with pytest.raises(ValueError, match=r"values of shape \(1,\) for 5 points, not one per point"):
        plot.curve_data(summed, points=5)


@pytest.mark.parametrize("label", [0.5, -1.0, np.nan])
@pytest.mark.parametrize("name", ["SoftmaxCELoss", "NLLLoss", "SoftmaxFocalLoss", "PolyLoss", "MultiMarginLoss"])
def test_class_labels_are_not_truncated(name: str, label: float) -> None:
    with pytest.raises(ValueError, match="label must be"):
        plot.curve_for(name, label)


@pytest.mark.parametrize("label", [2.0, -0.5])
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("SigmoidBCELoss", {}),
        ("SigmoidBCELoss", {"from_sigmoid": True}),
        ("SigmoidFocalLoss", {}),
        ("AsymmetricLoss", {}),
        ("MultiLabelSoftMarginLoss", {}),
        ("LogisticLoss", {"label_format": "binary"}),
    ],
)
def test_a_probability_label_outside_zero_one_is_refused(name: str, params: dict, label: float) -> None:
    """A label of 2 drew SigmoidBCE's loss from 10 down to -5, unremarked."""
    with pytest.raises(ValueError, match=r"probability of the positive class, in \[0, 1\]"):
        plot.curve_for(name, label, **params)
    assert plot.curve_for(name, 0.25, **params).fn is not None  # a soft label is drawn


def test_a_signed_logistic_label_outside_minus_one_one_is_refused() -> None:
    """LogisticLoss's label 3 drew 10 down to -5 (the diff review's find)."""
    with pytest.raises(ValueError, match=r"signed label is in \[-1, 1\]"):
        plot.curve_for("LogisticLoss", 3.0)
    assert plot.curve_for("LogisticLoss", -1.0).fn is not None


@pytest.mark.parametrize("name", ["L2Loss", "HingeLoss", "PoissonNLLLoss", "GaussianNLLLoss", "SigmoidBCELoss"])
def test_a_non_finite_label_is_refused(name: str) -> None:
    for label in (np.nan, np.inf):
        with pytest.raises(ValueError, match="label must be a finite number"):
            plot.curve_for(name, label)


@pytest.mark.parametrize(
    ("name", "params", "derivative"),
    [
        ("L2Loss", {}, lambda x: x),
        ("HuberLoss", {"rho": 2.0}, lambda x: np.clip(x / 2.0, -1, 1)),
        ("LogisticLoss", {}, lambda x: -_sigmoid(-x)),
        ("SquaredHingeLoss", {"margin": 1.0}, lambda x: -2 * np.maximum(1 - x, 0)),
        ("SoftmaxCrossEntropyLoss", {}, lambda x: -_sigmoid(-x)),
    ],
)
def test_grad_panel_holds_the_derivative(name: str, params: dict, derivative: Any) -> None:
    x = np.array([-3.0, -1.5, -0.25, 0.5, 2.5, 4.0])  # away from kinks
    value_ax, grad_ax = plot.plot_loss(name, x=x, grad=True, **params)
    assert value_ax.figure is grad_ax.figure and grad_ax.get_ylabel() == "d loss / d x"
    (line,) = grad_ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), derivative(x), rtol=1e-9, atol=1e-12)
    loss = losskit.get_loss(name, **params)
    expected = DIRECT[name](loss, x) if name in DIRECT else loss(x, np.full_like(x, _tutorial_label(name)))
    np.testing.assert_allclose(value_ax.get_lines()[0].get_ydata(), expected, rtol=1e-12)


def _tutorial_label(name: str) -> float:
    return 0.0 if losskit.loss_info(name).curve == "regression" else 1.0


def test_gradients_use_torch_then_jax_then_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    present = {name for name in plot.AUTOGRAD_BACKENDS if plot.importable(name)}
    if not present:
        pytest.skip("neither torch nor jax is installed")
    assert plot.autograd_backend() == ("torch" if "torch" in present else "jax")
    if "jax" in present:
        monkeypatch.setattr(plot, "importable", lambda name: name == "jax")
        assert plot.autograd_backend() == "jax"
        x, values, grads = plot.curve_data(plot.curve_for("L2Loss"), [-2.0, 1.0, 3.0], grad=True)
        np.testing.assert_allclose(grads, x, rtol=1e-6)
    monkeypatch.setattr(plot, "importable", lambda name: False)
    with pytest.raises(RuntimeError, match=r"autograd.*pip install 'losskit\[torch\]'"):
        plot.curve_data(plot.curve_for("L2Loss"), grad=True)
    with pytest.raises(RuntimeError, match=r"need jax: pip install 'losskit\[jax\]'"):  # the extra asked for
        plot.autograd_backend("jax")
    with pytest.raises(ValueError, match="NumPy has no autograd"):
        plot.autograd_backend("numpy")


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_values_agree_on_every_installed_backend(backend: str) -> None:
    if not plot.importable(backend):
        pytest.skip(f"{backend} is not installed")
    ax = plot.plot_loss("LogisticLoss", x=X, backend=backend)
    expected = losskit.LogisticLoss()(X, np.ones_like(X))
    tol = 1e-6 if backend == "jax" else 1e-12  # JAX computes in float32 (eps 1.2e-7, values up to 5)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), expected, rtol=tol, atol=tol)


def test_plot_loss_draws_on_given_axes() -> None:
    fig, (a, b) = plt.subplots(1, 2)
    assert plot.plot_loss("L1Loss", ax=a) is a
    assert plot.plot_loss("L2Loss", grad=True, ax=(a, b), x=[0.5, 1.0]) == (a, b)
    assert len(a.get_lines()) == 2 and len(b.get_lines()) == 1
    with pytest.raises(ValueError, match="pair of Axes"):
        plot.plot_loss("L2Loss", grad=True, ax=a)


def test_compare_with_instances_and_mixed_slices() -> None:
    ax = plot.compare([losskit.HingeLoss(margin=2), "L2Loss"], x=X)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["HingeLoss(margin=2) [label fixed at 1]", "L2Loss [label fixed at 0]"]
    np.testing.assert_allclose(
        lines_by_gid(ax)["loss:HingeLoss(margin=2)"].get_ydata(), losskit.HingeLoss(margin=2)(X, np.ones_like(X))
    )


def test_api_errors_name_what_is_valid() -> None:
    with pytest.raises(ValueError, match="valid names: .*L2Loss"):
        plot.plot_loss("NoSuchLoss")
    with pytest.raises(TypeError, match="valid parameters: batch_axis, margin, weight"):  # an unexpected keyword
        plot.plot_loss("HingeLoss", gamma=2)
    with pytest.raises(ValueError, match="label must be 0 or 1"):
        plot.curve_for("SoftmaxCELoss", label=3)
    with pytest.raises(ValueError, match="no label"):
        plot.curve_for("TripletLoss", label=1)
    with pytest.raises(ImportError, match=r"pip install 'losskit\[plot\]'"):
        plot.require("losskit_no_such_module")


def test_plot_module_leaves_the_matplotlib_backend_alone() -> None:
    import subprocess
    import sys

    code = "import losskit.plot, sys; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # imported lazily: notebooks keep their inline backend
    assert matplotlib.get_backend()  # and the tests' own backend is untouched


# ----------------------------------------------------------------------------------------------
# losses registered later: the plot code relies on the registry only


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LOOKUP", dict(registry._LOOKUP))


def test_a_later_loss_is_drawn_from_its_registry_entry(scratch_registry: None) -> None:
    cls = type("QuantileLoss", (Pinball,), {})
    registry.register("regression", curve="regression")(cls)
    ax = plot.plot_loss("quantileloss", x=X, quantile=0.9)
    expected = np.maximum(0.9 * -X, -0.1 * -X)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), expected)
    assert ax.get_lines()[0].get_label() == "QuantileLoss(quantile=0.9)"


def test_a_later_loss_without_curve_gets_its_familys_rule_or_a_reason(scratch_registry: None) -> None:
    registry.register("classification")(type("FocalishLoss", (Pinball,), {}))
    curve = plot.curve_for("FocalishLoss")
    assert curve.what == "label fixed at 1"
    np.testing.assert_allclose(curve.fn(X), np.maximum(0.5 * (1 - X), -0.5 * (1 - X)))

    class WeirdLoss(Loss):
        def __init__(self, weight: float | None = None, batch_axis: int = 0) -> None:
            super().__init__(weight, batch_axis)

        def forward(self, a: Any, b: Any, c: Any, d: Any) -> Any:
            return a

    registry.register("sequence")(WeirdLoss)  # the sequence family has no rule
    curve = plot.curve_for("WeirdLoss")
    assert curve.fn is None and curve.reason.endswith("no generic 1-D slice fits WeirdLoss(a, b, c, d)")
    with pytest.raises(ValueError, match="no 1-D curve"):
        plot.plot_loss("WeirdLoss")


def test_a_later_loss_of_three_inputs_gets_the_rest_as_ones(scratch_registry: None) -> None:
    class VarianceLoss(Loss):
        def __init__(self, weight: float | None = None, batch_axis: int = 0) -> None:
            super().__init__(weight, batch_axis)

        def forward(self, pred: Any, label: Any, var: Any, sample_weight: Any = None) -> Any:
            return (pred - label) ** 2 / var + 0 * var

    registry.register("regression")(VarianceLoss)
    curve = plot.curve_for("VarianceLoss", label=1.0)
    assert (curve.what, curve.xlabel) == ("label fixed at 1, var = 1", "pred x")
    np.testing.assert_allclose(curve.fn(X), (X - 1) ** 2)


def test_display_name_lists_changed_params_only() -> None:
    assert plot.display_name("HuberLoss") == "HuberLoss"
    assert plot.display_name(losskit.HuberLoss(rho=3)) == "HuberLoss(rho=3)"
    assert plot.display_name("LogisticLoss", label_format="binary") == "LogisticLoss(label_format='binary')"


def test_long_legend_entries_are_wrapped() -> None:
    """Mixed slices put what each fixes in the legend; long ones wrap instead of leaving the panel."""
    ax = plot.compare(["NLLLoss", "InfoNCELoss", "L2Loss"], x=X)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[2] == "L2Loss [label fixed at 0]"  # short: one line, as before
    for label, name in zip(labels[:2], ("NLLLoss", "InfoNCELoss")):
        first, *rest = label.split("\n")
        assert first == name and rest and all(len(line) <= 56 for line in rest)
        assert " ".join(rest).startswith("[") and " ".join(rest).endswith("]")


def test_a_weight_is_named_in_the_curves_label():
    """A weight scales the curve: two curves of one loss with different weights were both labelled
    HuberLoss. weight=1 (and SDMLLoss's default of 1) is no change."""
    assert plot.display_name(losskit.HuberLoss(weight=3.0)) == "HuberLoss(weight=3.0)"
    assert plot.display_name("HuberLoss", weight=3.0) == "HuberLoss(weight=3.0)"
    assert plot.display_name("HuberLoss", weight=1) == "HuberLoss"
    assert plot.display_name(losskit.SDMLLoss()) == "SDMLLoss"
    assert plot.display_name(losskit.SDMLLoss(weight=None)) == "SDMLLoss"


@pytest.mark.parametrize("name", ["L2Loss", "SoftmaxCELoss", "TripletLoss", "CircleLoss"])
def test_a_curve_refuses_another_batch_axis(name: str) -> None:
    """The curves lay their inputs out with the batch first: batch_axis=1 gave SoftmaxCELoss one
    number for the whole curve and TripletLoss a zero, silently, and L2Loss a shape error."""
    message = "a curve evaluates the loss with the batch on axis 0; batch_axis=1 does not apply"
    with pytest.raises(ValueError, match=message):
        plot.curve_for(name, batch_axis=1)
    with pytest.raises(ValueError, match=message):
        plot.curve_for(losskit.get_loss(name, batch_axis=1))
    assert plot.curve_for(name, batch_axis=0).name == plot.curve_for(name).name


@pytest.mark.parametrize(("label", "want"), [(0.0, lambda d: np.maximum(1 - d, 0) ** 2), (1.0, lambda d: d**2)])
def test_the_contrastive_curve_is_drawn_against_distances(label: float, want: Any) -> None:
    """Distances are >= 0: the curve spans [0, 3], not the prediction range (-5, 5)."""
    curve = plot.curve_for("ContrastiveLoss", label)
    assert curve.x_range == (0.0, 3.0) and curve.xlabel == "distance d"
    x, values, grads = plot.curve_data(curve, grad=True, backend=_grad_backend())
    assert x[0] == 0.0 and x[-1] == 3.0
    np.testing.assert_allclose(values, want(x), rtol=1e-6, atol=1e-7)
    assert np.isfinite(grads).all()


def test_the_cosine_softmax_losses_are_drawn_on_minus_one_to_one() -> None:
    """ArcFace and CosFace take cosines: drawn on [-1, 1], against their closed forms (two classes
    with cosines [x, 0], true class 0), ArcFace's fallback past theta = pi - m included."""
    x = np.linspace(-1.0, 1.0, 9)
    arc = np.where(x > -np.cos(0.5), np.cos(np.arccos(x) + 0.5), x - 0.5 * np.sin(0.5))
    for name, closed in (
        ("ArcFaceLoss", np.logaddexp(0, -64 * arc)),
        ("CosFaceLoss", np.logaddexp(0, -64 * (x - 0.35))),
    ):
        curve = plot.curve_for(name)
        assert curve.x_range == (-1.0, 1.0) and curve.xlabel == "cosine with class 0, x"
        np.testing.assert_allclose(curve.fn(x), closed, rtol=1e-9, atol=1e-12)
        _, values, grads = plot.curve_data(curve, grad=True, backend="torch" if plot.importable("torch") else None)
        assert np.isfinite(values).all() and np.isfinite(grads).all()  # finite at x = +-1 exactly


def test_an_instance_of_a_users_subclass_is_plotted_as_its_registered_base():
    """A Gluon-style subclass of a losskit loss (README's custom losses) has no registry entry of
    its own: its curve is its base's, drawn by the instance itself; a loss with no registered base
    is refused by name."""

    class MyHuber(losskit.HuberLoss):
        pass

    class Unregistered(losskit.Loss):
        def __init__(self):
            super().__init__(None, 0)

    mine = plot.curve_for(MyHuber(rho=2.0))
    base = plot.curve_for(losskit.HuberLoss(rho=2.0))
    x = np.linspace(-3.0, 3.0, 13)
    np.testing.assert_allclose(mine.fn(x), base.fn(x))
    assert mine.what == base.what
    with pytest.raises(ValueError, match="Unregistered derives from no registered loss"):
        plot.curve_for(Unregistered())
