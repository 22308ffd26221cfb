"""SupConLoss (supervised contrastive, Khosla et al. 2020) and TripletMarginWithDistanceLoss (torch's).

SupConLoss is checked against three references that do not share code with it:

- golden per-anchor losses, scalars and gradients of the real pytorch-metric-learning 2.9.0
  ``SupConLoss`` (``tools/make_pml_fixtures.py``, ``tests/fixtures/pml/README.md``);
- the authors' own code, HobbitLong/SupContrast ``losses.py`` (``SupConLoss.forward``,
  ``contrast_mode='all'``), transcribed below line for line in torch, with its ``base_temperature``
  factor and its ``(bsz, n_views, D)`` layout;
- the definition in closed form on tiny inputs, and a loop over anchors and positives in plain
  Python floats (``math.fsum``).

TripletMarginWithDistanceLoss is checked against ``torch.nn.functional.triplet_margin_with_distance_loss``
itself (values and gradients, float64), with torch's default distance and callables of torch,
NumPy, JAX and the array API, and against losskit's TripletMarginLoss (the default distance).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import array_api_compat
import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, autograd_grads, dtypes_for, to_backend, to_numpy

rng = np.random.default_rng(0)  # reseeded per test by the root conftest.py

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "pml"
FIXTURES = sorted(FIXTURE_DIR.glob("supcon__*.npz"))
TOL = {"float64": 1e-12, "float32": 2e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


def load(path: Path) -> tuple[dict, dict]:
    data = np.load(path, allow_pickle=False)
    return json.loads(str(data["meta"])), {k: data[k] for k in data.files if k != "meta"}


def grads_of(loss, args, float_args, backend):
    """Gradients of ``sum(loss(*args))`` (NumPy ``args``, the ``float_args`` as float64) on ``backend``."""
    full = [to_backend(a, backend, "float64" if i in float_args else None) for i, a in enumerate(args)]
    return autograd_grads(loss, full, float_args, backend)


def assert_grads_close(got, want, rtol=1e-10):
    """Close to ``rtol`` of the largest entry (a zero row's gradient is ~1e12, its neighbours' ~1)."""
    scale = max(1.0, float(np.max(np.abs(want))) if np.size(want) else 1.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


# =============================================================================================
# SupConLoss: references
# =============================================================================================


def hobbitlong_supcon(features, labels=None, mask=None, temperature=0.07, contrast_mode="all", base_temperature=0.07):
    """The authors' ``SupConLoss.forward`` (HobbitLong/SupContrast, ``losses.py``, 2020), transcribed:
    only the device handling is left out, and the per-anchor loss is returned beside the scalar
    (``loss.view(anchor_count, batch_size)`` before its ``.mean()``). ``features`` is
    ``[bsz, n_views, ...]``, already L2-normalised (the authors' training script normalises)."""
    import torch

    if len(features.shape) < 3:
        raise ValueError("`features` needs to be [bsz, n_views, ...],at least 3 dimensions are required")
    if len(features.shape) > 3:
        features = features.view(features.shape[0], features.shape[1], -1)

    batch_size = features.shape[0]
    if labels is not None and mask is not None:
        raise ValueError("Cannot define both `labels` and `mask`")
    elif labels is None and mask is None:
        mask = torch.eye(batch_size, dtype=features.dtype)
    elif labels is not None:
        labels = labels.contiguous().view(-1, 1)
        if labels.shape[0] != batch_size:
            raise ValueError("Num of labels does not match num of features")
        mask = torch.eq(labels, labels.T).to(features.dtype)
    else:
        mask = mask.to(features.dtype)

    contrast_count = features.shape[1]
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    if contrast_mode == "one":
        anchor_feature = features[:, 0]
        anchor_count = 1
    elif contrast_mode == "all":
        anchor_feature = contrast_feature
        anchor_count = contrast_count
    else:
        raise ValueError(f"Unknown mode: {contrast_mode}")

    # compute logits
    anchor_dot_contrast = torch.div(torch.matmul(anchor_feature, contrast_feature.T), temperature)
    # for numerical stability
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()

    # tile mask
    mask = mask.repeat(anchor_count, contrast_count)
    # mask-out self-contrast cases
    logits_mask = torch.scatter(torch.ones_like(mask), 1, torch.arange(batch_size * anchor_count).view(-1, 1), 0)
    mask = mask * logits_mask

    # compute log_prob
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))

    # compute mean of log-likelihood over positive
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)

    # loss
    loss = -(temperature / base_temperature) * mean_log_prob_pos
    per_anchor = loss.view(anchor_count, batch_size)
    return per_anchor.reshape(-1), per_anchor.mean()


