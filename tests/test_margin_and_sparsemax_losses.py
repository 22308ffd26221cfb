"""MultiLabelMarginLoss, CategoricalHingeLoss and SparsemaxLoss against independent references:
``torch.nn.functional.multilabel_margin_loss``, a NumPy closed form of Keras's ``categorical_hinge``
(values and hand-derived gradients), and ``optax.losses.multiclass_sparsemax_loss``; their
identities, and their errors. Values are compared on every backend in float64, gradients on
PyTorch and JAX against autograd through the reference; losskit's output is never the expected value.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import losskit
import losskit.functional as LF
from backends import (
    BACKENDS,
    check_values_and_gradients,
    to_backend,
    to_numpy,
    torch_reference,
)

torch = pytest.importorskip("torch")
tf = torch.nn.functional
rng = np.random.default_rng(2026)
N, C = 7, 5


check = check_values_and_gradients


# ---- MultiLabelMarginLoss: torch.nn.functional.multilabel_margin_loss --------------------------


def _target_lists(n_rows, n):
    """Rows of class indices padded with -1, covering what torch's semantics hinge on: no target, every
    class a target, a duplicated target, indices (in range) after the first -1, a -1 first."""
    rows = []
    for i in range(n_rows):
        row = rng.permutation(n)
        k = [0, n, 2, 3][i] if i < 4 else int(rng.integers(1, n))
        if i == 2:
            row[1] = row[0]  # class listed twice: counted twice
        if k < n:
            row[k] = -1
        rows.append(row)
    return np.stack(rows)


XML = rng.normal(size=(N, C)) * 1.5
YML = _target_lists(N, C)


def test_target_lists_cover_the_special_rows():
    assert (YML[0, 0] == -1) and (YML[1] >= 0).all() and YML[2, 0] == YML[2, 1]
    assert any((row[list(row).index(-1) + 1 :] >= 0).any() for row in YML if -1 in row)


def test_multilabel_margin_matches_torch():
    want, grads = torch_reference(lambda x, y: tf.multilabel_margin_loss(x, y, reduction="none"), [XML, YML])
    check(losskit.MultiLabelMarginLoss(), [XML, YML], want, grads)


def test_multilabel_margin_weights_and_axis_match_torch():
    sw = rng.uniform(0.5, 2, size=(N, 1))
    want, grads = torch_reference(
        lambda x, y, s: 0.5 * tf.multilabel_margin_loss(x, y, reduction="none") * s[:, 0], [XML, YML, sw], (0, 2)
    )
    check(losskit.MultiLabelMarginLoss(weight=0.5), [XML, YML, sw], want, grads, (0, 2))
    # the classes on axis 0 of (C, N) arrays, batch on axis 1: the same numbers
    want, grads = torch_reference(lambda x, y: tf.multilabel_margin_loss(x.T, y.T, reduction="none"), [XML.T, YML.T])
    check(losskit.MultiLabelMarginLoss(axis=0, batch_axis=1), [XML.T, YML.T], want, grads)


def test_multilabel_margin_positions_are_averaged_per_example():
    """(N, C, T) with classes on axis 1: torch's loss of each position, averaged per example."""
    x = rng.normal(size=(3, C, 2))
    y = np.moveaxis(_target_lists(6, C).reshape(3, 2, C), 2, 1)

    def ref(x, y):
        flat = tf.multilabel_margin_loss(
            x.permute(0, 2, 1).reshape(6, C), y.permute(0, 2, 1).reshape(6, C), reduction="none"
        )
        return flat.reshape(3, 2).mean(1)

    want, grads = torch_reference(ref, [x, y])
    check(losskit.MultiLabelMarginLoss(axis=1), [x, y], want, grads)


def test_multilabel_margin_one_unbatched_example_matches_torch():
    """A ``(C,)`` input is one example: shape ``(1,)``, torch's 0-d value."""
    for row in range(4):
        want, grads = torch_reference(
            lambda x, y: tf.multilabel_margin_loss(x, y, reduction="none").reshape(1), [XML[row], YML[row]]
        )
        check(losskit.MultiLabelMarginLoss(), [XML[row], YML[row]], want, grads)


