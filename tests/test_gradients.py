"""Gradients: ``torch.autograd.gradcheck`` in float64 for every loss, the same gradients from
JAX and PyTorch, and finite values and gradients at extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import to_backend, to_numpy
from cases import CASES

torch = pytest.importorskip("torch")


def _torch_inputs(case, seed=0):
    raw = case.make(np.random.default_rng(seed))
    args = [to_backend(x, "torch", "float64" if i in case.float_args else None) for i, x in enumerate(raw)]
    return args


def _with(args, positions, values):
    full = list(args)
    for i, v in zip(positions, values):
        full[i] = v
    return full


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradcheck_float64(case):
    loss = losskit.get_loss(case.loss, **case.init)
    args = _torch_inputs(case)
    leaves = [args[i].requires_grad_(True) for i in case.float_args]
    assert torch.autograd.gradcheck(lambda *xs: loss(*_with(args, case.float_args, xs)), leaves)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_returned_loss_may_be_edited_in_place_before_backward(case):
    """``loss *= mask`` before ``backward()``, as with torch's own losses: the returned array is
    none that the backward reads (relu and CTC kernels save their outputs), and the gradient is
    that of the edited loss."""
    loss = losskit.get_loss(case.loss, **case.init)

    def leaves_and_args():
        args = _torch_inputs(case)
        leaves = [args[i].requires_grad_(True) for i in case.float_args]
        return leaves, args

    leaves, args = leaves_and_args()
    out = loss(*args)
    mask = torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape) % 2  # every other value
    want = torch.autograd.grad((out * mask).sum(), leaves)
    leaves, args = leaves_and_args()
    out = loss(*args)
    out.mul_(mask)
    got = torch.autograd.grad(out.sum(), leaves)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_gradcheck_ctc_generic_path():
    case = next(c for c in CASES if c.id == "ctc")
    pred, label = _torch_inputs(case)
    pred.requires_grad_(True)
    lengths = torch.tensor([8, 5, 7, 8])
    assert torch.autograd.gradcheck(lambda p: F.ctc_loss(p, label, lengths, backend="generic"), (pred,))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_jax_and_torch_gradients_agree(case):
    jax = pytest.importorskip("jax")
    loss = losskit.get_loss(case.loss, **case.init)
    t_args = _torch_inputs(case)
    leaves = [t_args[i].requires_grad_(True) for i in case.float_args]
    t_grads = torch.autograd.grad(loss(*t_args).sum(), leaves)

    raw = case.make(np.random.default_rng(0))
    j_args = [to_backend(x, "jax", "float64" if i in case.float_args else None) for i, x in enumerate(raw)]

    def total(*xs):
        return loss(*_with(j_args, case.float_args, xs)).sum()

    j_grads = jax.grad(total, argnums=tuple(range(len(case.float_args))))(*[j_args[i] for i in case.float_args])
    for t, j in zip(t_grads, j_grads):
        np.testing.assert_allclose(to_numpy(j), to_numpy(t), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_ctc_fast_path_equals_generic(backend):
    if backend == "jax":
        jax = pytest.importorskip("jax")
        pytest.importorskip("optax")
    rng = np.random.default_rng(3)
    pred = rng.normal(size=(4, 8, 4)) * 3
    label = np.array([[0, 1, 1], [2, -1, -1], [1, 2, -1], [0, 0, 2]])
    pred_lengths = np.array([8, 6, 7, 8])
    p = to_backend(pred, backend, "float64")
    args = (to_backend(label, backend), to_backend(pred_lengths, backend))
    fast = F.ctc_loss(p, *args)
    generic = F.ctc_loss(p, *args, backend="generic")
    np.testing.assert_allclose(to_numpy(fast), to_numpy(generic), rtol=1e-9)
    if backend == "torch":
        p.requires_grad_(True)
        g_fast = torch.autograd.grad(F.ctc_loss(p, *args).sum(), p)[0]
        g_gen = torch.autograd.grad(F.ctc_loss(p, *args, backend="generic").sum(), p)[0]
    else:
        g_fast = jax.grad(lambda x: F.ctc_loss(x, *args).sum())(p)
        g_gen = jax.grad(lambda x: F.ctc_loss(x, *args, backend="generic").sum())(p)
    np.testing.assert_allclose(to_numpy(g_fast), to_numpy(g_gen), rtol=1e-7, atol=1e-9)


def test_ctc_infeasible_label_is_inf_on_every_path():
    pred = torch.zeros(1, 2, 3, dtype=torch.float64)  # 2 frames cannot emit "a a" (needs 3)
    label = torch.tensor([[0, 0]])
    assert torch.isinf(F.ctc_loss(pred, label)).all()
    assert torch.isinf(F.ctc_loss(pred, label, backend="generic")).all()


def _two_class(x, target):
    """Logits [x, 0] per row, with a (soft) target row repeated."""
    return torch.stack([x, 0 * x], dim=1), torch.tensor([target] * x.shape[0], dtype=x.dtype)


# (loss, init, how to build the inputs from the extreme values x)
EXTREME = [
    ("SigmoidBCELoss", {}, lambda x: (x, torch.ones_like(x))),
    ("SigmoidBCELoss", {}, lambda x: (x, torch.zeros_like(x))),
    ("LogisticLoss", {}, lambda x: (x, torch.ones_like(x))),
    ("LogisticLoss", {"label_format": "binary"}, lambda x: (x, torch.zeros_like(x))),
    ("SoftmaxCELoss", {}, lambda x: (torch.stack([x, 0 * x], dim=1), torch.ones(x.shape[0], dtype=torch.int64))),
    ("SoftmaxCELoss", {"sparse_label": False}, lambda x: _two_class(x, [0.3, 0.7])),
    ("KLDivLoss", {"from_logits": False}, lambda x: _two_class(x, [0.0, 1.0])),
    ("PoissonNLLLoss", {"from_logits": False}, lambda x: (x.abs() + 1, torch.full_like(x, 3.0))),
    ("HuberLoss", {}, lambda x: (x, torch.zeros_like(x))),
    ("CosineEmbeddingLoss", {}, lambda x: (torch.stack([x, x], 1), torch.stack([-x, x], 1), torch.ones(x.shape[0]))),
]  # fmt: skip


# The largest magnitudes each dtype holds with room for the loss value itself (a loss of 2x
# would overflow float16 at x = 6e4, so the builders above keep it at most x).
MAGNITUDES = [(torch.float32, 1e4), (torch.float16, 6e4), (torch.bfloat16, 1e30)]
# cosine squares its inputs' norms (in float32 for bfloat16): documented limit |x| < ~1e9 in float32
EXTREME_PARAMS = [
    pytest.param(*e, dtype, m, id=f"{e[0]}{e[1]}-{str(dtype)[6:]}")
    for e in EXTREME
    for dtype, m in MAGNITUDES
    if not (e[0] == "CosineEmbeddingLoss" and m > 1e18)
]


@pytest.mark.parametrize("loss_name, init, build, dtype, magnitude", EXTREME_PARAMS)
def test_finite_at_extreme_logits(loss_name, init, build, dtype, magnitude):
    x = torch.tensor([-magnitude, -1.0, 0.0, 1.0, magnitude], dtype=dtype, requires_grad=True)
    inputs = build(x)
    out = losskit.get_loss(loss_name, **init)(*inputs)
    assert out.dtype == dtype
    (grad,) = torch.autograd.grad(out.float().sum(), x)
    assert torch.isfinite(out.float()).all(), out
    assert torch.isfinite(grad.float()).all(), grad


def test_bce_on_logits_matches_closed_form_at_extremes():
    x = torch.tensor([-1e4, 1e4], dtype=torch.float32)
    out = losskit.SigmoidBCELoss()(x, torch.tensor([1.0, 0.0]))
    np.testing.assert_allclose(out.numpy(), [1e4, 1e4])  # -log sigmoid(-1e4) = 1e4


def test_cosine_zero_vector_is_finite():
    """cos(0, b) = 0 with the 1e-12 floor on |a| |b|; its gradient b / 1e-12 is finite (MXNet 1.9.1 gives NaN)."""
    a = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    b = torch.ones(1, 3, dtype=torch.float64)
    out = losskit.CosineEmbeddingLoss()(a, b, torch.tensor([1.0]))
    (g,) = torch.autograd.grad(out.sum(), a)
    assert out.item() == 1.0
    torch.testing.assert_close(g, -b / 1e-12)  # d(1 - a.b / 1e-12)/da


def test_poisson_full_target_zero_is_finite():
    pred = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    out = losskit.PoissonNLLLoss(compute_full=True)(pred, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    (g,) = torch.autograd.grad(out.sum(), pred)
    assert out.item() == 1.0  # exp(0) - 0, no Stirling term for t <= 1
    assert torch.isfinite(g).all()


# d/dx at x = 0 of losses built on softplus / log_sigmoid, label "positive": every one is
# softplus(-x) per element there, whose derivative is -sigmoid(0) = -1/2 (a kink convention of
# max and abs must not leak in: JAX's gave 0 before softplus became logaddexp).
ZERO_LOGIT_CASES = [
    ("SigmoidBCELoss", {}, 1.0),
    ("LogisticLoss", {}, 1.0),
    ("LogisticLoss", {"label_format": "binary"}, 1.0),
    ("SoftMarginLoss", {}, 1.0),
    ("SigmoidFocalLoss", {"gamma": 0.0, "alpha": None}, 1.0),
]


@pytest.mark.parametrize(("name", "init", "label"), ZERO_LOGIT_CASES, ids=[f"{c[0]}-{c[1]}" for c in ZERO_LOGIT_CASES])
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_derivative_at_a_zero_logit_is_minus_one_half(name, init, label, backend):
    loss = losskit.get_loss(name, **init)
    pred, target = np.zeros((2, 4)), np.full((2, 4), label)
    if backend == "torch":
        x = torch.zeros((2, 4), dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(loss(x, torch.as_tensor(target)).sum(), x)
        grad = grad.numpy()
    else:
        jax = pytest.importorskip("jax")
        y = to_backend(target, "jax", "float32")
        grad = np.asarray(jax.grad(lambda v: loss(v, y).sum())(to_backend(pred, "jax", "float32")))
    np.testing.assert_allclose(grad, np.full((2, 4), -0.5 / 4), rtol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_l1_derivative_at_a_perfect_prediction_is_zero(backend):
    """sign(0) = 0, as torch and MXNet differentiate |x|; JAX's own abs gives 1 there."""
    pred = np.array([[0.0, 1.0, -2.0, 3.0]])
    label = np.array([[0.0, 0.0, -2.0, 1.0]])
    want = np.array([[0.0, 1.0, 0.0, 1.0]]) / 4
    if backend == "torch":
        x = torch.as_tensor(pred).requires_grad_(True)
        from losskit import _fast

        with _fast.disabled():  # the generic path (the fast path is torch.abs, 0 at 0 too)
            (grad,) = torch.autograd.grad(losskit.L1Loss()(x, torch.as_tensor(label)).sum(), x)
        grad = grad.numpy()
    else:
        jax = pytest.importorskip("jax")
        y = to_backend(label, "jax", "float32")
        grad = np.asarray(jax.grad(lambda v: losskit.L1Loss()(v, y).sum())(to_backend(pred, "jax", "float32")))
    np.testing.assert_allclose(grad, want, rtol=1e-6)
