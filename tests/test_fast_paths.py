"""The backend fast paths of :mod:`losskit._fast` against the generic array-API path: values and
gradients, float32 and float64, several shapes and axes.

Each fast function returns the unreduced loss; the test reduces it as ``finish`` does and
compares with the public function run with fast paths off (``_fast.disabled()``). The last
tests run every case of ``cases.py`` with fast paths on and off, which covers the hooks in the
public functions wherever they are applied.
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
import weakref

import numpy as np
import pytest

import losskit
import losskit.functional as LF
from backends import to_backend
from cases import CASES

torch = pytest.importorskip("torch")
from losskit import _fast  # noqa: E402

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: 2e-5, torch.float64: 1e-12}


def _tensor(x, dtype, grad=True):
    t = torch.as_tensor(np.asarray(x), dtype=dtype)
    return t.requires_grad_(grad)


def _reduce(loss, batch_axis=0, op="mean", weight=None):
    """What ``finish`` does to an unreduced loss (no sample weight)."""
    if weight is not None:
        loss = loss * weight
    axes = tuple(i for i in range(loss.ndim) if i != batch_axis % max(loss.ndim, 1))
    if loss.ndim > 1:
        loss = loss.mean(axes) if op == "mean" else loss.sum(axes)
    return loss


def _same(fast, generic, leaves, dtype):
    """``fast()`` and ``generic()`` (run with fast paths off) agree in value and gradient."""
    got = fast()
    with _fast.disabled():
        want = generic()
    tol = TOL[dtype]
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    g_got = torch.autograd.grad(got.sum(), leaves, allow_unused=True)
    g_want = torch.autograd.grad(want.sum(), leaves, allow_unused=True)
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


rng = np.random.default_rng(3)
SHAPES_AXES = [((6, 5), 0), ((4, 3, 2), 0), ((4, 3, 2), 1), ((7,), 0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "batch_axis"), SHAPES_AXES)
def test_l2_l1(dtype, shape, batch_axis):
    p, y = _tensor(rng.normal(size=shape), dtype), _tensor(rng.normal(size=shape), dtype)
    _same(
        lambda: _reduce(_fast.torch_l2(p, y), batch_axis, weight=0.5),
        lambda: LF.l2_loss(p, y, batch_axis=batch_axis),
        (p, y),
        dtype,
    )
    _same(
        lambda: _reduce(_fast.torch_l1(p, y), batch_axis),
        lambda: LF.l1_loss(p, y, batch_axis=batch_axis),
        (p, y),
        dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rho", [0.5, 1.0, 2.0])
def test_huber_including_the_branch_point(dtype, rho):
    p = rng.normal(size=(6, 5)) * 2
    y = p + rng.normal(size=(6, 5)) * 2
    y[0, :] = p[0, :] + rho  # |d| == rho exactly: both sides take the same branch and gradient
    y[1, :] = p[1, :]  # d == 0
    p, y = _tensor(p, dtype), _tensor(y, dtype)
    _same(lambda: _reduce(_fast.torch_huber(p, y, rho)), lambda: LF.huber_loss(p, y, rho=rho), (p, y), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("compute_full", [False, True])
def test_poisson_nll(dtype, from_logits, compute_full):
    raw = rng.normal(size=(6, 5)) if from_logits else rng.uniform(0.1, 3, size=(6, 5))
    target = rng.integers(0, 6, size=(6, 5)).astype(float)
    p = _tensor(raw, dtype)
    t = _tensor(target, dtype, grad=not compute_full)
    assert _fast.poisson_nll_applies(t, compute_full)
    kw = {"from_logits": from_logits, "compute_full": compute_full}
    leaves = (p,) if compute_full else (p, t)
    _same(
        lambda: _reduce(_fast.torch_poisson_nll(p, t, epsilon=1e-8, **kw)),
        lambda: LF.poisson_nll_loss(p, t, None, 1e-8, **kw),
        leaves,
        dtype,
    )


def test_poisson_full_with_target_gradient_is_not_taken():
    t = torch.zeros(3, requires_grad=True)
    assert not _fast.poisson_nll_applies(t, compute_full=True)
    assert _fast.poisson_nll_applies(t, compute_full=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos_weight", [None, "tensor"])
@pytest.mark.parametrize("shape", [(6, 5), (3, 2, 5)])
def test_bce_with_logits(dtype, pos_weight, shape):
    x = _tensor(rng.normal(size=shape) * 4, dtype)
    z = _tensor(rng.uniform(size=shape), dtype)
    pw = None if pos_weight is None else _tensor(rng.uniform(0.5, 3, size=(1,) * (len(shape) - 1) + (5,)), dtype, False)
    assert _fast.bce_applies(pw)
    _same(
        lambda: _reduce(_fast.torch_bce_with_logits(x, z, pw)),
        lambda: LF.sigmoid_binary_cross_entropy(x, z, None, pw),
        (x, z),
        dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("label_format", ["signed", "binary"])
def test_logistic(dtype, label_format):
    x = _tensor(rng.normal(size=(6, 5)) * 4, dtype)
    raw = rng.choice([-1.0, 1.0], size=(6, 5)) if label_format == "signed" else rng.integers(0, 2, size=(6, 5))
    z = _tensor(raw, dtype)
    z_soft = _tensor(rng.uniform(-1, 1, size=(6, 5)), dtype)  # equal for any label value, not only {-1, 1}
    for label in (z, z_soft):
        _same(
            lambda label=label: _reduce(_fast.torch_logistic(x, label, label_format)),
            lambda label=label: LF.logistic_loss(x, label, label_format=label_format),
            (x, label),
            dtype,
        )


def test_bce_is_not_taken_where_torch_differs():
    assert not _fast.bce_applies(torch.ones(3, requires_grad=True))  # torch has no pos_weight gradient
    assert not _fast.bce_applies(2.0)  # a Python number: the generic path handles it


SPARSE = [
    ((6, 5), -1),
    ((6, 5), 0),
    ((4, 5, 3), 1),
    ((4, 3, 5), -1),
    ((2, 3, 4, 5), 2),
    ((5,), 0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize(("shape", "axis"), SPARSE)
def test_sparse_softmax_cross_entropy(dtype, from_logits, shape, axis):
    cls = axis % len(shape)
    raw = rng.normal(size=shape) * 3
    if from_logits:
        raw = raw - np.log(np.exp(raw).sum(axis=cls, keepdims=True))
    x = _tensor(raw, dtype)
    label_shape = shape[:cls] + shape[cls + 1 :]
    label = torch.as_tensor(rng.integers(0, shape[cls], size=label_shape))
    out = _fast.torch_sparse_softmax_ce(x, label, cls, from_logits)
    assert tuple(out.shape) == label_shape
    batch_axis = 1 if cls == 0 and len(shape) > 1 else 0  # the generic path's batch axis, among pred's
    per_example = _reduce(out).shape  # () for one unbatched example, whose generic loss is (1,)
    _same(
        lambda: _reduce(_fast.torch_sparse_softmax_ce(x, label, cls, from_logits)),
        lambda: LF.softmax_cross_entropy(x, label, axis=axis, from_logits=from_logits, batch_axis=batch_axis).reshape(
            per_example
        ),
        (x,),
        dtype,
    )
    if len(label_shape) and label.numel() > 1:  # ignore_index: 0 and no gradient there, as the generic mask
        ignored = label.clone()
        ignored.view(-1)[0] = -100
        _same(
            lambda: _reduce(_fast.torch_sparse_softmax_ce(x, ignored, cls, from_logits, -100)),
            lambda: LF.softmax_cross_entropy(
                x, ignored, axis=axis, from_logits=from_logits, batch_axis=batch_axis, ignore_index=-100
            ),
            (x,),
            dtype,
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 5)])
def test_kl_div(dtype, shape):
    logits = rng.normal(size=shape)
    logp = _tensor(logits - np.log(np.exp(logits).sum(-1, keepdims=True)), dtype)
    t = rng.uniform(size=shape)
    t[(0,) * len(shape)] = 0.0  # 0 log 0 = 0
    t = _tensor(t / t.sum(-1, keepdims=True), dtype, grad=False)
    assert _fast.kl_div_applies(t)
    _same(lambda: _reduce(_fast.torch_kl_div(logp, t), op="sum"), lambda: LF.kl_div(logp, t), (logp,), dtype)


def test_kl_div_with_target_gradient_is_not_taken():
    assert not _fast.kl_div_applies(torch.ones(3, requires_grad=True))


def test_kl_div_forward_mode_derivative_in_the_target_is_the_generic_one():
    """A target with a 0, differentiated forward (torch.func.jvp / jacfwd, a dual tensor): the
    generic path's finite derivative (-log q there, as reverse mode), not the kernel's NaN."""
    import torch.autograd.forward_ad as fwAD

    log_q = torch.log_softmax(torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64), 1)
    t = torch.tensor([[0.0, 0.4, 0.6]], dtype=torch.float64)
    tangent = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)  # along the 0 entry

    def loss(target):
        return losskit.KLDivLoss()(log_q, target).sum()

    leaf = t.clone().requires_grad_()
    (reverse,) = torch.autograd.grad(loss(leaf), leaf)
    want = (reverse * tangent).sum()
    torch.testing.assert_close(want, -log_q[0, 0])  # 0 log 0's derivative taken as 0: -log q alone
    torch.testing.assert_close(torch.func.jvp(loss, (t,), (tangent,))[1], want)
    torch.testing.assert_close(torch.func.jacfwd(loss)(t), reverse)
    with fwAD.dual_level():
        torch.testing.assert_close(fwAD.unpack_dual(loss(fwAD.make_dual(t, tangent))).tangent, want)


def _ctc_inputs(dtype, t_max=12, n=4, c=6, s=5):
    logits = _tensor(rng.normal(size=(t_max, n, c)), dtype)
    label = torch.as_tensor(rng.integers(0, c - 1, size=(n, s)))
    label_lengths = torch.tensor([3, 1, 2, 0])  # all below s: log_alpha is padded in the custom op
    pred_lengths = torch.tensor([12, 9, 12, 7])
    return logits, label, pred_lengths, label_lengths


@pytest.mark.parametrize("dtype", DTYPES)
def test_ctc_eager(dtype):
    logits, label, pl, ll = _ctc_inputs(dtype)
    _same(
        lambda: _fast.torch_ctc_loss(logits, label, pl, ll),
        lambda: LF.ctc_loss(logits, label, pl, ll, layout="TNC", backend="generic"),
        (logits,),
        dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_ctc_custom_op_equals_eager(dtype):
    """The op that serves ``torch.compile``, called directly: same loss, same gradient."""
    logits, label, pl, ll = _ctc_inputs(dtype)
    op = _fast._ctc_custom_op()
    blank = logits.shape[-1] - 1
    _same(
        lambda: op(torch.log_softmax(logits, -1), label, pl, ll, blank)[0],
        lambda: _fast.torch_ctc_loss(logits, label, pl, ll),
        (logits,),
        dtype,
    )
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(lambda x: op(torch.log_softmax(x, -1), label, pl, ll, blank)[0], (logits,))


def test_ctc_compiles_whole():
    from torch._dynamo.testing import CompileCounter

    logits, label, pl, ll = _ctc_inputs(torch.float64)
    eager = _fast.torch_ctc_loss(logits, label, pl, ll)
    (g_eager,) = torch.autograd.grad(eager.sum(), logits)
    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = torch.compile(lambda *a: _fast.torch_ctc_loss(*a), backend=counter, fullgraph=True)
    torch.testing.assert_close(compiled(logits, label, pl, ll), eager)
    assert counter.frame_count == 1
    torch._dynamo.reset()
    compiled = torch.compile(lambda *a: _fast.torch_ctc_loss(*a), backend="aot_eager", fullgraph=True)
    out = compiled(logits, label, pl, ll)
    (g_compiled,) = torch.autograd.grad(out.sum(), logits)
    torch.testing.assert_close(out, eager)
    torch.testing.assert_close(g_compiled, g_eager)


def test_disabled_restores_the_switch():
    assert _fast.use_torch(torch.ones(1))
    with _fast.disabled():
        assert not _fast.use_torch(torch.ones(1))
    assert _fast.use_torch(torch.ones(1))
    assert not _fast.use_torch(np.ones(1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_public_functions_same_with_and_without_fast_paths(case, dtype):
    """Wherever a hook sends a torch call to a fast path, the result and gradients are unchanged."""
    loss = losskit.get_loss(case.loss, **case.init)
    raw = case.make(np.random.default_rng(0))
    args = [to_backend(x, "torch", dtype if i in case.float_args else None) for i, x in enumerate(raw)]
    leaves = [args[i].requires_grad_(True) for i in case.float_args]
    _same(
        lambda: loss(*args, **case.call_kwargs), lambda: loss(*args, **case.call_kwargs), leaves, getattr(torch, dtype)
    )


class _CountConversions:
    """Counts the tensor-to-Python conversions (device-to-host reads) made inside a ``with`` block."""

    def __init__(self):
        from torch.overrides import TorchFunctionMode

        to_python = {torch.Tensor.tolist, torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__int__}
        to_python |= {torch.Tensor.__float__, torch.Tensor.__index__, torch.Tensor.numpy}
        calls = self.calls = []

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                if func in to_python:
                    calls.append(func.__name__)
                return func(*args, **(kwargs or {}))

        self._mode = Mode()

    def __enter__(self):
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)


def _label_calls():
    logits, label, frames, lengths = _ctc_inputs(torch.float32)
    return {
        "ctc": lambda: losskit.functional.ctc_loss(logits, label, frames, lengths, layout="TNC"),
        "ce, integer labels": lambda: losskit.SoftmaxCELoss()(torch.randn(4, 5), torch.tensor([0, 1, 2, 3])),
        "ce, float labels": lambda: losskit.SoftmaxCELoss()(torch.randn(4, 5), torch.tensor([0.0, 1, 2, 3])),
        "focal": lambda: losskit.get_loss("SoftmaxFocalLoss")(torch.randn(4, 5), torch.tensor([0, 1, 2, 3])),
    }


def test_label_checks_copy_to_the_host_once_per_call(monkeypatch):
    """Off the CPU the class-index and length checks bring their values to the host in one copy
    per call (on a GPU each copy is a synchronisation): counted as the tensor-to-Python
    conversions made, with CPU tensors taken for device ones (the CPU reads each value directly)."""
    from losskit import _array

    monkeypatch.setattr(_array, "_reads_are_free", lambda x: False)
    for name, call in _label_calls().items():
        with _CountConversions() as counter:
            call()
        assert counter.calls == ["tolist"], f"{name}: {counter.calls}"
    # and the errors are the same as the CPU path's
    for bad, message in (
        ([0.0, 5.0], r"in \[0, 5\], outside"),
        ([0.5, 1.0], "non-integer"),
        ([0.0, math.inf], "non-finite"),
    ):
        with pytest.raises(ValueError, match=message):
            losskit.SoftmaxCELoss()(torch.randn(2, 5), torch.tensor(bad))
    logits, label, _, lengths = _ctc_inputs(torch.float32)
    with pytest.raises(ValueError, match=r"pred_lengths holds lengths in \[7, 13\]"):
        losskit.functional.ctc_loss(logits, label, torch.tensor([12, 13, 12, 7]), lengths, layout="TNC")


def test_no_host_reads_with_value_checks_off(monkeypatch):
    """``losskit.value_checks(False)``: a loss call reads no tensor value (never synchronises)."""
    from losskit import _array

    monkeypatch.setattr(_array, "_reads_are_free", lambda x: False)
    for name, call in _label_calls().items():
        with losskit.value_checks(False), _CountConversions() as counter:
            call()
        assert counter.calls == [], f"{name}: {counter.calls}"
        with _CountConversions() as counter:  # back on after the block
            call()
        assert counter.calls == ["tolist"], f"{name}: {counter.calls}"


def test_value_checks_off_do_not_make_torch_default_ignore_index_skip_a_label():
    """Without ignore_index no label is skipped: torch's fused op got ignore_index=-100 (its
    default), so with the checks off a label of -100 was silently ignored (loss 0) instead of
    failing as out of range, as -5 does."""
    x = torch.randn(3, 4)
    for bad in (-100, -5):
        with losskit.value_checks(False), pytest.raises(IndexError):
            losskit.SoftmaxCELoss()(x, torch.tensor([0, bad, 2]))
    # an explicit ignore_index=-100 still ignores, with the checks on or off
    for checks in (True, False):
        with losskit.value_checks(checks):
            out = losskit.SoftmaxCELoss(ignore_index=-100)(x, torch.tensor([0, -100, 2]))
        assert out[1].item() == 0.0 and out[0].item() > 0


def test_ctc_custom_op_pads_log_alpha():
    logits, label, pl, ll = _ctc_inputs(torch.float64)
    nll, log_alpha = _fast._ctc_custom_op()(torch.log_softmax(logits, -1), label, pl, ll, logits.shape[-1] - 1)
    assert tuple(log_alpha.shape) == (4, 12, 2 * label.shape[1] + 1)
    assert math.isinf(float(log_alpha[0, 0, -1].detach()))


def test_ctc_first_call_inside_compile():
    """In a fresh process the custom op is registered when Dynamo first meets it (not traced)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import torch
        from losskit import _fast
        x = torch.randn(12, 4, 6, dtype=torch.float64, requires_grad=True)
        label, lengths = torch.randint(0, 5, (4, 5)), torch.tensor([3, 1, 2, 0])
        frames = torch.tensor([12, 9, 12, 7])
        f = torch.compile(_fast.torch_ctc_loss, backend="aot_eager", fullgraph=True)
        out = f(x, label, frames, lengths)
        want = _fast.torch_ctc_loss(x, label, frames, lengths)
        torch.testing.assert_close(out, want)
        torch.testing.assert_close(torch.autograd.grad(out.sum(), x), torch.autograd.grad(want.sum(), x))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_matches_the_generic_where_including_zero(dtype):
    """torch's ``relu`` (the fast path of ``_array.relu``) against the generic ``where(x > 0, x, 0)``
    on JAX: the same values, and derivative 0 at exactly 0 (as MXNet's relu), on both."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    import array_api_compat

    from losskit._array import relu

    values = np.array([-2.0, -0.0, 0.0, 2.0**-100, 3.0, -(2.0**-100)])  # exact in float32
    x = _tensor(values, dtype)
    got = relu(array_api_compat.array_namespace(x), x)
    (g_torch,) = torch.autograd.grad(got.sum(), x)

    def generic_sum(v):
        return relu(array_api_compat.array_namespace(v), v).sum()

    v = jnp.asarray(values, dtype=jnp.float32)
    want = relu(array_api_compat.array_namespace(v), v)
    g_jax = jax.grad(generic_sum)(v)
    np.testing.assert_array_equal(got.detach().numpy(), np.asarray(want))
    np.testing.assert_array_equal(g_torch.numpy(), np.asarray(g_jax))
    np.testing.assert_array_equal(g_torch.numpy(), [0, 0, 0, 1, 1, 0])


def test_hinge_exactly_at_its_margin_has_zero_gradient():
    """max(0, 1 - x y) at x y = 1: the subgradient 0, on torch and JAX alike (not 1/2 from maximum)."""
    jax = pytest.importorskip("jax")
    pred = np.array([[1.0, 0.5, 2.0]])
    label = np.ones((1, 3))
    x = _tensor(pred, torch.float64)
    (g_torch,) = torch.autograd.grad(losskit.HingeLoss()(x, torch.as_tensor(label)).sum(), x)
    g_jax = jax.grad(lambda p: losskit.HingeLoss()(p, jax.numpy.asarray(label, dtype=p.dtype)).sum())(
        jax.numpy.asarray(pred, dtype=jax.numpy.float32)
    )
    np.testing.assert_array_equal(g_torch.numpy(), [[0.0, -1 / 3, 0.0]])
    np.testing.assert_allclose(np.asarray(g_jax), [[0.0, -1 / 3, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("class_weight", [None, [1.0, 2.0, 3.0, 0.5, 1.5]])
@pytest.mark.parametrize("sample_weight", [None, "column", "scalar-array"])
def test_multi_margin(dtype, p, class_weight, sample_weight, monkeypatch):
    """torch's multi_margin_loss against the generic formula, values and gradients, with a row
    exactly at a kink (margin - x_y + x_c = 0: gradient 0 in both)."""
    raw = rng.normal(size=(6, 5))
    label = torch.as_tensor(rng.integers(0, 5, size=6))
    raw[0, (int(label[0]) + 1) % 5] = raw[0, int(label[0])] - 1.0  # the kink
    x = _tensor(raw, dtype)
    weights = {
        None: None,
        "column": torch.rand(6, 1, dtype=x.dtype) + 0.5,
        "scalar-array": torch.full((1, 1), 2.0, dtype=x.dtype),
    }
    loss = losskit.MultiMarginLoss(p=p, class_weight=class_weight)
    calls = []
    real = _fast.torch_multi_margin
    monkeypatch.setattr(_fast, "torch_multi_margin", lambda *a: calls.append(1) or real(*a))

    def run():
        return loss(x, label, weights[sample_weight])

    out = run()
    assert calls == [1] and out.shape == (6,) and out.dtype == x.dtype  # the fast path was taken
    _same(run, run, (x,), dtype)  # fast, then the generic path (fast paths off)


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_fast_path_keeps_a_nan(p):
    """torch's kernel skips a NaN term (``z > 0`` is false for it): a NaN at the label's class gave
    a loss of 0. The fast path gives NaN for a row holding one, as the generic formula does."""
    raw = rng.normal(size=(4, 5))
    label = torch.tensor([0, 1, 2, 3])
    raw[0, 0] = np.nan  # the label's class
    raw[1, 4] = np.nan  # a rival class
    x = _tensor(raw, torch.float64)
    got = losskit.MultiMarginLoss(p=p)(x, label)
    with _fast.disabled():
        want = losskit.MultiMarginLoss(p=p)(x, label)
    assert torch.isnan(got).tolist() == [True, True, False, False]
    torch.testing.assert_close(got, want, equal_nan=True)


def test_multi_margin_fast_path_on_an_empty_batch():
    """The CPU's NaN test reads one maximum: an empty batch has none (amax of nothing raises)."""
    x = torch.zeros((0, 5), dtype=torch.float64, requires_grad=True)
    out = losskit.MultiMarginLoss()(x, torch.zeros(0, dtype=torch.int64))
    assert out.shape == (0,)
    out.sum().backward()
    assert x.grad.shape == (0, 5)


