"""What porting optax added to losskit, against references of its own (tests/test_optax_losses.py
compares each with optax): closed forms in NumPy with hand-derived gradients, or the formula
written out with torch ops and differentiated by torch; identities; errors; dtypes; gradcheck.

- :class:`losskit.MulticlassHingeLoss` (Crammer-Singer; ``margin=0``: the multiclass perceptron);
- :class:`losskit.NTXentLoss` (SimCLR's NT-Xent over groups of positives, ``reduction``);
- ``KLDivLoss(generalized=True)`` (the generalized KL divergence of unnormalised measures);
- ``TverskyLoss``/``DiceLoss(class_weight=...)`` (optax's ``class_weights``);
- ``SoftmaxCELoss(sparse_label=False)`` and ``PolyLoss(sparse_label=False)`` at logits of ``-inf``
  with label 0 (``0 log 0 = 0``, optax's ``safe_softmax_cross_entropy``).

Values are compared on every backend in float64, gradients on PyTorch and JAX; losskit's output
is never the expected value.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import losskit
import losskit.functional as LF
from backends import (
    AUTOGRAD_BACKENDS,
    BACKENDS,
    autograd_grads,
    check_values_and_gradients,
    to_backend,
    to_numpy,
    torch_reference,
)

torch = pytest.importorskip("torch")
rng = np.random.default_rng(77)
N, C = 6, 5


check = check_values_and_gradients


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _away_from_kinks(x, y, margin=1.0, gap=0.05):
    """Scores whose hinge argument ``margin + best rival - x_y`` is at least ``gap`` from 0 and
    whose two best rivals are ``gap`` apart: no kink within a finite-difference step."""
    x = x.copy()
    for i in range(x.shape[0]):
        for _ in range(100):
            rivals = np.delete(x[i], y[i])
            top = np.sort(rivals)[-2:]
            if abs(margin + top[-1] - x[i, y[i]]) > gap and (len(top) < 2 or top[1] - top[0] > gap):
                break
            x[i] = rng.normal(size=x.shape[1]) * 2
        else:
            raise AssertionError("no scores away from the kinks")
    return x


# ---- MulticlassHingeLoss --------------------------------------------------------------------------


def crammer_singer(x, y, margin=1.0):
    """Value and gradient in NumPy: ``max(0, m + max_{c != y} x_c - x_y)``; its gradient is
    ``e_best - e_y`` where the hinge is active, 0 elsewhere."""
    rows = np.arange(len(y))
    rivals = x.copy()
    rivals[rows, y] = -np.inf
    best = rivals.argmax(1)
    arg = margin + rivals[rows, best] - x[rows, y]
    grad = np.zeros_like(x)
    active = arg > 0
    grad[rows[active], best[active]] += 1.0
    grad[rows[active], y[active]] -= 1.0
    return np.maximum(arg, 0.0), grad


@pytest.mark.parametrize("margin", [1.0, 0.0, 0.4, -0.3])
def test_multiclass_hinge_closed_form(margin):
    y = rng.integers(0, C, size=N)
    x = _away_from_kinks(rng.normal(size=(N, C)) * 4, y, margin)
    x[0, y[0]] = x[0].max() + margin + 1.0  # the true class well ahead: an inactive hinge
    x[1, y[1]] = x[1].min() - 1.0  # behind: an active one
    want, grad = crammer_singer(x, y, margin)
    assert want[0] == 0 and want[1] > 0
    check(losskit.MulticlassHingeLoss(margin=margin), [x, y], want, [grad])


def test_multiclass_hinge_axis_positions_weights():
    """Classes along axis 1 of (N, C, T): the mean over T per example, weighted."""
    y = rng.integers(0, C, size=(N, 3))
    x = rng.normal(size=(N, C, 3)) * 2
    flat_x, flat_y = np.moveaxis(x, 1, -1).reshape(-1, C), y.reshape(-1)
    flat_x = _away_from_kinks(flat_x, flat_y)
    x = np.moveaxis(flat_x.reshape(N, 3, C), -1, 1)
    value, grad = crammer_singer(flat_x, flat_y)
    sw = rng.uniform(0.5, 2, size=(N, 1, 1))
    want = 0.5 * (value.reshape(N, 3) * sw[:, 0]).mean(1)
    want_grad = 0.5 * np.moveaxis(grad.reshape(N, 3, C), -1, 1) * sw / 3
    check(losskit.MulticlassHingeLoss(axis=1, weight=0.5), [x, y, sw], want, [want_grad])


@pytest.mark.parametrize("backend", BACKENDS)
def test_multiclass_hinge_identities(backend):
    def b(a):
        return to_backend(a, backend, "float64")

    def close(a, c):
        np.testing.assert_allclose(to_numpy(a), to_numpy(c), rtol=1e-12, atol=1e-12)

    x, y = rng.normal(size=(N, C)) * 2, rng.integers(0, C, size=N)
    cs = losskit.MulticlassHingeLoss()
    # margin 0 is the multiclass perceptron: max_c x_c - x_y
    close(losskit.MulticlassHingeLoss(margin=0.0)(b(x), b(y)), x.max(1) - x[np.arange(N), y])
    # two classes scoring (s/2, -s/2), the first true: the binary hinge max(0, m - s)
    s = rng.normal(size=(N, 1)) * 2
    close(
        losskit.MulticlassHingeLoss(margin=0.7)(b(np.concatenate([s / 2, -s / 2], 1)), b(np.zeros(N, dtype=int))),
        losskit.HingeLoss(margin=0.7)(b(s), b(np.ones((N, 1)))),
    )
    # a shift of every score changes nothing; a scale k > 0 of the scores and margin scales it by k
    close(cs(b(x + 3.5), b(y)), cs(b(x), b(y)))
    close(losskit.MulticlassHingeLoss(margin=2.5)(b(2.5 * x), b(y)), 2.5 * to_numpy(cs(b(x), b(y))))
    # Keras's categorical hinge is the same where the best rival scores at least 0 (its max over
    # (1 - z) x counts the true class as 0): scores shifted above 0
    close(cs(b(x + 10), b(y)), losskit.CategoricalHingeLoss()(b(x + 10), b(np.eye(C)[y])))
    # the largest rival hinge bounds torch's Weston-Watkins mean over rivals: CS >= C/(C-1) WW
    ww = to_numpy(losskit.MultiMarginLoss()(b(x), b(y)))
    assert (to_numpy(cs(b(x), b(y))) >= C / (C - 1) * ww - 1e-12).all()
    # the functional form is the class
    close(
        LF.multiclass_hinge_loss(b(x), b(y), margin=0.3, weight=2.0), losskit.MulticlassHingeLoss(0.3, 2.0)(b(x), b(y))
    )


def test_multiclass_hinge_no_rival_and_masked_rivals():
    """One class: no rival, the loss 0 with a zero gradient; a rival of -inf (a masked class)
    takes no part, its gradient 0."""
    for backend in AUTOGRAD_BACKENDS:
        x = to_backend(np.array([[1.5], [-2.0]]), backend, "float64")
        y = to_backend(np.zeros(2, dtype=int), backend)
        np.testing.assert_array_equal(to_numpy(losskit.MulticlassHingeLoss()(x, y)), 0.0)
        (g,) = autograd_grads(losskit.MulticlassHingeLoss(), [x, y], (0,), backend)
        np.testing.assert_array_equal(g, 0.0)
        xm = np.array([[0.5, -np.inf, 0.2], [-np.inf, 1.0, 0.9]])
        ym = np.array([0, 1])
        want = np.array([1 + 0.2 - 0.5, 1 + 0.9 - 1.0])
        args = [to_backend(xm, backend, "float64"), to_backend(ym, backend)]
        np.testing.assert_allclose(to_numpy(losskit.MulticlassHingeLoss()(*args)), want, rtol=1e-12)
        (g,) = autograd_grads(losskit.MulticlassHingeLoss(), args, (0,), backend)
        np.testing.assert_array_equal(g, [[-1.0, 0.0, 1.0], [0.0, -1.0, 1.0]])


def test_multiclass_hinge_tied_best_rivals_share_the_gradient():
    x, y = np.array([[0.3, 0.5, 0.5, -1.0]]), np.array([0])
    for backend in AUTOGRAD_BACKENDS:
        args = [to_backend(x, backend, "float64"), to_backend(y, backend)]
        (g,) = autograd_grads(losskit.MulticlassHingeLoss(), args, (0,), backend)
        np.testing.assert_allclose(g, [[-1.0, 0.5, 0.5, 0.0]], rtol=1e-12)


def test_multiclass_hinge_margin_array_is_differentiable():
    """A 0-d tensor margin (learnt, or swept by vmap): d loss / d margin is 1 where active."""
    y = rng.integers(0, C, size=N)
    x = _away_from_kinks(rng.normal(size=(N, C)) * 2, y)
    m = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    out = losskit.MulticlassHingeLoss(margin=m)(torch.tensor(x), torch.tensor(y))
    (g,) = torch.autograd.grad(out.sum(), m)
    assert g.item() == (crammer_singer(x, y)[0] > 0).sum()


# ---- NTXentLoss -----------------------------------------------------------------------------------


def ntxent_torch(x, y, temperature):
    """NT-Xent written out pair by pair (torch ops, for autograd): the per-anchor means and the
    list of every pair's loss."""
    u = x / x.norm(dim=1, keepdim=True)
    s = u @ u.T / temperature
    n = len(y)
    anchors, pairs = [], []
    for i in range(n):
        pos = [j for j in range(n) if j != i and y[j] == y[i]]
        neg = [k for k in range(n) if y[k] != y[i]]
        losses = [torch.logsumexp(s[i, [j, *neg]], 0) - s[i, j] for j in pos]
        pairs += losses
        anchors.append(torch.stack(losses).mean() if losses else 0 * s[i, i])
    return torch.stack(anchors), torch.stack(pairs) if pairs else torch.zeros(0, dtype=x.dtype)


