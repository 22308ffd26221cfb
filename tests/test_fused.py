"""``losskit.fused.linear_cross_entropy`` against the unfused reference ``cross_entropy(linear(h))``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends import to_numpy
from losskit.fused import linear_cross_entropy

torch = pytest.importorskip("torch")
tf = torch.nn.functional
N, D, V = 37, 16, 50


@pytest.fixture(params=["pytorch", "triton"])
def torch_path(request, monkeypatch):
    """The PyTorch path, and the Triton kernel (tests/test_fused_triton.py) where Triton is
    installed: in the interpreter on CPU tensors. Only float32, bfloat16 and float16 take the
    kernel; float64 stays on the PyTorch path. Checks that the kernel ran exactly when asked."""
    from losskit.fused import _torch as fused_torch

    calls = []
    if request.param == "triton":
        pytest.importorskip("triton")
        from losskit.fused import _triton

        real = _triton.cross_entropy_rows_
        monkeypatch.setattr(_triton, "cross_entropy_rows_", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(fused_torch, "TRITON", request.param == "triton")
    yield request.param
    assert bool(calls) == (request.param == "triton")


def _inputs(dtype=torch.float64, ignore_every=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, D, dtype=dtype, generator=g)
    w = torch.randn(V, D, dtype=dtype, generator=g)
    b = torch.randn(V, dtype=dtype, generator=g)
    y = torch.randint(0, V, (N,), generator=g)
    if ignore_every:
        y[::ignore_every] = -100
    return h, w, b, y


def _reference(h, w, b, y, reduction, z_loss):
    logits = tf.linear(h, w, b)
    lse = torch.logsumexp(logits, dim=1)
    per = torch.where(y != -100, tf.cross_entropy(logits, y, reduction="none") + z_loss * lse**2, 0.0)
    if reduction == "none":
        return per
    return per.sum() if reduction == "sum" else per.sum() / (y != -100).sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
@pytest.mark.parametrize("chunk_size", [8, 37, None])
def test_torch_values_and_gradients(reduction, z_loss, chunk_size):
    h, w, b, y = (t.requires_grad_(t.dtype.is_floating_point) for t in _inputs())
    out = linear_cross_entropy(h, w, y, bias=b, reduction=reduction, z_loss=z_loss, chunk_size=chunk_size)
    ref = _reference(h, w, b, y, reduction, z_loss)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    if reduction == "mean":  # equals torch's own cross_entropy with ignore_index
        if z_loss == 0:
            torch.testing.assert_close(out, tf.cross_entropy(tf.linear(h, w, b), y), rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(out)
    got = torch.autograd.grad(out, (h, w, b), upstream)
    want = torch.autograd.grad(ref, (h, w, b), upstream)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_torch_gradcheck(reduction):
    g = torch.Generator().manual_seed(1)
    h, w, b = (
        torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True) for shape in ((9, 6), (12, 6), (12,))
    )
    y = torch.tensor([0, 3, -100, 11, 5, 5, 2, -100, 7])
    assert torch.autograd.gradcheck(
        lambda h, w, b: linear_cross_entropy(h, w, y, bias=b, reduction=reduction, chunk_size=4, z_loss=1e-2), (h, w, b)
    )


def test_all_ignored_is_zero_with_zero_gradient():
    h, w, b, y = _inputs(ignore_every=0)
    h.requires_grad_()
    out = linear_cross_entropy(h, w, torch.full_like(y, -100), bias=b)
    (g,) = torch.autograd.grad(out, h)
    assert out.item() == 0.0 and torch.count_nonzero(g) == 0


def test_bfloat16_inputs_give_a_float32_loss_close_to_the_reference(torch_path):
    h, w, b, y = (t.bfloat16() if t.dtype.is_floating_point else t for t in _inputs(torch.float32))
    out = linear_cross_entropy(h, w, y, bias=b)
    assert out.dtype == torch.float32
    # the reference sees the same bfloat16 values; only the bf16 logits' rounding differs (2^-9 of
    # |z| <= 21 here: the mean moves 3.0e-4, as much as a reference of bf16-rounded logits does)
    torch.testing.assert_close(
        out, _reference(h.double(), w.double(), b.double(), y, "mean", 0.0).float(), rtol=1e-3, atol=0
    )


def test_jax_matches_torch_values_and_gradients():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    h, w, b, y = _inputs()
    hj, wj, bj, yj = (jnp.asarray(t.numpy()) for t in (h, w, b, y))
    for reduction in ("mean", "none", "sum"):

        def f(h_, w_, b_, reduction=reduction):
            return linear_cross_entropy(h_, w_, yj, bias=b_, reduction=reduction, chunk_size=8, z_loss=1e-3)

        out = f(hj, wj, bj)
        np.testing.assert_allclose(to_numpy(jax.jit(f)(hj, wj, bj)), to_numpy(out), rtol=1e-12)
        # a cotangent other than 1 (and not 0: arange from 0 made the scalar cases' gradients all 0)
        weights = jnp.arange(2, out.size + 2, dtype=out.dtype).reshape(out.shape)
        gj = jax.grad(lambda *a, wts=weights: (f(*a) * wts).sum(), argnums=(0, 1, 2))(hj, wj, bj)
        ht, wt, bt = (t.clone().requires_grad_() for t in (h, w, b))
        ref = _reference(ht, wt, bt, y, reduction, 1e-3)
        gt = torch.autograd.grad((ref * torch.as_tensor(np.array(weights))).sum(), (ht, wt, bt))
        np.testing.assert_allclose(to_numpy(out), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        for a, e in zip(gj, gt):
            np.testing.assert_allclose(to_numpy(a), e.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
def test_numpy_forward(reduction, z_loss):
    """The array-API forward (NumPy here): z-loss and the mean over the labels not ignored."""
    h, w, b, y = _inputs()
    args = h.numpy(), w.numpy(), y.numpy()
    out = linear_cross_entropy(*args, bias=b.numpy(), reduction=reduction, z_loss=z_loss, chunk_size=7)
    want = _reference(h, w, b, y, reduction, z_loss).numpy()
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    if reduction == "mean" and z_loss == 0:  # torch's own mean skips the ignored labels too
        np.testing.assert_allclose(out, tf.cross_entropy(tf.linear(h, w, b), y).numpy(), rtol=1e-12)


def test_errors():
    h, w, b, y = _inputs()
    with pytest.raises(ValueError, match=r"hidden shape \(37, 16\) and weight shape \(50, 8\)"):
        linear_cross_entropy(h, w[:, :8], y)
    with pytest.raises(ValueError, match=r"label shape \(36,\)"):
        linear_cross_entropy(h, w, y[:36])
    with pytest.raises(ValueError, match="outside the valid range"):
        linear_cross_entropy(h, w, torch.where(y == -100, 50, y))
    with pytest.raises(ValueError, match="reduction"):
        linear_cross_entropy(h, w, y, reduction="avg")
    with pytest.raises(TypeError, match="integer"):
        linear_cross_entropy(h, w, y.double())
    with pytest.raises(ValueError, match=r"weight has no rows \(shape \(0, 16\)\)"):  # was "range [0, -1]"
        linear_cross_entropy(h, w[:0], torch.full_like(y, -100))
    for bias in (np.arange(50), np.ones(50, dtype=bool)):  # a float bias only, on every backend
        with pytest.raises(TypeError, match="bias must be a real floating-point array"):
            linear_cross_entropy(h.detach().numpy(), w.detach().numpy(), y.numpy(), bias=bias)
    for bad in (1.5, True, "x"):  # int() would have made 1.5 and True class 1, silently ignored
        with pytest.raises(TypeError, match="ignore_index must be an int, got"):
            linear_cross_entropy(h, w, y, ignore_index=bad)
    with pytest.raises(ValueError, match=r"ignore_index must be in \[-2147483648, 2147483647\].*got 2147483648"):
        linear_cross_entropy(h, w, y, ignore_index=2**31)


def test_even_chunk_pads_less_than_one_row_per_chunk():
    from losskit.fused._jax import even_chunk

    assert even_chunk(520, 512) == 260  # two chunks of 260, not 1024 rows
    for n in (1, 7, 37, 511, 512, 513, 1000, 4097):
        for chunk in (1, 7, 64, 512, 5000):
            even = even_chunk(n, chunk)
            chunks = -(-n // even)
            assert even <= max(chunk, 1) and chunks == -(-n // chunk)  # no more memory, as many chunks
            assert chunks * even - n < chunks


def test_scaling_in_float32_blocks(monkeypatch):
    """_scaled forms each product in float32 block by block (on CUDA a bfloat16 tensor times a 0-d
    float32 CUDA tensor reads the scale as bfloat16): the blocks cover every row exactly once."""
    from losskit.fused import _torch as fused_torch

    monkeypatch.setattr(fused_torch, "_SCALE_BLOCK", 7 * 16)  # blocks of 7 rows of 16: 37 rows, 6 blocks
    t = torch.randn(37, 16).bfloat16()
    c = torch.tensor(1 / 3)
    got = fused_torch._scaled(t, c, torch.bfloat16)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, (t.float() * c).bfloat16(), rtol=0, atol=0)
    assert not torch.equal(got, t * c.bfloat16())  # what the scale rounded to bfloat16 gives
    assert fused_torch._scaled(torch.zeros(0, 16).bfloat16(), c, torch.bfloat16).shape == (0, 16)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gradients_are_scaled_in_place_unless_the_graph_is_kept(dtype, monkeypatch):
    """For a scalar loss the forward pass forms the gradients; the backward scales them where they
    lie when the graph is freed after it (no second V x D buffer at the peak), bit for bit as the
    scaled copy that retain_graph=True needs (its next backward sees them unscaled: the same
    gradients again, and gradcheck's repeated backwards pass)."""
    from losskit.fused import _torch as fused_torch

    calls = []
    for name in ("_scale_in_place", "_scaled"):
        real = getattr(fused_torch, name)
        monkeypatch.setattr(fused_torch, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    torch.manual_seed(0)
    h, w = torch.randn(64, 16).to(dtype), (torch.randn(96, 16) / 4).to(dtype)
    y = torch.randint(0, 96, (64,))

    def grads(retain: bool) -> list[list[torch.Tensor]]:
        hh, ww = h.clone().requires_grad_(), w.clone().requires_grad_()
        loss = linear_cross_entropy(hh, ww, y, chunk_size=16) / 3
        return [list(torch.autograd.grad(loss, (hh, ww), retain_graph=retain)) for _ in range(2 if retain else 1)]

    (freed,) = grads(retain=False)
    assert calls == ["_scale_in_place", "_scale_in_place"]
    calls.clear()
    first, second = grads(retain=True)
    assert calls == ["_scaled"] * 4
    for a, b, c in zip(freed, first, second):
        assert a.dtype == dtype and torch.equal(a, b) and torch.equal(b, c)


def test_a_backward_that_fails_after_scaling_in_place_cannot_be_retried(monkeypatch):
    """A backward pass that fails midway (out of memory in a scaling block, say) leaves the graph
    and some gradients already scaled: a retry must not scale them twice."""
    from losskit.fused import _torch as fused_torch

    real, calls = fused_torch._scale_in_place, []

    def fail_second(t, scale):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("simulated")
        return real(t, scale)

    monkeypatch.setattr(fused_torch, "_scale_in_place", fail_second)
    h, w = torch.randn(32, 8, requires_grad=True), torch.randn(40, 8, requires_grad=True)
    loss = linear_cross_entropy(h, w, torch.randint(0, 40, (32,)))  # the graph's root: nothing after it frees
    with pytest.raises(MemoryError):
        loss.backward(torch.tensor(0.5))
    with pytest.raises(RuntimeError, match="failed after scaling its gradients in place"):
        loss.backward(torch.tensor(0.5))


def test_a_second_backward_after_one_that_succeeded_gets_torchs_own_error():
    """Only a failed backward is reported as one: after a backward that freed the graph, another
    meets torch's "backward through the graph a second time" (it was told a backward had failed)."""
    h, w = torch.randn(32, 8, requires_grad=True), torch.randn(40, 8, requires_grad=True)
    loss = linear_cross_entropy(h, w, torch.randint(0, 40, (32,)))
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_upstream_gradient_at_ignored_rows_stays_there(bad, torch_path):
    """reduction='none': an ignored row's upstream gradient may be NaN or inf (a mean over a fully
    padded sequence, 0/0): it reaches no gradient, as with torch's cross_entropy (0 * inf was NaN in
    every gradient)."""
    h, w, b, y = (t.requires_grad_(t.is_floating_point()) for t in _inputs(torch.float32))  # Triton's dtype
    upstream = torch.linspace(0.5, 2.0, N)
    upstream[y == -100] = bad
    got = torch.autograd.grad(linear_cross_entropy(h, w, y, bias=b, reduction="none"), (h, w, b), upstream)
    want = torch.autograd.grad(_reference(h, w, b, y, "none", 0.0), (h, w, b), upstream)
    for g, r in zip(got, want):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bfloat16_gradients_are_scaled_by_the_upstream_gradient_unrounded(backend, reduction):
    """The gradients (formed in the forward pass for a unit upstream gradient under 'mean', in the
    backward under 'none') are scaled by the upstream gradient in float32: rounded to bfloat16
    first, an upstream 1/3 scaled every gradient by 1.00195 (bf16(1/3) * 3), a bias the unfused
    head does not have. The least-squares scale of the fused gradients against float64 stays well
    inside that."""
    torch.manual_seed(0)
    n, d, v, c = 256, 64, 512, 1 / 3
    h, w = torch.randn(n, d).bfloat16(), (torch.randn(v, d) / 8).bfloat16()
    y = torch.randint(0, v, (n,))
    hd, wd = (t.double().requires_grad_() for t in (h, w))
    exact = torch.autograd.grad(
        (torch.nn.functional.cross_entropy(hd @ wd.T, y, reduction=reduction) * c).sum(), (hd, wd)
    )
    if backend == "torch":
        hf, wf = (t.clone().requires_grad_() for t in (h, w))
        out = linear_cross_entropy(hf, wf, y, reduction=reduction) * c
        grads = [g.double() for g in torch.autograd.grad(out.sum(), (hf, wf))]
    else:
        jax = pytest.importorskip("jax")
        import jax.numpy as jnp

        hj, wj = (jnp.asarray(t.float().numpy(), jnp.bfloat16) for t in (h, w))
        yj = jnp.asarray(y.numpy())
        got = jax.grad(lambda a, b: (linear_cross_entropy(a, b, yj, reduction=reduction) * c).sum(), (0, 1))(hj, wj)
        grads = [torch.as_tensor(np.asarray(g, np.float64)) for g in got]
    for g, e in zip(grads, exact):
        scale = float((g * e).sum() / (e * e).sum())
        assert abs(scale - 1) < 1e-3, scale  # 1.95e-3 with the upstream gradient in bfloat16


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_torch_second_derivative_is_refused_not_wrong(reduction):
    """The gradients are formed without a graph: create_graph=True must fail loudly (a gradient
    penalty would otherwise silently lose every term through the loss)."""
    h, w, b, y = (t.requires_grad_(t.dtype.is_floating_point) for t in _inputs())
    loss = linear_cross_entropy(h, w, y, bias=b, reduction=reduction).sum()
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.autograd.grad(loss, h, create_graph=True)
    (g,) = torch.autograd.grad(loss, h)  # a plain backward still works
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("transform", ["grad", "vmap", "jacfwd", "forward_ad"])
def test_torch_func_transforms_and_forward_mode_are_refused_by_name(transform):
    """The autograd.Function has a backward only: torch.func's transforms and forward-mode AD
    raised torch's generic errors (override setup_context; implement jvp), naming neither the
    function nor what to do instead."""
    h, w, b, y = _inputs()

    def f(hidden):
        return linear_cross_entropy(hidden, w, y, bias=b)

    message = "linear_cross_entropy on torch has first derivatives through torch.autograd only"
    with pytest.raises(NotImplementedError, match=message):
        if transform == "forward_ad":
            import torch.autograd.forward_ad as fwad

            with fwad.dual_level():
                f(fwad.make_dual(h.detach(), torch.ones_like(h)))
        elif transform == "vmap":
            torch.func.vmap(f)(h.detach()[None])
        else:
            getattr(torch.func, transform)(f)(h.detach())


def test_plain_tensors_inside_a_dual_level_take_the_backward():
    """Only a dual tensor among the inputs is refused: a dual level open elsewhere in the program
    (forward-mode AD of another part of a model) leaves plain inputs to the backward."""
    import torch.autograd.forward_ad as fwad

    h, w, b, y = _inputs()
    h.requires_grad_(True)
    with fwad.dual_level():
        loss = linear_cross_entropy(h, w, y, bias=b)
    (g,) = torch.autograd.grad(loss, h)
    want = torch.autograd.grad(linear_cross_entropy(h, w, y, bias=b), h)[0]
    torch.testing.assert_close(g, want, rtol=0, atol=0)


def test_jax_padded_last_chunk_with_a_large_bias_keeps_gradients_finite():
    """N not a multiple of the chunk: the padding rows must contribute exactly 0, also where
    exp(bias) overflows float32 (bias 100 > log(float32 max) = 88.7). A float32 mean forms its
    gradients in the forward rule; the recomputing backward ('none', float16) has the same case in
    test_fused_jax_backward.py."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    h, w, b, y = _inputs(dtype=torch.float32, ignore_every=0)
    b = b.clone()
    b[3] = 100.0
    hj, wj, bj, yj = (jnp.asarray(t.numpy()) for t in (h, w, b, y))
    assert N % 7 != 0
    grads = jax.grad(lambda *a: linear_cross_entropy(a[0], a[1], yj, bias=a[2], chunk_size=7), argnums=(0, 1, 2))(
        hj, wj, bj
    )
    ht, wt, bt = (t.clone().double().requires_grad_() for t in (h, w, b))
    want = torch.autograd.grad(_reference(ht, wt, bt, y, "mean", 0.0), (ht, wt, bt))
    for got, ref in zip(grads, want):
        assert np.isfinite(np.asarray(got)).all()
        np.testing.assert_allclose(np.asarray(got), ref.numpy(), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_autocast_with_a_float32_master_weight(reduction, torch_path):
    """bfloat16 activations, float32 weight, under autocast: as the unfused head under autocast
    (both products in bfloat16), for every reduction; reduction='none' recomputes the logits in
    its backward, in the dtype the forward used."""
    torch.manual_seed(0)
    h = (torch.randn(64, 32) * 4).bfloat16().requires_grad_()
    w = torch.randn(300, 32, requires_grad=True)
    y = torch.randint(0, 300, (64,))
    y[::7] = -100

    def grads(fn):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = fn()
        loss = out.sum() if reduction == "none" else out
        return (loss, *torch.autograd.grad(loss, (h, w)))

    got = grads(lambda: linear_cross_entropy(h, w, y, reduction=reduction, chunk_size=16))
    want = grads(lambda: tf.cross_entropy(tf.linear(h, w).float(), y, reduction=reduction))
    exact = grads(lambda: tf.cross_entropy(tf.linear(h.double(), w.double()), y, reduction=reduction))
    assert got[1].dtype == torch.bfloat16 and got[2].dtype == torch.float32
    for g, r, e in zip(got, want, exact):
        # as far from the float64 head as the unfused autocast head is (bfloat16 products)
        err = ((g.double() - e.double()).norm() / e.double().norm()).item()
        ref_err = ((r.double() - e.double()).norm() / e.double().norm()).item()
        assert err <= 1.5 * ref_err + 1e-6, (err, ref_err)


def test_torch_mixed_dtypes_without_autocast_are_refused_before_any_work():
    h, w, b, y = _inputs(dtype=torch.float32)
    with pytest.raises(TypeError, match=r"one dtype .*hidden torch.bfloat16, weight torch.float32"):
        linear_cross_entropy(h.bfloat16(), w, y)
    with pytest.raises(TypeError, match=r"bias torch.float64"):
        linear_cross_entropy(h, w, y, bias=b.double())


def test_torch_gradients_only_for_the_inputs_that_need_them(monkeypatch):
    """A frozen head (weight without requires_grad) gets no V x D gradient buffer; under no_grad
    nothing of the gradient is computed (the chunks' products: one per chunk, the logits)."""
    from losskit.fused import _torch as fused_torch

    h, w, b, y = _inputs()
    h.requires_grad_()
    out = linear_cross_entropy(h, w, y, bias=b, chunk_size=8)
    saved = [t.shape for t in out.grad_fn.saved_tensors if t is not None]
    assert saved == [h.shape], saved
    (gh,) = torch.autograd.grad(out, h)
    torch.testing.assert_close(gh, torch.autograd.grad(_reference(h, w, b, y, "mean", 0.0), h)[0])

    calls = []
    monkeypatch.setattr(fused_torch, "_accumulate", lambda *a: calls.append(a))
    w.requires_grad_()
    with torch.no_grad():
        out = linear_cross_entropy(h, w, y, bias=b, chunk_size=8)
    assert calls == [] and out.grad_fn is None
    torch.testing.assert_close(out, _reference(h, w, b, y, "mean", 0.0).detach())


def test_chunk_size_checks_and_defaults():
    from losskit.fused.linear_cross_entropy import MIN_CHUNK, default_chunk_size

    h, w, b, y = _inputs()
    for bad in (0, -1):
        with pytest.raises(ValueError, match="chunk_size must be a positive int"):
            linear_cross_entropy(h, w, y, chunk_size=bad)
    for bad in (2.5, True, "3"):  # not an int: a TypeError, as for z_loss="3" and the distributed ints
        with pytest.raises(TypeError, match="chunk_size must be a positive int"):
            linear_cross_entropy(h, w, y, chunk_size=bad)
    assert default_chunk_size(8192, 128256, 4096) == 512  # Liger's rule gives 256: the floor
    assert default_chunk_size(65536, 128256, 4096) == 2048  # Liger's rule above the floor
    assert default_chunk_size(100, 32000, 64) == 100  # never more rows than tokens
    assert default_chunk_size(10**6, 32000, 512) == max(MIN_CHUNK, -(-(10**6) // 63))


@pytest.mark.parametrize(("chunk_size", "rows"), [(4096, N), (32, 19)])
def test_jax_scan_rows_per_chunk(monkeypatch, chunk_size, rows):
    """The JAX path pads the last chunk to a whole one. A chunk_size above N must not make it
    N x chunk_size (a tuned chunk of 4096 on an eval batch of 8 held 1000x the logits), and the
    chunks are evened out: 37 tokens in chunks of 32 are 2 chunks of 19 rows (1 padding row), not
    2 of 32 (27)."""
    pytest.importorskip("jax")
    import jax.numpy as jnp

    from losskit.fused import _jax as fused_jax

    seen = []
    real = fused_jax._linear_cross_entropy
    monkeypatch.setattr(fused_jax, "_linear_cross_entropy", lambda *a: seen.append(a[-1]) or real(*a))
    h, w, b, y = _inputs(dtype=torch.float32)
    hj, wj, yj = (jnp.asarray(t.numpy()) for t in (h, w, y))
    out = linear_cross_entropy(hj, wj, yj, chunk_size=chunk_size)
    assert N == 37 and seen == [rows]
    np.testing.assert_allclose(np.asarray(out), _reference(h, w, b * 0, y, "mean", 0.0).numpy(), rtol=1e-5)


def test_torch_autocast_leaves_float64_alone_as_linear_does():
    """Autocast casts float32 (and half) arguments of F.linear, never float64: neither does the
    fused loss (it cast float64 to bfloat16, 1e-3 from the exact loss)."""
    h, w, b, y = _inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = linear_cross_entropy(h, w, y, bias=b)
        ref = tf.cross_entropy(tf.linear(h, w, b), y)
    assert out.dtype == ref.dtype == torch.float64
    torch.testing.assert_close(out, _reference(h, w, b, y, "mean", 0.0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_float16_gradients_survive_a_loss_scale_and_a_large_sum(backend):
    """float16 has the range of neither a unit-cotangent gradient under a loss scale (2**14: small
    entries underflow) nor a large 'sum' divided afterwards (overflows): it must not form its
    gradients before the upstream gradient scales them, as the scalar reductions of the other
    dtypes do. Gradients equal float64's to float16 rounding, and the exact -43.75 of the sum.
    The scale is GradScaler's first, 2**16, past float16's largest value: the upstream gradient
    must be taken in float32, never rounded to the inputs' dtype (inf).
    On torch, the PyTorch path (the default on the CPU): 6144 rows would be minutes in Triton's
    interpreter; the kernel's own test is test_fused_triton.py's, 64 rows."""
    rng = np.random.default_rng(0)
    n, d, v = 4096, 16, 4000
    h = rng.normal(size=(n, d)) / 4
    w = rng.normal(size=(v, d)) / 4
    y = rng.integers(0, v, n)
    scale = 2.0**16
    h16, w16 = h.astype(np.float16), w.astype(np.float16)
    ht, wt = (
        torch.tensor(h16, dtype=torch.float64, requires_grad=True),
        torch.tensor(w16, dtype=torch.float64, requires_grad=True),
    )
    want = torch.autograd.grad(_reference(ht, wt, None, torch.as_tensor(y), "mean", 0.0) * scale, (ht, wt))
    hot = np.full((2048, 4), 50.0, np.float16)  # sum over 2048 tokens of 50 (1/8 - 1): -inf in float16
    if backend == "torch":
        args = [torch.tensor(a, requires_grad=True) for a in (h16, w16)]
        got = torch.autograd.grad(linear_cross_entropy(*args, torch.as_tensor(y), chunk_size=512) * scale, args)
        big = [torch.tensor(hot, requires_grad=True), torch.zeros(8, 4, dtype=torch.float16, requires_grad=True)]
        big_grad = torch.autograd.grad(
            linear_cross_entropy(*big, torch.zeros(2048, dtype=torch.long), reduction="sum") / 2048, big
        )[1]
    else:
        jax = pytest.importorskip("jax")
        jnp = jax.numpy
        yj = jnp.asarray(y)
        got = jax.grad(lambda a, b: linear_cross_entropy(a, b, yj, chunk_size=512) * scale, (0, 1))(
            jnp.asarray(h16), jnp.asarray(w16)
        )
        zeros = jnp.zeros(2048, dtype=jnp.int32)
        big_grad = jax.grad(lambda a, b: linear_cross_entropy(a, b, zeros, reduction="sum") / 2048, 1)(
            jnp.asarray(hot), jnp.zeros((8, 4), jnp.float16)
        )
    for g, e in zip(got, want):
        g, e = np.asarray(to_numpy(g), np.float64), e.numpy()
        assert np.linalg.norm(g - e) / np.linalg.norm(e) < 5e-3  # was 3.5e-2 on JAX, with 0.4 % of grad_w 0
    big_grad = np.asarray(to_numpy(big_grad), np.float64)
    np.testing.assert_allclose(big_grad[0], -43.75, rtol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_formed_gradients_become_grad_without_a_copy(dtype, monkeypatch):
    """The buffers the forward pass forms become ``.grad`` as they are: AccumulateGrad clones a
    gradient that anything else still holds, as this node does its saved tensors until the graph
    goes, so the backward returns views of them. A clone was one more V x D at the peak: the H200's
    1.96 GiB against Liger-Kernel's 1.10 at 128256 x 4096 in bfloat16. Under retain_graph=True the
    gradient is a scaled copy (the saved one must stay unscaled)."""
    from losskit.fused import _torch as fused_torch

    buffers = []
    real = fused_torch._gradient_buffers
    monkeypatch.setattr(fused_torch, "_gradient_buffers", lambda *a: buffers.append(real(*a)) or buffers[-1])
    torch.manual_seed(0)
    h = torch.randn(64, 16).to(dtype).requires_grad_()
    w = (torch.randn(96, 16) / 4).to(dtype).requires_grad_()
    y = torch.randint(0, 96, (64,))
    linear_cross_entropy(h, w, y, chunk_size=16).backward()
    ((grad_h, grad_w, _),) = buffers
    assert w.grad.data_ptr() == grad_w.data_ptr() and h.grad.data_ptr() == grad_h.data_ptr()
    want = w.grad.clone()
    w.grad = None
    loss = linear_cross_entropy(h, w, y, chunk_size=16)
    loss.backward(retain_graph=True)
    assert w.grad.data_ptr() != buffers[-1][1].data_ptr()
    torch.testing.assert_close(w.grad, want, rtol=0, atol=0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_batched_upstream_gradients_equal_one_at_a_time(reduction, dtype):
    """torch.autograd.grad(..., is_grads_batched=True): each upstream gradient's result as if taken
    alone (the saved gradients are scaled out of place, not in place, for a batched one)."""
    h, w, b, y = (t.to(dtype) if t.is_floating_point() else t for t in _inputs())
    upstream = torch.tensor([1.0, -2.0, 0.5], dtype=dtype)
    leaves = [t.clone().requires_grad_() for t in (h, w, b)]
    batched = torch.autograd.grad(
        linear_cross_entropy(*leaves[:2], y, bias=leaves[2], reduction=reduction), leaves, upstream,
        is_grads_batched=True,
    )  # fmt: skip
    for k, g in enumerate(upstream):
        again = [t.clone().requires_grad_() for t in (h, w, b)]
        one = torch.autograd.grad(linear_cross_entropy(*again[:2], y, bias=again[2], reduction=reduction), again, g)
        for got, want in zip(batched, one):
            assert got.shape == (3, *want.shape) and got.dtype == want.dtype
            torch.testing.assert_close(got[k], want, rtol=0, atol=0)


@pytest.mark.parametrize(("reduction", "dtype"), [("none", torch.float64), ("mean", torch.float16)])
def test_batched_upstream_gradients_without_a_batched_backward_are_refused_clearly(reduction, dtype):
    h, w, _, y = (t.to(dtype) if t.is_floating_point() else t for t in _inputs())
    h.requires_grad_()
    loss = linear_cross_entropy(h, w, y, reduction=reduction)
    upstream = torch.ones(2, *loss.shape, dtype=loss.dtype)
    with pytest.raises(RuntimeError, match="no batched backward.*one gradient at a time"):
        torch.autograd.grad(loss, h, upstream, is_grads_batched=True)
