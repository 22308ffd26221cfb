"""GeneralizedCrossEntropyLoss and CircleLoss, the two Keras losses beyond Gluon: closed forms and
written-out references, identities, gradients, dtypes, edge cases and errors.

Their values and gradients against the real Keras 3.15.1 are in ``tests/test_keras_losses.py``
(fixtures ``categorical_generalized_cross_entropy__*`` and ``circle__*``).

The references here are independent of the implementations: GCE's is NumPy's ``softmax(x)**q``
taken literally, Circle's a loop over the pairs of each example in the paper's own terms
(Sun et al., 2020, Eq. 6: similarities, optima ``O_p = 1 + m``, ``O_n = -m`` and margins
``Delta_p = 1 - m``, ``Delta_n = m``), summing plain exponentials with ``math.fsum`` (no
log-sum-exp), where losskit works in Keras's distances ``d = max(1 - s, 0)`` in log space.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, autograd_grads, to_backend, to_numpy

N, C, D = 6, 5, 4


def _gen(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _close(got, want, rtol: float = 1e-12, atol: float = 1e-12, msg: str = "") -> None:
    np.testing.assert_allclose(to_numpy(got), want, rtol=rtol, atol=atol, err_msg=msg)


# =============================================================================================
# GeneralizedCrossEntropyLoss
# =============================================================================================


def gce_reference(x: np.ndarray, label: np.ndarray, q: float, axis: int = -1, sparse: bool = True) -> np.ndarray:
    """``(1 - p_y**q) / q`` (or its sum against a dense label) per position, literally."""
    p = _softmax(x, axis)
    terms = (1 - p**q) / q
    if sparse:
        return np.squeeze(np.take_along_axis(terms, np.expand_dims(label, axis), axis=axis), axis=axis)
    return (terms * label).sum(axis=axis)


def gce_grad_reference(x: np.ndarray, label: np.ndarray, q: float) -> np.ndarray:
    """d/dx_j of (1 - p_y**q) / q = -p_y**(q - 1) dp_y/dx_j / ... = p_y**q (p_j - [j = y]), rows of (N, C)."""
    p = _softmax(x)
    onehot = np.eye(x.shape[-1])[label]
    py = (p * onehot).sum(-1, keepdims=True)
    return py**q * (p - onehot)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("q", [0.5, 0.7, 1.0, 0.05])
def test_gce_matches_the_closed_form(backend, q):
    g = _gen(1)
    x, y = 2 * g.normal(size=(N, C)), g.integers(0, C, size=N)
    sw = g.uniform(0.5, 2, size=(N, 1))
    loss = losskit.GeneralizedCrossEntropyLoss(q=q, weight=1.5)
    got = loss(to_backend(x, backend, "float64"), to_backend(y, backend), to_backend(sw, backend, "float64"))
    _close(got, 1.5 * sw[:, 0] * gce_reference(x, y, q), msg=backend)
    # dense labels: the sum over the classes of z_c (1 - p_c**q) / q
    z = _softmax(g.normal(size=(N, C)))
    got = losskit.GeneralizedCrossEntropyLoss(q=q, sparse_label=False)(
        to_backend(x, backend, "float64"), to_backend(z, backend, "float64")
    )
    _close(got, gce_reference(x, z, q, sparse=False), msg=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gce_classes_along_axis_1_of_3d_input(backend):
    g = _gen(2)
    x, y = g.normal(size=(N, C, 3)), g.integers(0, C, size=(N, 3))
    got = losskit.GeneralizedCrossEntropyLoss(q=0.3, axis=1)(to_backend(x, backend, "float64"), to_backend(y, backend))
    _close(got, gce_reference(x, y, 0.3, axis=1).mean(axis=1), msg=backend)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_gce_gradient_is_the_closed_form(backend):
    g = _gen(3)
    x, y = 2 * g.normal(size=(N, C)), g.integers(0, C, size=N)
    for q in (0.5, 1.0, 0.1):
        loss = losskit.GeneralizedCrossEntropyLoss(q=q)
        (got,) = autograd_grads(loss, [to_backend(x, backend, "float64"), to_backend(y, backend)], (0,), backend)
        np.testing.assert_allclose(got, gce_grad_reference(x, y, q), rtol=1e-11, atol=1e-13, err_msg=f"q={q}")


def test_gce_gradcheck_float64():
    torch = pytest.importorskip("torch")
    g = _gen(4)
    x = torch.tensor(g.normal(size=(N, C)), requires_grad=True)
    y = torch.tensor(g.integers(0, C, size=N))
    z = torch.tensor(_softmax(g.normal(size=(N, C))), requires_grad=True)
    sw = torch.tensor(g.uniform(0.5, 2, size=(N, 1)), requires_grad=True)
    lp = torch.tensor(np.log(_softmax(g.normal(size=(N, C)))), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, w: losskit.GeneralizedCrossEntropyLoss(q=0.3)(a, y, w), (x, sw))
    dense = losskit.GeneralizedCrossEntropyLoss(q=0.7, sparse_label=False)
    assert torch.autograd.gradcheck(dense, (x, z))
    assert torch.autograd.gradcheck(lambda a: losskit.GeneralizedCrossEntropyLoss(from_logits=True)(a, y), (lp,))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gce_identities(backend):
    g = _gen(5)
    x, y = 3 * g.normal(size=(N, C)), g.integers(0, C, size=N)
    b = lambda a: to_backend(a, backend, "float64")  # noqa: E731
    yb = to_backend(y, backend)
    ce = to_numpy(losskit.SoftmaxCELoss()(b(x), yb))
    # q -> 0: cross-entropy (the loss is -log p_y - q log(p_y)**2 / 2 + ..., so 1e-9 is within ~1e-8)
    _close(losskit.GeneralizedCrossEntropyLoss(q=1e-9)(b(x), yb), ce, rtol=1e-8, atol=0)
    small = to_numpy(losskit.GeneralizedCrossEntropyLoss(q=1e-4)(b(x), yb))
    _close(small, ce - 1e-4 * ce**2 / 2, rtol=1e-7, atol=0)  # the next term of the series
    # q = 1: 1 - p_y, half the L1 distance of the softmax from the one-hot label
    p, onehot = _softmax(x), np.eye(C)[y]
    one = to_numpy(losskit.GeneralizedCrossEntropyLoss(q=1.0)(b(x), yb))
    _close(one, 1 - p[np.arange(N), y])
    _close(one, 0.5 * np.abs(p - onehot).sum(-1))
    # 0 <= loss <= 1/q, below cross-entropy (1 - p^q <= -q log p)
    for q in (0.2, 0.5, 0.9):
        v = to_numpy(losskit.GeneralizedCrossEntropyLoss(q=q)(b(x), yb))
        assert (v >= 0).all() and (v <= 1 / q).all() and (v <= ce + 1e-12).all()
    # a shift of every logit changes nothing; log-probabilities with from_logits give the same
    default = losskit.GeneralizedCrossEntropyLoss(q=0.4)
    _close(default(b(x + 7.0), yb), to_numpy(default(b(x), yb)), rtol=1e-12)
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    _close(losskit.GeneralizedCrossEntropyLoss(q=0.4, from_logits=True)(b(logp), yb), to_numpy(default(b(x), yb)))
    # one-hot dense labels equal sparse ones; the functional form and the alias are the class
    dense = losskit.GeneralizedCrossEntropyLoss(q=0.4, sparse_label=False)(b(x), b(onehot))
    _close(dense, to_numpy(default(b(x), yb)))
    _close(F.generalized_cross_entropy(b(x), yb, q=0.4, weight=2.0), 2 * to_numpy(default(b(x), yb)))
    assert losskit.CategoricalGeneralizedCrossEntropyLoss is losskit.GeneralizedCrossEntropyLoss


@pytest.mark.parametrize("backend", BACKENDS)
def test_gce_on_keras_probabilities(backend):
    """Keras's formula on probabilities that need not sum to 1: from_logits=True on log p, also
    where p is 0 (log p = -inf: the loss 1/q, as Keras's 1 - 0**q)."""
    g = _gen(6)
    p = _softmax(g.normal(size=(N, C))) * g.uniform(0.5, 2.0, size=(N, 1))
    p[1, 2] = 0.0
    y = g.integers(0, C, size=N)
    y[1] = 2
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    got = losskit.GeneralizedCrossEntropyLoss(q=0.7, from_logits=True)(
        to_backend(logp, backend, "float64"), to_backend(y, backend)
    )
    want = (1 - p[np.arange(N), y] ** 0.7) / 0.7
    _close(got, want)
    assert to_numpy(got)[1] == pytest.approx(1 / 0.7, rel=1e-15)


def test_gce_finite_and_exact_at_extreme_logits():
    torch = pytest.importorskip("torch")
    for dtype, big in ((torch.float32, 1e4), (torch.float16, 6e4), (torch.bfloat16, 1e30)):
        # row 1's cross-entropy is big + 1.3: the largest each dtype holds with room (a loss of 2 big
        # would overflow float16 at 6e4, for a q that makes the loss cross-entropy)
        x = torch.tensor([[big, -big, 0.0], [-big, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=dtype, requires_grad=True)
        y = torch.tensor([0, 0, 2])
        for loss in (losskit.GeneralizedCrossEntropyLoss(q=0.3), losskit.GeneralizedCrossEntropyLoss(q=1e-6)):
            out = loss(x, y)
            (grad,) = torch.autograd.grad(out.float().sum(), x)
            assert out.dtype == dtype and torch.isfinite(out.float()).all() and torch.isfinite(grad.float()).all()
        out = losskit.GeneralizedCrossEntropyLoss(q=0.3)(x, y).float()
        assert out[0].item() == 0  # p_y = 1
        assert out[1].item() == pytest.approx(1 / 0.3, rel=8e-3)  # p_y underflows: 1/q (bfloat16's rounding)
        (grad,) = torch.autograd.grad(losskit.GeneralizedCrossEntropyLoss(q=0.3)(x, y)[1].float(), x)
        assert (grad == 0).all()  # ... with a zero gradient
    # a small q in float32 stays cross-entropy: -expm1(q log p)/q, not (1 - p**q)/q (which is 0)
    x = torch.tensor([[2.0, 0.0, -1.0]])
    got = losskit.GeneralizedCrossEntropyLoss(q=1e-8)(x, torch.tensor([1]))
    want = losskit.SoftmaxCELoss()(x, torch.tensor([1]))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)


def test_gce_half_precision_computes_in_float32():
    torch = pytest.importorskip("torch")
    g = _gen(7)
    x, y = g.normal(size=(N, C)), torch.tensor(g.integers(0, C, size=N))
    for dtype, rtol in ((torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)):
        xh = torch.tensor(x).to(dtype)
        out = losskit.GeneralizedCrossEntropyLoss(q=0.6)(xh, y)
        assert out.dtype == dtype
        want = losskit.GeneralizedCrossEntropyLoss(q=0.6)(xh.double(), y)
        torch.testing.assert_close(out.double(), want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: losskit.GeneralizedCrossEntropyLoss(q=0.0), ValueError, r"q must be in \(0, 1\], got 0.0"),
        (lambda: losskit.GeneralizedCrossEntropyLoss(q=1.5), ValueError, r"q must be in \(0, 1\], got 1.5"),
        (lambda: losskit.GeneralizedCrossEntropyLoss(q=-0.5), ValueError, r"q must be in \(0, 1\]"),
        (lambda: losskit.GeneralizedCrossEntropyLoss(q=math.nan), ValueError, r"q must be in \(0, 1\]"),
        (lambda: losskit.GeneralizedCrossEntropyLoss(q="0.5"), TypeError, "q must be a real number, got '0.5'"),
        (lambda: losskit.GeneralizedCrossEntropyLoss(q=True), TypeError, "q must be a real number, got True"),
        (
            lambda: losskit.GeneralizedCrossEntropyLoss(from_logits="yes"),
            TypeError,
            "from_logits must be True or False",
        ),
        (lambda: losskit.GeneralizedCrossEntropyLoss(sparse_label=1), TypeError, "sparse_label must be True or False"),
        (lambda: losskit.GeneralizedCrossEntropyLoss(axis=1.0), TypeError, "axis must be an int"),
        (lambda: F.generalized_cross_entropy(np.zeros((2, 3)), np.zeros(2, int), q=2), ValueError, "q must be in"),
    ],
)
def test_gce_invalid_options_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_gce_bad_inputs_raise_before_any_work_and_leave_inputs_unchanged():
    x, y = np.arange(12.0).reshape(3, 4), np.array([0, 3, 1])
    before = x.copy(), y.copy()
    loss = losskit.GeneralizedCrossEntropyLoss()
    with pytest.raises(ValueError, match=re.escape(r"holds class indices in [0, 4], outside the valid range [0, 3]")):
        loss(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=re.escape("sparse label shape (4,) does not match pred shape (3, 4)")):
        loss(x, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=re.escape("label shape (3, 3) does not match pred shape (3, 4)")):
        losskit.GeneralizedCrossEntropyLoss(sparse_label=False)(x, np.ones((3, 3)))
    with pytest.raises(
        ValueError, match=re.escape("sample_weight shape (3,) does not broadcast to the loss shape (3, 1)")
    ):
        loss(x, y, np.ones(3))
    with pytest.raises(TypeError, match="pred must be a real floating-point array, got dtype int64"):
        loss(np.ones((3, 4), dtype=np.int64), y)
    with pytest.raises(ValueError, match=re.escape("axis=2 is out of range for pred with 2 axes")):
        losskit.GeneralizedCrossEntropyLoss(axis=2)(x, y)
    with pytest.raises(TypeError, match="same array library"):
        loss(x, y.tolist())
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])
    loss(x, y, np.ones((3, 1)))
    np.testing.assert_array_equal(x, before[0])