LABELS = {
    "simclr": np.array([0, 1, 2, 0, 1, 2]),
    "groups": np.array([0, 1, 0, 2, 1, 0, 2, 3]),  # sizes 3, 2, 2, 1
    "one_negative_group": np.array([0, 0, 0, 1]),
}


@pytest.mark.parametrize("labels", LABELS, ids=list(LABELS))
@pytest.mark.parametrize("temperature", [0.07, 0.5, 2.0])
def test_ntxent_closed_form_every_reduction(labels, temperature):
    y = LABELS[labels]
    x = rng.normal(size=(len(y), 4))
    sw = rng.uniform(0.5, 2, size=len(y))
    want, (grad,) = torch_reference(lambda v: ntxent_torch(v, y, temperature)[0] * torch.tensor(sw), [x])
    check(losskit.NTXentLoss(temperature=temperature), [x, y, sw], want, [grad])
    _, pairs = ntxent_torch(torch.tensor(x), y, temperature)
    p = len(pairs)
    for reduction, scale in (("mean", 1 / p), ("sum", 1.0)):
        # the pairs' sum, each anchor's pairs weighted by its sample weight, over the pair count ('mean')
        def ref(v, reduction=reduction, scale=scale):
            _, pairs_v = ntxent_torch(v, y, temperature)
            owner = [i for i in range(len(y)) for j in range(len(y)) if j != i and y[j] == y[i]]
            return (pairs_v * torch.tensor(sw[owner])).sum() * scale * 0.5

        want, (grad,) = torch_reference(ref, [x])
        check(losskit.NTXentLoss(temperature=temperature, reduction=reduction, weight=0.5), [x, y, sw], want, [grad])


