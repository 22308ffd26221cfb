"""AsymmetricLoss (ASL, Ridnik et al., ICCV 2021) against a transcription of the authors' code
(``Alibaba-MIIL/ASL``, ``src/loss_functions/losses.py``), its identities with the BCE and the
focal loss, the probability shifting, the detached focusing weight, extreme logits and errors.

The transcription keeps the authors' ``log(clamp(p, min=eps))``; the inputs keep ``p`` and
``1 - p_m`` above ``eps`` (logits in [-8, 8]), where the clamp changes nothing, so that it and
losskit's log-space formula are the same function there.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from backends import (
    AUTOGRAD_BACKENDS,
    BACKENDS,
    autograd_grads,
    check_values_and_gradients,
    to_backend,
    to_numpy,
    torch_reference,
)

torch = pytest.importorskip("torch")

rng = np.random.default_rng(0)


def authors_asl(x, y, gamma_neg=4, gamma_pos=1, clip=0.05, eps=1e-8, detach=False):
    """The authors' ``AsymmetricLoss.forward`` (torch), elementwise: their ``-loss`` before ``.sum()``.
    ``detach`` is their ``AsymmetricLossOptimized``'s ``disable_torch_grad_focal_loss``: the weight
    computed without gradient."""
    x_sigmoid = torch.sigmoid(x)
    xs_pos = x_sigmoid
    xs_neg = 1 - x_sigmoid
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    los_pos = y * torch.log(xs_pos.clamp(min=eps))
    los_neg = (1 - y) * torch.log(xs_neg.clamp(min=eps))
    loss = los_pos + los_neg
    if gamma_neg > 0 or gamma_pos > 0:
        with torch.set_grad_enabled(not detach):
            pt0 = xs_pos * y
            pt1 = xs_neg * (1 - y)
            pt = pt0 + pt1
            one_sided_gamma = gamma_pos * y + gamma_neg * (1 - y)
            one_sided_w = torch.pow(1 - pt, one_sided_gamma)
        loss = loss * one_sided_w
    return -loss


def _logits(shape, clip=0.05):
    """Logits in [-8, 8], each at least 0.05 from the kink logit(clip) (where p = clip)."""
    x = rng.uniform(-8, 8, size=shape)
    if clip:
        kink = np.log(clip) - np.log1p(-clip)
        near = np.abs(x - kink) < 0.05
        x[near] += 0.2
    return x


CONFIGS = [
    {},  # losskit's defaults: gamma_pos=0, gamma_neg=4, clip=0.05
    {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05},  # the authors' class's defaults
    {"gamma_pos": 0.5, "gamma_neg": 2.0, "clip": 0.2},
    {"gamma_pos": 2.0, "gamma_neg": 1.0, "clip": 0.0},  # gamma_pos > gamma_neg: the asymmetry swapped
    {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.1},  # clipping alone
]


def _authors_kwargs(cfg):
    full = {"gamma_pos": 0.0, "gamma_neg": 4.0, "clip": 0.05, **cfg}
    return {k: full[k] for k in ("gamma_pos", "gamma_neg", "clip")}


@pytest.mark.parametrize("cfg", CONFIGS, ids=[str(c) for c in CONFIGS])
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_matches_the_authors_code(cfg, soft):
    """Values (the per-example mean) on every backend, gradients of pred and label on torch and JAX."""
    kw = _authors_kwargs(cfg)
    x = _logits((6, 5), kw["clip"])
    y = rng.uniform(0, 1, size=x.shape) if soft else rng.integers(0, 2, size=x.shape).astype(float)
    want, (gx, gy) = torch_reference(lambda a, b: authors_asl(a, b, **kw).mean(1), (x, y), float_args=(0, 1))
    check_values_and_gradients(losskit.AsymmetricLoss(**cfg), (x, y), want, (gx, gy), float_args=(0, 1))


def test_the_authors_sum_is_weight_c_then_sum():
    x, y = _logits((6, 5)), rng.integers(0, 2, size=(6, 5)).astype(float)
    want = authors_asl(torch.tensor(x), torch.tensor(y), gamma_pos=1.0).sum().item()
    got = losskit.AsymmetricLoss(gamma_pos=1.0, weight=5)(x, y).sum()
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_weights_and_batch_axis():
    x, y = _logits((3, 4, 2)), rng.integers(0, 2, size=(3, 4, 2)).astype(float)
    sw = rng.uniform(0.5, 2, size=(1, 4, 1))
    per = to_numpy(authors_asl(torch.tensor(x), torch.tensor(y), gamma_pos=0.0)) * sw * 1.5  # losskit's defaults
    want = per.mean(axis=(0, 2))
    got = losskit.AsymmetricLoss(weight=1.5, batch_axis=1)(x, y, sw)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_no_focusing_no_clip_is_torch_bce_with_logits(soft):
    x = rng.normal(size=(6, 5)) * 5
    y = rng.uniform(0, 1, size=x.shape) if soft else rng.integers(0, 2, size=x.shape).astype(float)

    def bce(a, b):
        return torch.nn.functional.binary_cross_entropy_with_logits(a, b, reduction="none").mean(1)

    want, grads = torch_reference(bce, (x, y), float_args=(0, 1))
    loss = losskit.AsymmetricLoss(gamma_pos=0.0, gamma_neg=0.0, clip=0.0)
    check_values_and_gradients(loss, (x, y), want, grads, float_args=(0, 1))
    clip_none = losskit.AsymmetricLoss(gamma_pos=0.0, gamma_neg=0.0, clip=None)  # the authors' "no clip"
    np.testing.assert_allclose(clip_none(x, y), want, rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.5])
def test_equal_gammas_without_clip_is_the_focal_loss(gamma):
    """SigmoidFocalLoss is checked against torchvision elsewhere: an independent formula."""
    x = rng.normal(size=(6, 5)) * 4
    y = rng.uniform(0, 1, size=x.shape)
    asl = losskit.AsymmetricLoss(gamma_pos=gamma, gamma_neg=gamma, clip=0.0)
    focal = losskit.SigmoidFocalLoss(alpha=None, gamma=gamma)
    for backend in BACKENDS:
        a, b = to_backend(x, backend, "float64"), to_backend(y, backend, "float64")
        np.testing.assert_allclose(to_numpy(asl(a, b)), to_numpy(focal(a, b)), rtol=1e-12, err_msg=backend)
    for lib in AUTOGRAD_BACKENDS:
        args = [to_backend(x, lib, "float64"), to_backend(y, lib, "float64")]
        ga = autograd_grads(asl, args, (0, 1), lib)
        gf = autograd_grads(focal, [to_backend(x, lib, "float64"), to_backend(y, lib, "float64")], (0, 1), lib)
        for u, v in zip(ga, gf):
            np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-14, err_msg=lib)


def test_the_gammas_are_not_interchangeable():
    """gamma_pos weighs the positives, gamma_neg the negatives (hard labels)."""
    x = np.array([[1.0, 1.0]])
    pos, neg = np.array([[1.0, 1.0]]), np.array([[0.0, 0.0]])
    p = 1 / (1 + np.exp(-1.0))
    loss = losskit.AsymmetricLoss(gamma_pos=1.0, gamma_neg=3.0, clip=0.0)
    np.testing.assert_allclose(loss(x, pos), [(1 - p) * -np.log(p)], rtol=1e-12)
    np.testing.assert_allclose(loss(x, neg), [p**3 * -np.log(1 - p)], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_shifts_the_negatives(backend):
    """A negative with p <= clip costs nothing and has no gradient; above it, p - clip replaces p
    (hand values: p = 1/2, clip = 0.1: p_m = 0.4, loss 0.4**2 * -log 0.6); positives are untouched."""
    loss = losskit.AsymmetricLoss(gamma_pos=0.0, gamma_neg=2.0, clip=0.1)
    x = np.array([[-30.0, -5.0, 0.0, 0.0]])
    z = np.array([[0.0, 0.0, 0.0, 1.0]])
    out = loss(to_backend(x, backend, "float64"), to_backend(z, backend, "float64"), None)
    np.testing.assert_allclose(to_numpy(out), [(0.4**2 * -np.log(0.6) + np.log(2)) / 4], rtol=1e-12)
    one = loss(to_backend(x[:, :2], backend, "float64"), to_backend(z[:, :2], backend, "float64"))
    np.testing.assert_array_equal(to_numpy(one), [0.0])
    if backend in AUTOGRAD_BACKENDS:
        (g,) = autograd_grads(
            loss, [to_backend(x, backend, "float64"), to_backend(z, backend, "float64")], (0,), backend
        )
        assert (g[0, :2] == 0).all() and (g[0, 2:] != 0).all()


def test_detached_focal_weight_matches_the_authors_no_grad():
    """Same values; the gradient is the authors' with the weight computed under no_grad, and
    differs from the undetached one by the weight's own derivative times the BCE."""
    x, y = _logits((6, 5)), rng.uniform(0, 1, size=(6, 5))
    kw = {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05}
    want, grads = torch_reference(lambda a, b: authors_asl(a, b, detach=True, **kw).mean(1), (x, y), (0, 1))
    detached = losskit.AsymmetricLoss(detach_focal_weight=True, **kw)
    check_values_and_gradients(detached, (x, y), want, grads, float_args=(0, 1))
    # by hand for the logit: with w fixed, d/dx of w * BCE is w * dBCE/dx
    t = torch.tensor(x, requires_grad=True)
    with torch.no_grad():
        w = authors_asl(t, torch.tensor(y), **kw) / authors_asl(
            t, torch.tensor(y), **{**kw, "gamma_pos": 0, "gamma_neg": 0}
        )
    bce_only = authors_asl(t, torch.tensor(y), **{**kw, "gamma_pos": 0, "gamma_neg": 0})
    (g_by_hand,) = torch.autograd.grad((w * bce_only).mean(1).sum(), [t])
    np.testing.assert_allclose(grads[0], g_by_hand.numpy(), rtol=1e-10, atol=1e-14)
    attached = torch_reference(lambda a, b: authors_asl(a, b, **kw).mean(1), (x, y), (0, 1))[1]
    assert np.abs(grads[0] - attached[0]).max() > 1e-3  # the weight's derivative is not negligible
    t_x = torch.tensor(x, requires_grad=True)
    (g_attached,) = torch.autograd.grad(losskit.AsymmetricLoss(**kw)(t_x, torch.tensor(y)).sum(), [t_x])
    np.testing.assert_allclose(g_attached.numpy(), attached[0], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[str(c) for c in CONFIGS])
