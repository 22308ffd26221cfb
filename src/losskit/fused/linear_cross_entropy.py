"""Cross-entropy of ``hidden @ weight.T (+ bias)`` over a large vocabulary, chunk by chunk.

The logits of a language-model head are ``N x V`` (tokens x vocabulary): 8192 x 128256 in
float32 is 4 GiB, more than the rest of the step. Here they exist only one chunk of tokens at a
time. Forward keeps per token only the log-sum-exp; the gradient needs
``softmax(logits) - onehot(label)`` per chunk, which is formed again from the saved
log-sum-exp (``exp(logits - lse)``) and multiplied straight into ``grad_hidden`` and
``grad_weight``.

With ``reduction='mean'`` or ``'sum'`` and a scalar upstream gradient, the gradients are
computed during the forward pass (as Liger-Kernel does; on JAX in the VJP's forward rule, so that
evaluating the loss alone forms none) and only scaled by the backward pass: three matrix
products per chunk instead of four. With ``reduction='none'`` the upstream
gradient differs per token, so the backward pass recomputes the logits (as Cut Cross-Entropy
does).

PyTorch arrays use a ``torch.autograd.Function``, JAX arrays a ``jax.custom_vjp``; other
array-API arrays get the chunked forward only (they have no autograd). On CUDA tensors of float32,
bfloat16 or float16, with Triton installed, each chunk's log-sum-exp, loss and gradient are one
Triton kernel that reads the chunk's logits in their dtype and writes the gradient over them
(``_triton.py``); elsewhere, and under ``torch.compile`` (whose inductor fuses the same ops), the
PyTorch path does it in a float32 copy, op by op.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat

from .._array import Array, device, logsumexp, namespace, take_along_axis
from .._core import (
    as_index,
    check_ignore_index,
    check_labels_in_range,
    check_number,
    check_reduction,
    float_input,
    is_integer,
    without_ignored,
)

#: The fewest tokens per chunk the default takes (fewer only when there are fewer tokens).
MIN_CHUNK = 512


def default_chunk_size(n: int, vocab: int, dim: int) -> int:
    """Liger-Kernel's rule (as many chunks as the vocabulary is wider than the hidden size, so
    that a chunk of logits is about as large as the hidden states), but never fewer than
    :data:`MIN_CHUNK` tokens per chunk.

    Each chunk reads and writes all of ``grad_weight`` (``V x D``) once for ``2 chunk V D`` flops,
    so the tokens per chunk are the arithmetic intensity of the weight-gradient accumulation: with
    a narrow hidden size Liger's rule gives a few dozen tokens per chunk and the step becomes a
    stream of ``grad_weight`` updates (CPU, 2048 x 512 x 32000, float32, ``fwd+bwd`` against the
    unfused head: 33 tokens 1.94x, 128 1.10x, 256 to 1024 0.92-0.95x; see
    ``benchmarks/RESULTS.md``). 512 tokens of float32 logits are ``2 KiB x V`` (256 MiB for
    ``V = 128k``), small beside the ``N x V`` logits they replace.
    """
    chunks = max(1, math.ceil(vocab / max(dim, 1)))
    return max(1, min(n, max(MIN_CHUNK, math.ceil(n / chunks))))


def linear_cross_entropy(
    hidden: Array,
    weight: Array,
    label: Array,
    *,
    bias: Array | None = None,
    ignore_index: int = -100,
    z_loss: float = 0.0,
    reduction: str = "mean",
    chunk_size: int | None = None,
) -> Array:
    r"""Softmax cross-entropy of the logits ``hidden @ weight.T + bias``, without materialising them.

    .. math::
        \ell_i = \operatorname{logsumexp}_v(z_{iv}) - z_{i y_i} + \lambda_z \operatorname{logsumexp}_v(z_{iv})^2,
        \qquad z = h W^\top + b

    Equals ``torch.nn.functional.cross_entropy(hidden @ weight.T + bias, label,
    ignore_index=ignore_index, reduction=reduction)`` plus the z-loss, in at most
    ``chunk_size x V`` float32 logits at a time.

    Shape:
        - hidden: ``(N, D)`` (or ``(..., D)``, flattened); weight: ``(V, D)``; bias: ``(V,)``.
        - label: ``(N,)`` (or hidden's leading shape) of class indices in ``[0, V)`` or ``ignore_index``.
        - output: per token for ``'none'``, ``hidden``'s leading shape (``(N,)`` for 2-D ``hidden``;
          0 at ignored tokens), else a 0-d array;
          ``'mean'`` divides by the number of non-ignored tokens and is 0 when there are none.
          The loss is returned in float32 (float64 for float64 inputs), the dtype it is
          reduced in, as ``cross_entropy`` of upcast logits returns it: a bfloat16 mean would
          be rounded to 3 significant digits.

    ``chunk_size`` (tokens per chunk) defaults to :func:`default_chunk_size`: Liger-Kernel's rule
    with at least :data:`MIN_CHUNK` tokens; a larger value than the tokens is taken as their number.

    Mixed precision: on PyTorch, under ``torch.autocast`` the products run in the autocast dtype,
    as ``F.linear`` does there (a float32 master weight is cast, and its gradient cast back);
    without autocast ``hidden``, ``weight`` and ``bias`` must share one dtype. Gradients are
    formed only for the inputs that require them, and not at all under ``torch.no_grad``.

    Stability: logits are formed in the input dtype on PyTorch (the matmul accumulates in
    float32; bfloat16 logits are rounded, as ``F.linear``'s), in float32 on JAX
    (``preferred_element_type``: not rounded, so bfloat16 results differ between the two by that
    rounding), and reduced in float32 with ``logsumexp``. On PyTorch, ``grad_weight`` is accumulated over
    chunks in the dtype of the product (as Liger-Kernel does): bfloat16 inputs round it once
    per chunk, where the unfused head rounds it once; float32 inputs accumulate in float32.

    >>> import numpy as np
    >>> from losskit.fused import linear_cross_entropy
    >>> h, w = np.eye(2), np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> linear_cross_entropy(h, w, np.array([0, 2]), reduction="none").round(4)
    array([0.5514, 1.5514])
    """
    check_reduction(reduction)
    z_loss = check_number(z_loss, "z_loss", low=0.0)
    check_ignore_index(ignore_index, optional=False)
    if chunk_size is not None and not is_integer(chunk_size):
        raise TypeError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    xp = namespace(hidden, weight, label, bias, names=("hidden", "weight", "label"))
    float_input(xp, hidden, "hidden")
    float_input(xp, weight, "weight")
    if bias is not None:
        float_input(xp, bias, "bias")
    if weight.ndim != 2 or hidden.ndim < 1 or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"hidden shape {tuple(hidden.shape)} and weight shape {tuple(weight.shape)} do not match: "
            "expected hidden (..., D) and weight (V, D)"
        )
    lead = tuple(hidden.shape[:-1])
    if tuple(label.shape) != lead:
        raise ValueError(f"label shape {tuple(label.shape)} does not match hidden's leading shape {lead}")
    vocab, dim = weight.shape
    if vocab == 0:  # (the label check would say "outside the valid range [0, -1]")
        raise ValueError(f"weight has no rows (shape {tuple(weight.shape)}): the vocabulary needs at least one class")
    if bias is not None and tuple(bias.shape) != (vocab,):
        raise ValueError(f"bias shape {tuple(bias.shape)} does not match the vocabulary size ({vocab},)")
    if not xp.isdtype(label.dtype, "integral"):
        raise TypeError(f"label must hold integer class indices, got dtype {label.dtype}")
    # ignored positions are checked as class 0; skipped when the values are symbolic (jit, compile)
    check_labels_in_range(xp, without_ignored(xp, label, ignore_index), 0, vocab)
    n = math.prod(lead)
    # never more rows than there are tokens: the JAX path pads the last chunk to a whole one
    chunk = max(1, min(n, int(chunk_size))) if chunk_size is not None else default_chunk_size(n, vocab, dim)
    h2 = xp.reshape(hidden, (n, dim))
    y = xp.reshape(as_index(xp, label), (n,))
    options = (int(ignore_index), float(z_loss), reduction, int(chunk))
    out: Array
    if array_api_compat.is_torch_array(hidden):
        from ._torch import linear_cross_entropy_torch

        out = linear_cross_entropy_torch(h2, weight, bias, y, *options)
    elif array_api_compat.is_jax_array(hidden):
        from ._jax import linear_cross_entropy_jax

        out = linear_cross_entropy_jax(h2, weight, bias, y, *options)
    else:
        out = _forward_generic(xp, h2, weight, bias, y, *options)
    return xp.reshape(out, lead) if reduction == "none" else out


def _forward_generic(
    xp: Any, hidden: Array, weight: Array, bias: Array | None, label: Array, ignore_index: int, z_loss: float,
    reduction: str, chunk: int,
) -> Array:  # fmt: skip
    """Array-API forward, chunk by chunk (values only; the reference for the fused paths)."""
    n = hidden.shape[0]
    valid = label != ignore_index
    safe = xp.where(valid, label, xp.zeros_like(label))
    acc = xp.float64 if hidden.dtype == xp.float64 else xp.float32  # the loss's dtype, as on torch and JAX
    parts = [xp.zeros((0,), dtype=acc, device=device(hidden))]  # n = 0: an empty loss
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        logits = hidden[start:stop, ...] @ xp.matrix_transpose(weight)
        if bias is not None:
            logits = logits + bias
        logits = xp.astype(logits, acc)
        lse = logsumexp(xp, logits, axis=1)
        target = take_along_axis(xp, logits, safe[start:stop, None], axis=1)[:, 0]
        parts.append(lse - target + z_loss * lse * lse)
    loss = xp.concat(parts)
    loss = xp.where(valid, loss, xp.zeros_like(loss))
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    if reduction == "mean":
        count = xp.sum(xp.astype(valid, total.dtype))
        total = xp.where(count > 0, total / xp.maximum(count, xp.ones_like(count)), xp.zeros_like(total))
    return total
