"""Beyond Gluon (issue 4): bad options and inputs raise clear errors before any work, and every
new loss stays finite, values and gradients, at extreme inputs (as tests/test_gradients.py does
for the Gluon losses)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import losskit
import losskit.functional as F

CW = [1.0, 2.0, 0.5]


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: losskit.SoftmaxCELoss(sparse_label=False, ignore_index=-100), ValueError, "ignore_index needs sparse"),
        (lambda: losskit.SoftmaxCELoss(label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0, 1\]"),
        (lambda: losskit.SoftmaxCELoss(label_smoothing=-0.1), ValueError, "label_smoothing"),
        (lambda: losskit.SoftmaxCELoss(z_loss=-1e-3), ValueError, "z_loss"),
        (lambda: losskit.SoftmaxCELoss(reduction="batchmean"), ValueError, "reduction must be one of"),
        (lambda: losskit.SoftmaxCELoss(ignore_index=1.5), TypeError, "ignore_index must be an int"),
        (lambda: losskit.SoftmaxCELoss(ignore_index=True), TypeError, "ignore_index must be an int"),
        (lambda: losskit.SoftmaxCELoss(class_weight=np.ones((2, 3))), ValueError, "class_weight must be a 1-D"),
        (lambda: losskit.SoftmaxCELoss(class_weight=["a", "b"]), TypeError, "class_weight must be a non-empty"),
        (lambda: losskit.SoftmaxCELoss(class_weight=[]), TypeError, "class_weight"),
        (lambda: losskit.SoftmaxCELoss(label_smoothing="0.1"), TypeError, "label_smoothing must be a real number"),
        (lambda: losskit.NLLLoss(reduction="avg"), ValueError, "reduction"),
        (lambda: losskit.SigmoidFocalLoss(alpha=1.5), ValueError, "alpha"),
        (lambda: losskit.SigmoidFocalLoss(gamma=-1), ValueError, "gamma"),
        (lambda: losskit.SoftmaxFocalLoss(alpha=-0.5), ValueError, "alpha"),
        (lambda: losskit.SoftmaxFocalLoss(alpha=np.ones((2, 2))), ValueError, "alpha"),
        (lambda: losskit.SoftmaxFocalLoss(gamma=float("nan")), ValueError, "gamma"),
        (lambda: losskit.PolyLoss(epsilon=None), TypeError, "epsilon"),
        (lambda: losskit.MultiMarginLoss(p=3), ValueError, "p must be 1 or 2"),
        (lambda: losskit.MultiMarginLoss(margin=-1.0), ValueError, "margin"),
        (lambda: losskit.JSDLoss(beta=0.0), ValueError, r"beta must be in \(0, 1\)"),
        (lambda: losskit.JSDLoss(beta=1.0), ValueError, "beta"),
        (lambda: losskit.GaussianNLLLoss(eps=0.0), ValueError, "eps"),
        (lambda: losskit.QuantileLoss(quantile=1.5), ValueError, "quantile"),
        (lambda: losskit.InfoNCELoss(temperature=0.0), ValueError, "temperature"),
        (lambda: losskit.TverskyLoss(alpha=-0.1), ValueError, "alpha"),
        (lambda: losskit.DiceLoss(smooth=-1.0), ValueError, "smooth"),
        (lambda: losskit.MarginRankingLoss(margin="1"), TypeError, "margin"),
    ],
)
def test_invalid_options_raise_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_functional_forms_check_options_too():
    x, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match="ignore_index needs sparse"):
        F.softmax_cross_entropy(x, np.full((2, 3), 1 / 3), sparse_label=False, ignore_index=-100)
    with pytest.raises(ValueError, match="reduction"):
        F.nll_loss(x, y, reduction="batchmean")
    with pytest.raises(ValueError, match="gamma"):
        F.sigmoid_focal_loss(x, x, gamma=-2.0)


def test_class_weight_length_and_library():
    x, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(
        ValueError, match=re.escape("class_weight has shape (2,) but pred has 3 classes: expected (3,)")
    ):
        losskit.SoftmaxCELoss(class_weight=[1.0, 2.0])(x, y)
    with pytest.raises(ValueError, match=re.escape("alpha has shape (4,) but pred has 3 classes")):
        losskit.SoftmaxFocalLoss(alpha=[1.0, 1.0, 1.0, 1.0])(x, y)
    with pytest.raises(ValueError, match="class_weight has shape"):
        losskit.MultiLabelSoftMarginLoss(class_weight=[1.0, 2.0])(x, x)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="same array library"):
        losskit.SoftmaxCELoss(class_weight=np.ones(3))(torch.zeros(2, 3), torch.tensor([0, 1]))
    # a weight array of the inputs' library is fine, and so is a plain sequence
    out = losskit.SoftmaxCELoss(class_weight=torch.tensor(CW))(torch.zeros(2, 3), torch.tensor([0, 1]))
    torch.testing.assert_close(out, torch.tensor(CW[:2]) * math.log(3))


@pytest.mark.parametrize(
    "make",
    [
        lambda w: (losskit.SoftmaxCELoss(class_weight=w), False),
        lambda w: (losskit.NLLLoss(class_weight=w), False),
        lambda w: (losskit.MultiMarginLoss(class_weight=w), False),
        lambda w: (losskit.MultiLabelSoftMarginLoss(class_weight=w), True),
        lambda w: (losskit.DiceLoss(class_weight=w), True),
    ],
)
def test_class_weight_on_another_device_names_both(make):
    """A torch class weight left on another device (a loss is no nn.Module: model.to() moves none
    of its options) is losskit's ValueError naming both devices, not torch's kernel error."""
    torch = pytest.importorskip("torch")
    loss, dense = make(torch.ones(3, device="meta"))
    x = torch.zeros(2, 3)
    # named by losskit's device check of every call's tensors, before any work (its own check of
    # class_weight is reached only while torch.compile traces, which skips the call's)
    with pytest.raises(ValueError, match=r"pred on cpu; .*\(class_weight, pos_weight, ...\) on meta: move it to cpu"):
        loss(x, torch.zeros(2, 3) if dense else torch.tensor([0, 1]))


def test_ignored_labels_skip_the_range_check_but_others_do_not():
    x = np.zeros((3, 4))
    out = losskit.SoftmaxCELoss(ignore_index=-100)(x, np.array([0, -100, 3]))
    np.testing.assert_allclose(out, [math.log(4), 0.0, math.log(4)])
    with pytest.raises(ValueError, match=r"outside the valid range \[0, 3\]"):
        losskit.SoftmaxCELoss(ignore_index=-100)(x, np.array([0, -5, 3]))
    with pytest.raises(ValueError, match=r"outside the valid range \[0, 3\]"):
        losskit.SoftmaxCELoss(ignore_index=-100)(x, np.array([0, -100, 4]))
    with pytest.raises(ValueError, match=r"outside the valid range"):
        losskit.SoftmaxCELoss()(x, np.array([0, -100, 3]))  # without ignore_index, -100 is a bad label


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=re.escape("var shape (4,) does not fit pred shape (4, 3)")):
        losskit.GaussianNLLLoss()(np.zeros((4, 3)), np.zeros((4, 3)), np.ones(4))
    with pytest.raises(ValueError, match=re.escape("use shape (4, 1)")):
        losskit.GaussianNLLLoss()(np.zeros((4, 3)), np.zeros((4, 3)), np.ones(4))
    with pytest.raises(ValueError, match=re.escape("var shape (4, 1, 1)")):
        losskit.GaussianNLLLoss()(np.zeros((4, 3, 2)), np.zeros((4, 3, 2)), np.ones((4, 1, 1)))
    with pytest.raises(ValueError, match="var holds negative values"):
        losskit.GaussianNLLLoss()(np.zeros((2, 2)), np.zeros((2, 2)), -np.ones((2, 2)))
    with pytest.raises(
        ValueError, match=re.escape("x1 and x2 must both have shape (batch_size, dim); got (4, 3) and (4, 2)")
    ):
        losskit.InfoNCELoss()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch_axis=0 only"):
        losskit.InfoNCELoss(batch_axis=1)(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(
        ValueError, match=re.escape("pred must have a batch and a class axis, (N, C, ...); got shape (4,)")
    ):
        losskit.DiceLoss()(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="must differ"):
        losskit.DiceLoss(axis=0)(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=re.escape("label shape (2, 3, 5) does not match pred shape (2, 3, 4)")):
        losskit.TverskyLoss()(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=re.escape("sparse label shape (2, 3) does not match pred shape (2, 3)")):
        losskit.MultiMarginLoss()(np.zeros((2, 3)), np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="sample_weight shape"):
        losskit.SoftmaxCELoss(reduction="mean")(np.zeros((2, 3)), np.array([0, 1]), np.ones((2, 3)))


def test_errors_leave_inputs_unchanged():
    pred, label = np.arange(6.0).reshape(2, 3), np.array([0, 7])
    before = pred.copy(), label.copy()
    for loss in (losskit.SoftmaxCELoss(ignore_index=-100, label_smoothing=0.1), losskit.SoftmaxFocalLoss()):
        with pytest.raises(ValueError):
            loss(pred, label)
    np.testing.assert_array_equal(pred, before[0])
    np.testing.assert_array_equal(label, before[1])


def test_unknown_option_names_are_refused():
    with pytest.raises(TypeError, match="has no parameter 'smoothing'"):  # as the constructor's
        losskit.get_loss("SoftmaxCELoss", smoothing=0.1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        losskit.SigmoidFocalLoss(beta=2.0)


def test_jit_skips_value_checks_of_captured_constants():
    """Under jax.jit a label captured by the function (not an argument) is not a tracer, but what
    the checks compute from it is: they are skipped there, never a ConcretizationTypeError."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    y = jnp.array([0, -100, 2])
    var = jnp.ones((3, 2))
    f = jax.jit(lambda p: losskit.SoftmaxCELoss(ignore_index=-100, reduction="mean")(p, y))
    assert bool(jnp.isfinite(f(jnp.zeros((3, 3)))))
    g = jax.jit(lambda p: losskit.GaussianNLLLoss()(p, p, var))
    assert g(jnp.zeros((3, 2))).shape == (3,)


