"""Number options that also take a 0-d array of the inputs' library: a value traced by ``jax.jit``
or swept by ``jax.vmap`` (one quantile regression per quantile), or a tensor learnt by torch's
autograd. Checked against the same loss built with a Python number (values), against central
differences of that loss in the option (torch's gradient), and value by value (JAX's vmap).
Margins, Huber's rho and the contrastive temperatures are in ``test_edge_cases.py`` and the
metric-learning tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import losskit
from backends import to_backend, to_numpy

RNG = np.random.default_rng(11)
LOGITS = RNG.normal(size=(4, 5)) * 2
CLASSES = np.array([0, 3, 4, 1])
BINARY = (RNG.random(size=(4, 5)) < 0.4).astype(np.float64)
EMBEDDINGS = RNG.normal(size=(4, 3)) / 2
GROUPS = np.array([0, 1, 0, 1])
MAPS = RNG.normal(size=(4, 3, 5, 5))  # segmentation logits, classes on axis 1
MASKS = np.moveaxis(np.eye(3)[RNG.integers(0, 3, size=(4, 5, 5))], -1, 1)  # one-hot masks, pred's shape

#: (loss class, its option, two values of it, the loss's two inputs)
CASES: list[tuple[Callable[..., Any], str, tuple[float, float], tuple[np.ndarray, np.ndarray]]] = [
    (losskit.QuantileLoss, "quantile", (0.3, 0.9), (RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3)))),
    (losskit.SigmoidFocalLoss, "gamma", (1.5, 0.5), (LOGITS, BINARY)),
    (losskit.SoftmaxFocalLoss, "gamma", (1.5, 0.5), (LOGITS, CLASSES)),
    (losskit.PolyLoss, "epsilon", (0.7, -0.4), (LOGITS, CLASSES)),
    (losskit.GeneralizedCrossEntropyLoss, "q", (0.6, 0.2), (LOGITS, CLASSES)),
    (losskit.DistillationLoss, "temperature", (2.5, 0.8), (LOGITS, RNG.normal(size=(4, 5)) * 3)),
    (losskit.ArcFaceLoss, "scale", (30.0, 4.0), (np.tanh(LOGITS), CLASSES)),
    (losskit.CosFaceLoss, "scale", (30.0, 4.0), (np.tanh(LOGITS), CLASSES)),
    (losskit.ArcFaceLoss, "margin", (0.3, 0.1), (np.tanh(LOGITS), CLASSES)),
    (losskit.CosFaceLoss, "margin", (0.35, -0.1), (np.tanh(LOGITS), CLASSES)),
    (losskit.MultiMarginLoss, "margin", (1.0, 0.3), (LOGITS, CLASSES)),
    (losskit.CircleLoss, "gamma", (8.0, 2.0), (EMBEDDINGS, GROUPS)),
    (losskit.CircleLoss, "margin", (0.4, 0.1), (EMBEDDINGS, GROUPS)),
    (losskit.TverskyLoss, "alpha", (0.3, 0.8), (MAPS, MASKS)),
    (losskit.TverskyLoss, "beta", (0.3, 0.8), (MAPS, MASKS)),
    (losskit.TverskyLoss, "smooth", (1.0, 0.25), (MAPS, MASKS)),
    (losskit.TverskyLoss, "gamma", (0.75, 2.0), (MAPS, MASKS)),
    (losskit.DiceLoss, "smooth", (1.0, 0.25), (MAPS, MASKS)),
]
IDS = [f"{cls.__name__}-{option}" for cls, option, _, _ in CASES]


def _call(cls: Callable[..., Any], option: str, value: Any, inputs: tuple[Any, Any]) -> Any:
    return cls(**{option: value})(*inputs)


@pytest.mark.parametrize(("cls", "option", "values", "inputs"), CASES, ids=IDS)
def test_a_learnt_option_gets_the_central_difference_as_its_gradient(cls, option, values, inputs):
    torch = pytest.importorskip("torch")
    args = tuple(to_backend(a, "torch", "float64" if a.dtype.kind == "f" else None) for a in inputs)
    for value in values:
        learnt = torch.tensor(value, dtype=torch.float64, requires_grad=True)
        out = _call(cls, option, learnt, args)
        assert out.dtype == torch.float64 and tuple(out.shape) == (4,)
        torch.testing.assert_close(out.detach(), _call(cls, option, value, args), rtol=1e-12, atol=0)
        (grad,) = torch.autograd.grad(out.sum(), learnt)
        h = 1e-6
        central = (_call(cls, option, value + h, args).sum() - _call(cls, option, value - h, args).sum()) / (2 * h)
        assert grad.item() != 0
        assert grad.item() == pytest.approx(central.item(), rel=1e-6)


@pytest.mark.parametrize(("cls", "option", "values", "inputs"), CASES, ids=IDS)
def test_an_option_swept_by_jax_vmap_and_traced_by_jit(cls, option, values, inputs):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    args = tuple(to_backend(a, "jax", "float64" if a.dtype.kind == "f" else None) for a in inputs)
    swept = jax.vmap(lambda v: _call(cls, option, v, args))(jnp.asarray(values, dtype=jnp.float64))
    assert swept.shape == (2, 4) and swept.dtype == jnp.float64
    for row, value in zip(np.asarray(swept), values):
        np.testing.assert_allclose(row, np.asarray(_call(cls, option, value, args)), rtol=1e-12)
    jitted = jax.jit(lambda v: _call(cls, option, v, args))(jnp.asarray(values[0], dtype=jnp.float64))
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(_call(cls, option, values[0], args)), rtol=1e-12)


@pytest.mark.parametrize(("cls", "option", "values", "inputs"), CASES, ids=IDS)
def test_an_option_array_of_another_library_is_refused(cls, option, values, inputs):
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(  # NumPy's 0-d array with NumPy inputs: the number's value
        _call(cls, option, np.asarray(values[0]), inputs), _call(cls, option, values[0], inputs), rtol=1e-12
    )
    with pytest.raises(TypeError, match="numpy.*torch|torch.*numpy"):
        _call(cls, option, torch.tensor(values[0]), inputs)
    with pytest.raises(ValueError, match=rf"{option} must be a number or a 0-d array, got an array of shape \(2,\)"):
        cls(**{option: np.asarray(values)})


def test_a_quantile_per_output_column_by_vmap():
    """The use that asks for it: three quantiles of one target fitted at once (vmap over the
    quantile), each the pinball loss max(q d, (q - 1) d) of d = label - pred, averaged per row."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    pred, label = RNG.normal(size=(3, 6, 2)), RNG.normal(size=(6, 2))
    quantiles = np.array([0.1, 0.5, 0.9])
    out = jax.vmap(lambda p, q: losskit.QuantileLoss(quantile=q)(p, jnp.asarray(label)))(
        jnp.asarray(pred), jnp.asarray(quantiles)
    )
    d = label[None] - pred
    want = np.maximum(quantiles[:, None, None] * d, (quantiles[:, None, None] - 1) * d).mean(axis=2)
    np.testing.assert_allclose(to_numpy(out), want, rtol=1e-12)