def test_multilabel_margin_kink_has_gradient_zero_as_torch():
    """A (target, rival) pair exactly at the margin (1 - x_t + x_i = 0) gets no gradient, as torch's
    kernel (``z > 0``); the doctest's numbers by hand."""
    x = np.array([[0.1, 0.2, 0.4, 0.8], [2.0, 1.0, 0.25, -3.0]])
    y = np.array([[3, 0, -1, 1], [0, -1, 2, 2]])  # row 1: 1 - 2 + 1 = 0 exactly for the rival 1
    want, grads = torch_reference(lambda x, y: tf.multilabel_margin_loss(x, y, reduction="none"), [x, y])
    np.testing.assert_allclose(want, [0.85, 0.0])
    np.testing.assert_array_equal(grads[0][1], 0.0)
    check(losskit.MultiLabelMarginLoss(), [x, y], want, grads)


def test_multilabel_margin_float_labels_and_unchecked_negative_terminators():
    """Whole-number float labels are indices; with value checks off, any negative entry ends the
    list, as torch's kernel reads it (``< 0``: break)."""
    want = tf.multilabel_margin_loss(torch.tensor(XML), torch.tensor(YML), reduction="none").numpy()
    np.testing.assert_allclose(losskit.MultiLabelMarginLoss()(XML, YML.astype(np.float64)), want, rtol=1e-12)
    other = np.where(YML == -1, -7, YML)
    with losskit.value_checks(False):
        np.testing.assert_allclose(losskit.MultiLabelMarginLoss()(XML, other), want, rtol=1e-12)


def test_multilabel_margin_identities():
    """The order of the targets before the -1 does not matter; listing every class, or none, gives
    0; with one target it is MultiMarginLoss (margin 1, p 1) of that class."""
    x = torch.tensor(XML)
    shuffled = YML.copy()
    for row in shuffled:
        end = list(row).index(-1) if -1 in row else C
        row[:end] = row[:end][::-1]
    loss = losskit.MultiLabelMarginLoss()
    torch.testing.assert_close(loss(x, torch.tensor(shuffled)), loss(x, torch.tensor(YML)))
    everything = np.tile(np.arange(C), (N, 1))
    torch.testing.assert_close(loss(x, torch.tensor(everything)), torch.zeros(N, dtype=torch.float64))
    torch.testing.assert_close(loss(x, torch.full((N, C), -1)), torch.zeros(N, dtype=torch.float64))
    single = np.full((N, C), -1)
    single[:, 0] = rng.integers(0, C, size=N)
    torch.testing.assert_close(loss(x, torch.tensor(single)), losskit.MultiMarginLoss()(x, torch.tensor(single[:, 0])))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sample_weight", [None, "column", "scalar-array"])
def test_multilabel_margin_fast_path_equals_the_generic_formula(dtype, sample_weight, monkeypatch):
    """torch's fused multilabel_margin_loss (taken for (N, C), classes last) against the generic
    array-API formula (fast paths off): values and gradients, duplicates, entries after the -1, a
    pair exactly at the kink."""
    from losskit import _fast

    raw = XML.copy()
    end = list(YML[3]).index(-1)
    raw[3, YML[3, end + 1]] = raw[3, YML[3, 0]] - 1.0  # a rival exactly at the margin
    x = torch.tensor(raw, dtype=dtype, requires_grad=True)
    y = torch.tensor(YML)
    weights = {
        None: None,
        "column": torch.rand(N, 1, dtype=dtype) + 0.5,
        "scalar-array": torch.full((1, 1), 2.0, dtype=dtype),
    }
    calls = []
    real = _fast.torch_multilabel_margin
    monkeypatch.setattr(_fast, "torch_multilabel_margin", lambda *a: calls.append(1) or real(*a))
    loss = losskit.MultiLabelMarginLoss(weight=0.5)
    got = loss(x, y, weights[sample_weight])
    assert calls == [1] and got.shape == (N,) and got.dtype == dtype
    with _fast.disabled():
        want = loss(x, y, weights[sample_weight])
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    (g_got,) = torch.autograd.grad(got.sum(), x)
    (g_want,) = torch.autograd.grad(want.sum(), x)
    torch.testing.assert_close(g_got, g_want, rtol=tol, atol=tol)