# ---- extreme inputs ---------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _logits2(x):
    return torch.stack([x, 0 * x], dim=1)


def _ones(x):
    return torch.ones(x.shape[0], dtype=torch.int64)


def _halves(x):
    return torch.full((x.shape[0], 2), 0.5)


# (loss, init, how to build the inputs from the extreme values x); each loss stays at most ~x
EXTREME = [
    ("SoftmaxCELoss", {"label_smoothing": 0.1, "class_weight": [1.0, 0.5]}, lambda x: (_logits2(x), _ones(x))),
    ("SoftmaxCELoss", {"ignore_index": -100, "reduction": "mean"}, lambda x: (_logits2(x), _ones(x))),
    ("SoftmaxCELoss", {"sparse_label": False, "label_smoothing": 0.2}, lambda x: (_logits2(x), _halves(x))),
    ("NLLLoss", {}, lambda x: (torch.log_softmax(_logits2(x).float(), 1).to(x.dtype), _ones(x))),
    ("SigmoidFocalLoss", {}, lambda x: (x, torch.ones_like(x))),
    ("SigmoidFocalLoss", {"gamma": 0.5, "alpha": None}, lambda x: (x, torch.zeros_like(x))),
    ("SigmoidFocalLoss", {"gamma": 0.5}, lambda x: (x, torch.full_like(x, 0.3))),
    ("SoftmaxFocalLoss", {"gamma": 0.5}, lambda x: (_logits2(x), _ones(x))),
    ("SoftmaxFocalLoss", {"gamma": 0.25, "sparse_label": False}, lambda x: (_logits2(x), _halves(x))),
    ("PolyLoss", {}, lambda x: (_logits2(x), _ones(x))),
    ("SoftMarginLoss", {}, lambda x: (x, torch.ones_like(x))),
    ("MultiLabelSoftMarginLoss", {}, lambda x: (_logits2(x), torch.ones(x.shape[0], 2))),
    ("MultiMarginLoss", {"p": 1}, lambda x: (_logits2(x), _ones(x))),
    ("JSDLoss", {"from_logits": False}, lambda x: (_logits2(x), torch.tensor([[1.0, 0.0]] * x.shape[0]))),
    ("LogCoshLoss", {}, lambda x: (x, torch.zeros_like(x))),
    ("QuantileLoss", {"quantile": 0.9}, lambda x: (x, torch.zeros_like(x))),
    ("MarginRankingLoss", {}, lambda x: (x, torch.zeros_like(x), torch.ones_like(x))),
    ("InfoNCELoss", {"temperature": 0.05}, lambda x: (_logits2(x), torch.stack([x, x], 1))),
    ("DiceLoss", {}, lambda x: (_logits2(x)[:, :, None], torch.tensor([[[0.0], [1.0]]] * x.shape[0]))),
    ("TverskyLoss", {"alpha": 0.3, "beta": 0.7}, lambda x: (x[:, None, None], torch.ones(x.shape[0], 1, 1))),
]  # fmt: skip
MAGNITUDES = [(torch.float32, 1e4), (torch.float16, 6e4), (torch.bfloat16, 1e30)]
EXTREME_PARAMS = [
    pytest.param(*e, dtype, m, id=f"{e[0]}{e[1]}-{str(dtype)[6:]}") for e in EXTREME for dtype, m in MAGNITUDES
]


