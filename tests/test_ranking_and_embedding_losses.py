"""HingeEmbeddingLoss, CosineDistanceLoss, RankingSoftmaxLoss and TripletMarginLoss against
independent references (``torch.nn.functional.hinge_embedding_loss``, ``optax.losses.cosine_distance``,
``torch.nn.functional.cosine_similarity``, ``optax.losses.ranking_softmax_loss``,
``torch.nn.functional.triplet_margin_loss`` and NumPy formulas written from the definitions):
values on every backend in float64, gradients on PyTorch and JAX against autograd through the
reference. Then their identities, their errors, and their
behaviour at extreme inputs. losskit's own output is never the expected value.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, autograd_grads, to_backend, to_numpy
from cases import _triplets

torch = pytest.importorskip("torch")
tf = torch.nn.functional
rng = np.random.default_rng(23)
N = 6


def _as_torch(args, float_args):
    return [torch.tensor(a, dtype=torch.float64 if i in float_args else None) for i, a in enumerate(args)]


def _as_jax(args, float_args):
    import jax.numpy as jnp

    return [jnp.asarray(a, dtype=jnp.float64 if i in float_args else None) for i, a in enumerate(args)]


def check(loss, args, reference, float_args=(0,), *, ref="torch", rtol=1e-10, atol=1e-12):
    """``loss(*args)`` equals ``reference(*args)`` (run in ``ref``'s library, float64) on every backend,
    and the gradients of their sums agree on PyTorch and JAX. Returns the reference gradients."""
    ref_args = (_as_torch if ref == "torch" else _as_jax)(args, float_args)
    want = np.asarray(to_numpy(reference(*ref_args)))
    want_grads = autograd_grads(
        reference, (_as_torch if ref == "torch" else _as_jax)(args, float_args), float_args, ref
    )
    for backend in BACKENDS:
        full = [to_backend(a, backend, "float64" if i in float_args else None) for i, a in enumerate(args)]
        np.testing.assert_allclose(to_numpy(loss(*full)), want, rtol=rtol, atol=atol, err_msg=backend)
    for backend in AUTOGRAD_BACKENDS:
        full = [to_backend(a, backend, "float64" if i in float_args else None) for i, a in enumerate(args)]
        for i, (got, w) in enumerate(zip(autograd_grads(loss, full, float_args, backend), want_grads)):
            np.testing.assert_allclose(got, w, rtol=rtol, atol=atol, err_msg=f"{backend} d/d arg {float_args[i]}")
    return want_grads


def _optax():
    pytest.importorskip("jax")
    return pytest.importorskip("optax")


# ---- HingeEmbeddingLoss vs torch ----------------------------------------------------------------


@pytest.mark.parametrize("margin", [1.0, 0.4, -0.3])
def test_hinge_embedding_matches_torch(margin):
    x = rng.uniform(-1, 2, size=(N, 4))
    y = rng.choice([-1.0, 1.0], size=(N, 4))
    check(
        losskit.HingeEmbeddingLoss(margin=margin),
        [x, y],
        lambda x, y: tf.hinge_embedding_loss(x, y, margin=margin, reduction="none").mean(1),
    )


def test_hinge_embedding_other_labels_follow_torch():
    """torch does not refuse a label outside {1, -1}: such an item takes both terms. Nor does
    losskit (as MarginRankingLoss and SoftMarginLoss, which use labels as given): same values
    and gradients, integer labels included, on 1-D and 3-D inputs."""
    x = rng.uniform(-1, 2, size=(N, 2, 3))
    y = rng.choice([-1, 0, 1, 2], size=(N, 2, 3))
    check(
        losskit.HingeEmbeddingLoss(),
        [x, y],
        lambda x, y: tf.hinge_embedding_loss(x, y, reduction="none").reshape(N, -1).mean(1),
    )
    check(
        losskit.HingeEmbeddingLoss(margin=0.5),
        [x[:, 0, 0], y[:, 0, 0]],
        lambda x, y: tf.hinge_embedding_loss(x, y, margin=0.5, reduction="none"),
    )


def test_hinge_embedding_weights_and_torch_mean():
    x, y = rng.uniform(-1, 2, size=(N, 4)), rng.choice([-1.0, 1.0], size=(N, 4))
    sw = rng.uniform(0.5, 2, size=(N, 1))
    check(
        losskit.HingeEmbeddingLoss(margin=0.8, weight=2.0),
        [x, y, sw],
        lambda x, y, sw: 2.0 * (tf.hinge_embedding_loss(x, y, margin=0.8, reduction="none") * sw).mean(1),
        (0, 2),
    )
    out = losskit.HingeEmbeddingLoss(margin=0.8)(torch.tensor(x), torch.tensor(y))
    want = tf.hinge_embedding_loss(torch.tensor(x), torch.tensor(y), margin=0.8)  # torch's 'mean'
    torch.testing.assert_close(out.mean(), want, rtol=1e-12, atol=0)


def _squared(x, y):  # any backend's arrays
    return ((x - y) ** 2).sum(-1)


# Each of torch's margin losses exactly at its kink (a loss of exactly 0, every entry): losskit's
# gradient is torch's, clamp_min's, which passes the derivative there, on every autograd backend.
# (arguments, float arguments, the torch reference of the per-example loss, losskit's loss)
KINKS = {
    "margin_ranking_tie": (  # a == b with margin 0: the pairs of a zero-initialised scorer
        [np.zeros(4), np.zeros(4), np.array([1.0, -1.0, 1.0, -1.0])],
        (0, 1),
        lambda a, b, y: tf.margin_ranking_loss(a, b, y, reduction="none"),
        losskit.MarginRankingLoss(),
    ),
    "hinge_embedding_at_margin": (
        [np.array([[1.0, 1.0]]), np.array([[-1.0, -1.0]])],
        (0,),
        lambda x, y: tf.hinge_embedding_loss(x, y, reduction="none").mean(1),
        losskit.HingeEmbeddingLoss(),
    ),
    "triplet_margin_at_margin": (  # d(a, pos) = 5, d(a, neg) = 6 = 1 + 5
        [np.zeros((1, 2)), np.array([[3.0, 4.0]]), np.array([[0.0, 6.0]])],
        (0, 1, 2),
        lambda a, p, n: tf.triplet_margin_loss(a, p, n, eps=0.0, reduction="none"),
        losskit.TripletMarginLoss(eps=0.0),
    ),
    "triplet_distance_at_margin": (  # squared distances 25 and 26 = 1 + 25 (exact, unlike eps's)
        [np.zeros((1, 2)), np.array([[3.0, 4.0]]), np.array([[1.0, 5.0]])],
        (0, 1, 2),
        lambda a, p, n: tf.triplet_margin_with_distance_loss(a, p, n, distance_function=_squared, reduction="none"),
        losskit.TripletMarginWithDistanceLoss(distance_function=_squared),
    ),
}


@pytest.mark.parametrize("lib", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("case", list(KINKS))
def test_torch_margin_losses_pass_the_derivative_at_their_kink_as_torch(case, lib):
    args, float_args, reference, loss = KINKS[case]
    want_args = [torch.tensor(x, requires_grad=i in float_args) for i, x in enumerate(args)]
    at_kink = reference(*want_args)
    assert not at_kink.any()  # every entry exactly at the kink
    want = torch.autograd.grad(at_kink.sum(), [want_args[i] for i in float_args])
    assert any(g.any() for g in want)  # torch's clamp_min passes the derivative there
    got = autograd_grads(loss, [to_backend(x, lib) for x in args], float_args, lib)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-12, atol=0)


def test_a_zero_initialised_scorer_learns_from_margin_ranking_as_in_torch():
    """Every pair of a zero-initialised linear scorer is tied: torch's loss still moves the weights,
    and so must losskit's (relu's derivative 0 at the kink left them at 0 for good)."""
    gen = torch.Generator().manual_seed(0)
    x1, x2 = (torch.randn(8, 4, generator=gen, dtype=torch.float64) for _ in range(2))
    y = torch.ones(8, dtype=torch.float64)
    weight = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    (want,) = torch.autograd.grad(torch.nn.MarginRankingLoss()(x1 @ weight, x2 @ weight, y), weight)
    (got,) = torch.autograd.grad(losskit.MarginRankingLoss()(x1 @ weight, x2 @ weight, y).mean(), weight)
    assert want.abs().min() > 0
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_margin_ranking_at_a_tie_is_plus_zero_as_torch(backend):
    """Tied scores at margin 0 (a zero-initialised scorer): torch's ``-y (a - b) + margin`` is
    +0.0 for either label; ``-(y (a - b) - margin)`` printed -0.0, so the sign of zero is compared
    (one score per example: no mean to hide it)."""
    a = np.array([[0.5], [-1.0], [2.0], [0.0]])
    y = np.array([[1.0], [-1.0], [-1.0], [1.0]])
    want = torch.nn.functional.margin_ranking_loss(*map(torch.tensor, (a, a, y)), reduction="none")[:, 0].numpy()
    got = to_numpy(losskit.MarginRankingLoss()(*(to_backend(v, backend) for v in (a, a, y))))
    assert not want.any() and not np.signbit(want).any()
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    np.testing.assert_array_equal(got, want)


def test_cosine_embedding_kink_has_gluons_derivative_zero():
    """A Gluon loss: at ``cos = margin`` with label -1 the derivative is relu's 0, as MXNet's (torch's
    clamp_min passes it: at a zero vector, margin 0, that is ``b / 1e-12`` of the floored norm)."""
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0.0, 1.0], [0.6, 0.8]], dtype=torch.float64)  # orthogonal; a zero vector
    y = torch.tensor([-1.0, -1.0], dtype=torch.float64)
    out = losskit.CosineEmbeddingLoss()(a, b, y)
    assert not out.any()
    (g,) = torch.autograd.grad(out.sum(), a)
    assert not g.any()


# ---- CosineDistanceLoss vs optax and torch -----------------------------------------------------


@pytest.mark.parametrize("epsilon", [1e-12, 1e-3, 0.0])
def test_cosine_distance_matches_optax(epsilon):
    optax = _optax()
    a, b = rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    a[0] *= 1e-3  # |a_0|^2 ~ 5e-6: below epsilon=1e-3, where the floor binds
    check(
        losskit.CosineDistanceLoss(epsilon=epsilon),
        [a, b],
        lambda a, b: optax.losses.cosine_distance(a, b, epsilon=epsilon),
        (0, 1),
        ref="jax",
    )


def test_cosine_distance_axis_and_extra_axes_match_optax():
    optax = _optax()
    a, b = rng.normal(size=(N, 4, 3)), rng.normal(size=(N, 4, 3))
    sw = rng.uniform(0.5, 2, size=(N, 1, 3))
    check(
        losskit.CosineDistanceLoss(axis=1),
        [a, b, sw],
        lambda a, b, sw: (optax.losses.cosine_distance(a, b, axis=1, epsilon=1e-12) * sw[:, 0]).mean(1),
        (0, 1, 2),
        ref="jax",
    )
    check(  # axis -1 of a 3-D input, batch along axis 1
        losskit.CosineDistanceLoss(batch_axis=1),
        [a, b],
        lambda a, b: optax.losses.cosine_distance(a, b, epsilon=1e-12).mean(0),
        (0, 1),
        ref="jax",
    )


def test_cosine_distance_zero_vectors_match_optax_with_the_same_epsilon():
    """A zero vector (pred, label or both): cosine 0, loss 1, and optax's finite gradient."""
    optax = _optax()
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    a[0] = 0.0
    b[1] = 0.0
    a[2] = b[2] = 0.0
    grads = check(
        losskit.CosineDistanceLoss(),
        [a, b],
        lambda a, b: optax.losses.cosine_distance(a, b, epsilon=1e-12),
        (0, 1),
        ref="jax",
        rtol=1e-9,
    )
    assert np.abs(grads[0][0]).max() > 1e5  # 1 / sqrt(epsilon): large, finite, optax's


