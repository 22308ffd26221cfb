"""ArcFaceLoss and CosFaceLoss against pytorch-metric-learning's fixtures, transcriptions of
insightface's losses and closed forms; DistillationLoss against torch's kl_div and optax.

The shared suites (backends x dtypes, gradcheck, torch.compile, jax.jit, vmap) run their recipes,
``MARGIN_CASES`` of ``cases.py``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, to_backend, to_numpy

torch = pytest.importorskip("torch")

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "margin").glob("*__*.npz"))
LOSSES = {"arcface": losskit.ArcFaceLoss, "cosface": losskit.CosFaceLoss}


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def _loss_of(path: Path, data: dict[str, np.ndarray]) -> losskit.Loss:
    return LOSSES[path.stem.split("__")[0]](scale=float(data["scale"]), margin=float(data["margin"]))


def _np_cosines(emb: np.ndarray, W: np.ndarray) -> np.ndarray:
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ (W / np.linalg.norm(W, axis=0, keepdims=True))


def test_the_fixtures_are_there():
    names = {p.stem for p in FIXTURES}
    assert {"arcface__pml_defaults", "arcface__past_threshold", "cosface__pml_defaults"} <= names
    past = _load(next(p for p in FIXTURES if p.stem == "arcface__past_threshold"))
    true = _np_cosines(past["embeddings"], past["W"])[np.arange(len(past["labels"])), past["labels"]]
    assert (true < -math.cos(float(past["margin"]))).sum() >= 3  # the fallback is exercised


# ---------------------------------------------------------------------------------------------
# pytorch-metric-learning 2.9.0 (tools/make_margin_fixtures.py)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_values_equal_pml(path, backend):
    data = _load(path)
    cosine = to_backend(_np_cosines(data["embeddings"], data["W"]), backend, "float64")
    out = _loss_of(path, data)(cosine, to_backend(data["labels"], backend))
    np.testing.assert_allclose(to_numpy(out), data["losses"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(out).mean(), data["mean"], rtol=1e-10)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_gradients_through_the_cosines_equal_pml_torch(path):
    data = _load(path)
    emb = torch.tensor(data["embeddings"], requires_grad=True)
    W = torch.tensor(data["W"], requires_grad=True)
    tF = torch.nn.functional
    cosine = tF.normalize(emb, dim=1) @ tF.normalize(W, dim=0)
    mean = _loss_of(path, data)(cosine, torch.tensor(data["labels"])).mean()
    g_emb, g_W = torch.autograd.grad(mean, (emb, W))
    np.testing.assert_allclose(float(mean.detach()), data["mean"], rtol=1e-12)
    np.testing.assert_allclose(g_emb.numpy(), data["grad_embeddings"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g_W.numpy(), data["grad_W"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_gradients_through_the_cosines_equal_pml_jax(path):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    data = _load(path)
    loss = _loss_of(path, data)
    labels = jnp.asarray(data["labels"])

    def mean(emb, W):
        cosine = (emb / jnp.linalg.norm(emb, axis=1, keepdims=True)) @ (W / jnp.linalg.norm(W, axis=0, keepdims=True))
        return loss(cosine, labels).mean()

    g_emb, g_W = jax.jit(jax.grad(mean, argnums=(0, 1)))(jnp.asarray(data["embeddings"]), jnp.asarray(data["W"]))
    np.testing.assert_allclose(np.asarray(g_emb), data["grad_embeddings"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(g_W), data["grad_W"], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# insightface (recognition/arcface_torch/losses.py), transcribed


class InsightfaceArcFace(torch.nn.Module):
    """insightface's ``ArcFace`` of 2021 (the ``th``/``mm`` fallback and ``easy_margin``), returning
    the logits; written out of place (the original assigns into ``logits``)."""

    def __init__(self, s=64.0, margin=0.5, easy_margin=False):
        super().__init__()
        self.scale = s
        self.cos_m = math.cos(margin)
        self.sin_m = math.sin(margin)
        self.theta = math.cos(math.pi - margin)
        self.sinmm = math.sin(math.pi - margin) * margin
        self.easy_margin = easy_margin

    def forward(self, logits, labels):
        index = torch.where(labels != -1)[0]
        target_logit = logits[index, labels[index].view(-1)]
        sin_theta = torch.sqrt(1.0 - torch.pow(target_logit, 2))
        cos_theta_m = target_logit * self.cos_m - sin_theta * self.sin_m  # cos(target+margin)
        if self.easy_margin:
            final_target_logit = torch.where(target_logit > 0, cos_theta_m, target_logit)
        else:
            final_target_logit = torch.where(target_logit > self.theta, cos_theta_m, target_logit - self.sinmm)
        logits = logits.clone()
        logits[index, labels[index].view(-1)] = final_target_logit
        return logits * self.scale


class CombinedMarginLoss(torch.nn.Module):
    """insightface's current ``CombinedMarginLoss`` (without interclass filtering), returning the logits."""

    def __init__(self, s, m1, m2, m3):
        super().__init__()
        self.s, self.m1, self.m2, self.m3 = s, m1, m2, m3

    def forward(self, logits, labels):
        logits = logits.clone()  # the original modifies its input in place
        index_positive = torch.where(labels != -1)[0]
        target_logit = logits[index_positive, labels[index_positive].view(-1)]
        if self.m1 == 1.0 and self.m3 == 0.0:
            with torch.no_grad():
                target_logit.arccos_()
                logits.arccos_()
                final_target_logit = target_logit + self.m2
                logits[index_positive, labels[index_positive].view(-1)] = final_target_logit
                logits.cos_()
            logits = logits * self.s
        elif self.m3 > 0:
            final_target_logit = target_logit - self.m3
            logits[index_positive, labels[index_positive].view(-1)] = final_target_logit
            logits = logits * self.s
        else:
            raise ValueError("unsupported margins")
        return logits


