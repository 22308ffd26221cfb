"""The Triton kernel of ``losskit.fused`` (``_triton.py``) against float64 closed forms and against
the PyTorch path, run in Triton's interpreter on CPU tensors (the root ``conftest.py`` sets
``TRITON_INTERPRET=1``). The interpreter runs each row as a Python program (a few ms a row), so
the problems are small; on a GPU, ``benchmarks/device_check.py`` compares the compiled kernel
with the PyTorch path and times both.

The interpreter rounds float32 to bfloat16 toward zero where a GPU rounds to nearest: bfloat16
gradients are compared to within one bfloat16 step.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")  # Linux only (the dev extra installs it there)

from losskit.fused import _torch as fused_torch  # noqa: E402
from losskit.fused import _triton, linear_cross_entropy  # noqa: E402

tf = torch.nn.functional
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
# one rounding of the gradient to the dtype (bfloat16: the interpreter truncates, at most one step)
STEP = {torch.float32: 2.0**-22, torch.bfloat16: 2.0**-7, torch.float16: 2.0**-10}


def test_the_interpreter_is_on_and_taken_only_when_asked(monkeypatch):
    """Every other test here would compare the PyTorch path with itself if the kernel were not
    taken. On the CPU, only ``TRITON = True`` takes it: by default a process that runs Triton's
    interpreter (to debug other kernels) keeps the PyTorch path."""
    h = torch.ones(1, 2)
    assert _triton.supports(torch.float32, torch.device("cpu"), interpreter=True)
    assert fused_torch.TRITON is None and fused_torch._kernel_for(h) is None
    monkeypatch.setattr(fused_torch, "TRITON", True)
    assert fused_torch._kernel_for(h) is _triton


def _rows(dtype, vocab=50, seed=0):
    """Logits with the hard rows in: a row whose maximum is in its last block and would overflow
    exp in float32 unless the running sum is rescaled (100 > log(float32 max) = 88.7), a constant
    row, labels at both ends of the vocabulary, an ignored row, a row whose first 16 logits (a
    whole block of 16) are -inf (a masked vocabulary: the running max starts at -inf)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(9, vocab, generator=g, dtype=torch.float64) * 3
    x[1] = torch.linspace(-50, 100 if dtype != torch.float16 else 60, vocab, dtype=torch.float64)
    x[2] = 7.0
    label = torch.randint(0, vocab, (9,), generator=g)
    label[1], label[3], label[5] = vocab - 1, 0, -100
    x[4, :16], label[4] = float("-inf"), 40
    return x.to(dtype), label