def test_cosine_distance_matches_torch_cosine_similarity():
    """torch floors each norm at eps (1e-8 by default): losskit's epsilon = eps**2, values and
    gradients, a zero vector included (there torch's gradient is b / (|b| eps))."""
    a, b = rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    a[3] = 0.0
    check(
        losskit.CosineDistanceLoss(epsilon=1e-16),
        [a, b],
        lambda a, b: 1 - tf.cosine_similarity(a, b, dim=-1),
        (0, 1),
        rtol=1e-9,
    )
    a2, b2 = rng.normal(size=(N, 3, 2)), rng.normal(size=(N, 3, 2))
    check(
        losskit.CosineDistanceLoss(axis=1, epsilon=1e-16),
        [a2, b2],
        lambda a, b: (1 - tf.cosine_similarity(a, b, dim=1)).mean(1),
        (0, 1),
    )


def test_cosine_distance_closed_form_numpy():
    """From the definition, 1 - a.b / (max(|a|, sqrt(eps)) max(|b|, sqrt(eps))), in NumPy."""
    a, b = rng.normal(size=(N, 7)), rng.normal(size=(N, 7))
    a[1] *= 1e-4
    eps = 1e-6
    na = np.maximum(np.linalg.norm(a, axis=1), np.sqrt(eps))
    nb = np.maximum(np.linalg.norm(b, axis=1), np.sqrt(eps))
    want = 1 - (a * b).sum(1) / (na * nb)
    for backend in BACKENDS:
        out = losskit.CosineDistanceLoss(epsilon=eps)(to_backend(a, backend), to_backend(b, backend))
        np.testing.assert_allclose(to_numpy(out), want, rtol=1e-12, atol=1e-14, err_msg=backend)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_cosine_distance_needs_no_squares_of_the_inputs(scale):
    """float32 vectors of magnitude 1e30 (their squares overflow) or 1e-30 (underflow, to 0 below
    1e-38): the cosine of the scaled vectors, exactly as in float64; epsilon=0 for the tiny ones."""
    a, b = rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    want = 1 - (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    x = torch.tensor(a * scale, dtype=torch.float32, requires_grad=True)
    out = losskit.CosineDistanceLoss(epsilon=0.0)(x, torch.tensor(b * scale, dtype=torch.float32))
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=2e-5, atol=2e-6)
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(g).all()


