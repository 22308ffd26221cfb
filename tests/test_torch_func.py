"""torch.func transformations: ``vmap`` equals a loop and ``grad`` equals autograd, for every loss
(the counterpart of ``test_jax.py``). Under ``vmap`` the index-value checks are skipped, as under
``jit``: functorch refuses to read a batched value."""

from __future__ import annotations

import pytest

import losskit
from backends import to_backend
from cases import CASES

torch = pytest.importorskip("torch")


def _args(case, seed=0):
    raw = case.make(__import__("numpy").random.default_rng(seed))
    return [to_backend(x, "torch", "float64" if i in case.float_args else None) for i, x in enumerate(raw)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vmap_equals_loop(case):
    loss = losskit.get_loss(case.loss, **case.init)
    batches = [_args(case, seed) for seed in (1, 2)]
    stacked = [torch.stack([b[i] for b in batches]) for i in range(len(batches[0]))]
    mapped = torch.func.vmap(lambda *a: loss(*a, **case.call_kwargs))(*stacked)
    for k, b in enumerate(batches):
        torch.testing.assert_close(mapped[k], loss(*b, **case.call_kwargs), rtol=1e-12, atol=1e-12)


def _total_of_first_float(case):
    """``(total, x)``: the summed loss as a function of the case's first float input, and that input."""
    loss = losskit.get_loss(case.loss, **case.init)
    args = _args(case)
    first = case.float_args[0]

    def total(p):
        a = list(args)
        a[first] = p
        return loss(*a, **case.call_kwargs).sum()

    return total, args[first]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_func_grad_equals_autograd(case):
    total, x = _total_of_first_float(case)
    got = torch.func.grad(total)(x)
    p = x.clone().requires_grad_()
    (want,) = torch.autograd.grad(total(p), p)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_per_sample_gradients_vmap_of_grad_equal_a_loop(case):
    """``vmap(grad(f))``, the per-example gradients of differential privacy: the label is batched,
    then wrapped again by ``grad``; the value checks must see through both (they read it and
    failed: cross-entropy, NLL, multi-margin, focal, Gaussian NLL, CTC)."""
    loss = losskit.get_loss(case.loss, **case.init)
    batches = [_args(case, seed) for seed in (1, 2)]
    stacked = [torch.stack([b[i] for b in batches]) for i in range(len(batches[0]))]
    first = case.float_args[0]

    def total(p, *rest):
        a = list(rest)
        a.insert(first, p)
        return loss(*a, **case.call_kwargs).sum()

    rest = [t for i, t in enumerate(stacked) if i != first]
    mapped = torch.func.vmap(torch.func.grad(total))(stacked[first], *rest)
    for k, b in enumerate(batches):
        want = torch.func.grad(total)(b[first], *[t for i, t in enumerate(b) if i != first])
        torch.testing.assert_close(mapped[k], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forward_mode_jvp_equals_the_reverse_mode_directional_derivative(case):
    """``torch.func.jvp`` (forward mode, as ``jacfwd`` and ``hessian`` use) equals ``grad . v``.
    torch's multi_margin_loss, multilabel_margin_loss and _ctc_loss kernels have no forward
    derivative: under a transform the formula runs (NotImplementedError before)."""
    total, x = _total_of_first_float(case)
    v = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype).reshape(x.shape)
    _, got = torch.func.jvp(total, (x,), (v,))
    p = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(total(p), p)
    torch.testing.assert_close(got, (g * v).sum(), rtol=1e-10, atol=1e-12)


def test_ctc_hessian_vector_product_against_finite_differences():
    """The recursion's logaddexp: torch's own has a NaN second derivative where one argument is the
    log-zero -1e30 (44 NaNs of a 4 x 8 x 4 Hessian-vector product before)."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 2, 4, dtype=torch.float64, generator=gen)
    label, pred_lengths, label_lengths = torch.tensor([[1, 2], [0, 0]]), torch.tensor([6, 5]), torch.tensor([2, 1])

    def total(t):
        return losskit.CTCLoss(layout="TNC")(t, label, pred_lengths, label_lengths).sum()

    v = torch.randn(logits.shape, dtype=torch.float64, generator=gen)
    hv = torch.func.jvp(torch.func.grad(total), (logits,), (v,))[1]
    grad = torch.func.grad(total)
    want = (grad(logits + 1e-6 * v) - grad(logits - 1e-6 * v)) / 2e-6
    assert torch.isfinite(hv).all()
    torch.testing.assert_close(hv, want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hessian_vector_product_equals_double_backward_of_the_formula(case):
    """README's way to second derivatives where a fast path's kernel has first derivatives only
    (multi_margin_loss, multilabel_margin_loss, _ctc_loss: create_graph=True raises through them):
    ``jvp`` of ``grad`` runs the formula, and gives what double backward through the generic
    array-API path gives, for every loss."""
    from losskit import _fast

    total, x = _total_of_first_float(case)
    v = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype).reshape(x.shape)
    got = torch.func.jvp(torch.func.grad(total), (x,), (v,))[1]
    p = x.clone().requires_grad_()
    with _fast.disabled():
        (g,) = torch.autograd.grad(total(p), p, create_graph=True)
        want = torch.autograd.grad((g * v).sum(), p, allow_unused=True)[0] if g.requires_grad else None
    if want is None:  # linear in x (NLL of log-probabilities, KL): no second derivative
        want = torch.zeros_like(x)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