def test_multilabel_margin_fast_path_is_cpu_only(monkeypatch):
    """torch's CUDA backward races (pytorch/pytorch#84202; a gradient 49 % off on an H200): off
    the CPU the formula is taken. Here a device is simulated by the predicate; meta tensors say no."""
    from losskit import _fast

    calls = []
    real = _fast.torch_multilabel_margin
    monkeypatch.setattr(_fast, "torch_multilabel_margin", lambda *a: calls.append(1) or real(*a))
    x = torch.tensor(XML, requires_grad=True)
    cpu = losskit.MultiLabelMarginLoss()(x, torch.tensor(YML))
    assert calls == [1]
    monkeypatch.setattr(_fast, "multilabel_margin_applies", lambda pred: False)
    off = losskit.MultiLabelMarginLoss()(x, torch.tensor(YML))
    assert calls == [1]
    torch.testing.assert_close(off, cpu)
    monkeypatch.undo()
    assert _fast.multilabel_margin_applies(x)
    assert not _fast.multilabel_margin_applies(torch.empty(2, 3, device="meta"))


def test_multilabel_margin_fast_path_keeps_the_nans_of_the_formula():
    """torch's kernel skips a NaN term; the fast path gives NaN exactly where the formula does: a
    row with a NaN and at least one (target, rival) pair; a row with no target, or every class a
    target, stays 0 as the formula's."""
    from losskit import _fast

    x = torch.tensor(rng.normal(size=(6, 5)))
    y = torch.tensor(
        [[0, -1, 0, 0, 0], [-1, 1, 2, 3, 4], [0, 1, 2, 3, 4], [1, 1, -1, 2, 0], [2, 3, -1, 4, 4], [4, -1, 0, 0, 0]]
    )
    x[0, 3] = x[1, 2] = x[2, 1] = x[3, 4] = x[4, 3] = math.nan  # row 4: the NaN is a target's, row 5 none
    got = losskit.MultiLabelMarginLoss()(x, y)
    with _fast.disabled():
        want = losskit.MultiLabelMarginLoss()(x, y)
    assert torch.isnan(got).tolist() == [True, False, False, True, True, False]
    torch.testing.assert_close(got, want, equal_nan=True)


def test_multilabel_margin_fast_path_keeps_the_infinite_differences_of_the_formula():
    """The same infinity at a target and a rival is 1 - inf + inf = NaN in the formula (the kernel
    skips it: 0); opposite infinities are a term of 0 or inf, the same on both paths."""
    from losskit import _fast

    x = torch.tensor(rng.normal(size=(6, 4)))
    y = torch.tensor([[0, -1, 0, 0], [0, -1, 0, 0], [0, -1, 0, 0], [1, 0, -1, 0], [0, 1, 2, 3], [2, -1, 0, 0]])
    x[0, 0] = x[0, 1] = math.inf  # target and rival +inf: NaN
    x[1, 0] = x[1, 2] = -math.inf  # both -inf: NaN
    x[2, 0], x[2, 3] = math.inf, -math.inf  # 1 - inf - inf: a term of 0
    x[3, 2], x[3, 3] = -math.inf, math.inf  # two rivals, no target: finite target terms, one inf
    x[4, 0] = x[4, 1] = math.inf  # every class a target: no pair, 0
    x[5, 0] = x[5, 3] = math.inf  # two rivals at +inf: the target's terms are inf
    got = losskit.MultiLabelMarginLoss()(x, y)
    with _fast.disabled(), np.errstate(invalid="ignore"):
        want = losskit.MultiLabelMarginLoss()(x, y)
    assert torch.isnan(got).tolist() == [True, True, False, False, False, False]
    assert torch.isinf(got).tolist() == [False, False, False, True, False, True]
    torch.testing.assert_close(got, want, equal_nan=True)


