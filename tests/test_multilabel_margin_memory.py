"""MultiLabelMarginLoss's formula path without the ``(N, C, C)`` pairs: the sorts of
``_multilabel_margin_sum`` (O(C) memory per row) against two independent references, the pairs
formula that it replaced (kept below, with autograd on PyTorch and JAX: it defines the NaN,
infinity and kink conventions) and ``torch.nn.functional.multilabel_margin_loss`` (finite scores);
both formula paths of the library (pairs up to a few dozen classes, sorts past that) against each
other; jit, vmap, grad, torch.compile and torch.func; its memory and its accuracy in float32.

Most tests force the sort path (the class-count limits of the pairs set to 0) so that small
inputs, quick to check, take it.
"""

from __future__ import annotations

import math
import tracemalloc

import array_api_compat
import numpy as np
import pytest

import losskit
import losskit.functional as LF
from backends import AUTOGRAD_BACKENDS, BACKENDS, to_backend, to_numpy
from losskit import _fast
from losskit.functional import classification as CL

torch = pytest.importorskip("torch")
tf = torch.nn.functional


# ---- the reference: the (C, C) pairs formula (losskit's before the sorts) -------------------------


def pairs_reference(x, idx):
    """Per row of ``x`` ``(..., C)`` (classes last), ``sum_{c target} count_c sum_{i rival}
    relu(-(x_c - 1) + x_i) / C``, every pair formed; ``relu`` as ``where(d <= 0, 0, d)`` (derivative
    0 at the kink, NaN kept, derivative 1 at NaN); a pair that does not count takes no part."""
    xp = array_api_compat.array_namespace(x, idx)
    n = x.shape[-1]
    idx = xp.astype(idx, xp.int64)
    negatives = xp.cumulative_sum(xp.astype(idx < 0, xp.int64), axis=-1)
    active = negatives == 0
    classes = xp.arange(n, dtype=xp.int64)
    hit = xp.logical_and(xp.expand_dims(idx, axis=-1) == classes, xp.expand_dims(active, axis=-1))
    count = xp.sum(xp.astype(hit, x.dtype), axis=-2)
    target = count > 0
    pairs = xp.logical_and(xp.expand_dims(target, axis=-1), xp.expand_dims(xp.logical_not(target), axis=-2))
    d = -(xp.expand_dims(x, axis=-1) - 1.0) + xp.expand_dims(x, axis=-2)
    hinge = xp.where(d <= 0, xp.zeros_like(d), d)
    terms = xp.where(pairs, xp.expand_dims(count, axis=-1) * hinge, xp.zeros_like(hinge))
    return xp.sum(terms, axis=(-2, -1)) / n


def reference_value_and_grad(x, y, lib="torch"):
    """The pairs reference on float64 ``x`` (NumPy) with its gradient (of the sum), by autograd."""
    if lib == "torch":
        t = torch.tensor(x, requires_grad=True)
        out = pairs_reference(t, torch.tensor(y))
        (g,) = torch.autograd.grad(out.sum(), t)
        return out.detach().numpy(), g.numpy()
    import jax
    import jax.numpy as jnp

    out, g = jax.value_and_grad(lambda a: pairs_reference(a, jnp.asarray(y)).sum())(jnp.asarray(x))
    return np.asarray(pairs_reference(jnp.asarray(x), jnp.asarray(y))), np.asarray(g)


# ---- inputs --------------------------------------------------------------------------------------


def target_lists(rng, rows, n):
    """Rows of class indices padded with -1: no target (a -1 first), every class (no -1), a class
    listed twice, classes listed after the -1, random lengths."""
    out = []
    for i in range(rows):
        row = rng.permutation(n)
        k = [0, n, 2, 3][i % 4] if i < 8 else int(rng.integers(0, n + 1))
        if i % 4 == 2 and n > 1:
            row[1] = row[0]  # listed twice: counted twice
        if k < n:
            row[k] = -1
        out.append(row)
    return np.stack(out)


def grid_scores(rng, shape):
    """Scores on a grid of 1/2: ties, and pairs exactly at the kink (x_i = x_c - 1), exact in float32."""
    return np.round(rng.normal(size=shape) * 3) / 2


def with_non_finite(rng, x, share=0.08):
    x = x.copy()
    u = rng.random(size=x.shape)
    x[u < share] = np.inf
    x[(u >= share) & (u < 2 * share)] = -np.inf
    x[(u >= 2 * share) & (u < 3 * share)] = np.nan
    return x


