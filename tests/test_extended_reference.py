"""Beyond Gluon (issue 4): every new loss and every new SoftmaxCE option against an independent
implementation: ``torch.nn.functional``, optax, the formula of ``torchvision.ops.sigmoid_focal_loss``,
SciPy, or a closed form. Values are compared on every backend, gradients on PyTorch and JAX
(against autograd through the reference); losskit's own output is never the expected value.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losskit
from backends import AUTOGRAD_BACKENDS, BACKENDS, autograd_grads, to_backend, to_numpy

torch = pytest.importorskip("torch")
tf = torch.nn.functional
rng = np.random.default_rng(11)
N, C = 6, 5
CW = [1.0, 2.0, 0.5, 1.5, 0.25]


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _as_torch(args, float_args):
    return [
        a if a is None or isinstance(a, float) else torch.tensor(a, dtype=torch.float64 if i in float_args else None)
        for i, a in enumerate(args)
    ]


def _as_jax(args, float_args):
    import jax.numpy as jnp

    return [
        a if a is None or isinstance(a, float) else jnp.asarray(a, dtype=jnp.float64 if i in float_args else None)
        for i, a in enumerate(args)
    ]


def _call(loss, args, float_args, backend):
    """The loss on ``backend`` in float64; JAX through ``jax.jit`` (eager JAX dispatches op by op,
    several times slower; the eager path is covered by the cases of tests/cases.py)."""
    full = [to_backend(a, backend, "float64" if i in float_args else None) for i, a in enumerate(args)]
    if backend != "jax":
        return loss(*full)
    import jax

    arrays = [i for i, a in enumerate(full) if a is not None and not isinstance(a, (int, float))]

    def run(*xs):
        call = list(full)
        for i, x in zip(arrays, xs):
            call[i] = x
        return loss(*call)

    return jax.jit(run)(*[full[i] for i in arrays])


def _grads(fn, args, float_args, lib, jit=True):
    return autograd_grads(fn, args, float_args, lib, jit)


def _reference(reference, args, float_args, ref_backend, jit=True, grads=True):
    """The reference's value and the gradients of its sum, by autograd in its own library."""
    if ref_backend == "torch":
        t = _as_torch(args, float_args)
        value = reference(*t).detach().numpy()
        return value, _grads(reference, _as_torch(args, float_args), float_args, "torch") if grads else []
    import jax

    j = _as_jax(args, float_args)
    value = (jax.jit(reference) if jit else reference)(*j)
    return np.asarray(value), _grads(reference, j, float_args, "jax", jit) if grads else []


def check(
    loss, args, reference, float_args=(0,), *, ref_backend="torch", rtol=1e-9, atol=1e-11, grads=True, ref_jit=True
):
    """``loss(*args)`` equals ``reference(*args)`` (one value per example, or a 0-d total) on every
    backend in float64, and the gradients of their sums agree on PyTorch and JAX."""
    want, want_grads = _reference(reference, args, float_args, ref_backend, ref_jit, grads)
    for backend in BACKENDS:
        out = _call(loss, args, float_args, backend)
        np.testing.assert_allclose(to_numpy(out), want, rtol=rtol, atol=atol, err_msg=backend)
    if grads:
        for backend in AUTOGRAD_BACKENDS:
            full = [to_backend(a, backend, "float64" if i in float_args else None) for i, a in enumerate(args)]
            for i, (got, ref) in enumerate(zip(_grads(loss, full, float_args, backend), want_grads)):
                np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=f"{backend} d/d arg {float_args[i]}")


def per_example(t):
    """torch's unreduced loss averaged over every axis but the first, as losskit's 'none' result."""
    return t.reshape(t.shape[0], -1).mean(1)


# ---- SoftmaxCrossEntropyLoss: the torch options ----------------------------------------------

X3 = rng.normal(size=(N, C, 3)) * 2
Y3 = rng.integers(0, C, size=(N, 3))
Y3_IGN = Y3.copy()
Y3_IGN[0, 0] = Y3_IGN[3, 2] = Y3_IGN[4, 1] = -100
SOFT3 = _softmax(rng.normal(size=(N, C, 3)), axis=1)


ALL = {"ignore_index": -100, "label_smoothing": 0.1, "class_weight": CW}