# ---- CategoricalHingeLoss: Keras's formula in NumPy --------------------------------------------


def keras_categorical_hinge(x, z):
    """``keras.losses.categorical_hinge`` written out: values (N,) and the gradients of their sum
    in x and z, derived by hand (no ties among the maxima of (1 - z) x)."""
    pos = np.sum(z * x, axis=-1)
    wrong = (1.0 - z) * x
    neg = np.max(wrong, axis=-1)
    value = np.maximum(neg - pos + 1.0, 0.0)
    on = (value > 0)[:, None]
    best = np.eye(x.shape[-1])[np.argmax(wrong, axis=-1)]
    d_x = on * (best * (1.0 - z) - z)
    d_z = on * (-best * x - x)
    return value, [d_x, d_z]


def test_categorical_hinge_matches_keras_formula():
    x = rng.normal(size=(N, C)) * 2
    onehot = np.eye(C)[rng.integers(0, C, size=N)]
    soft = rng.dirichlet(np.ones(C), size=N)
    x[0] = -np.abs(x[0]) - 0.1  # every score negative: the true class's 0 is the maximum (Keras's rule)
    for z in (onehot, soft):
        want, grads = keras_categorical_hinge(x, z)
        check(losskit.CategoricalHingeLoss(), [x, z], want, grads, (0, 1))
    assert keras_categorical_hinge(x, onehot)[0][0] == pytest.approx(1.0 - np.sum(onehot[0] * x[0]))


def test_categorical_hinge_axis_and_positions():
    x = rng.normal(size=(3, C, 4))
    z = np.moveaxis(np.eye(C)[rng.integers(0, C, size=(3, 4))], -1, 1)
    flat = lambda a: np.moveaxis(a, 1, -1).reshape(-1, C)  # noqa: E731
    value, (d_x, d_z) = keras_categorical_hinge(flat(x), flat(z))
    want = value.reshape(3, 4).mean(1)
    back = lambda g: np.moveaxis(g.reshape(3, 4, C), -1, 1) / 4  # noqa: E731
    check(losskit.CategoricalHingeLoss(axis=1), [x, z], want, [back(d_x), back(d_z)], (0, 1))
    # one (C,) example: (1,)
    v1, g1 = keras_categorical_hinge(x[:1, :, 0], z[:1, :, 0])
    check(losskit.CategoricalHingeLoss(), [x[0, :, 0], z[0, :, 0]], v1, [g[0] for g in g1], (0, 1))


def test_categorical_hinge_tied_maxima_split_the_gradient_on_every_autograd_backend():
    """Two wrong classes tied for the maximum share its gradient equally (TensorFlow's, JAX's and
    torch amax's rule); the hinge's kink gets 0."""
    x = np.array([[2.0, 0.5, 0.5, -1.0], [1.0, 0.5, 0.0, 0.0]])
    z = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])  # row 1: 0.5 - 1 + 1 > 0; row 0: 0.5 - 2 + 1 < 0
    x[0, 0] = 1.25  # row 0: 0.5 - 1.25 + 1 = 0.25 > 0, tie between classes 1 and 2
    want = np.array([0.25, 0.5])
    d_x = np.array([[-1.0, 0.5, 0.5, 0.0], [-1.0, 1.0, 0.0, 0.0]])
    check(losskit.CategoricalHingeLoss(), [x, z], want, [d_x])
    kink = np.array([[1.5, 0.5, -1.0]])
    check(losskit.CategoricalHingeLoss(), [kink, np.array([[1.0, 0.0, 0.0]])], [0.0], [np.zeros((1, 3))])


