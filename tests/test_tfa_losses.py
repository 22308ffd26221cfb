"""ContrastiveLoss, TripletHardLoss and TripletSemiHardLoss, the TensorFlow Addons losses, against
the real tfa 0.23.0 and against the papers' definitions.

Golden values and gradients of ``tfa.losses.contrastive_loss``, ``triplet_hard_loss`` and
``triplet_semihard_loss`` come from ``tools/make_tfa_fixtures.py`` (see
tests/fixtures/tfa/README.md). tfa's triplet losses run in float32 only (its
``pairwise_distance`` refuses float64), so they are compared at float32's precision (below);
``contrastive_loss`` ran in float64.

The second reference is independent of both: the definitions (Hadsell et al. 2006; Hermans et al.
2017, batch hard; Schroff et al. 2015, semi-hard) written as loops over anchors, positives and
negatives in plain Python floats (``math.fsum``, ``math.sqrt``), where losskit masks ``(N, N)``
and ``(N, N, N)`` arrays.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, autograd_grads, check_values_and_gradients, to_backend, to_numpy

rng = np.random.default_rng(0)  # reseeded per test by the root conftest.py

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "tfa"
FIXTURES = sorted(FIXTURE_DIR.glob("*__*.npz"))
EPS32 = float(np.finfo(np.float32).eps)
METRICS = ["L2", "squared-L2", "angular"]


def load(path: Path) -> tuple[dict, dict]:
    data = np.load(path, allow_pickle=False)
    return json.loads(str(data["meta"])), {k: data[k] for k in data.files if k != "meta"}


# ---- the papers' definitions, as loops --------------------------------------------------------


def distance(u: np.ndarray, v: np.ndarray, metric: str) -> float:
    if metric == "angular":
        dot = math.fsum(float(a) * float(b) for a, b in zip(u, v))
        nu = max(math.sqrt(math.fsum(float(a) ** 2 for a in u)), 1e-6)
        nv = max(math.sqrt(math.fsum(float(b) ** 2 for b in v)), 1e-6)
        return max(1.0 - dot / (nu * nv), 0.0)
    sq = math.fsum((float(a) - float(b)) ** 2 for a, b in zip(u, v))
    return sq if metric == "squared-L2" else math.sqrt(sq)


def _split(x: np.ndarray, y: np.ndarray, a: int, metric: str) -> tuple[list[float], list[float], list[float]]:
    """Anchor ``a``'s distances to its positives, to its negatives and to every row."""
    y = np.asarray(y).reshape(-1)
    row = [distance(x[a], x[j], metric) for j in range(len(y))]
    pos = [row[j] for j in range(len(y)) if j != a and y[j] == y[a]]
    neg = [row[j] for j in range(len(y)) if y[j] != y[a]]
    return pos, neg, row


def hard_reference(x, y, margin=1.0, soft=False, metric="L2") -> np.ndarray:
    """Batch hard, per anchor: the farthest positive (0 without one) against the nearest negative
    (the row's farthest point without one: tfa's conventions), hinge or softplus."""
    out = []
    for a in range(len(x)):
        pos, neg, row = _split(x, y, a, metric)
        hp = max(pos) if pos else 0.0
        hn = min(neg) if neg else max(row)
        out.append(math.log1p(math.exp(hp - hn)) if soft else max(hp - hn + margin, 0.0))
    return np.array(out)


def semihard_pairs(x, y, margin=1.0, metric="L2") -> list[list[float]]:
    """FaceNet's semi-hard triplets: for each anchor, the loss of each positive pair with the
    nearest negative farther than the positive, else the farthest negative (0 without any: tfa's)."""
    out = []
    for a in range(len(x)):
        pos, neg, _ = _split(x, y, a, metric)
        losses = []
        for d_ap in pos:
            farther = [d for d in neg if d > d_ap]
            d_an = min(farther) if farther else (max(neg) if neg else 0.0)
            losses.append(max(d_ap - d_an + margin, 0.0))
        out.append(losses)
    return out


def semihard_reference(x, y, margin=1.0, metric="L2", reduction="none", sample_weight=None):
    pairs = semihard_pairs(x, y, margin, metric)
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if reduction == "none":
        return np.array([wa * (math.fsum(p) / len(p) if p else 0.0) for wa, p in zip(w, pairs)])
    total = math.fsum(wa * v for wa, p in zip(w, pairs) for v in p)
    count = sum(len(p) for p in pairs)
    return np.array(total if reduction == "sum" else (total / count if count else 0.0))