def supcon_loop(x, y, temperature, base_temperature=None) -> np.ndarray:
    """The definition, anchor by anchor, in Python floats: cosines, then for each positive
    ``-log p_ap = log(1 + sum_{k != a, p} e^{s_ak - s_ap})`` (``log1p`` where no term exceeds 1,
    so that a loss of 1e-40 keeps its digits), averaged; 0 without a positive or a negative (pml's)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y).reshape(-1)
    norms = [max(math.sqrt(math.fsum(float(v) ** 2 for v in row)), 1e-12) for row in x]
    unit = [[float(v) / n for v in row] for row, n in zip(x, norms)]
    out = []
    for a in range(len(y)):
        s = [math.fsum(u * v for u, v in zip(unit[a], unit[k])) / temperature for k in range(len(y))]
        others = [k for k in range(len(y)) if k != a]
        pos = [k for k in others if y[k] == y[a]]
        if not pos or all(y[k] == y[a] for k in others):
            out.append(0.0)
            continue
        terms = []
        for p in pos:
            d = [s[k] - s[p] for k in others if k != p]
            top = max([0.0, *d])
            if top == 0.0:
                terms.append(math.log1p(math.fsum(math.exp(v) for v in d)))
            else:
                terms.append(top + math.log(math.exp(-top) + math.fsum(math.exp(v - top) for v in d)))
        value = math.fsum(terms) / len(pos)
        out.append(value * (1.0 if base_temperature is None else temperature / base_temperature))
    return np.array(out)


# ---- against pytorch-metric-learning ----------------------------------------------------------


def test_the_pml_fixtures_are_there():
    assert len(FIXTURES) >= 12
    meta, _ = load(FIXTURES[0])
    assert meta["pml_version"] == "2.9.0" and meta["loss"] == "SupConLoss"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem.split("__")[1] for p in FIXTURES])
def test_per_anchor_losses_and_gradients_equal_pml(path):
    """pml's per-anchor ``losses`` (before its reducer) on every backend; the gradient of their sum
    on PyTorch and JAX. float64 on both sides."""
    meta, data = load(path)
    loss = losskit.SupConLoss(**meta["kwargs"])
    x, y = data["embeddings"], data["labels"]
    for backend in BACKENDS:
        got = to_numpy(loss(to_backend(x, backend, "float64"), to_backend(y, backend)))
        np.testing.assert_allclose(got, data["losses"], rtol=1e-12, atol=1e-13, err_msg=backend)
    for backend in AUTOGRAD_BACKENDS:
        (grad,) = grads_of(loss, [x, y], (0,), backend)
        assert_grads_close(grad, data["grad_losses"])


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem.split("__")[1] for p in FIXTURES])
def test_mean_equals_pmls_scalar_and_its_gradient(path):
    """``reduction='mean'`` is pml's default reducer (AvgNonZeroReducer), value and gradient."""
    meta, data = load(path)
    loss = losskit.SupConLoss(**meta["kwargs"], reduction="mean")
    x, y = data["embeddings"], data["labels"]
    for backend in BACKENDS:
        got = to_numpy(loss(to_backend(x, backend, "float64"), to_backend(y, backend)))
        assert got.shape == ()
        np.testing.assert_allclose(got, data["loss"], rtol=1e-12, atol=1e-13, err_msg=backend)
    for backend in AUTOGRAD_BACKENDS:
        (grad,) = grads_of(loss, [x, y], (0,), backend)
        assert_grads_close(grad, data["grad_loss"])


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem.split("__")[1] for p in FIXTURES])
def test_the_loop_definition_equals_pml(path):
    """The loop of plain floats (a third reference) agrees with pml too: the fixtures are the formula."""
    meta, data = load(path)
    want = supcon_loop(data["embeddings"], data["labels"], meta["kwargs"]["temperature"])
    np.testing.assert_allclose(want, data["losses"], rtol=1e-11, atol=1e-12)


def test_the_fixtures_cover_the_edge_cases():
    stems = {p.stem.split("__")[1] for p in FIXTURES}
    assert {"singletons", "duplicates", "zero_rows", "one_class", "no_positive", "temperature_0_01"} <= stems
    assert {load(p)[0]["kwargs"]["temperature"] for p in FIXTURES} >= {0.01, 0.07, 0.1, 0.5, 1.0}
    singletons = load(FIXTURE_DIR / "supcon__singletons.npz")[1]
    counts = {c: int((singletons["labels"] == c).sum()) for c in singletons["labels"]}
    alone = np.array([counts[c] == 1 for c in singletons["labels"]])
    assert alone.any() and (singletons["losses"][alone] == 0).all() and (singletons["losses"][~alone] > 0).all()


# ---- against the authors' code ------------------------------------------------------------------


@pytest.mark.parametrize(("temperature", "base_temperature"), [(0.07, 0.07), (0.1, 0.07), (0.5, 0.07), (0.2, 1.0)])
@pytest.mark.parametrize(("bsz", "n_views"), [(6, 2), (4, 3)])
def test_equals_the_authors_code(temperature, base_temperature, bsz, n_views):
    """The authors' features ``[bsz, n_views, D]`` stacked view-major with their labels repeated
    are losskit's input; their per-anchor loss (with ``T / T_base``) and their scalar, the mean of
    ``reduction='none'``; gradients through the normalisation by torch's autograd."""
    torch = pytest.importorskip("torch")
    labels = rng.integers(0, 3, size=bsz)
    labels[:2] = [0, 1]  # two classes at least: every anchor has a negative
    raw = rng.normal(size=(bsz, n_views, 5))

    f = torch.tensor(raw, requires_grad=True)
    per_anchor, scalar = hobbitlong_supcon(
        torch.nn.functional.normalize(f, dim=2), torch.tensor(labels), None, temperature, "all", base_temperature
    )
    (want_grad,) = torch.autograd.grad(scalar, f)

    flat = raw.transpose(1, 0, 2).reshape(-1, 5)  # torch.cat(torch.unbind(features, dim=1))
    loss = losskit.SupConLoss(temperature=temperature, base_temperature=base_temperature)
    for backend in BACKENDS:
        got = to_numpy(loss(to_backend(flat, backend, "float64"), to_backend(np.tile(labels, n_views), backend)))
        np.testing.assert_allclose(got, per_anchor.detach().numpy(), rtol=1e-12, atol=1e-13, err_msg=backend)
        np.testing.assert_allclose(got.mean(), float(scalar), rtol=1e-12)
    for backend in AUTOGRAD_BACKENDS:
        (grad,) = grads_of(lambda e, y: loss(e, y).mean(), [flat, np.tile(labels, n_views)], (0,), backend)
        np.testing.assert_allclose(grad, want_grad.numpy().transpose(1, 0, 2).reshape(-1, 5), rtol=1e-10, atol=1e-13)


