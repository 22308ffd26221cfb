"""Beyond Gluon (issue 4): identities between the new losses and options and the losses they
generalise, on every backend: focal with gamma 0 is cross-entropy, poly with epsilon 0 is
cross-entropy, no smoothing is plain CE (bit for bit), a one-hot soft label is its sparse label,
every target ignored gives 0 with a zero gradient, Tversky(1/2, 1/2) is Dice, ..."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, autograd_grads, to_backend, to_numpy

rng = np.random.default_rng(5)
N, C = 6, 4
X = rng.normal(size=(N, C)) * 3
Y = rng.integers(0, C, size=N)
ONEHOT = np.eye(C)[Y]
SOFT = np.exp(rng.normal(size=(N, C)))
SOFT /= SOFT.sum(1, keepdims=True)
CW = [0.5, 2.0, 1.0, 3.0]


def on(backend, *arrays, dtype="float64"):
    return [to_backend(a, backend, dtype if isinstance(a, np.ndarray) and a.dtype.kind == "f" else None)
            for a in arrays]  # fmt: skip


def _np(x):
    return np.asarray(x) if isinstance(x, (np.ndarray, np.generic, float)) else to_numpy(x)


def close(a, b, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_focal_with_gamma_0_is_cross_entropy(backend):
    x, y, onehot, soft = on(backend, X, Y, ONEHOT, SOFT)
    p01 = on(backend, (ONEHOT + SOFT) / 2)[0]
    pw = on(backend, rng.uniform(0.5, 2, size=(1, C)))[0]
    close(losskit.SigmoidFocalLoss(alpha=None, gamma=0)(x, p01), losskit.SigmoidBCELoss()(x, p01))
    close(losskit.SigmoidFocalLoss(alpha=None, gamma=0)(x, p01, None, pw), losskit.SigmoidBCELoss()(x, p01, None, pw))
    close(losskit.SoftmaxFocalLoss(gamma=0)(x, y), losskit.SoftmaxCELoss()(x, y))
    close(
        losskit.SoftmaxFocalLoss(gamma=0, sparse_label=False)(x, soft),
        losskit.SoftmaxCELoss(sparse_label=False)(x, soft),
    )
    # per-class alpha with gamma 0 is class-weighted cross-entropy
    close(losskit.SoftmaxFocalLoss(gamma=0, alpha=CW)(x, y), losskit.SoftmaxCELoss(class_weight=CW)(x, y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_poly_with_epsilon_0_is_cross_entropy(backend):
    x, y, soft = on(backend, X, Y, SOFT)
    close(losskit.PolyLoss(epsilon=0)(x, y), losskit.SoftmaxCELoss()(x, y))
    close(losskit.PolyLoss(epsilon=0, sparse_label=False)(x, soft), losskit.SoftmaxCELoss(sparse_label=False)(x, soft))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sparse", [True, False])
def test_options_at_their_defaults_are_gluon_bit_for_bit(backend, sparse):
    """label_smoothing=0, z_loss=0, no class weights, no ignore_index, reduction='none': exactly
    the Gluon formula of before the options, bit for bit (the MXNet fixtures pin its values).
    Bit for bit on the generic path; torch's fused fast path agrees to rounding (test_fast_paths.py)."""
    import array_api_compat

    from losskit import _fast
    from losskit._array import log_softmax, logsumexp_parts

    label = Y if sparse else SOFT
    explicit = losskit.SoftmaxCELoss(
        sparse_label=sparse, ignore_index=None, label_smoothing=0.0, class_weight=None, z_loss=0.0, reduction="none"
    )
    with _fast.disabled():
        for dtype in ("float32", "float64"):
            x, y = on(backend, X, label, dtype=dtype)
            xp = array_api_compat.array_namespace(x)
            if sparse:  # logsumexp(x) - x[y] = (m - x[y]) + log_sum, then the mean over the non-batch axes
                picked = xp.take_along_axis(x, xp.reshape(y, (N, 1)), axis=1)
                m, log_sum = logsumexp_parts(xp, x, axis=1)
                per_position = (m - picked) + log_sum
            else:
                per_position = -xp.sum(log_softmax(xp, x, axis=1) * y, axis=1, keepdims=True)
            want = to_numpy(xp.mean(per_position, axis=(1,)))
            np.testing.assert_array_equal(to_numpy(explicit(x, y)), want)
            np.testing.assert_array_equal(to_numpy(losskit.SoftmaxCELoss(sparse_label=sparse)(x, y)), want)
            if sparse:  # an ignore_index that no label holds changes nothing either
                np.testing.assert_array_equal(to_numpy(losskit.SoftmaxCELoss(ignore_index=-100)(x, y)), want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_one_hot_soft_label_equals_its_sparse_label(backend, reduction):
    x, y, onehot = on(backend, X, Y, ONEHOT)
    # 'mean' divides by sum w[y] (sparse) but by the count (dense), as torch: equal without class weights
    cw = None if reduction == "mean" else CW
    for options in ({}, {"label_smoothing": 0.2}, {"z_loss": 1e-2}, {"class_weight": cw, "label_smoothing": 0.1}):
        sparse = losskit.SoftmaxCELoss(reduction=reduction, **options)(x, y)
        dense = losskit.SoftmaxCELoss(sparse_label=False, reduction=reduction, **options)(x, onehot)
        close(sparse, dense, rtol=1e-10)
    close(losskit.SoftmaxFocalLoss(alpha=CW)(x, y), losskit.SoftmaxFocalLoss(alpha=CW, sparse_label=False)(x, onehot))
    close(losskit.PolyLoss()(x, y), losskit.PolyLoss(sparse_label=False)(x, onehot))


def _ignored_everywhere(backend, reduction, **options):
    (x,) = on(backend, X)
    y = on(backend, np.full(N, -100))[0]
    return losskit.SoftmaxCELoss(ignore_index=-100, reduction=reduction, **options), x, y


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_target_ignored_gives_zero(backend, reduction):
    for options in ({}, {"class_weight": CW, "label_smoothing": 0.3, "z_loss": 1e-2}):
        loss, x, y = _ignored_everywhere(backend, reduction, **options)
        out = to_numpy(loss(x, y))
        assert out.shape == ((N,) if reduction == "none" else ())
        np.testing.assert_array_equal(out, 0.0)  # not NaN (torch's mean is 0/0 here)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_every_target_ignored_has_exactly_zero_gradient(backend, reduction):
    options = {"class_weight": CW, "label_smoothing": 0.3, "z_loss": 1e-2}
    loss, x, y = _ignored_everywhere(backend, reduction, **options)
    if backend == "torch":
        import torch

        x.requires_grad_(True)
        (g,) = torch.autograd.grad(loss(x, y).sum(), x)
    else:
        import jax

        g = jax.grad(lambda p: loss(p, y).sum())(x)
        np.testing.assert_array_equal(to_numpy(jax.jit(jax.grad(lambda p, t: loss(p, t).sum()))(x, y)), 0.0)
    np.testing.assert_array_equal(to_numpy(g), 0.0)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("name", ["SoftmaxCELoss", "NLLLoss"])
def test_targets_of_zero_weight_classes_only_give_a_zero_mean(backend, name):
    """torch's weighted mean is 0/0 = NaN when the class weights of the targets sum to 0; losskit's
    'mean' is 0 with a zero gradient there, as when every target is ignored."""
    weights = [0.0, 0.0] + CW[2:]
    (x,) = on(backend, X)
    y = on(backend, np.array([0, 1, 0, 1, 1, 0]))[0]
    loss = losskit.get_loss(name, class_weight=weights, reduction="mean", axis=-1)
    np.testing.assert_array_equal(to_numpy(loss(x, y)), 0.0)
    (g,) = autograd_grads(loss, [x, y], (0,), backend)
    np.testing.assert_array_equal(g, 0.0)
    other = on(backend, np.array([0, 1, 2, 1, 0, 0]))[0]  # one target of weight 1 left: its own loss
    want = losskit.get_loss(name, axis=-1)(x, other)[2]
    np.testing.assert_allclose(to_numpy(loss(x, other)), to_numpy(want), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ignored_targets_drop_out_of_the_mean(backend):
    """The mean over some targets ignored equals the mean over the others alone, also for an
    ignore_index that is a valid class (2), and with class weights (weighted mean)."""
    y_np = Y.copy()
    y_np[[1, 4]] = -100
    keep = y_np != -100
    for cw in (None, CW):
        x, y, x_kept, y_kept = on(backend, X, y_np, X[keep], Y[keep])
        mean = losskit.SoftmaxCELoss(ignore_index=-100, class_weight=cw, reduction="mean")
        close(mean(x, y), losskit.SoftmaxCELoss(class_weight=cw, reduction="mean")(x_kept, y_kept))
    x, y, x2, y2 = on(backend, X, Y, X[Y != 2], Y[Y != 2])
    close(losskit.NLLLoss(ignore_index=2, reduction="sum")(x, y), losskit.NLLLoss(reduction="sum")(x2, y2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_mean_and_sum_are_the_reductions_of_the_per_example_result(backend):
    """Without class weights or ignored targets, 'mean' is the mean and 'sum' the sum over
    positions of the 'none' result, sample_weight and weight included."""
    x3 = rng.normal(size=(N, C, 3))
    y3 = rng.integers(0, C, size=(N, 3))
    sw = rng.uniform(0.5, 2, size=(N, 1, 1))
    x, y, w = on(backend, x3, y3, sw)
    options = {"axis": 1, "label_smoothing": 0.1, "z_loss": 1e-3, "weight": 2.0}
    per_example = to_numpy(losskit.SoftmaxCELoss(**options)(x, y, w))
    close(losskit.SoftmaxCELoss(reduction="mean", **options)(x, y, w), per_example.mean(), rtol=1e-10)
    close(losskit.SoftmaxCELoss(reduction="sum", **options)(x, y, w), per_example.sum() * 3, rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nll_of_log_softmax_is_softmax_cross_entropy(backend):
    x, y = on(backend, X, Y)
    logp = on(backend, X - np.log(np.exp(X).sum(1, keepdims=True)))[0]
    close(losskit.NLLLoss()(logp, y), losskit.SoftmaxCELoss()(x, y), rtol=1e-10)
    close(losskit.NLLLoss(class_weight=CW)(logp, y), losskit.SoftmaxCELoss(class_weight=CW)(x, y), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tversky_at_one_half_is_dice(backend):
    logits = rng.normal(size=(N, 3, 4, 4))
    mask = np.moveaxis(np.eye(3)[rng.integers(0, 3, size=(N, 4, 4))], -1, 1)
    x, m = on(backend, logits, mask)
    for smooth in (0.0, 1.0):
        close(losskit.TverskyLoss(alpha=0.5, beta=0.5, smooth=smooth)(x, m), losskit.DiceLoss(smooth=smooth)(x, m))
    # a perfect prediction scores 0, and swapping alpha and beta swaps prediction and mask
    probs = on(backend, np.exp(logits) / np.exp(logits).sum(1, keepdims=True))[0]
    close(losskit.DiceLoss(from_logits=False)(m, m), np.zeros(N))
    close(
        losskit.TverskyLoss(alpha=0.2, beta=0.8, from_logits=False)(probs, m),
        losskit.TverskyLoss(alpha=0.8, beta=0.2, from_logits=False)(m, probs),
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_jsd_identities(backend):
    q = rng.dirichlet(np.ones(C), size=N)
    p, logp, logq = on(backend, SOFT, np.log(SOFT), np.log(q))
    q_b = on(backend, q)[0]
    close(losskit.JSDLoss()(logp, p), np.zeros(N), atol=1e-15)  # JSD(P, P) = 0
    close(losskit.JSDLoss(beta=0.3)(logp, p), np.zeros(N), atol=1e-15)
    close(losskit.JSDLoss()(logq, p), losskit.JSDLoss()(logp, q_b))  # symmetric at beta = 1/2
    # swapping P and Q and beta with 1 - beta leaves M and the divergence unchanged
    close(losskit.JSDLoss(beta=0.2)(logq, p), losskit.JSDLoss(beta=0.8)(logp, q_b))
    assert (to_numpy(losskit.JSDLoss()(logq, p)) <= np.log(2)).all()
    # from_logits=False takes log_softmax first: logits shifted by a constant give the same value
    close(losskit.JSDLoss(from_logits=False)(on(backend, np.log(q) + 7.0)[0], p), losskit.JSDLoss()(logq, p))


@pytest.mark.parametrize("backend", BACKENDS)
def test_regression_identities(backend):
    pred, label = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    p, t, ones = on(backend, pred, label, np.ones((N, 3)))
    close(losskit.QuantileLoss(quantile=0.5)(p, t), losskit.L1Loss(weight=0.5)(p, t))
    close(losskit.GaussianNLLLoss()(p, t, ones), losskit.L2Loss()(p, t))  # var 1: (log 1 + d^2) / 2
    small = on(backend, pred * 1e-4)[0]
    close(losskit.LogCoshLoss()(small, 0 * small), losskit.L2Loss()(small, 0 * small), rtol=1e-7, atol=0)
    big = on(backend, np.full((N, 1), 50.0))[0]
    close(losskit.LogCoshLoss()(big, 0 * big), np.full(N, 50.0 - np.log(2)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_margin_identities(backend):
    sign = rng.choice([-1.0, 1.0], size=(N, C))
    x, s, y = on(backend, X, sign, Y)
    close(losskit.SoftMarginLoss()(x, s), losskit.LogisticLoss()(x, s))
    close(losskit.MultiLabelSoftMarginLoss()(x, (s + 1) / 2), losskit.SigmoidBCELoss()(x, (s + 1) / 2))
    # margin ranking of (a, b) with label y is (b, a) with -y
    a, b = on(backend, X[:, 0], X[:, 1])
    close(losskit.MarginRankingLoss(margin=0.5)(a, b, s[:, 0]), losskit.MarginRankingLoss(margin=0.5)(b, a, -s[:, 0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_info_nce_directions(backend):
    a, b = on(backend, rng.normal(size=(N, 5)), rng.normal(size=(N, 5)))
    one_way = losskit.InfoNCELoss(symmetric=False)
    close(losskit.InfoNCELoss()(a, b), (to_numpy(one_way(a, b)) + to_numpy(one_way(b, a))) / 2)
    close(losskit.InfoNCELoss()(a, b), losskit.InfoNCELoss()(b, a))
    close(losskit.InfoNCELoss()(a, 3.0 * a), losskit.InfoNCELoss()(a, a))  # cosine: scale-free


@pytest.mark.parametrize("backend", BACKENDS)
def test_functional_forms_equal_the_classes(backend):
    x, y, soft = on(backend, X, Y, SOFT)
    pairs = [
        (F.nll_loss(x, y, ignore_index=1), losskit.NLLLoss(ignore_index=1)(x, y)),
        (F.sigmoid_focal_loss(x, soft, gamma=1.0), losskit.SigmoidFocalLoss(gamma=1.0)(x, soft)),
        (F.softmax_focal_loss(x, y, alpha=CW), losskit.SoftmaxFocalLoss(alpha=CW)(x, y)),
        (F.poly_loss(x, y, epsilon=2.0), losskit.PolyLoss(epsilon=2.0)(x, y)),
        (F.multi_margin_loss(x, y, p=2), losskit.MultiMarginLoss(p=2)(x, y)),
        (F.jsd_loss(x, soft, from_logits=False), losskit.JSDLoss(from_logits=False)(x, soft)),
        (F.log_cosh_loss(x, soft), losskit.LogCoshLoss()(x, soft)),
        (F.quantile_loss(x, soft, quantile=0.2), losskit.QuantileLoss(quantile=0.2)(x, soft)),
        (F.dice_loss(x[:, :, None], soft[:, :, None]), losskit.DiceLoss()(x[:, :, None], soft[:, :, None])),
        (F.info_nce_loss(x, soft), losskit.InfoNCELoss()(x, soft)),
    ]
    for functional, cls in pairs:
        np.testing.assert_array_equal(to_numpy(functional), to_numpy(cls))


def test_registry_lists_every_new_loss_in_its_family():
    families = {
        "classification": ["NLLLoss", "SigmoidFocalLoss", "SoftmaxFocalLoss", "PolyLoss", "SoftMarginLoss",
                           "MultiLabelSoftMarginLoss", "MultiMarginLoss", "JSDLoss", "MultiLabelMarginLoss",
                           "CategoricalHingeLoss", "SparsemaxLoss"],
        "regression": ["GaussianNLLLoss", "LogCoshLoss", "QuantileLoss", "SquaredLogErrorLoss",
                       "AbsolutePercentageErrorLoss"],
        "metric": ["MarginRankingLoss", "InfoNCELoss", "HingeEmbeddingLoss", "CosineDistanceLoss",
                   "RankingSoftmaxLoss"],
        "segmentation": ["DiceLoss", "TverskyLoss", "LovaszSoftmaxLoss", "LovaszHingeLoss"],
    }  # fmt: skip
    for family, names in families.items():
        assert set(names) <= set(losskit.list_losses(family)), family
        for name in names:
            assert losskit.get_loss(name.lower()).__class__ is getattr(losskit, name)
    assert losskit.loss_info("LogCoshLoss").curve == losskit.loss_info("QuantileLoss").curve == "regression"
    assert losskit.loss_info("SigmoidFocalLoss").curve == losskit.loss_info("SoftMarginLoss").curve == "binary"
    info = losskit.loss_info("SoftmaxCELoss")
    assert {"ignore_index", "label_smoothing", "class_weight", "z_loss", "reduction"} <= set(info.params)


# ---- ignore_index and reduction of the focal and poly losses ----

MAPS = rng.normal(size=(N, C, 3, 2)) * 2  # segmentation logits, classes on axis 1
VOID = rng.integers(0, C, size=(N, 3, 2))
VOID[rng.uniform(size=VOID.shape) < 0.3] = 255
VOID[0, 0, 0] = 1


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("name", "options"), [("SoftmaxFocalLoss", {"gamma": 0.0}), ("PolyLoss", {"epsilon": 0.0})], ids=["focal", "poly"]
)
def test_focal_and_poly_ignore_and_reduce_as_cross_entropy(name, options, backend, reduction):
    """gamma = 0 (epsilon = 0) is cross-entropy, also with void pixels ignored and every reduction."""
    x, y, sw = on(backend, MAPS, VOID, rng.uniform(0.5, 2, size=(N, 1, 3, 2)))
    common = {"axis": 1, "ignore_index": 255, "reduction": reduction}
    got = losskit.get_loss(name, **options, **common)(x, y, sw)
    want = losskit.SoftmaxCELoss(**common)(x, y, sw)
    assert got.shape == want.shape == ((N,) if reduction == "none" else ())
    close(got, want)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_focal_and_poly_with_ignored_targets_against_torch(reduction):
    """The terms from torch's own ops (log_softmax, cross_entropy with ignore_index), masked and
    reduced by hand: mean over the targets not ignored; gradients included."""
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    alpha = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    x = torch.from_numpy(MAPS).requires_grad_()
    y = torch.from_numpy(VOID)
    valid = y != 255
    safe = torch.where(valid, y, 0)
    logp_y = tf.log_softmax(x, 1).gather(1, safe[:, None])[:, 0]
    p_y = logp_y.exp()
    focal = torch.where(valid, -alpha[safe] * (1 - p_y) ** 1.5 * logp_y, 0.0)
    poly = torch.where(valid, tf.cross_entropy(x, y, ignore_index=255, reduction="none") + 0.7 * (1 - p_y), 0.0)
    for loss, terms in (
        (losskit.SoftmaxFocalLoss(gamma=1.5, alpha=alpha, axis=1, ignore_index=255, reduction=reduction), focal),
        (losskit.PolyLoss(epsilon=0.7, axis=1, ignore_index=255, reduction=reduction), poly),
    ):
        want = {
            "mean": terms.sum() / valid.sum(),
            "sum": terms.sum(),
            "none": terms.mean(dim=(1, 2)),
        }[reduction]
        got = loss(x, y)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
        (g_got,) = torch.autograd.grad(got.sum(), x)
        (g_want,) = torch.autograd.grad(want.sum(), x, retain_graph=True)  # p_y serves both losses
        torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-14)
        assert g_got.abs().sum(dim=1)[~valid].max() == 0  # no gradient reaches a void pixel


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_sample_weight_scales_the_numerator_of_the_class_index_losses_against_torch(reduction):
    """sample_weight with ignored targets and per-class weights, against torch's own terms: the
    weighted terms summed, and for 'mean' divided by torch's denominator, the class weights of
    the targets kept (cross-entropy, NLL) or their count (focal, poly: alpha is not a class weight
    there); the sample weight is in the numerator only. Every other 'mean' test of these options
    ran without a sample weight (a doubled denominator passed them all)."""
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    w = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    x = torch.from_numpy(MAPS).requires_grad_()
    y = torch.from_numpy(VOID)
    sw = torch.from_numpy(rng.uniform(0.2, 3.0, size=(N, 1, 3, 2)))
    valid = y != 255
    safe = torch.where(valid, y, 0)
    logp_y = tf.log_softmax(x, 1).gather(1, safe[:, None])[:, 0]
    p_y = logp_y.exp()
    ce_w = tf.cross_entropy(x, y, weight=w, ignore_index=255, reduction="none")  # w_y ce, 0 where ignored
    nll_w = tf.nll_loss(tf.log_softmax(x, 1), y, weight=w, ignore_index=255, reduction="none")
    focal = torch.where(valid, -w[safe] * (1 - p_y) ** 1.5 * logp_y, 0.0)
    poly = torch.where(valid, tf.cross_entropy(x, y, ignore_index=255, reduction="none") + 0.7 * (1 - p_y), 0.0)
    kept_weight, kept = w[safe][valid].sum(), valid.sum()
    common = {"axis": 1, "ignore_index": 255, "reduction": reduction}
    for loss, terms, denominator in (
        (losskit.SoftmaxCELoss(class_weight=w, **common), ce_w, kept_weight),
        (losskit.NLLLoss(class_weight=w, **common), nll_w, kept_weight),
        (losskit.SoftmaxFocalLoss(gamma=1.5, alpha=w, **common), focal, kept),
        (losskit.PolyLoss(epsilon=0.7, **common), poly, kept),
    ):
        arg = tf.log_softmax(x, 1) if isinstance(loss, losskit.NLLLoss) else x
        weighted = (sw[:, 0] * terms).sum()
        want = weighted / denominator if reduction == "mean" else weighted
        got = loss(arg, y, sw)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14, msg=type(loss).__name__)
        (g_got,) = torch.autograd.grad(got, x)
        (g_want,) = torch.autograd.grad(want, x, retain_graph=True)
        torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-14, msg=type(loss).__name__)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("name", ["SoftmaxFocalLoss", "PolyLoss"])
def test_an_ignored_target_beside_a_masked_class_0_gets_no_gradient(backend, name):
    """An ignored target is read as class 0; with class 0 masked (logit -inf) in that row, focal's
    product (1 - p)^gamma log p met the mask's zero gradient with log p = -inf: NaN in the row."""
    logits = np.array([[-np.inf, 1.0, 2.0], [0.5, -1.0, 0.0]])
    x, y = on(backend, logits, np.array([-100, 2]))
    loss = losskit.get_loss(name, ignore_index=-100, reduction="mean")
    want = losskit.SoftmaxCELoss()(logits[1:], np.array([2]))[0] if name == "PolyLoss" else None
    got = loss(x, y)
    assert np.isfinite(_np(got))
    if want is not None:
        close(got, want + 1.0 * (1 - np.exp(-want)))  # CE + epsilon (1 - p_y), the one target left
    (g,) = autograd_grads(loss, [x, y], (0,), backend)
    np.testing.assert_array_equal(g[0], 0.0)
    assert np.isfinite(g).all() and np.abs(g[1]).sum() > 0


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("name", ["SoftmaxFocalLoss", "PolyLoss"])
def test_focal_and_poly_with_every_target_ignored_give_zero(backend, name):
    x, y = on(backend, MAPS, np.full(VOID.shape, 255))
    loss = losskit.get_loss(name, axis=1, ignore_index=255, reduction="mean")
    close(loss(x, y), 0.0)
    (g,) = autograd_grads(loss, [x, y], (0,), backend)
    np.testing.assert_array_equal(g, 0.0)


@pytest.mark.parametrize("name", ["SoftmaxFocalLoss", "PolyLoss"])
def test_focal_and_poly_option_errors(name):
    with pytest.raises(ValueError, match="ignore_index needs sparse labels"):
        losskit.get_loss(name, sparse_label=False, ignore_index=-100)
    with pytest.raises(ValueError, match="reduction must be one of"):
        losskit.get_loss(name, reduction="batchmean")
    with pytest.raises(TypeError, match="ignore_index must be an int or None, got 1.5"):
        losskit.get_loss(name, ignore_index=1.5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        getattr(F, "softmax_focal_loss" if name == "SoftmaxFocalLoss" else "poly_loss")(X, Y, reduction="avg")
    with pytest.raises(ValueError, match=r"label holds class indices in \[0, 255\]"):
        losskit.get_loss(name, ignore_index=-100)(X, np.array([0, 1, 2, 3, 255, 0]))