def contrastive_reference(d, y, margin=1.0) -> np.ndarray:
    return y * d**2 + (1 - y) * np.maximum(margin - d, 0.0) ** 2


def clusters(labels, dim=4, spread=0.6, unit=False) -> np.ndarray:
    """Embeddings near a random centre per class (from the module's rng)."""
    y = np.asarray(labels)
    e = rng.normal(size=(y.max() + 1, dim))[y] + spread * rng.normal(size=(len(y), dim))
    return e / np.linalg.norm(e, axis=1, keepdims=True) if unit else e


# =============================================================================================
# Against the real tfa
# =============================================================================================


def _port(meta: dict, data: dict):
    """losskit's loss, inputs (pred, label) and the expected value and gradient for a fixture."""
    kwargs = dict(meta["kwargs"])
    out, grad = data["out"], data["grad_y_pred"]
    if meta["function"] == "contrastive_loss":
        # tfa's result per element; losskit averages the non-batch axes (one value per example)
        size = int(np.prod(out.shape[1:]))
        want = out.reshape(out.shape[0], -1).mean(axis=1)
        return losskit.ContrastiveLoss(**kwargs), want, grad / size
    cls = losskit.TripletHardLoss if meta["function"] == "triplet_hard_loss" else losskit.TripletSemiHardLoss
    return cls(**kwargs, reduction="mean"), out, grad


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_matches_tfa(path: Path) -> None:
    meta, data = load(path)
    loss, want, grad = _port(meta, data)
    x, y = data["y_pred"], data["y_true"]
    if meta["dtype"] == "float64":
        tol = {"rtol": 1e-12, "atol": 1e-12}
    else:
        # tfa's float32 squared distances |a|^2 + |b|^2 - 2 a.b carry a few units of EPS32 times the
        # squared norms; losskit computes in float64 from the differences (the same float32 inputs)
        scale = 1.0 + float(np.max(np.sum(x.astype(np.float64) ** 2, axis=1)))
        tol = {"rtol": 16 * EPS32, "atol": 16 * EPS32 * scale}
    # values on every backend, gradients on torch and JAX, in float64, against tfa's
    check_values_and_gradients(loss, [x, y], want, [grad], float_args=(0,), **tol)


def test_the_fixtures_exercise_what_they_claim() -> None:
    def case(name):
        return load(FIXTURE_DIR / f"{name}.npz")[1]

    assert len(FIXTURES) == 26
    for fn in ("triplet_semihard_loss", "triplet_hard_loss"):
        for metric in ("l2", "squared_l2", "angular"):
            assert any(p.stem.startswith(fn) and metric in p.stem for p in FIXTURES), (fn, metric)
        one = case(f"{fn}__one_class")
        assert len(np.unique(one["y_true"])) == 1
        single = case(f"{fn}__singleton_class")["y_true"]
        assert (np.unique(single, return_counts=True)[1] == 1).any()
        assert case(f"{fn}__labels_n_by_1")["y_true"].shape[1:] == (1,)
        dup = case(f"{fn}__duplicates_l2")["y_pred"]
        assert (dup[1] == dup[2]).all() and (dup[0] == dup[5]).all()
        ties = case(f"{fn}__exact_ties_l2")["y_pred"].astype(np.float64)
        d0 = np.linalg.norm(ties - ties[0], axis=1)
        assert d0[1] == d0[2] == d0[3] == 5 and d0[4] == d0[5] == 10  # exact in float32 too
    assert case("triplet_hard_loss__one_class")["out"] == pytest.approx(1.0)  # the margin
    assert case("triplet_hard_loss__soft_l2")["out"] > 0
    # the semi-hard duplicates case has an active pair whose positive is at d = 0
    meta, dup = load(FIXTURE_DIR / "triplet_semihard_loss__duplicates_l2.npz")
    assert np.isfinite(dup["grad_y_pred"]).all()