def _cosines(seed=0, n=16, c=6, low=-0.99, high=0.99):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=(n, c)), rng.integers(0, c, size=n)


def _ce(logits, labels):
    return torch.nn.functional.cross_entropy(logits, labels, reduction="none")


@pytest.mark.parametrize(("scale", "margin", "easy"), [(64.0, 0.5, False), (30.0, 0.3, True), (8.0, 1.2, False)])
def test_arcface_equals_insightface_arcface_values_and_gradients(scale, margin, easy):
    x, y = _cosines(1)  # down to -0.99: past the threshold -cos(m) too, and c < 0 for easy_margin
    assert (x[np.arange(len(y)), y] < -math.cos(margin)).any() or easy
    want_in = torch.tensor(x, requires_grad=True)
    want = _ce(InsightfaceArcFace(scale, margin, easy)(want_in, torch.tensor(y)), torch.tensor(y))
    got_in = torch.tensor(x, requires_grad=True)
    got = losskit.ArcFaceLoss(scale=scale, margin=margin, easy_margin=easy)(got_in, torch.tensor(y))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    (g_want,) = torch.autograd.grad(want.sum(), want_in)
    (g_got,) = torch.autograd.grad(got.sum(), got_in)
    torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)


def test_arcface_easy_margin_keeps_a_true_cosine_of_exactly_0():
    """easy_margin widens the angle only where cos > 0 (insightface's strict test): at a true
    cosine of exactly 0 the logit stays 0, not cos(pi/2 + m) = -sin(m)."""
    x = np.array([[0.0, 0.3, -0.2], [0.4, 0.0, 0.1]])
    y = np.array([0, 1])
    want = _ce(InsightfaceArcFace(64.0, 0.5, True)(torch.tensor(x), torch.tensor(y)), torch.tensor(y))
    got = losskit.ArcFaceLoss(easy_margin=True)(torch.tensor(x), torch.tensor(y))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_combined_margin_loss_values_and_its_straight_through_gradient():
    """Its values are ArcFace's (below the threshold, which it ignores); its gradient is the
    softmax cross-entropy's of ``s * cos``, the margin a constant (computed under no_grad)."""
    s, m = 64.0, 0.5
    x, y = _cosines(2, low=-0.8)
    yt = torch.tensor(y)
    ref_in = torch.tensor(x, requires_grad=True)
    ref = _ce(CombinedMarginLoss(s, 1.0, m, 0.0)(ref_in, yt), yt)
    got_in = torch.tensor(x, requires_grad=True)
    got = losskit.ArcFaceLoss(scale=s, margin=m)(got_in, yt)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    (g_ref,) = torch.autograd.grad(ref.sum(), ref_in)
    (g_got,) = torch.autograd.grad(got.sum(), got_in)
    # the rows differ only in the true class's entry: there insightface omits d cos(theta + m) / d cos(theta)
    onehot = torch.nn.functional.one_hot(yt, x.shape[1]).bool()
    torch.testing.assert_close(g_got[~onehot], g_ref[~onehot], rtol=1e-10, atol=1e-12)
    c = torch.tensor(x[np.arange(len(y)), y])
    slope = math.cos(m) + c / torch.sqrt(1 - c * c) * math.sin(m)  # d cos(acos(c) + m) / dc
    torch.testing.assert_close(g_got[onehot], g_ref[onehot] * slope, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("s", "m"), [(64.0, 0.35), (16.0, 0.4)])