def test_cosine_distance_and_info_nce_near_the_largest_float32():
    """Entries up to 3e38, whose norm is past float32's range: the direction, as at any scale (a
    norm formed as m |x / m| and divided by overflowed to inf: a cosine of 0, a zero gradient)."""
    a, b = rng.uniform(-1, 1, size=(N, 5)), rng.uniform(-1, 1, size=(N, 5))
    a[:, 0] = 1.0  # the largest entry: 3e38
    want = 1 - (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    x = torch.tensor(a * 3e38, dtype=torch.float32, requires_grad=True)
    out = losskit.CosineDistanceLoss()(x, torch.tensor(b, dtype=torch.float32))
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=2e-5, atol=2e-6)
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(g).all() and (g != 0).any()
    big, unit = torch.tensor(a * 3e38, dtype=torch.float32), torch.tensor(a, dtype=torch.float32)
    y = torch.tensor(b, dtype=torch.float32)
    torch.testing.assert_close(losskit.InfoNCELoss()(big, y), losskit.InfoNCELoss()(unit, y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_cosine_distance_and_info_nce_near_the_largest_float32_on_jax(jit):
    """The same on JAX, eager and jitted: XLA divides by the largest magnitude m as x * (1 / m),
    and 1 / 3e38 is subnormal, flushed to 0 on the CPU: every cosine was 0 (a distance of 1)."""
    jax = pytest.importorskip("jax")
    a, b = rng.uniform(-1, 1, size=(N, 5)), rng.uniform(-1, 1, size=(N, 5))
    a[:, 0] = 1.0
    want = 1 - (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    big, unit, y = (to_backend(v, "jax", "float32") for v in (a * 3e38, a, b))
    distance, nce = losskit.CosineDistanceLoss(), losskit.InfoNCELoss()
    if jit:
        distance, nce = jax.jit(distance), jax.jit(nce)
    np.testing.assert_allclose(np.asarray(distance(big, y)), want, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(np.asarray(nce(big, y)), np.asarray(nce(unit, y)), rtol=1e-5, atol=1e-6)


# ---- RankingSoftmaxLoss vs optax and NumPy -----------------------------------------------------


def _lists(shape=(N, 7)):
    scores = 3 * rng.normal(size=shape)
    labels = rng.integers(0, 4, size=shape).astype(float)
    return scores, labels


def test_ranking_softmax_matches_optax():
    optax = _optax()
    s, y = _lists()
    y[2] = 0.0  # a list without a relevant item: 0, with a zero gradient
    grads = check(
        losskit.RankingSoftmaxLoss(),
        [s, y],
        lambda s, y: optax.losses.ranking_softmax_loss(s, y, reduce_fn=None),
        (0, 1),
        ref="jax",
    )
    assert not grads[0][2].any()


def test_ranking_softmax_mask_and_weights_match_optax():
    """optax's ``where`` is losskit's ``mask``, its ``weights`` a per-item ``sample_weight``: padded
    items (whose labels are -1, and one score huge) do not count, a wholly padded list gives 0,
    and so does a list without a relevant item; values and gradients w.r.t. scores, labels and
    weights."""
    optax = _optax()
    jnp = pytest.importorskip("jax.numpy")
    s, y = _lists()
    w = rng.uniform(0.5, 2, size=s.shape)
    mask = rng.uniform(size=s.shape) < 0.7
    mask[:, 0] = True
    mask[1] = False  # wholly padded
    y[3] = 0.0  # nothing relevant
    y[~mask] = -1.0
    s[4, ~mask[4]] = 1e4  # a padded item's score never enters the softmax

    def reference(s, y, w, mask):
        # optax's own weight gradient at a padded item is NaN (0 * log softmax = 0 * -inf there):
        # its weights pass through a where that sends that item's gradient to 0 (it does not count)
        w = jnp.where(mask, w, 0.0)
        return optax.losses.ranking_softmax_loss(s, y, where=mask, weights=w, reduce_fn=None)

    grads = check(
        losskit.RankingSoftmaxLoss(), [s, y, mask, w], lambda s, y, m, w: reference(s, y, w, m), (0, 3), ref="jax"
    )
    assert grads[0][1].sum() == 0 and not grads[0][~mask].any()
    yv = np.where(mask, y, 0.0)  # labels differentiated too: the padded ones 0 (optax reads them, times 0)
    check(
        losskit.RankingSoftmaxLoss(weight=0.5),
        [s, yv, mask, w],
        lambda s, y, m, w: 0.5 * reference(s, y, w, m),
        (0, 1, 3),
        ref="jax",
    )


def _ranking_softmax_numpy(s, y, mask=None):
    """-sum_i y_i log(exp(s_i) / sum_j exp(s_j)) over each list's items, in NumPy (float64)."""
    out = []
    for k in range(s.shape[0]):
        keep = np.ones(s.shape[1], bool) if mask is None else mask[k]
        if not keep.any():
            out.append(0.0)
            continue
        sk, yk = s[k, keep], y[k, keep]
        log_p = sk - sk.max() - np.log(np.exp(sk - sk.max()).sum())
        out.append(-(yk * log_p).sum())
    return np.array(out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ranking_softmax_of_a_list_without_relevance_is_plus_zero(backend):
    """A list whose labels are all 0, and one whose items are all masked, lose exactly +0.0 (the
    negated sum of its zero terms printed -0.0; optax's too)."""
    s = np.array([[1.0, 2.0, 3.0], [0.5, 0.1, 0.2], [0.3, -1.0, 2.0]])
    y = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    mask = np.array([[True] * 3, [False] * 3, [True] * 3])
    for args in ((s, y), (s, y, mask)):
        got = to_numpy(losskit.RankingSoftmaxLoss()(*(to_backend(a, backend) for a in args)))
        want = _ranking_softmax_numpy(*args)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert got[0] == 0 and not np.signbit(got[0])
    assert got[1] == 0 and not np.signbit(got[1])


def test_ranking_softmax_against_numpy_definition():
    s, y = _lists()
    mask = rng.uniform(size=s.shape) < 0.6
    mask[0] = False
    sw = rng.uniform(0.5, 2, size=(N, 1))
    want = _ranking_softmax_numpy(s, y, mask) * sw[:, 0]
    for backend in BACKENDS:
        out = losskit.RankingSoftmaxLoss()(*[to_backend(a, backend) for a in (s, np.where(mask, y, -1.0), mask, sw)])
        np.testing.assert_allclose(to_numpy(out), want, rtol=1e-12, atol=1e-12, err_msg=backend)


def test_ranking_softmax_lists_along_the_last_axis_of_3d_input():
    optax = _optax()
    s, y = _lists((N, 3, 5))
    mask = rng.uniform(size=s.shape) < 0.8
    check(
        losskit.RankingSoftmaxLoss(),
        [s, np.where(mask, y, 0.0), mask],
        lambda s, y, m: optax.losses.ranking_softmax_loss(s, y, where=m, reduce_fn=None).mean(1),
        (0, 1),
        ref="jax",
    )


def test_ranking_softmax_extreme_scores():
    """Scores of +-1e4 in float32 (their exp overflows): finite, and equal to the float64 definition."""
    s = np.array([[1e4, -1e4, 0.0, 5.0], [3.0, 1e4, 1e4, -2.0]])
    y = np.array([[0.0, 1.0, 2.0, 0.0], [1.0, 0.0, 1.0, 3.0]])
    mask = np.array([[True, True, True, True], [True, False, True, True]])
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        x = torch.tensor(s, dtype=dtype, requires_grad=True)
        # the definition at the scores as the dtype holds them (bfloat16 keeps 1e4 as 9984)
        want = _ranking_softmax_numpy(x.detach().double().numpy(), y, mask)
        out = losskit.RankingSoftmaxLoss()(x, torch.tensor(y), torch.tensor(mask))
        assert out.dtype == dtype
        # one rounding of the result to the dtype (float32: exact here; 40003 and 40000 differ by 7.5e-5)
        rtol = max(torch.finfo(dtype).eps, 1e-6)
        np.testing.assert_allclose(out.float().detach().numpy(), want, rtol=rtol)
        (g,) = torch.autograd.grad(out.float().sum(), x)
        assert torch.isfinite(g.float()).all()


# ---- identities ---------------------------------------------------------------------------------


def _np(x):
    return x if isinstance(x, np.ndarray) else to_numpy(x)


def _on(backend, *arrays):
    return [to_backend(a, backend, "float64" if a.dtype.kind == "f" else None) for a in arrays]


@pytest.mark.parametrize("backend", BACKENDS)
def test_hinge_embedding_identities(backend):
    x = rng.uniform(-1, 2, size=(N, 4))
    ones, x_ = np.ones((N, 4)), _on(backend, x)[0]
    np.testing.assert_allclose(to_numpy(losskit.HingeEmbeddingLoss()(x_, to_backend(ones, backend))), x.mean(1))
    got = losskit.HingeEmbeddingLoss(margin=0.5)(x_, to_backend(-ones, backend))
    np.testing.assert_allclose(to_numpy(got), np.maximum(0.5 - x, 0).mean(1), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cosine_distance_identities(backend):
    a, b = rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    loss = losskit.CosineDistanceLoss()
    ta, tb, t3a = _on(backend, a, b, 3.0 * a)

    def close(u, v):
        np.testing.assert_allclose(to_numpy(u), to_numpy(v) if not isinstance(v, np.ndarray) else v, atol=1e-12)

    close(loss(ta, tb), loss(tb, ta))  # symmetric
    close(loss(t3a, tb), loss(ta, tb))  # scale-free
    close(loss(ta, ta), np.zeros(N))
    close(loss(ta, -ta), np.full(N, 2.0))
    # CosineEmbeddingLoss's loss of pairs labelled 1 is 1 - cos too (its floor differs, not met here)
    close(loss(ta, tb), losskit.CosineEmbeddingLoss()(ta, tb, to_backend(np.ones(N), backend)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_ranking_softmax_identities(backend):
    s, y = _lists()
    y[:, 0] += 1.0  # every list has a relevant item
    loss = losskit.RankingSoftmaxLoss()
    ts, ty, ts_shift, ty2 = _on(backend, s, y, s + rng.normal(size=(N, 1)) * 10, 2.0 * y)

    def close(u, v):
        np.testing.assert_allclose(_np(u), _np(v), rtol=1e-12, atol=1e-12)

    close(loss(ts_shift, ty), loss(ts, ty))  # a list's scores shifted together: the same softmax
    close(loss(ts, ty2), 2.0 * _np(loss(ts, ty)))  # linear in the labels (not normalised)
    # = sum(y) * softmax cross-entropy against the normalised labels
    total = y.sum(1)
    dense = losskit.SoftmaxCELoss(sparse_label=False)(ts, to_backend(y / total[:, None], backend))
    close(loss(ts, ty), total * _np(dense))
    # one relevant item of relevance 1: sparse softmax cross-entropy
    idx = rng.integers(0, s.shape[1], size=N)
    close(loss(ts, to_backend(np.eye(s.shape[1])[idx], backend)), losskit.SoftmaxCELoss()(ts, to_backend(idx, backend)))
    # a mask of all True is no mask; masked items are as if removed from their lists
    mask = np.ones(s.shape, bool)
    close(loss(ts, ty, to_backend(mask, backend)), loss(ts, ty))
    mask[:, 4:] = False
    wild_s, wild_y = s.copy(), y.copy()
    wild_s[:, 4:], wild_y[:, 4:] = 1e300, -5.0
    ws, wy = _on(backend, wild_s, wild_y)
    close(loss(ws, wy, to_backend(mask, backend)), loss(*_on(backend, s[:, :4], y[:, :4])))


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_ranking_softmax_masked_items_get_no_gradient(backend):
    """Padded items: no gradient for their scores (NaN and inf ones included) nor labels, and a
    wholly padded list none at all; the other gradients are those of the lists without them."""
    s, y = _lists((3, 5))
    mask = np.array([[True] * 5, [True, True, False, True, False], [False] * 5])
    s_bad = s.copy()
    s_bad[1, 2], s_bad[1, 4], s_bad[2] = np.nan, np.inf, -np.inf
    full = _on(backend, s_bad, y) + [to_backend(mask, backend)]
    g_s, g_y = autograd_grads(losskit.RankingSoftmaxLoss(), full, (0, 1), backend)
    assert np.isfinite(g_s).all() and np.isfinite(g_y).all()
    assert not g_s[~mask].any() and not g_y[~mask].any()
    keep = [0, 1, 3]
    g_ref = autograd_grads(losskit.RankingSoftmaxLoss(), _on(backend, s[1:2, keep], y[1:2, keep]), (0,), backend)[0]
    np.testing.assert_allclose(g_s[1, keep], g_ref[0], rtol=1e-12)


# ---- errors: clear, before any work, inputs untouched -------------------------------------------

X4 = np.zeros((4, 3))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: losskit.HingeEmbeddingLoss(margin="1"), TypeError, "margin must be a real number"),
        (lambda: losskit.HingeEmbeddingLoss(margin=float("inf")), ValueError, "margin must be in"),
        (lambda: losskit.HingeEmbeddingLoss(margin=np.ones(2)), ValueError, r"margin must be a number or a 0-d array"),
        (lambda: losskit.HingeEmbeddingLoss(batch_axis=0.5), TypeError, "batch_axis must be an int"),
        (lambda: losskit.CosineDistanceLoss(epsilon=-1e-3), ValueError, r"epsilon must be in \[0, inf\)"),
        (lambda: losskit.CosineDistanceLoss(epsilon=None), TypeError, "epsilon must be a real number"),
        (lambda: losskit.CosineDistanceLoss(axis=1.0), TypeError, "axis must be an int"),
        (lambda: losskit.CosineDistanceLoss(axis=True), TypeError, "axis must be an int"),
        (lambda: losskit.RankingSoftmaxLoss(weight=float("nan")), ValueError, "weight must be finite"),
        (lambda: losskit.RankingSoftmaxLoss(temperature=1.0), TypeError, "unexpected keyword arguments: temperature"),
    ],
)
def test_invalid_options_raise_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    "call, error, message",
    [
        # HingeEmbeddingLoss
        (lambda: losskit.HingeEmbeddingLoss()(X4, np.ones(5)), ValueError,
         "label shape (5,) does not match pred shape (4, 3)"),
        (lambda: losskit.HingeEmbeddingLoss()(X4.astype(int), np.ones((4, 3))), TypeError,
         "pred must be a real floating-point array, got dtype int64"),
        (lambda: losskit.HingeEmbeddingLoss()(X4, np.ones((4, 3)), np.ones(4)), ValueError,
         "sample_weight shape (4,) does not broadcast to the loss shape (4, 3)"),
        (lambda: losskit.HingeEmbeddingLoss(batch_axis=2)(X4, np.ones((4, 3))), ValueError,
         "batch_axis=2 is out of range for an input with 2 axes"),
        (lambda: F.hinge_embedding_loss(X4, np.ones((4, 3)), margin="x"), TypeError, "margin must be a real number"),
        (lambda: losskit.HingeEmbeddingLoss()(X4, np.ones((4, 3)) + 0j), TypeError, "label must hold real numbers"),
        # CosineDistanceLoss
        (lambda: losskit.CosineDistanceLoss()(X4, np.zeros((3, 4))), ValueError,
         "label shape (3, 4) does not match pred shape (4, 3): the vectors compared must have the same shape"),
        (lambda: losskit.CosineDistanceLoss()(np.zeros(3), np.zeros(3)), ValueError,
         "pred must have a batch axis and a vector axis, e.g. (N, D); got shape (3,)"),
        (lambda: losskit.CosineDistanceLoss(axis=0)(X4, X4), ValueError,
         "the vector axis (axis=0) and batch_axis (0) must differ"),
        (lambda: losskit.CosineDistanceLoss(axis=2)(X4, X4), ValueError, "axis=2 is out of range for pred with 2 axes"),
        (lambda: losskit.CosineDistanceLoss()(X4, X4, np.ones((4, 3))), ValueError,
         "sample_weight shape (4, 3) does not broadcast to the loss shape (4, 1)"),
        (lambda: losskit.CosineDistanceLoss()(X4, X4.astype(np.float32), np.ones(4)), ValueError,
         "use shape (4, 1)"),
        (lambda: F.cosine_distance_loss(X4, X4, epsilon=-1.0), ValueError, "epsilon must be in [0, inf), got -1.0"),
        (lambda: losskit.CosineDistanceLoss()(np.zeros((4, 0)), np.zeros((4, 0))), ValueError,
         "the vectors along axis -1 are empty (pred shape (4, 0)): no cosine"),
        # RankingSoftmaxLoss
        (lambda: losskit.RankingSoftmaxLoss()(np.zeros(5), np.zeros(5)), ValueError,
         "pred must have a batch axis and a list axis (the last), e.g. (N, L); got shape (5,)"),
        (lambda: losskit.RankingSoftmaxLoss()(X4, np.zeros((3, 4))), ValueError,
         "label shape (3, 4) does not match pred shape (4, 3): one relevance per item"),
        (lambda: losskit.RankingSoftmaxLoss()(X4, X4, np.ones((4, 3))), TypeError,
         "mask must be a boolean array (True for the items of a list, False for padding), got float64"),
        (lambda: losskit.RankingSoftmaxLoss()(X4, X4, np.ones((4, 1), bool)), ValueError,
         "mask shape (4, 1) does not match pred shape (4, 3)"),
        (lambda: losskit.RankingSoftmaxLoss(batch_axis=-1)(X4, X4), ValueError,
         "batch_axis=-1 is the list axis (the last axis of pred, shape (4, 3))"),
        (lambda: losskit.RankingSoftmaxLoss()(X4, np.array([[0.0, 1.0, -2.0]] * 4)), ValueError,
         "label holds negative or NaN relevance (the smallest is -2); relevance must be non-negative"),
        (lambda: losskit.RankingSoftmaxLoss()(X4, np.array([[0.0, 1.0, np.nan]] * 4)), ValueError,
         "label holds negative or NaN relevance"),
        (lambda: losskit.RankingSoftmaxLoss()(X4, -X4 - 1, np.eye(4, 3, dtype=bool)), ValueError,
         "label holds negative or NaN relevance of the unmasked items (the smallest is -1)"),
        (lambda: losskit.RankingSoftmaxLoss()(X4, X4, None, np.ones(4)), ValueError,
         "sample_weight shape (4,) does not broadcast to the loss shape (4, 3)"),
    ],
)  # fmt: skip
def test_bad_inputs_raise_naming_what_is_wrong(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_padded_labels_are_not_checked_and_value_checks_can_be_turned_off():
    s, y = np.zeros((2, 3)), np.array([[1.0, -1.0, -1.0], [2.0, 0.0, -1.0]])
    mask = y >= 0
    np.testing.assert_allclose(losskit.RankingSoftmaxLoss()(s, y, mask), [np.log(1), 2 * np.log(2)], atol=1e-15)
    with losskit.value_checks(False):
        losskit.RankingSoftmaxLoss()(s, y)  # not read: a negative label is then the caller's affair
    jax = pytest.importorskip("jax")
    out = jax.jit(losskit.RankingSoftmaxLoss())(jax.numpy.asarray(s), jax.numpy.asarray(y), jax.numpy.asarray(mask))
    np.testing.assert_allclose(out, [0.0, 2 * np.log(2)], atol=1e-12)


def test_errors_and_calls_leave_inputs_unchanged():
    s, y = rng.normal(size=(4, 3)), rng.uniform(size=(4, 3))
    bad_y = y.copy()
    bad_y[0, 0] = -1.0
    mask = np.ones((4, 3), bool)
    before = [a.copy() for a in (s, y, bad_y, mask)]
    with pytest.raises(ValueError):
        losskit.RankingSoftmaxLoss()(s, bad_y, mask)
    losskit.RankingSoftmaxLoss()(s, y, mask)
    losskit.CosineDistanceLoss()(s, y)
    with pytest.raises(ValueError):
        losskit.CosineDistanceLoss(axis=0)(s, y)
    losskit.HingeEmbeddingLoss()(s, np.sign(y - 0.5))
    for a, b in zip((s, y, bad_y, mask), before):
        np.testing.assert_array_equal(a, b)


def test_empty_lists_and_batches():
    out = losskit.RankingSoftmaxLoss()(np.zeros((3, 0)), np.zeros((3, 0)))
    np.testing.assert_array_equal(out, np.zeros(3))
    assert losskit.RankingSoftmaxLoss()(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)
    assert losskit.CosineDistanceLoss()(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)
    assert losskit.HingeEmbeddingLoss()(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)


# ---- extreme inputs: finite values and gradients, in the input's dtype --------------------------

MAGNITUDES = [(torch.float32, 1e4), (torch.float16, 6e4), (torch.bfloat16, 1e30)]


@pytest.mark.parametrize("dtype, magnitude", MAGNITUDES, ids=["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("name", ["HingeEmbeddingLoss", "CosineDistanceLoss", "RankingSoftmaxLoss"])
def test_finite_at_extreme_inputs(name, dtype, magnitude):
    x = torch.tensor([[-magnitude, -1.0, 0.0, 1.0, magnitude], [0.0] * 5], dtype=dtype, requires_grad=True)
    label = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0], [1.0, 2.0, 0.0, 1.0, 0.5]], dtype=dtype)
    init = {}
    if name == "RankingSoftmaxLoss":  # relevant items near the top: the loss itself fits float16
        label = torch.tensor([[0.0, 0.0, 0.0, 1.0, 1.0], [1.0, 2.0, 0.0, 1.0, 0.5]], dtype=dtype)
    elif name == "CosineDistanceLoss" and dtype == torch.float16:
        # a zero vector's gradient is about 1 / sqrt(epsilon): 1e6 for the default, past float16's range
        init = {"epsilon": 1e-8}
    elif name == "HingeEmbeddingLoss":
        label = torch.where(label > 0, 1.0, -1.0).to(dtype)
    out = losskit.get_loss(name, **init)(x, label)
    assert out.dtype == dtype
    (grad,) = torch.autograd.grad(out.float().sum(), x)
    assert torch.isfinite(out.float()).all(), out
    assert torch.isfinite(grad.float()).all(), grad


# ---- TripletMarginLoss vs torch.nn.functional.triplet_margin_loss and NumPy ---------------------

# _triplets: triplets away from the kinks (no hinge argument within 0.1 of 0, with swap no tie of
# the negative distances), where values and gradients are those of a smooth function


def _mixed_triplets(shape, margin=1.0, p=2.0, eps=1e-6, swap=False):
    """:func:`_triplets` with some hinges active and some not (by the NumPy definition below), so
    that a gradient test tests something: the first seed that gives both."""
    for seed in range(100):
        args = _triplets(np.random.default_rng(seed), shape, margin, p, eps, swap)
        active = _triplet_margin_numpy(*args, margin, p, eps, swap) > 0
        if active.any() and not active.all():
            return args
    raise AssertionError("no seed gives active and inactive hinges")


def _torch_triplet(margin=1.0, p=2.0, eps=1e-6, swap=False):
    """torch's loss per triplet. ``torch.nn.functional.triplet_margin_loss`` refuses margin <= 0
    (a check of its Python wrapper); the ATen op it calls, ``torch.triplet_margin_loss``, computes
    the formula for any margin and serves those."""
    if margin > 0:
        return lambda a, pos, neg: tf.triplet_margin_loss(a, pos, neg, margin=margin, p=p, eps=eps, swap=swap,
                                                          reduction="none")  # fmt: skip
    return lambda a, pos, neg: torch.triplet_margin_loss(a, pos, neg, margin, p, eps, swap, 0)


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("margin", [1.0, 0.3, -0.4])
def test_triplet_margin_matches_torch(p, swap, margin):
    a, pos, neg = _mixed_triplets((N, 5), margin=margin, p=p, swap=swap)
    grads = check(
        losskit.TripletMarginLoss(margin=margin, p=p, swap=swap),
        [a, pos, neg],
        _torch_triplet(margin, p, swap=swap),
        (0, 1, 2),
    )
    assert any(np.abs(g).sum() > 0 for g in grads)  # some hinges active: the gradients are tested


@pytest.mark.parametrize("p", [math.inf, 0.5, 1.5, 7.0])
@pytest.mark.parametrize("eps", [0.0, 1e-6, 0.4])
def test_triplet_margin_other_orders_and_eps_match_torch(p, eps):
    for swap in (False, True):
        a, pos, neg = _mixed_triplets((N, 4), margin=0.8, p=p, eps=eps, swap=swap)
        check(
            losskit.TripletMarginLoss(margin=0.8, p=p, eps=eps, swap=swap),
            [a, pos, neg],
            _torch_triplet(0.8, p, eps, swap),
            (0, 1, 2),
            rtol=1e-9,
        )


def test_triplet_margin_weights_and_torch_mean():
    a, pos, neg = _triplets(rng, (N, 3), margin=1.5)
    sw = rng.uniform(0.5, 2, size=N)
    check(
        losskit.TripletMarginLoss(margin=1.5, weight=0.5),
        [a, pos, neg, sw],
        lambda a, pos, neg, sw: 0.5 * sw * tf.triplet_margin_loss(a, pos, neg, margin=1.5, reduction="none"),
        (0, 1, 2, 3),
    )
    t = [torch.tensor(x) for x in (a, pos, neg)]
    out = losskit.TripletMarginLoss(margin=1.5)(*t)
    torch.testing.assert_close(out.mean(), tf.triplet_margin_loss(*t, margin=1.5), rtol=1e-12, atol=0)
    torch.testing.assert_close(out.sum(), tf.triplet_margin_loss(*t, margin=1.5, reduction="sum"), rtol=1e-12, atol=0)


def test_triplet_margin_unbatched_and_leading_axes_match_torch():
    """A ``(D,)`` triplet is one example: shape ``(1,)``, torch's 0-d value. ``(N, T, D)``: torch's
    ``(N, T)`` losses averaged per example; ``batch_axis=1`` keeps axis 1 of ``(T, N, D)``."""
    a, pos, neg = _triplets(rng, (7,), margin=2.0, p=3.0, swap=True)
    check(losskit.TripletMarginLoss(margin=2.0, p=3.0, swap=True), [a, pos, neg],
          lambda *x: _torch_triplet(2.0, 3.0, swap=True)(*x).reshape(1), (0, 1, 2))  # fmt: skip
    check(losskit.TripletMarginLoss(margin=2.0, p=3.0, swap=True), [a, pos, neg, np.array([1.5])],
          lambda *x: x[3] * _torch_triplet(2.0, 3.0, swap=True)(*x[:3]).reshape(1), (0, 1, 2, 3))  # fmt: skip
    a, pos, neg = _triplets(rng, (N, 3, 4), margin=1.0, p=1.0)
    sw = rng.uniform(0.5, 2, size=(N, 3))
    check(
        losskit.TripletMarginLoss(p=1.0),
        [a, pos, neg, sw],
        lambda a, pos, neg, sw: (sw * tf.triplet_margin_loss(a, pos, neg, p=1.0, reduction="none")).mean(1),
        (0, 1, 2, 3),
    )
    check(
        losskit.TripletMarginLoss(p=1.0, batch_axis=1),
        [a, pos, neg],
        lambda a, pos, neg: tf.triplet_margin_loss(a, pos, neg, p=1.0, reduction="none").mean(0),
        (0, 1, 2),
    )


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, math.inf])
@pytest.mark.parametrize("eps", [1e-6, 0.0])
def test_triplet_margin_zero_distance_gradient_matches_torch(p, eps, swap):
    """anchor == positive exactly (a distance of eps D^(1/p); 0 when eps = 0, where a square root's
    derivative is infinite and torch's norm gives 0), a difference that is exactly -eps in one
    entry, and (row 2) a negative equal to the anchor too: finite gradients, torch's. With swap
    the two negative distances tie there, and the gradient is split between them as torch's."""
    a = rng.normal(size=(4, 3))
    pos = a + 0.3 * rng.normal(size=(4, 3))
    neg = a + 0.4 * rng.normal(size=(4, 3))
    pos[0] = a[0]
    a[1, 1], pos[1, 1] = 0.0, eps  # a - pos + eps = 0 exactly in that entry
    pos[2] = neg[2] = a[2]
    grads = check(losskit.TripletMarginLoss(p=p, eps=eps, swap=swap), [a, pos, neg],
                  _torch_triplet(1.0, p, eps, swap), (0, 1, 2), rtol=1e-9)  # fmt: skip
    assert all(np.isfinite(g).all() for g in grads)


def _triplet_margin_numpy(a, pos, neg, margin=1.0, p=2.0, eps=1e-6, swap=False):
    """max(0, margin + d(a, pos) - d(a, neg)), d(x, y) = (sum_k |x_k - y_k + eps|^p)^(1/p), in NumPy."""

    def d(x, y):
        v = np.abs(x - y + eps)
        return v.max(-1) if p == np.inf else (v**p).sum(-1) ** (1.0 / p)

    d_neg = np.minimum(d(a, neg), d(pos, neg)) if swap else d(a, neg)
    return np.maximum(margin + d(a, pos) - d_neg, 0.0)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, math.inf])