def test_where_the_authors_code_differs():
    """An anchor without a positive: NaN in the authors' 2020 code, transcribed here (0/0; their later
    code gives 0, as pml's and losskit's). A batch of one class: the
    formula there (its positives fill the denominator), 0 here, as pml's ``zero_losses``."""
    torch = pytest.importorskip("torch")
    raw = rng.normal(size=(3, 2, 4))
    unit = raw / np.linalg.norm(raw, axis=2, keepdims=True)
    flat = unit.transpose(1, 0, 2).reshape(-1, 4)
    loss = losskit.SupConLoss(temperature=0.07, base_temperature=0.07)
    # one view each, three labels: no positive anywhere
    per_anchor, _ = hobbitlong_supcon(torch.tensor(unit[:, :1]), torch.tensor([0, 1, 2]))
    assert torch.isnan(per_anchor).all()
    np.testing.assert_array_equal(loss(unit[:, 0], np.array([0, 1, 2])), np.zeros(3))
    # one class
    per_anchor, _ = hobbitlong_supcon(torch.tensor(unit), torch.tensor([5, 5, 5]))
    assert (per_anchor > 0).all()
    np.testing.assert_array_equal(loss(flat, np.full(6, 5)), np.zeros(6))


# ---- closed forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_closed_forms(backend):
    def run(x, y, **kw):
        out = losskit.SupConLoss(**kw)(
            to_backend(np.asarray(x, float), backend, "float64"), to_backend(np.array(y), backend)
        )
        return to_numpy(out)

    ortho = [[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]]
    # one positive at cosine 1, two negatives at 0: -log(e^{1/T} / (e^{1/T} + 2))
    for t in (1.0, 0.1, 0.01):
        np.testing.assert_allclose(run(ortho, [0, 0, 1, 1], temperature=t), np.full(4, np.log1p(2 * np.exp(-1 / t))))
    # three views of one direction and one orthogonal negative: each view has two positives, both at
    # cosine 1: -log(e^{1/T} / (2 e^{1/T} + 1)) = log(2 + e^{-1/T})
    x = [[1.0, 1.0], [2.0, 2.0], [0.5, 0.5], [1.0, -1.0]]
    np.testing.assert_allclose(run(x, [3, 3, 3, 8], temperature=0.5)[:3], np.full(3, np.log(2 + np.exp(-2.0))))
    assert run(x, [3, 3, 3, 8], temperature=0.5)[3] == 0  # no positive
    # the authors' factor: T / T_base
    np.testing.assert_allclose(
        run(ortho, [0, 0, 1, 1], temperature=0.5, base_temperature=0.07), 0.5 / 0.07 * np.log1p(2 * np.exp(-2.0))
    )
    # a positive at cosine -1, a negative at cosine 1 (T = 1): log(e^-1 + e) + 1
    np.testing.assert_allclose(
        run([[1.0, 0.0], [-1.0, 0.0], [3.0, 0.0]], [0, 0, 1])[0], np.log(np.exp(-10) + np.exp(10)) + 10
    )


def test_the_other_positives_are_in_the_denominator_unlike_ntxent():
    """With one positive per anchor SupCon is NT-Xent; with more they differ by the positives'
    share of the denominator (NT-Xent leaves the other positives out)."""
    x = rng.normal(size=(6, 3))
    two = np.array([0, 1, 2, 0, 1, 2])
    np.testing.assert_allclose(losskit.SupConLoss(0.3)(x, two), losskit.NTXentLoss(0.3)(x, two), rtol=1e-12)
    three = np.array([0, 0, 0, 1, 1, 1])
    assert (losskit.SupConLoss(0.3)(x, three) > losskit.NTXentLoss(0.3)(x, three)).all()
    np.testing.assert_allclose(losskit.SupConLoss(0.3)(x, three), supcon_loop(x, three, 0.3), rtol=1e-12)


# ---- stability --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("temperature", [1e-4, 0.01, 0.1, 10.0])
def test_finite_for_duplicates_zero_rows_singletons_and_small_temperatures(backend, temperature):
    x = rng.normal(size=(8, 4))
    x[1] = x[0]  # a duplicate positive
    x[3] = x[2]  # a duplicate negative
    x[5] = 0.0  # a zero row with a positive
    x[7] = 0.0  # a zero row without one
    y = np.array([0, 0, 1, 2, 3, 3, 1, 4])
    loss = losskit.SupConLoss(temperature=temperature)
    args = [to_backend(x, backend, "float64"), to_backend(y, backend)]
    out = to_numpy(loss(*args))
    assert np.isfinite(out).all() and out[7] == 0 and (out >= 0).all()
    np.testing.assert_allclose(out, supcon_loop(x, y, temperature), rtol=1e-9)
    (grad,) = grads_of(loss, [x, y], (0,), backend)
    assert np.isfinite(grad).all()


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_a_single_row_a_single_class_and_no_positive_are_0_with_zero_gradient(backend):
    for x, y in (
        (rng.normal(size=(1, 3)), [0]),
        (rng.normal(size=(4, 3)), [2, 2, 2, 2]),
        (rng.normal(size=(3, 3)), [0, 1, 2]),
    ):
        y = np.array(y)
        for reduction in ("none", "mean", "sum"):
            loss = losskit.SupConLoss(reduction=reduction)
            out = to_numpy(loss(to_backend(x, backend, "float64"), to_backend(y, backend)))
            np.testing.assert_array_equal(out, np.zeros(len(y)) if reduction == "none" else 0.0)
            (grad,) = grads_of(loss, [x, y], (0,), backend)
            np.testing.assert_array_equal(grad, np.zeros_like(x))


def test_large_and_tiny_rows_are_normalised():
    x = rng.normal(size=(6, 3))
    y = np.array([0, 1, 0, 1, 2, 2])
    scaled = x * np.array([1e-11, 1e300, 1.0, 1e-7, 7.0, 1e100])[:, None]
    np.testing.assert_allclose(losskit.SupConLoss()(scaled, y), losskit.SupConLoss()(x, y), rtol=1e-12)
    # below torch's floor of 1e-12 on the norm (pml's normalize) a row is divided by 1e-12: it
    # stays tiny, a cosine of ~0 with every row, as a zero row
    tiny = x * np.array([1e-200, 1, 1, 1, 1, 1])[:, None]
    zero = x * np.array([0.0, 1, 1, 1, 1, 1])[:, None]
    np.testing.assert_allclose(losskit.SupConLoss()(tiny, y), losskit.SupConLoss()(zero, y), rtol=1e-12)
    for dtype in (np.float32, np.float16):
        big = (x / np.abs(x).max(axis=1, keepdims=True) * np.array([6e4, 1e-3, 1, 3e4, 2, 5])[:, None]).astype(dtype)
        assert np.isfinite(big).all()
        got = losskit.SupConLoss()(big, y)
        assert got.dtype == dtype and np.isfinite(got).all()