def test_categorical_hinge_with_infinite_scores():
    """A class masked with -inf (as a rival, or where a soft label is 0) costs nothing, and +inf at
    a rival is an infinite loss: the formula's limits (0 * inf was NaN, as in Keras); finite
    scores keep their gradients, the masked ones get 0."""
    x = np.array([[1.0, 0.0, -np.inf], [2.0, -np.inf, 0.5], [0.0, 1.0, np.inf], [-np.inf, 0.3, 0.2]])
    z = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    # max(0, max_i (1 - z_i) x_i - sum_i z_i x_i + 1), the infinite entries' terms taken as their limits
    want = np.array([max(0.0, 0.0 - 1.0 + 1), max(0.0, 2.0 - 0.5 + 1), np.inf, max(0.0, 0.15 - 0.25 + 1)])
    for backend in BACKENDS:
        got = to_numpy(losskit.CategoricalHingeLoss()(to_backend(x, backend), to_backend(z, backend)))
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=backend)
    # the rows with -inf: the formula's values and gradients with -1e3 there (never the maximum,
    # and a label factor of 0), on every autograd backend
    rows = [0, 1, 3]
    stand_in = np.where(np.isneginf(x[rows]), -1e3, x[rows])
    value, (d_x, _) = keras_categorical_hinge(stand_in, z[rows])
    np.testing.assert_allclose(value, want[rows], rtol=1e-12)
    check(losskit.CategoricalHingeLoss(), [x[rows], z[rows]], value, [d_x])


def test_categorical_hinge_identities():
    """A one-hot label whose class beats every other score by at least 1 costs 0; with one-hot
    labels the loss is max(0, max(best rival score, 0) - x_y + 1)."""
    x = torch.tensor(rng.normal(size=(N, C)), dtype=torch.float64)
    y = torch.tensor(rng.integers(0, C, size=N))
    onehot = tf.one_hot(y, C).double()
    best = x.clone()
    best[torch.arange(N), y] = x.max(1).values + 1.0 + torch.rand(N, dtype=torch.float64)
    torch.testing.assert_close(losskit.CategoricalHingeLoss()(best, onehot), torch.zeros(N, dtype=torch.float64))
    # one-hot: the true class's slot of (1 - z) x is 0, so the wrong term is max(best rival, 0)
    wrong = x.masked_fill(onehot.bool(), -math.inf).max(1).values.clamp_min(0.0)
    want = (wrong - x[torch.arange(N), y] + 1).clamp_min(0.0)
    torch.testing.assert_close(losskit.CategoricalHingeLoss()(x, onehot), want)


# ---- SparsemaxLoss: optax.losses.multiclass_sparsemax_loss --------------------------------------

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
jnp = jax.numpy


def optax_reference(x, y):
    """optax's loss on float64 JAX arrays: its values and the gradient of their sum in the scores."""
    xs, ys = jnp.asarray(x, dtype=jnp.float64), jnp.asarray(y)
    value = optax.losses.multiclass_sparsemax_loss(xs, ys)
    grad = jax.grad(lambda s: optax.losses.multiclass_sparsemax_loss(s, ys).sum())(xs)
    return np.asarray(value), [np.asarray(grad)]


def sparsemax_numpy(z):
    """Sparsemax of the rows of ``z`` by Algorithm 1 of Martins & Astudillo (2016), a loop per row."""
    out = np.zeros_like(z)
    for r, row in enumerate(z):
        s = np.sort(row)[::-1]
        k = max(j for j in range(1, len(s) + 1) if 1 + j * s[j - 1] > s[:j].sum())
        out[r] = np.maximum(row - (s[:k].sum() - 1) / k, 0.0)
    return out