def test_triplet_margin_against_numpy_definition(p):
    a, pos, neg = rng.normal(size=(N, 5)), rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    pos[0] = a[0]
    sw = rng.uniform(0.5, 2, size=N)
    for swap, eps, margin in ((False, 1e-6, 1.0), (True, 0.1, 0.7), (True, 0.0, -0.2)):
        want = _triplet_margin_numpy(a, pos, neg, margin, p, eps, swap) * sw
        loss = losskit.TripletMarginLoss(margin=margin, p=p, eps=eps, swap=swap)
        for backend in BACKENDS:
            out = loss(*[to_backend(x, backend) for x in (a, pos, neg, sw)])
            np.testing.assert_allclose(to_numpy(out), want, rtol=1e-12, atol=1e-13, err_msg=f"{backend} {swap} {eps}")


@pytest.mark.parametrize("scale", [1e30, 1e-30])
@pytest.mark.parametrize("p", [2.0, 3.0, 0.5])
def test_triplet_margin_needs_no_powers_of_the_inputs(scale, p):
    """float32 vectors of magnitude 1e30 (|v|^p overflows) or 1e-30 (underflows), eps=0 and the
    margin scaled alike: the loss is ``scale`` times that of the unscaled vectors (the loss is
    homogeneous), as the float64 definition gives, with finite gradients. The loss is a difference
    of two distances: float32 rounds each to ~1e-7 of its size, the tolerance (p = 0.5's distances
    exceed 20 for these vectors)."""
    gen = np.random.default_rng(5)  # its own: the inputs do not depend on which tests ran before
    a, pos, neg = gen.normal(size=(N, 5)), gen.normal(size=(N, 5)), gen.normal(size=(N, 5))
    want = _triplet_margin_numpy(a, pos, neg, 0.5, p, 0.0)
    size = np.linalg.norm(a - pos, ord=p, axis=1) + np.linalg.norm(a - neg, ord=p, axis=1)
    x = torch.tensor(a * scale, dtype=torch.float32, requires_grad=True)
    t = [torch.tensor(v * scale, dtype=torch.float32) for v in (pos, neg)]
    out = losskit.TripletMarginLoss(margin=0.5 * scale, p=p, eps=0.0)(x, *t)
    np.testing.assert_array_less(np.abs(out.detach().numpy() / scale - want), 5e-7 * size + 1e-12)
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(g).all()