@pytest.mark.parametrize(
    "options, reduction",
    [
        ({"ignore_index": -100}, "none"),
        ({"label_smoothing": 0.2}, "mean"),
        ({"class_weight": CW}, "sum"),
        (ALL, "none"),
        (ALL, "mean"),
        (ALL, "sum"),
    ],
    ids=["ignore-none", "smooth-mean", "weight-sum", "all-none", "all-mean", "all-sum"],
)
def test_cross_entropy_options_match_torch(options, reduction):
    weight = torch.tensor(options["class_weight"], dtype=torch.float64) if "class_weight" in options else None

    def reference(x, y):
        out = tf.cross_entropy(
            x,
            y,
            weight=weight,
            ignore_index=options.get("ignore_index", -100),
            label_smoothing=options.get("label_smoothing", 0.0),
            reduction=reduction,
        )
        return per_example(out) if reduction == "none" else out

    loss = losskit.SoftmaxCELoss(axis=1, reduction=reduction, **options)
    check(loss, [X3, Y3_IGN if "ignore_index" in options else Y3], reference)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_soft_labels_smoothing_and_weights_match_torch(reduction):
    weight = torch.tensor(CW, dtype=torch.float64)

    def reference(x, p):
        out = tf.cross_entropy(x, p, weight=weight, label_smoothing=0.3, reduction=reduction)
        return per_example(out) if reduction == "none" else out

    loss = losskit.SoftmaxCELoss(axis=1, sparse_label=False, label_smoothing=0.3, class_weight=CW, reduction=reduction)
    check(loss, [X3, SOFT3], reference, (0, 1))