def test_ntxent_identities():
    x, y = rng.normal(size=(8, 4)), LABELS["groups"]
    loss = losskit.NTXentLoss(temperature=0.3)
    base = loss(x, y)
    # each row's scale does not matter (cosines); a permutation of the batch permutes the result
    np.testing.assert_allclose(loss(x * rng.uniform(0.1, 10, size=(8, 1)), y), base, rtol=1e-12)
    perm = rng.permutation(8)
    np.testing.assert_allclose(loss(x[perm], y[perm]), base[perm], rtol=1e-12)
    # the group ids' values do not matter, only their equality
    np.testing.assert_allclose(loss(x, 10 * y - 3), base, rtol=1e-12)
    np.testing.assert_allclose(loss(x, y.astype(float) + 0.5), base, rtol=1e-12)
    # the singleton (id 3) has no positive: 0; it is a negative of every other anchor
    assert base[7] == 0 and (base[:7] > 0).all()
    # every anchor has one positive (SimCLR): 'mean' is the mean of 'none'
    xs, ys = rng.normal(size=(6, 4)), LABELS["simclr"]
    mean = losskit.NTXentLoss(temperature=0.3, reduction="mean")(xs, ys)
    np.testing.assert_allclose(mean, losskit.NTXentLoss(temperature=0.3)(xs, ys).mean(), rtol=1e-12)
    np.testing.assert_allclose(losskit.NTXentLoss(0.3, reduction="sum")(xs, ys), 6 * mean, rtol=1e-12)
    # two groups of two, orthogonal: every pair's loss is log(1 + 2 e^{-1/T}) (cos 1 with the
    # positive, 0 with the two negatives)
    xo = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 0.5]])
    for t in (0.1, 1.0):
        np.testing.assert_allclose(
            losskit.NTXentLoss(temperature=t)(xo, np.array([0, 0, 1, 1])), np.log1p(2 * np.exp(-1 / t)), rtol=1e-12
        )
    # the functional form is the class
    np.testing.assert_allclose(LF.nt_xent_loss(x, y, temperature=0.3), base, rtol=0)