def test_multi_margin_one_class_is_zero_even_for_a_nan():
    """With one class there is no rival: the loss is 0 whatever the logit, as the formula and
    torch.nn.functional give it (the NaN guard made it NaN)."""
    x = _tensor(np.array([[np.nan], [1.0]]), torch.float64)
    label = torch.tensor([0, 0])
    torch.testing.assert_close(losskit.MultiMarginLoss()(x, label), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(
        losskit.MultiMarginLoss()(x, label), torch.nn.functional.multi_margin_loss(x, label, reduction="none")
    )


def test_multi_margin_learnt_class_weight_gets_its_gradient():
    """torch's kernel has no gradient for its weight (it raises): a class weight that requires one
    takes the generic formula, whose gradient is d/dw_c = sum over rows of class c of their hinge sum."""
    x = _tensor(rng.normal(size=(6, 4)), torch.float64)
    label = torch.tensor([0, 1, 2, 3, 0, 1])
    w = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64, requires_grad=True)
    loss = losskit.MultiMarginLoss(class_weight=w)(x, label)
    (g,) = torch.autograd.grad(loss.sum(), w)
    unweighted = losskit.MultiMarginLoss()(x, label).detach()
    want = torch.zeros(4, dtype=torch.float64).index_add_(0, label, unweighted)
    torch.testing.assert_close(g, want)
    torch.testing.assert_close(loss.detach(), unweighted * w.detach()[label])
    assert torch.autograd.gradcheck(lambda w: losskit.MultiMarginLoss(class_weight=w)(x, label), (w,))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_matches_the_generic_logaddexp_on_both_sides_of_its_threshold(dtype):
    """torch's ``softplus`` (the fast path of ``_array.softplus``) against the generic
    ``logaddexp(x, 0)``, values and gradients, to 2 ulps: across the dtype-tied threshold (16.6 for
    float32, 36.7 for float64; torch's default of 20 would be 5e-13 off at x = 25 in float64, and
    its gradient 1 instead of 1 - 1.4e-11), at the extremes, and at +-inf."""
    import array_api_compat

    from losskit._array import softplus

    grid = np.concatenate([np.linspace(-120.0, 120.0, 4801), [15.0, 16.5, 16.7, 20.5, 25.0, 36.6, 36.8, 50.0]])
    x = _tensor(grid, dtype)
    xp = array_api_compat.array_namespace(x)
    got = softplus(xp, x)
    with _fast.disabled():
        want = softplus(xp, x)
    (g_got,) = torch.autograd.grad(got.sum(), x)
    (g_want,) = torch.autograd.grad(want.sum(), x)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(got, want, rtol=2 * eps, atol=0.0)
    torch.testing.assert_close(g_got, g_want, rtol=2 * eps, atol=torch.finfo(dtype).tiny)
    ends = _tensor([-math.inf, math.inf, math.nan], dtype)
    torch.testing.assert_close(softplus(xp, ends), torch.tensor([0.0, math.inf, math.nan], dtype=dtype), equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clamp_min_matches_the_generic_where_including_the_tie(dtype):
    """torch's ``clamp_min`` (the fast path of ``_array.clamp_min``, GaussianNLLLoss's variance
    floor) against the generic ``where(x < low, low, x)``: the same values, and derivative 1 at the
    tie and above, 0 below (``maximum`` would give 1/2 at the tie)."""
    import array_api_compat

    from losskit._array import clamp_min

    low = 0.25
    x = _tensor([-1.0, 0.0, 0.125, 0.25, 0.5, 3.0], dtype)
    xp = array_api_compat.array_namespace(x)
    got = clamp_min(xp, x, low)
    with _fast.disabled():
        want = clamp_min(xp, x, low)
    (g_got,) = torch.autograd.grad(got.sum(), x)
    (g_want,) = torch.autograd.grad(want.sum(), x)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(g_got, g_want, rtol=0, atol=0)
    assert g_got.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_second_derivative_is_finite_and_accurate_where_torch_keeps_it(dtype):
    """Second derivatives through the fused softplus (a Hessian through a logistic loss): finite
    everywhere, equal to sigmoid(x)(1 - sigmoid(x)) to 1e-5 relative up to x = 5 (float32; 1e-9 up
    to x = 15 in float64), and never above the exact value by more than an eps in absolute terms
    beyond (torch's softplus: see ``_fast.torch_softplus``)."""
    import array_api_compat

    from losskit._array import softplus

    x = _tensor(np.linspace(-60.0, 60.0, 241), dtype)
    xp = array_api_compat.array_namespace(x)
    (g,) = torch.autograd.grad(softplus(xp, x).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    e = np.exp(-np.abs(x.detach().double().numpy()))
    exact = e / (1 + e) ** 2
    got = h.double().numpy()
    assert np.isfinite(got).all()
    near = x.detach().numpy() <= (5.0 if dtype == torch.float32 else 15.0)
    np.testing.assert_allclose(got[near], exact[near], rtol=1e-5 if dtype == torch.float32 else 1e-9)
    assert np.all(np.abs(got - exact) <= torch.finfo(dtype).eps)


def _triplet_with_and_without_fast_paths(loss, args):
    """The loss and the gradients of ``args`` with the fast paths on, then off."""
    results = []
    for fast in (True, False):
        inputs = [a.detach().clone().requires_grad_() for a in args]
        if fast:
            out = loss(*inputs)
        else:
            with _fast.disabled():
                out = loss(*inputs)
        results.append((out, torch.autograd.grad(out.sum(), inputs)))
    return results


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("swap", "eps", "shape"), [(False, 1e-6, (6, 5)), (True, 0.0, (3, 4, 5)), (True, 0.1, (5,))])
def test_triplet_margin_euclidean(dtype, swap, eps, shape, monkeypatch):
    """torch's pairwise_distance where it is as accurate as the scaled norm: the same values and
    gradients as the generic path, and it is taken (counted)."""
    calls = []
    real = torch.pairwise_distance
    monkeypatch.setattr(torch, "pairwise_distance", lambda *a: calls.append(1) or real(*a))
    args = [torch.randn(shape, dtype=dtype) * 3 for _ in range(3)]
    loss = losskit.TripletMarginLoss(margin=4.0, eps=eps, swap=swap)  # margin 4: most triplets active
    (fast, fast_grads), (generic, generic_grads) = _triplet_with_and_without_fast_paths(loss, args)
    assert len(calls) == (3 if swap else 2)
    assert (generic > 0).any()
    torch.testing.assert_close(fast, generic, rtol=TOL[dtype], atol=TOL[dtype])
    for got, want in zip(fast_grads, generic_grads):
        torch.testing.assert_close(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize(
    "scale", [1e30, 1e-25, 0.0, math.nan, math.inf], ids=["overflow", "underflow", "zero", "nan", "inf"]
)
def test_triplet_margin_takes_the_scaled_norm_where_torch_would_lose_it(scale):
    """Squares past float32's range (1e30), under it (1e-25), a zero distance (whose derivative
    torch and losskit define otherwise), NaN and inf: the result is the generic path's, bit for bit."""
    anchor = torch.full((2, 4), scale)
    anchor[1] = torch.tensor([1.0, 2.0, 3.0, 4.0])  # one ordinary row: the whole call falls back
    positive, negative = torch.zeros(2, 4), torch.full((2, 4), 2.0)
    loss = losskit.TripletMarginLoss(eps=0.0, margin=10.0)  # every triplet active: gradients flow
    (fast, fast_grads), (generic, generic_grads) = _triplet_with_and_without_fast_paths(
        loss, [anchor, positive, negative]
    )
    torch.testing.assert_close(fast, generic, rtol=0, atol=0, equal_nan=True)
    for got, want in zip(fast_grads, generic_grads):
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    if scale == 1e30:  # the distances are 2e30 and 2e30 - ...: finite, where torch's are inf
        assert torch.isfinite(fast).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", ["ordinary", "extreme"])
def test_scaled_l2_norm(dtype, rows, monkeypatch):
    """torch's inf-norm and 2-norm for the scaled Euclidean norm (off the CPU): the generic path's values and
    gradients (a weighted sum, so each row's gradient has its own scale) on ordinary rows and on
    rows of 1e30 / 1e-30 / 0 / denormals / NaN / inf, and it is taken (counted); the result is
    finite wherever the generic one is (no square overflows)."""
    from losskit.functional.metric import pairwise_distance

    calls = []
    real = torch.linalg.vector_norm
    monkeypatch.setattr(torch.linalg, "vector_norm", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(_fast, "scaled_norm_applies", lambda v: True)  # a GPU's choice, on these CPU tensors
    x = rng.normal(size=(6, 3, 5))
    if rows == "extreme":
        x[0] *= 1e30
        x[1] *= 1e-30
        x[2] = 0.0
        x[3] = 1e-310 if dtype == torch.float64 else 1e-40  # denormals
        x[4, 0, 1] = math.nan
        x[5, 1, 2] = math.inf
    y = rng.normal(size=(6, 3, 5)) * (x != 0)  # zero rows stay zero differences
    a, b = _tensor(x, dtype), _tensor(y if rows == "ordinary" else np.zeros_like(x), dtype)
    g = torch.as_tensor(rng.normal(size=(6, 3)), dtype=dtype)
    xp = losskit._array.namespace(a, names=("x",))
    fast = pairwise_distance(xp, a, b, 2, 0.0)
    assert len(calls) == 2
    with _fast.disabled():
        generic = pairwise_distance(xp, a, b, 2, 0.0)
    assert len(calls) == 2
    torch.testing.assert_close(fast, generic, rtol=TOL[dtype], atol=0, equal_nan=True)
    assert (torch.isfinite(fast) == torch.isfinite(generic)).all()
    finite = torch.isfinite(generic)
    got = torch.autograd.grad(torch.where(finite, fast * g, 0).sum(), [a, b])
    want = torch.autograd.grad(torch.where(finite, generic * g, 0).sum(), [a, b])
    for gg, ww in zip(got, want):
        torch.testing.assert_close(gg, ww, rtol=TOL[dtype], atol=0, equal_nan=True)
    if rows == "extreme":
        assert torch.isfinite(fast[:4]).all() and fast[2].eq(0).all()
        assert torch.isfinite(got[0][:4]).all() and got[0][2].eq(0).all()  # 0 at a zero distance
    monkeypatch.undo()
    assert not _fast.scaled_norm_applies(a)  # the CPU keeps the generic passes (faster there)


@pytest.mark.parametrize("loss", [losskit.TripletHardLoss(), losskit.TripletSemiHardLoss()])
def test_scaled_l2_norm_second_derivatives_at_zero_distances(loss, monkeypatch):
    """The mined triplets' L2 distances hold each row's 0 to itself: through the GPU's scaled norm
    (forced here) a gradient penalty must stay finite and equal the generic path's; torch's norm
    backward at 0 is masked once but NaN twice over, which a review caught."""
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])

    def penalty() -> tuple[torch.Tensor, torch.Tensor]:
        leaf = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(loss(leaf, y).sum(), leaf, create_graph=True)
        return g, torch.autograd.grad((g**2).sum(), leaf)[0]

    with _fast.disabled():
        want = penalty()
    monkeypatch.setattr(_fast, "scaled_norm_applies", lambda v: True)
    got = penalty()
    assert torch.isfinite(got[1]).all()
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["log_softmax", "softmax"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "axis"), [((6, 5), 1), ((4, 3, 2), 1), ((4, 3, 2), -1), ((7,), 0)])
def test_log_softmax_and_softmax(name, dtype, shape, axis):
    """torch's fused log_softmax and softmax against the generic (x - m) - log(sum(exp(x - m))) and
    its exp, values and gradients (a weighted sum, so that the backwards g - softmax * sum(g) and
    p * (g - sum(p g)) are exercised), a masked class (-inf) and logits near float32's largest
    included."""
    helper = getattr(losskit._array, name)
    x = rng.normal(size=shape) * 3
    x.reshape(-1)[1] = -math.inf
    x.reshape(-1)[-1] = 1e30
    leaf = _tensor(x, dtype)
    g = torch.as_tensor(rng.normal(size=shape), dtype=dtype)
    xp = losskit._array.namespace(leaf, names=("x",))
    fast = helper(xp, leaf, axis)
    with _fast.disabled():
        generic = helper(xp, leaf, axis)
    torch.testing.assert_close(fast, generic, rtol=TOL[dtype], atol=TOL[dtype])
    finite = torch.isfinite(generic)  # log_softmax's -inf at the masked class
    (g_fast,) = torch.autograd.grad(torch.where(finite, fast * g, 0).sum(), leaf)
    (g_generic,) = torch.autograd.grad(torch.where(finite, generic * g, 0).sum(), leaf)
    torch.testing.assert_close(g_fast, g_generic, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid(dtype):
    """torch's fused sigmoid against the generic exp(log_sigmoid(x)), values and gradients, out
    to where the sigmoid rounds to 0 and 1 (its derivative, from the output there, to an absolute
    half ulp of 1: see ``_fast.torch_sigmoid``), and at the infinities."""
    from losskit._array import sigmoid

    x = np.concatenate([rng.normal(size=20) * 4, [-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4, -math.inf, math.inf]])
    leaf = _tensor(x, dtype)
    g = torch.as_tensor(rng.normal(size=x.shape), dtype=dtype)
    xp = losskit._array.namespace(leaf, names=("x",))
    fast = sigmoid(xp, leaf)
    with _fast.disabled():
        generic = sigmoid(xp, leaf)
    # relative, down to the smallest normal number (below it torch's 1 / (1 + e^-x) is 0 at x = -100
    # in float32, where the generic e^x is a subnormal 3.8e-44)
    torch.testing.assert_close(fast, generic, rtol=TOL[dtype], atol=torch.finfo(dtype).smallest_normal)
    (g_fast,) = torch.autograd.grad((fast * g).sum(), leaf)
    (g_generic,) = torch.autograd.grad((generic * g).sum(), leaf)
    torch.testing.assert_close(g_fast, g_generic, rtol=TOL[dtype], atol=torch.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_log_target(dtype, monkeypatch):
    """torch's kl_div(log_target=True) where no target log-probability is -inf: the generic terms,
    values and both gradients, and it is taken (counted); with a -inf it is not, and the class of
    probability 0 adds 0 (the kernel would give NaN), with finite gradients."""
    from losskit.functional.classification import kl_log_target_terms

    calls = []
    real = torch.kl_div
    monkeypatch.setattr(torch, "kl_div", lambda *a, **k: calls.append(1) or real(*a, **k))
    log_q = _tensor(np.log(rng.dirichlet(np.ones(5), size=4)), dtype)
    log_p = _tensor(np.log(rng.dirichlet(np.ones(5), size=4)), dtype)
    xp = losskit._array.namespace(log_q, names=("x",))
    _same(lambda: kl_log_target_terms(xp, log_q, log_p), lambda: kl_log_target_terms(xp, log_q, log_p),
          [log_q, log_p], dtype)  # fmt: skip
    assert len(calls) == 1  # the fast call (the generic one ran with the fast paths off)
    masked = log_p.detach().clone()
    masked[0, 2] = -math.inf
    masked.requires_grad_(True)
    out = kl_log_target_terms(xp, log_q, masked)
    assert len(calls) == 1 and out[0, 2] == 0 and torch.isfinite(out).all()
    grads = torch.autograd.grad(out.sum(), [log_q, masked])
    assert all(torch.isfinite(g).all() for g in grads)
    with _fast.disabled():
        torch.testing.assert_close(out, kl_log_target_terms(xp, log_q, masked))


def test_distillation_takes_the_fused_kl_on_the_cpu_and_equals_the_generic_path():
    x, t = torch.randn(6, 7, dtype=torch.float64), torch.randn(6, 7, dtype=torch.float64)
    t[1, 3] = -math.inf  # a class the teacher rules out: the generic where on that call
    for teacher in (t[[0, 2, 3]], t):
        student = x[: len(teacher)]
        (fast, fast_grads), (generic, generic_grads) = _triplet_with_and_without_fast_paths(
            losskit.DistillationLoss(temperature=2.0), [student, teacher]
        )
        torch.testing.assert_close(fast, generic, rtol=1e-12, atol=1e-12)
        for a, b in zip(fast_grads, generic_grads):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("label_dtype", [torch.int64, torch.int32, torch.uint8, torch.float32])
def test_margin_softmax_reads_the_device_once(monkeypatch, label_dtype):
    """ArcFace/CosFace bring the labels' range and whether a cosine lies outside [-1, 1] to the host
    in one copy, as one device would see them (the flag travels in the label's dtype), and the
    cross-entropy after the margin does not check them again. The errors are the CPU path's: a
    cosine out of range is read a second time for its message, on the error's path only."""
    from losskit import _array

    monkeypatch.setattr(_array, "_reads_are_free", lambda x: False)
    cosine = torch.rand(4, 5, dtype=torch.float64) * 2 - 1
    label = torch.tensor([0, 3, 1, 4]).to(label_dtype)
    for loss in (losskit.ArcFaceLoss(), losskit.CosFaceLoss()):
        with _CountConversions() as counter:
            loss(cosine, label)
        assert counter.calls == ["tolist"], f"{loss}: {counter.calls}"
        with losskit.value_checks(False), _CountConversions() as counter:
            loss(cosine, label)
        assert counter.calls == [], f"{loss}: {counter.calls}"
    logits = cosine * 3.0
    logits[1, 2] = -7.5
    for loss in (losskit.ArcFaceLoss(), losskit.CosFaceLoss()):
        with pytest.raises(ValueError, match=r"cosine holds values up to 7\.5 in magnitude"):
            loss(logits, label)
        with pytest.raises(
            ValueError, match=r"label holds class indices in \[0, 5\], outside the valid range \[0, 4\]"
        ):
            loss(cosine, torch.tensor([0, 5, 1, 4]).to(label_dtype))
        with pytest.raises(ValueError, match="label holds class indices"):  # both wrong: the labels' first
            loss(logits, torch.tensor([0, 5, 1, 4]).to(label_dtype))


_KERNEL_CHECKED = {
    # name: (call(pred, label), pred shape, classes along) for each fast path whose torch CPU kernel
    # checks the class indices as it reads them
    "ce": (lambda x, y: losskit.SoftmaxCELoss()(x, y), (4, 5), -1),
    "ce, ignore_index": (lambda x, y: losskit.SoftmaxCELoss(ignore_index=2)(x, y), (4, 5), -1),
    "ce, classes on axis 1": (lambda x, y: losskit.SoftmaxCELoss(axis=1)(x, y), (2, 5, 3), 1),
    "ce, classes last of 3 axes": (lambda x, y: losskit.SoftmaxCELoss()(x, y), (2, 3, 5), -1),
    "nll": (lambda x, y: losskit.NLLLoss()(x, y), (4, 5), 1),
    "nll, classes last of 3 axes": (lambda x, y: losskit.NLLLoss(axis=-1)(x, y), (2, 3, 5), -1),
    "multi_margin": (lambda x, y: losskit.MultiMarginLoss()(x, y), (4, 5), -1),
}


def _kernel_checked_inputs(shape, cls, labels, label_dtype=torch.int64, dtype=torch.float32):
    x = torch.randn(shape, dtype=dtype)
    reduced = shape[: cls % len(shape)] + shape[cls % len(shape) + 1 :]
    y = torch.zeros(reduced, dtype=torch.int64).reshape(-1)
    y[: len(labels)] = torch.tensor(labels)
    return x, y.reshape(reduced).to(label_dtype)


@pytest.mark.parametrize("name", list(_KERNEL_CHECKED))
@pytest.mark.parametrize(
    ("labels", "label_dtype", "span"),
    [
        ([5], torch.int64, "[0, 5]"),
        ([-1], torch.int64, "[-1, 0]"),
        ([-100], torch.int32, "[-100, 0]"),
        ([200], torch.uint8, "[0, 200]"),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_labels_left_to_the_kernel_still_fail_with_losskit_error(name, labels, label_dtype, span, dtype):
    """On the CPU the class indices are not read before torch's kernel, which checks them as it reads
    them; a label out of range still gives losskit's ValueError naming the values and the valid
    range (not torch's IndexError/RuntimeError, nor an error chained to it)."""
    call, shape, cls = _KERNEL_CHECKED[name]
    x, y = _kernel_checked_inputs(shape, cls, labels, label_dtype, dtype)
    with pytest.raises(
        ValueError, match=re.escape(f"label holds class indices in {span}, outside the valid range [0, 4]")
    ) as error:
        call(x, y)
    assert error.value.__context__ is None and error.value.__cause__ is None


@pytest.mark.parametrize("name", list(_KERNEL_CHECKED))
def test_labels_in_range_are_read_by_the_kernel_alone(name, monkeypatch):
    """The saving itself: with CPU integer labels in range the range check does not run (each
    separate read cost ~10 us a call at 64 x 128, a third of torch's own forward + backward);
    float labels, which the kernel does not take, are still checked first."""
    from losskit import _core
    from losskit.functional import classification

    call, shape, cls = _KERNEL_CHECKED[name]
    x, y = _kernel_checked_inputs(shape, cls, [1, 4, 0])
    checks = []
    real = _core.check_ranges
    monkeypatch.setattr(classification, "check_ranges", lambda *a: checks.append(1) or real(*a))
    want = call(x, y)
    assert checks == []
    with _fast.disabled():
        torch.testing.assert_close(call(x, y), want)  # the generic path: its own checks, same loss
    assert checks != []
    checks.clear()
    torch.testing.assert_close(call(x, y.to(torch.float32)), want)
    assert checks == [1]


def test_an_error_of_the_kernel_that_is_not_the_labels_is_torch_own(monkeypatch):
    """Where the kernel fails with every label in range, losskit's check passes and torch's error is raised as it is."""

    def broken(*args, **kwargs):
        raise RuntimeError("the kernel's own failure")

    monkeypatch.setattr(_fast, "torch_sparse_softmax_ce", broken)
    with pytest.raises(RuntimeError, match="the kernel's own failure"):
        losskit.SoftmaxCELoss()(torch.randn(3, 4), torch.tensor([0, 1, 3]))
    monkeypatch.setattr(_fast, "torch_multi_margin", broken)
    with pytest.raises(RuntimeError, match="the kernel's own failure"):
        losskit.MultiMarginLoss()(torch.randn(3, 4), torch.tensor([0, 1, 3]))


@pytest.fixture
def row_blocks(monkeypatch):
    """The CPU row-block cross-entropy for every size, in blocks of 3 rows of 5 classes (a ragged
    last block for 7 or 10 rows): its logic at test sizes."""
    monkeypatch.setattr(_fast, "CPU_ROWS_CE_MIN", 1)
    monkeypatch.setattr(_fast, "CPU_ROWS_CE_VALUE_MIN_BYTES", 1)
    monkeypatch.setattr(_fast, "_ROW_BLOCK", 15)
    taken = []
    real = _fast._cpu_rows_ce

    def spy():
        taken.append(1)
        return real()

    monkeypatch.setattr(_fast, "_cpu_rows_ce", spy)
    return taken


def test_row_blocks_take_a_batched_upstream_gradient(row_blocks):
    """torch.autograd.grad(..., is_grads_batched=True) (jacobian(vectorize=True) uses it): each
    upstream gradient's result as if taken alone; the saved buffer is scaled out of place."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    label = torch.randint(0, 5, (7,), generator=gen)
    upstream = torch.randn(3, 7, dtype=torch.float64, generator=gen)
    (batched,) = torch.autograd.grad(losskit.SoftmaxCELoss()(x, label), x, upstream, is_grads_batched=True)
    assert row_blocks and batched.shape == (3, 7, 5)
    for k in range(3):
        (one,) = torch.autograd.grad(losskit.SoftmaxCELoss()(x, label), x, upstream[k])
        torch.testing.assert_close(batched[k], one, rtol=0, atol=0)
    jacobian = torch.autograd.functional.jacobian(lambda v: losskit.SoftmaxCELoss()(v, label), x, vectorize=True)
    torch.testing.assert_close(jacobian.sum(0), torch.autograd.grad(losskit.SoftmaxCELoss()(x, label).sum(), x)[0])


def _ce_both_ways(x, label, g, **options):
    """losskit's cross-entropy (values and the gradient for upstream ``g``) and torch's."""
    got = losskit.SoftmaxCELoss(**options)(x, label)
    (g_got,) = torch.autograd.grad(got, x, g)
    want = torch.nn.functional.cross_entropy(
        x.movedim(-1, 1) if x.ndim > 2 else x, label, reduction="none", ignore_index=options.get("ignore_index", -100)
    )
    want = want.reshape(x.shape[0], -1).mean(1)  # losskit's mean over the non-batch axes
    (g_want,) = torch.autograd.grad(want, x, g)
    return got, g_got, want, g_want


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 5), (10, 5), (2, 5, 5)])
@pytest.mark.parametrize("ignore_index", [None, 1])
def test_cpu_row_block_cross_entropy_against_torch_and_the_generic_path(row_blocks, dtype, shape, ignore_index):
    """Values and gradients (a non-uniform upstream gradient, so that a wrong row scale shows) against
    torch.nn.functional.cross_entropy and against the generic path; the input is left unchanged."""
    x = _tensor(rng.normal(size=shape) * 3, dtype)
    before = x.detach().clone()
    label = torch.as_tensor(rng.integers(0, 5, size=shape[:-1]))
    g = torch.as_tensor(rng.uniform(0.5, 2.0, size=shape[0]), dtype=dtype)
    options = {} if ignore_index is None else {"ignore_index": ignore_index}
    got, g_got, want, g_want = _ce_both_ways(x, label, g, **options)
    assert row_blocks == [1] and got.dtype == dtype and got.shape == shape[:1]
    tol = TOL[dtype]
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    torch.testing.assert_close(g_got, g_want, rtol=tol, atol=tol)
    if ignore_index is not None:
        assert (g_got[label == 1] == 0).all()  # ignored rows: no gradient
    with _fast.disabled():
        generic = losskit.SoftmaxCELoss(**options)(x, label)
    (g_generic,) = torch.autograd.grad(generic, x, g)
    torch.testing.assert_close(got, generic, rtol=tol, atol=tol)
    torch.testing.assert_close(g_got, g_generic, rtol=tol, atol=tol)
    assert torch.equal(x.detach(), before)


def test_cpu_row_block_cross_entropy_gradcheck_and_second_derivative(row_blocks):
    """gradcheck (whose backward passes retain the graph: the scaled copy) and gradgradcheck (the
    differentiable gradient of create_graph=True), float64, with an ignored row."""
    x = _tensor(rng.normal(size=(7, 5)), torch.float64)
    label = torch.tensor([0, 4, 2, 1, 3, 2, 0])

    def f(x):
        return losskit.SoftmaxCELoss(ignore_index=2)(x, label)

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))
    # the gradient with its graph, and the second derivative through it (a Hessian-vector
    # product), equal torch's
    v = torch.as_tensor(rng.normal(size=(7, 5)))
    results = []
    for loss in (f, lambda x: torch.nn.functional.cross_entropy(x, label, reduction="none", ignore_index=2)):
        (g,) = torch.autograd.grad(loss(x) @ torch.linspace(0.5, 2.0, 7, dtype=x.dtype), x, create_graph=True)
        (hv,) = torch.autograd.grad((g * v).sum(), x)
        results.append((g.detach(), hv))
    torch.testing.assert_close(results[0], results[1])


def test_cpu_row_block_cross_entropy_backward_twice_and_in_place(row_blocks):
    """With retain_graph=True the gradient is scaled into a copy (the second backward finds it
    unscaled); without, in place: the same gradients either way."""
    x = _tensor(rng.normal(size=(10, 5)), torch.float32)
    label = torch.as_tensor(rng.integers(0, 5, size=10))
    g = torch.linspace(0.5, 2.0, 10)
    want = torch.autograd.grad(torch.nn.functional.cross_entropy(x, label, reduction="none"), x, g)[0]
    loss = losskit.SoftmaxCELoss()(x, label)
    first = torch.autograd.grad(loss, x, g, retain_graph=True)[0]
    second = torch.autograd.grad(loss, x, g)[0]  # frees the graph: scales in place
    for got in (first, second):
        torch.testing.assert_close(got, want)
    assert first.data_ptr() != second.data_ptr()
    with pytest.raises(RuntimeError, match="freed|second time"):
        torch.autograd.grad(loss, x, g)


def test_cpu_row_block_cross_entropy_without_gradient_and_at_infinities(row_blocks):
    """No gradient wanted: the loss alone, equal to torch's; rows with -inf (a masked class), +inf
    or NaN give what torch's cross_entropy gives (NaN where it does)."""
    raw = rng.normal(size=(7, 5))
    raw[0, 3] = -np.inf
    raw[1, 2] = np.inf
    raw[2, 0] = np.nan
    raw[3, :] = -np.inf
    x = torch.as_tensor(raw)
    label = torch.tensor([0, 1, 2, 3, 4, 0, 1])
    want = torch.nn.functional.cross_entropy(x, label, reduction="none")
    with torch.no_grad():
        torch.testing.assert_close(losskit.SoftmaxCELoss()(x.requires_grad_(), label), want, equal_nan=True)
    torch.testing.assert_close(losskit.SoftmaxCELoss()(x.detach(), label), want, equal_nan=True)
    assert row_blocks == []  # no gradient wanted: no autograd.Function
    torch.testing.assert_close(losskit.SoftmaxCELoss()(x.requires_grad_(), label), want, equal_nan=True)
    assert row_blocks == [1]


def test_cpu_row_block_cross_entropy_label_out_of_range(row_blocks):
    x = _tensor(rng.normal(size=(7, 5)), torch.float32)
    for grad in (True, False):
        with pytest.raises(ValueError, match=re.escape("class indices in [0, 5], outside the valid range [0, 4]")):
            losskit.SoftmaxCELoss()(x.detach().requires_grad_(grad), torch.tensor([0, 1, 5, 2, 3, 4, 0]))


def test_cpu_row_block_cross_entropy_steps_aside_for_transforms(row_blocks):
    """torch.func and forward-mode AD get torch's op (the autograd.Function has no vmap or jvp);
    their results equal the row-block path's."""
    x = _tensor(rng.normal(size=(7, 5)), torch.float64, grad=False)
    label = torch.as_tensor(rng.integers(0, 5, size=7))

    def f(x):
        return losskit.SoftmaxCELoss()(x, label).sum()

    want = torch.autograd.grad(f(x.requires_grad_()), x)[0]
    assert row_blocks == [1]
    torch.testing.assert_close(torch.func.grad(f)(x.detach()), want)
    tangent = torch.ones_like(x)
    _, jvp = torch.func.jvp(f, (x.detach(),), (tangent,))
    torch.testing.assert_close(jvp, (want * tangent).sum())
    import torch.autograd.forward_ad as fwad

    with fwad.dual_level():
        out = f(fwad.make_dual(x.detach(), tangent))
        torch.testing.assert_close(fwad.unpack_dual(out).tangent, (want * tangent).sum())
    assert row_blocks == [1]


def test_cpu_row_block_cross_entropy_is_left_to_torch_compile(row_blocks):
    """Under torch.compile the function is torch's op (inductor fuses it): no graph break, the same
    values and gradients as the eager row-block path."""
    x = _tensor(rng.normal(size=(7, 5)), torch.float32)
    label = torch.as_tensor(rng.integers(0, 5, size=7))
    g = torch.linspace(0.5, 2.0, 7)
    compiled = torch.compile(lambda x, y: losskit.SoftmaxCELoss()(x, y), fullgraph=True, backend="aot_eager")
    got = compiled(x, label)
    (g_got,) = torch.autograd.grad(got, x, g)
    assert row_blocks == []
    want = losskit.SoftmaxCELoss()(x, label)
    (g_want,) = torch.autograd.grad(want, x, g)
    assert row_blocks == [1]
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(g_got, g_want)


def test_cpu_row_block_cross_entropy_gradient_becomes_grad_without_a_copy(row_blocks):
    """Logits that are a leaf get the buffer the forward pass formed as their ``.grad``, not a clone
    of it (AccumulateGrad clones what the node still holds: the backward returns a view)."""
    x = _tensor(rng.normal(size=(10, 5)), torch.float32)
    label = torch.as_tensor(rng.integers(0, 5, size=10))
    loss = losskit.SoftmaxCELoss()(x, label)
    buffer = loss.grad_fn.saved_tensors[2]
    (by_grad,) = torch.autograd.grad(loss.sum(), x, retain_graph=True)
    assert not by_grad.requires_grad  # no graph handed back (the buffer is the Function's output)
    loss.sum().backward()
    assert x.grad.data_ptr() == buffer.data_ptr() and not x.grad.requires_grad
    (freed,) = torch.autograd.grad(losskit.SoftmaxCELoss()(x, label).sum(), x)  # the in-place path
    assert not freed.requires_grad and freed.grad_fn is None
    torch.testing.assert_close(
        x.grad, torch.autograd.grad(torch.nn.functional.cross_entropy(x, label, reduction="none").sum(), x)[0]
    )


def test_cpu_row_block_cross_entropy_does_not_hold_the_logits(row_blocks):
    """Only the gradient buffer outlives the forward pass: logits nothing else holds (a layer's
    output) are freed at once, and logits changed in place after the forward pass still get the
    gradient of the values the loss saw (torch's op saves its log-softmax, not the logits)."""
    weight = torch.randn(5, 5, dtype=torch.float64, requires_grad=True)
    h = torch.as_tensor(rng.normal(size=(10, 5)))
    label = torch.as_tensor(rng.integers(0, 5, size=10))
    logits = h @ weight
    seen = weakref.ref(logits)
    loss = losskit.SoftmaxCELoss()(logits, label)
    del logits
    gc.collect()
    assert seen() is None
    want = torch.autograd.grad(torch.nn.functional.cross_entropy(h @ weight, label, reduction="none").sum(), weight)
    torch.testing.assert_close(torch.autograd.grad(loss.sum(), weight), want)

    x = (h @ weight).detach().requires_grad_()
    want = torch.autograd.grad(torch.nn.functional.cross_entropy(x, label, reduction="none").sum(), x)[0]
    loss = losskit.SoftmaxCELoss()(x, label)
    with torch.no_grad():
        x.mul_(3.0)
    torch.testing.assert_close(torch.autograd.grad(loss.sum(), x)[0], want)
    assert row_blocks == [1, 1]


def test_cpu_row_block_cross_entropy_third_derivative(row_blocks):
    """The second derivative's graph goes through the same node again: a third-order directional
    derivative equals torch's (float64)."""
    label = torch.tensor([0, 4, 2, 1, 3, 2, 0])
    v = torch.as_tensor(rng.normal(size=(7, 5)))
    results = []
    for loss in (
        lambda x: losskit.SoftmaxCELoss(ignore_index=2)(x, label),
        lambda x: torch.nn.functional.cross_entropy(x, label, reduction="none", ignore_index=2),
    ):
        x = torch.as_tensor(rng.normal(size=(7, 5)) if not results else results[0][0].numpy()).requires_grad_()
        (g,) = torch.autograd.grad(loss(x) @ torch.linspace(0.5, 2.0, 7, dtype=x.dtype), x, create_graph=True)
        (hv,) = torch.autograd.grad((g * v).sum(), x, create_graph=True)
        (third,) = torch.autograd.grad((hv * v).sum(), x)
        results.append((x.detach(), g.detach(), hv.detach(), third))
    torch.testing.assert_close(results[0], results[1])
    assert row_blocks == [1]


def test_cpu_row_block_cross_entropy_keeps_the_shift_apart_from_the_log_sum(row_blocks):
    """The loss is (m - x[y]) + log(sum(exp(x - m))), as torch's log_softmax forms it: m + log_sum
    first lost log_sum's low bits beside a large m (log 2 beside 1e7 came out as 1 in float32)."""
    x = torch.tensor([[30.0, 20.0, 20.0], [1e4, 1e4 + 1, 1e4 - 3], [1e7, 1e7, 0.0]])
    label = torch.tensor([0, 1, 0])
    want = torch.nn.functional.cross_entropy(x, label, reduction="none")
    for grad in (False, True):
        got = losskit.SoftmaxCELoss()(x.clone().requires_grad_(grad), label)
        torch.testing.assert_close(got.detach(), want, rtol=1e-6, atol=0)
    assert row_blocks == [1]
    torch.testing.assert_close(want[2], torch.tensor(math.log(2.0)))


@pytest.mark.parametrize("label", [-(2**63), 2**63 - 1, "nan cast"])
def test_garbage_labels_are_not_taken_as_ignored(label):
    """Without ignore_index torch's kernel is given a stand-in that no label holds in practice; the
    values that invalid float-to-integer casts give (int64's minimum and maximum: NaN or inf cast
    to int64) are refused as out of range, as every other (the kernel checks them itself)."""
    x = torch.log_softmax(torch.randn(3, 4), 1)
    y = torch.tensor([0.0, math.nan, 1.0]).long() if label == "nan cast" else torch.tensor([0, label, 1])
    for loss in (losskit.NLLLoss(), losskit.SoftmaxCELoss()):
        with pytest.raises(ValueError, match="outside the valid range"):
            loss(x, y)


@pytest.mark.parametrize("grad", [False, True])
def test_cpu_row_blocks_take_over_only_from_their_thresholds(grad, monkeypatch):
    """With a gradient wanted the row blocks start at CPU_ROWS_CE_MIN logits; for the loss alone at
    CPU_ROWS_CE_VALUE_MIN_BYTES (below it torch's one fused forward pass is faster)."""
    taken = []
    monkeypatch.setattr(_fast, "_cpu_rows_ce_value", lambda *a: taken.append("value") or torch.zeros(a[0].shape[0]))
    monkeypatch.setattr(_fast, "_cpu_rows_ce", lambda: lambda *a: taken.append("grad") or torch.zeros(a[0].shape[0]))
    x = torch.zeros(2**10, 2**10, requires_grad=grad)  # 2**20 float32 logits: 4 MiB
    losskit.SoftmaxCELoss()(x, torch.zeros(2**10, dtype=torch.int64))
    assert taken == (["grad"] if grad else [])
    monkeypatch.setattr(_fast, "CPU_ROWS_CE_VALUE_MIN_BYTES", 4 * 2**20)
    losskit.SoftmaxCELoss()(x.detach(), torch.zeros(2**10, dtype=torch.int64))
    assert taken[-1] == "value"
    monkeypatch.setattr(_fast, "CPU_ROWS_CE_MIN", 2**20 + 1)
    taken.clear()
    losskit.SoftmaxCELoss()(x, torch.zeros(2**10, dtype=torch.int64))
    assert taken == ([] if grad else ["value"])


def _self_distance_inputs():
    """Embeddings for the mined triplet losses' distances: ordinary rows with a duplicate pair and
    the rows' own zeros (cdist taken), and the rows where it is not (tiny or huge differences, NaN)."""
    base = rng.normal(size=(12, 6))
    base[7] = base[2]  # two equal rows: a distance of exactly 0 between them too
    tiny = base.copy()
    tiny[4], tiny[9] = 1e-25 * rng.normal(size=6), 0.0  # squares that underflow in float32: a 0 between unequal rows
    huge = base * 1e25  # sums of squares that overflow float32
    nan = base.copy()
    nan[3, 1] = np.nan
    return {"ordinary": (base, True), "tiny": (tiny, False), "huge": (huge, False), "nan": (nan, False)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["ordinary", "tiny", "huge", "nan"])
@pytest.mark.parametrize("metric", ["L2", "squared-L2"])
def test_self_distances_by_cdist_equal_the_generic_path(dtype, case, metric, monkeypatch):
    """torch's cdist (O(N^2) memory) for the mined triplet losses' distances where it is as accurate
    as the generic scaled norm; its values and gradients against the generic path's, and the
    cases it leaves to the generic path (float64 resolves the tiny and huge rows: taken there)."""
    from losskit.functional import metric as metric_module

    raw, taken_in_float32 = _self_distance_inputs()[case]
    x = _tensor(raw, dtype)
    calls = []
    real = _fast.torch_self_distances
    monkeypatch.setattr(_fast, "torch_self_distances", lambda *a: calls.append(real(*a) is not None) or real(*a))
    xp = losskit._array.namespace(x, names=("x",))
    got = metric_module._embedding_distances(xp, x, metric)
    with _fast.disabled():
        want = metric_module._embedding_distances(xp, x, metric)
    expected = taken_in_float32 or (dtype == torch.float64 and case != "nan")
    assert calls == [expected]
    v = torch.as_tensor(rng.normal(size=(12, 12)), dtype=dtype)
    torch.testing.assert_close(got, want, rtol=TOL[dtype], atol=TOL[dtype], equal_nan=True)
    if case != "nan":
        g_got, g_want = (torch.autograd.grad((d * v).sum(), x)[0] for d in (got, want))
        torch.testing.assert_close(g_got, g_want, rtol=TOL[dtype], atol=TOL[dtype])


def test_mined_triplet_losses_with_cdist_equal_the_generic_path():
    x = _tensor(rng.normal(size=(16, 8)), torch.float64)
    label = torch.as_tensor(rng.integers(0, 4, size=16))
    for name in ("TripletHardLoss", "TripletSemiHardLoss"):
        loss = losskit.get_loss(name)
        got = loss(x, label)
        with _fast.disabled():
            want = loss(x, label)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(torch.autograd.grad(got.sum(), x)[0], torch.autograd.grad(want.sum(), x)[0])


def test_self_distances_by_cdist_retained_twice_and_differentiated_twice():
    """The cdist path under retain_graph=True (two backwards, the same gradient), gradcheck, and
    create_graph=True (cdist's backward has no derivative: the generic distances' second
    derivatives), against the generic path."""
    x = _tensor(rng.normal(size=(10, 4)), torch.float64)
    label = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    loss = losskit.TripletSemiHardLoss()
    taken = []
    real = _fast.torch_self_distances
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_fast, "torch_self_distances", lambda *a: taken.append(1) or real(*a))
        out = loss(x, label).sum()
        first = torch.autograd.grad(out, x, retain_graph=True)[0]
        torch.testing.assert_close(torch.autograd.grad(out, x)[0], first)
        assert torch.autograd.gradcheck(lambda x: loss(x, label), (x,))
        (g,) = torch.autograd.grad(loss(x, label).sum(), x, create_graph=True)
        penalty = torch.autograd.grad((g**2).sum(), x)[0]
    assert taken
    with _fast.disabled():
        (g_want,) = torch.autograd.grad(loss(x, label).sum(), x, create_graph=True)
        penalty_want = torch.autograd.grad((g_want**2).sum(), x)[0]
    torch.testing.assert_close(first, g_want.detach())
    torch.testing.assert_close(penalty, penalty_want)


@pytest.mark.parametrize("metric", ["L2", "squared-L2"])
def test_self_distances_by_cdist_differentiated_twice_through_a_non_contiguous_input(metric):
    """Embeddings that are a view (columns of a larger tensor, a transpose): the cdist path's
    create_graph gradient and the second derivative through it equal the generic path's. The
    Function saved a contiguous copy made inside it, which is not in the graph: create_graph raised."""
    emb = _tensor(rng.normal(size=(8, 10)), torch.float64)
    label = torch.tensor([0, 0, 1, 1, 2, 2, 3, 0])
    loss = losskit.TripletSemiHardLoss(distance_metric=metric)
    results = []
    for fast in (True, False):
        with contextlib.nullcontext() if fast else _fast.disabled():
            for view in (emb[:, 2:7], emb[:, :8].mT):
                (g,) = torch.autograd.grad(loss(view, label).sum(), emb, create_graph=True)
                results.append((g.detach(), torch.autograd.grad((g**2).sum(), emb)[0]))
    torch.testing.assert_close(results[:2], results[2:])


def _distances(x, metric):
    from losskit.functional import metric as metric_module

    return metric_module._embedding_distances(losskit._array.namespace(x, names=("x",)), x, metric)


def test_self_distances_by_cdist_without_a_gradient_take_inference_tensors():
    """No gradient wanted: cdist as it is (no autograd.Function, which would set requires_grad on
    a detached copy: refused for an inference tensor used outside inference_mode)."""
    with torch.inference_mode():
        e = torch.as_tensor(rng.normal(size=(8, 4)))
    label = torch.arange(8) // 2
    with _fast.disabled():
        want = losskit.TripletHardLoss()(e, label)
    torch.testing.assert_close(losskit.TripletHardLoss()(e, label), want)
    with torch.no_grad():
        torch.testing.assert_close(losskit.TripletSemiHardLoss()(e, label), losskit.TripletSemiHardLoss()(e, label))
    d = _distances(e, "L2")
    assert d.grad_fn is None and d.shape == (8, 8)


def test_self_distances_by_cdist_squared_second_derivatives_between_equal_rows():
    """squared-L2 under create_graph=True differentiates the generic squared distances: its
    second derivatives between two equal rows are those of |x0 - x1|^2 (the L2 distance's
    derivative, 0 there, then squared gave 0)."""
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 5.0]], dtype=torch.float64, requires_grad=True)
    results = []
    for fast in (True, False):
        with contextlib.nullcontext() if fast else _fast.disabled():
            d = _distances(x, "squared-L2")
            assert (type(d.grad_fn).__name__ == "SelfDistancesBackward") == fast
            (g,) = torch.autograd.grad(d[0, 1] + d[0, 2], x, create_graph=True)
            results.append(torch.autograd.grad(g[0].sum(), x)[0])
    torch.testing.assert_close(results[0], results[1])
    # f = |x0 - x1|^2 + |x0 - x2|^2: d/dx of sum(df/dx0) = [4, 4], [-2, -2], [-2, -2]
    want = torch.tensor([[4.0, 4.0], [-2.0, -2.0], [-2.0, -2.0]], dtype=torch.float64)
    torch.testing.assert_close(results[0], want)


