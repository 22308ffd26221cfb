"""``losskit.fused.linear_cross_entropy`` against the unfused reference ``cross_entropy(linear(h))``."""

from __future__ import annotations

import numpy as np
import pytest

from backends import to_numpy
from losskit.fused import linear_cross_entropy

torch = pytest.importorskip("torch")
tf = torch.nn.functional
N, D, V = 37, 16, 50


def _inputs(dtype=torch.float64, ignore_every=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, D, dtype=dtype, generator=g)
    w = torch.randn(V, D, dtype=dtype, generator=g)
    b = torch.randn(V, dtype=dtype, generator=g)
    y = torch.randint(0, V, (N,), generator=g)
    if ignore_every:
        y[::ignore_every] = -100
    return h, w, b, y


def _reference(h, w, b, y, reduction, z_loss):
    logits = tf.linear(h, w, b)
    lse = torch.logsumexp(logits, dim=1)
    per = torch.where(y != -100, tf.cross_entropy(logits, y, reduction="none") + z_loss * lse**2, 0.0)
    if reduction == "none":
        return per
    return per.sum() if reduction == "sum" else per.sum() / (y != -100).sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
@pytest.mark.parametrize("chunk_size", [8, 37, None])
def test_torch_values_and_gradients(reduction, z_loss, chunk_size):
    h, w, b, y = (t.requires_grad_(t.dtype.is_floating_point) for t in _inputs())
    out = linear_cross_entropy(h, w, y, bias=b, reduction=reduction, z_loss=z_loss, chunk_size=chunk_size)
    ref = _reference(h, w, b, y, reduction, z_loss)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    if reduction == "mean":  # equals torch's own cross_entropy with ignore_index
        if z_loss == 0:
            torch.testing.assert_close(out, tf.cross_entropy(tf.linear(h, w, b), y), rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(out)
    got = torch.autograd.grad(out, (h, w, b), upstream)
    want = torch.autograd.grad(ref, (h, w, b), upstream)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_torch_gradcheck(reduction):
    g = torch.Generator().manual_seed(1)
    h, w, b = (
        torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True) for shape in ((9, 6), (12, 6), (12,))
    )
    y = torch.tensor([0, 3, -100, 11, 5, 5, 2, -100, 7])
    assert torch.autograd.gradcheck(
        lambda h, w, b: linear_cross_entropy(h, w, y, bias=b, reduction=reduction, chunk_size=4, z_loss=1e-2), (h, w, b)
    )


def test_all_ignored_is_zero_with_zero_gradient():
    h, w, b, y = _inputs(ignore_every=0)
    h.requires_grad_()
    out = linear_cross_entropy(h, w, torch.full_like(y, -100), bias=b)
    (g,) = torch.autograd.grad(out, h)
    assert out.item() == 0.0 and torch.count_nonzero(g) == 0


def test_bfloat16_inputs_give_a_float32_loss_close_to_the_reference():
    h, w, b, y = (t.bfloat16() if t.dtype.is_floating_point else t for t in _inputs(torch.float32))
    out = linear_cross_entropy(h, w, y, bias=b)
    assert out.dtype == torch.float32
    # the reference sees the same bfloat16 values; only the bf16 logits' rounding differs
    torch.testing.assert_close(
        out, _reference(h.double(), w.double(), b.double(), y, "mean", 0.0).float(), rtol=1e-2, atol=0
    )


def test_jax_matches_torch_values_and_gradients():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    h, w, b, y = _inputs()
    hj, wj, bj, yj = (jnp.asarray(t.numpy()) for t in (h, w, b, y))
    for reduction in ("mean", "none", "sum"):

        def f(h_, w_, b_, reduction=reduction):
            return linear_cross_entropy(h_, w_, yj, bias=b_, reduction=reduction, chunk_size=8, z_loss=1e-3)

        out = f(hj, wj, bj)
        np.testing.assert_allclose(to_numpy(jax.jit(f)(hj, wj, bj)), to_numpy(out), rtol=1e-12)
        weights = jnp.arange(out.size, dtype=out.dtype).reshape(out.shape)
        gj = jax.grad(lambda *a, wts=weights: (f(*a) * wts).sum(), argnums=(0, 1, 2))(hj, wj, bj)
        ht, wt, bt = (t.clone().requires_grad_() for t in (h, w, b))
        ref = _reference(ht, wt, bt, y, reduction, 1e-3)
        gt = torch.autograd.grad((ref * torch.as_tensor(np.asarray(weights))).sum(), (ht, wt, bt))
        np.testing.assert_allclose(to_numpy(out), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        for a, e in zip(gj, gt):
            np.testing.assert_allclose(to_numpy(a), e.numpy(), rtol=1e-9, atol=1e-12)


def test_numpy_forward():
    h, w, b, y = _inputs()
    out = linear_cross_entropy(h.numpy(), w.numpy(), y.numpy(), bias=b.numpy(), reduction="none", chunk_size=7)
    np.testing.assert_allclose(out, _reference(h, w, b, y, "none", 0.0).numpy(), rtol=1e-12, atol=1e-12)


def test_errors():
    h, w, b, y = _inputs()
    with pytest.raises(ValueError, match=r"hidden shape \(37, 16\) and weight shape \(50, 8\)"):
        linear_cross_entropy(h, w[:, :8], y)
    with pytest.raises(ValueError, match=r"label shape \(36,\)"):
        linear_cross_entropy(h, w, y[:36])
    with pytest.raises(ValueError, match="outside the valid range"):
        linear_cross_entropy(h, w, torch.where(y == -100, 50, y))
    with pytest.raises(ValueError, match="reduction"):
        linear_cross_entropy(h, w, y, reduction="avg")
    with pytest.raises(TypeError, match="integer"):
        linear_cross_entropy(h, w, y.double())


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_torch_second_derivative_is_refused_not_wrong(reduction):
    """The gradients are formed without a graph: create_graph=True must fail loudly (a gradient
    penalty would otherwise silently lose every term through the loss)."""
    h, w, b, y = (t.requires_grad_(t.dtype.is_floating_point) for t in _inputs())
    loss = linear_cross_entropy(h, w, y, bias=b, reduction=reduction).sum()
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.autograd.grad(loss, h, create_graph=True)
    (g,) = torch.autograd.grad(loss, h)  # a plain backward still works
    assert torch.isfinite(g).all()


def test_jax_padded_last_chunk_with_a_large_bias_keeps_gradients_finite():
    """N not a multiple of the chunk: the padding rows must contribute exactly 0, also where
    exp(bias) overflows float32 (bias 100 > log(float32 max) = 88.7)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    h, w, b, y = _inputs(dtype=torch.float32, ignore_every=0)
    b = b.clone()
    b[3] = 100.0
    hj, wj, bj, yj = (jnp.asarray(t.numpy()) for t in (h, w, b, y))
    assert N % 7 != 0
    grads = jax.grad(lambda *a: linear_cross_entropy(a[0], a[1], yj, bias=a[2], chunk_size=7), argnums=(0, 1, 2))(
        hj, wj, bj
    )
    ht, wt, bt = (t.clone().double().requires_grad_() for t in (h, w, b))
    want = torch.autograd.grad(_reference(ht, wt, bt, y, "mean", 0.0), (ht, wt, bt))
    for got, ref in zip(grads, want):
        assert np.isfinite(np.asarray(got)).all()
        np.testing.assert_allclose(np.asarray(got), ref.numpy(), rtol=2e-4, atol=2e-5)