@pytest.mark.parametrize("loss_name, init, build, dtype, magnitude", EXTREME_PARAMS)
def test_finite_at_extreme_inputs(loss_name, init, build, dtype, magnitude):
    x = torch.tensor([-magnitude, -1.0, 0.0, 1.0, magnitude], dtype=dtype, requires_grad=True)
    out = losskit.get_loss(loss_name, **init)(*build(x))
    assert out.dtype == dtype
    (grad,) = torch.autograd.grad(out.float().sum(), x)
    assert torch.isfinite(out.float()).all(), out
    assert torch.isfinite(grad.float()).all(), grad


def test_sigmoid_focal_exact_at_extremes():
    """At logits of +-1e4 in float32: a confident right answer costs exactly 0 (and gets gradient
    0, also for gamma < 1, where (1 - p_t)**gamma has an infinite derivative at p_t = 1); a
    confident wrong one costs alpha * 1e4 with the gradient of alpha * |x|."""
    x = torch.tensor([1e4, -1e4], requires_grad=True)
    for gamma in (2.0, 0.5):
        out = losskit.SigmoidFocalLoss(gamma=gamma)(x, torch.tensor([1.0, 1.0]))
        torch.testing.assert_close(out, torch.tensor([0.0, 0.25 * 1e4]))
        (g,) = torch.autograd.grad(out.sum(), x)
        torch.testing.assert_close(g, torch.tensor([0.0, -0.25]))


