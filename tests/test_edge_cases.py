"""Edge cases found in review, each against an independent reference: PyTorch's own op, a closed
form, or finite differences. Each of these failed before its fix."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import to_backend, to_numpy

torch = pytest.importorskip("torch")


def _grad(backend, fn, x):
    """d sum(fn(x)) / dx on ``backend`` (float64 on torch, float32 on JAX)."""
    if backend == "torch":
        t = torch.as_tensor(x, dtype=torch.float64).requires_grad_(True)
        (g,) = torch.autograd.grad(fn(t).sum(), t)
        return g.numpy()
    jax = pytest.importorskip("jax")
    return np.asarray(jax.grad(lambda v: fn(v).sum())(to_backend(np.asarray(x), "jax", "float32")))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_log_cosh_derivative_is_tanh_also_at_the_branch_point(backend):
    """d/dp log cosh(p - y) = tanh(p - y); at |p - y| = 1 exactly, min(|d|, 1) split it in half."""
    pred = np.array([[1.0, -1.0, 0.999, 3.0, 0.0]])

    def loss(p):
        return losskit.LogCoshLoss()(p, p * 0)

    np.testing.assert_allclose(_grad(backend, loss, pred), np.tanh(pred) / pred.shape[1], rtol=1e-5)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("alpha", [None, 0.25, [0.2, 0.3, 0.5]])
def test_softmax_focal_with_a_masked_class_has_finite_gradients(backend, alpha):
    """A class masked with a logit of -inf (probability 0) is no target: the loss is the focal loss
    over the other classes, and its gradient is finite (0 for the masked class), as for cross-entropy."""
    x = np.array([[2.0, 0.5, -np.inf], [0.0, 1.0, -np.inf]])
    y = np.array([0, 1])
    gamma = 2.0
    # closed form over the two unmasked classes
    z = x[:, :2]
    p = np.exp(z - np.log(np.exp(z).sum(1, keepdims=True)))
    p_t = p[np.arange(2), y]
    a_t = 1.0 if alpha is None else (alpha if isinstance(alpha, float) else np.asarray(alpha)[y])
    want = -a_t * (1 - p_t) ** gamma * np.log(p_t)

    def loss(v):
        a = alpha
        if isinstance(alpha, list):  # one weight per class of v (the first two without the masked one)
            a = to_backend(np.asarray(alpha[: v.shape[1]]), backend, "float32")
        return losskit.SoftmaxFocalLoss(gamma=gamma, alpha=a)(v, to_backend(y, backend))

    if backend == "torch":
        got = loss(torch.as_tensor(x))
    else:
        got = loss(to_backend(x, "jax", "float32"))
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5)
    grad = _grad(backend, loss, x)
    assert np.isfinite(grad).all(), grad
    np.testing.assert_array_equal(grad[:, 2], 0.0)
    # the unmasked columns: the gradient of the same loss without the masked class
    unmasked = _grad(backend, loss, z)
    np.testing.assert_allclose(grad[:, :2], unmasked, rtol=1e-5, atol=1e-7)


# T: frames per sequence; labels padded with -1. Rows: infeasible "a a a" in 3 frames (needs 5),
# no frame with a label, no frame and no label (probability 1), "b b" in 3 frames, "b c b" in 4.
CTC_LABEL = np.array([[0, 0, 0], [1, 2, -1], [0, -1, -1], [1, 1, -1], [1, 2, 1]])
CTC_PRED_LENGTHS = np.array([3, 0, 0, 3, 4])
CTC_LABEL_LENGTHS = np.array([3, 2, 0, 2, 3])


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("path", ["auto", "generic"])
def test_ctc_zero_length_inputs_and_infeasible_labels_as_torch(backend, path):
    """torch.nn.functional.ctc_loss: +inf where no alignment exists (also on optax's path, whose
    log(0) is -1e5), 0 for an empty label in no frames, +inf for a label in no frames."""
    if backend == "jax":
        pytest.importorskip("jax")
    logits = np.random.default_rng(0).normal(size=(4, 5, 4))
    blank = logits.shape[-1] - 1
    want = torch.nn.functional.ctc_loss(
        torch.log_softmax(torch.as_tensor(logits), -1),
        torch.as_tensor(np.where(CTC_LABEL < 0, 0, CTC_LABEL)),
        torch.as_tensor(CTC_PRED_LENGTHS),
        torch.as_tensor(CTC_LABEL_LENGTHS),
        blank=blank,
        reduction="none",
    ).numpy()
    assert np.isinf(want[[0, 1]]).all() and want[2] == 0 and np.isfinite(want[3:]).all()
    dtype = "float64" if backend != "jax" else "float32"
    got = F.ctc_loss(
        to_backend(logits, backend, dtype),
        to_backend(CTC_LABEL, backend),
        to_backend(CTC_PRED_LENGTHS, backend),
        to_backend(CTC_LABEL_LENGTHS, backend),
        layout="TNC",
        backend=path,
    )
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5)


def test_fused_linear_cross_entropy_on_an_empty_batch():
    from losskit.fused import linear_cross_entropy

    h, w, y = np.zeros((0, 3)), np.ones((5, 3)), np.zeros((0,), dtype=np.int64)
    assert linear_cross_entropy(h, w, y, reduction="none").shape == (0,)
    for reduction in ("mean", "sum"):
        got = linear_cross_entropy(h, w, y, reduction=reduction)
        want = linear_cross_entropy(torch.as_tensor(h), torch.as_tensor(w), torch.as_tensor(y), reduction=reduction)
        assert float(got) == float(want) == 0.0


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_float_labels_are_a_value_error(bad):
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="non-finite"):
        losskit.SoftmaxCELoss()(x, np.array([0.0, bad]))