def test_self_distances_by_cdist_free_what_they_saved_after_the_backward():
    """The autograd.Function saves x and the distances for cdist's backward kernel: freed by a
    backward that frees the graph, and a second backward then fails as the generic path's does."""
    x = _tensor(rng.normal(size=(6, 3)), torch.float64)
    d = _distances(x, "L2")
    assert type(d.grad_fn).__name__ == "SelfDistancesBackward"
    d.sum().backward()
    with pytest.raises(RuntimeError, match="second time|already been freed"):
        d.sum().backward()


def test_self_distances_by_cdist_leave_half_precision_to_the_generic_path():
    for dtype in (torch.float16, torch.bfloat16):
        assert _fast.torch_self_distances(torch.randn(6, 4).to(dtype), None) is None


def _no_general_path(*args, **kwargs):
    raise AssertionError("the general path was taken")


# the function, its loss class, the inputs (log-probabilities for NLL, scores for the others),
# and the general path's first steps (the functions a call that takes the lane never reaches)
LANES = {
    "nll": (LF.nll_loss, losskit.NLLLoss, lambda x: x.log_softmax(1), ("softmax_cross_entropy", "check_ce_options")),
    "ce": (LF.softmax_cross_entropy, losskit.SoftmaxCELoss, lambda x: x, ("check_ce_options",)),
    "multi_margin": (
        LF.multi_margin_loss,
        losskit.MultiMarginLoss,
        lambda x: x,
        ("check_multi_margin", "_class_inputs"),
    ),
}