def test_softmax_focal_and_poly_exact_where_p_rounds_to_one():
    x = torch.tensor([[1e4, 0.0, -5.0]], requires_grad=True)
    for gamma in (0.5, 2.0):
        right = losskit.SoftmaxFocalLoss(gamma=gamma)(x, torch.tensor([0]))
        (g,) = torch.autograd.grad(right.sum(), x)
        assert right.item() == 0.0 and torch.isfinite(g).all()
        wrong = losskit.SoftmaxFocalLoss(gamma=gamma)(x, torch.tensor([1]))
        torch.testing.assert_close(wrong, torch.tensor([1e4]))  # (1 - 0)^gamma * 1e4
    poly = losskit.PolyLoss(epsilon=2.0)(x, torch.tensor([1]))
    torch.testing.assert_close(poly, torch.tensor([1e4 + 2.0]))


def test_log1m_softmax_is_exact_where_float_rounds():
    """log(1 - softmax(x)) where the top probability is 1 - 2e-20, which rounds to 1 (so that
    log1p(-p) would be -inf): with S = e^46 + 2, 1 - p_0 = 2 / S and 1 - p_1 = (e^46 + 1) / S."""
    import array_api_compat.numpy as xp

    from losskit._array import log1m_softmax

    got = log1m_softmax(xp, np.array([[46.0, 0.0, 0.0]]), axis=1)
    tiny = np.exp(-46.0)
    top = np.log(2.0) - 46.0 - np.log1p(2 * tiny)
    other = np.log1p(tiny) - np.log1p(2 * tiny)
    np.testing.assert_allclose(got, [[top, other, other]], rtol=1e-12)