# ---- reductions, weights, options -------------------------------------------------------------


def test_reductions_and_weights():
    x = rng.normal(size=(7, 4))
    y = np.array([0, 1, 0, 2, 1, 0, 3])  # rows 3 and 6 without a positive
    sw = rng.uniform(0.5, 2.0, size=7)
    per = supcon_loop(x, y, 0.2)
    has = np.array([True, True, True, False, True, True, False])
    np.testing.assert_allclose(losskit.SupConLoss(0.2)(x, y), per, rtol=1e-12)
    np.testing.assert_allclose(losskit.SupConLoss(0.2, weight=3.0)(x, y, sw), 3 * sw * per, rtol=1e-12)
    np.testing.assert_allclose(losskit.SupConLoss(0.2, reduction="mean")(x, y), per[has].mean(), rtol=1e-12)
    np.testing.assert_allclose(
        losskit.SupConLoss(0.2, reduction="mean", weight=0.5)(x, y, sw), 0.5 * (sw * per).sum() / 5, rtol=1e-12
    )
    np.testing.assert_allclose(losskit.SupConLoss(0.2, reduction="sum")(x, y, sw), (sw * per).sum(), rtol=1e-12)
    np.testing.assert_allclose(
        F.supcon_loss(x, y, sw, temperature=0.2, reduction="sum"), losskit.SupConLoss(0.2, reduction="sum")(x, y, sw)
    )
    # labels (N, 1), bools, floats: compared for equality only
    np.testing.assert_array_equal(losskit.SupConLoss(0.2)(x, y[:, None]), losskit.SupConLoss(0.2)(x, y))
    np.testing.assert_array_equal(losskit.SupConLoss(0.2)(x, y + 0.5), losskit.SupConLoss(0.2)(x, y))


def test_permuting_the_batch_permutes_the_losses():
    x = rng.normal(size=(9, 5))
    y = rng.integers(0, 3, size=9)
    order = rng.permutation(9)
    np.testing.assert_allclose(losskit.SupConLoss()(x[order], y[order]), losskit.SupConLoss()(x, y)[order], rtol=1e-12)


def test_an_empty_batch():
    assert losskit.SupConLoss()(np.zeros((0, 3)), np.zeros(0, dtype=int)).shape == (0,)
    assert float(losskit.SupConLoss(reduction="mean")(np.zeros((0, 3)), np.zeros(0, dtype=int))) == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_and_dtype_keeps_the_dtype(backend):
    x = rng.normal(size=(6, 4))
    y = np.array([0, 1, 0, 2, 1, 0])
    want = supcon_loop(x, y, 0.1)
    for dtype in dtypes_for(backend):
        e = to_backend(x, backend, dtype)
        out = losskit.SupConLoss()(e, to_backend(y, backend))
        assert out.dtype == e.dtype and tuple(out.shape) == (6,)
        assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(e)
        ref = supcon_loop(to_numpy(e).astype(np.float64), y, 0.1)  # on the rounded inputs
        np.testing.assert_allclose(to_numpy(out), ref, rtol=TOL[dtype], atol=TOL[dtype], err_msg=dtype)
        np.testing.assert_allclose(to_numpy(out), want, rtol=50 * TOL[dtype], atol=50 * TOL[dtype], err_msg=dtype)


def test_a_learnt_temperature():
    """A 0-d temperature of the inputs' library: differentiable, under jit too."""
    x = rng.normal(size=(6, 3))
    y = np.array([0, 1, 0, 1, 2, 2])
    torch = pytest.importorskip("torch")
    t = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    out = losskit.SupConLoss(temperature=t, base_temperature=0.07)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(out.detach().numpy(), supcon_loop(x, y, 0.3, 0.07), rtol=1e-12)
    (g,) = torch.autograd.grad(out.sum(), t)
    h = 1e-6
    fd = (supcon_loop(x, y, 0.3 + h, 0.07).sum() - supcon_loop(x, y, 0.3 - h, 0.07).sum()) / (2 * h)
    np.testing.assert_allclose(float(g), fd, rtol=1e-6)
    jax = pytest.importorskip("jax")
    gj = jax.jit(
        jax.grad(lambda t: losskit.SupConLoss(temperature=t)(jax.numpy.asarray(x), jax.numpy.asarray(y)).sum())
    )(jax.numpy.asarray(0.3))
    fd = (supcon_loop(x, y, 0.3 + h).sum() - supcon_loop(x, y, 0.3 - h).sum()) / (2 * h)
    np.testing.assert_allclose(float(gj), fd, rtol=1e-6)