@pytest.mark.parametrize("lib", AUTOGRAD_BACKENDS)
def test_finite_values_and_gradients_at_extreme_float32_logits(lib, cfg, detach):
    x = np.array([[1e4, -1e4, 1e4, -1e4, 30.0, -30.0, 0.0, 1e-30]])
    z = np.array([[1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 0.0]])
    loss = losskit.AsymmetricLoss(detach_focal_weight=detach, **cfg)
    args = [to_backend(x, lib, "float32"), to_backend(z, lib, "float32")]
    out = loss(*args)
    assert out.dtype == args[0].dtype
    assert np.isfinite(to_numpy(out)).all()
    for g in autograd_grads(loss, args, (0, 1), lib):
        assert np.isfinite(g).all(), g
    # elementwise: a sure positive and a sure negative cost nothing; a sure wrong positive costs
    # |x| (no eps cap at -log(1e-8) = 18.4)
    single = losskit.AsymmetricLoss(detach_focal_weight=detach, **cfg)

    def one(x, z):
        return to_numpy(
            single(to_backend(np.array([[x]]), lib, "float32"), to_backend(np.array([[z]]), lib, "float32"))
        )

    np.testing.assert_allclose(one(-1e4, 1.0), [1e4], rtol=1e-6)
    np.testing.assert_array_equal(one(1e4, 1.0), [0.0])
    np.testing.assert_array_equal(one(-1e4, 0.0), [0.0])