def test_gaussian_nll_variance_zero_is_clamped_and_finite():
    var = torch.tensor([[0.0, 1e-12, 2.0]], dtype=torch.float64, requires_grad=True)
    pred = torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    out = losskit.GaussianNLLLoss()(pred, torch.zeros(1, 3, dtype=torch.float64), var)
    want = 0.5 * (np.log([1e-6, 1e-6, 2.0]) + 1 / np.array([1e-6, 1e-6, 2.0]))
    np.testing.assert_allclose(out.item(), want.mean(), rtol=1e-12)
    g_pred, g_var = torch.autograd.grad(out.sum(), (pred, var))
    assert torch.isfinite(g_pred).all() and torch.isfinite(g_var).all()
    assert g_var[0, 0] == 0 and g_var[0, 1] == 0  # constant in var below eps (documented)


@pytest.mark.parametrize("floor", [[0.5, 2.0, 1e-6], [0.5, 2.0, 3.0], [1e-7, 2.0, 1e-6]], ids=["tie", "above", "below"])
def test_gaussian_nll_same_whether_the_floor_is_skipped_or_applied(floor):
    """Eagerly the floor at eps is applied only if the smallest variance is below it; with value
    checks off (and traced) always. Both give the same values and gradients, at a variance equal
    to eps too (derivative 1 there), and JAX under jit agrees."""
    var = torch.tensor([floor], dtype=torch.float64, requires_grad=True)
    pred = torch.tensor([[1.0, -1.0, 0.5]], dtype=torch.float64, requires_grad=True)
    label = torch.zeros(1, 3, dtype=torch.float64)

    def run():
        out = losskit.GaussianNLLLoss()(pred, label, var)
        return (out, *torch.autograd.grad(out.sum(), (pred, var)))

    eager = run()
    with losskit.value_checks(False):
        floored = run()
    for a, b in zip(eager, floored):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (eager[2][0] == 0).tolist() == [v < 1e-6 for v in floor]  # no gradient below eps only
    jax = pytest.importorskip("jax")
    from backends import to_backend  # float64 JAX (x64 on)

    j_out, j_grad = jax.jit(
        jax.value_and_grad(lambda p, v: losskit.GaussianNLLLoss()(p, jax.numpy.zeros_like(p), v).sum(), (0, 1))
    )(to_backend(pred.detach().numpy(), "jax"), to_backend(var.detach().numpy(), "jax"))
    np.testing.assert_allclose(float(j_out), eager[0].item(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(j_grad[1]), eager[2].numpy(), rtol=1e-12)


def test_gaussian_nll_variance_checks_with_nan_gradients_and_checks_off():
    """The one minimum that serves both variance checks: read without a gradient (no torch warning
    about converting a tensor that requires grad); a NaN in it neither hides a negative variance
    nor turns off the floor of another row; jax.grad (not jit) still reads it; with value checks
    off nothing is read, negatives pass and every variance is floored."""
    import warnings

    var = torch.ones(2, 3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losskit.GaussianNLLLoss()(torch.zeros(2, 3), torch.zeros(2, 3), var)
    with pytest.raises(ValueError, match="var holds negative values"):
        losskit.GaussianNLLLoss()(np.zeros((1, 3)), np.zeros((1, 3)), np.array([[np.nan, -1.0, 1.0]]))
    rows = losskit.GaussianNLLLoss()(np.zeros((3, 1)), np.zeros((3, 1)), np.array([[np.nan], [0.0], [1.0]]))
    np.testing.assert_allclose(rows[1:], [0.5 * math.log(1e-6), 0.0], rtol=1e-12)  # row 1 floored at eps
    assert np.isnan(rows[0])
    with losskit.value_checks(False):
        unchecked = losskit.GaussianNLLLoss()(np.zeros((1, 2)), np.ones((1, 2)), np.array([[-1.0, 1e-7]]))
    np.testing.assert_allclose(unchecked, [0.5 * (math.log(1e-6) + 1e6)], rtol=1e-12)
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    with pytest.raises(ValueError, match=r"down to -1\b"):
        jax.grad(lambda v: F.gaussian_nll_loss(jnp.zeros((1, 3)), jnp.ones((1, 3)), v).sum())(jnp.array([[-1.0, 1, 1]]))


def test_dice_of_empty_masks_with_smooth_0():
    pred = torch.zeros(1, 1, 4, dtype=torch.float64, requires_grad=True)  # probabilities 0: empty
    out = losskit.DiceLoss(smooth=0.0, from_logits=False)(pred, torch.zeros(1, 1, 4, dtype=torch.float64))
    (g,) = torch.autograd.grad(out.sum(), pred)
    assert out.item() == 0.0  # two empty masks agree
    assert torch.isfinite(g).all()


def test_info_nce_zero_vector_is_finite():
    a = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.eye(2, 3, dtype=torch.float64)
    out = losskit.InfoNCELoss()(a, b)
    (g,) = torch.autograd.grad(out.sum(), a)
    torch.testing.assert_close(out, torch.full((2,), math.log(2), dtype=torch.float64))  # all logits 0
    assert torch.isfinite(g).all()


def test_jsd_accepts_log_zero():
    logq = torch.tensor([[-math.inf, 0.0]], dtype=torch.float64, requires_grad=True)
    out = losskit.JSDLoss()(logq, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([math.log(2)], dtype=torch.float64))  # disjoint supports
    (g,) = torch.autograd.grad(out.sum(), logq)
    assert torch.isfinite(g).all()


# Options of classes and functions alike (review of 2026-11-29): each was accepted silently,
# truncated, or failed with a raw AttributeError / operand TypeError before.
_X = np.zeros((3, 4))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: losskit.InfoNCELoss(symmetric="False"), TypeError, "symmetric must be True or False, got 'False'"),
        (lambda: F.info_nce_loss(_X, _X, symmetric="no"), TypeError, "symmetric must be True or False"),
        (lambda: losskit.SigmoidBCELoss(from_sigmoid=1), TypeError, "from_sigmoid must be True or False"),
        (lambda: losskit.SoftmaxCELoss(sparse_label=None), TypeError, "sparse_label must be True or False"),
        (lambda: losskit.DiceLoss(axis=1.7), TypeError, "axis must be an int, got 1.7"),
        (lambda: losskit.SoftmaxCELoss(axis=1.7), TypeError, "axis must be an int, got 1.7"),
        (lambda: losskit.KLDivLoss(axis=True), TypeError, "axis must be an int, got True"),
        (lambda: losskit.TripletLoss(margin=math.nan), ValueError, r"margin must be in \(-inf, inf\), got nan"),
        (lambda: losskit.HingeLoss(margin=math.nan), ValueError, r"margin must be in \(-inf, inf\), got nan"),
        (lambda: losskit.CosineEmbeddingLoss(margin=math.nan), ValueError, "margin must be in"),
        (lambda: losskit.CosineEmbeddingLoss(margin="abc"), TypeError, "margin must be a real number, got 'abc'"),
        (lambda: F.hinge_loss(_X, _X, margin=math.inf), ValueError, r"margin must be in \(-inf, inf\), got inf"),
        (lambda: F.squared_hinge_loss(_X, _X, margin=None), TypeError, "margin must be a real number, got None"),
        (lambda: F.triplet_loss(_X, _X, _X, margin=-math.inf), ValueError, r"margin must be in \(-inf, inf\)"),
        (lambda: losskit.HuberLoss(rho="a"), TypeError, "rho must be a real number, got 'a'"),
        (lambda: F.huber_loss(_X, _X, rho=0), ValueError, r"rho must be in \(0, inf\), got 0"),
        (lambda: F.poisson_nll_loss(_X, _X, epsilon="a"), TypeError, "epsilon must be a real number"),
        (lambda: F.l2_loss(_X, _X, weight="a"), TypeError, "weight must be a number or None, got 'a'"),
        (lambda: F.l2_loss(_X, _X, weight=True), TypeError, "weight must be a number or None, got True"),
        (
            lambda: losskit.SigmoidBCELoss()(_X, _X, None, [1.0] * 4),
            TypeError,
            "pos_weight must be an array or a number",
        ),
        (
            lambda: losskit.SigmoidFocalLoss()(_X, _X, None, [1.0] * 4),
            TypeError,
            "pos_weight must be an array or a number",
        ),
        (
            lambda: losskit.SigmoidBCELoss()(_X, _X, None, np.ones(4, dtype=complex)),
            TypeError,
            "pos_weight must hold real numbers",
        ),
        (
            lambda: losskit.SigmoidBCELoss()(_X, _X, None, np.ones(4, dtype=bool)),
            TypeError,
            "pos_weight must hold real numbers",
        ),
        (
            lambda: F.sigmoid_binary_cross_entropy([[1.0, 2.0]], [[1.0, 0.0]], pos_weight=np.ones(2)),
            TypeError,
            "same array library",
        ),
        (lambda: F.multilabel_soft_margin_loss([[1.0, 2.0]], [[1.0, 0.0]]), TypeError, "same array library"),
        (lambda: losskit.GaussianNLLLoss()(_X, _X, None), TypeError, "var must be an array or a number, got None"),
        (lambda: losskit.GaussianNLLLoss()(_X, _X, True), TypeError, "var must be an array or a number, got True"),
        (
            lambda: losskit.L2Loss()(_X, _X.astype(complex)),
            TypeError,
            "label must hold real numbers, got dtype complex128",
        ),
        (lambda: losskit.get_loss(None), TypeError, "a loss name must be a string, got None"),
        (lambda: F.softmax_cross_entropy(_X, np.zeros(3), from_logits="False"), TypeError, "from_logits must be True"),
        (lambda: F.kl_div(_X, _X, from_logits=0), TypeError, "from_logits must be True or False, got 0"),
        (lambda: F.poly_loss(_X, np.zeros(3), sparse_label="yes"), TypeError, "sparse_label must be True or False"),
        (lambda: F.poisson_nll_loss(_X, _X, compute_full=None), TypeError, "compute_full must be True or False"),
        (lambda: F.dice_loss(_X, _X, from_logits=1), TypeError, "from_logits must be True or False"),
    ],
)
def test_option_and_input_errors_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_per_class_lengths_are_checked_before_the_softmax(monkeypatch):
    """A wrong-length class_weight / alpha raised only after the loss was computed."""
    from losskit.functional import classification

    calls = []
    for name in ("log_softmax", "log1m_softmax", "softplus"):
        real = getattr(classification, name)
        monkeypatch.setattr(classification, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    x, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match=re.escape("alpha has shape (2,) but pred has 3 classes")):
        losskit.SoftmaxFocalLoss(alpha=[1.0, 1.0])(x, y)
    with pytest.raises(ValueError, match=re.escape("class_weight has shape (2,) but pred has 3 classes")):
        losskit.MultiLabelSoftMarginLoss(class_weight=[1.0, 2.0])(x, x)
    assert calls == []