def test_fixtures_agree_with_the_loop_reference() -> None:
    """The two references agree (tfa at float32 precision): neither is checked only against losskit."""
    for path in FIXTURES:
        meta, data = load(path)
        x, y, kw = data["y_pred"].astype(np.float64), data["y_true"], meta["kwargs"]
        if meta["function"] == "contrastive_loss":
            want = contrastive_reference(x, y, kw.get("margin", 1.0))
            np.testing.assert_allclose(data["out"], want, rtol=1e-14, atol=1e-14, err_msg=path.stem)
            continue
        metric = kw.get("distance_metric", "L2")
        if meta["function"] == "triplet_hard_loss":
            want = hard_reference(x, y, kw.get("margin", 1.0), kw.get("soft", False), metric).mean()
        else:
            want = semihard_reference(x, y, kw.get("margin", 1.0), metric, reduction="mean")
        np.testing.assert_allclose(data["out"], want, rtol=1e-5, atol=1e-6, err_msg=path.stem)


# =============================================================================================
# Against the definitions
# =============================================================================================


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("soft", [False, True])
def test_hard_matches_the_loop(backend, metric, soft) -> None:
    labels = [0, 1, 2, 0, 1, 0, 3, 2]  # class 3 a singleton: no positive (d_ap = 0)
    x, w = clusters(labels), rng.uniform(0.5, 2, size=8)
    margin = 0.3 if metric == "angular" else 1.2
    want = hard_reference(x, np.array(labels), margin, soft, metric)
    xb, yb = to_backend(x, backend, "float64"), to_backend(np.array(labels), backend)
    loss = losskit.TripletHardLoss(margin=margin, soft=soft, distance_metric=metric)
    np.testing.assert_allclose(to_numpy(loss(xb, yb)), want, rtol=1e-12, atol=1e-12)
    wb = to_backend(w, backend, "float64")
    weighted = losskit.TripletHardLoss(margin=margin, soft=soft, distance_metric=metric, weight=1.5)
    np.testing.assert_allclose(to_numpy(weighted(xb, yb, wb)), 1.5 * w * want, rtol=1e-12, atol=1e-12)
    for reduction, value in (("mean", (w * want).mean()), ("sum", (w * want).sum())):
        reduced = losskit.TripletHardLoss(margin=margin, soft=soft, distance_metric=metric, reduction=reduction)
        out = reduced(xb, yb, wb)
        assert tuple(out.shape) == ()
        np.testing.assert_allclose(to_numpy(out), value, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", METRICS)
def test_semihard_matches_the_loop(backend, metric) -> None:
    labels = [0, 1, 2, 0, 1, 0, 3, 2, 1, 0]
    # spread out classes: many pairs have both a semi-hard negative and none (the fallback)
    x, y, w = clusters(labels, spread=1.0), np.array(labels), rng.uniform(0.5, 2, size=10)
    margin = 0.2 if metric == "angular" else 1.0
    xb, yb, wb = to_backend(x, backend, "float64"), to_backend(y, backend), to_backend(w, backend, "float64")
    for reduction in ("none", "mean", "sum"):
        want = semihard_reference(x, y, margin, metric, reduction, w)
        loss = losskit.TripletSemiHardLoss(margin=margin, distance_metric=metric, reduction=reduction, weight=0.5)
        np.testing.assert_allclose(to_numpy(loss(xb, yb, wb)), 0.5 * want, rtol=1e-12, atol=1e-12, err_msg=reduction)


def test_semihard_mining_takes_both_branches() -> None:
    """The loop test's inputs are not one-sided: the semi-hard negative and the fallback both occur,
    and the semi-hard pick is not the hardest negative (else a mutation to batch hard would pass)."""
    labels = np.array([0, 1, 2, 0, 1, 0, 3, 2, 1, 0])
    kinds = set()
    for _ in range(5):
        x = clusters(labels, spread=1.0)
        for a in range(len(x)):
            pos, neg, _ = _split(x, labels, a, "L2")
            for d_ap in pos:
                farther = [d for d in neg if d > d_ap]
                kinds.add("semi-hard" if farther else "fallback")
                if farther and min(farther) != min(neg):
                    kinds.add("not the hardest")
    assert kinds == {"semi-hard", "fallback", "not the hardest"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_contrastive_matches_the_formula(backend) -> None:
    d, y = rng.uniform(0, 2, size=(6, 3)), rng.integers(0, 2, size=(6, 3))
    w = rng.uniform(0.5, 2, size=(6, 1))
    want = (w * contrastive_reference(d, y, 0.8)).mean(axis=1)
    loss = losskit.ContrastiveLoss(margin=0.8, weight=2.0)
    got = loss(to_backend(d, backend, "float64"), to_backend(y, backend), to_backend(w, backend, "float64"))
    np.testing.assert_allclose(to_numpy(got), 2.0 * want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_contrastive_gradient_is_the_closed_form(backend) -> None:
    d, y = rng.uniform(0, 2, size=8), rng.integers(0, 2, size=8).astype(float)
    # d/dd: 2 y d - 2 (1 - y) max(m - d, 0)
    want = 2 * y * d - 2 * (1 - y) * np.maximum(1.0 - d, 0.0)
    check_values_and_gradients(losskit.ContrastiveLoss(), [d, y], contrastive_reference(d, y), [want])


# =============================================================================================
# Identities and edge cases
# =============================================================================================


@pytest.mark.parametrize("metric", METRICS)
def test_soft_and_hinge_share_their_gap(metric) -> None:
    """soft gives softplus(g), the hinge max(g + m, 0) of the same gap g = d_ap - d_an: g is
    log(expm1(soft)), and the hinge at any margin follows from it."""
    x, y = clusters([0, 0, 1, 1, 2, 2, 0]), np.array([0, 0, 1, 1, 2, 2, 0])
    soft = losskit.TripletHardLoss(soft=True, distance_metric=metric)(x, y)
    gap = np.log(np.expm1(soft))
    for margin in (0.0, 0.5, 2.0):
        hinge = losskit.TripletHardLoss(margin=margin, distance_metric=metric)(x, y)
        np.testing.assert_allclose(hinge, np.maximum(gap + margin, 0.0), rtol=1e-10, atol=1e-12)
    assert (soft > 0).all()
    # the soft loss ignores the margin (as tfa's)
    np.testing.assert_array_equal(losskit.TripletHardLoss(margin=7.0, soft=True, distance_metric=metric)(x, y), soft)


def test_contrastive_identities() -> None:
    d = rng.uniform(0, 2, size=10)
    ones, zeros = np.ones(10), np.zeros(10)
    # margin 0: y d^2 (a dissimilar pair at a distance >= 0 costs nothing)
    y = rng.integers(0, 2, size=10)
    np.testing.assert_allclose(losskit.ContrastiveLoss(margin=0.0)(d, y), y * d**2, rtol=1e-15)
    np.testing.assert_allclose(losskit.ContrastiveLoss(margin=0.7)(d, ones), d**2, rtol=1e-15)
    # a dissimilar pair: the square of torch's hinge embedding loss for label -1
    hinge = losskit.HingeEmbeddingLoss(margin=0.7)(d, -ones)
    np.testing.assert_allclose(losskit.ContrastiveLoss(margin=0.7)(d, zeros), hinge**2, rtol=1e-15)
    # a 0-d array margin, as a number
    np.testing.assert_allclose(
        F.contrastive_loss(d, y, margin=np.array(0.7)), F.contrastive_loss(d, y, margin=0.7), rtol=1e-15
    )


@pytest.mark.parametrize("cls", [losskit.TripletHardLoss, losskit.TripletSemiHardLoss])
@pytest.mark.parametrize("metric", METRICS)
def test_invariances(cls, metric) -> None:
    labels = np.array([0, 1, 2, 0, 1, 0, 2, 1])
    x = clusters(labels)
    loss = cls(distance_metric=metric)
    base = loss(x, labels)
    perm = rng.permutation(len(labels))
    np.testing.assert_allclose(loss(x[perm], labels[perm]), base[perm], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss(x, labels + 10), base, rtol=1e-12, atol=1e-14)  # labels are names only
    np.testing.assert_array_equal(loss(x, labels[:, None]), base)  # tfa's (N, 1) labels
    np.testing.assert_array_equal(loss(x, labels.astype(np.float32)), base)
    if metric == "angular":
        np.testing.assert_allclose(loss(3.0 * x, labels), base, rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_allclose(loss(x + rng.normal(size=x.shape[1]), labels), base, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", METRICS)
def test_a_nan_embedding_makes_its_neighbours_losses_nan(backend, metric) -> None:
    """A NaN embedding is a NaN distance to every other row: the anchors that have it as a negative
    (or a positive) get NaN, as with the hard loss and tfa, and so does the mean; without it the
    same anchors' losses are finite. It sorted after the +inf stand-ins, one of which was taken as
    the semi-hard negative: a loss of exactly 0 hid the NaN."""
    x = np.array([[0.0, 0.0], [2.0, 0.5], [1.0, -1.0], [np.nan, 1.0], [1.5, 1.5]])
    label = np.array([0, 0, 1, 2, 1])
    loss = losskit.TripletSemiHardLoss(distance_metric=metric)
    x_b, label_b = to_backend(x, backend), to_backend(label, backend)
    got = to_numpy(loss(x_b, label_b))
    assert np.isnan(got[[0, 1, 2, 4]]).all()  # every anchor with a positive has the NaN row as a negative
    assert np.isnan(to_numpy(F.triplet_semihard_loss(x_b, label_b, reduction="mean")))
    keep = [0, 1, 2, 4]
    assert np.isfinite(to_numpy(loss(to_backend(x[keep], backend), to_backend(label[keep], backend)))).all()


def test_semihard_equals_hard_with_one_positive_and_one_negative() -> None:
    """With one positive and one negative per anchor there is nothing to mine: both losses agree."""
    x, y = clusters([0, 0, 1]), np.array([0, 0, 1])  # rows 0 and 1: one positive, one negative
    hard = losskit.TripletHardLoss(margin=0.8)(x, y)
    semi = losskit.TripletSemiHardLoss(margin=0.8)(x, y)
    np.testing.assert_allclose(semi[:2], hard[:2], rtol=1e-14)
    assert semi[2] == 0  # row 2 has no positive: no pair (hard gives it d_ap = 0 instead)
    np.testing.assert_allclose(hard[2], max(0.8 - min(np.linalg.norm(x[2] - x[:2], axis=1)), 0.0), rtol=1e-14)


def test_semihard_mean_is_over_pairs_and_matches_none_for_equal_counts() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])  # one positive each
    x = clusters(labels)
    per_anchor = losskit.TripletSemiHardLoss()(x, labels)
    np.testing.assert_allclose(losskit.TripletSemiHardLoss(reduction="mean")(x, labels), per_anchor.mean())
    np.testing.assert_allclose(losskit.TripletSemiHardLoss(reduction="sum")(x, labels), per_anchor.sum())
    # unequal counts: 'mean' is over the pairs (tfa's), not over the anchors
    labels = np.array([0, 0, 0, 1, 1, 2])
    x = clusters(labels)
    pairs = semihard_pairs(x, labels)
    flat = [v for p in pairs for v in p]
    np.testing.assert_allclose(losskit.TripletSemiHardLoss(reduction="mean")(x, labels), np.mean(flat), rtol=1e-12)


def test_one_class_and_no_negatives_follow_tfa() -> None:
    x, y = clusters([0, 0, 0, 0]), np.zeros(4, dtype=int)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    # batch hard: d_an is the row's largest distance, the hardest positive's: the margin
    np.testing.assert_allclose(losskit.TripletHardLoss(margin=0.7)(x, y), np.full(4, 0.7), rtol=1e-14)
    np.testing.assert_allclose(losskit.TripletHardLoss(soft=True)(x, y), np.full(4, np.log(2)), rtol=1e-14)
    # semi-hard: d_an = 0, each pair costs d_ap + margin
    want = (d.sum(axis=1) / 3) + 0.7
    np.testing.assert_allclose(losskit.TripletSemiHardLoss(margin=0.7)(x, y), want, rtol=1e-14)
    # one row: no pair at all
    one = x[:1]
    np.testing.assert_array_equal(losskit.TripletHardLoss(margin=0.7)(one, y[:1]), [0.7])
    np.testing.assert_array_equal(losskit.TripletHardLoss(margin=-0.7)(one, y[:1]), [0.0])
    np.testing.assert_array_equal(losskit.TripletSemiHardLoss(margin=0.7)(one, y[:1]), [0.0])


def test_every_class_a_singleton() -> None:
    """No positive pair: semi-hard costs 0 (tfa's 0/0 is NaN), with a zero gradient; batch hard
    takes d_ap = 0: max(0, margin - nearest negative)."""
    torch = pytest.importorskip("torch")
    x, y = clusters([0, 1, 2, 3]), np.arange(4)
    t = torch.tensor(x, requires_grad=True)
    out = losskit.TripletSemiHardLoss(reduction="mean")(t, torch.tensor(y))
    assert out.item() == 0.0
    (g,) = torch.autograd.grad(out, t)
    assert (g == 0).all()
    d = np.linalg.norm(x[:, None] - x[None], axis=-1) + np.diag(np.full(4, np.inf))
    np.testing.assert_allclose(
        losskit.TripletHardLoss(margin=5.0)(x, y), np.maximum(5.0 - d.min(axis=1), 0), rtol=1e-14
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls", [losskit.TripletHardLoss, losskit.TripletSemiHardLoss])
def test_empty_batch(backend, cls) -> None:
    x, y = to_backend(np.zeros((0, 3)), backend, "float32"), to_backend(np.zeros(0, dtype=np.int64), backend)
    assert tuple(cls()(x, y).shape) == (0,)
    for reduction in ("mean", "sum"):
        out = cls(reduction=reduction)(x, y)
        assert tuple(out.shape) == () and float(to_numpy(out)) == 0.0


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("cls", [losskit.TripletHardLoss, losskit.TripletSemiHardLoss])
def test_duplicate_embeddings_give_finite_gradients(backend, metric, cls) -> None:
    """Equal rows (d = 0: the L2 distance's square root, angular's 1 - cos at its floor): values as
    the loop's, gradients finite everywhere, no NaN."""
    labels = np.array([0, 0, 1, 1, 2, 0])
    x = clusters(labels)
    x[1] = x[0]  # a positive pair at d = 0
    x[3] = x[0]  # a negative at d = 0
    x[4] = 2.0 * x[2] if metric == "angular" else x[2]  # parallel rows: d = 0 for angular only
    loss = cls(distance_metric=metric, margin=0.5, reduction="sum")
    if cls is losskit.TripletHardLoss:
        want = hard_reference(x, labels, 0.5, False, metric).sum()
    else:
        want = semihard_reference(x, labels, 0.5, metric, "sum")
    xb, yb = to_backend(x, backend, "float64"), to_backend(labels, backend)
    np.testing.assert_allclose(to_numpy(loss(xb, yb)), want, rtol=1e-12, atol=1e-12)
    (g,) = autograd_grads(lambda a, b: loss(a, b), [xb, yb], (0,), backend)
    assert np.isfinite(g).all()


def test_l2_gradient_at_zero_distance_is_zero_and_elsewhere_the_unit_vector() -> None:
    """Two points of one class, one negative: d/dx of d(x0, x1) is (x0 - x1) / d, and 0 at x0 = x1 (tfa's)."""
    torch = pytest.importorskip("torch")
    neg = [3.0, 4.0]
    # (x0, x1, d d_01 / d x0): (x0 - x1) / |x0 - x1| at distance 1; 0 for equal rows
    for x0, x1, g0 in (([0.0, 0.0], [0.6, 0.8], [-0.6, -0.8]), ([1.0, 1.0], [1.0, 1.0], [0.0, 0.0])):
        x = torch.tensor([x0, x1, neg], dtype=torch.float64, requires_grad=True)
        # a margin large enough that the hinge is active; row 2 (the negative) has no positive
        out = losskit.TripletHardLoss(margin=10.0)(x, torch.tensor([0, 0, 1]))
        (g,) = torch.autograd.grad(out[0], x)
        # d(out_0)/dx0 = d d_01/dx0 - d d_02/dx0, the second (x0 - neg) / |x0 - neg|
        v = np.array(x0) - np.array(neg)
        np.testing.assert_allclose(g[0].numpy(), np.array(g0) - v / np.linalg.norm(v), rtol=1e-14, atol=1e-15)


def test_half_precision_computes_in_float32() -> None:
    torch = pytest.importorskip("torch")
    labels = np.array([0, 1, 0, 1, 2, 2])
    x = clusters(labels, unit=True)
    for cls in (losskit.TripletHardLoss, losskit.TripletSemiHardLoss):
        half = torch.tensor(x, dtype=torch.float16)
        out = cls()(half, torch.tensor(labels))
        assert out.dtype == torch.float16
        want = cls()(half.double(), torch.tensor(labels)).to(torch.float16)
        np.testing.assert_allclose(out.float().numpy(), want.float().numpy(), rtol=1e-3, atol=1e-3)


def test_large_soft_gap_does_not_overflow() -> None:
    x = np.array([[0.0], [100.0], [1.0]], dtype=np.float32)  # anchor 0: d_ap = 100, d_an = 1
    out = losskit.TripletHardLoss(soft=True)(x, np.array([0, 0, 1]))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert out[0] == pytest.approx(99.0, rel=1e-6)  # softplus(99) = 99 + log1p(e^-99)


# =============================================================================================
# Errors and inputs
# =============================================================================================


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: losskit.TripletHardLoss(distance_metric="L1"), ValueError, r"one of \('L2', 'squared-L2'"),
        (lambda: losskit.TripletHardLoss(distance_metric="L_2"), ValueError, "squared-L2"),
        (lambda: losskit.TripletSemiHardLoss(distance_metric="L_1"), ValueError, "use distance_metric='L2'"),
        (lambda: losskit.TripletSemiHardLoss(distance_metric=lambda e: e), TypeError, "callable"),
        (lambda: losskit.TripletHardLoss(soft="yes"), TypeError, "soft must be True or False"),
        (lambda: losskit.TripletHardLoss(margin="1"), TypeError, "margin must be a real number"),
        (lambda: losskit.TripletSemiHardLoss(margin=float("nan")), ValueError, "margin"),
        (lambda: losskit.TripletSemiHardLoss(reduction="batchmean"), ValueError, "reduction must be one of"),
        (lambda: losskit.TripletHardLoss(weight=float("inf")), ValueError, "weight must be finite"),
        (lambda: losskit.ContrastiveLoss(margin=None), TypeError, "margin"),
        (lambda: losskit.ContrastiveLoss(margin=np.ones(2)), ValueError, "0-d array"),
    ],
)
def test_invalid_options_raise(make, error, match) -> None:
    with pytest.raises(error, match=match):
        make()


X6, Y6 = np.ones((6, 3)), np.array([0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize("function", [F.triplet_hard_loss, F.triplet_semihard_loss])
@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((np.ones(6), Y6), {}, ValueError, r"embeddings must have shape \(batch_size, dim\); got \(6,\)"),
        ((np.ones((6, 3, 1)), Y6), {}, ValueError, r"got \(6, 3, 1\)"),
        ((np.ones((6, 0)), Y6), {}, ValueError, "at least one feature"),
        ((np.ones((6, 3), dtype=int), Y6), {}, TypeError, "embeddings must be a real floating-point array"),
        ((X6, Y6[:5]), {}, ValueError, r"label shape \(5,\) does not match embeddings' 6 rows"),
        ((X6, np.ones((6, 2), dtype=int)), {}, ValueError, r"label shape \(6, 2\)"),
        ((X6, Y6.astype(complex)), {}, TypeError, "class labels"),
        ((X6, Y6, np.ones(5)), {}, ValueError, r"sample_weight shape \(5,\)"),
        ((X6, Y6), {"batch_axis": 1}, ValueError, "batch_axis=0 only"),
        ((X6, Y6), {"distance_metric": "cosine"}, ValueError, "distance_metric"),
        ((X6, Y6), {"reduction": "avg"}, ValueError, "reduction"),
    ],
)
def test_bad_inputs_raise_naming_what_is_wrong(function, args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        function(*args, **kwargs)


def test_contrastive_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match=r"label shape \(3,\) does not match pred shape \(4,\)"):
        losskit.ContrastiveLoss()(np.ones(4), np.ones(3))
    with pytest.raises(TypeError, match="pred must be a real floating-point array"):
        losskit.ContrastiveLoss()(np.ones(4, dtype=int), np.ones(4))
    with pytest.raises(ValueError, match="sample_weight"):
        losskit.ContrastiveLoss()(np.ones((4, 2)), np.ones((4, 2)), np.ones(4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_are_left_unchanged(backend) -> None:
    labels = np.array([0, 1, 0, 1, 2, 2])
    x, w = clusters(labels), rng.uniform(0.5, 2, size=6)
    arrays = [
        to_backend(x, backend, "float64"),
        to_backend(labels[:, None], backend),
        to_backend(w, backend, "float64"),
    ]
    before = [to_numpy(a).copy() for a in arrays]
    for cls in (losskit.TripletHardLoss, losskit.TripletSemiHardLoss):
        for metric in METRICS:
            cls(distance_metric=metric)(*arrays)
    losskit.ContrastiveLoss()(arrays[0], to_backend((x > 0).astype(float), backend, "float64"))
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(to_numpy(a), b)


def test_registry_and_repr() -> None:
    for name in ("ContrastiveLoss", "TripletHardLoss", "TripletSemiHardLoss"):
        info = losskit.loss_info(name)
        assert info.family == "metric"
        assert name in losskit.losses.__all__ and name in dir(losskit)
    assert losskit.loss_info("ContrastiveLoss").curve is None  # plot._contrastive_slice draws it against d >= 0
    for fn in ("contrastive_loss", "triplet_hard_loss", "triplet_semihard_loss"):
        assert fn in F.__all__
    r = repr(losskit.TripletHardLoss(margin=0.5, soft=True, distance_metric="angular", reduction="mean"))
    assert r == (
        "TripletHardLoss(batch_axis=0, w=None, margin=0.5, soft=True, distance_metric='angular', reduction='mean')"
    )
    loss = losskit.get_loss("TripletSemiHardLoss", margin=0.2)
    assert loss._margin == 0.2 and loss._distance_metric == "L2" and loss._reduction == "none"


@pytest.mark.parametrize("seed", range(4))
def test_the_semihard_search_equals_the_cubic_comparison_ties_included(seed: int) -> None:
    """The sorted search of the semi-hard negatives (O(N^2 log N)) against tfa's way, every pair with
    every negative (N^3), on distances of few distinct values (ties everywhere): the same values,
    and on torch the same gradient, shared evenly by tied negatives as min's."""
    torch = pytest.importorskip("torch")
    from losskit._array import namespace
    from losskit.functional.metric import _nearest_farther_negative

    rng = np.random.default_rng(seed)
    n = 9
    d = rng.integers(0, 4, size=(n, n)).astype(np.float64)
    y = rng.integers(0, 3, size=n)
    negative = (y[:, None] != y[None, :]) & ~np.eye(n, dtype=bool)
    outside = negative[:, None, :] & (d[:, None, :] > d[:, :, None])
    want_found = outside.any(axis=2)
    big = d.max() + 1
    want = np.where(outside, d[:, None, :], big).min(axis=2)
    got, found = _nearest_farther_negative(namespace(d, names=("d",)), d, negative)
    np.testing.assert_array_equal(found, want_found)
    np.testing.assert_array_equal(np.where(found, got, 0), np.where(want_found, want, 0))
    weights = torch.tensor(rng.normal(size=(n, n)))
    dt = torch.tensor(d, requires_grad=True)
    got_t, found_t = _nearest_farther_negative(namespace(dt, names=("d",)), dt, torch.tensor(negative))
    (g_got,) = torch.autograd.grad(torch.where(found_t, got_t * weights, 0).sum(), dt)
    cubic = torch.where(torch.tensor(outside), dt[:, None, :], big).amin(dim=2)  # amin: ties share evenly
    (g_want,) = torch.autograd.grad(torch.where(torch.tensor(want_found), cubic * weights, 0).sum(), dt)
    torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-12)


def test_the_semihard_search_past_float32_integers() -> None:
    """Distances past 2^24 in float32 (where max(d) + 1 is max(d)): the others never tie with the
    farthest negatives, which share the gradient evenly (anchor 0's two negatives at 5e7)."""
    torch = pytest.importorskip("torch")
    from losskit._array import namespace
    from losskit.functional.metric import _nearest_farther_negative

    d = torch.tensor(
        [[0.0, 3e7, 5e7, 5e7], [3e7, 0.0, 1e7, 5e7], [5e7, 1e7, 0.0, 2e7], [5e7, 5e7, 2e7, 0.0]], requires_grad=True
    )
    y = torch.tensor([0, 0, 1, 1])
    value, found = _nearest_farther_negative(namespace(d, names=("d",)), d, y[:, None] != y[None, :])
    assert found[0].tolist() == [True, True, False, False] and value[0, :2].tolist() == [5e7, 5e7]
    (g,) = torch.autograd.grad(torch.where(found, value, 0).sum(), d)
    assert g.tolist() == [[0, 0, 1, 1], [0, 0, 1, 2], [2, 1, 0, 0], [1, 1, 0, 0]]
