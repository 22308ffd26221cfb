"""Edge cases found in review, each against an independent reference: PyTorch's own op, a closed
form, or finite differences. Each of these failed before its fix."""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import autograd_grads, to_backend, to_numpy

torch = pytest.importorskip("torch")


def _grad(backend, fn, x):
    """d sum(fn(x)) / dx on ``backend`` (float64 on torch, float32 on JAX)."""
    if backend == "torch":
        t = torch.as_tensor(x, dtype=torch.float64).requires_grad_(True)
        (g,) = torch.autograd.grad(fn(t).sum(), t)
        return g.numpy()
    jax = pytest.importorskip("jax")
    return np.asarray(jax.grad(lambda v: fn(v).sum())(to_backend(np.asarray(x), "jax", "float32")))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_log_cosh_derivative_is_tanh_also_at_the_branch_point(backend):
    """d/dp log cosh(p - y) = tanh(p - y); at |p - y| = 1 exactly, min(|d|, 1) split it in half."""
    pred = np.array([[1.0, -1.0, 0.999, 3.0, 0.0]])

    def loss(p):
        return losskit.LogCoshLoss()(p, p * 0)

    np.testing.assert_allclose(_grad(backend, loss, pred), np.tanh(pred) / pred.shape[1], rtol=1e-5)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("alpha", [None, 0.25, [0.2, 0.3, 0.5]])
def test_softmax_focal_with_a_masked_class_has_finite_gradients(backend, alpha):
    """A class masked with a logit of -inf (probability 0) is no target: the loss is the focal loss
    over the other classes, and its gradient is finite (0 for the masked class), as for cross-entropy."""
    x = np.array([[2.0, 0.5, -np.inf], [0.0, 1.0, -np.inf]])
    y = np.array([0, 1])
    gamma = 2.0
    # closed form over the two unmasked classes
    z = x[:, :2]
    p = np.exp(z - np.log(np.exp(z).sum(1, keepdims=True)))
    p_t = p[np.arange(2), y]
    a_t = 1.0 if alpha is None else (alpha if isinstance(alpha, float) else np.asarray(alpha)[y])
    want = -a_t * (1 - p_t) ** gamma * np.log(p_t)

    def loss(v):
        a = alpha
        if isinstance(alpha, list):  # one weight per class of v (the first two without the masked one)
            a = to_backend(np.asarray(alpha[: v.shape[1]]), backend, "float32")
        return losskit.SoftmaxFocalLoss(gamma=gamma, alpha=a)(v, to_backend(y, backend))

    if backend == "torch":
        got = loss(torch.as_tensor(x))
    else:
        got = loss(to_backend(x, "jax", "float32"))
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5)
    grad = _grad(backend, loss, x)
    assert np.isfinite(grad).all(), grad
    np.testing.assert_array_equal(grad[:, 2], 0.0)
    # the unmasked columns: the gradient of the same loss without the masked class
    unmasked = _grad(backend, loss, z)
    np.testing.assert_allclose(grad[:, :2], unmasked, rtol=1e-5, atol=1e-7)