def test_a_traced_choice_is_refused_by_losskit_not_by_jax():
    """MultiMarginLoss's p picks a formula (1 or 2): a traced p is no choice, and the error is
    losskit's TypeError (it was JAX's TracerBoolConversionError from inside the check); a concrete
    0-d array is read, as a number is."""
    jax = pytest.importorskip("jax")
    x, y = to_backend(LOGITS, "jax", "float32"), to_backend(CLASSES, "jax")
    with pytest.raises(TypeError, match="a traced p picks no formula"):
        jax.jit(lambda p: losskit.MultiMarginLoss(p=p)(x, y))(2)
    want = losskit.MultiMarginLoss(p=2)(LOGITS, CLASSES)
    np.testing.assert_array_equal(losskit.MultiMarginLoss(p=np.asarray(2))(LOGITS, CLASSES), want)
    torch = pytest.importorskip("torch")
    got = losskit.MultiMarginLoss(p=torch.tensor(2))(torch.from_numpy(LOGITS), torch.from_numpy(CLASSES))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    with pytest.raises(TypeError, match="p must be 1 or 2"):
        losskit.MultiMarginLoss(p=np.asarray([2]))


@pytest.mark.parametrize(("cls", "option", "values", "inputs"), CASES, ids=IDS)
def test_numpys_0d_array_is_a_number(cls, option, values, inputs):
    """NumPy's 0-d array is read as the number it holds: float32 inputs' arithmetic stays float32
    (a float64 0-d array is not weak in NumPy's promotion, NEP 50, and made every intermediate
    float64: the same value to float32's precision, not bit for bit), its bounds are checked,
    and the inputs may be of any library, as with a number."""
    inputs32 = tuple(a.astype(np.float32) if a.dtype.kind == "f" else a for a in inputs)
    want = _call(cls, option, values[0], inputs32)
    got = _call(cls, option, np.asarray(values[0], dtype=np.float64), inputs32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    torch = pytest.importorskip("torch")
    tensors = tuple(torch.from_numpy(a) for a in inputs32)
    torch.testing.assert_close(
        _call(cls, option, np.asarray(values[0]), tensors), _call(cls, option, values[0], tensors)
    )


@pytest.mark.parametrize(("option", "bad"), [("gamma", -0.5), ("alpha", 1.5), ("label_smoothing", -0.5)])
def test_numpys_0d_array_is_checked_as_a_number(option, bad):
    with pytest.raises(ValueError, match=rf"{option} must be in \[0, .*got {bad}"):
        losskit.SigmoidFocalLoss(**{option: np.asarray(bad)})
    # torchvision's alpha=-1 (no alpha_t) read from NumPy's 0-d array as from the number
    np.testing.assert_array_equal(
        losskit.SigmoidFocalLoss(alpha=np.asarray(-1.0))(LOGITS, BINARY),
        losskit.SigmoidFocalLoss(alpha=-1)(LOGITS, BINARY),
    )
