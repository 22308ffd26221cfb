"""``label_smoothing`` of SigmoidBCELoss and SigmoidFocalLoss (Keras's binary smoothing,
``y (1 - ls) + ls / 2``; the Keras fixtures are in test_keras_losses.py): closed forms, the torch
fast path against the generic one, the options' checks."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as LF
from backends import BACKENDS, check_values_and_gradients, to_backend, to_numpy, torch_reference

torch = pytest.importorskip("torch")
from losskit import _fast  # noqa: E402

rng = np.random.default_rng(0)


def _log_sigmoid(x):
    return -np.logaddexp(0, -x)


@pytest.mark.parametrize("ls", [0.1, 0.5, 1.0])
def test_bce_closed_form(ls):
    """-[z' log s(x) + (1 - z') log s(-x)], z' = z (1 - ls) + ls / 2, pos_weight on z'."""
    x = rng.normal(size=(5, 4)) * 3
    z = rng.integers(0, 2, size=(5, 4)).astype(float)
    zs = z * (1 - ls) + ls / 2
    want = -(zs * _log_sigmoid(x) + (1 - zs) * _log_sigmoid(-x)).mean(1)
    check_values_and_gradients(losskit.SigmoidBCELoss(label_smoothing=ls), (x, z), want)
    pw = rng.uniform(0.5, 3, size=(1, 4))
    want_pw = -(pw * zs * _log_sigmoid(x) + (1 - zs) * _log_sigmoid(-x)).mean(1)
    check_values_and_gradients(losskit.SigmoidBCELoss(label_smoothing=ls), (x, z, None, pw), want_pw)
    p = rng.uniform(0.05, 0.95, size=(5, 4))
    want_p = -(zs * np.log(p) + (1 - zs) * np.log1p(-p)).mean(1)
    check_values_and_gradients(losskit.SigmoidBCELoss(from_sigmoid=True, label_smoothing=ls), (p, z), want_p, rtol=1e-9)


def test_hand_values():
    # z = 1, ls = 0.2 -> 0.9: 0.9 softplus(-2) + 0.1 softplus(2) = 0.1 * 2 + softplus(-2)
    got = losskit.SigmoidBCELoss(label_smoothing=0.2)(np.array([[2.0]]), np.array([[1.0]]))
    np.testing.assert_allclose(got, [0.2 + np.log1p(np.exp(-2.0))], rtol=1e-14)
    # ls = 1: every label is 1/2, the loss does not depend on it
    x = rng.normal(size=(3, 4))
    a = losskit.SigmoidBCELoss(label_smoothing=1.0)(x, np.zeros((3, 4)))
    b = losskit.SigmoidBCELoss(label_smoothing=1.0)(x, np.ones((3, 4)))
    np.testing.assert_allclose(a, b, rtol=1e-14)
    np.testing.assert_allclose(a, losskit.SigmoidBCELoss()(x, np.full((3, 4), 0.5)), rtol=1e-14)
    # ls = 0 is no smoothing, exactly
    z = rng.uniform(size=(3, 4))
    np.testing.assert_array_equal(losskit.SigmoidBCELoss(label_smoothing=0.0)(x, z), losskit.SigmoidBCELoss()(x, z))


def keras_focal(x, y, gamma, alpha=None, ls=0.0):
    """Keras's binary_focal_crossentropy from logits, transcribed in torch (its BCE without the
    epsilon clip, which does not bite for the inputs here)."""
    y = y * (1 - ls) + 0.5 * ls
    p = torch.sigmoid(x)
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    out = torch.pow(1 - p_t, gamma) * bce
    if alpha is not None:
        out = (y * alpha + (1 - y) * (1 - alpha)) * out
    return out.mean(-1)


@pytest.mark.parametrize(("alpha", "gamma", "ls"), [(None, 2.0, 0.1), (0.3, 1.5, 0.25), (0.25, 0.5, 1.0)])
def test_focal_matches_keras_transcription(alpha, gamma, ls):
    x = rng.normal(size=(5, 4)) * 2
    y = rng.integers(0, 2, size=(5, 4)).astype(float)
    y[0] = rng.uniform(size=4)  # soft labels too
    want, grads = torch_reference(lambda a, b: keras_focal(a, b, gamma, alpha, ls), (x, y), (0, 1))
    loss = losskit.SigmoidFocalLoss(alpha=alpha, gamma=gamma, label_smoothing=ls)
    check_values_and_gradients(loss, (x, y), want, grads, float_args=(0, 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("pos_weight", [None, "tensor"])
@pytest.mark.parametrize("ls", [0.0, 0.1, 0.7])
def test_fast_path_with_smoothing_equals_generic(dtype, pos_weight, ls):
    """Smoothing keeps torch's fused op (the label smoothed first): it is called, and its values and
    gradients (logits and label) equal the generic formula's."""
    x = torch.tensor(rng.normal(size=(6, 5)) * 4, dtype=dtype, requires_grad=True)
    z = torch.tensor(rng.uniform(size=(6, 5)), dtype=dtype, requires_grad=True)
    pw = None if pos_weight is None else torch.tensor(rng.uniform(0.5, 3, size=(1, 5)), dtype=dtype)
    calls = []
    original = _fast.torch_bce_with_logits

    def spy(*args):
        calls.append(args)
        return original(*args)

    _fast.torch_bce_with_logits = spy
    try:
        got = LF.sigmoid_binary_cross_entropy(x, z, None, pw, label_smoothing=ls)
    finally:
        _fast.torch_bce_with_logits = original
    assert len(calls) == 1
    if ls != 0:  # the fused op got the smoothed label, not the raw one
        torch.testing.assert_close(calls[0][1], z * (1 - ls) + ls / 2)
    with _fast.disabled():
        want = LF.sigmoid_binary_cross_entropy(x, z, None, pw, label_smoothing=ls)
    tol = 2e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    for a, b in zip(torch.autograd.grad(got.sum(), [x, z]), torch.autograd.grad(want.sum(), [x, z])):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [lambda: losskit.SigmoidBCELoss(label_smoothing=0.3),
                                  lambda: losskit.SigmoidFocalLoss(label_smoothing=0.3)])  # fmt: skip