def test_triplet_margin_dtypes():
    """Mixed float dtypes promote, as torch; float16/bfloat16 compute in float32 and return their own."""
    a, pos, neg = _triplets(rng, (N, 4))
    want = tf.triplet_margin_loss(*[torch.tensor(x) for x in (a, pos, neg)], reduction="none")
    out = losskit.TripletMarginLoss()(torch.tensor(a, dtype=torch.float32), torch.tensor(pos), torch.tensor(neg))
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-6)
    for dtype, tol in ((torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)):
        t = [torch.tensor(x, dtype=dtype) for x in (a, pos, neg)]
        out = losskit.TripletMarginLoss()(*t)
        assert out.dtype == dtype
        ref = tf.triplet_margin_loss(*[x.double() for x in t], reduction="none")  # the rounded inputs, float64
        np.testing.assert_allclose(out.double().numpy(), ref.numpy(), rtol=tol, atol=tol)


def test_triplet_margin_empty_batches_and_vectors():
    assert losskit.TripletMarginLoss()(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)
    for p in (1.0, 2.0, 3.0, math.inf):  # vectors of no entries: distances 0 (torch's for finite p)
        out = losskit.TripletMarginLoss(margin=0.7, p=p)(np.zeros((3, 0)), np.zeros((3, 0)), np.zeros((3, 0)))
        np.testing.assert_array_equal(out, np.full(3, 0.7))
    want = tf.triplet_margin_loss(torch.zeros(3, 0), torch.zeros(3, 0), torch.zeros(3, 0), margin=0.7, reduction="none")
    np.testing.assert_allclose(want.numpy(), np.full(3, 0.7))