def test_ntxent_no_pairs_give_zero_with_zero_gradient():
    """All ids distinct: no positive; one id: no negative. The loss is 0, its gradient 0, not NaN."""
    for backend in AUTOGRAD_BACKENDS:
        x = to_backend(rng.normal(size=(4, 3)), backend, "float64")
        for y, reduction in ((np.arange(4), "none"), (np.arange(4), "mean"), (np.zeros(4, dtype=int), "mean")):
            loss = losskit.NTXentLoss(reduction=reduction)
            args = [x, to_backend(y, backend)]
            np.testing.assert_array_equal(to_numpy(loss(*args)), 0.0)
            (g,) = autograd_grads(loss, args, (0,), backend)
            np.testing.assert_array_equal(g, 0.0)
    # an empty batch: (0,) per anchor, 0 for the reductions
    assert losskit.NTXentLoss()(np.zeros((0, 3)), np.zeros(0, dtype=int)).shape == (0,)
    assert float(losskit.NTXentLoss(reduction="mean")(np.zeros((0, 3)), np.zeros(0, dtype=int))) == 0.0


def test_ntxent_tiny_temperature_stays_exact():
    """T = 1e-4: similarities up to 1e4, exp would overflow float64 unshifted; the loss is
    softplus(lse of the negatives - s_ij), exact: compared with mpmath-free float64 log-sum-exp
    of the shifted terms."""
    x, y = rng.normal(size=(8, 4)), LABELS["groups"]
    t = 1e-4
    got = losskit.NTXentLoss(temperature=t)(x, y)
    want, _ = torch_reference(lambda v: ntxent_torch(v, y, t)[0], [x])
    assert np.isfinite(got).all() and got.max() > 100
    np.testing.assert_allclose(got, want, rtol=1e-9)
    g = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(losskit.NTXentLoss(temperature=t)(g, torch.tensor(y)).sum(), g)
    assert torch.isfinite(grad).all()


def test_ntxent_learnt_temperature():
    x, y = rng.normal(size=(8, 4)), LABELS["groups"]
    t = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    out = losskit.NTXentLoss(temperature=t, reduction="mean")(torch.tensor(x), torch.tensor(y))
    (g,) = torch.autograd.grad(out, t)
    t2 = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    want = ntxent_torch(torch.tensor(x), y, t2)[1].mean()
    (g2,) = torch.autograd.grad(want, t2)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=0)
    torch.testing.assert_close(g, g2, rtol=1e-10, atol=0)


# ---- KLDivLoss(generalized=True) ------------------------------------------------------------------


def test_generalized_kl_closed_form():
    """sum t log(t / p) + p - t; d/d log p = p - t, d/d t = log t - log p (t > 0)."""
    lp, t = rng.normal(size=(N, C)), rng.uniform(0.1, 2, size=(N, C))
    p = np.exp(lp)
    want = (t * (np.log(t) - lp) + p - t).sum(1)
    check(losskit.KLDivLoss(generalized=True), [lp, t], want, [p - t, np.log(t) - lp], (0, 1))
    # log-targets: d/d log t = t (log t - log p)
    lt = np.log(t)
    check(losskit.KLDivLoss(generalized=True, log_target=True), [lp, lt], want, [p - t, t * (lt - lp)], (0, 1))
    # a target of 0 contributes p; its gradient in t is -log p... and -1 +1: log(0) read as 0, so -lp
    t0 = t.copy()
    t0[:, 2] = 0.0
    want0 = (np.where(t0 > 0, t0 * (np.log(np.where(t0 > 0, t0, 1)) - lp), 0) + p - t0).sum(1)
    check(losskit.KLDivLoss(generalized=True), [lp, t0], want0, [p - t0], (0,))


def test_generalized_kl_from_logits_false():
    """log p = log_softmax(x): sum p = 1, so generalized = KL + 1 - sum t; d/dx = p sum(t) - t."""
    x, t = rng.normal(size=(N, C)), rng.uniform(0.1, 2, size=(N, C))
    p = _softmax(x)
    want = (t * (np.log(t) - np.log(p))).sum(1) + 1 - t.sum(1)
    check(losskit.KLDivLoss(from_logits=False, generalized=True), [x, t], want, [p * t.sum(1, keepdims=True) - t])