def test_jax_jit_and_vmap_and_torch_gradcheck():
    x = rng.normal(size=(2, 6, 3))
    y = np.array([0, 1, 0, 2, 1, 0])
    jax = pytest.importorskip("jax")
    loss = losskit.SupConLoss(temperature=0.2)
    mapped = jax.vmap(lambda e: loss(e, jax.numpy.asarray(y)))(jax.numpy.asarray(x))
    for k in range(2):
        np.testing.assert_allclose(np.asarray(mapped[k]), supcon_loop(x[k], y, 0.2), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.jit(loss)(x[0], y)), supcon_loop(x[0], y, 0.2), rtol=1e-12)
    torch = pytest.importorskip("torch")
    e = torch.tensor(x[0], requires_grad=True)
    sw = torch.tensor(rng.uniform(0.5, 2, size=6), requires_grad=True)
    for reduction in ("none", "mean"):
        fn = losskit.SupConLoss(temperature=0.2, base_temperature=0.1, reduction=reduction)
        assert torch.autograd.gradcheck(lambda a, w, fn=fn: fn(a, torch.tensor(y), w), (e, sw))


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: losskit.SupConLoss(temperature=0.0), ValueError, "temperature must be in (0, inf), got 0"),
        (lambda: losskit.SupConLoss(temperature=-0.1), ValueError, "temperature must be in"),
        (lambda: losskit.SupConLoss(temperature="0.1"), TypeError, "temperature must be a real number"),
        (lambda: losskit.SupConLoss(base_temperature=0), ValueError, "base_temperature must be in (0, inf)"),
        (lambda: losskit.SupConLoss(base_temperature=math.nan), ValueError, "base_temperature must be in"),
        (lambda: losskit.SupConLoss(reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: losskit.SupConLoss()(np.zeros((4, 3)), np.zeros(3, dtype=int)), ValueError, "label shape (3,)"),
        (lambda: losskit.SupConLoss()(np.zeros((4, 3, 2)), np.zeros(4, dtype=int)), ValueError, "(batch_size, dim)"),
        (lambda: losskit.SupConLoss()(np.zeros((4, 0)), np.zeros(4, dtype=int)), ValueError, "at least one feature"),
        (lambda: losskit.SupConLoss()(np.zeros((4, 3), dtype=int), np.zeros(4, dtype=int)), TypeError, "floating"),
        (lambda: losskit.SupConLoss()(np.ones((3, 2)), np.array([0, 1, math.nan])), ValueError, "label holds NaN"),
        (lambda: losskit.SupConLoss(batch_axis=1)(np.ones((3, 2)), np.arange(3)), ValueError, "batch_axis=0 only"),
        (lambda: losskit.SupConLoss()(np.ones((3, 2)), np.arange(3), np.ones(2)), ValueError, "sample_weight shape"),
        (lambda: losskit.SupConLoss()(np.ones((3, 2)), [0, 1, 2]), TypeError, "an input is a list ([0, 1, 2])"),
    ],
)
def test_supcon_bad_input_is_named(make, error, message):
    with pytest.raises(error, match=__import__("re").escape(message)):
        make()


# =============================================================================================
# TripletMarginWithDistanceLoss
# =============================================================================================


def _torch_distances():
    import torch.nn.functional as tf

    return {
        "default": None,
        "pairwise_l1": lambda x, y: tf.pairwise_distance(x, y, p=1.0),
        "cosine": lambda x, y: 1.0 - tf.cosine_similarity(x, y, dim=-1),
        "squared": lambda x, y: ((x - y) ** 2).sum(-1),
    }


def _triplet_inputs(shape, seed_rng=None):
    r = seed_rng or rng
    a = r.normal(size=shape)
    return a, a + 0.6 * r.normal(size=shape), a + r.normal(size=shape)


@pytest.mark.parametrize("margin", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("name", ["default", "pairwise_l1", "cosine", "squared"])
def test_equals_torch_values_and_gradients(name, swap, margin):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    dist = _torch_distances()[name]
    raw = _triplet_inputs((7, 5))
    leaves = [torch.tensor(v, requires_grad=True) for v in raw]
    want = tf.triplet_margin_with_distance_loss(
        *leaves, distance_function=dist, margin=margin, swap=swap, reduction="none"
    )
    want_grads = torch.autograd.grad(want.sum(), leaves)
    loss = losskit.TripletMarginWithDistanceLoss(distance_function=dist, margin=margin, swap=swap)
    got = loss(*leaves)
    assert got.dtype == torch.float64 and tuple(got.shape) == (7,)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-13)
    for g, w in zip(torch.autograd.grad(got.sum(), leaves), want_grads):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-13)
    # torch's reductions are the mean and sum of the values
    torch.testing.assert_close(
        tf.triplet_margin_with_distance_loss(*leaves, distance_function=dist, margin=margin, swap=swap), got.mean()
    )


@pytest.mark.parametrize("swap", [False, True])
def test_equals_torch_for_unbatched_and_3d_inputs(swap):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    for name, dist in _torch_distances().items():
        for shape in ((6,), (4, 3, 5)):
            t = [torch.tensor(v) for v in _triplet_inputs(shape)]
            want = tf.triplet_margin_with_distance_loss(*t, distance_function=dist, swap=swap, reduction="none")
            got = losskit.TripletMarginWithDistanceLoss(dist, swap=swap)(*t)
            # torch: a 0-d value, or one per (N, T) index; losskit: (1,), or the mean over T
            expected = want.reshape(1) if len(shape) == 1 else want.mean(dim=1)
            torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-13, msg=f"{name} {shape}")
            by_t = losskit.TripletMarginWithDistanceLoss(dist, swap=swap, batch_axis=1)(*t) if len(shape) > 1 else None
            if by_t is not None:
                torch.testing.assert_close(by_t, want.mean(dim=0), rtol=1e-12, atol=1e-13)


def _numpy_l1(x, y):
    return np.abs(x - y).sum(axis=-1)


def _jax_cosine(x, y):
    import jax.numpy as jnp

    return 1.0 - (x * y).sum(-1) / (jnp.linalg.norm(x, axis=-1) * jnp.linalg.norm(y, axis=-1))


def _array_api_l1(x, y):
    xp = array_api_compat.array_namespace(x, y)
    return xp.sum(xp.abs(x - y), axis=-1)