def test_gce_registry():
    info = losskit.loss_info("CategoricalGeneralizedCrossEntropyLoss")
    assert (info.name, info.family, info.aliases) == (
        "GeneralizedCrossEntropyLoss",
        "classification",
        ("CategoricalGeneralizedCrossEntropyLoss",),
    )
    assert info.params == {"q": 0.5, "axis": -1, "sparse_label": True, "from_logits": False}
    loss = losskit.get_loss("generalizedcrossentropyloss", q=0.25)
    assert repr(loss) == (
        "GeneralizedCrossEntropyLoss(batch_axis=0, w=None, q=0.25, axis=-1, sparse_label=True, from_logits=False)"
    )


# =============================================================================================
# CircleLoss
# =============================================================================================


def circle_reference(
    e: np.ndarray,
    y: np.ndarray,
    ref: np.ndarray | None = None,
    ref_y: np.ndarray | None = None,
    gamma: float = 80.0,
    margin: float = 0.4,
    remove_diagonal: bool = True,
) -> np.ndarray:
    """Sun et al. (2020), Eq. 6, per example, pair by pair: similarities capped at 1 (Keras's
    ``max(1 - s, 0)`` distance), an example without a positive or a negative pair costs 0."""
    ref = e if ref is None else ref
    ref_y = y if ref_y is None else ref_y
    o_p, o_n, delta_p, delta_n = 1 + margin, -margin, 1 - margin, margin
    out = []
    for i in range(len(e)):
        sp, sn = [], []
        for j in range(len(ref)):
            s = min(float(np.dot(e[i], ref[j])), 1.0)
            if y[i] == ref_y[j]:
                if not (remove_diagonal and i == j):
                    sp.append(s)
            else:
                sn.append(s)
        if not sp or not sn:
            out.append(0.0)
            continue
        pos = math.fsum(math.exp(-gamma * max(o_p - s, 0.0) * (s - delta_p)) for s in sp)
        neg = math.fsum(math.exp(gamma * max(s - o_n, 0.0) * (s - delta_n)) for s in sn)
        out.append(math.log1p(pos * neg))
    return np.array(out)


