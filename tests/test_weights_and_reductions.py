"""The base machinery every loss shares: ``sample_weight`` shapes and dtypes, the global
``weight``, the per-example mean or sum, and the whole-batch reductions' denominators
(``_core.check_sample_weight``, ``finish``, ``reduce_all``). Each test was written against a
mutant of that code which the rest of the suite let pass (a mutation review, 2026-12-01).

References are closed forms (L2Loss = 0.5 (p - l)^2, mean over the non-batch axes) or
torch.nn.functional; never losskit's own output.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import losskit

torch = pytest.importorskip("torch")


def _l2_reference(pred, label, w=1.0):
    """L2Loss by hand: 0.5 * w * (pred - label)^2, the mean over every axis but 0."""
    per = 0.5 * np.asarray(w, dtype=np.float64) * (pred - label) ** 2
    return per.reshape(per.shape[0], -1).mean(axis=1)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_a_weight_with_fewer_axes_and_several_entries_is_refused_by_losskit(lib):
    """(1, 3) against a (2, 3, 4) loss: only an all-ones shape is a single weight; any other shape
    with fewer axes must get losskit's ValueError naming the shapes, not the backend's reshape error
    (torch: a RuntimeError) from treating it as one weight."""
    mk = np.asarray if lib == "numpy" else torch.as_tensor
    pred, label = mk(np.zeros((2, 3, 4))), mk(np.zeros((2, 3, 4)))
    for shape in [(1, 3), (3, 1), (1, 4)]:
        with pytest.raises(ValueError, match=re.escape(f"sample_weight shape {shape} does not broadcast")):
            losskit.L2Loss()(pred, label, mk(np.ones(shape)))


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_a_0d_array_sample_weight_scales_every_element(lib):
    """A 0-d array is a documented sample_weight ("as many axes as the loss (or none)")."""
    mk = np.asarray if lib == "numpy" else torch.as_tensor
    rng = np.random.default_rng(0)
    pred, label = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    got = losskit.L2Loss()(mk(pred), mk(label), mk(np.asarray(2.5)))
    np.testing.assert_allclose(np.asarray(got), _l2_reference(pred, label, 2.5), rtol=1e-12)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_a_boolean_mask_is_a_sample_weight(lib):
    """A bool mask is a real sample_weight (check_sample_weight accepts 'integral' and 'bool'):
    masked-out elements count 0 in the mean, kept ones 1."""
    mk = np.asarray if lib == "numpy" else torch.as_tensor
    rng = np.random.default_rng(1)
    pred, label = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    mask = rng.uniform(size=(3, 4)) > 0.5
    got = losskit.L2Loss()(mk(pred), mk(label), mk(mask))
    np.testing.assert_allclose(np.asarray(got), _l2_reference(pred, label, mask.astype(np.float64)), rtol=1e-12)


def test_an_integer_sample_weight_under_the_strict_array_api():
    """finish() casts an array sample_weight to the loss's dtype before multiplying: the array API
    defines no int * float promotion (array_api_strict raises TypeError), so an integer weight
    array (counts, a 0/1 mask stored as int) must work on every conforming namespace."""
    xp = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(2)
    pred, label = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    counts = rng.integers(0, 4, size=(3, 1))
    got = losskit.L2Loss()(xp.asarray(pred), xp.asarray(label), xp.asarray(counts))
    np.testing.assert_allclose(np.asarray(got), _l2_reference(pred, label, counts.astype(np.float64)), rtol=1e-12)


@pytest.mark.parametrize("shape", [(2, 0), (2, 3, 0)])
def test_a_sum_over_an_empty_axis_is_zero_not_an_error(shape):
    """finish(reduce='sum') (KLDivLoss: a sum over the classes) of examples with no elements is
    0, as torch's kl_div(reduction='none').sum(...) gives; only a *mean* over nothing is refused."""
    pred, label = torch.zeros(shape), torch.zeros(shape)
    want = torch.nn.functional.kl_div(pred, label, reduction="none").sum(dim=tuple(range(1, len(shape))))
    got = losskit.KLDivLoss()(pred, label)
    torch.testing.assert_close(got, want)
    np.testing.assert_array_equal(losskit.KLDivLoss()(np.zeros(shape), np.zeros(shape)), np.zeros(2))