def test_z_loss_is_palm_z_loss():
    """z_loss adds z * logsumexp(x)^2 per position, 0 at ignored ones (PaLM, Liger-Kernel)."""

    def reference(x, y):
        ce = tf.cross_entropy(x, y, ignore_index=-100, reduction="none")
        z = 1e-2 * torch.logsumexp(x, dim=1) ** 2 * (y != -100)
        return per_example(ce + z)

    check(losskit.SoftmaxCELoss(axis=1, ignore_index=-100, z_loss=1e-2), [X3, Y3_IGN], reference)

    def reference_mean(x, y):  # with class weights: CE by sum of w[y], z-loss by the count (Liger)
        w = torch.tensor(CW, dtype=torch.float64)
        ce = tf.cross_entropy(x, y, weight=w, ignore_index=-100, reduction="mean")
        valid = y != -100
        return ce + (0.1 * torch.logsumexp(x, dim=1) ** 2 * valid).sum() / valid.sum()

    loss = losskit.SoftmaxCELoss(axis=1, ignore_index=-100, class_weight=CW, z_loss=0.1, reduction="mean")
    check(loss, [X3, Y3_IGN], reference_mean)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sparse=st.booleans(),
    ignore=st.sampled_from([None, -100, 2]),
    smoothing=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
    weighted=st.booleans(),
    z=st.sampled_from([0.0, 1e-3]),
    reduction=st.sampled_from(["none", "mean", "sum"]),
    spatial=st.booleans(),
    scale=st.sampled_from([1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_every_option_combination_matches_torch(
    sparse, ignore, smoothing, weighted, z, reduction, spatial, scale, seed
):
    """Every combination of the options against torch's cross_entropy (plus the z-loss term), on
    PyTorch, values and gradients."""
    if not sparse:
        ignore = None
    r = np.random.default_rng(seed)
    shape = (4, 3, 2) if spatial else (4, 3)
    x = torch.tensor(r.normal(size=shape) * scale, requires_grad=True)
    label_shape = (shape[0],) + shape[2:]
    if sparse:
        y = torch.tensor(r.integers(0, 3, size=label_shape))
        if ignore is not None:
            y[torch.tensor(r.uniform(size=label_shape) < 0.4)] = ignore
    else:
        y = torch.tensor(_softmax(r.normal(size=shape), axis=1))
    cw = r.uniform(0.2, 2.0, size=3).tolist() if weighted else None
    w = None if cw is None else torch.tensor(cw, dtype=torch.float64)

    ref = tf.cross_entropy(
        x, y, weight=w, ignore_index=-100 if ignore is None else ignore, label_smoothing=smoothing, reduction="none"
    )
    valid = torch.ones(label_shape, dtype=torch.bool) if ignore is None else (y != ignore)
    zterm = z * torch.logsumexp(x, dim=1) ** 2 * valid
    if reduction == "none":
        want = per_example(ref + zterm)
    elif reduction == "sum":
        want = (ref + zterm).sum()
    else:
        if sparse:
            count = valid.sum()
            denom = (w[y.clamp(min=0).masked_fill(~valid, 0)] * valid).sum() if w is not None else count
        else:
            denom = count = torch.tensor(float(np.prod(label_shape)))
        want = torch.where(denom > 0, ref.sum() / denom.clamp(min=1e-300), 0.0) + torch.where(
            count > 0, zterm.sum() / count.clamp(min=1), 0.0
        )
    loss = losskit.SoftmaxCELoss(
        axis=1,
        sparse_label=sparse,
        ignore_index=ignore,
        label_smoothing=smoothing,
        class_weight=cw,
        z_loss=z,
        reduction=reduction,
    )
    got = loss(x, y)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    g_got, g_want = (torch.autograd.grad(v.sum(), x)[0] for v in (got, want))
    torch.testing.assert_close(g_got, torch.nan_to_num(g_want), rtol=1e-9, atol=1e-9)


def test_nll_loss_matches_torch():
    logp = np.log(SOFT3)
    w = torch.tensor(CW, dtype=torch.float64)
    check(losskit.NLLLoss(), [logp, Y3], lambda p, y: per_example(tf.nll_loss(p, y, reduction="none")))
    for reduction in ("none", "mean", "sum"):

        def reference(p, y, reduction=reduction):
            out = tf.nll_loss(p, y, weight=w, ignore_index=-100, reduction=reduction)
            return per_example(out) if reduction == "none" else out

        loss = losskit.NLLLoss(ignore_index=-100, class_weight=CW, reduction=reduction)
        check(loss, [logp, Y3_IGN], reference)


# ---- focal and poly ---------------------------------------------------------------------------


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, pos_weight=None):
    """``torchvision.ops.sigmoid_focal_loss`` (torchvision 0.19, ops/focal_loss.py), verbatim but for
    ``pos_weight`` passed to its BCE; torchvision from PyPI does not import beside the CPU torch
    2.13 build used here, so its formula is written out."""
    p = torch.sigmoid(inputs)
    ce_loss = tf.binary_cross_entropy_with_logits(inputs, targets, reduction="none", pos_weight=pos_weight)
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


XB = rng.normal(size=(N, 4)) * 3
HARD = rng.integers(0, 2, size=(N, 4)).astype(float)
SOFTB = rng.uniform(0.05, 0.95, size=(N, 4))


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (-1, 3.0), (0.6, 0.5)])
def test_sigmoid_focal_matches_torchvision(alpha, gamma):
    loss = losskit.SigmoidFocalLoss(alpha=alpha, gamma=gamma)
    ref = torchvision_sigmoid_focal_loss
    check(loss, [XB, HARD], lambda x, z: ref(x, z, alpha, gamma).mean(1))
    check(loss, [XB, SOFTB], lambda x, z: ref(x, z, alpha, gamma).mean(1), (0, 1))


def test_sigmoid_focal_pos_weight_matches_torchvision_with_weighted_bce():
    pw = rng.uniform(0.5, 3, size=(1, 4))

    def reference(x, z, sample_weight, w):
        return torchvision_sigmoid_focal_loss(x, z, pos_weight=w).mean(1)

    # torch's BCE has no gradient for pos_weight: compare the value for it, gradients for x and z
    check(losskit.SigmoidFocalLoss(), [XB, SOFTB, None, pw], reference, (0, 1))


def test_sigmoid_focal_matches_optax():
    optax = pytest.importorskip("optax")
    for alpha in (None, 0.25):
        check(
            losskit.SigmoidFocalLoss(alpha=alpha, gamma=1.5),
            [XB, SOFTB],
            lambda x, z, alpha=alpha: optax.losses.sigmoid_focal_loss(x, z, alpha=alpha, gamma=1.5).mean(1),
            (0, 1),
            ref_backend="jax",
        )