@pytest.mark.parametrize("swap", [False, True])
def test_numpy_and_jax_distances_equal_torch(swap):
    """A distance of NumPy (L1) and of JAX (1 - cos), against torch with the same distance; JAX's
    gradients against torch's."""
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    tf = torch.nn.functional
    raw = _triplet_inputs((6, 4))
    leaves = [torch.tensor(v, requires_grad=True) for v in raw]
    for mine, theirs, backend in (
        (_numpy_l1, lambda x, y: tf.pairwise_distance(x, y, p=1.0, eps=0.0), "numpy"),
        (_jax_cosine, lambda x, y: 1 - tf.cosine_similarity(x, y, eps=0.0), "jax"),
        (_array_api_l1, lambda x, y: tf.pairwise_distance(x, y, p=1.0, eps=0.0), "jax"),
        (_array_api_l1, lambda x, y: tf.pairwise_distance(x, y, p=1.0, eps=0.0), "strict"),
    ):
        want = tf.triplet_margin_with_distance_loss(*leaves, distance_function=theirs, swap=swap, reduction="none")
        want_grads = [g.numpy() for g in torch.autograd.grad(want.sum(), leaves)]
        loss = losskit.TripletMarginWithDistanceLoss(mine, swap=swap)
        got = loss(*[to_backend(v, backend, "float64") for v in raw])
        np.testing.assert_allclose(to_numpy(got), want.detach().numpy(), rtol=1e-12, atol=1e-13)
        if backend == "jax":
            grads = jax.grad(lambda *a, loss=loss: loss(*a).sum(), argnums=(0, 1, 2))(
                *[jax.numpy.asarray(v) for v in raw]
            )
            for g, w in zip(grads, want_grads):
                np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_default_distance_is_triplet_margin_loss(backend):
    raw = _triplet_inputs((5, 4))
    sw = rng.uniform(0.5, 2, size=5)
    for kw in ({}, {"swap": True, "margin": 0.4, "weight": 2.0}):
        args = [to_backend(v, backend, "float64") for v in (*raw, sw)]
        got = losskit.TripletMarginWithDistanceLoss(**kw)(*args)
        want = losskit.TripletMarginLoss(**kw)(*args)
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))
        if backend in AUTOGRAD_BACKENDS:
            for g, w in zip(
                grads_of(losskit.TripletMarginWithDistanceLoss(**kw), [*raw, sw], (0, 1, 2, 3), backend),
                grads_of(losskit.TripletMarginLoss(**kw), [*raw, sw], (0, 1, 2, 3), backend),
            ):
                np.testing.assert_array_equal(g, w)
    # an L1 distance function with torch's eps is TripletMarginLoss(p=1)
    if backend in AUTOGRAD_BACKENDS:

        def xp_l1(x, y):
            return losskit.functional.metric.pairwise_distance(array_api_compat.array_namespace(x), x, y, 1, 1e-6)

        args = [to_backend(v, backend, "float64") for v in raw]
        np.testing.assert_allclose(
            to_numpy(losskit.TripletMarginWithDistanceLoss(xp_l1, swap=True)(*args)),
            to_numpy(losskit.TripletMarginLoss(p=1, swap=True)(*args)),
            rtol=1e-14,
        )


def test_gradcheck_float64():
    torch = pytest.importorskip("torch")
    raw = _triplet_inputs((5, 4))
    sw = torch.tensor(rng.uniform(0.5, 2, size=5), requires_grad=True)
    leaves = [torch.tensor(v, requires_grad=True) for v in raw]
    for dist in _torch_distances().values():
        for swap in (False, True):
            loss = losskit.TripletMarginWithDistanceLoss(dist, margin=1.5, swap=swap)
            assert torch.autograd.gradcheck(lambda *a, loss=loss: loss(*a), (*leaves, sw))