def test_cosface_equals_combined_margin_loss(s, m):
    x, y = _cosines(3)
    yt = torch.tensor(y)
    ref_in, got_in = torch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ref = _ce(CombinedMarginLoss(s, 1.0, 0.0, m)(ref_in, yt), yt)
    got = losskit.CosFaceLoss(scale=s, margin=m)(got_in, yt)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        torch.autograd.grad(got.sum(), got_in)[0], torch.autograd.grad(ref.sum(), ref_in)[0], rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("name", ["ArcFaceLoss", "CosFaceLoss"])
def test_classes_on_axis_1_of_a_sequence_against_insightface(name):
    """(N, C, T) cosines with the classes on axis 1: per example, the mean over T of insightface's
    loss of each (N, C) slice (the margin on each position's own true class; a margin placed
    along the wrong axis passed every other test)."""
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-0.99, 0.99, size=(4, 5, 3)), rng.integers(0, 5, size=(4, 3))
    reference = InsightfaceArcFace(30.0, 0.4) if name == "ArcFaceLoss" else CombinedMarginLoss(30.0, 1.0, 0.0, 0.4)
    ref_in, got_in = torch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y)
    want = torch.stack([_ce(reference(ref_in[:, :, t], yt[:, t]), yt[:, t]) for t in range(3)], dim=1).mean(1)
    got = losskit.get_loss(name, scale=30.0, margin=0.4, axis=1)(got_in, yt)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    (g_want,) = torch.autograd.grad(want.sum(), ref_in)
    (g_got,) = torch.autograd.grad(got.sum(), got_in)
    torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# identities


@pytest.mark.parametrize("backend", BACKENDS)
def test_margin_zero_is_softmax_ce_of_the_scaled_cosines(backend):
    x, y = _cosines(4)
    c, label = to_backend(x, backend, "float64"), to_backend(y, backend)
    want = to_numpy(losskit.SoftmaxCELoss()(to_backend(7.0 * x, backend, "float64"), label))
    for loss in (losskit.ArcFaceLoss(scale=7.0, margin=0.0), losskit.CosFaceLoss(scale=7.0, margin=0.0)):
        np.testing.assert_allclose(to_numpy(loss(c, label)), want, rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cosface_is_ce_with_the_true_logit_lowered_by_s_m(backend):
    x, y = _cosines(5, n=8, c=4)
    s, m = 12.0, 0.35
    logits = s * x
    logits[np.arange(len(y)), y] -= s * m
    want = losskit.SoftmaxCELoss()(logits, y)
    got = losskit.CosFaceLoss(scale=s, margin=m)(to_backend(x, backend, "float64"), to_backend(y, backend))
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_arcface_is_ce_with_the_true_angle_widened_by_m(backend):
    x, y = _cosines(6, n=12, c=5, low=-0.99)
    s, m = 10.0, 0.5
    rows = np.arange(len(y))
    true = x[rows, y]
    widened = np.where(true > -math.cos(m), np.cos(np.arccos(true) + m), true - m * math.sin(m))
    assert (true <= -math.cos(m)).any()  # the fallback is tested too
    logits = s * x
    logits[rows, y] = s * widened
    want = losskit.SoftmaxCELoss()(logits, y)
    got = losskit.ArcFaceLoss(scale=s, margin=m)(to_backend(x, backend, "float64"), to_backend(y, backend))
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)
    easy = np.where(true > 0, np.cos(np.arccos(true) + m), true)
    logits[rows, y] = s * easy
    got = losskit.ArcFaceLoss(scale=s, margin=m, easy_margin=True)(
        to_backend(x, backend, "float64"), to_backend(y, backend)
    )
    np.testing.assert_allclose(to_numpy(got), losskit.SoftmaxCELoss()(logits, y), rtol=1e-12)