@pytest.mark.parametrize("backend", BACKENDS)
def test_generalized_kl_identities(backend):
    def b(a):
        return to_backend(a, backend, "float64")

    g = losskit.KLDivLoss(generalized=True)
    q, t = _softmax(rng.normal(size=(N, C))), _softmax(rng.normal(size=(N, C)))
    # normalised measures: the KL divergence itself
    kl = losskit.KLDivLoss()(b(np.log(q)), b(t))
    np.testing.assert_allclose(to_numpy(g(b(np.log(q)), b(t))), to_numpy(kl), 1e-12)
    # homogeneous of degree 1: both measures times k, the divergence times k
    k = 3.7
    np.testing.assert_allclose(to_numpy(g(b(np.log(k * q)), b(k * t))), k * to_numpy(g(b(np.log(q)), b(t))), rtol=1e-12)
    # non-negative, and 0 at p = t for unnormalised measures too
    m = rng.uniform(0.1, 3, size=(N, C))
    assert (to_numpy(g(b(np.log(q)), b(m))) > 0).all()
    np.testing.assert_allclose(to_numpy(g(b(np.log(m)), b(m))), 0.0, atol=1e-13)


# ---- TverskyLoss / DiceLoss class_weight ----------------------------------------------------------


def tversky_torch(x, t, w, alpha, beta, smooth):
    """optax's dice_loss formula (channels first here), torch ops: mean_c w_c (1 - TI_c)."""
    p = torch.softmax(x, dim=1)
    dims = tuple(range(2, x.ndim))
    inter = (p * t).sum(dims)
    fp, fn = p.sum(dims) - inter, t.sum(dims) - inter
    index = (inter + smooth) / (inter + alpha * fp + beta * fn + smooth)
    return (torch.tensor(w) * (1 - index)).mean(1)


@pytest.mark.parametrize("alpha, beta, smooth", [(0.5, 0.5, 1.0), (0.3, 0.7, 0.0)])
def test_tversky_class_weight_closed_form(alpha, beta, smooth):
    x = rng.normal(size=(N, 3, 4, 2)) * 2
    t = np.moveaxis(np.eye(3)[rng.integers(0, 3, size=(N, 4, 2))], -1, 1)
    w = [0.5, 2.0, 0.0]
    want, (grad,) = torch_reference(lambda v: tversky_torch(v, torch.tensor(t), w, alpha, beta, smooth), [x])
    check(losskit.TverskyLoss(alpha, beta, smooth, class_weight=w), [x, t], want, [grad])
    if alpha == beta:
        check(losskit.DiceLoss(smooth, class_weight=w), [x, t], want, [grad])


@pytest.mark.parametrize("backend", BACKENDS)
def test_class_weight_identities(backend):
    def b(a):
        return to_backend(a, backend, "float64")

    x = rng.normal(size=(N, 3, 5)) * 2
    t = np.moveaxis(np.eye(3)[rng.integers(0, 3, size=(N, 5))], -1, 1)
    plain = to_numpy(losskit.DiceLoss()(b(x), b(t)))
    # all ones: the unweighted loss; a 1-D array of the backend: as the sequence
    np.testing.assert_allclose(to_numpy(losskit.DiceLoss(class_weight=[1.0, 1.0, 1.0])(b(x), b(t))), plain, rtol=1e-12)
    arr = b(np.array([0.2, 1.0, 3.0]))
    np.testing.assert_allclose(
        to_numpy(losskit.DiceLoss(class_weight=arr)(b(x), b(t))),
        to_numpy(losskit.DiceLoss(class_weight=[0.2, 1.0, 3.0])(b(x), b(t))),
        rtol=1e-12,
    )
    # C e_c: class c alone; the classes' losses average to the unweighted one; linear in w
    per_class = [
        to_numpy(losskit.DiceLoss(class_weight=[3.0 * (j == c) for j in range(3)])(b(x), b(t))) for c in range(3)
    ]
    np.testing.assert_allclose(np.mean(per_class, axis=0), plain, rtol=1e-12)
    w1, w2 = [0.3, 1.2, 0.0], [1.0, 0.5, 2.0]
    np.testing.assert_allclose(
        to_numpy(losskit.TverskyLoss(0.2, 0.8, class_weight=[a + c for a, c in zip(w1, w2)])(b(x), b(t))),
        to_numpy(losskit.TverskyLoss(0.2, 0.8, class_weight=w1)(b(x), b(t)))
        + to_numpy(losskit.TverskyLoss(0.2, 0.8, class_weight=w2)(b(x), b(t))),
        rtol=1e-12,
    )
    # a single class (sigmoid) weighted: w times the loss
    xb, tb = rng.normal(size=(N, 1, 5)), (rng.uniform(size=(N, 1, 5)) < 0.5).astype(float)
    np.testing.assert_allclose(
        to_numpy(losskit.DiceLoss(class_weight=[2.5])(b(xb), b(tb))),
        2.5 * to_numpy(losskit.DiceLoss()(b(xb), b(tb))),
        1e-12,
    )