def test_differs_from_the_authors_only_where_their_eps_clamp_bites():
    """Documented difference: the authors cap log p at log(1e-8) (and its gradient at 0)."""
    x, y = np.array([[-30.0, -10.0]]), np.array([[1.0, 1.0]])
    got = losskit.AsymmetricLoss(gamma_pos=0.0, clip=0.0)(x, y)
    authors = authors_asl(torch.tensor(x), torch.tensor(y), gamma_pos=0.0, clip=0.0)
    np.testing.assert_allclose(authors.numpy()[0], [-np.log(1e-8), np.logaddexp(0, 10.0)], rtol=1e-12)
    np.testing.assert_allclose(got, [(np.logaddexp(0, 30.0) + np.logaddexp(0, 10.0)) / 2], rtol=1e-12)


def test_float16_input_gives_float16_and_leaves_inputs_alone():
    x = torch.tensor(_logits((4, 3)), dtype=torch.float16)
    y = torch.tensor(rng.integers(0, 2, size=(4, 3)), dtype=torch.float16)
    x0, y0 = x.clone(), y.clone()
    out = losskit.AsymmetricLoss()(x, y)
    assert out.dtype == torch.float16
    want = losskit.AsymmetricLoss()(x.double(), y.double())
    torch.testing.assert_close(out.double(), want, rtol=2e-3, atol=2e-3)
    assert torch.equal(x, x0) and torch.equal(y, y0)