def test_the_margin_falls_on_the_true_class_only_and_makes_it_harder():
    x = np.full((1, 3), 0.3)
    for loss in (losskit.ArcFaceLoss(scale=5.0), losskit.CosFaceLoss(scale=5.0)):
        for cls in range(3):
            out = loss(x, np.array([cls]))
            assert out[0] > math.log(3)  # above the margin-free log C
            np.testing.assert_allclose(out, loss(x, np.array([(cls + 1) % 3])))  # the same for every class


def test_the_combined_core_is_both_margins_at_once():
    x, y = _cosines(7, n=6, c=4, low=-0.8)
    s, m2, m3 = 9.0, 0.3, 0.2
    rows = np.arange(len(y))
    logits = s * x
    logits[rows, y] = s * (np.cos(np.arccos(x[rows, y]) + m2) - m3)
    got = F.margin_softmax_cross_entropy(x, y, scale=s, angular_margin=m2, cosine_margin=m3)
    np.testing.assert_allclose(got, losskit.SoftmaxCELoss()(logits, y), rtol=1e-12)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_finite_gradient_at_cosines_of_exactly_plus_and_minus_one(backend):
    """acos has an infinite derivative at +-1 (pml's clamped acos gives NaN there): the true
    class's logit takes the derivative s cos(m) there, every other entry its own."""
    x = np.array([[1.0, -1.0, 0.2], [-1.0, 1.0, 0.0], [0.5, 0.5, 1.0]])
    y = np.array([0, 0, 2])
    s, m = 4.0, 0.5
    loss = losskit.ArcFaceLoss(scale=s, margin=m)
    if backend == "torch":
        c = torch.tensor(x, requires_grad=True)
        out = loss(c, torch.tensor(y))
        (grad,) = torch.autograd.grad(out.sum(), c)
        grad, out = grad.numpy(), out.detach().numpy()
    else:
        import jax

        out = np.asarray(loss(jax.numpy.asarray(x), jax.numpy.asarray(y)))
        grad = np.asarray(jax.grad(lambda c: loss(c, jax.numpy.asarray(y)).sum())(jax.numpy.asarray(x)))
    assert np.isfinite(out).all() and np.isfinite(grad).all()
    rows = np.arange(3)
    true = x[rows, y]
    target = np.where(true > -math.cos(m), np.cos(np.arccos(true) + m), true - m * math.sin(m))
    logits = s * x
    logits[rows, y] = s * target
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dlogits = p - np.eye(3)[y]
    np.testing.assert_allclose(out, losskit.SoftmaxCELoss()(logits, y), rtol=1e-12)
    # at c = 1 the fallback is not taken: slope cos(m); at c = -1 (row 1) it is: slope 1
    slope = np.where(true > -math.cos(m), math.cos(m), 1.0)
    want = s * dlogits
    want[rows, y] *= slope
    np.testing.assert_allclose(grad, want, rtol=1e-12, atol=1e-15)