def _batch(
    seed: int = 0, n: int = N, classes: int = 3, dim: int = D, spread: float = 0.7
) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings near a centre per class (noise of scale ``spread``), every class at least
    twice (each example has a positive)."""
    g = _gen(seed)
    y = np.arange(n) % classes
    g.shuffle(y)
    centres = _unit(g.normal(size=(classes, dim)))
    return _unit(centres[y] + spread * g.normal(size=(n, dim))), y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "options",
    [{}, {"gamma": 8.0, "margin": 0.25}, {"gamma": 1.0, "margin": 0.1, "remove_diagonal": False}, {"gamma": 32.0}],
    ids=["keras_defaults", "gamma8_margin0_25", "gamma1_keep_diagonal", "gamma32"],
)
def test_circle_matches_the_paper_loop(backend, options):
    e, y = _batch(1)
    got = losskit.CircleLoss(**options)(to_backend(e, backend, "float64"), to_backend(y, backend))
    _close(got, circle_reference(e, y, **options), rtol=1e-11, atol=1e-12, msg=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_circle_reference_set_weights_and_normalize_match_the_loop(backend):
    g = _gen(2)
    e, y = _batch(2)
    ref = _unit(g.normal(size=(9, D)))
    ref_y = np.array([0, 1, 2, 0, 1, 2, 5, 5, 0])
    sw = g.uniform(0.5, 2, size=N)
    b = lambda a: to_backend(a, backend, "float64")  # noqa: E731
    loss = losskit.CircleLoss(gamma=16.0, margin=0.3, weight=0.5)
    got = loss(b(e), to_backend(y, backend), b(sw), b(ref), to_backend(ref_y, backend))
    want = 0.5 * sw * circle_reference(e, y, ref, ref_y, gamma=16.0, margin=0.3)
    _close(got, want, rtol=1e-11, msg=backend)
    # normalize=True: the rows of raw embeddings divided by their norms first
    raw, raw_ref = e * g.uniform(0.1, 5, size=(N, 1)), ref * g.uniform(0.1, 5, size=(9, 1))
    loss = losskit.CircleLoss(gamma=16.0, normalize=True, remove_diagonal=False)
    got = loss(b(raw), to_backend(y, backend), None, b(raw_ref), to_backend(ref_y, backend))
    _close(got, circle_reference(e, y, ref, ref_y, gamma=16.0, remove_diagonal=False), rtol=1e-11, msg=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_circle_capped_similarity(backend):
    """Similarities above 1 (embeddings longer than 1) count as 1: Keras's distance max(1 - s, 0)."""
    g = _gen(3)
    e, y = _batch(3, spread=0.2)
    e = e * g.uniform(1.1, 1.5, size=(N, 1))
    s = e @ e.T
    same = (y[:, None] == y[None, :]) & ~np.eye(N, dtype=bool)
    assert (s[same] > 1.05).any()
    got = losskit.CircleLoss(gamma=4.0)(to_backend(e, backend, "float64"), to_backend(y, backend))
    _close(got, circle_reference(e, y, gamma=4.0), rtol=1e-11, msg=backend)