XS = rng.normal(size=(N, C)) * 2
YS = rng.integers(0, C, size=N)
XS[0] = [1.0, 1.0, 1.0, 0.0, -3.0]  # a three-way tie in the support
XS[1] = [2.0, 2.0, 0.5, 0.5, -1.0]  # a tie inside and a tie outside the support
XS[2] = [0.3, 0.3, 0.3, 0.3, 0.3]  # every score tied: uniform
XS[3] = [5.0, 1.0, 0.0, 4.5, 3.99]  # a margin below 1 against the runner-up
YS[:4] = [0, 3, 2, 0]


def test_sparsemax_matches_optax_including_ties():
    want, grads = optax_reference(XS, YS)
    check(losskit.SparsemaxLoss(), [XS, YS], want, grads)


def test_sparsemax_sample_weight_axis_and_unbatched_match_optax():
    sw = rng.uniform(0.5, 2, size=(N, 1))
    want, (g,) = optax_reference(XS, YS)
    check(losskit.SparsemaxLoss(weight=3.0), [XS, YS, sw], 3.0 * want * sw[:, 0], [3.0 * g * sw], (0, 2))
    check(losskit.SparsemaxLoss(axis=0, batch_axis=1), [XS.T, YS], want, [g.T])
    check(losskit.SparsemaxLoss(), [XS[3], YS[3]], want[3:4], [g[3]])
    x3 = rng.normal(size=(3, C, 2)) * 3
    y3 = rng.integers(0, C, size=(3, 2))
    flat_x, flat_y = np.moveaxis(x3, 1, -1).reshape(6, C), y3.reshape(6)
    v, (g3,) = optax_reference(flat_x, flat_y)
    check(
        losskit.SparsemaxLoss(axis=1), [x3, y3], v.reshape(3, 2).mean(1), [np.moveaxis(g3.reshape(3, 2, C), -1, 1) / 2]
    )


def test_sparsemax_gradient_is_sparsemax_minus_onehot():
    """The Fenchel-Young identity: d loss / d z = sparsemax(z) - e_y, sparsemax by the paper's algorithm."""
    x = torch.tensor(XS, requires_grad=True)
    (g,) = torch.autograd.grad(losskit.SparsemaxLoss()(x, torch.tensor(YS)).sum(), x)
    want = sparsemax_numpy(XS) - np.eye(C)[YS]
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sparsemax_numpy(XS[:3]), [[1 / 3] * 3 + [0, 0], [0.5, 0.5, 0, 0, 0], [0.2] * 5])


def test_sparsemax_nonnegative_and_zero_exactly_at_a_margin_of_one():
    x = rng.normal(size=(200, C)) * 3
    y = rng.integers(0, C, size=200)
    out = losskit.SparsemaxLoss()(x, y)
    assert (out >= -1e-15).all()
    margin = x[np.arange(200), y] - np.max(np.where(np.eye(C)[y] == 1, -np.inf, x), axis=1)
    np.testing.assert_array_equal(np.abs(out) <= 1e-15, margin >= 1)
    # at a margin of exactly 1 the loss is 0; below, (1 - m)^2 / 4 for two classes in the support
    for m in (1.0, 2.5, 0.5, 0.0):
        got = losskit.SparsemaxLoss()(np.array([[m, 0.0, -5.0]]), np.array([0]))
        np.testing.assert_allclose(got, [max(1 - m, 0) ** 2 / 4], atol=1e-15)


def test_sparsemax_float32_at_large_scores():
    """Scores of ~1e4 in float32 (ulp 1e-3): the loss of the float32 values equals optax's in
    float64 on the same values to float32 rounding of the (small) result, gradients too."""
    x32 = (rng.normal(size=(N, C)) * 0.7 + 1e4).astype(np.float32)
    want, (g,) = optax_reference(x32.astype(np.float64), YS)
    for backend in BACKENDS:
        out = losskit.SparsemaxLoss()(to_backend(x32, backend), to_backend(YS, backend))
        assert out.dtype == to_backend(x32, backend).dtype
        np.testing.assert_allclose(to_numpy(out), want, rtol=1e-5, atol=1e-5, err_msg=backend)
    xt = torch.tensor(x32, requires_grad=True)
    (gt,) = torch.autograd.grad(losskit.SparsemaxLoss()(xt, torch.tensor(YS)).sum(), xt)
    np.testing.assert_allclose(gt.numpy(), g, atol=2e-5)


