"""JAX transformations: ``jit`` equals eager, ``vmap`` equals a loop, for every loss."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from backends import to_backend, to_numpy
from cases import CASES

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")


def _args(case, seed=0):
    raw = case.make(np.random.default_rng(seed))
    return [to_backend(x, "jax", "float64" if i in case.float_args else None) for i, x in enumerate(raw)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_jit_equals_eager(case):
    loss = losskit.get_loss(case.loss, **case.init)
    args = _args(case)
    eager = loss(*args)
    jitted = jax.jit(lambda *a: loss(*a))(*args)
    np.testing.assert_allclose(to_numpy(jitted), to_numpy(eager), rtol=1e-12, atol=1e-12)
    grad = jax.jit(jax.grad(lambda p, *rest: loss(p, *rest).sum()))(*args)
    assert bool(jnp.all(jnp.isfinite(grad)))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vmap_equals_loop(case):
    loss = losskit.get_loss(case.loss, **case.init)
    batches = [_args(case, seed) for seed in (1, 2)]
    stacked = [jnp.stack([b[i] for b in batches]) for i in range(len(batches[0]))]
    mapped = jax.vmap(lambda *a: loss(*a))(*stacked)
    for k, b in enumerate(batches):
        np.testing.assert_allclose(to_numpy(mapped[k]), to_numpy(loss(*b)), rtol=1e-12, atol=1e-12)


def test_probabilities_of_exactly_0_and_1_under_jit():
    """SigmoidBCELoss(from_sigmoid=True) at a saturated sigmoid (p = 1.0 in float32): MXNet's
    log(1 - p + 1e-12). XLA rewrote (1 - p) + 1e-12 into (1 + 1e-12) - p, which is 0 in float32,
    so jit gave NaN (and inf at p = 0) where eager, MXNet and torch give the same finite values."""
    loss = losskit.SigmoidBCELoss(from_sigmoid=True)
    p = jnp.array([[1.0, 0.0, 0.5, 1 - 2.0**-24]], jnp.float32)
    for z in (jnp.ones_like(p), jnp.zeros_like(p), jnp.array([[0.0, 1.0, 1.0, 0.0]], jnp.float32)):
        want = -(z * np.log(np.asarray(p) + 1e-12) + (1 - z) * np.log(1 - np.asarray(p) + 1e-12)).mean(axis=1)
        np.testing.assert_allclose(jax.jit(loss)(p, z), want, rtol=1e-6)
        grad = jax.jit(jax.grad(lambda q, z=z: loss(q, z).sum()))(p)
        assert np.isfinite(np.asarray(grad)).all()
        np.testing.assert_array_equal(grad, jax.grad(lambda q, z=z: loss(q, z).sum())(p))


def test_class_indices_out_of_range_under_jit_are_as_the_docs_say():
    """Unchecked under jit (values are symbolic): an index >= C gives NaN, a negative one other
    than ignore_index is read from the end (C + y), as JAX indexes; SoftmaxCELoss's docstring and
    the README say so (a docstring once said the gather index was clamped)."""
    x = np.array([[1.0, 2.0, 3.0], [0.0, 5.0, 1.0], [2.0, -1.0, 0.5]])
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    got = jax.jit(losskit.SoftmaxCELoss())(jnp.asarray(x), jnp.array([3, -1, -3]))
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], [-log_p[1, 2], -log_p[2, 0]], rtol=1e-6)


def test_value_checks_read_eager_grad_tracers_and_skip_jit_ones():
    """Under eager jax.grad the differentiated input is a tracer that holds its values (Python's
    `if` works on it): from_sigmoid's range check and GaussianNLL's variance check run there, as on
    eager arrays and under torch.func.grad (they were skipped: NaN, and finite gradients);
    under jit the values are symbolic and the checks are skipped, as documented."""
    bce = losskit.SigmoidBCELoss(from_sigmoid=True)
    z = jnp.array([[1.0, 0.0]])

    def bce_total(p):
        return bce(p, z).sum()

    with pytest.raises(ValueError, match=r"pred holds values in \[-0.5, 1.5\], outside \[0, 1\]"):
        jax.grad(bce_total)(jnp.array([[1.5, -0.5]]))
    value, grad = jax.jit(jax.value_and_grad(bce_total))(jnp.array([[1.5, -0.5]]))
    assert np.isnan(value)
    np.testing.assert_allclose(jax.grad(bce_total)(jnp.array([[0.5, 0.25]])), [[-1.0, 2 / 3]], rtol=1e-6)

    gaussian = losskit.GaussianNLLLoss()
    mean, target = jnp.zeros((1, 2)), jnp.ones((1, 2))

    def nll_total(var):
        return gaussian(mean, target, var).sum()

    with pytest.raises(ValueError, match="var holds negative values"):
        jax.grad(nll_total)(jnp.array([[1.0, -2.0]]))
    assert np.isfinite(jax.jit(jax.grad(nll_total))(jnp.array([[1.0, -2.0]]))).all()


def test_label_checks_read_a_differentiated_label_under_eager_grad():
    """A label that jax.grad differentiates (a float label, as MXNet's fixtures do) is a tracer
    holding its values: the range check reads it (tolist on the tracer itself raised JAX's
    ConcretizationTypeError), refuses a bad one and passes a good one, whose gradient is 0 (the
    label only selects a branch)."""
    cos = losskit.CosineEmbeddingLoss()
    a, b = jnp.array([[1.0, 0.0, 2.0], [0.5, 1.0, 0.0]]), jnp.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])

    def total(y):
        return cos(a, b, y).sum()

    with pytest.raises(ValueError, match=r"label holds labels .* in \[1, 2\], outside the valid range \[-1, 1\]"):
        jax.grad(total)(jnp.array([1.0, 2.0]))
    np.testing.assert_array_equal(jax.grad(total)(jnp.array([1.0, -1.0])), [0.0, 0.0])