def test_circle_two_point_closed_form():
    """One positive and one negative reference: log(1 + exp(gamma (a_n (s_n - m) - a_p (s_p - 1 + m))))."""
    gamma, m = 5.0, 0.3
    for s_p, s_n in ((0.9, 0.1), (0.2, 0.6), (-0.5, -0.1), (1.0, 0.95)):
        query = np.array([[1.0, 0.0]])
        ref = np.array([[s_p, math.sqrt(1 - s_p**2)], [s_n, -math.sqrt(1 - s_n**2)]])
        a_p, a_n = max(1 + m - s_p, 0), max(s_n + m, 0)
        want = math.log1p(math.exp(gamma * (a_n * (s_n - m) - a_p * (s_p - 1 + m))))
        got = losskit.CircleLoss(gamma=gamma, margin=m, remove_diagonal=False)(
            query, np.array([7]), None, ref, np.array([7, 3])
        )
        np.testing.assert_allclose(got, [want], rtol=1e-13)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_circle_examples_without_a_positive_or_a_negative_cost_0_with_no_gradient(backend):
    e, _ = _batch(4)
    b = lambda a: to_backend(a, backend, "float64")  # noqa: E731
    # one class: no negative anywhere
    one = np.zeros(N, dtype=np.int64)
    out = losskit.CircleLoss()(b(e), to_backend(one, backend))
    assert (to_numpy(out) == 0).all()
    (grad,) = autograd_grads(losskit.CircleLoss(), [b(e), to_backend(one, backend)], (0,), backend)
    assert (grad == 0).all()
    # example 0 alone in its class: no positive; its loss alone has a zero gradient everywhere
    y = np.array([9, 0, 0, 1, 1, 1])
    out = to_numpy(losskit.CircleLoss()(b(e), to_backend(y, backend)))
    assert out[0] == 0 and (out[1:] > 0).all()
    (grad,) = autograd_grads(lambda p, t: losskit.CircleLoss()(p, t)[:1], [b(e), to_backend(y, backend)], (0,), backend)
    assert (grad == 0).all()
    # a reference set without the query's class (query 1), and one of no references at all
    ref, ref_y = e[:3], np.array([2, 0, 2])  # (class 0 not at index 0, which remove_diagonal would drop)
    q = np.array([0, 1])
    out = to_numpy(losskit.CircleLoss()(b(e[:2]), to_backend(q, backend), None, b(ref), to_backend(ref_y, backend)))
    assert out[1] == 0 and out[0] > 0
    empty = losskit.CircleLoss()(b(e[:2]), to_backend(q, backend), None, b(e[:0]), to_backend(ref_y[:0], backend))
    assert tuple(empty.shape) == (2,) and (to_numpy(empty) == 0).all()
    # ... also for an infinite query (no pair reads it: 0, not inf * 0 = NaN)
    inf_q = e[:2].copy()
    inf_q[0, 0] = np.inf
    empty = losskit.CircleLoss()(b(inf_q), to_backend(q, backend), None, b(e[:0]), to_backend(ref_y[:0], backend))
    assert (to_numpy(empty) == 0).all()
    (grad,) = autograd_grads(
        lambda p: losskit.CircleLoss()(p, to_backend(q, backend), None, b(e[:0]), to_backend(ref_y[:0], backend)),
        [b(e[:2])],
        (0,),
        backend,
    )
    assert (grad == 0).all()
    # an empty batch: no values
    none = losskit.CircleLoss()(b(e[:0]), to_backend(q[:0], backend))
    assert tuple(none.shape) == (0,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_circle_remove_diagonal(backend):
    """remove_diagonal drops the pairs (i, i) only: with the batch as its own reference, an example
    alone in its class has itself as its one positive (s_ii = |x_i|^2) when it is kept; and the
    flag drops (i, i) of a separate reference set too, as Keras's eye(N, M) does."""
    e, _ = _batch(5)
    e = e * np.linspace(0.5, 0.9, N)[:, None]  # s_ii = |x_i|^2 below the cap
    y = np.array([4, 0, 0, 1, 1, 1])
    b = lambda a: to_backend(a, backend, "float64")  # noqa: E731
    kept = to_numpy(losskit.CircleLoss(gamma=4.0, remove_diagonal=False)(b(e), to_backend(y, backend)))
    dropped = to_numpy(losskit.CircleLoss(gamma=4.0)(b(e), to_backend(y, backend)))
    assert dropped[0] == 0 and kept[0] > 0
    s_ii = e[0] @ e[0]
    neg = math.fsum(math.exp(4.0 * max(s + 0.4, 0) * (s - 0.4)) for s in e[1:] @ e[0])
    pos = math.exp(-4.0 * (1.4 - s_ii) * (s_ii - 0.6))
    np.testing.assert_allclose(kept[0], math.log1p(pos * neg), rtol=1e-12)
    # the batch given explicitly as its reference set: the same losses, either flag
    for flag in (True, False):
        loss = losskit.CircleLoss(gamma=4.0, remove_diagonal=flag)
        explicit = loss(b(e), to_backend(y, backend), None, b(e), to_backend(y, backend))
        _close(explicit, to_numpy(loss(b(e), to_backend(y, backend))), rtol=1e-14, atol=0)
    # a separate reference set whose reference 0 shares query 0's class: dropped by the flag
    ref, ref_y = _unit(_gen(9).normal(size=(3, D))), np.array([4, 0, 1])
    args = (b(e), to_backend(y, backend), None, b(ref), to_backend(ref_y, backend))
    assert to_numpy(losskit.CircleLoss()(*args))[0] == 0
    assert to_numpy(losskit.CircleLoss(remove_diagonal=False)(*args))[0] > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_circle_identities(backend):
    e, y = _batch(6)
    b = lambda a: to_backend(a, backend, "float64")  # noqa: E731
    loss = losskit.CircleLoss(gamma=16.0)
    base = to_numpy(loss(b(e), to_backend(y, backend)))
    # permuting the batch permutes the losses
    perm = _gen(1).permutation(N)
    _close(loss(b(e[perm]), to_backend(y[perm], backend)), base[perm], rtol=1e-13)
    # only equality of labels counts: relabelled classes, float labels, (N, 1) labels
    relabel = np.array([17, -3, 5])[y]
    _close(loss(b(e), to_backend(relabel, backend)), base, rtol=1e-14, atol=0)
    _close(loss(b(e), b(y.astype(np.float64))), base, rtol=1e-14, atol=0)
    _close(loss(b(e), to_backend(y[:, None], backend)), base, rtol=1e-14, atol=0)
    # normalize=True: unit rows are unchanged, and any positive scale of a row is undone
    _close(losskit.CircleLoss(gamma=16.0, normalize=True)(b(e), to_backend(y, backend)), base, rtol=1e-12)
    scaled = e * _gen(2).uniform(0.01, 100, size=(N, 1))
    _close(losskit.CircleLoss(gamma=16.0, normalize=True)(b(scaled), to_backend(y, backend)), base, rtol=1e-11)
    # gamma = 0: every exponent is 0, the loss log(1 + |P_i| |N_i|)
    same = y[:, None] == y[None, :]
    count_p, count_n = same.sum(1) - 1, (~same).sum(1)
    _close(losskit.CircleLoss(gamma=0.0)(b(e), to_backend(y, backend)), np.log1p(count_p * count_n))
    # sample weights and weight multiply; the functional form is the class
    sw = _gen(3).uniform(0.5, 2, size=N)
    _close(losskit.CircleLoss(gamma=16.0, weight=3.0)(b(e), to_backend(y, backend), b(sw)), 3 * sw * base, rtol=1e-13)
    _close(F.circle_loss(b(e), to_backend(y, backend), gamma=16.0), base, rtol=0, atol=0)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_circle_gradients_match_between_backends_and_finite_differences(backend):
    """The gradient with respect to the embeddings and the references: central differences of
    the written-out loop (an independent reference), at a step far from every kink."""
    g = _gen(7)
    e, y = _batch(7)
    ref, ref_y = _unit(g.normal(size=(5, D))), np.array([0, 1, 2, 1, 0])
    loss = losskit.CircleLoss(gamma=6.0, margin=0.3)
    args = [to_backend(e, backend, "float64"), to_backend(y, backend), None, to_backend(ref, backend, "float64"),
            to_backend(ref_y, backend)]  # fmt: skip
    got_e, got_ref = autograd_grads(loss, args, (0, 3), backend)
    h = 1e-6

    def numeric(which: int) -> np.ndarray:
        base = [e, ref][which]
        out = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            step = np.zeros_like(base)
            step[idx] = h
            hi = [e + step, ref] if which == 0 else [e, ref + step]
            lo = [e - step, ref] if which == 0 else [e, ref - step]
            f = lambda a, r: circle_reference(a, y, r, ref_y, gamma=6.0, margin=0.3).sum()  # noqa: E731
            out[idx] = (f(*hi) - f(*lo)) / (2 * h)
        return out

    np.testing.assert_allclose(got_e, numeric(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got_ref, numeric(1), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_circle_detach_weights_takes_the_weights_as_constants(backend):
    """``detach_weights=True``: the same values, and the gradient of the paper's loop with the
    weights alpha frozen at the point (central differences of that loop: an independent
    reference), pytorch-metric-learning's; the default's gradient differs from it."""
    e, y = _batch(7)
    gamma, margin = 6.0, 0.3
    o_p, o_n = 1 + margin, -margin

    def frozen_weights_loop(a: np.ndarray) -> float:  # alpha from e, the exponents from a
        total = []
        for i in range(N):
            pos, neg = [], []
            for j in range(N):
                s0, s = min(float(e[i] @ e[j]), 1.0), min(float(a[i] @ a[j]), 1.0)
                if y[i] == y[j] and i != j:
                    pos.append(math.exp(-gamma * max(o_p - s0, 0.0) * (s - (1 - margin))))
                elif y[i] != y[j]:
                    neg.append(math.exp(gamma * max(s0 - o_n, 0.0) * (s - margin)))
            total.append(math.log1p(math.fsum(pos) * math.fsum(neg)))
        return math.fsum(total)

    h, numeric = 1e-6, np.zeros_like(e)
    for idx in np.ndindex(e.shape):
        step = np.zeros_like(e)
        step[idx] = h
        numeric[idx] = (frozen_weights_loop(e + step) - frozen_weights_loop(e - step)) / (2 * h)
    detached = losskit.CircleLoss(gamma=gamma, margin=margin, detach_weights=True)
    default = losskit.CircleLoss(gamma=gamma, margin=margin)
    args = [to_backend(e, backend, "float64"), to_backend(y, backend)]
    _close(detached(*args), to_numpy(default(*args)), rtol=0, atol=0, msg=backend)
    (got,) = autograd_grads(detached, args, (0,), backend)
    (full,) = autograd_grads(default, [to_backend(e, backend, "float64"), to_backend(y, backend)], (0,), backend)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-7)
    assert np.linalg.norm(full - got) > 0.1 * np.linalg.norm(got)


def test_circle_gradcheck_float64():
    torch = pytest.importorskip("torch")
    g = _gen(8)
    e, y = _batch(8)
    ref, ref_y = _unit(g.normal(size=(5, D))), torch.tensor([0, 1, 2, 1, 0])
    e_t = torch.tensor(e, requires_grad=True)
    ref_t = torch.tensor(ref, requires_grad=True)
    sw = torch.tensor(g.uniform(0.5, 2, size=N), requires_grad=True)
    yt = torch.tensor(y)
    assert torch.autograd.gradcheck(lambda a, w: losskit.CircleLoss(gamma=10.0)(a, yt, w), (e_t, sw))
    assert torch.autograd.gradcheck(lambda a, r: losskit.CircleLoss(gamma=10.0)(a, yt, None, r, ref_y), (e_t, ref_t))
    raw = torch.tensor(e * g.uniform(0.5, 3, size=(N, 1)), requires_grad=True)
    normalized = losskit.CircleLoss(gamma=10.0, normalize=True, remove_diagonal=False)
    assert torch.autograd.gradcheck(lambda a: normalized(a, yt), (raw,))


def test_circle_dtypes_and_half_precision():
    torch = pytest.importorskip("torch")
    e, y = _batch(9)
    yt = torch.tensor(y)
    # float32 queries against float64 references: the promotion, as torch's losses
    out = losskit.CircleLoss()(torch.tensor(e, dtype=torch.float32), yt, None, torch.tensor(e), yt)
    assert out.dtype == torch.float64
    for dtype, rtol in ((torch.float32, 1e-5), (torch.float16, 5e-3), (torch.bfloat16, 3e-2)):
        eh = torch.tensor(e).to(dtype)
        got = losskit.CircleLoss()(eh, yt)
        assert got.dtype == dtype
        want = losskit.CircleLoss()(eh.double(), yt)  # the same rounded inputs, in float64
        torch.testing.assert_close(got.double(), want, rtol=rtol, atol=rtol)


def test_circle_finite_at_extreme_inputs():
    """Unit vectors keep every exponent within 4 gamma: gamma 80 in float16 is finite; normalize=True
    bounds any finite input (float32 rows of 1e30, a zero row)."""
    torch = pytest.importorskip("torch")
    e, y = _batch(10)
    yt = torch.tensor(y)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        x = torch.tensor(-e).to(dtype).requires_grad_(True)  # far from every positive
        out = losskit.CircleLoss(gamma=80.0)(x, yt)
        (grad,) = torch.autograd.grad(out.float().sum(), x)
        assert torch.isfinite(out.float()).all() and torch.isfinite(grad.float()).all()
    big = torch.tensor(e * 1e30, dtype=torch.float32)
    big[2] = 0.0
    big.requires_grad_(True)
    out = losskit.CircleLoss(normalize=True)(big, yt)
    (grad,) = torch.autograd.grad(out.sum(), big)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    # opposite positives and aligned negatives: the largest exponents, a loss of about 4 gamma
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]], requires_grad=True)
    out = losskit.CircleLoss(gamma=80.0, margin=0.4)(x, torch.tensor([0, 0, 1]))
    # row 0: s_p = -1 (a_p = 2.4, s_p - 0.6 = -1.6), s_n = 1 (a_n = 1.4, s_n - 0.4 = 0.6)
    want = 80.0 * (2.4 * 1.6 + 1.4 * 0.6)
    assert out[0].item() == pytest.approx(want, rel=1e-6)