def test_sparsemax_masked_class_of_minus_inf():
    """A score of -inf (a masked class) is never in the support: finite loss and gradient, as
    without that class."""
    x = torch.tensor([[1.0, 0.5, -math.inf, 0.2]], dtype=torch.float64, requires_grad=True)
    out = losskit.SparsemaxLoss()(x, torch.tensor([1]))
    (g,) = torch.autograd.grad(out.sum(), x)
    kept = torch.tensor([[1.0, 0.5, 0.2]], dtype=torch.float64, requires_grad=True)
    ref = losskit.SparsemaxLoss()(kept, torch.tensor([1]))
    (g_ref,) = torch.autograd.grad(ref.sum(), kept)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(g[:, [0, 1, 3]], g_ref)
    assert g[0, 2] == 0


def test_new_losses_are_finite_at_extreme_scores():
    """As tests/test_extended_errors.py's extreme inputs: two classes, scores [x, 0] with class 1
    the label, x up to the dtype's extreme; each loss stays at most ~|x|, finite, gradient too."""
    for dtype, m in ((torch.float32, 1e4), (torch.float16, 6e4), (torch.bfloat16, 1e30)):
        x = torch.tensor([-m, -1.0, 0.0, 1.0, m], dtype=dtype, requires_grad=True)
        cases = [
            (losskit.MultiLabelMarginLoss(), torch.tensor([[1, -1]] * 5)),
            (losskit.CategoricalHingeLoss(), torch.tensor([[0.0, 1.0]] * 5, dtype=dtype)),
            (losskit.SparsemaxLoss(), torch.ones(5, dtype=torch.int64)),
        ]
        for loss, y in cases:
            out = loss(torch.stack([x, 0 * x], dim=1), y)
            assert out.dtype == dtype
            (g,) = torch.autograd.grad(out.float().sum(), x)
            assert torch.isfinite(out.float()).all() and torch.isfinite(g.float()).all(), (loss, out, g)


# ---- errors -------------------------------------------------------------------------------------