def test_inputs_left_alone_and_dtype_kept(backend, make):
    x0, z0 = rng.normal(size=(3, 4)), rng.integers(0, 2, size=(3, 4)).astype(float)
    x, z = to_backend(x0, backend, "float32"), to_backend(z0, backend, "float32")
    out = make()(x, z)
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(to_numpy(x), x0.astype(np.float32))
    np.testing.assert_array_equal(to_numpy(z), z0.astype(np.float32))


@pytest.mark.parametrize(
    ("value", "error"),
    [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError), ("0.1", TypeError), (True, TypeError)],
)
@pytest.mark.parametrize(
    "make",
    [
        lambda v: losskit.SigmoidBCELoss(label_smoothing=v),
        lambda v: losskit.SigmoidFocalLoss(label_smoothing=v),
        lambda v: LF.sigmoid_binary_cross_entropy(np.zeros((2, 2)), np.zeros((2, 2)), label_smoothing=v),
        lambda v: LF.sigmoid_focal_loss(np.zeros((2, 2)), np.zeros((2, 2)), label_smoothing=v),
    ],
)
def test_invalid_label_smoothing(make, value, error):
    with pytest.raises(error, match="label_smoothing"):
        make(value)


def test_label_smoothing_is_keyword_only_and_in_repr():
    """Gluon's positional order (from_sigmoid, weight, batch_axis) is kept."""
    loss = losskit.SigmoidBCELoss(False, 2.0, 1, label_smoothing=0.1)
    assert loss._weight == 2.0 and loss._batch_axis == 1
    assert "label_smoothing=0.1" in repr(loss)
    assert "label_smoothing=0.2" in repr(losskit.SigmoidFocalLoss(label_smoothing=0.2))