# ---- dense cross-entropy at logits of -inf: 0 log 0 = 0 --------------------------------------------


def _masked_inputs():
    x = rng.normal(size=(N, C)) * 2
    mask = rng.uniform(size=(N, C)) > 0.35
    mask[:, 0] = True
    y = np.where(mask, rng.uniform(0.1, 1, size=(N, C)), 0.0)
    return np.where(mask, x, -np.inf), y / y.sum(1, keepdims=True), mask


@pytest.mark.parametrize("loss_name", ["SoftmaxCELoss", "PolyLoss"])
def test_dense_cross_entropy_at_negative_infinity(loss_name):
    """The closed form over the kept classes only: CE = lse(x_kept) - sum y x; Poly adds
    eps sum y (1 - p). Gradients in x: p sum(y) - y (+ Poly's), 0 at the masked classes; in y:
    -log p kept, 0 at the masked ones (not NaN)."""
    x, y, mask = _masked_inputs()
    xs = np.where(mask, x, 0.0)
    lse = np.log(np.where(mask, np.exp(xs), 0).sum(1, keepdims=True))
    logp = np.where(mask, xs - lse, 0.0)
    p = np.where(mask, np.exp(logp), 0.0)
    eps = 2.0 if loss_name == "PolyLoss" else 0.0
    want = -(y * logp).sum(1) + eps * (y * (1 - p)).sum(1)
    # d/dx_j [-(y.logp) + eps y.(1 - p)] = p_j - y_j - eps p_j (y_j - p.y)
    py = (p * y).sum(1, keepdims=True)
    gx = p * y.sum(1, keepdims=True) - y - eps * p * (y - py)
    gy = np.where(mask, -logp + eps * (1 - p), 0.0)
    loss = (
        losskit.SoftmaxCELoss(sparse_label=False)
        if loss_name == "SoftmaxCELoss"
        else losskit.PolyLoss(eps, sparse_label=False)
    )
    check(loss, [x, y], want, [gx, gy], (0, 1))
    # the same as the loss of the kept classes alone, for a row with two of them
    row = np.flatnonzero(mask.sum(1) < C)[0]
    kept = np.flatnonzero(mask[row])
    np.testing.assert_allclose(
        loss(x[row : row + 1], y[row : row + 1]), loss(x[row : row + 1, kept], y[row : row + 1, kept])
    )
    # a label above 0 at a logit of -inf is an impossible target: inf, as it should be
    y_bad = y.copy()
    y_bad[row, np.flatnonzero(~mask[row])[0]] = 0.5
    assert np.isinf(loss(x, y_bad)[row]) and np.isfinite(np.delete(loss(x, y_bad), row)).all()


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_dense_focal_loss_at_negative_infinity(backend):
    """A masked class (logit -inf, label 0) adds 0 to the dense focal loss ((1 - 0)^gamma 0 log 0):
    each row equals the loss of its kept classes alone, and the gradients are finite (NaN before)."""
    x, y, mask = _masked_inputs()
    loss = losskit.SoftmaxFocalLoss(alpha=None, gamma=2.0, sparse_label=False)
    got = to_numpy(loss(to_backend(x, backend), to_backend(y, backend)))
    want = [loss(x[i : i + 1, mask[i]], y[i : i + 1, mask[i]])[0] for i in range(N)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert (mask.sum(1) < C).any()  # some row has a masked class
    gx, gy = autograd_grads(loss, [to_backend(x, backend), to_backend(y, backend)], (0, 1), backend)
    assert np.isfinite(gx).all() and np.isfinite(gy).all()
    assert (gx[~mask] == 0).all() and (gy[~mask] == 0).all()


# ---- dtypes, gradcheck ----------------------------------------------------------------------------


def _new_cases():
    """(loss, args, float_args) for each new loss or option, away from kinks."""
    y = rng.integers(0, C, size=N)
    x = _away_from_kinks(rng.normal(size=(N, C)) * 2, y)
    lp, t = rng.normal(size=(N, C)), rng.uniform(0.1, 2, size=(N, C))
    xd = rng.normal(size=(N, 3, 4)) * 2
    td = np.moveaxis(np.eye(3)[rng.integers(0, 3, size=(N, 4))], -1, 1)
    e, g = rng.normal(size=(8, 4)), LABELS["groups"]
    xm, ym, _ = _masked_inputs()
    return {
        "multiclass_hinge": (losskit.MulticlassHingeLoss(), [x, y], (0,)),
        "multiclass_perceptron": (losskit.MulticlassHingeLoss(margin=0.0), [x, y], (0,)),
        "kl_generalized": (losskit.KLDivLoss(generalized=True), [lp, t], (0, 1)),
        "kl_generalized_log_target": (losskit.KLDivLoss(generalized=True, log_target=True), [lp, np.log(t)], (0, 1)),
        "tversky_class_weight": (losskit.TverskyLoss(0.3, 0.7, class_weight=[0.5, 2.0, 1.0]), [xd, td], (0, 1)),
        "ntxent": (losskit.NTXentLoss(temperature=0.3), [e, g], (0,)),
        "ntxent_mean": (losskit.NTXentLoss(temperature=0.3, reduction="mean"), [e, g], (0,)),
        "ce_dense_neg_inf": (losskit.SoftmaxCELoss(sparse_label=False), [xm, ym], (0, 1)),
    }


@pytest.mark.parametrize("name", list(_new_cases()))
def test_gradcheck_float64(name):
    loss, args, float_args = _new_cases()[name]
    t = [torch.tensor(a, dtype=torch.float64 if i in float_args else None) for i, a in enumerate(args)]
    leaves = [t[i].requires_grad_(True) for i in float_args]

    def fn(*xs):
        call = list(t)
        for i, v in zip(float_args, xs):
            call[i] = v
        return loss(*call)

    if name == "ce_dense_neg_inf":
        # finite differences cannot step a logit of -inf, and a label of 0 there has a one-sided
        # derivative of +inf (losskit's convention: 0): check the other entries
        finite = torch.isfinite(t[0])
        base_x, base_y = t[0].detach().clone(), t[1].detach().clone()  # (gradcheck steps the leaves in place)

        def fn(v, y):  # noqa: F811
            return loss(torch.where(finite, v, base_x), torch.where(finite, y, base_y))

    assert torch.autograd.gradcheck(fn, leaves)


@pytest.mark.parametrize("name", list(_new_cases()))
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_dtype_follows_pred(name, dtype):
    """float16/bfloat16 are computed in float32 and returned in their own dtype: the float64
    result of the same rounded inputs, to the dtype's precision."""
    loss, args, float_args = _new_cases()[name]
    td = getattr(torch, dtype)
    low = [torch.tensor(a).to(td) if i in float_args else torch.tensor(a) for i, a in enumerate(args)]
    out = loss(*low)
    assert out.dtype == td
    want = loss(*[v.double() if i in float_args else v for i, v in enumerate(low)])
    rtol = {"float32": 1e-5, "float16": 4e-3, "bfloat16": 3e-2}[dtype]
    np.testing.assert_allclose(out.double().numpy(), want.numpy(), rtol=rtol, atol=rtol)


# ---- errors ---------------------------------------------------------------------------------------

_X = np.zeros((2, 3))
_E = np.ones((4, 3))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: losskit.MulticlassHingeLoss(margin="1"), TypeError, "margin must be a real number, got '1'"),
        (lambda: losskit.MulticlassHingeLoss(margin=math.nan), ValueError, "margin must be in"),
        (lambda: losskit.MulticlassHingeLoss(axis=1.5), TypeError, "axis must be an int, got 1.5"),
        (lambda: losskit.MulticlassHingeLoss(p=2), TypeError, "unexpected keyword arguments: p"),
        (
            lambda: losskit.MulticlassHingeLoss()(_X, np.zeros((2, 3), dtype=int)),
            ValueError,
            re.escape("sparse label shape (2, 3) does not match pred shape (2, 3)"),
        ),
        (
            lambda: losskit.MulticlassHingeLoss()(_X, np.array([0, 3])),
            ValueError,
            re.escape("label holds class indices in [0, 3], outside the valid range [0, 2]"),
        ),
        (lambda: losskit.MulticlassHingeLoss()(_X, np.array([0.0, 1.5])), ValueError, "non-integer"),
        (
            lambda: losskit.MulticlassHingeLoss()(_X, np.array([0, 1]), np.ones(2)),
            ValueError,
            re.escape("sample_weight shape (2,) does not broadcast to the loss shape (2, 1)"),
        ),
        (lambda: LF.multiclass_hinge_loss(_X.astype(int), np.array([0, 1])), TypeError, "pred must be"),
        (lambda: losskit.KLDivLoss(generalized=1), TypeError, "generalized must be True or False, got 1"),
        (lambda: LF.kl_div(_X, _X, generalized="yes"), TypeError, "generalized must be True or False"),
        (
            lambda: losskit.DiceLoss(class_weight=[1.0, 2.0])(np.zeros((2, 3, 4)), np.zeros((2, 3, 4))),
            ValueError,
            re.escape("class_weight has shape (2,) but pred has 3 classes: expected (3,)"),
        ),
        (
            lambda: losskit.TverskyLoss(class_weight=[[1.0, 2.0]]),
            TypeError,
            "class_weight must be a non-empty sequence",
        ),
        (lambda: losskit.DiceLoss(class_weight="1"), ValueError, "class_weight must be a 1-D array or a sequence"),
        (lambda: losskit.DiceLoss(class_weight=np.ones((1, 3))), ValueError, "class_weight must be a 1-D array"),
        (
            lambda: LF.tversky_loss(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), class_weight=np.ones(3).astype(complex)),
            TypeError,
            "class_weight must hold real numbers",
        ),
        (lambda: losskit.NTXentLoss(temperature=0.0), ValueError, re.escape("temperature must be in (0, inf), got 0")),
        (lambda: losskit.NTXentLoss(temperature=-1), ValueError, "temperature must be in"),
        (lambda: losskit.NTXentLoss(temperature="0.1"), TypeError, "temperature must be a real number"),
        (lambda: losskit.NTXentLoss(reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: losskit.NTXentLoss(symmetric=True), TypeError, "unexpected keyword arguments: symmetric"),
        (
            lambda: losskit.NTXentLoss()(np.ones((4, 3, 1)), np.zeros(4, dtype=int)),
            ValueError,
            re.escape("embeddings must have shape (batch_size, dim); got (4, 3, 1)"),
        ),
        (
            lambda: losskit.NTXentLoss()(_E, np.zeros((4, 2), dtype=int)),
            ValueError,
            re.escape("label shape (4, 2) does not match embeddings' 4 rows: expected (4,), one group id per row"),
        ),
        (lambda: losskit.NTXentLoss()(_E, np.zeros(4, dtype=complex)), TypeError, "label must hold group ids"),
        (lambda: losskit.NTXentLoss()(np.ones((4, 0)), np.zeros(4, dtype=int)), ValueError, "at least one feature"),
        (lambda: losskit.NTXentLoss()(_E.astype(int), np.zeros(4, dtype=int)), TypeError, "embeddings must be"),
        (lambda: losskit.NTXentLoss(batch_axis=1)(_E, np.zeros(4, dtype=int)), ValueError, "batch_axis=0 only"),
        (
            lambda: losskit.NTXentLoss()(_E, np.zeros(4, dtype=int), np.ones((4, 1))),
            ValueError,
            re.escape("sample_weight shape (4, 1) does not broadcast to the loss shape (4,)"),
        ),
        (lambda: LF.nt_xent_loss(_E, [0, 0, 1, 1]), TypeError, "same array library"),
    ],
)
def test_errors_name_the_offending_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_errors_come_before_any_work_and_leave_inputs_unchanged(monkeypatch):
    from losskit.functional import classification, metric, segmentation

    calls = []
    for module, name in ((classification, "relu"), (metric, "unit_rows"), (segmentation, "softmax")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    e, x = torch.randn(4, 3), torch.randn(2, 3)
    bad = [
        (losskit.MulticlassHingeLoss(), x, torch.tensor([0, 5])),
        (losskit.MulticlassHingeLoss(), x, torch.tensor([0, 1]), torch.ones(3)),
        (losskit.NTXentLoss(), e, torch.zeros(3, dtype=torch.int64)),
        (losskit.NTXentLoss(), e, torch.zeros(4, dtype=torch.int64), torch.ones(4, 1)),
        (losskit.DiceLoss(class_weight=[1.0, 2.0]), torch.randn(2, 3, 4), torch.zeros(2, 3, 4)),
    ]
    for loss, *inputs in bad:
        before = [t.clone() for t in inputs]
        with pytest.raises(ValueError):
            loss(*inputs)
        for a, b in zip(inputs, before):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert calls == []


def test_registered_with_their_options():
    assert losskit.loss_info("MulticlassHingeLoss").family == "classification"
    assert losskit.loss_info("MulticlassHingeLoss").params == {"margin": 1.0, "axis": -1}
    assert losskit.loss_info("ntxentloss").family == "metric"
    assert losskit.loss_info("NTXentLoss").params == {"temperature": 0.07, "reduction": "none"}
    assert losskit.loss_info("KLDivLoss").params["generalized"] is False
    assert losskit.loss_info("DiceLoss").params["class_weight"] is None
    assert losskit.loss_info("TverskyLoss").params["class_weight"] is None
    assert "margin=0.5" in repr(losskit.MulticlassHingeLoss(0.5))
    assert "reduction='mean'" in repr(losskit.NTXentLoss(reduction="mean"))
    assert "class_weight=(1.0, 2.0)" in repr(losskit.DiceLoss(class_weight=[1, 2]))