@pytest.mark.parametrize("alpha", [0.5, CW])
def test_softmax_focal_closed_form(alpha):
    """The usual PyTorch focal loss: ``alpha_y (1 - p_y)^gamma ce`` with ``p_y = exp(-ce)``."""
    x = rng.normal(size=(N, C)) * 2
    y = rng.integers(0, C, size=N)
    a = torch.ones(C, dtype=torch.float64) if alpha is None else torch.tensor(alpha, dtype=torch.float64)
    if isinstance(alpha, float):
        a = torch.full((C,), alpha, dtype=torch.float64)

    def reference(x, y):
        ce = tf.cross_entropy(x, y, reduction="none")
        return a[y] * (1 - torch.exp(-ce)) ** 2.0 * ce

    check(losskit.SoftmaxFocalLoss(alpha=alpha), [x, y], reference)

    soft = _softmax(rng.normal(size=(N, C)))

    def reference_dense(x, z):
        logp = torch.log_softmax(x, dim=1)
        return -(z * a * (1 - logp.exp()) ** 1.5 * logp).sum(1)

    check(losskit.SoftmaxFocalLoss(gamma=1.5, alpha=alpha, sparse_label=False), [x, soft], reference_dense, (0, 1))


def test_softmax_focal_class_axis_1():
    def reference(x, y):
        ce = tf.cross_entropy(x, y, reduction="none")
        return per_example((1 - torch.exp(-ce)) ** 2 * ce)

    check(losskit.SoftmaxFocalLoss(axis=1), [X3, Y3], reference)


@pytest.mark.parametrize("epsilon", [2.0, -1.0])
def test_poly_matches_optax(epsilon):
    optax = pytest.importorskip("optax")
    x = rng.normal(size=(N, C)) * 2
    y = rng.integers(0, C, size=N)
    onehot = np.eye(C)[y]
    soft = _softmax(rng.normal(size=(N, C)))
    poly = optax.losses.poly_loss_cross_entropy
    check(losskit.PolyLoss(epsilon=epsilon), [x, y], lambda x, y: poly(x, onehot, epsilon=epsilon), ref_backend="jax")
    check(
        losskit.PolyLoss(epsilon=epsilon, sparse_label=False),
        [x, soft],
        lambda x, z: poly(x, z, epsilon=epsilon),
        (0, 1),
        ref_backend="jax",
    )


# ---- margins ----------------------------------------------------------------------------------

XM = rng.normal(size=(N, C)) * 2
YM = rng.integers(0, C, size=N)
SIGN = rng.choice([-1.0, 1.0], size=(N, C))


@pytest.mark.parametrize("p, margin, weighted", [(1, 1.0, False), (2, 0.5, False), (1, 2.0, True), (2, 1.0, True)])
def test_multi_margin_matches_torch(p, margin, weighted):
    w = torch.tensor(CW, dtype=torch.float64) if weighted else None
    loss = losskit.MultiMarginLoss(p=p, margin=margin, class_weight=CW if weighted else None)
    check(loss, [XM, YM], lambda x, y: tf.multi_margin_loss(x, y, p=p, margin=margin, weight=w, reduction="none"))