def test_circle_a_nan_embedding_reaches_the_losses_that_read_it():
    e, y = _batch(11)
    e[0, 0] = np.nan
    with np.errstate(invalid="ignore"):  # NumPy's warnings about the NaN itself
        out = losskit.CircleLoss()(e, y)
    assert np.isnan(out).all()  # every example compares itself with example 0
    out = losskit.CircleLoss()(e[1:], y[1:], None, e[1:], y[1:])
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: losskit.CircleLoss(gamma=-1.0), ValueError, r"gamma must be in \[0, inf\), got -1.0"),
        (lambda: losskit.CircleLoss(gamma=math.inf), ValueError, r"gamma must be in \[0, inf\)"),
        (lambda: losskit.CircleLoss(gamma="80"), TypeError, "gamma must be a real number, got '80'"),
        (lambda: losskit.CircleLoss(margin=math.nan), ValueError, r"margin must be in \(-inf, inf\), got nan"),
        (lambda: losskit.CircleLoss(margin=None), TypeError, "margin must be a real number, got None"),
        (lambda: losskit.CircleLoss(remove_diagonal="yes"), TypeError, "remove_diagonal must be True or False"),
        (lambda: losskit.CircleLoss(normalize=1), TypeError, "normalize must be True or False"),
        (lambda: losskit.CircleLoss(weight=math.inf), ValueError, "weight must be finite"),
        (lambda: losskit.CircleLoss(alpha=1), TypeError, "unexpected keyword arguments: alpha"),
    ],
)
def test_circle_invalid_options_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