def test_detach_under_torch_compile_and_jax_jit():
    """The detach option (left out of the gradcheck recipes: the gradient is deliberately not the
    derivative) compiles whole and keeps its gradient under torch.compile and jax.jit."""
    x, y = _logits((4, 5)), rng.uniform(0, 1, size=(4, 5))
    fn = losskit.functional.asymmetric_loss
    kw = {"gamma_pos": 1.0, "gamma_neg": 3.0, "clip": 0.05, "detach_focal_weight": True}
    t = torch.tensor(x, requires_grad=True)
    eager = fn(t, torch.tensor(y), **kw)
    (g_eager,) = torch.autograd.grad(eager.sum(), [t])
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, b, clip: fn(a, b, **{**kw, "clip": clip}), fullgraph=True, backend="aot_eager")
    out = compiled(t, torch.tensor(y), 0.05)
    (g_comp,) = torch.autograd.grad(out.sum(), [t])
    torch.testing.assert_close(out, eager, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g_comp, g_eager, rtol=1e-12, atol=1e-14)
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    jx, jy = jnp.asarray(x), jnp.asarray(y)
    g_jit = jax.jit(jax.grad(lambda a: fn(a, jy, **kw).sum()))(jx)
    np.testing.assert_allclose(np.asarray(g_jit), g_eager.numpy(), rtol=1e-10, atol=1e-14)


def test_registered_for_binary_curves_with_repr():
    info = losskit.loss_info("AsymmetricLoss")
    assert info.family == "classification"
    assert info.curve == "binary"
    r = repr(losskit.AsymmetricLoss(gamma_pos=1, clip=None, detach_focal_weight=True))
    assert "gamma_pos=1.0" in r and "gamma_neg=4.0" in r and "clip=0.0" in r and "detach_focal_weight=True" in r


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gamma_pos": -0.5}, ValueError, "gamma_pos"),
        ({"gamma_neg": -1}, ValueError, "gamma_neg"),
        ({"gamma_neg": float("nan")}, ValueError, "gamma_neg"),
        ({"gamma_pos": "1"}, TypeError, "gamma_pos"),
        ({"gamma_neg": True}, TypeError, "gamma_neg"),
        ({"clip": 1.0}, ValueError, "clip"),
        ({"clip": -0.05}, ValueError, "clip"),
        ({"clip": "0.05"}, TypeError, "clip"),
        ({"detach_focal_weight": "yes"}, TypeError, "detach_focal_weight"),
        ({"detach_focal_weight": 1}, TypeError, "detach_focal_weight"),
    ],
)
def test_invalid_options_raise_in_class_and_function(kwargs, error, match):
    with pytest.raises(error, match=match):
        losskit.AsymmetricLoss(**kwargs)
    with pytest.raises(error, match=match):
        losskit.functional.asymmetric_loss(np.zeros((2, 2)), np.zeros((2, 2)), **kwargs)


def test_input_errors_name_the_inputs():
    with pytest.raises(ValueError, match="label"):
        losskit.AsymmetricLoss()(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="sample_weight"):
        losskit.AsymmetricLoss()(np.zeros((2, 3)), np.zeros((2, 3)), np.ones((3, 1)))