def test_the_gradient_near_one_is_the_exact_one():
    c0 = 1 - 1e-10
    c = torch.tensor([[c0, 0.0]], dtype=torch.float64, requires_grad=True)
    out = losskit.ArcFaceLoss(scale=2.0, margin=0.5)(c, torch.tensor([0]))
    (g,) = torch.autograd.grad(out.sum(), c)
    logit = math.cos(math.acos(c0) + 0.5)
    p = 1 / (1 + math.exp(-2.0 * logit))
    slope = math.cos(0.5) + c0 / math.sqrt((1 - c0) * (1 + c0)) * math.sin(0.5)  # ~3.4e4
    np.testing.assert_allclose(g[0, 0].item(), 2.0 * (p - 1) * slope, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# the cosine range, labels, options, dtypes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [1.5, -3.0, 1 + 2**-5])
def test_values_that_are_no_cosines_are_refused_by_name(backend, bad):
    x, y = _cosines(8, n=4, c=3)
    x[2, 1] = bad
    c = to_backend(x, backend, "float64")
    before = to_numpy(c).copy()
    for loss in (losskit.ArcFaceLoss(), losskit.CosFaceLoss()):
        with pytest.raises(
            ValueError, match=r"cosine holds values up to .* it must hold cosine similarities in \[-1, 1\]"
        ):
            loss(c, to_backend(y, backend))
    np.testing.assert_array_equal(to_numpy(c), before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rounding_past_one_is_clamped(backend):
    x = np.array([[1 + 2**-8, 0.1], [-1 - 2**-8, 0.3]])
    y = np.array([0, 0])
    clamped = np.clip(x, -1, 1)
    for loss in (losskit.ArcFaceLoss(scale=3.0), losskit.CosFaceLoss(scale=3.0)):
        got = loss(to_backend(x, backend, "float64"), to_backend(y, backend))
        np.testing.assert_array_equal(to_numpy(got), loss(clamped, y))


def test_a_nan_cosine_gives_nan_not_an_error():
    x = np.array([[np.nan, 0.1], [0.2, 0.3]])
    for loss in (losskit.ArcFaceLoss(), losskit.CosFaceLoss()):
        out = loss(x, np.array([0, 1]))
        assert np.isnan(out[0]) and np.isfinite(out[1])


def test_out_of_range_values_pass_unread_under_jit_and_with_the_checks_off():
    jax = pytest.importorskip("jax")
    x = np.array([[3.0, 0.1], [0.2, 0.3]])
    y = np.array([0, 1])
    loss = losskit.ArcFaceLoss(scale=3.0)
    clamped = loss(np.clip(x, -1, 1), y)
    np.testing.assert_allclose(np.asarray(jax.jit(loss)(jax.numpy.asarray(x), jax.numpy.asarray(y))), clamped)
    with losskit.value_checks(False):
        np.testing.assert_array_equal(loss(x, y), clamped)


def test_captured_cosines_with_traced_labels_warn_nothing():
    """Concrete cosines captured by a jitted function, labels traced: the cosines' check is made
    (their values are known) and its flag takes the labels' dtype, not an int64 JAX would
    truncate with a warning when x64 is off (a review caught that warning)."""
    jax = pytest.importorskip("jax")
    x, y = _cosines(3, n=4, c=3)
    x, y = x.astype(np.float32), y.astype(np.int32)
    with jax.enable_x64(False), warnings.catch_warnings():  # JAX's default mode, as users run it
        warnings.simplefilter("error")
        captured = jax.numpy.asarray(x)
        out = jax.jit(lambda labels: losskit.ArcFaceLoss()(captured, labels))(jax.numpy.asarray(y))
    np.testing.assert_allclose(np.asarray(out), losskit.ArcFaceLoss()(x, y), rtol=1e-5)


def test_labels_and_shapes_are_checked():
    x, y = _cosines(9, n=4, c=3)
    for loss in (losskit.ArcFaceLoss(), losskit.CosFaceLoss()):
        with pytest.raises(
            ValueError, match=r"label holds class indices in \[0, 3\], outside the valid range \[0, 2\]"
        ):
            loss(x, np.array([0, 1, 2, 3]))
        with pytest.raises(ValueError, match=r"sparse label shape \(3,\) does not match cosine shape \(4, 3\)"):
            loss(x, y[:3])
        with pytest.raises(TypeError, match="cosine must be a real floating-point array"):
            loss(x.astype(np.int64), y)
        with pytest.raises(ValueError, match="sample_weight shape"):
            loss(x, y, np.ones(4))
        np.testing.assert_array_equal(loss(x, y.reshape(4, 1)), loss(x, y))  # (N, 1) labels, as SoftmaxCELoss's


def test_options_are_checked_at_construction():
    with pytest.raises(ValueError, match=r"margin must be in \[0, 3.14159\), got -0.1"):
        losskit.ArcFaceLoss(margin=-0.1)
    with pytest.raises(ValueError, match="margin must be in"):
        losskit.ArcFaceLoss(margin=math.pi)
    with pytest.raises(ValueError, match=r"scale must be in \(0, inf\)"):
        losskit.CosFaceLoss(scale=0.0)
    with pytest.raises(TypeError, match="easy_margin must be True or False"):
        losskit.ArcFaceLoss(easy_margin=1)
    with pytest.raises(TypeError, match="margin must be a real number"):
        losskit.CosFaceLoss(margin="0.3")
    assert losskit.CosFaceLoss(margin=-0.2)(np.array([[0.5, 0.5]]), np.array([0]))[0] < math.log(2)  # easier


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_low_precision_in_its_own_dtype(backend, dtype):
    x, y = _cosines(10, n=5, c=4, low=-0.8, high=0.95)
    for loss in (losskit.ArcFaceLoss(scale=16.0), losskit.CosFaceLoss(scale=16.0)):
        c = to_backend(x, backend, dtype)
        out = loss(c, to_backend(y, backend))
        assert str(out.dtype).endswith(dtype)
        want = loss(to_numpy(c).astype(np.float64), y)
        np.testing.assert_allclose(to_numpy(out), want, rtol=2e-2 if "16" in dtype else 1e-5, atol=1e-3)


def test_the_class_call_line_names_the_cosines():
    import inspect

    assert "Call: ``loss(cosine, label, sample_weight=None)``" in inspect.getdoc(losskit.ArcFaceLoss)
    assert "Call: ``loss(student_logits, teacher_logits, sample_weight=None)``" in inspect.getdoc(
        losskit.DistillationLoss
    )
    assert losskit.get_loss("arcfaceloss", margin=0.4)._margin == 0.4
    assert losskit.loss_info("DistillationLoss").family == "classification"


# ---------------------------------------------------------------------------------------------
# DistillationLoss


def _logits(seed=0, shape=(6, 5), spread=3.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * spread, rng.normal(size=shape) * spread


def _torch_kd(s, t, T):
    tF = torch.nn.functional
    return tF.kl_div(tF.log_softmax(s / T, dim=1), tF.softmax(t / T, dim=1), reduction="none").sum(1) * T**2


@pytest.mark.parametrize("T", [1.0, 2.0, 4.5, 0.5])
def test_distillation_equals_torch_kl_div_values_and_both_gradients(T):
    s_np, t_np = _logits(1)
    s_ref, t_ref = torch.tensor(s_np, requires_grad=True), torch.tensor(t_np, requires_grad=True)
    s_got, t_got = torch.tensor(s_np, requires_grad=True), torch.tensor(t_np, requires_grad=True)
    want = _torch_kd(s_ref, t_ref, T)
    got = losskit.DistillationLoss(temperature=T)(s_got, t_got)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    w = torch.linspace(0.5, 2.0, 6, dtype=torch.float64)  # a weighted sum: each example's gradient apart
    for a, b in zip(
        torch.autograd.grad((want * w).sum(), (s_ref, t_ref)), torch.autograd.grad((got * w).sum(), (s_got, t_got))
    ):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("T", [1.0, 3.0])
def test_distillation_equals_optax_values_and_gradients(T):
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jnp = jax.numpy
    s, t = (jnp.asarray(a) for a in _logits(2))

    def via_kl(s, t):
        return optax.losses.kl_divergence(jax.nn.log_softmax(s / T), jax.nn.softmax(t / T)) * T**2

    def via_ce(s, t):  # cross-entropy of the soft targets minus the teacher's entropy
        p = jax.nn.softmax(t / T)
        return (optax.losses.softmax_cross_entropy(s / T, p) - optax.losses.softmax_cross_entropy(t / T, p)) * T**2

    loss = losskit.DistillationLoss(temperature=T)
    got = loss(s, t)
    for ref in (via_kl, via_ce):
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref(s, t)), rtol=1e-12, atol=1e-14)
    weights = jnp.linspace(0.5, 2.0, 6)
    g_got = jax.grad(lambda a, b: (loss(a, b) * weights).sum(), argnums=(0, 1))(s, t)
    g_ref = jax.grad(lambda a, b: (via_kl(a, b) * weights).sum(), argnums=(0, 1))(s, t)
    for a, b in zip(g_got, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-13)


def test_distillation_gradcheck_both_inputs():
    s, t = (torch.tensor(a, requires_grad=True) for a in _logits(3, spread=1.0))
    loss = losskit.DistillationLoss(temperature=2.5)
    assert torch.autograd.gradcheck(lambda a, b: loss(a, b), (s, t))
    assert torch.autograd.gradgradcheck(lambda a, b: loss(a, b), (s, t))


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_equal_logits_give_zero_with_zero_gradient(backend):
    s, _ = _logits(4)
    loss = losskit.DistillationLoss(temperature=3.0)
    if backend == "torch":
        a, b = torch.tensor(s, requires_grad=True), torch.tensor(s, requires_grad=True)
        out = loss(a, b)
        grads = [g.numpy() for g in torch.autograd.grad(out.sum(), (a, b))]
        out = out.detach().numpy()
    else:
        import jax

        a = jax.numpy.asarray(s)
        out = np.asarray(loss(a, a))
        grads = [np.asarray(g) for g in jax.grad(lambda x, y: loss(x, y).sum(), argnums=(0, 1))(a, a)]
    np.testing.assert_array_equal(out, np.zeros(6))
    for g in grads:
        np.testing.assert_allclose(g, 0.0, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_temperature_one_is_kldiv_of_the_log_softmaxes(backend):
    s, t = _logits(5)
    log_q = s - np.log(np.exp(s).sum(1, keepdims=True))
    p = np.exp(t) / np.exp(t).sum(1, keepdims=True)
    want = losskit.KLDivLoss()(log_q, p)
    got = losskit.DistillationLoss()(to_backend(s, backend, "float64"), to_backend(t, backend, "float64"))
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-14)


def test_the_teacher_gradient_is_kept_and_detaching_it_is_the_users_call():
    s, t = (torch.tensor(a, requires_grad=True) for a in _logits(6))
    loss = losskit.DistillationLoss(temperature=2.0)
    (g_t,) = torch.autograd.grad(loss(s, t).sum(), t)
    assert g_t.abs().max() > 1e-3
    out = loss(s, t.detach())
    assert out.grad_fn is not None
    (g_s,) = torch.autograd.grad(out.sum(), s)
    # d/ds T^2 KL = T (softmax(s / T) - softmax(t / T))
    want = 2.0 * (torch.softmax(s / 2.0, 1) - torch.softmax(t / 2.0, 1))
    torch.testing.assert_close(g_s, want.detach(), rtol=1e-10, atol=1e-13)


def test_the_gradient_size_does_not_grow_with_the_temperature():
    """T^2 (not T): at high T the student's gradient tends to (s - t) / C centred, whatever T."""
    s, t = (torch.tensor(a) for a in _logits(7, spread=0.5))
    grads = []
    for T in (50.0, 500.0):
        a = s.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(losskit.DistillationLoss(temperature=T)(a, t).sum(), a)[0])
    limit = ((s - s.mean(1, keepdim=True)) - (t - t.mean(1, keepdim=True))) / s.shape[1]
    torch.testing.assert_close(grads[1], limit, rtol=1e-2, atol=1e-4)
    torch.testing.assert_close(grads[0], limit, rtol=1e-1, atol=1e-3)  # with T, not T^2: 10x apart