def test_a_negative_global_weight_scales_the_loss_with_its_sign():
    """weight is Gluon's global scale, any finite number: finish() multiplies by it as it is."""
    rng = np.random.default_rng(3)
    pred, label = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    got = losskit.L2Loss(weight=-2.0)(pred, label)
    np.testing.assert_allclose(got, -2.0 * _l2_reference(pred, label), rtol=1e-12)


@pytest.mark.parametrize("lib", ["numpy", "strict"])
def test_cross_entropy_mean_with_a_negative_class_weight_sum_matches_torch(lib):
    """reduce_all's 'mean' divides by the sum of the targets' class weights whenever it is not 0,
    also when it is negative (torch's weighted mean does; only 0 gives 0)."""
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3))
    y = np.array([0, 1, 2, 1, 0])
    w = np.array([-1.0, -2.0, 0.5])
    want = F.cross_entropy(torch.as_tensor(x), torch.as_tensor(y), weight=torch.as_tensor(w)).item()
    if lib == "strict":
        xp = pytest.importorskip("array_api_strict")
        x, y, w = xp.asarray(x), xp.asarray(y), xp.asarray(w)
    got = losskit.SoftmaxCELoss(class_weight=w, reduction="mean")(x, y)
    np.testing.assert_allclose(float(got), want, rtol=1e-12)


@pytest.mark.parametrize("lib", ["numpy", "strict"])
def test_a_zero_class_weight_sum_gives_zero_even_when_the_weighted_sum_is_not(lib):
    """reduce_all: 'mean' with a zero denominator is 0 (documented), not the undivided sum. Class
    weights of both signs make the denominator 0 while the weighted sum of losses is not:
    w = (1, -1) with targets 0 and 1 sums to 0, the weighted losses to nll_0 - nll_1 != 0."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 4))
    y = np.array([0, 1])
    w = np.array([1.0, -1.0, 1.0, 1.0])
    nll = -(x - np.log(np.exp(x).sum(axis=1, keepdims=True)))[np.arange(2), y]
    assert abs(nll[0] - nll[1]) > 1e-3  # the undivided weighted sum is not 0 here
    if lib == "strict":
        xp = pytest.importorskip("array_api_strict")
        x, y, w = xp.asarray(x), xp.asarray(y), xp.asarray(w)
    got = losskit.SoftmaxCELoss(class_weight=w, reduction="mean")(x, y)
    assert float(got) == 0.0


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_a_zero_global_weight_zeroes_the_loss(lib):
    """weight=0.0 is a number, not None: finish() must apply it (a falsy test would skip it)."""
    mk = np.asarray if lib == "numpy" else torch.as_tensor
    got = losskit.L2Loss(weight=0.0)(mk(np.ones((2, 3))), mk(np.zeros((2, 3))))
    np.testing.assert_array_equal(np.asarray(got), [0.0, 0.0])
    got = losskit.SoftmaxCELoss(weight=0.0, reduction="mean")(mk(np.ones((2, 3))), mk(np.array([0, 2])))
    assert float(got) == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(
    "make", [losskit.SupConLoss, losskit.TripletHardLoss, losskit.TripletSemiHardLoss], ids=lambda c: c.__name__
)
def test_a_reduced_metric_loss_keeps_a_float16_input_dtype(make, reduction):
    """reduce_all casts the reduced value to out_dtype (the embeddings' dtype), as 'none' does:
    float16 embeddings are computed in float32 and give a float16 loss, for 'mean' and 'sum' too."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 3)).astype(np.float16)
    y = np.array([0, 0, 1, 1, 2, 2])
    got = make(reduction=reduction)(x, y)
    assert got.dtype == np.float16 and got.shape == ()