@pytest.fixture
def sorts(monkeypatch):
    """Every class count takes the sorts."""
    monkeypatch.setattr(CL, "_PAIRS_UP_TO", 0)
    monkeypatch.setattr(CL, "_PAIRS_UP_TO_COMPILED", 0)


@pytest.fixture(params=["sorts", "pairs"])
def path(request, monkeypatch):
    """Each formula path of the library in turn."""
    limit = 0 if request.param == "sorts" else 10**9
    monkeypatch.setattr(CL, "_PAIRS_UP_TO", limit)
    monkeypatch.setattr(CL, "_PAIRS_UP_TO_COMPILED", limit)
    return request.param


def formula(x, y, **kw):
    with _fast.disabled():
        return LF.multilabel_margin_loss(x, y, **kw)


CLASS_COUNTS = [1, 2, 3, 7, 40]
GRAD_RTOL = {"float32": 3e-7, "float64": 1e-15}


# ---- against torch.nn.functional.multilabel_margin_loss (finite scores) ---------------------------


@pytest.mark.parametrize("n", CLASS_COUNTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sorts_match_torch(sorts, backend, dtype, n):
    rng = np.random.default_rng(n)
    x = grid_scores(rng, (12, n)).astype(dtype)
    y = target_lists(rng, 12, n)
    want = tf.multilabel_margin_loss(torch.tensor(x, dtype=torch.float64), torch.tensor(y), reduction="none")
    xb = to_backend(x, backend, dtype)
    got = formula(xb, to_backend(y, backend))
    assert got.dtype == xb.dtype and tuple(got.shape) == (12,)
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(to_numpy(got), want.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("n", CLASS_COUNTS)
@pytest.mark.parametrize("lib", AUTOGRAD_BACKENDS)
def test_sort_gradients_match_torch_kernel(sorts, lib, n):
    """Gradients: whole numbers over C, 0 at a kink as torch's kernel (the grid puts many pairs there)."""
    rng = np.random.default_rng(10 + n)
    x = grid_scores(rng, (12, n))
    y = target_lists(rng, 12, n)
    t = torch.tensor(x, requires_grad=True)
    (want,) = torch.autograd.grad(tf.multilabel_margin_loss(t, torch.tensor(y), reduction="none").sum(), t)
    xb = to_backend(x, lib, "float64")
    if lib == "torch":
        xb.requires_grad_(True)
        (got,) = torch.autograd.grad(formula(xb, torch.tensor(y)).sum(), xb)
    else:
        import jax

        got = jax.grad(lambda a: formula(a, to_backend(y, "jax")).sum())(xb)
    np.testing.assert_allclose(to_numpy(got), want.numpy(), rtol=0, atol=1e-15)


def test_kink_has_gradient_zero(sorts):
    """The pair at the margin (1 - 2 + 1 = 0) in row 1: no gradient to that rival, as torch."""
    x = torch.tensor([[0.1, 0.2, 0.4, 0.8], [2.0, 1.0, 0.25, -3.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[3, 0, -1, 1], [0, -1, 2, 2]])
    got = formula(x, y)
    torch.testing.assert_close(got, torch.tensor([0.85, 0.0], dtype=torch.float64))
    (g,) = torch.autograd.grad(got.sum(), x)
    assert g[1].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert g[0].tolist() == [-0.5, 0.5, 0.5, -0.5]  # targets 3, 0: -2/4 each; rivals 1, 2: +2/4 each


# ---- against the pairs formula: NaN, infinities, gradients everywhere ----------------------------


@pytest.mark.parametrize("n", [1, 2, 4, 9, 33])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sorts_equal_the_pairs_with_non_finite_scores(sorts, backend, n):
    """A NaN or the same infinity at a target and a rival (inf - inf): NaN; an infinity otherwise +inf
    or no term at all; a row with no target, or no rival, 0 whatever its scores."""
    rng = np.random.default_rng(20 + n)
    x = with_non_finite(rng, grid_scores(rng, (64, n)), share=min(0.08, 0.5 / n))  # about 1.5 per row
    y = target_lists(rng, 64, n)
    with np.errstate(invalid="ignore"):
        want, _ = reference_value_and_grad(x, y)
        got = to_numpy(formula(to_backend(x, backend, "float64"), to_backend(y, backend)))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)  # +inf where the pairs give +inf
    if n == 1:  # one class: never a (target, rival) pair, 0 whatever the score
        assert not want.any()
    else:  # the rows cover all three
        assert np.isnan(want).any() and np.isinf(want).any() and np.isfinite(want).any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lib", AUTOGRAD_BACKENDS)
def test_sort_gradients_equal_the_pairs_exactly(sorts, lib, dtype):
    """The gradient of the pairs' sum, -count_c K_c at a target and g_i at a rival (over C), in every
    row, those with a NaN or an infinity included (relu's derivative is 1 at NaN and inf)."""
    rng = np.random.default_rng(3)
    x = with_non_finite(rng, grid_scores(rng, (200, 6)))
    y = target_lists(rng, 200, 6)
    _, want = reference_value_and_grad(x.astype(dtype).astype(np.float64), y, lib)
    xb = to_backend(x, lib, dtype)
    if lib == "torch":
        xb.requires_grad_(True)
        (got,) = torch.autograd.grad(formula(xb, torch.tensor(y)).sum(), xb)
    else:
        import jax

        got = jax.grad(lambda a: formula(a, to_backend(y, "jax")).sum())(xb)
    assert got.dtype == xb.dtype
    # whole numbers over C: the pairs' autograd adds C-ths, the sorts divide once (an ulp or two apart)
    np.testing.assert_allclose(to_numpy(got), want, rtol=GRAD_RTOL[dtype], atol=0)


@pytest.mark.parametrize("n", [5, 40])
def test_library_paths_agree(path, n):
    """Both paths on (N, C, 2) scores, classes on axis 1, with sample weights: values and gradients
    against the pairs reference (finite scores; non-finite ones above)."""
    rng = np.random.default_rng(n)
    x = grid_scores(rng, (4, n, 2))
    y = np.moveaxis(target_lists(rng, 8, n).reshape(4, 2, n), 2, 1)
    sw = rng.uniform(0.5, 2, size=(4, 1, 1))
    t = torch.tensor(x, requires_grad=True)
    got = formula(t, torch.tensor(y), axis=1, weight=0.5) * torch.tensor(sw[:, 0, 0])
    got_w = LF.multilabel_margin_loss(t, torch.tensor(y), torch.tensor(sw), axis=1, weight=0.5)
    torch.testing.assert_close(got_w, got, rtol=1e-14, atol=0)
    (g,) = torch.autograd.grad(got_w.sum(), t)
    r = torch.tensor(x, requires_grad=True)
    want = (
        0.5 * pairs_reference(r.permute(0, 2, 1), torch.tensor(y).permute(0, 2, 1)).mean(1) * torch.tensor(sw[:, 0, 0])
    )
    (gw,) = torch.autograd.grad(want.sum(), r)
    torch.testing.assert_close(got_w, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, gw, rtol=1e-12, atol=1e-15)


def test_the_limits_choose_the_path(monkeypatch):
    """Pairs up to _PAIRS_UP_TO classes eagerly (_PAIRS_UP_TO_COMPILED under JAX), the sorts past it."""
    calls = []
    real_pairs, real_sum = CL._multilabel_margin_pairs, CL._multilabel_margin_sum
    monkeypatch.setattr(CL, "_multilabel_margin_pairs", lambda *a: calls.append("pairs") or real_pairs(*a))
    monkeypatch.setattr(CL, "_multilabel_margin_sum", lambda *a: calls.append("sorts") or real_sum(*a))
    rng = np.random.default_rng(0)
    for n in (CL._PAIRS_UP_TO, CL._PAIRS_UP_TO + 1):
        formula(rng.normal(size=(2, n)), target_lists(rng, 2, n))
    assert calls == ["pairs", "sorts"]
    if "jax" in BACKENDS:
        calls.clear()
        for n in (CL._PAIRS_UP_TO_COMPILED, CL._PAIRS_UP_TO_COMPILED + 1):
            formula(to_backend(rng.normal(size=(2, n)), "jax"), to_backend(target_lists(rng, 2, n), "jax"))
        assert calls == ["pairs", "sorts"]


def test_one_example_and_classes_first(sorts):
    rng = np.random.default_rng(5)
    x = grid_scores(rng, (6, 7))
    y = target_lists(rng, 6, 7)
    want = tf.multilabel_margin_loss(torch.tensor(x), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(formula(x.T.copy(), y.T.copy(), axis=0, batch_axis=1), want, rtol=1e-12)
    for row in range(6):
        np.testing.assert_allclose(formula(x[row], y[row]), want[row : row + 1], rtol=1e-12, atol=1e-15)


def test_lists_as_torch_reads_them(sorts):
    """A class listed twice counts twice; entries after the first -1 do not count; with the value
    checks off any negative entry ends the list; the order of the listed classes does not matter."""
    x = np.array([[0.5, 0.0, 1.0, -0.5]])
    once = formula(x, np.array([[0, -1, 2, 3]]))
    twice = formula(x, np.array([[0, 0, -1, 3]]))
    # target 0 (0.5) against rivals 1, 2, 3 (0, 1, -0.5): 0.5 + 1.5 + 0 = 2, over C = 4
    np.testing.assert_allclose(once, [2.0 / 4])
    np.testing.assert_allclose(twice, [4.0 / 4])
    np.testing.assert_allclose(formula(x, np.array([[2, 0, -1, 1]])), formula(x, np.array([[0, 2, -1, 3]])))
    with losskit.value_checks(False):
        np.testing.assert_allclose(formula(x, np.array([[0, -7, 2, 3]])), once)


@pytest.mark.skipif("jax" not in BACKENDS, reason="needs JAX")
def test_out_of_range_entries_under_jit_are_no_targets_as_in_the_pairs(sorts):
    """Unchecked under jax.jit: an entry >= C matches no class (the pairs' one-hot has no column)."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(grid_scores(np.random.default_rng(1), (3, 5)))
    y = jnp.asarray([[1, 9, 2, -1, 0], [7, -1, 0, 0, 0], [4, 3, 2, 1, 100]])
    got = jax.jit(lambda a, b: formula(a, b))(x, y)
    np.testing.assert_allclose(np.asarray(got), np.asarray(pairs_reference(x, y)), rtol=1e-12)


def test_scores_and_lists_unchanged_and_dtypes_follow(sorts):
    rng = np.random.default_rng(2)
    x = with_non_finite(rng, grid_scores(rng, (8, 6)))
    y = target_lists(rng, 8, 6)
    x0, y0 = x.copy(), y.copy()
    with np.errstate(invalid="ignore"):
        formula(x, y)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    finite = grid_scores(rng, (8, 6))
    half = formula(finite.astype(np.float16), y)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, formula(finite.astype(np.float32), y), rtol=1e-3)
    assert formula(finite.astype(np.float32), y.astype(np.float32)).dtype == np.float32  # whole-number float lists


# ---- accuracy and memory -------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0.0, 1000.0])
def test_float32_sum_has_no_cancellation(sorts, offset):
    """The sum is of gaps between sorted scores times whole counts, all >= 0: scores near 1000 that
    differ by 0.01 lose nothing (a sum of coef * x would lose ~eps * 1000 * C^2 to cancellation)."""
    rng = np.random.default_rng(4)
    x = (offset + 0.01 * rng.normal(size=(8, 300))).astype(np.float32)
    y = target_lists(rng, 8, 300)
    truth = tf.multilabel_margin_loss(torch.tensor(x, dtype=torch.float64), torch.tensor(y), reduction="none")
    got = formula(x, y)
    np.testing.assert_allclose(got, truth.numpy(), rtol=2e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scores_near_the_largest_float(sorts, dtype):
    """Gaps between sorted entries that overflow (a rival at -max below a target at +max), or a
    bad row (rivals at +inf) whose finite gaps overflow: the pairs' 0 and +inf, not NaN."""
    big = torch.finfo(dtype).max
    x = torch.tensor([[0.9 * big, -0.9 * big, -0.9 * big], [0.6 * big, math.inf, math.inf]], dtype=dtype)
    y = torch.tensor([[0, -1, 0], [0, -1, 0]])
    want = pairs_reference(x, y)
    assert want.tolist() == [0.0, math.inf]
    t = x.clone().requires_grad_(True)
    got = formula(t, y)
    torch.testing.assert_close(got, want)
    r = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(got.sum(), t)
    (gr,) = torch.autograd.grad(pairs_reference(r, y).sum(), r)
    torch.testing.assert_close(g, gr)


def test_memory_is_linear_in_the_classes():
    """N = 64, C = 1000, float32 (NumPy, tracemalloc): the pairs formula peaked at 1.1 GB."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1000)).astype(np.float32)
    y = target_lists(rng, 64, 1000)
    formula(x, y)
    tracemalloc.start()
    try:
        formula(x, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * x.nbytes, f"peak {peak / 2**20:.1f} MiB for a {x.nbytes / 2**20:.2f} MiB input"


# ---- transformations -----------------------------------------------------------------------------


@pytest.mark.skipif("jax" not in BACKENDS, reason="needs JAX")
def test_jax_jit_vmap_grad(sorts):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(6)
    x = with_non_finite(rng, grid_scores(rng, (16, 6)), share=0.04)
    y = target_lists(rng, 16, 6)
    want, want_g = reference_value_and_grad(x, y, "jax")
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda a, b: formula(a, b))(xj, yj)), want, rtol=1e-12)
    rows = jax.vmap(lambda a, b: formula(a, b)[0])(xj, yj)  # one (C,) example per call
    np.testing.assert_allclose(np.asarray(rows), want, rtol=1e-12)
    g = jax.jit(jax.grad(lambda a: formula(a, yj).sum()))(xj)
    np.testing.assert_allclose(np.asarray(g), want_g, rtol=GRAD_RTOL["float64"], atol=0)
    v = rng.normal(size=x.shape)
    jvp = jax.jvp(lambda a: formula(a, yj), (xj,), (jnp.asarray(v),))[1]
    np.testing.assert_allclose(np.asarray(jvp), (want_g * v).sum(axis=1), rtol=1e-12, atol=1e-14)
    # a common shift of a row's scores leaves its loss as it is: the row's gradient sums to 0 exactly
    shift = jax.jvp(lambda a: formula(a, yj), (xj,), (jnp.ones_like(xj),))[1]
    np.testing.assert_array_equal(np.asarray(shift), 0.0)


def test_torch_func_vmap_grad_and_jvp(sorts):
    rng = np.random.default_rng(7)
    x = torch.tensor(grid_scores(rng, (10, 6)))
    y = torch.tensor(target_lists(rng, 10, 6))
    want, want_g = reference_value_and_grad(x.numpy(), y.numpy())
    per_row = torch.func.vmap(torch.func.grad(lambda a, b: formula(a, b)[0]))(x, y)
    np.testing.assert_allclose(per_row.numpy(), want_g, rtol=GRAD_RTOL["float64"], atol=0)
    v = rng.normal(size=tuple(x.shape))
    _, tangent = torch.func.jvp(lambda a: formula(a, y), (x,), (torch.tensor(v),))
    np.testing.assert_allclose(tangent.numpy(), (want_g * v).sum(axis=1), rtol=1e-12, atol=1e-14)
    hess = torch.func.hessian(lambda a: formula(a, y[:2]).sum())(x[:2])  # piecewise linear: 0
    assert not hess.any()
    np.testing.assert_allclose(torch.func.vmap(formula)(x, y)[:, 0].numpy(), want, rtol=1e-12)


def test_torch_compile_fullgraph(sorts):
    """The sorts under torch.compile (the eager fast path does not apply there): no graph break,
    values and gradients as the pairs, NaN rows included."""
    rng = np.random.default_rng(8)
    x = with_non_finite(rng, grid_scores(rng, (12, 6)), share=0.04)
    y = torch.tensor(target_lists(rng, 12, 6))
    want, want_g = reference_value_and_grad(x, y.numpy())
    t = torch.tensor(x, requires_grad=True)
    compiled = torch.compile(LF.multilabel_margin_loss, fullgraph=True)
    got = compiled(t, y)
    (g,) = torch.autograd.grad(got.sum(), t)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(g.numpy(), want_g, rtol=GRAD_RTOL["float64"], atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_fast_path_equals_the_sorts(sorts, dtype):
    """torch's fused kernel (eager (N, C)) against the sorts: values, gradients, NaN rows."""
    rng = np.random.default_rng(9)
    x = with_non_finite(rng, grid_scores(rng, (40, 7)), share=0.03)
    y = torch.tensor(target_lists(rng, 40, 7))
    a = torch.tensor(x, dtype=dtype, requires_grad=True)
    b = torch.tensor(x, dtype=dtype, requires_grad=True)
    fast = LF.multilabel_margin_loss(a, y)
    slow = formula(b, y)
    torch.testing.assert_close(fast, slow, equal_nan=True)
    finite = ~torch.isnan(slow) & ~torch.isinf(slow)
    (ga,) = torch.autograd.grad(fast[finite].sum(), a)
    (gb,) = torch.autograd.grad(slow[finite].sum(), b)
    torch.testing.assert_close(ga, gb)
    assert math.isclose(float(torch.isnan(slow).float().mean()), float(torch.isnan(fast).float().mean()))


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_classes_is_refused_before_any_work(backend):
    """C = 0 gave NaN (0 / 0) on the formula path and torch's kernel error on the fast path."""
    pred, label = np.zeros((2, 0)), np.zeros((2, 0), dtype=np.int64)
    with pytest.raises(ValueError, match=r"pred has no classes along axis 1 \(shape \(2, 0\)\)"):
        losskit.MultiLabelMarginLoss()(to_backend(pred, backend), to_backend(label, backend))