def test_soft_margin_and_multilabel_soft_margin_match_torch():
    check(losskit.SoftMarginLoss(), [XM, SIGN], lambda x, y: tf.soft_margin_loss(x, y, reduction="none").mean(1))
    target = (SIGN + 1) / 2
    check(
        losskit.MultiLabelSoftMarginLoss(),
        [XM, target],
        lambda x, y: tf.multilabel_soft_margin_loss(x, y, reduction="none"),
        (0, 1),
    )
    w = torch.tensor(CW, dtype=torch.float64)
    check(
        losskit.MultiLabelSoftMarginLoss(class_weight=CW),
        [XM, target],
        lambda x, y: tf.multilabel_soft_margin_loss(x, y, weight=w, reduction="none"),
        (0, 1),
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_one_unbatched_example_matches_torch(weighted):
    """A ``(C,)`` input is one example, as torch's unbatched input: one value, shape ``(1,)`` (as
    Gluon's CE), torch's 0-d value. MultiLabelSoftMargin gave C per-class values."""
    w = torch.tensor(CW, dtype=torch.float64) if weighted else None
    cw = CW if weighted else None
    x, y, target = XM[0], YM[:1].reshape(()), (SIGN[0] + 1) / 2
    unbatched = [
        (losskit.MultiLabelSoftMarginLoss(class_weight=cw), [x, target], (0, 1),
         lambda x, z: tf.multilabel_soft_margin_loss(x, z, weight=w, reduction="none").reshape(1)),
        (losskit.MultiMarginLoss(class_weight=cw), [x, y], (0,),
         lambda x, y: tf.multi_margin_loss(x, y, weight=w, reduction="none").reshape(1)),
        (losskit.SoftmaxCrossEntropyLoss(class_weight=cw), [x, y], (0,),
         lambda x, y: tf.cross_entropy(x, y, weight=w, reduction="none").reshape(1)),
    ]  # fmt: skip
    for loss, args, float_args, reference in unbatched:
        check(loss, args, reference, float_args)


def test_margin_ranking_matches_torch():
    a, b = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    y = rng.choice([-1.0, 1.0], size=(N, 3))
    for margin in (0.0, 0.5):
        check(
            losskit.MarginRankingLoss(margin=margin),
            [a, b, y],
            lambda a, b, y, margin=margin: tf.margin_ranking_loss(a, b, y, margin=margin, reduction="none").mean(1),
            (0, 1),
        )
    a1, b1, y1 = a[:, 0], b[:, 0], y[:, 0]  # 1-D inputs, as torch's usual call
    check(
        losskit.MarginRankingLoss(margin=0.3),
        [a1, b1, y1],
        lambda a, b, y: tf.margin_ranking_loss(a, b, y, margin=0.3, reduction="none"),
        (0, 1),
    )


# ---- regression -------------------------------------------------------------------------------

P, T = rng.normal(size=(N, 4)) * 2, rng.normal(size=(N, 4))


@pytest.mark.parametrize(
    "var_shape, full",
    [((N, 4), False), ((N, 1), True), ("scalar", False)],
    ids=["per-element", "shared-full", "scalar"],
)
def test_gaussian_nll_matches_torch(var_shape, full):
    var = 0.7 if var_shape == "scalar" else rng.uniform(0.1, 3, size=var_shape)
    float_args = (0, 1) if var_shape == "scalar" else (0, 1, 2)
    check(
        losskit.GaussianNLLLoss(full=full),
        [P, T, var],
        lambda p, t, v: tf.gaussian_nll_loss(p, t, v, full=full, reduction="none").mean(1),
        float_args,
    )


def test_gaussian_nll_one_axis_of_size_one_and_clamped_values_match_torch():
    p, t = rng.normal(size=(N, 3, 4)), rng.normal(size=(N, 3, 4))
    var = rng.uniform(0.1, 3, size=(N, 1, 4))
    ref = tf.gaussian_nll_loss
    check(
        losskit.GaussianNLLLoss(), [p, t, var], lambda p, t, v: per_example(ref(p, t, v, reduction="none")), (0, 1, 2)
    )
    # below eps the value is torch's; the gradient w.r.t. var differs there (documented): values only
    tiny = np.where(rng.uniform(size=(N, 4)) < 0.5, 1e-9, rng.uniform(0.1, 3, size=(N, 4)))
    check(
        losskit.GaussianNLLLoss(eps=1e-4),
        [P, T, tiny],
        lambda p, t, v: ref(p, t, v, eps=1e-4, reduction="none").mean(1),
        (0, 1),
    )


def test_log_cosh_matches_optax():
    optax = pytest.importorskip("optax")
    check(losskit.LogCoshLoss(), [P, T], lambda p, t: optax.losses.log_cosh(p, t).mean(1), (0, 1), ref_backend="jax")


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_quantile_closed_form(q):
    def pinball(p, t):
        d = t - p
        return torch.maximum(q * d, (q - 1) * d).mean(1)

    check(losskit.QuantileLoss(quantile=q), [P, T], pinball, (0, 1))
    # the median's pinball loss is half the absolute error
    if q == 0.5:
        np.testing.assert_allclose(losskit.QuantileLoss()(P, T), 0.5 * np.abs(P - T).mean(1), rtol=1e-12)


# ---- divergences, contrastive, segmentation -----------------------------------------------------


def test_jsd_matches_scipy_at_half():
    from scipy.spatial.distance import jensenshannon

    p, q = _softmax(rng.normal(size=(N, C))), _softmax(rng.normal(size=(N, C)) * 2)
    want = jensenshannon(p, q, axis=1) ** 2  # JS distance (natural log) squared is the divergence
    for backend in BACKENDS:
        out = losskit.JSDLoss()(to_backend(np.log(q), backend, "float64"), to_backend(p, backend, "float64"))
        np.testing.assert_allclose(to_numpy(out), want, rtol=1e-9, atol=1e-12, err_msg=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("beta", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("gap", [1e-2, 1e-3])
def test_jsd_of_near_equal_distributions_in_float32(backend, beta, gap):
    """AugMix-style consistency: Q within ``gap`` of P in log space, where the divergence is
    O(gap^2) and the per-class terms O(gap) cancel down to it. float32 against the closed forms in
    float64 of the same (float32-rounded) inputs: the divergence sum_c beta P log(P / M) + (1 - beta)
    Q log(Q / M), and its gradient with respect to log Q, (1 - beta) Q log(Q / M). Before the
    near-P = Q form, float32 was 0.5% off at gap 1e-2 and 67% at 1e-3."""
    p = _softmax(rng.normal(size=(4, 10))).astype(np.float32).astype(np.float64)
    log_q = (np.log(p) + gap * rng.normal(size=p.shape)).astype(np.float32).astype(np.float64)
    q = np.exp(log_q)
    m = beta * p + (1 - beta) * q
    want = np.sum(beta * p * np.log(p / m) + (1 - beta) * q * np.log(q / m), axis=1)
    loss = losskit.JSDLoss(beta=beta)
    args = [to_backend(log_q, backend, "float32"), to_backend(p, backend, "float32")]
    np.testing.assert_allclose(to_numpy(loss(*args)), want, rtol=1e-3)
    if backend in AUTOGRAD_BACKENDS:
        (g,) = autograd_grads(loss, args, (0,), backend)
        want_g = (1 - beta) * q * np.log(q / m)
        np.testing.assert_allclose(g, want_g, rtol=1e-3, atol=1e-3 * np.abs(want_g).max())


def test_jsd_hessian_with_a_one_hot_label_is_finite_and_matches_jax():
    """A label of 0 (log P a -1e30 stand-in), differentiated too (a teacher's or another view's
    output, as in AugMix): finite second derivatives, torch's equal to JAX's (float64), through
    the near-P = Q form and M formed as the sum it is (torch's own logaddexp has NaN second
    derivatives at such a stand-in; M never went through it with a gradient here)."""
    jax = pytest.importorskip("jax")
    x = rng.normal(size=(2, 5))
    label = np.eye(5)[[1, 3]]
    loss = losskit.JSDLoss(beta=0.3, from_logits=False)
    got = torch.func.hessian(lambda a, b: loss(a, b).sum(), argnums=(0, 1))(torch.tensor(x), torch.tensor(label))
    want = jax.hessian(lambda a, b: loss(a, b).sum(), argnums=(0, 1))(
        to_backend(x, "jax", "float64"), to_backend(label, "jax", "float64")
    )
    for i in range(2):
        for j in range(2):
            assert torch.isfinite(got[i][j]).all(), (i, j)
            np.testing.assert_allclose(got[i][j].numpy(), np.asarray(want[i][j]), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.8])
def test_jsd_generalised_closed_form(beta):
    """Liger-Kernel's definition: M = beta P + (1 - beta) Q, beta KL(P||M) + (1 - beta) KL(Q||M),
    with P the label (teacher) and Q the prediction (student)."""
    x = rng.normal(size=(N, 2, C)) * 2
    p = _softmax(rng.normal(size=(N, 2, C)))

    def reference(x, p):
        q = torch.softmax(x, dim=-1)
        m = beta * p + (1 - beta) * q
        kl_pm = (p * (p.log() - m.log())).sum(-1)
        kl_qm = (q * (q.log() - m.log())).sum(-1)
        return per_example(beta * kl_pm + (1 - beta) * kl_qm)

    check(losskit.JSDLoss(beta=beta, from_logits=False), [x, p], reference, (0, 1))


def clip_loss(a, b, temperature, symmetric):
    """CLIP's loss (Radford et al., 2021, Figure 3), per example: cross-entropy of the cosine logits
    against the diagonal, rows (and columns, symmetric) averaged."""
    logits = tf.normalize(a, dim=1) @ tf.normalize(b, dim=1).T / temperature
    target = torch.arange(a.shape[0])
    rows = tf.cross_entropy(logits, target, reduction="none")
    return 0.5 * (rows + tf.cross_entropy(logits.T, target, reduction="none")) if symmetric else rows


@pytest.mark.parametrize("temperature, symmetric", [(0.1, True), (0.5, False), (0.07, True)])
def test_info_nce_matches_clip(temperature, symmetric):
    a, b = rng.normal(size=(N, 8)), rng.normal(size=(N, 8))
    check(
        losskit.InfoNCELoss(temperature=temperature, symmetric=symmetric),
        [a, b],
        lambda a, b: clip_loss(a, b, temperature, symmetric),
        (0, 1),
    )


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_info_nce_learnt_temperature_matches_clip(backend):
    """A 0-d array temperature (CLIP learns one): value and its gradient, against CLIP's loss
    differentiated by torch."""
    a, b = rng.normal(size=(N, 8)), rng.normal(size=(N, 8))
    t = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    want = clip_loss(torch.tensor(a), torch.tensor(b), t, True)
    (want_grad,) = torch.autograd.grad(want.sum(), t)
    xa, xb = to_backend(a, backend, "float64"), to_backend(b, backend, "float64")
    if backend == "torch":
        tt = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
        got = losskit.InfoNCELoss(temperature=tt)(xa, xb)
        (grad,) = torch.autograd.grad(got.sum(), tt)
    else:
        import jax

        def total(t):
            return losskit.InfoNCELoss(temperature=t)(xa, xb).sum()

        got = losskit.InfoNCELoss(temperature=jax.numpy.asarray(0.2))(xa, xb)
        grad = jax.jit(jax.grad(total))(jax.numpy.asarray(0.2))
    np.testing.assert_allclose(to_numpy(got), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(float(grad), float(want_grad), rtol=1e-10)
    with pytest.raises(ValueError, match=r"temperature must be a number or a 0-d array, got an array of shape \(2,\)"):
        losskit.InfoNCELoss(temperature=to_backend(np.ones(2), backend))


def test_info_nce_against_optax_ntxent():
    """``optax.ntxent`` (optax/losses/_self_supervised.py) is SimCLR's NT-Xent: an anchor's
    negatives are *all* other embeddings of another label, so on ``[x1; x2]`` it also counts
    x1_j as negatives of x1_i, and the two definitions do not coincide. They do on the set
    ``E_i = [x1_i, x2_0, ..., x2_{N-1}]`` with labels ``[i, 0, ..., N-1]``: its two ordered
    positive pairs are x1_i -> x2_i (negatives x2_{j != i}: InfoNCE's row i) and x2_i -> x1_i
    (negatives x2_{j != i}: InfoNCE's row 0 for x1' = [x2_i, ...], x2' = [x1_i, x2_{j != i}]),
    and ntxent returns their mean."""
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    optax = pytest.importorskip("optax")
    ntxent = jax.jit(optax.losses.ntxent)  # one compilation for the N calls below
    t = 0.2
    x1, x2 = rng.normal(size=(N, 4)), rng.normal(size=(N, 4))
    one_way = losskit.InfoNCELoss(temperature=t, symmetric=False)
    rows = one_way(x1, x2)
    for i in range(N):
        others = [j for j in range(N) if j != i]
        reverse = one_way(np.vstack([x2[i], x2[others]]), np.vstack([x1[i], x2[others]]))[0]
        embeddings = jnp.asarray(np.vstack([x1[i : i + 1], x2]))
        labels = jnp.asarray([i, *range(N)])
        want = float(ntxent(embeddings, labels, t))
        np.testing.assert_allclose(0.5 * (rows[i] + reverse), want, rtol=1e-9)


def _onehot(idx, c):
    return np.moveaxis(np.eye(c)[idx], -1, 1)


@pytest.mark.parametrize("alpha, beta, smooth", [(0.5, 0.5, 1.0), (0.8, 0.2, 0.0)])
def test_tversky_and_dice_match_optax(alpha, beta, smooth):
    """optax.losses.dice_loss is channels-last: losskit's (N, C, H, W) is moved to (N, H, W, C)."""
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    x = rng.normal(size=(N, 3, 4, 5)) * 2
    mask = _onehot(rng.integers(0, 3, size=(N, 4, 5)), 3)

    def reference(x, t, apply_softmax=True):
        return optax.losses.dice_loss(
            jnp.moveaxis(x, 1, -1), jnp.moveaxis(t, 1, -1), alpha=alpha, beta=beta, smooth=smooth,
            apply_softmax=apply_softmax,
        )  # fmt: skip

    loss = losskit.TverskyLoss(alpha=alpha, beta=beta, smooth=smooth)
    check(loss, [x, mask], reference, (0, 1), ref_backend="jax")
    if alpha != beta:
        return
    check(losskit.DiceLoss(smooth=smooth), [x, mask], reference, (0, 1), ref_backend="jax")
    probs = _softmax(x, axis=1)
    check(
        losskit.TverskyLoss(alpha=alpha, beta=beta, smooth=smooth, from_logits=False),
        [probs, mask],
        lambda p, t: reference(p, t, apply_softmax=False),
        (0, 1),
        ref_backend="jax",
        ref_jit=False,  # optax checks that the probabilities sum to 1 with a Python `if`
        grads=False,  # eager optax is slow; the gradients are those of the logits path above
    )


def test_binary_dice_one_channel_is_sigmoid_as_optax():
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    x = rng.normal(size=(N, 1, 7)) * 2
    mask = (rng.uniform(size=(N, 1, 7)) < 0.4).astype(float)
    check(
        losskit.DiceLoss(),
        [x, mask],
        lambda x, t: optax.losses.dice_loss(jnp.moveaxis(x, 1, -1), jnp.moveaxis(t, 1, -1)),
        (0, 1),
        ref_backend="jax",
    )


def test_dice_closed_form_channels_last():
    """1 - mean_c (2 I_c + 2 s) / (P_c + T_c + 2 s) over the spatial axes, in NumPy."""
    probs = _softmax(rng.normal(size=(N, 6, 3)))
    mask = np.eye(3)[rng.integers(0, 3, size=(N, 6))]
    s = 0.5
    inter, psum, tsum = (probs * mask).sum(1), probs.sum(1), mask.sum(1)
    want = 1 - ((2 * inter + 2 * s) / (psum + tsum + 2 * s)).mean(1)
    for backend in BACKENDS:
        out = losskit.DiceLoss(smooth=s, from_logits=False, axis=-1)(
            to_backend(probs, backend, "float64"), to_backend(mask, backend, "float64")
        )
        np.testing.assert_allclose(to_numpy(out), want, rtol=1e-12, err_msg=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kl_div_log_target_against_torch_and_optax(backend):
    """KLDivLoss(log_target=True): torch's kl_div(log_target=True) summed per example, values and
    both gradients; optax's kl_divergence_with_log_targets; the same as log_target=False on
    exp(label). A -inf log-target (probability 0) contributes 0 with a finite gradient, where
    torch's and optax's formula gives 0 * -inf = NaN."""
    rng = np.random.default_rng(0)
    logq = np.log(_softmax(rng.normal(size=(3, 5))))
    logz = np.log(_softmax(rng.normal(size=(3, 5))))
    loss = losskit.KLDivLoss(log_target=True)
    x, t = to_backend(logq, backend, "float64"), to_backend(logz, backend, "float64")
    q_t, z_t = (torch.tensor(a, requires_grad=True) for a in (logq, logz))
    ref = torch.nn.functional.kl_div(q_t, z_t, log_target=True, reduction="none").sum(1)
    np.testing.assert_allclose(to_numpy(loss(x, t)), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(loss(x, t)), losskit.KLDivLoss()(logq, np.exp(logz)), rtol=1e-12)
    if backend == "jax":
        optax = pytest.importorskip("optax")
        np.testing.assert_allclose(to_numpy(loss(x, t)), optax.losses.kl_divergence_with_log_targets(x, t), rtol=1e-12)
    if backend == "torch":
        xs, ts = (a.clone().requires_grad_() for a in (x, t))
        got = torch.autograd.grad(loss(xs, ts).sum(), (xs, ts))
        want = torch.autograd.grad(ref.sum(), (q_t, z_t))
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    # a class of probability 0 in the target
    logz0 = logz.copy()
    logz0[0, 1] = -np.inf
    logz0[0] -= np.log(np.exp(logz0[0]).sum())
    t0 = to_backend(logz0, backend, "float64")
    want0 = (np.exp(logz0[0]) * np.where(np.isinf(logz0[0]), 0, logz0[0] - logq[0])).sum()
    np.testing.assert_allclose(to_numpy(loss(x, t0))[0], want0, rtol=1e-12)
    if backend in AUTOGRAD_BACKENDS:
        if backend == "torch":
            xs, ts = (a.clone().requires_grad_() for a in (x, t0))
            grads = torch.autograd.grad(loss(xs, ts).sum(), (xs, ts))
        else:
            import jax

            grads = jax.grad(lambda a, b: loss(a, b).sum(), argnums=(0, 1))(x, t0)
        for g in grads:
            assert np.isfinite(to_numpy(g)).all()
        assert to_numpy(grads[0])[0, 1] == 0