def test_triplet_margin_array_margin():
    """A 0-d array margin (swept by jax.vmap, learnt as a tensor) equals the number."""
    a, pos, neg = _triplets(rng, (N, 3), margin=0.5)
    want = losskit.TripletMarginLoss(margin=0.5)(a, pos, neg)
    np.testing.assert_allclose(losskit.TripletMarginLoss(margin=np.array(0.5))(a, pos, neg), want, rtol=1e-15)
    m = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    out = F.triplet_margin_loss(*[torch.tensor(x) for x in (a, pos, neg)], margin=m)
    (g,) = torch.autograd.grad(out.sum(), m)
    assert g.item() == (want > 0).sum()  # d/dm: 1 per active hinge
    jax = pytest.importorskip("jax")
    aj, pj, nj = (jax.numpy.asarray(x) for x in (a, pos, neg))
    swept = jax.vmap(lambda m: F.triplet_margin_loss(aj, pj, nj, margin=m))(jax.numpy.array([0.5, 2.0]))
    np.testing.assert_allclose(swept[0], want, rtol=1e-12)
    np.testing.assert_allclose(swept[1], losskit.TripletMarginLoss(margin=2.0)(a, pos, neg), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_triplet_margin_identities(backend):
    a, pos, neg = rng.normal(size=(N, 5)), rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    shift = rng.normal(size=(1, 5))
    ta, tp, tn, ta2, tp2, tn2, ta3, tp3, tn3 = _on(backend, a, pos, neg, a + shift, pos + shift, neg + shift,
                                                   3 * a, 3 * pos, 3 * neg)  # fmt: skip

    def close(u, v):
        np.testing.assert_allclose(_np(u), _np(v), rtol=1e-12, atol=1e-12)

    for p in (1.0, 2.0, 3.0, math.inf):
        plain = losskit.TripletMarginLoss(margin=0.0, p=p, eps=0.0)
        # with margin 0, max(0, x) - max(0, -x) = x: the difference of the two distances
        d_pos = losskit.TripletMarginLoss(margin=0.0, p=p, eps=0.0)(ta, tp, ta)
        close(_np(plain(ta, tp, tn)) - _np(plain(ta, tn, tp)), _np(d_pos) - _np(plain(ta, tn, ta)))
        # a shift of all three vectors changes nothing (eps too is added to differences)
        loss = losskit.TripletMarginLoss(margin=0.5, p=p, eps=0.1, swap=True)
        close(loss(ta2, tp2, tn2), loss(ta, tp, tn))
        # without eps the loss is homogeneous: scaling the vectors and the margin by 3 scales it by 3
        close(losskit.TripletMarginLoss(margin=1.5, p=p, eps=0.0)(ta3, tp3, tn3),
              3 * _np(losskit.TripletMarginLoss(margin=0.5, p=p, eps=0.0)(ta, tp, tn)))  # fmt: skip
        # swap takes the nearer negative distance: never a smaller loss
        swapped = losskit.TripletMarginLoss(margin=0.5, p=p, swap=True)(ta, tp, tn)
        assert (_np(swapped) >= _np(losskit.TripletMarginLoss(margin=0.5, p=p)(ta, tp, tn))).all()
    # a triplet per leading index: (N, T, D) is the mean over T of the (N * T, D) triplets' losses
    b = rng.normal(size=(3, N, 2, 4))
    t3 = _on(backend, *b)
    flat = _on(backend, *b.reshape(3, N * 2, 4))
    close(losskit.TripletMarginLoss(p=3.0)(*t3), _np(losskit.TripletMarginLoss(p=3.0)(*flat)).reshape(N, 2).mean(1))
    # Gluon's TripletLoss squares the distances: equal to this loss of D = 1 with p = 2, eps = 0 only
    # where the distances are 0 or 1 (x^2 = x); here |pos - a| = 1 and |neg - a| = 0 or 2
    a1 = rng.normal(size=(N, 1))
    one = _on(backend, a1, a1 + 1, a1 + np.array([[0.0], [2.0], [0.0], [2.0], [0.0], [2.0]]))
    gluon = _np(losskit.TripletLoss(margin=0.5)(*one))
    close(losskit.TripletMarginLoss(margin=0.5, eps=0.0)(*one), np.where(gluon > 0, 1.5, 0.0))
    np.testing.assert_allclose(gluon, np.where(gluon > 0, 1.5, 0.0))


# ---- TripletMarginLoss errors -------------------------------------------------------------------

_T3 = np.zeros((4, 3))


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: losskit.TripletMarginLoss(margin="1"), TypeError, "margin must be a real number, got '1'"),
        (lambda: losskit.TripletMarginLoss(margin=math.inf), ValueError, "margin must be in (-inf, inf), got inf"),
        (lambda: losskit.TripletMarginLoss(margin=np.ones(2)), ValueError,
         "margin must be a number or a 0-d array, got an array of shape (2,)"),
        (lambda: losskit.TripletMarginLoss(p=0), ValueError,
         "p must be in (0, inf] (math.inf for the largest entry), got 0"),
        (lambda: losskit.TripletMarginLoss(p=-2.0), ValueError, "p must be in (0, inf]"),
        (lambda: losskit.TripletMarginLoss(p=math.nan), ValueError, "p must be in (0, inf]"),
        (lambda: losskit.TripletMarginLoss(p=10**400), ValueError, "p must be in (0, inf]"),
        (lambda: losskit.TripletMarginLoss(p="2"), TypeError, "p must be a real number (the order of the norm"),
        (lambda: losskit.TripletMarginLoss(p=True), TypeError, "p must be a real number"),
        (lambda: losskit.TripletMarginLoss(p=np.array(2.0)), TypeError, "p must be a real number"),
        (lambda: losskit.TripletMarginLoss(eps=-1e-6), ValueError, "eps must be in [0, inf), got -1e-06"),
        (lambda: losskit.TripletMarginLoss(eps=math.inf), ValueError, "eps must be in [0, inf), got inf"),
        (lambda: losskit.TripletMarginLoss(eps=None), TypeError, "eps must be a real number, got None"),
        (lambda: losskit.TripletMarginLoss(swap="False"), TypeError, "swap must be True or False, got 'False'"),
        (lambda: losskit.TripletMarginLoss(swap=1), TypeError, "swap must be True or False, got 1"),
        (lambda: losskit.TripletMarginLoss(weight=math.nan), ValueError, "weight must be finite"),
        (lambda: losskit.TripletMarginLoss(batch_axis=0.5), TypeError, "batch_axis must be an int"),
        (lambda: losskit.TripletMarginLoss(reduction="none"), TypeError, "unexpected keyword arguments: reduction"),
    ],
)  # fmt: skip
def test_triplet_margin_invalid_options_raise_at_construction(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: losskit.TripletMarginLoss()(_T3, np.zeros((4, 4)), _T3), ValueError,
         "positive shape (4, 4) does not match pred (the anchor) shape (4, 3): the three must have the same shape"),
        (lambda: losskit.TripletMarginLoss()(_T3, _T3, np.zeros((3, 4))), ValueError,
         "negative shape (3, 4) does not match pred (the anchor) shape (4, 3)"),  # as many elements: still refused
        (lambda: losskit.TripletMarginLoss()(_T3, _T3, np.zeros((1, 3))), ValueError,
         "negative shape (1, 3) does not match"),  # torch would broadcast it
        (lambda: losskit.TripletMarginLoss()(np.zeros(()), np.zeros(()), np.zeros(())), ValueError,
         "pred, positive and negative need at least one axis (the vector axis, last); got 0-d arrays"),
        (lambda: losskit.TripletMarginLoss()(_T3.astype(int), _T3, _T3), TypeError,
         "pred must be a real floating-point array, got dtype int64"),
        (lambda: losskit.TripletMarginLoss()(_T3, _T3.astype(int), _T3), TypeError,
         "positive must be a real floating-point array, got dtype int64"),
        (lambda: losskit.TripletMarginLoss()(_T3, _T3, _T3 + 0j), TypeError,
         "negative must be a real floating-point array, got dtype complex128"),
        (lambda: losskit.TripletMarginLoss(batch_axis=1)(_T3, _T3, _T3), ValueError,
         "batch_axis=1 is out of range for the triplets, shape (4,) (pred's shape (4, 3) without its last"),
        (lambda: losskit.TripletMarginLoss()(_T3, _T3, _T3, np.ones((4, 3))), ValueError,
         "sample_weight shape (4, 3) does not broadcast to the loss shape (4,)"),
        (lambda: losskit.TripletMarginLoss()(_T3, _T3, _T3, np.ones(3)), ValueError,
         "sample_weight shape (3,) does not broadcast to the loss shape (4,)"),
        (lambda: losskit.TripletMarginLoss()(np.zeros(3), np.zeros(3), np.zeros(3), np.ones(2)), ValueError,
         "sample_weight shape (2,) does not broadcast to the loss shape (1,)"),
        (lambda: losskit.TripletMarginLoss()(np.zeros((4, 2, 3)), np.zeros((4, 2, 3)), np.zeros((4, 2, 3)), np.ones(4)),
         ValueError, "use shape (4, 1)"),
        (lambda: losskit.TripletMarginLoss()(_T3, torch.zeros(4, 3), _T3), TypeError,
         "all array inputs of one call must come from the same array library"),
        (lambda: F.triplet_margin_loss(_T3, _T3, _T3, p=0.0), ValueError, "p must be in (0, inf]"),
        (lambda: F.triplet_margin_loss(_T3, _T3, _T3, eps=-1.0), ValueError, "eps must be in [0, inf), got -1.0"),
        (lambda: F.triplet_margin_loss(_T3, _T3, _T3, swap=None), TypeError, "swap must be True or False, got None"),
        (lambda: F.triplet_margin_loss(_T3, _T3, _T3, margin=math.nan), ValueError, "margin must be in (-inf, inf)"),
    ],
)  # fmt: skip
def test_triplet_margin_bad_inputs_raise_naming_what_is_wrong(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_triplet_margin_leaves_inputs_unchanged_and_checks_before_work():
    a, pos, neg, sw = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), np.ones(4)
    before = [x.copy() for x in (a, pos, neg, sw)]
    losskit.TripletMarginLoss(p=3.0, swap=True)(a, pos, neg, sw)
    with pytest.raises(ValueError):
        losskit.TripletMarginLoss()(a, pos, neg, np.ones(5))
    t = [torch.tensor(x, requires_grad=True) for x in (a, pos, neg)]
    with pytest.raises(ValueError):  # refused before any arithmetic: no graph was built
        losskit.TripletMarginLoss(batch_axis=1)(*t)
    assert all(x.grad is None and x.grad_fn is None for x in t)
    for x, y in zip((a, pos, neg, sw), before):
        np.testing.assert_array_equal(x, y)
    assert repr(losskit.TripletMarginLoss(margin=0.5, p=1)) == (
        "TripletMarginLoss(batch_axis=0, w=None, margin=0.5, p=1.0, eps=1e-06, swap=False)"
    )


@pytest.mark.parametrize("dtype, magnitude", MAGNITUDES, ids=["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
def test_triplet_margin_finite_at_extreme_inputs(p, dtype, magnitude):
    """Distances of about the magnitude (the loss itself fits the dtype: 6e4 in float16), and a
    zero one; computed in float32, returned in the input's dtype, with finite gradients."""
    m = magnitude
    x = torch.tensor([[-m, -1.0, 0.0, 1.0, m], [0.0] * 5], dtype=dtype, requires_grad=True)
    pos = torch.tensor([[-m / 2, 0.0, 0.0, 1.0, m / 2], [0.0] * 5], dtype=dtype)
    neg = torch.tensor([[-m, -1.0, 1e-3, 1.0, m], [1e-3] * 5], dtype=dtype)
    out = losskit.TripletMarginLoss(p=p, swap=True)(x, pos, neg)
    assert out.dtype == dtype
    (grad,) = torch.autograd.grad(out.float().sum(), x)
    assert torch.isfinite(out.float()).all(), out
    assert torch.isfinite(grad.float()).all(), grad