@contextlib.contextmanager
def _general_path_refused(monkeypatch, module, names):
    """The functions ``names`` of ``module`` raise: a call that reaches them took the general path."""
    with monkeypatch.context() as patched:
        for name in names:
            patched.setattr(module, name, _no_general_path)
        yield


@pytest.mark.parametrize("kind", list(LANES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_class_lane_is_the_general_path_without_its_checks(kind, dtype, layout, monkeypatch):
    """NLLLoss / SoftmaxCELoss / MultiMarginLoss on (N, C) CPU tensors and (N,) int64 labels with
    no option: torch's op at once, equal to the general path (value and gradient) and never
    reaching it."""
    import losskit.functional.classification as classification

    function, loss_class, prepare, general = LANES[kind]
    gen = torch.Generator().manual_seed(0)
    raw = prepare(torch.randn(7, 5, generator=gen, dtype=dtype))
    label = torch.randint(0, 5, (7,), generator=gen)
    with monkeypatch.context() as patched:  # the general path, its fast path included: bit for bit
        patched.setattr(_fast, "torch_class_rows", lambda *args: None)
        want_leaf = raw.clone().requires_grad_()
        want = function(want_leaf, label)
        (want_grad,) = torch.autograd.grad(want.sum(), want_leaf)
    with _fast.disabled():  # and the generic array-API path, to rounding
        generic_leaf = raw.clone().requires_grad_()
        generic = function(generic_leaf, label)
        (generic_grad,) = torch.autograd.grad(generic.sum(), generic_leaf)
    leaf = raw.t().contiguous().t().requires_grad_() if layout == "transposed" else raw.clone().requires_grad_()
    with _general_path_refused(monkeypatch, classification, general):
        got = loss_class()(leaf, label)
    (grad,) = torch.autograd.grad(got.sum(), leaf)
    assert got.dtype == dtype and got.shape == (7,)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=0)
    torch.testing.assert_close(got, generic)  # (dtype-tied tolerances)
    torch.testing.assert_close(grad, generic_grad)


# other inputs and options, each of which the general path must see
_OTHER_CLASS_CALLS = [
    (lambda x, y: ((x.half(), y), {})),  # float16: computed in float32 by the general path
    (lambda x, y: ((x, y.int()), {})),  # int32 labels
    (lambda x, y: ((x[None], y[None]), {})),  # (1, N, C): a 3-D input
    (lambda x, y: ((x[:, :1], y * 0), {})),  # one class
    (lambda x, y: ((x, y), {"batch_axis": False})),  # refused there (False == 0, but no int)
    (lambda x, y: ((x, y), {"class_weight": torch.ones(3)})),
    (lambda x, y: ((x, y), {"weight": 2.0})),
    (lambda x, y: ((x, y, torch.ones(4)), {})),  # a sample_weight
]
_OTHER_CLASS_OPTIONS = {
    "nll": [{"ignore_index": 0}, {"reduction": "mean"}],
    "ce": [{"ignore_index": 0}, {"reduction": "mean"}, {"label_smoothing": 0.1}],
    "multi_margin": [{"margin": 1}, {"p": 2.0}, {"axis": 0}],  # an int margin and a float p: as valid
}


@pytest.mark.parametrize(
    ("kind", "make"),
    [(kind, make) for kind in LANES for make in _OTHER_CLASS_CALLS]
    + [(kind, lambda x, y, o=options: ((x, y), o)) for kind, more in _OTHER_CLASS_OPTIONS.items() for options in more],
)
def test_class_lane_leaves_other_calls_to_the_general_path(kind, make, monkeypatch):
    import losskit.functional.classification as classification

    function, _, prepare, general = LANES[kind]
    args, options = make(prepare(torch.randn(4, 3)), torch.tensor([0, 2, 1, 2]))
    with _general_path_refused(monkeypatch, classification, general), pytest.raises(AssertionError, match="general"):
        function(*args, **options)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("nll", {"axis": True}),
        ("ce", {"axis": True}),
        ("ce", {"label_smoothing": torch.tensor(0.0)}),
        ("multi_margin", {"axis": True}),
        ("multi_margin", {"p": True}),
        ("multi_margin", {"margin": math.nan}),
        ("multi_margin", {"margin": -1.0}),
    ],
)
def test_class_lane_leaves_refused_options_to_the_general_path(kind, options):
    """``True == 1`` and ``tensor(0.) == 0``: the lane compares types first, and the general path
    refuses these options (and a margin out of range)."""
    function, _, prepare, _ = LANES[kind]
    with pytest.raises((TypeError, ValueError)):
        function(prepare(torch.randn(4, 3)), torch.tensor([0, 2, 1, 2]), **options)