_E, _Y = _batch(12)
_R, _RY = _E[:3].copy(), np.array([0, 1, 2])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda l: l(_E, _Y, None, _R), ValueError, "ref_embeddings was given without ref_labels"),
        (lambda l: l(_E, _Y, None, None, _RY), ValueError, "ref_labels was given without ref_embeddings"),
        (lambda l: l(_E[0], _Y[:1]), ValueError, "pred must have shape (batch_size, dim), one embedding per row"),
        (lambda l: l(_E[None], _Y), ValueError, "pred must have shape (batch_size, dim)"),
        (lambda l: l(_E, _Y[:4]), ValueError, "label shape (4,) does not match pred's 6 rows: expected (6,)"),
        (lambda l: l(_E, _Y[None, :]), ValueError, "label shape (1, 6) does not match pred's 6 rows"),
        (
            lambda l: l(_E, _Y, None, _R[:, :2], _RY),
            ValueError,
            "ref_embeddings shape (3, 2) does not match pred shape (6, 4): expected (num_refs, 4)",
        ),
        (lambda l: l(_E, _Y, None, _R, _RY[:2]), ValueError, "ref_labels shape (2,) does not match ref_embeddings'"),
        (lambda l: l(_E, _Y, None, _R, 3), TypeError, "ref_labels must be an array of the call's library (numpy)"),
        (lambda l: l(_E, _Y.astype(complex)), TypeError, "label must hold class labels (integers), got dtype complex"),
        (lambda l: l(_E, _Y, None, _R, _RY.astype(float)), TypeError, "label dtype int64 and ref_labels dtype float64"),
        (
            # NumPy promotes the two to float64, where labels past 2^53 would compare equal
            lambda l: l(_E, _Y.astype(np.uint64), None, _R, _RY),
            TypeError,
            "label dtype uint64 and ref_labels dtype int64 have no common dtype of their kind",
        ),
        (lambda l: l(_E, _Y, None, _R.astype(int), _RY), TypeError, "ref_embeddings must be a real floating-point"),
        (lambda l: l(_E.astype(int), _Y), TypeError, "pred must be a real floating-point array, got dtype int64"),
        (lambda l: l(_E, _Y, np.ones((6, 1))), ValueError, "sample_weight shape (6, 1) does not broadcast to the loss"),
        (lambda l: losskit.CircleLoss(batch_axis=1)(_E, _Y), ValueError, "supports batch_axis=0 only, got 1"),
        (lambda l: l(_E, _Y.tolist()), TypeError, "same array library"),
    ],
)  # fmt: skip
def test_circle_bad_inputs_raise_naming_what_is_wrong(call, error, message):
    before = [a.copy() for a in (_E, _Y, _R, _RY)]
    with pytest.raises(error, match=re.escape(message)):
        call(losskit.CircleLoss())
    for a, b in zip((_E, _Y, _R, _RY), before):
        np.testing.assert_array_equal(a, b)


