"""Memory: losses whose natural formula holds an array larger than its inputs and output (the
differences of every pair of rows, say) must not. Measured as XLA's temporary buffers of the
compiled gradient, which count every intermediate the backward pass keeps."""

from __future__ import annotations

import numpy as np
import pytest

import losskit


def _gradient_temp_bytes(fn, *args) -> int:
    jax = pytest.importorskip("jax")
    compiled = jax.jit(jax.grad(lambda *xs: fn(*xs).sum(), argnums=tuple(range(len(args))))).lower(*args).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def test_sdml_holds_no_pairwise_differences():
    """MXNet's SDML forms the (N, N, D) differences of the two sets' rows (1 GiB at 512 x 256 in
    float32, kept for the backward pass); losskit's squared distances are O(N^2 + N D)."""
    jax = pytest.importorskip("jax")
    n, d = 256, 64
    rng = np.random.default_rng(0)
    a, b = (jax.numpy.asarray(rng.normal(size=(n, d)), dtype="float32") for _ in range(2))
    temp = _gradient_temp_bytes(losskit.SDMLLoss(), a, b)
    pairwise_differences = n * n * d * 4
    assert temp < pairwise_differences / 8, (temp, pairwise_differences)


def _torch_peak_bytes(fn) -> int:
    """The peak of the CPU tensor memory allocated during ``fn()`` above what was there before."""
    pytest.importorskip("torch")
    from losskit.bench import torch_peak_bytes

    return torch_peak_bytes(fn)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_fused_linear_cross_entropy_holds_one_chunk_of_logits(reduction):
    """Forward and backward on the CPU: the weight's gradient and one chunk of logits at a time,
    overwritten by their softmax and gradient (torch.logsumexp's exponentials were a second chunk,
    the previous chunk's gradient a third)."""
    torch = pytest.importorskip("torch")
    from losskit.fused import linear_cross_entropy

    n, d, v, chunk = 1024, 64, 8000, 256
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(n, d, generator=gen, requires_grad=True)
    weight = (torch.randn(v, d, generator=gen) / 8).requires_grad_()
    label = torch.randint(0, v, (n,), generator=gen)

    def step() -> None:
        out = linear_cross_entropy(hidden, weight, label, reduction=reduction, chunk_size=chunk)
        (out if reduction == "mean" else out.mean()).backward()
        hidden.grad = weight.grad = None

    step()
    chunk_logits, weight_grad = chunk * v * 4, v * d * 4
    peak = _torch_peak_bytes(step)
    assert peak < weight_grad + 1.5 * chunk_logits, (peak, weight_grad, chunk_logits)


def test_softmax_focal_loss_with_class_indices_forms_log1m_p_of_the_targets_only():
    """log(1 - p) of the target class alone: the whole (N, C) log(1 - softmax) took six arrays of
    the logits' size (5.25 in XLA's temporaries, 9.25 in torch's peak; torch's own formula, with
    log_softmax and a gather, is 3)."""
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    n, c = 512, 2048
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, c)).astype(np.float32), rng.integers(0, c, size=n)
    logits_bytes = n * c * 4
    loss = losskit.SoftmaxFocalLoss()
    assert _gradient_temp_bytes(lambda z: loss(z, jax.numpy.asarray(y)), jax.numpy.asarray(x)) < 2 * logits_bytes
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y)

    def step() -> None:
        loss(xt, yt).sum().backward()
        xt.grad = None

    step()
    assert _torch_peak_bytes(step) < 5 * logits_bytes


def test_lovasz_softmax_holds_few_arrays_of_the_logits_size():
    """Forward and backward on the CPU: the sort's order (int64), the softmax, the foreground mask
    and the gradient, with the counts in int32 and each dropped once used. It held 16.5 arrays of
    the logits' size (exp of log_softmax kept both, |fg - p| kept fg - p, six int64 count
    arrays); now 9.5, where Berman's reference, one class at a time, holds 5.8."""
    torch = pytest.importorskip("torch")
    x = torch.randn(2, 5, 32, 32, requires_grad=True)
    y = torch.randint(0, 5, (2, 32, 32))
    peak = _torch_peak_bytes(lambda: losskit.LovaszSoftmaxLoss()(x, y).sum().backward())
    logits = x.numel() * x.element_size()
    assert peak < 11 * logits, peak / logits


def test_sigmoid_focal_loss_keeps_one_array_per_sigmoid():
    """Forward and backward on the CPU at 256 x 1000: torch's fused sigmoid keeps its output for
    the backward pass, where exp(log_sigmoid(x)) kept two arrays, for each of 1 - p_t's two terms
    (16.25 arrays of the logits' size before, 14.25 now; torchvision's formula, which cancels in
    1 - p_t, 10)."""
    torch = pytest.importorskip("torch")
    x = torch.randn(256, 1000, requires_grad=True)
    z = (torch.rand(256, 1000) < 0.1).float()
    peak = _torch_peak_bytes(lambda: losskit.SigmoidFocalLoss()(x, z).sum().backward())
    logits = x.numel() * x.element_size()
    assert peak < 15 * logits, peak / logits


def test_softmax_cross_entropy_with_dense_labels_keeps_torch_log_softmax_alone():
    """Forward and backward on the CPU at 256 x 1000: torch's fused log_softmax keeps its output for
    the backward pass, where (x - m) - logsumexp kept the exponentials too (4.25 arrays of the
    logits' size before, 3.25 now with the label's zero mask; torch's cross_entropy with
    probabilities as targets, 3)."""
    torch = pytest.importorskip("torch")
    x = torch.randn(256, 1000, requires_grad=True)
    z = torch.randn(256, 1000).softmax(1)
    peak = _torch_peak_bytes(lambda: losskit.SoftmaxCELoss(sparse_label=False)(x, z).sum().backward())
    logits = x.numel() * x.element_size()
    assert peak < 3.75 * logits, peak / logits