@pytest.mark.parametrize("kind", list(LANES))
@pytest.mark.parametrize("bad", [-1, 3, -100])
def test_class_lane_refuses_an_out_of_range_label_with_losskits_error(kind, bad):
    _, loss_class, prepare, _ = LANES[kind]
    x, label = prepare(torch.randn(4, 3)), torch.tensor([0, bad, 1, 2])
    with pytest.raises(ValueError, match=rf"label holds class indices in \[{min(bad, 0)}, {max(bad, 2)}\]"):
        loss_class()(x, label)


# the function and its loss class, each with no option: TripletMarginLoss's p=2 and eps, or
# TripletMarginWithDistanceLoss's default distance (pairwise_distance, eps=1e-6)
TRIPLET_LANES = {
    "triplet_margin": (losskit.functional.triplet_margin_loss, losskit.TripletMarginLoss),
    "triplet_distance": (losskit.functional.triplet_margin_with_distance_loss, losskit.TripletMarginWithDistanceLoss),
}
_TRIPLET_GENERAL = ("_triplet_vectors", "triplet_margin_with_distance_traced")


@pytest.mark.parametrize("kind", list(TRIPLET_LANES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_triplet_lane_is_the_general_path_without_its_checks(kind, dtype, layout, monkeypatch):
    """The triplet losses on (N, D) CPU tensors with no option: the distances by torch's
    pairwise_distance at once, equal to the general path (value and the three gradients) and to
    the generic scaled norm to rounding, never reaching the general path."""
    import losskit.functional.metric as metric

    function, loss_class = TRIPLET_LANES[kind]
    gen = torch.Generator().manual_seed(1)
    raw = [torch.randn(9, 6, generator=gen, dtype=dtype) for _ in range(3)]

    def run(call, transposed=False):
        leaves = [(r.t().contiguous().t() if transposed else r.clone()).requires_grad_() for r in raw]
        loss = call(*leaves)
        return loss, torch.autograd.grad(loss.sum(), leaves)

    transposed = layout == "transposed"  # (torch's reduction order follows the layout)
    with monkeypatch.context() as patched:  # the general path, its fast path included: bit for bit
        patched.setattr(_fast, "torch_triplet_rows", lambda *args: None)
        want, want_grads = run(function, transposed)
    with _fast.disabled():
        generic, generic_grads = run(function)
    with _general_path_refused(monkeypatch, metric, _TRIPLET_GENERAL):
        got, grads = run(loss_class(), transposed)
    assert got.dtype == dtype and got.shape == (9,)
    assert 0 < int((got > 0).sum()) < 9  # both sides of the hinge
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(generic, got)
    for grad, want_grad, generic_grad in zip(grads, want_grads, generic_grads):
        torch.testing.assert_close(grad, want_grad, rtol=0, atol=0)
        torch.testing.assert_close(grad, generic_grad)


_OTHER_TRIPLET_CALLS = [
    (lambda a, p, n: ((a.half(), p.half(), n.half()), {})),  # float16
    (lambda a, p, n: ((a, p.double(), n), {})),  # mixed dtypes: promoted by the general path
    (lambda a, p, n: ((a[None], p[None], n[None]), {})),  # (1, N, D): 3-D
    (lambda a, p, n: ((a[0], p[0], n[0]), {})),  # one unbatched triplet
    (lambda a, p, n: ((a * 0, p, n * 0 + 1e-6), {})),  # a - n + eps = 0: a distance of 0 (below the floor)
    (lambda a, p, n: ((a, p, n.clone().fill_(math.nan)), {})),  # a NaN distance
    (lambda a, p, n: ((a * 1e30, p, n), {})),  # an infinite float32 distance (squares overflow)
    (lambda a, p, n: ((a, p, n), {"swap": True})),
    (lambda a, p, n: ((a, p, n), {"margin": 1})),  # an int margin: valid, the general path's
    (lambda a, p, n: ((a, p, n), {"margin": torch.tensor(1.0)})),
    (lambda a, p, n: ((a, p, n), {"weight": 2.0})),
    (lambda a, p, n: ((a, p, n), {"batch_axis": -1})),
    (lambda a, p, n: ((a, p, n, torch.ones(4)), {})),  # a sample_weight
]


@pytest.mark.parametrize("kind", list(TRIPLET_LANES))
@pytest.mark.parametrize("make", _OTHER_TRIPLET_CALLS)
def test_triplet_lane_leaves_other_calls_to_the_general_path(kind, make, monkeypatch):
    import losskit.functional.metric as metric

    function, _ = TRIPLET_LANES[kind]
    args, options = make(*(torch.randn(4, 3) for _ in range(3)))
    with _general_path_refused(monkeypatch, metric, _TRIPLET_GENERAL), pytest.raises(AssertionError, match="general"):
        function(*args, **options)


@pytest.mark.parametrize("options", [{"p": 1}, {"eps": 0.0}, {"eps": 1e-6, "p": 3.0}])
def test_triplet_margin_lane_leaves_other_norms_and_eps_to_the_general_path(options, monkeypatch):
    """p != 2 takes the general path; eps=0 is the lane's too, and an anchor equal to its positive
    (a distance of exactly 0, where the generic derivative is 0) then leaves it."""
    import losskit.functional.metric as metric

    a, p, n = (torch.randn(4, 3) for _ in range(3))
    if options.get("p", 2) == 2:
        with _general_path_refused(monkeypatch, metric, _TRIPLET_GENERAL):
            losskit.functional.triplet_margin_loss(a, p, n, **options)  # the lane
        a = p
    with _general_path_refused(monkeypatch, metric, _TRIPLET_GENERAL), pytest.raises(AssertionError, match="general"):
        losskit.functional.triplet_margin_loss(a, p, n, **options)


@pytest.mark.parametrize("kind", list(TRIPLET_LANES))
@pytest.mark.parametrize("options", [{"margin": math.nan}, {"margin": math.inf}, {"swap": 0}, {"batch_axis": False}])
def test_triplet_lane_leaves_refused_options_to_the_general_path(kind, options):
    function, _ = TRIPLET_LANES[kind]
    with pytest.raises((TypeError, ValueError)):
        function(*(torch.randn(4, 3) for _ in range(3)), **options)
