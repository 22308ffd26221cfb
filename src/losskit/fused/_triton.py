"""One Triton kernel for a chunk of logits: log-sum-exp, loss, and d loss / d logits in place.

The PyTorch path of :func:`losskit.fused.linear_cross_entropy` otherwise spends, per chunk, a
float32 copy of the logits and a dozen elementwise passes over it (log-sum-exp, ``exp``, the
z-loss factor, the row scale, the cast back) beside the three matrix products; on an H200 with
a 128k vocabulary those passes were a third of the step (``benchmarks/RESULTS.md``). This kernel
reads a row of logits in their own dtype twice (an online max and sum of exponentials, then the
gradient) and writes the gradient over them, as Liger-Kernel's cross-entropy kernel does: no
float32 copy, one read-write pass instead of a dozen.

It runs on CUDA tensors when Triton is installed (``torch`` on Linux with CUDA brings it), and
on CPU tensors in Triton's interpreter, which is how the tests check it against the PyTorch
path without a GPU.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
import triton
import triton.language as tl

#: Logits dtypes the kernel reads (float64 stays on the PyTorch path: the kernel works in float32).
DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _cross_entropy_rows(
    logits_ptr,
    row_stride,
    label_ptr,
    scale_ptr,
    scale_stride,
    loss_ptr,
    lse_ptr,
    vocab,
    ignore_index,
    z_loss,
    BLOCK: tl.constexpr,
    LSE_GIVEN: tl.constexpr,
    WRITE_LOSS: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
):
    """One program per row. Loss ``lse - z_y + z_loss lse^2`` (0 where the label is ignored);
    gradient ``(softmax (1 + 2 z_loss lse) - onehot) * scale`` written over the row."""
    row = tl.program_id(0).to(tl.int64)
    logits_ptr += row * row_stride
    label = tl.load(label_ptr + row)
    valid = label != ignore_index
    if WRITE_LOSS:
        # before the log-sum-exp loop: its reductions' barriers order this load before any warp's
        # gradient store over the row (a load after them could read a gradient another warp wrote)
        target = tl.load(logits_ptr + tl.where(valid, label, 0)).to(tl.float32)
    if LSE_GIVEN:
        lse = tl.load(lse_ptr + row)
    else:
        # online log-sum-exp: d = sum exp(x - m) rescaled whenever the running max m grows
        m = float("-inf")
        d = 0.0
        for start in range(0, vocab, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            x = tl.load(logits_ptr + cols, mask=cols < vocab, other=float("-inf")).to(tl.float32)
            m_new = tl.maximum(m, tl.max(x, 0))
            # while every logit so far is -inf, so is m_new, and exp(-inf - -inf) would be NaN
            shift = tl.where(m_new == float("-inf"), 0.0, m_new)
            d = d * tl.exp(m - shift) + tl.sum(tl.exp(x - shift), 0)
            m = m_new
        lse = m + tl.log(d)  # -inf for a row of -inf, as torch.logsumexp
        tl.store(lse_ptr + row, lse)
    if WRITE_LOSS:
        tl.store(loss_ptr + row, tl.where(valid, lse - target + z_loss * lse * lse, 0.0))
    if WRITE_GRAD:
        scale = tl.where(valid, tl.load(scale_ptr + row * scale_stride).to(tl.float32), 0.0)
        factor = (1 + 2 * z_loss * lse) * scale  # d(z_loss lse^2)/dx = 2 z_loss lse softmax
        for start in range(0, vocab, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            x = tl.load(logits_ptr + cols, mask=cols < vocab, other=0.0).to(tl.float32)
            g = tl.exp(x - lse) * factor  # softmax = exp(x - logsumexp)
            g = tl.where(cols == label, g - scale, g)
            tl.store(logits_ptr + cols, g.to(logits_ptr.dtype.element_ty), mask=cols < vocab)


@functools.cache
def _kernel() -> Any:
    # decorated on first use, not at import: losskit imports this module only when a call needs it
    return triton.jit(_cross_entropy_rows)


def num_warps(block: int) -> int:
    """Warps per row's program: 32 for a block of 8192 logits or more, else 8 (as Liger-Kernel)."""
    return 32 if block >= 8192 else 8


def supports(dtype: torch.dtype, device: torch.device, *, interpreter: bool = False) -> bool:
    """Whether the kernel takes logits of this dtype on this device: float32, bfloat16 or float16,
    on a CUDA device of compute capability 8.0 or more (A100 and later; older ones keep the
    PyTorch path), or, when ``interpreter`` is asked for, on the CPU in Triton's interpreter
    (``TRITON_INTERPRET=1`` set before Triton is imported, as the tests do)."""
    if dtype not in DTYPES:
        return False
    if device.type == "cuda":
        return _capable(device.index)
    return interpreter and device.type == "cpu" and _interpreting()


@functools.cache
def _capable(index: int | None) -> bool:
    return torch.cuda.get_device_capability(index) >= (8, 0)


def _interpreting() -> bool:
    knobs = getattr(triton, "knobs", None)  # Triton >= 3.4; before, only the environment said
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def cross_entropy_rows_(
    logits: torch.Tensor,
    label: torch.Tensor,
    ignore_index: int,
    z_loss: float,
    *,
    loss: torch.Tensor | None = None,
    lse: torch.Tensor,
    lse_given: bool = False,
    scale: torch.Tensor | None = None,
    block: int = 32768,
) -> None:
    """For each row of ``logits`` (``(n, V)``, rows contiguous; ``label``, ``loss`` and ``lse``
    contiguous, ``label`` the class index or ``ignore_index``): write its log-sum-exp into
    ``lse`` (or read it there when ``lse_given``), its loss into ``loss`` (when given), and, when
    ``scale`` is given (a float32 tensor of ``n`` per-row factors, or 0-d for one), overwrite the
    row with ``d loss / d logits`` times the row's factor, in the logits' dtype. A row is read
    ``block`` logits at a time (at most; a power of 2)."""
    n, vocab = logits.shape
    if n == 0:
        return
    block = min(block, triton.next_power_of_2(vocab))
    write_grad = scale is not None
    if scale is None:
        scale, scale_stride = lse, 0  # not read
    else:
        scale_stride = 0 if scale.ndim == 0 else scale.stride(0)
    args = (logits, logits.stride(0), label, scale, scale_stride, lse if loss is None else loss, lse, vocab)
    flags = {"BLOCK": block, "LSE_GIVEN": lse_given, "WRITE_LOSS": loss is not None, "WRITE_GRAD": write_grad}
    launch = _kernel()[(n,)]
    if not logits.is_cuda:  # Triton's interpreter
        launch(*args, ignore_index, z_loss, **flags)
        return
    # Triton launches on the current device and its stream: make that the logits' device
    with torch.cuda.device(logits.device):
        launch(*args, ignore_index, z_loss, **flags, num_warps=num_warps(block))