def test_a_class_the_teacher_rules_out_adds_zero():
    s = torch.tensor([[1.0, 2.0, -math.inf], [0.5, -0.5, 0.0]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[0.0, 1.0, -math.inf], [0.0, 0.0, -math.inf]], dtype=torch.float64, requires_grad=True)
    out = losskit.DistillationLoss(temperature=2.0)(s, t)
    assert torch.isfinite(out).all()
    s_ref, t_ref = s.detach()[:, :2], t.detach()[:, :2]
    torch.testing.assert_close(out[0], _torch_kd(s_ref[:1], t_ref[:1], 2.0)[0])
    grads = torch.autograd.grad(out.sum(), (s, t))
    assert all(torch.isfinite(g).all() for g in grads)
    # a class the student rules out but the teacher does not: an infinite divergence
    bad = losskit.DistillationLoss()(torch.tensor([[0.0, -math.inf]]), torch.tensor([[0.0, 0.0]]))
    assert math.isinf(bad.item())


@pytest.mark.parametrize("backend", BACKENDS)
def test_tokens_are_averaged_after_the_class_sum(backend):
    rng = np.random.default_rng(8)
    s, t = rng.normal(size=(3, 4, 7)), rng.normal(size=(3, 4, 7))  # (N, L, C)
    per_token = _torch_kd(torch.tensor(s).reshape(12, 7), torch.tensor(t).reshape(12, 7), 2.0).reshape(3, 4)
    got = losskit.DistillationLoss(temperature=2.0)(
        to_backend(s, backend, "float64"), to_backend(t, backend, "float64")
    )
    np.testing.assert_allclose(to_numpy(got), per_token.mean(1).numpy(), rtol=1e-12)
    axis1 = losskit.DistillationLoss(temperature=2.0, axis=1)
    moved = axis1(
        to_backend(np.moveaxis(s, 2, 1), backend, "float64"), to_backend(np.moveaxis(t, 2, 1), backend, "float64")
    )
    np.testing.assert_allclose(to_numpy(moved), to_numpy(got), rtol=1e-12)