def test_circle_leaves_inputs_unchanged_and_accepts_other_label_dtypes():
    e, y = _E.copy(), _Y.copy()
    losskit.CircleLoss(normalize=True)(e * 3, y, np.ones(N), _R, _RY)
    np.testing.assert_array_equal(e, _E)
    np.testing.assert_array_equal(y, _Y)
    # integer labels of two dtypes are compared in their common dtype
    a = losskit.CircleLoss()(_E, _Y.astype(np.int32), None, _R, _RY.astype(np.uint8))
    np.testing.assert_array_equal(a, losskit.CircleLoss()(_E, _Y, None, _R, _RY))


def test_circle_registry():
    info = losskit.loss_info("circleloss")
    assert (info.name, info.family, info.aliases, info.curve) == ("CircleLoss", "metric", (), None)
    assert info.params == {
        "gamma": 80.0, "margin": 0.4, "remove_diagonal": True, "normalize": False, "detach_weights": False
    }  # fmt: skip
    assert repr(losskit.get_loss("CircleLoss", margin=0.25)) == (
        "CircleLoss(batch_axis=0, w=None, gamma=80.0, margin=0.25, remove_diagonal=True, normalize=False, "
        "detach_weights=False)"
    )
    assert "loss(pred, label, sample_weight=None, ref_embeddings=None, ref_labels=None)" in losskit.CircleLoss.__doc__