# T: frames per sequence; labels padded with -1. Rows: infeasible "a a a" in 3 frames (needs 5),
# no frame with a label, no frame and no label (probability 1), "b b" in 3 frames, "b c b" in 4.
CTC_LABEL = np.array([[0, 0, 0], [1, 2, -1], [0, -1, -1], [1, 1, -1], [1, 2, 1]])
CTC_PRED_LENGTHS = np.array([3, 0, 0, 3, 4])
CTC_LABEL_LENGTHS = np.array([3, 2, 0, 2, 3])


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("path", ["auto", "generic"])
def test_ctc_zero_length_inputs_and_infeasible_labels_as_torch(backend, path):
    """torch.nn.functional.ctc_loss: +inf where no alignment exists (also on optax's path, whose
    log(0) is -1e5), 0 for an empty label in no frames, +inf for a label in no frames."""
    if backend == "jax":
        pytest.importorskip("jax")
    logits = np.random.default_rng(0).normal(size=(4, 5, 4))
    blank = logits.shape[-1] - 1
    want = torch.nn.functional.ctc_loss(
        torch.log_softmax(torch.as_tensor(logits), -1),
        torch.as_tensor(np.where(CTC_LABEL < 0, 0, CTC_LABEL)),
        torch.as_tensor(CTC_PRED_LENGTHS),
        torch.as_tensor(CTC_LABEL_LENGTHS),
        blank=blank,
        reduction="none",
    ).numpy()
    assert np.isinf(want[[0, 1]]).all() and want[2] == 0 and np.isfinite(want[3:]).all()
    dtype = "float64" if backend != "jax" else "float32"
    got = F.ctc_loss(
        to_backend(logits, backend, dtype),
        to_backend(CTC_LABEL, backend),
        to_backend(CTC_PRED_LENGTHS, backend),
        to_backend(CTC_LABEL_LENGTHS, backend),
        layout="TNC",
        backend=path,
    )
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("path", ["auto", "generic"])
def test_ctc_zero_infinity_as_torch(backend, path):
    """zero_infinity=True: torch's ctc_loss option, values and gradients (the infeasible rows and
    the label in no frames are 0 with a zero gradient; the others unchanged)."""
    if backend == "jax":
        pytest.importorskip("jax")
    logits = np.random.default_rng(0).normal(size=(4, 5, 4))
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.ctc_loss(
        torch.log_softmax(lt, -1),
        torch.as_tensor(np.where(CTC_LABEL < 0, 0, CTC_LABEL)),
        torch.as_tensor(CTC_PRED_LENGTHS),
        torch.as_tensor(CTC_LABEL_LENGTHS),
        blank=logits.shape[-1] - 1,
        reduction="none",
        zero_infinity=True,
    )
    upstream = np.arange(1.0, 6.0)
    (want_grad,) = torch.autograd.grad((ref * torch.as_tensor(upstream)).sum(), lt)
    assert (ref[[0, 1]] == 0).all() and torch.isfinite(ref).all()
    dtype = "float64" if backend != "jax" else "float32"
    args = [to_backend(a, backend) for a in (CTC_LABEL, CTC_PRED_LENGTHS, CTC_LABEL_LENGTHS)]
    loss = losskit.CTCLoss(layout="TNC", zero_infinity=True)

    def f(x):
        return F.ctc_loss(x, *args, layout="TNC", zero_infinity=True, backend=path)

    x = to_backend(logits, backend, dtype)
    np.testing.assert_allclose(to_numpy(f(x)), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    if path == "auto":
        np.testing.assert_allclose(to_numpy(loss(x, *args)), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    if backend == "torch":
        x = x.clone().requires_grad_()
        (grad,) = torch.autograd.grad((f(x) * torch.as_tensor(upstream)).sum(), x)
    elif backend == "jax":
        import jax

        grad = jax.grad(lambda x: (f(x) * upstream.astype(np.float32)).sum())(x)
    else:
        return
    np.testing.assert_allclose(to_numpy(grad), want_grad.numpy(), rtol=1e-4, atol=1e-5)


def test_fused_linear_cross_entropy_on_an_empty_batch():
    from losskit.fused import linear_cross_entropy

    h, w, y = np.zeros((0, 3)), np.ones((5, 3)), np.zeros((0,), dtype=np.int64)
    assert linear_cross_entropy(h, w, y, reduction="none").shape == (0,)
    for reduction in ("mean", "sum"):
        got = linear_cross_entropy(h, w, y, reduction=reduction)
        want = linear_cross_entropy(torch.as_tensor(h), torch.as_tensor(w), torch.as_tensor(y), reduction=reduction)
        assert float(got) == float(want) == 0.0


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_float_labels_are_a_value_error(bad):
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="non-finite"):
        losskit.SoftmaxCELoss()(x, np.array([0.0, bad]))


# --------------------------------------------------------------------------------------------
# Found in the review of 2026-11-29; each of these failed before its fix.

GENERIC_BACKENDS = [b for b in ("numpy", "torch", "jax", "strict") if b in __import__("backends").BACKENDS]


@pytest.mark.parametrize("backend", GENERIC_BACKENDS)
def test_softmax_of_logits_far_from_zero_stays_normalised(backend):
    """float32 logits near 1e7 (ulp 1): log_softmax as x - (m + log_sum) lost all of log_sum.
    Closed forms: two equal logits give probability 1/2 each; torch's cross_entropy agrees."""
    from losskit import _fast
    from losskit._array import log_softmax

    x = to_backend(np.full((2, 2), 1e7), backend, "float32")
    y = to_backend(np.array([0, 1]), backend)
    xp = __import__("array_api_compat").array_namespace(x)
    np.testing.assert_allclose(to_numpy(log_softmax(xp, x, axis=1)), np.full((2, 2), -math.log(2)), rtol=1e-6)
    with _fast.disabled():
        np.testing.assert_allclose(to_numpy(losskit.SoftmaxCELoss()(x, y)), [math.log(2)] * 2, rtol=1e-6)
        # label smoothing and dense labels take the log-probabilities
        soft = to_backend(np.full((2, 2), 0.5), backend, "float32")
        np.testing.assert_allclose(
            to_numpy(losskit.SoftmaxCELoss(sparse_label=False)(x, soft)), [math.log(2)] * 2, rtol=1e-6
        )
        np.testing.assert_allclose(
            to_numpy(losskit.SoftmaxCELoss(label_smoothing=0.2)(x, y)), [math.log(2)] * 2, rtol=1e-6
        )
    ref = torch.nn.functional.cross_entropy(torch.full((2, 2), 1e7), torch.tensor([0, 1]), reduction="none")
    np.testing.assert_allclose(ref.numpy(), [math.log(2)] * 2, rtol=1e-6)


def test_sdml_in_float32_with_large_distances_matches_float64():
    """SDML's softmax over negative squared distances (~2.5e7): in float32 it gave -0.61, a
    negative KL divergence; MXNet 1.9.1 gives 0.0823 there, as float64 does."""
    x1 = np.array([[5000.0, 0, 0], [5000.0, 0, 0]])
    x2 = np.array([[0, 1.0, 0], [0, -1.0, 0]])
    want = losskit.SDMLLoss()(x1, x2)
    got = losskit.SDMLLoss()(x1.astype(np.float32), x2.astype(np.float32))
    assert (got >= 0).all()
    np.testing.assert_allclose(got, want, rtol=1e-4)


@pytest.mark.parametrize("backend", GENERIC_BACKENDS)
def test_info_nce_with_a_tiny_temperature_keeps_the_log_sum(backend):
    """Every pair equally similar: each row's loss is log(n) exactly, for any temperature. With
    T = 1e-7 the float32 logits are 1e7 (ulp 1), where logsumexp - positive rounded log 6 to 2."""
    x = to_backend(np.ones((6, 3)), backend, "float32")
    out = losskit.InfoNCELoss(temperature=1e-7)(x, x)
    np.testing.assert_allclose(to_numpy(out), [math.log(6)] * 6, rtol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_sigmoid_focal_label_gradient_at_hard_labels(backend):
    """The loss is smooth in the label at 0 and 1; its log-space 1 - p_t had no label gradient
    there (log 0). Reference: torchvision's formula, differentiated by torch."""
    x = np.array([[0.5, -1.0, 2.0, 0.5, 3.0, -2.0]])
    z = np.array([[0.0, 1.0, 0.0, 1.0, 0.3, 1.0]])

    def torchvision(z_t):
        x_t = torch.as_tensor(x)
        p = torch.sigmoid(x_t)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(x_t, z_t, reduction="none")
        p_t = p * z_t + (1 - p) * (1 - z_t)
        return ((0.25 * z_t + 0.75 * (1 - z_t)) * ce * (1 - p_t) ** 2).mean(1)

    z_t = torch.as_tensor(z).requires_grad_()
    (want,) = torch.autograd.grad(torchvision(z_t).sum(), z_t)
    if backend == "torch":
        z_l = torch.as_tensor(z).requires_grad_()
        (got,) = torch.autograd.grad(losskit.SigmoidFocalLoss()(torch.as_tensor(x), z_l).sum(), z_l)
    else:
        jax = pytest.importorskip("jax")
        got = jax.grad(lambda v: losskit.SigmoidFocalLoss()(to_backend(x, "jax", "float64"), v).sum())(
            to_backend(z, "jax", "float64")
        )
    np.testing.assert_allclose(to_numpy(got), want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("x", [1e4, -1e4, 120.0, 0.0])
def test_sigmoid_focal_stays_finite_where_one_minus_p_t_underflows(x):
    """For x = 1e4 and label 1, 1 - p_t = sigmoid(-x) underflows to 0: the floor keeps the log
    finite; loss and gradients are finite (0 there), in float32."""
    for gamma in (0.5, 2.0):
        xt = torch.tensor([[x, -x]], requires_grad=True)
        zt = torch.tensor([[1.0, 0.0]], requires_grad=True)
        out = losskit.SigmoidFocalLoss(gamma=gamma)(xt, zt)
        gx, gz = torch.autograd.grad(out.sum(), (xt, zt))
        assert torch.isfinite(out).all() and torch.isfinite(gx).all() and torch.isfinite(gz).all()


def test_ctc_label_no_alignment_can_produce_has_zero_gradient_on_torch():
    """'a a' needs 3 frames; with 2 its loss is +inf on every path, and its gradient is 0 as on
    the generic path and JAX (torch's ctc_loss gave NaN, which one such row spreads to a model)."""
    p = torch.zeros(2, 2, 3, dtype=torch.float64, requires_grad=True)
    label = torch.tensor([[0, 0], [0, 1]])
    for backend in ("auto", "generic"):
        out = F.ctc_loss(p, label, backend=backend)
        assert math.isinf(out[0].item()) and math.isfinite(out[1].item())
        (g_all,) = torch.autograd.grad(out.sum(), p)  # a batch with the infeasible row in it
        (g_one,) = torch.autograd.grad(F.ctc_loss(p, label, backend=backend)[1], p)
        assert (g_all[0] == 0).all()
        torch.testing.assert_close(g_all, g_one)


@pytest.mark.parametrize("backend", GENERIC_BACKENDS)
def test_ctc_with_no_frames_or_no_sequences(backend):
    """T = 0: the empty label has probability 1 (loss 0), any other 0 (+inf); N = 0: an empty
    result. torch's kernel refuses both; every backend agrees now."""
    pred = to_backend(np.zeros((2, 0, 3)), backend, "float32")
    out = losskit.CTCLoss()(pred, to_backend(np.array([[0], [-1]]), backend))
    np.testing.assert_array_equal(to_numpy(out), [np.inf, 0.0])
    empty = losskit.CTCLoss()(
        to_backend(np.zeros((0, 3, 3)), backend, "float32"), to_backend(np.zeros((0, 2), dtype=np.int64), backend)
    )
    assert tuple(empty.shape) == (0,)


@pytest.mark.parametrize("backend", GENERIC_BACKENDS)
def test_info_nce_empty_batch_is_an_empty_result(backend):
    out = losskit.InfoNCELoss()(
        to_backend(np.zeros((0, 3)), backend, "float32"), to_backend(np.zeros((0, 3)), backend, "float32")
    )
    assert tuple(out.shape) == (0,)
    with pytest.raises(ValueError, match=r"at least one feature.*\(3, 0\)"):
        losskit.InfoNCELoss()(
            to_backend(np.zeros((3, 0)), backend, "float32"), to_backend(np.zeros((3, 0)), backend, "float32")
        )


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_numpy_scalar_weights_serve_any_library(backend):
    """np.float32(2) is a number, as 2.0 is: it used to be taken for a NumPy array (np.float64,
    a float subclass, passed)."""
    x = to_backend(np.ones((2, 3)), backend, "float32")
    y = to_backend(np.zeros((2, 3)), backend, "float32")
    for w in (np.float32(2), np.int64(2), np.float64(2)):
        np.testing.assert_allclose(to_numpy(losskit.L1Loss()(x, y, w)), [2.0, 2.0])
        np.testing.assert_allclose(
            to_numpy(losskit.GaussianNLLLoss()(x, y, w)), [0.5 * (math.log(2) + 0.5)] * 2, rtol=1e-6
        )


@pytest.mark.parametrize("backend", GENERIC_BACKENDS)
def test_ctc_with_label_lengths_reads_only_within_them(backend):
    """Given label_lengths, a -1 within a length was read as class 0 (silently another label);
    it is refused now. Values past a length are never read, as torch's ctc_loss ignores them."""
    pred = to_backend(np.random.default_rng(0).normal(size=(2, 5, 4)), backend, "float64")
    lengths = to_backend(np.array([2, 2]), backend)
    padded = losskit.CTCLoss()(pred, to_backend(np.array([[0, 1, -1], [1, 2, -1]]), backend))
    junk_past = losskit.CTCLoss()(pred, to_backend(np.array([[0, 1, 9], [1, 2, -7]]), backend), None, lengths)
    np.testing.assert_allclose(to_numpy(junk_past), to_numpy(padded), rtol=1e-12)
    with pytest.raises(
        ValueError, match=r"labels within label_lengths .* in \[-1, 2\], outside the valid range \[0, 2\]"
    ):
        losskit.CTCLoss()(
            pred, to_backend(np.array([[0, -1, 1], [1, 2, -1]]), backend), None, to_backend(np.array([3, 2]), backend)
        )


def test_a_margin_may_be_a_0d_array_traced_or_learnt():
    """Margins, Huber's rho and Poisson's epsilon took 0-d arrays before their checks existed (a
    margin swept by jax.vmap, one learnt as a tensor): they still do, unchecked, and the gradient
    reaches them. Closed forms: d/dm sum max(0, m - x z) / D = (number of active terms) / D."""
    x = torch.tensor([[0.5, 2.0, -1.0]], dtype=torch.float64)
    z = torch.ones_like(x)
    m = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    out = F.hinge_loss(x, z, margin=m)
    torch.testing.assert_close(out, F.hinge_loss(x, z, margin=1.5))
    (gm,) = torch.autograd.grad(out.sum(), m)
    assert gm.item() == pytest.approx(2 / 3)  # 0.5 and -1 are inside the margin, 2.0 is not
    rho = torch.tensor(0.5, dtype=torch.float64)
    torch.testing.assert_close(losskit.HuberLoss(rho=rho)(x, z), losskit.HuberLoss(rho=0.5)(x, z))
    eps = torch.tensor(1e-3, dtype=torch.float64)
    torch.testing.assert_close(
        F.poisson_nll_loss(x.abs(), z, epsilon=eps, from_logits=False),
        F.poisson_nll_loss(x.abs(), z, epsilon=1e-3, from_logits=False),
    )
    with pytest.raises(ValueError, match=r"margin must be a number or a 0-d array, got an array of shape \(3,\)"):
        F.hinge_loss(x, z, margin=torch.ones(3))
    jax = pytest.importorskip("jax")
    xj, zj = to_backend(x.numpy(), "jax", "float64"), to_backend(z.numpy(), "jax", "float64")
    swept = jax.vmap(lambda m: F.triplet_loss(xj, zj, -zj, margin=m))(jax.numpy.array([0.0, 1.0, 2.0]))
    for i, margin in enumerate((0.0, 1.0, 2.0)):
        np.testing.assert_allclose(np.asarray(swept[i]), np.asarray(F.triplet_loss(xj, zj, -zj, margin=margin)))
    jitted = jax.jit(lambda m: F.cosine_embedding_loss(xj, zj, jax.numpy.array([-1]), margin=m))
    np.testing.assert_allclose(
        np.asarray(jitted(0.1)), np.asarray(F.cosine_embedding_loss(xj, zj, jax.numpy.array([-1]), margin=0.1))
    )


@pytest.mark.parametrize("loss", [losskit.DiceLoss(), losskit.TverskyLoss(alpha=0.3, beta=0.7)])
def test_segmentation_masks_must_have_pred_shape(loss):
    """A channels-last mask of a channels-first pred has as many elements: Gluon's reshape rule
    scrambled it silently (these losses are not Gluon's). A single class may drop its axis."""
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(2, 3, 4, 5))
    mask = np.eye(3)[rng.integers(0, 3, (2, 4, 5))]  # (2, 4, 5, 3): channels-last one-hot
    with pytest.raises(ValueError, match=r"label shape \(2, 4, 5, 3\) does not match pred shape \(2, 3, 4, 5\)"):
        loss(pred, mask)
    loss_last = type(loss)(**({} if isinstance(loss, losskit.DiceLoss) else {"alpha": 0.3, "beta": 0.7}), axis=-1)
    np.testing.assert_allclose(loss_last(np.moveaxis(pred, 1, -1), mask), loss(pred, np.moveaxis(mask, -1, 1)))
    binary = pred[:, :1]
    np.testing.assert_allclose(loss(binary, mask[..., 0]), loss(binary, mask[..., 0][:, None]))


def test_kl_div_zero_target_closed_form_value_and_gradients():
    """KLDivLoss with a target holding zeros (a one-hot, say): each term t (log t - log q) is 0
    at t = 0, and the gradient w.r.t. t is log t + 1 - log q where t > 0 and -log q at t = 0 (the
    limit of the first term's derivative is read as 0 there), finite; w.r.t. log q it is -t.
    Summed over the classes, as Gluon 1.9.1. Closed form, on torch (the generic path: the target
    needs a gradient) and on JAX."""
    logq = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]))
    t = np.array([[1.0, 0.0, 0.0], [0.0, 0.25, 0.75]])
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(t > 0, t * (np.log(t) - logq), 0.0).sum(1)
        want_dt = np.where(t > 0, np.log(t) + 1 - logq, -logq)
    torch = pytest.importorskip("torch")
    x = torch.tensor(logq, requires_grad=True)
    y = torch.tensor(t, requires_grad=True)
    out = losskit.KLDivLoss()(x, y)
    g_x, g_y = torch.autograd.grad(out.sum(), (x, y))
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(g_y.numpy(), want_dt, rtol=1e-12)
    np.testing.assert_allclose(g_x.numpy(), -t, rtol=1e-12)
    jax = pytest.importorskip("jax")
    j_grad = jax.grad(lambda a, b: losskit.KLDivLoss()(a, b).sum(), (0, 1))(
        to_backend(logq, "jax"), to_backend(t, "jax")
    )
    np.testing.assert_allclose(np.asarray(j_grad[1]), want_dt, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(j_grad[0]), -t, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("from_logits", [True, False])
def test_kl_div_negative_target_is_nan_on_every_backend(backend, from_logits):
    """A negative label is no probability: its term t (log t - log q) is NaN, as torch's kl_div
    and MXNet 1.9.1 give (NumPy and JAX read log t as 0 there and returned a finite 0.25 while
    torch gave NaN); the rows without one keep their value, and a label of 0 its term of 0. Not
    refused: a value check would cost KL's torch path a pass over the labels per call."""
    pytest.importorskip(backend)
    pred = np.array([[0.2, -0.4, 0.1], [0.5, 0.3, -1.0]])
    label = np.array([[0.5, -0.25, 0.75], [0.0, 0.4, 0.6]])
    loss = losskit.KLDivLoss(from_logits=from_logits)
    if backend == "numpy":  # NumPy says what it met, as for any log of a negative number
        with pytest.warns(RuntimeWarning, match="invalid value encountered in log"):
            out = loss(pred, label)
    elif backend == "torch":  # torch's kl_div, and the generic path (a label that needs a gradient)
        out = to_numpy(loss(to_backend(pred, backend), to_backend(label, backend)))
        generic = loss(to_backend(pred, backend), to_backend(label, backend).requires_grad_(True))
        np.testing.assert_array_equal(to_numpy(generic.detach()), out)
    else:
        out = to_numpy(loss(to_backend(pred, backend), to_backend(label, backend)))
    logq = pred if from_logits else pred - np.log(np.exp(pred).sum(1, keepdims=True))
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1], (label[1, 1:] * (np.log(label[1, 1:]) - logq[1, 1:])).sum(), rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_cosine_embedding_label_0_leaves_the_pair_out(backend):
    """Label 0 adds 0 (a pair left out, as in torch and MXNet), whatever its cosine: neither the
    similar pairs' 1 - cos nor the dissimilar pairs' hinge; compared with torch's own loss, with
    pairs on both sides of the margin."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    b[:4] = a[:4] + 0.1 * b[:4]  # cosines near 1: above the margin
    label = np.array([0, -1, 1, 0, 0, -1, 1, 0])
    want = torch.nn.functional.cosine_embedding_loss(
        *(torch.as_tensor(v) for v in (a, b, label)), margin=0.1, reduction="none"
    ).numpy()
    assert (want[label == 0] == 0).all() and (want[label != 0] > 0).any()
    got = losskit.CosineEmbeddingLoss(margin=0.1)(*(to_backend(v, backend) for v in (a, b, label)))
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_cosine_embedding_mixed_float_dtypes_compute_in_the_wider(backend):
    """A float64 input1 beside a float32 input2 is not rounded to float32 (it was: Gluon's
    reshape_like cast input1 to input2's dtype): the loss equals the float64 computation and comes
    back in float64, as torch's cosine_embedding_loss (and in input2's dtype when they agree)."""
    rng = np.random.default_rng(5)
    a64 = rng.normal(size=(4, 6)) * (1 + 1e-9)  # digits float32 cannot hold
    b = rng.normal(size=(4, 6)).astype(np.float32)
    label = np.array([1.0, -1.0, 1.0, -1.0])
    want = losskit.CosineEmbeddingLoss()(a64, b.astype(np.float64), label)
    got = losskit.CosineEmbeddingLoss()(
        to_backend(a64, backend, "float64"), to_backend(b, backend, "float32"), to_backend(label, backend)
    )
    assert str(got.dtype).endswith("float64")
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-13)
    if backend == "torch":
        import torch

        ref = torch.nn.functional.cosine_embedding_loss(
            torch.as_tensor(a64), torch.as_tensor(b), torch.as_tensor(label), reduction="none"
        )
        assert ref.dtype == got.dtype
        # torch sums |input2|^2 in input2's float32 before promoting: equal to float32 rounding
        np.testing.assert_allclose(to_numpy(got), ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("backend", GENERIC_BACKENDS)
def test_uint8_labels_with_an_ignore_index_they_cannot_hold(backend):
    """-100 or 1000 against uint8 labels match none of them (the standard leaves comparing an
    out-of-range Python int undefined: array_api_strict raised OverflowError); 255 is ignored."""
    x = np.random.default_rng(0).normal(size=(4, 3))
    want = F.softmax_cross_entropy(x[:3], np.array([0, 1, 2]), reduction="sum")
    for ignore, labels in ((-100, [0, 1, 2]), (1000, [0, 1, 2]), (255, [0, 1, 2, 255])):
        pred = to_backend(x[: len(labels)], backend, "float64")
        y = to_backend(np.array(labels, np.uint8), backend)
        got = F.softmax_cross_entropy(pred, y, ignore_index=ignore, reduction="sum")
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, err_msg=str(ignore))


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_ctc_masked_classes_and_very_unlikely_paths_as_torch(backend):
    """A class masked with -inf logits, and the only path being exp(-2e5) likely: on JAX, optax
    gave NaN (loss and gradient) for the first and clamped the second at its log(0) of -1e5
    (a loss of 99999 for torch's 199994); every backend now gives torch's values."""
    if backend == "jax":
        pytest.importorskip("jax")
    masked = np.random.default_rng(0).normal(size=(2, 5, 4)).astype(np.float32)
    masked[0, :, 1] = -np.inf  # row 0 needs class 1: impossible
    unlikely = np.zeros((1, 30, 3), np.float32)
    unlikely[0, :, 2] = 1e5  # the blank outweighs the labels by 1e5 in every frame
    for x, y in ((masked, np.array([[1, 2], [0, 2]])), (unlikely, np.array([[0, 1]]))):
        (n, t, c), s = x.shape, y.shape[1]
        want = torch.nn.functional.ctc_loss(  # torch's own op (NTC logits -> TNC log-probabilities)
            torch.log_softmax(torch.tensor(x, dtype=torch.float64), -1).transpose(0, 1),
            torch.tensor(y),
            torch.full((n,), t),
            torch.full((n,), s),
            blank=c - 1,
            reduction="none",
        ).numpy()
        assert np.isinf(want).any() if x is masked else np.all(want > 1.9e5)
        for zero_infinity in (False, True):
            f = lambda a, y=y, z=zero_infinity: F.ctc_loss(a, to_backend(y, backend), zero_infinity=z)  # noqa: E731
            got = to_numpy(f(to_backend(x, backend)))
            np.testing.assert_allclose(got, np.where(np.isinf(want) & zero_infinity, 0, want), rtol=1e-6)
            if backend == "jax":
                import jax

                assert np.isfinite(np.asarray(jax.grad(lambda a, f=f: f(a).sum())(to_backend(x, backend)))).all()


def _ctc_fast_and_generic(x, y, backend, dtype):
    """CTC's (value, gradient) by the backend's path and by the generic one, as NumPy arrays."""
    results = []
    for path in ("auto", "generic"):
        f = lambda a, path=path: F.ctc_loss(a, to_backend(y, backend), backend=path)  # noqa: E731
        a = to_backend(x, backend, dtype)
        results.append((to_numpy(f(a)), autograd_grads(f, [a], (0,), backend)[0]))
    return results


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_ctc_gradient_with_a_masked_class_is_the_generic_paths(backend):
    """A class masked with -inf logits in every frame: the fast paths' values and gradients are
    the generic path's, finite (0 at the masked class) for labels that avoid it, +inf with no
    gradient for the label that needs it. torch's kernel gave NaN for every logit of such a
    sequence (its backward reads exp(-inf - -inf))."""
    if backend == "jax":
        pytest.importorskip("optax")
    x = np.random.default_rng(1).normal(size=(4, 6, 5))
    x[:, :, 2] = -np.inf
    x[1, 0, 3] = -np.inf  # and one more, in one frame only
    y = np.array([[0, 1], [1, 0], [3, 3], [2, 0]])
    (value, grad), (generic_value, generic_grad) = _ctc_fast_and_generic(x, y, backend, "float64")
    assert np.isfinite(grad).all() and np.isfinite(value[:3]).all() and value[3] == np.inf
    np.testing.assert_allclose(value, generic_value, rtol=1e-12)
    np.testing.assert_allclose(grad, generic_grad, rtol=1e-9, atol=1e-12)
    assert (grad[:, :, 2] == 0).all() and (grad[3] == 0).all()


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_ctc_gradient_at_logits_of_exactly_the_floor_is_the_generic_paths(backend):
    """Logits equal to the -1e30 floor itself (a whole frame, and single classes): the fast paths'
    gradient is the generic path's, whole (the JAX path's maximum split it in half at the tie)."""
    if backend == "jax":
        pytest.importorskip("optax")
    x = np.random.default_rng(2).normal(size=(4, 6, 5))
    x[0, 2, :] = -1e30  # a whole frame at the floor
    x[1, :, 2] = -1e30  # one class at the floor in every frame
    y = np.array([[0, 1], [1, 0], [3, 3], [2, 0]])
    (value, grad), (generic_value, generic_grad) = _ctc_fast_and_generic(x, y, backend, "float32")
    np.testing.assert_allclose(value, generic_value, rtol=1e-5)
    np.testing.assert_allclose(grad, generic_grad, rtol=1e-4, atol=1e-6)
    assert np.abs(grad[0, 2]).max() > 0.1  # the frame at the floor does get a gradient


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_ctc_labels_ending_in_class_0_at_the_fewest_frames_they_need(backend):
    """Labels whose last class is 0, padded with -1 (read as class 0 past the length), each given
    exactly as many frames as it needs (one more per repeated neighbour) or one fewer: equal to
    torch.nn.functional.ctc_loss, and the padding is no repeat (the JAX path decides feasibility
    from the labels and lengths itself)."""
    torch = pytest.importorskip("torch")
    if backend == "jax":
        pytest.importorskip("optax")
    x = np.random.default_rng(3).normal(size=(5, 5, 4))  # (N, T, C), blank 3
    y = np.array([[1, 0, -1, -1], [0, 0, -1, -1], [0, 0, -1, -1], [2, 0, 0, -1], [1, 0, -1, -1]])
    label_lengths = np.array([2, 2, 2, 3, 2])
    pred_lengths = np.array([2, 3, 2, 4, 1])  # rows 2 and 4: one frame fewer than they need
    want = torch.nn.functional.ctc_loss(
        torch.log_softmax(torch.as_tensor(x).transpose(0, 1), -1),
        torch.as_tensor(np.maximum(y, 0)),
        torch.as_tensor(pred_lengths),
        torch.as_tensor(label_lengths),
        blank=3,
        reduction="none",
    ).numpy()
    assert np.isinf(want[[2, 4]]).all() and np.isfinite(want[[0, 1, 3]]).all()
    args = (to_backend(x, backend), to_backend(y, backend), to_backend(pred_lengths, backend))
    got = to_numpy(F.ctc_loss(*args, to_backend(label_lengths, backend)))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_ctc_on_torch_floors_minus_inf_where_it_cannot_read_the_logits(monkeypatch):
    """Off the CPU and under torch.compile the logits are not read first: the floor is always
    applied there, and changes nothing for logits without -inf (values and gradients equal the
    unfloored path's); compiled with a masked class, the gradient is the eager one, finite."""
    torch = pytest.importorskip("torch")
    from losskit import _array, _fast

    x = torch.as_tensor(np.random.default_rng(2).normal(size=(3, 6, 5)), dtype=torch.float64)
    y = torch.tensor([[0, 1], [1, 2], [3, 3]])

    def value_and_grad(a):
        a = a.clone().requires_grad_()
        loss = F.ctc_loss(a, y)
        return loss.detach(), torch.autograd.grad(loss.sum(), a)[0]

    want = value_and_grad(x)
    monkeypatch.setattr(_array, "_reads_are_free", lambda a: False)  # as on a GPU: no read, the floor
    assert not _fast.holds_no_neg_inf(x)
    torch.testing.assert_close(value_and_grad(x), want, rtol=1e-12, atol=1e-12)
    monkeypatch.undo()
    masked = x.clone()
    masked[:, :, 2] = -math.inf
    eager = value_and_grad(masked)
    compiled = torch.compile(lambda a: F.ctc_loss(a, y), fullgraph=True, backend="aot_eager")
    a = masked.clone().requires_grad_()
    loss = compiled(a)
    grad = torch.autograd.grad(loss.sum(), a)[0]
    assert torch.isfinite(grad).all()
    torch.testing.assert_close((loss.detach(), grad), eager, rtol=1e-10, atol=1e-12)


def test_ctc_on_torch_does_not_keep_the_logits():
    """The -inf floor saves a mask for the backward, not the logits: logits nothing else holds (a
    layer's output) are freed after the forward pass, as before the floor (clamp_min kept them)."""
    import gc
    import weakref

    torch = pytest.importorskip("torch")
    h, w = torch.randn(3, 6, 4, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    logits = h @ w
    seen = weakref.ref(logits)
    loss = F.ctc_loss(logits, torch.tensor([[0, 1], [1, 2], [3, 3]]))
    del logits
    gc.collect()
    assert seen() is None
    loss.sum().backward()
    assert torch.isfinite(w.grad).all()


@pytest.mark.parametrize("backend", GENERIC_BACKENDS)
def test_xlogx_keeps_nan_and_is_zero_at_zero(backend):
    """x log x: 0 at 0 (the limit), NaN kept (it was mapped to 0 off torch), x log x elsewhere."""
    from losskit._array import namespace, xlogx

    x = to_backend(np.array([0.0, np.nan, 0.5, 2.0]), backend, "float64")
    got = to_numpy(xlogx(namespace(x), x))
    np.testing.assert_array_equal(np.isnan(got), [False, True, False, False])
    np.testing.assert_allclose(got[[0, 2, 3]], [0.0, 0.5 * np.log(0.5), 2 * np.log(2.0)], rtol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_cosine_embedding_of_n_t_d_inputs_averages_each_examples_pairs(backend):
    """(N, T, D) inputs: a cosine per pair, as Gluon 1.9.1 (which returned the N*T pairs' losses
    flattened to (N*T, 1)); losskit averages each example's T pairs (every loss averages its
    non-batch axes), and takes (N, T) labels and sample weights. Against the formula, written out."""
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    y = np.array([[1, -1, 1], [-1, -1, 1]])
    sw = rng.uniform(0.5, 2.0, size=(2, 3))
    cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    per_pair = np.where(y == 1, 1 - cos, np.maximum(cos - 0.25, 0))
    args = [to_backend(v, backend, "float64") for v in (a, b)] + [to_backend(y, backend)]
    got = losskit.CosineEmbeddingLoss(margin=0.25)(*args, to_backend(sw, backend, "float64"))
    np.testing.assert_allclose(to_numpy(got), (per_pair * sw).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(losskit.CosineEmbeddingLoss(margin=0.25)(*args)), per_pair.mean(1), rtol=1e-12)


_PAIRED = {  # loss, the inputs (float32 first, float64 peers), as called
    "TripletLoss": lambda r: (r.normal(size=(4, 6)).astype(np.float32), r.normal(size=(4, 6)), r.normal(size=(4, 6))),
    "MarginRankingLoss": lambda r: (
        r.normal(size=(4, 3)).astype(np.float32),
        r.normal(size=(4, 3)),
        r.choice([-1.0, 1.0], size=(4, 3)),
    ),
    "InfoNCELoss": lambda r: (r.normal(size=(4, 6)).astype(np.float32), r.normal(size=(4, 6))),
    "SDMLLoss": lambda r: (r.normal(size=(4, 6)).astype(np.float32), r.normal(size=(4, 6))),
}


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("name", sorted(_PAIRED))
def test_paired_inputs_of_two_float_dtypes_compute_in_the_wider(name, backend):
    """A float64 input beside a float32 one is not rounded to float32 (the second input was cast
    to the first's dtype): the result is the float64 computation, in float64, as torch promotes."""
    raw = _PAIRED[name](np.random.default_rng(9))
    raw = [raw[0] * np.float32(1 + 2**-20), *raw[1:]]  # a float32 value float64 peers would round differently
    loss = getattr(losskit, name)()
    want = loss(*[x.astype(np.float64) for x in raw])
    args = [to_backend(x, backend, str(x.dtype)) for x in raw]
    got = loss(*args)
    assert str(got.dtype).endswith("float64"), got.dtype
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)
    same = loss(*[to_backend(x, backend, "float32") for x in raw])
    assert str(same.dtype).endswith("float32")


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_cosine_embedding_of_float32_vectors_whose_norm_product_passes_1e19(backend):
    """|a|^2 |b|^2 overflows float32 beyond |a| |b| ~ 1.8e19 (torch's cosine_embedding_loss then
    takes cos as 0); the cosine is scale-free, so it is the float64 closed form's, and the gradient
    finite."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(3, 64))
    b = a + 0.3 * rng.normal(size=(3, 64))
    label = np.array([1.0, 1.0, -1.0])
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    want = np.where(label > 0, 1 - cos, np.maximum(cos, 0.0))
    scale = 1e10  # |a| |b| ~ 6e21
    got = losskit.CosineEmbeddingLoss()(
        to_backend(a * scale, backend, "float32"), to_backend(b * scale, backend, "float32"), to_backend(label, backend)
    )
    assert str(got.dtype).endswith("float32")
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5, atol=1e-6)
    if backend == "torch":
        import torch

        x = torch.tensor(a * scale, dtype=torch.float32, requires_grad=True)
        loss = losskit.CosineEmbeddingLoss()(x, torch.tensor(b * scale, dtype=torch.float32), torch.tensor(label))
        (g,) = torch.autograd.grad(loss.sum(), x)
        assert torch.isfinite(g).all() and (g != 0).any()


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize(("dtype", "tiny", "huge"), [("float64", 1e-20, 1e10), ("float32", 3e-19, 1e8)])
def test_cosine_embedding_of_a_tiny_vector_beside_a_huge_one(backend, dtype, tiny, huge):
    """|a| |b| above the 1e-12 floor is the true product, however small |a| is: parallel vectors
    have cos 1 (loss 0, as MXNet 1.9.1), opposite ones -1 (a floor on each squared norm, 1e-36,
    made these 0.01 and 0.3). float32's |a|^2 = 9e-38 is kept a normal number: XLA's CPU flushes
    subnormal ones to 0."""
    a = np.array([[tiny, 0.0], [tiny, 0.0]])
    b = np.array([[huge, 0.0], [-huge, 0.0]])
    got = losskit.CosineEmbeddingLoss()(
        to_backend(a, backend, dtype), to_backend(b, backend, dtype), to_backend(np.array([1.0, -1.0]), backend)
    )
    np.testing.assert_allclose(to_numpy(got), [0.0, 0.0], atol=1e-6)
    got = losskit.CosineEmbeddingLoss()(
        to_backend(a, backend, dtype), to_backend(b, backend, dtype), to_backend(np.array([1.0, 1.0]), backend)
    )
    np.testing.assert_allclose(to_numpy(got), [0.0, 2.0], rtol=1e-6, atol=1e-6)


_CONFIDENT_BINARY = [
    ("SigmoidBCELoss", lambda x, z: losskit.SigmoidBCELoss()(x, z), 1.0),
    ("SigmoidBCELoss pos_weight=3", lambda x, z: losskit.SigmoidBCELoss()(x, z, None, 0 * x + 3.0), 3.0),
    ("LogisticLoss binary", lambda x, z: losskit.LogisticLoss(label_format="binary")(x, z), 1.0),
    ("MultiLabelSoftMarginLoss", lambda x, z: losskit.MultiLabelSoftMarginLoss()(x, z), 1.0),
    ("SigmoidFocalLoss gamma=0", lambda x, z: losskit.SigmoidFocalLoss(gamma=0.0, alpha=None)(x, z), 1.0),
]


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize(("name", "loss", "pos_weight"), _CONFIDENT_BINARY, ids=[c[0] for c in _CONFIDENT_BINARY])
def test_confident_right_binary_answers_keep_their_loss_and_gradient_in_float32(backend, name, loss, pos_weight):
    """A right answer at |x| = 17 to 40 has loss softplus(-|x|) (4e-8 to 4e-18), below float32's
    step at x: (1 - z) x + softplus(-x) rounded it to 0, and its gradient with it. The closed
    forms: loss w softplus(-|x|) (w = pos_weight for a positive), gradient -w sigmoid(-|x|) for a
    positive, sigmoid(-|x|) for a negative. NumPy and JAX (torch keeps the form of its own
    binary_cross_entropy_with_logits, with its rounding: see README, Speed)."""
    x = np.array([[-17.0, -25.0, -40.0, 17.0, 25.0, 40.0]])
    z = np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]])
    small = np.log1p(np.exp(-np.abs(x)))
    w = np.where(z == 1.0, pos_weight, 1.0)
    want = np.mean(w * small, axis=1)
    want_g = np.where(z == 1.0, -pos_weight, 1.0) * (1 / (1 + np.exp(np.abs(x)))) / x.shape[1]
    args = [to_backend(x, backend, "float32"), to_backend(z, backend, "float32")]
    np.testing.assert_allclose(to_numpy(loss(*args)), want, rtol=1e-5)
    if backend != "numpy":
        (g,) = autograd_grads(loss, args, (0,), backend)
        np.testing.assert_allclose(g, want_g, rtol=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_mape_of_large_values_in_float32(backend):
    """100 |y - p| / |y| where float32 holds the ratio but not 100 |y - p| (inf at p = 2e37,
    y = 1e37, before the ratio came first)."""
    p, y = np.array([[2e37, -3e37]]), np.array([[1e37, 1e37]])
    got = losskit.MAPELoss()(to_backend(p, backend, "float32"), to_backend(y, backend, "float32"))
    np.testing.assert_allclose(to_numpy(got), [250.0], rtol=1e-6)


@pytest.mark.parametrize(
    ("loss", "x", "z"),
    [
        (losskit.AsymmetricLoss(), [-4.0, -3.5, 0.3, 2.0], [0.0, 0.0, 0.0, 1.0]),  # sigmoid(-4) < clip: 1 - p_m floored
        (losskit.SigmoidFocalLoss(), [120.0, -95.0, 1.5, -0.5], [1.0, 0.0, 1.0, 0.0]),  # 1 - p_t underflows in float32
    ],
    ids=["AsymmetricLoss", "SigmoidFocalLoss"],
)
def test_focal_hessians_are_finite_where_the_focal_log_is_floored(loss, x, z):
    """The focusing weight's log(max(1 - p_t, tiny)): where the floor binds, log's second
    derivative at tiny (-1 / tiny^2 = -inf) met maximum's zero tangent: a NaN Hessian on JAX
    (float32; ASL's in float64 too). The Hessians of JAX and torch agree, float32 on both."""
    jax = pytest.importorskip("jax")
    xs, zs = np.array([x]), np.array([z])
    want = torch.func.hessian(lambda a: loss(a, torch.tensor(zs, dtype=torch.float32)).sum())(
        torch.tensor(xs, dtype=torch.float32)
    )
    got = jax.hessian(lambda a: loss(a, to_backend(zs, "jax", "float32")).sum())(to_backend(xs, "jax", "float32"))
    assert np.isfinite(np.asarray(got)).all()
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "loss",
    [
        losskit.MultiLabelSoftMarginLoss(),
        losskit.SigmoidFocalLoss(gamma=0.0, alpha=None),
        losskit.LogisticLoss(label_format="binary"),
    ],
    ids=repr,
)
def test_binary_losses_on_torch_round_as_torchs_kernel(loss):
    """On torch the binary losses keep the form of binary_cross_entropy_with_logits and its rounding
    (SigmoidBCELoss is that kernel), confident answers included: 2e-9 for x = 20, z = 1 (a form
    softplus(x) - x z gave 0 there, past torch softplus's threshold). The kernel's backward is
    sigmoid(x) - z, which rounds the other side: gradients agree to below float32's step at x."""
    x = torch.tensor([[-20.0, 20.0, -20.0, 20.0, 0.0, 3.0]], requires_grad=True)
    z = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0, 0.3]])
    want = losskit.SigmoidBCELoss()(x, z)
    (want_g,) = torch.autograd.grad(want.sum(), x)
    got = loss(x, z)
    (g,) = torch.autograd.grad(got.sum(), x)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0.0)
    torch.testing.assert_close(g, want_g, rtol=1e-6, atol=2.1e-9 / x.shape[1])  # e^-20, the tail itself
    probe = torch.tensor([[20.0]])
    assert loss(probe, torch.tensor([[1.0]])).item() == pytest.approx(2.0611536e-09, rel=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (losskit.InfoNCELoss(temperature=0.05), "pair"),
        lambda: (losskit.NTXentLoss(temperature=0.05), "labels"),
        lambda: (losskit.SupConLoss(temperature=0.05), "labels"),
        lambda: (losskit.CircleLoss(), "labels"),
        lambda: (losskit.TripletHardLoss(distance_metric="angular", soft=True), "labels"),
    ],
    ids=["infonce", "ntxent", "supcon", "circle", "triplet_hard_angular"],
)
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_similarities_stay_float32_under_autocast(make, compiled):
    """torch.autocast puts matmul on its bfloat16 list: these losses' float32 similarity matrices
    were computed in bfloat16 there (InfoNCE 2e-2 off at a temperature of 0.05), against the
    README's rule that half precision is computed in float32 and torch's own losses, which run in
    float32 under autocast. The loss under autocast equals the loss without it, eagerly and compiled."""
    loss, kind = make()
    g = torch.Generator().manual_seed(3)
    emb = torch.nn.functional.normalize(torch.randn(32, 64, generator=g), dim=1)
    second = torch.nn.functional.normalize(emb + 0.3 * torch.randn(32, 64, generator=g), dim=1)
    args = (emb, second) if kind == "pair" else (emb, torch.arange(32) % 8)
    fn = torch.compile(loss, backend="aot_eager", fullgraph=True) if compiled else loss
    want = loss(*args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = fn(*args)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("x_shape", "i_shape", "axis"),
    [
        ((4, 5), (4, 1), 1),
        ((4, 5), (1, 2), 1),
        ((1, 5), (3, 2), 1),
        ((0, 5), (1, 1), 1),
        ((1, 5), (0, 1), 1),
        ((2, 3, 4), (2, 1, 4), 1),
        ((2, 3, 4), (1, 2, 1), 1),
        ((3, 4), (2, 4), 0),
    ],
)
def test_take_along_axis_on_torch_broadcasts_as_numpy(x_shape, i_shape, axis):
    """losskit._array.take_along_axis gathers torch tensors with torch.gather (take_along_dim fixed
    every size in a symbolic trace), which does not broadcast: the helper expands the axes of size 1
    itself, as NumPy's take_along_axis broadcasts them (size 0 included)."""
    from losskit._array import take_along_axis

    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape)
    idx = rng.integers(0, x_shape[axis], size=i_shape)
    want = np.take_along_axis(x, idx, axis=axis)
    got = take_along_axis(None, torch.from_numpy(x), torch.from_numpy(idx), axis)
    assert tuple(got.shape) == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
