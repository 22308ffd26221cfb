"""Every loss on every backend and dtype: the result's library, dtype, device and shape, its
values against the NumPy float64 result, and inputs left untouched."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from backends import BACKENDS, assert_result, dtypes_for, to_backend, to_numpy
from cases import CASES

# output rounding only: inputs are rounded to the dtype first, the reference sees the same values
TOL = {"float64": 1e-12, "float32": 2e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


def _inputs(case, backend, dtype):
    raw = case.make(np.random.default_rng(0))
    arrays = [to_backend(x, backend, dtype if i in case.float_args else None) for i, x in enumerate(raw)]
    # the reference computes in float64 on exactly the (rounded) values the backend sees
    reference = [to_numpy(a).astype(np.float64) if i in case.float_args else r for i, (a, r) in
                 enumerate(zip(arrays, raw))]  # fmt: skip
    return arrays, reference


def test_every_registered_loss_has_a_recipe():
    """A recipe is what puts a loss through every backend, dtype, gradient and compile test."""
    registered = {name.lower() for name in losskit.list_losses()} | {a.lower() for a in _aliases()}
    unregistered = sorted({case.loss for case in CASES if case.loss.lower() not in registered})
    assert unregistered == [], f"recipes of unregistered losses (is the class decorated @register?): {unregistered}"
    covered = {losskit.loss_info(case.loss).name for case in CASES}
    assert set(losskit.list_losses()) - covered == set(), "registered losses without a recipe in tests/cases.py"


def _aliases():
    return [alias for name in losskit.list_losses() for alias in losskit.loss_info(name).aliases]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_result_type_shape_and_value(case, backend):
    loss = losskit.get_loss(case.loss, **case.init)
    for dtype in dtypes_for(backend):
        arrays, reference = _inputs(case, backend, dtype)
        before = [to_numpy(a).copy() if a is not None else None for a in arrays]
        out = loss(*arrays)
        assert_result(out, arrays[0], case.out_shape)
        want = loss(*[r.copy() if isinstance(r, np.ndarray) else r for r in reference])
        np.testing.assert_allclose(to_numpy(out), want, rtol=TOL[dtype], atol=TOL[dtype], err_msg=dtype)
        for a, b in zip(arrays, before):  # inputs are never modified
            if a is not None:
                np.testing.assert_array_equal(to_numpy(a), b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_functional_equals_class(backend):
    pred = to_backend(np.linspace(-2, 2, 12).reshape(4, 3), backend, "float64")
    label = to_backend(np.zeros((4, 3)), backend, "float64")
    np.testing.assert_array_equal(
        to_numpy(losskit.functional.huber_loss(pred, label, rho=0.5)), to_numpy(losskit.HuberLoss(rho=0.5)(pred, label))
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_tutorial_values(backend):
    """The seed tutorial's numbers, on every backend."""
    x = to_backend(np.ones(2), backend, "float32")
    y = to_backend(2 * np.ones(2), backend, "float32")
    np.testing.assert_allclose(to_numpy(losskit.L2Loss()(x, y)), [0.5, 0.5])
    np.testing.assert_allclose(
        to_numpy(losskit.L2Loss()(x, y, to_backend(np.array([1.0, 2.0]), backend, "float32"))), [0.5, 1.0]
    )
    logits = to_backend(np.array([[1.0, 10.0], [8.0, 2.0]]), backend, "float32")
    ce = losskit.SoftmaxCrossEntropyLoss()(logits, to_backend(np.array([0, 1]), backend))
    # -log softmax: 9 + log(1 + e^-9), 6 + log(1 + e^-6)
    np.testing.assert_allclose(to_numpy(ce), [9 + np.log1p(np.exp(-9)), 6 + np.log1p(np.exp(-6))], rtol=1e-6)


def test_batch_axis_keeps_that_axis():
    pred = np.arange(24.0).reshape(2, 3, 4)
    out = losskit.L1Loss(batch_axis=1)(pred, np.zeros_like(pred))
    np.testing.assert_allclose(out, np.abs(pred).mean(axis=(0, 2)))
    out = losskit.SoftmaxCELoss(batch_axis=1)(pred, np.zeros((2, 3), dtype=int))
    assert out.shape == (3,)


def test_weight_scales_and_l2_halves():
    pred, label = np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]])
    assert losskit.L2Loss(weight=4.0)(pred, label)[0] == pytest.approx(4.0 / 2 * (1 + 9) / 2)
    assert losskit.L1Loss(weight=3.0)(pred, label)[0] == pytest.approx(3.0 * 2)
    assert losskit.L1Loss(weight=None)(pred, label)[0] == pytest.approx(2)


# NLL reads only the label's entry of the log-probabilities, and the NaN is in another class;
# the CTC case's first sequence has no alignment, a loss zeroed by zero_infinity whatever its frames
_NAN_NOT_READ = {"nll_nchw_ignore_weight_mean", "ctc_zero_infinity"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_nan_prediction_gives_nan_on_every_backend(case):
    """A NaN in the prediction reaches the example's loss, on every backend alike: a loss that
    hid it (a ``where(x > 0, x, 0)`` relu maps NaN to 0) would hide a diverging model on NumPy
    and JAX while PyTorch's own ops show it."""
    loss = losskit.get_loss(case.loss, **case.init)
    masks = {}
    for backend in BACKENDS:
        raw = list(case.make(np.random.default_rng(0)))
        raw[0] = np.array(raw[0], dtype=np.float64)
        raw[0].reshape(-1)[0] = np.nan
        arrays = [to_backend(x, backend, "float64" if i in case.float_args else None) for i, x in enumerate(raw)]
        with np.errstate(invalid="ignore"):  # NumPy's warning about the NaN itself
            masks[backend] = np.isnan(to_numpy(loss(*arrays)))
    assert masks["numpy"].reshape(-1)[0] != (case.id in _NAN_NOT_READ), "the NaN's example has a finite loss"
    for backend, mask in masks.items():
        np.testing.assert_array_equal(mask, masks["numpy"], err_msg=backend)