def _closed_form(x, label, z_loss, scale):
    """float64: lse, loss (0 where ignored) and (softmax (1 + 2 z lse) - onehot) * scale (0 where ignored)."""
    x = x.double()
    valid = label != -100
    safe = torch.where(valid, label, 0)
    lse = torch.logsumexp(x, 1)
    loss = torch.where(valid, lse - x.gather(1, safe[:, None])[:, 0] + z_loss * lse**2, 0.0)
    grad = torch.softmax(x, 1) * (1 + 2 * z_loss * lse)[:, None] - tf.one_hot(safe, x.shape[1])
    return lse, loss, grad * torch.where(valid, scale.double(), 0.0).reshape(-1, 1).expand(len(x), 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("block", [16, 32768], ids=["4-blocks", "1-block"])
@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
@pytest.mark.parametrize("per_row_scale", [False, True])
def test_kernel_matches_the_float64_closed_form(dtype, block, z_loss, per_row_scale):
    x, label = _rows(dtype)
    scale = torch.linspace(0.5, 2.0, len(x)) if per_row_scale else torch.tensor(0.25)
    g, lse, loss = x.clone(), torch.full((len(x),), 7.0), torch.full((len(x),), 7.0)
    _triton.cross_entropy_rows_(g, label, -100, z_loss, loss=loss, lse=lse, scale=scale, block=block)
    want_lse, want_loss, want_grad = _closed_form(x, label, z_loss, scale)
    assert g.dtype == dtype and lse.dtype == loss.dtype == torch.float32
    torch.testing.assert_close(lse.double(), want_lse, rtol=2e-7, atol=0)
    torch.testing.assert_close(loss.double(), want_loss, rtol=1e-6, atol=1e-6 * want_lse.abs().max().item())
    assert loss[5] == 0 and torch.count_nonzero(g[5]) == 0  # the ignored row
    _assert_gradient_close(g, want_grad, want_lse, scale)


def _assert_gradient_close(got, want, lse, scale):
    """Each entry one rounding to the dtype from the float64 value, plus float32's error in
    exp(x - lse): lse in float32 is off by up to a step of |lse| (x - lse in float32, as in
    the PyTorch path: softmax p has a relative error ~2**-24 |lse|), which the label's entry
    (p - 1) scale keeps as an absolute error on p scale <= |want| + scale."""
    row_scale = scale.double().reshape(-1, 1).expand(len(got), 1).abs()
    exp_error = 2.0**-22 * (1 + lse.abs()[:, None])
    bound = STEP[got.dtype] * want.abs() + exp_error * (want.abs() + row_scale)
    err = (got.double() - want).abs()
    assert (err <= bound).all(), (err / bound).max()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_kernel_gradient_from_a_given_lse_leaves_the_loss_alone(dtype):
    """The backward pass's call: lse read, not recomputed; only the gradient written."""
    x, label = _rows(dtype)
    want_lse, _, want_grad = _closed_form(x, label, 0.0, torch.full((len(x),), 3.0))
    g, lse = x.clone(), want_lse.float()
    scale = torch.tensor(3.0).expand(len(x))  # an expanded upstream gradient: stride 0
    _triton.cross_entropy_rows_(g, label, -100, 0.0, lse=lse, lse_given=True, scale=scale, block=16)
    torch.testing.assert_close(lse, want_lse.float(), rtol=0, atol=0)
    _assert_gradient_close(g, want_grad, want_lse, scale)


def test_kernel_without_scale_writes_no_gradient():
    x, label = _rows(torch.float32)
    g, lse, loss = x.clone(), torch.empty(len(x)), torch.empty(len(x))
    _triton.cross_entropy_rows_(g, label, -100, 0.0, loss=loss, lse=lse)
    assert torch.equal(g, x)


def test_kernel_ignore_index_other_than_the_default():
    x, label = _rows(torch.float32)
    label = torch.where(label == -100, 10**12, label)  # an int64 ignore index
    g, lse, loss = x.clone(), torch.empty(len(x)), torch.empty(len(x))
    _triton.cross_entropy_rows_(g, label, 10**12, 0.0, loss=loss, lse=lse, scale=torch.tensor(1.0))
    assert loss[5] == 0 and torch.count_nonzero(g[5]) == 0 and (loss[[0, 1, 2, 3]] > 0).all()


def _problem(dtype, n=40, d=16, v=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g).to(dtype)
    w = (torch.randn(v, d, generator=g) / 2).to(dtype)
    b = torch.randn(v, generator=g).to(dtype)
    y = torch.randint(0, v, (n,), generator=g)
    y[::6] = -100
    return h, w, b, y


def _count_kernel_calls(monkeypatch):
    """A list that grows by one at each launch of the kernel."""
    calls = []
    real = _triton.cross_entropy_rows_
    monkeypatch.setattr(_triton, "cross_entropy_rows_", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def _run(path, monkeypatch, h, w, b, y, **kwargs):
    monkeypatch.setattr(fused_torch, "TRITON", path == "triton")
    calls = _count_kernel_calls(monkeypatch)
    args = [t.clone().requires_grad_() for t in (h, w, b)]
    out = linear_cross_entropy(args[0], args[1], y, bias=args[2], **kwargs)
    upstream = torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
    grads = torch.autograd.grad(out, args, upstream)
    assert bool(calls) == (path == "triton")
    return out, grads


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_loss_with_the_kernel_equals_the_pytorch_path(dtype, reduction, monkeypatch):
    """Values and all three gradients; the gradients of float32 agree to float32 rounding, those of
    bfloat16 and float16 to a few steps of their accumulation (per chunk, in the dtype)."""
    h, w, b, y = _problem(dtype)
    kwargs = {"reduction": reduction, "z_loss": 1e-3, "chunk_size": 16}
    got, got_grads = _run("triton", monkeypatch, h, w, b, y, **kwargs)
    want, want_grads = _run("pytorch", monkeypatch, h, w, b, y, **kwargs)
    assert got.dtype == want.dtype == torch.float32 and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    tol = {torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.float16: 4e-3}[dtype]
    for a, e in zip(got_grads, want_grads):
        assert a.dtype == e.dtype == dtype
        rel = ((a.double() - e.double()).norm() / e.double().norm()).item()
        assert rel < tol, rel


def test_the_kernel_path_leaves_the_inputs_alone(monkeypatch):
    """The kernel writes the gradient over the chunk's logits, a product of its own, never over an input."""
    h, w, b, y = _problem(torch.float32)
    saved = [t.clone() for t in (h, w, b, y)]
    _run("triton", monkeypatch, h, w, b, y, chunk_size=16)
    for t, s in zip((h, w, b, y), saved):
        assert torch.equal(t, s)


def test_float16_kernel_gradients_survive_a_loss_scale(monkeypatch):
    """float16 recomputes in backward with the upstream gradient (here a 2**14 loss scale times
    1/count) folded into the kernel's float32 arithmetic before the cast: unscaled, the small
    softmax entries would underflow float16 (and 0.4 % of grad_weight came out 0 that way)."""
    rng = torch.Generator().manual_seed(0)
    n, d, v = 64, 16, 4000
    h = (torch.randn(n, d, generator=rng) / 4).half()
    w = (torch.randn(v, d, generator=rng) / 4).half()
    y = torch.randint(0, v, (n,), generator=rng)
    args = [t.clone().requires_grad_() for t in (h, w)]
    monkeypatch.setattr(fused_torch, "TRITON", True)
    calls = _count_kernel_calls(monkeypatch)
    got = torch.autograd.grad(linear_cross_entropy(*args, y) * 2.0**14, args)
    exact = [t.double().requires_grad_() for t in (h, w)]
    want = torch.autograd.grad(tf.cross_entropy(tf.linear(*exact), y) * 2.0**14, exact)
    assert calls
    for a, e in zip(got, want):
        assert ((a.double() - e).norm() / e.norm()).item() < 5e-3
        assert torch.count_nonzero(a) == torch.count_nonzero(e)


def test_no_kernel_while_torch_traces_or_for_float64(monkeypatch):
    from torch._subclasses.fake_tensor import FakeTensorMode

    monkeypatch.setattr(fused_torch, "TRITON", True)
    assert fused_torch._kernel_for(torch.ones(1, 2, dtype=torch.float64)) is None
    with FakeTensorMode() as mode:
        h = mode.from_tensor(torch.ones(1, 2))
        assert fused_torch._kernel_for(h) is None
    monkeypatch.setattr(fused_torch, "TRITON", False)
    assert fused_torch._kernel_for(torch.ones(1, 2)) is None


@pytest.mark.parametrize("path", ["triton", "pytorch"])
def test_a_backward_traced_by_compiled_autograd(path, monkeypatch):
    """A forward run eagerly (with the kernel) and a backward that compiled autograd traces on
    fake tensors: the backward takes the PyTorch path there (reduction='none' recomputes)."""
    h, w, b, y = _problem(torch.float32)
    want = _run("pytorch", monkeypatch, h, w, b, y, reduction="none", chunk_size=16)[1]
    monkeypatch.setattr(fused_torch, "TRITON", path == "triton")
    args = [t.clone().requires_grad_() for t in (h, w, b)]
    out = linear_cross_entropy(args[0], args[1], y, bias=args[2], reduction="none", chunk_size=16)
    upstream = torch.linspace(0.5, 1.5, out.numel())
    with torch._dynamo.compiled_autograd._enable(torch.compile(backend="eager", fullgraph=True)):
        (out * upstream).sum().backward()
    for got, ref in zip((a.grad for a in args), want):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


AHEAD_OF_TIME = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from losskit.fused import _triton

assert not triton.knobs.runtime.interpret
flags = ("LSE_GIVEN", "WRITE_LOSS", "WRITE_GRAD")
variants = {"forward+gradient": (False, True, True), "forward": (False, True, False), "backward": (True, False, True)}
# as launched: strides, vocabulary and ignore index are i32 at their usual values, i64 beyond
# (a 2**40 ignore index); a block of 32768 logits (32 warps) for V > 16k, 1024 (8 warps) for V ~ 1k
launches = [(90, 32768, "i32"), (80, 32768, "i32"), (90, 1024, "i64")]
for dtype in ("fp32", "bf16", "fp16"):
    for name, values in variants.items():
        for arch, block, ints in launches:
            signature = {
                "logits_ptr": f"*{dtype}", "row_stride": ints, "label_ptr": "*i64", "scale_ptr": "*fp32",
                "scale_stride": ints, "loss_ptr": "*fp32", "lse_ptr": "*fp32", "vocab": ints,
                "ignore_index": ints, "z_loss": "fp32", **dict.fromkeys(("BLOCK",) + flags, "constexpr"),
            }
            constexprs = {"BLOCK": block, **dict(zip(flags, values))}
            source = ASTSource(triton.jit(_triton._cross_entropy_rows), signature, constexprs)
            options = {"num_warps": _triton.num_warps(block)}
            kernel = triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options)
            assert kernel.asm["cubin"] and f".target sm_{arch}" in kernel.asm["ptx"], (dtype, name, arch)
            print(dtype, name, f"sm_{arch}", block, ints, "ok")
"""


def test_kernel_compiles_for_hopper_and_ampere(tmp_path):
    """Compiled ahead of time to a cubin for sm_90 (H100/H200) and sm_80 (A100), with Triton's own
    ptxas, in every variant the PyTorch path launches (three dtypes; forward with and without the
    gradient, backward): the interpreter runs Python and would not see a kernel that fails to
    compile for a GPU. In a subprocess, because the interpreter is chosen when Triton is
    imported. (benchmarks/device_check.py runs the compiled kernel on a GPU.)"""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_CACHE_DIR": str(tmp_path), "TRITON_DEFAULT_FP_FUSION": "1"}
    done = subprocess.run([sys.executable, "-c", AHEAD_OF_TIME], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count(" ok") == 27, done.stdout