def test_the_distance_function_sees_the_compute_dtype_and_the_result_keeps_the_inputs():
    torch = pytest.importorskip("torch")
    seen = []

    def dist(x, y):
        seen.append((x.dtype, y.dtype))
        return torch.nn.functional.pairwise_distance(x, y)

    raw = _triplet_inputs((5, 3))
    want = losskit.TripletMarginWithDistanceLoss()(*[torch.tensor(v) for v in raw])
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        seen.clear()
        out = losskit.TripletMarginWithDistanceLoss(dist, swap=True)(*[torch.tensor(v, dtype=dtype) for v in raw])
        compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
        assert out.dtype == dtype and seen == [(compute, compute)] * 3
        tol = {torch.float16: 5e-3, torch.bfloat16: 3e-2, torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
        torch.testing.assert_close(out.double(), want, rtol=tol, atol=tol)
    # mixed dtypes promote, as torch's
    out = losskit.TripletMarginWithDistanceLoss(dist)(
        torch.tensor(raw[0], dtype=torch.float32), torch.tensor(raw[1]), torch.tensor(raw[2], dtype=torch.float16)
    )
    assert out.dtype == torch.float64 and seen[-1] == (torch.float64, torch.float64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_and_dtype_with_an_array_api_distance(backend):
    raw = _triplet_inputs((5, 4))
    want = np.maximum(1.0 + np.abs(raw[0] - raw[1]).sum(-1) - np.abs(raw[0] - raw[2]).sum(-1), 0)
    for dtype in dtypes_for(backend):
        args = [to_backend(v, backend, dtype) for v in raw]
        out = losskit.TripletMarginWithDistanceLoss(_array_api_l1)(*args)
        assert out.dtype == args[0].dtype and tuple(out.shape) == (5,)
        assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(args[0])
        rounded = [to_numpy(a).astype(np.float64) for a in args]
        ref = np.maximum(1.0 + np.abs(rounded[0] - rounded[1]).sum(-1) - np.abs(rounded[0] - rounded[2]).sum(-1), 0)
        np.testing.assert_allclose(to_numpy(out), ref, rtol=4 * TOL[dtype], atol=4 * TOL[dtype], err_msg=dtype)
        if dtype == "float64":
            np.testing.assert_allclose(to_numpy(out), want, rtol=1e-12)


def test_weights_batch_axis_and_distances_of_more_axes():
    raw = _triplet_inputs((4, 3, 5))
    sw = rng.uniform(0.5, 2, size=(4, 1))
    per_triplet = np.maximum(1 + _numpy_l1(raw[0], raw[1]) - _numpy_l1(raw[0], raw[2]), 0)  # (4, 3)
    loss = losskit.TripletMarginWithDistanceLoss(_numpy_l1, weight=0.5)
    np.testing.assert_allclose(loss(*raw, sw), 0.5 * (sw * per_triplet).mean(axis=1), rtol=1e-14)
    by_t = losskit.TripletMarginWithDistanceLoss(_numpy_l1, batch_axis=1)(*raw, rng.uniform(size=(1, 3)))
    assert by_t.shape == (3,)
    # an image distance: (N, C, H, W) inputs, one distance per example
    images = _triplet_inputs((4, 2, 3, 3))
    flat = [v.reshape(4, -1) for v in images]
    per_image = lambda x, y: np.sqrt(((x - y) ** 2).sum(axis=(1, 2, 3)))  # noqa: E731
    np.testing.assert_allclose(
        losskit.TripletMarginWithDistanceLoss(per_image, swap=True)(*images),
        losskit.TripletMarginWithDistanceLoss(lambda x, y: np.sqrt(((x - y) ** 2).sum(-1)), swap=True)(*flat),
        rtol=1e-14,
    )
    np.testing.assert_allclose(losskit.TripletMarginWithDistanceLoss(per_image)(*images, np.ones(4)).shape, (4,))
    # the functional form is the class's, and a distance function is neither copied nor called on the sample weight
    np.testing.assert_array_equal(
        F.triplet_margin_with_distance_loss(*raw, sw, distance_function=_numpy_l1, swap=True, margin=0.3),
        losskit.TripletMarginWithDistanceLoss(_numpy_l1, margin=0.3, swap=True)(*raw, sw),
    )


def test_torch_compile_fullgraph_and_jax_jit_with_a_distance_function():
    torch = pytest.importorskip("torch")
    from torch._dynamo.testing import CompileCounter

    raw = _triplet_inputs((6, 4))
    for name, dist in _torch_distances().items():
        for swap in (False, True):
            torch._dynamo.reset()
            loss = losskit.TripletMarginWithDistanceLoss(dist, margin=0.7, swap=swap)
            counter = CompileCounter()
            compiled = torch.compile(lambda *a, loss=loss: loss(*a), backend=counter, fullgraph=True)
            for seed in (1, 2):
                args = [torch.tensor(v) for v in _triplet_inputs((6, 4), np.random.default_rng(seed))]
                torch.testing.assert_close(compiled(*args), loss(*args), rtol=1e-12, atol=1e-13)
            assert counter.frame_count == 1, name
            # forward and backward by AOTAutograd
            torch._dynamo.reset()
            aot = torch.compile(lambda *a, loss=loss: loss(*a), backend="aot_eager", fullgraph=True)
            grads = []
            for fn in (aot, loss):
                leaves = [torch.tensor(v, requires_grad=True) for v in raw]
                grads.append(torch.autograd.grad(fn(*leaves).sum(), leaves))
            for g, w in zip(*grads):
                torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-13)
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    for dist in (_jax_cosine, _array_api_l1):
        loss = losskit.TripletMarginWithDistanceLoss(dist, swap=True)
        args = [jnp.asarray(v) for v in raw]
        np.testing.assert_allclose(np.asarray(jax.jit(loss)(*args)), np.asarray(loss(*args)), rtol=1e-12)
        mapped = jax.vmap(loss)(*[a[:, None] for a in args])  # a batch of one per row
        np.testing.assert_allclose(np.asarray(mapped)[:, 0], np.asarray(loss(*args)), rtol=1e-12)
        g = jax.jit(jax.grad(lambda *a, loss=loss: loss(*a).sum(), argnums=(0, 1, 2)))(*args)
        assert all(bool(jnp.isfinite(x).all()) for x in g)


def test_torch_func_vmap_and_grad_with_a_distance_function():
    torch = pytest.importorskip("torch")
    loss = losskit.TripletMarginWithDistanceLoss(_torch_distances()["cosine"], swap=True)
    stacked = [torch.tensor(v) for v in _triplet_inputs((2, 5, 3))]
    mapped = torch.func.vmap(loss)(*stacked)
    for k in range(2):
        torch.testing.assert_close(mapped[k], loss(*[s[k] for s in stacked]), rtol=1e-12, atol=1e-13)
    got = torch.func.grad(lambda a: loss(a, stacked[1][0], stacked[2][0]).sum())(stacked[0][0])
    a = stacked[0][0].clone().requires_grad_()
    (want,) = torch.autograd.grad(loss(a, stacked[1][0], stacked[2][0]).sum(), a)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-13)


# ---- bad input ---------------------------------------------------------------------------------


class _Recorder:
    """A distance function that records its calls (to prove a check ran before any work)."""

    def __init__(self, fn=_numpy_l1):
        self.calls, self.fn = 0, fn

    def __call__(self, x, y):
        self.calls += 1
        return self.fn(x, y)


@pytest.mark.parametrize("scalar", [np.float64, np.float32])
def test_a_numpy_distance_of_one_unbatched_triplet_is_its_0d_array(scalar):
    """NumPy's reductions give a NumPy scalar for 1-D inputs (np.float64 is a Python float too):
    taken as the 0-d array it stands for, the loss |a - p|_1 - |a - n|_1 + margin of the one triplet."""
    a, p, n = np.zeros(2, scalar), np.array([3.0, 4.0], scalar), np.array([0.0, 1.0], scalar)
    loss = losskit.TripletMarginWithDistanceLoss(lambda x, y: np.abs(x - y).sum(-1), margin=0.5)
    got = loss(a, p, n)
    assert type(got) is np.ndarray and got.dtype == scalar and got.shape == (1,)
    np.testing.assert_allclose(got, [7.0 - 1.0 + 0.5])
    with pytest.raises(TypeError, match="it returned float: 7.0"):  # a Python float stays refused
        losskit.TripletMarginWithDistanceLoss(lambda x, y: float(np.abs(x - y).sum()))(a, p, n)