_X = np.zeros((2, 3))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: losskit.MultiLabelMarginLoss(axis=1.5), TypeError, "axis must be an int, got 1.5"),
        (lambda: losskit.CategoricalHingeLoss(axis=True), TypeError, "axis must be an int, got True"),
        (lambda: losskit.SparsemaxLoss(axis="1"), TypeError, "axis must be an int"),
        (lambda: losskit.SparsemaxLoss(weight="a"), TypeError, "weight must be a number or None"),
        (lambda: losskit.MultiLabelMarginLoss(margin=2.0), TypeError, "unexpected keyword arguments: margin"),
        (
            lambda: losskit.MultiLabelMarginLoss()(_X, np.zeros(2, dtype=int)),
            ValueError,
            re.escape("label shape (2,) does not match pred shape (2, 3)"),
        ),
        (
            lambda: losskit.MultiLabelMarginLoss()(_X, np.array([[0, 3, -1], [0, -1, 0]])),
            ValueError,
            re.escape(
                "label holds class indices (or -1, which ends the targets) in [-1, 3], outside the valid range [-1, 2]"
            ),
        ),
        (
            lambda: losskit.MultiLabelMarginLoss()(_X, np.array([[0, -2, -1], [0, -1, 0]])),
            ValueError,
            re.escape("in [-2, 0], outside the valid range [-1, 2]"),
        ),
        (lambda: losskit.MultiLabelMarginLoss()(_X, np.full((2, 3), 0.5)), ValueError, "non-integer"),
        (lambda: losskit.MultiLabelMarginLoss()(_X, np.ones((2, 3), dtype=bool)), TypeError, "class indices"),
        (lambda: losskit.MultiLabelMarginLoss()(np.zeros(()), np.zeros((), dtype=int)), ValueError, "class axis"),
        (
            lambda: losskit.MultiLabelMarginLoss()(_X.astype(int), np.zeros((2, 3), dtype=int)),
            TypeError,
            "pred must be",
        ),
        (
            lambda: losskit.MultiLabelMarginLoss(axis=2)(_X, np.zeros((2, 3), dtype=int)),
            ValueError,
            "axis=2 is out of range",
        ),
        (
            lambda: losskit.MultiLabelMarginLoss()(_X, np.zeros((2, 3), dtype=int), np.ones(2)),
            ValueError,
            re.escape("sample_weight shape (2,) does not broadcast to the loss shape (2, 1)"),
        ),
        (
            lambda: losskit.CategoricalHingeLoss()(_X, np.zeros((2, 4))),
            ValueError,
            re.escape("label shape (2, 4) does not match pred shape (2, 3)"),
        ),
        (lambda: losskit.CategoricalHingeLoss()(_X, _X.astype(complex)), TypeError, "label must hold real numbers"),
        (
            lambda: losskit.CategoricalHingeLoss()(_X, _X, np.ones((2, 3))),
            ValueError,
            re.escape("sample_weight shape (2, 3) does not broadcast to the loss shape (2, 1)"),
        ),
        (
            lambda: losskit.SparsemaxLoss()(_X, np.zeros((2, 3), dtype=int)),
            ValueError,
            re.escape("sparse label shape (2, 3) does not match pred shape (2, 3)"),
        ),
        (
            lambda: losskit.SparsemaxLoss()(_X, np.array([0, 3])),
            ValueError,
            re.escape("label holds class indices in [0, 3], outside the valid range [0, 2]"),
        ),
        (lambda: losskit.SparsemaxLoss()(_X, np.array([0.0, 1.5])), ValueError, "non-integer"),
        (lambda: losskit.SparsemaxLoss(axis=-3)(_X, np.array([0, 1])), ValueError, "axis=-3 is out of range"),
        (lambda: LF.sparsemax_loss([[1.0, 2.0]], [0]), TypeError, "same array library"),
        (lambda: LF.categorical_hinge_loss(_X, _X, weight=math.inf), ValueError, "weight must be finite"),
        (lambda: LF.multilabel_margin_loss(_X, np.zeros((2, 3), dtype=int), batch_axis=2), ValueError, "batch_axis=2"),
    ],
)
def test_errors_name_the_offending_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_errors_come_before_any_work_and_leave_inputs_unchanged(monkeypatch):
    from losskit.functional import classification

    calls = []
    for name in ("relu", "stop_gradient"):
        real = getattr(classification, name)
        monkeypatch.setattr(classification, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    pred = torch.arange(6.0).reshape(2, 3)
    bad = [
        (losskit.MultiLabelMarginLoss(), torch.tensor([[0, 5, -1], [1, -1, 0]])),
        (losskit.MultiLabelMarginLoss(), torch.zeros(2, 3, dtype=torch.int64), torch.ones(3)),
        (losskit.CategoricalHingeLoss(), torch.zeros(2, 2)),
        (losskit.SparsemaxLoss(), torch.tensor([0, -1])),
        (losskit.SparsemaxLoss(), torch.tensor([0, 1]), torch.ones(2)),
    ]
    for loss, *rest in bad:
        before = [t.clone() for t in (pred, *rest)]
        with pytest.raises(ValueError):
            loss(pred, *rest)
        for a, b in zip((pred, *rest), before):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert calls == []


def test_registered_in_the_classification_family():
    names = losskit.list_losses("classification")
    for name in ("MultiLabelMarginLoss", "CategoricalHingeLoss", "SparsemaxLoss"):
        assert name in names
        assert losskit.get_loss(name.lower()).__class__.__name__ == name