def test_distillation_weights_dtypes_and_errors():
    s, t = _logits(9)
    loss = losskit.DistillationLoss(temperature=2.0)
    base = loss(s, t)
    sw = np.linspace(0.5, 2, 6).reshape(6, 1)
    np.testing.assert_allclose(losskit.DistillationLoss(temperature=2.0, weight=3.0)(s, t, sw), 3.0 * sw[:, 0] * base)
    mixed = loss(torch.tensor(s, dtype=torch.float32), torch.tensor(t))  # promoted, as torch's losses
    assert mixed.dtype == torch.float64
    half = loss(torch.tensor(s, dtype=torch.float16), torch.tensor(t, dtype=torch.float16))
    assert half.dtype == torch.float16
    with pytest.raises(ValueError, match=r"teacher_logits shape \(6, 4\) does not match student_logits shape \(6, 5\)"):
        loss(s, t[:, :4])
    with pytest.raises(ValueError, match="teacher_logits shape"):
        loss(s, t.reshape(5, 6))  # the same size, no Gluon-style reshape
    with pytest.raises(ValueError, match=r"temperature must be in \(0, inf\), got 0"):
        losskit.DistillationLoss(temperature=0)
    with pytest.raises(TypeError, match="teacher_logits must be a real floating-point array"):
        loss(s, np.zeros((6, 5), dtype=np.int64))
    with pytest.raises(TypeError, match="teacher_logits must be an array"):
        loss(s, None)
    with pytest.raises(ValueError, match="sample_weight shape"):
        loss(s, t, np.ones(6))
    with pytest.raises(ValueError, match="batch_axis=1 is the class axis"):
        losskit.DistillationLoss(batch_axis=1)(s, t)