def test_a_bad_result_of_the_distance_function_is_named():
    torch = pytest.importorskip("torch")
    a, p, n = (torch.tensor(v) for v in _triplet_inputs((4, 3)))
    cases = [
        (torch.dist, ValueError, "distance_function returned distances of shape () for inputs of shape (4, 3)"),
        (lambda x, y: (x - y).norm(dim=-1, keepdim=True), ValueError, "shape (4, 1) for inputs of shape (4, 3)"),
        (lambda x, y: (x - y).abs(), ValueError, "must return one distance per triplet, shape (4,)"),
        (
            lambda x, y: (x - y).numpy().sum(-1),
            TypeError,
            "library (torch), one distance per triplet; it returned a numpy.ndarray",
        ),
        (lambda x, y: 1.5, TypeError, "it returned float: 1.5"),
        (lambda x, y: None, TypeError, "it returned NoneType"),
        (
            lambda x, y: (x - y).abs().sum(-1).to(torch.int64),
            TypeError,
            "real floating-point distances, got dtype torch.int64",
        ),
    ]
    for dist, error, message in cases:
        with pytest.raises(error, match=__import__("re").escape(message)):
            losskit.TripletMarginWithDistanceLoss(dist)(a, p, n)
    # a function whose second call gives another shape than its first
    calls = []

    def fickle(x, y):
        calls.append(1)
        d = (x - y).abs().sum(-1)
        return d if len(calls) == 1 else d[:2]

    with pytest.raises(ValueError, match=r"distances of shape \(2,\).*the same shape for every pair"):
        losskit.TripletMarginWithDistanceLoss(fickle)(a, p, n)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda r: losskit.TripletMarginWithDistanceLoss("euclidean"),
            TypeError,
            "distance_function must be a callable",
        ),
        (lambda r: losskit.TripletMarginWithDistanceLoss(2.0), TypeError, "got float: 2.0"),
        (lambda r: losskit.TripletMarginWithDistanceLoss(r, swap="yes"), TypeError, "swap must be True or False"),
        (lambda r: losskit.TripletMarginWithDistanceLoss(r, margin="1"), TypeError, "margin must be a real number"),
        (
            lambda r: losskit.TripletMarginWithDistanceLoss(r)(np.ones((4, 3)), np.ones((4, 2)), np.ones((4, 3))),
            ValueError,
            "positive shape (4, 2) does not match pred",
        ),
        (
            lambda r: losskit.TripletMarginWithDistanceLoss(r)(np.ones(()), np.ones(()), np.ones(())),
            ValueError,
            "at least one axis",
        ),
        (
            lambda r: losskit.TripletMarginWithDistanceLoss(r)(np.ones((4, 3), int), np.ones((4, 3)), np.ones((4, 3))),
            TypeError,
            "pred must be a real floating-point array",
        ),
        (
            lambda r: losskit.TripletMarginWithDistanceLoss(r)(np.ones((4, 3)), [[1.0] * 3] * 4, np.ones((4, 3))),
            TypeError,
            "an input is a list",
        ),
        (
            lambda r: F.triplet_margin_with_distance_loss(
                np.ones((4, 3)), np.ones((4, 3)), np.ones((4, 3)), distance_function=lambda x, y: len(x)
            ),
            None,
            None,
        ),
        (lambda r: losskit.TripletMarginWithDistanceLoss(weight=math.inf), ValueError, "weight must be finite"),
    ],
)
def test_distance_triplet_bad_options_and_inputs_raise_before_any_work(make, error, message):
    recorder = _Recorder()
    if error is None:  # len is callable: refused by the result check, after its one call
        with pytest.raises(TypeError, match="it returned int"):
            make(recorder)
        return
    with pytest.raises(error, match=__import__("re").escape(message)):
        make(recorder)
    assert recorder.calls == 0


def test_a_bad_sample_weight_or_batch_axis_is_named_after_the_first_distances():
    raw = _triplet_inputs((4, 3))
    with pytest.raises(ValueError, match=r"sample_weight shape \(3,\) does not broadcast to the loss shape \(4,\)"):
        losskit.TripletMarginWithDistanceLoss(_numpy_l1)(*raw, np.ones(3))
    with pytest.raises(ValueError, match=r"batch_axis=1 is out of range for the triplets, shape \(4,\)"):
        losskit.TripletMarginWithDistanceLoss(_numpy_l1, batch_axis=1)(*raw)
    recorder = _Recorder()
    with pytest.raises(ValueError, match="sample_weight"):
        losskit.TripletMarginWithDistanceLoss(recorder)(*raw, np.ones(3))
    assert recorder.calls == 1  # the distances' shape is needed to check it: no second call


def test_inputs_are_never_modified():
    raw = _triplet_inputs((4, 3))
    before = [v.copy() for v in raw]
    losskit.TripletMarginWithDistanceLoss(_numpy_l1, swap=True)(*raw)
    x, y = rng.normal(size=(5, 3)), np.array([0, 1, 0, 1, 2])
    xb, yb = x.copy(), y.copy()
    losskit.SupConLoss()(x, y)
    for v, b in zip((*raw, x, y), (*before, xb, yb)):
        np.testing.assert_array_equal(v, b)


# =============================================================================================
# Both: exports, registry, repr
# =============================================================================================


def test_exported_registered_and_documented():
    for name, fn in (
        ("SupConLoss", "supcon_loss"),
        ("TripletMarginWithDistanceLoss", "triplet_margin_with_distance_loss"),
    ):
        assert name in losskit.__all__ and name in losskit.losses.__all__
        assert fn in F.__all__ and getattr(F, fn) is getattr(losskit, name)._function
        assert losskit.loss_info(name).family == "metric"
        assert "Shape:" in losskit.loss_info(name).cls.__doc__ and "Stability:" in losskit.loss_info(name).cls.__doc__
    assert losskit.get_loss("supconloss", temperature=0.2, reduction="mean")._reduction == "mean"
    assert repr(losskit.SupConLoss(0.2, 0.07)) == (
        "SupConLoss(batch_axis=0, w=None, temperature=0.2, base_temperature=0.07, reduction='none')"
    )
    assert repr(losskit.TripletMarginWithDistanceLoss(margin=2)).startswith(
        "TripletMarginWithDistanceLoss(batch_axis=0, w=None, distance_function=None, margin=2, swap=False"
    )
