"""JaccardLoss (soft IoU), the focal Tversky loss (``TverskyLoss(gamma=...)``) and ``log_loss``.

References, each able to fail independently of losskit's code:

- values worked by hand on tiny inputs;
- a NumPy loop written here from the formulas (per example, per class);
- identities: Jaccard = Tversky(alpha = beta = 1); J = D / (2 - D) per class (smooth 0);
  gamma = 1 is the Tversky loss as before; gamma = 2 is the mean of the squared per-class losses;
- optax's ``dice_loss`` (alpha = beta = 1 is the Jaccard loss; ``reduction="none"`` gives the
  per-class losses to raise to gamma);
- a transcription of segmentation_models_pytorch's ``soft_jaccard_score``,
  ``soft_tversky_score`` and ``TverskyLoss.aggregate_loss`` (losses/_functional.py, tversky.py),
  read from its source: its index is over the whole batch (dims (0, 2)), so it is compared on the
  batch made one example.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, autograd_grads, to_backend, to_numpy

torch = pytest.importorskip("torch")

VALUE_BACKENDS = [b for b in BACKENDS if b in ("numpy", "torch", "jax")]


def _softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _ref(
    prob: np.ndarray,
    mask: np.ndarray,
    alpha: float,
    beta: float,
    smooth: float,
    gamma: float = 1.0,
    log_loss: bool = False,
    class_weight: Any = None,
) -> np.ndarray:
    """The loss per example of probabilities and masks ``(N, C, ...)``, one loop per example and class."""
    n, c = prob.shape[:2]
    w = np.ones(c) if class_weight is None else np.asarray(class_weight, dtype=float)
    out = np.zeros(n)
    for i in range(n):
        total = 0.0
        for k in range(c):
            p, t = prob[i, k].ravel(), mask[i, k].ravel()
            tp = float(np.sum(p * t))
            fp = float(np.sum(p * (1 - t)))
            fn = float(np.sum((1 - p) * t))
            ti = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
            total += w[k] * (-np.log(ti) if log_loss else (1 - ti) ** gamma)
        out[i] = total / c
    return out


def _case(seed: int = 0, shape: tuple[int, ...] = (3, 4, 5, 2), soft: bool = False) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    x = 2 * r.normal(size=shape)
    if soft:
        t = r.uniform(0, 1, size=shape)
    else:
        t = np.moveaxis(np.eye(shape[1])[r.integers(0, shape[1], size=(shape[0], *shape[2:]))], -1, 1)
    return x, t


# ---- values worked by hand ---------------------------------------------------------------------


def test_jaccard_by_hand() -> None:
    # one example, two classes, three pixels
    # class 0: p = (0.8, 0.6, 0.1), t = (1, 1, 0): I = 1.4, P = 1.5, T = 2, union 2.1
    # class 1: p = (0.2, 0.4, 0.9), t = (0, 0, 1): I = 0.9, P = 1.5, T = 1, union 1.6
    p = np.array([[[0.8, 0.6, 0.1], [0.2, 0.4, 0.9]]])
    t = np.array([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    j0, j1 = 1.4 / 2.1, 0.9 / 1.6
    got = losskit.JaccardLoss(smooth=0.0, from_logits=False)(p, t)
    np.testing.assert_allclose(got, [1 - (j0 + j1) / 2], rtol=1e-14)
    got = losskit.JaccardLoss(smooth=1.0, from_logits=False)(p, t)
    np.testing.assert_allclose(got, [1 - (2.4 / 3.1 + 1.9 / 2.6) / 2], rtol=1e-14)
    got = losskit.JaccardLoss(smooth=0.0, from_logits=False, log_loss=True)(p, t)
    np.testing.assert_allclose(got, [-(np.log(j0) + np.log(j1)) / 2], rtol=1e-14)
    got = losskit.JaccardLoss(smooth=0.0, from_logits=False, class_weight=[0.0, 3.0])(p, t)
    np.testing.assert_allclose(got, [3 * (1 - j1) / 2], rtol=1e-14)


def test_focal_tversky_by_hand() -> None:
    # the same masks, alpha = 0.3 (FP), beta = 0.7 (FN), smooth 0:
    # class 0: I = 1.4, FP = 0.1, FN = 0.6: TI = 1.4 / (1.4 + 0.03 + 0.42) = 1.4 / 1.85
    # class 1: I = 0.9, FP = 0.6, FN = 0.1: TI = 0.9 / (0.9 + 0.18 + 0.07) = 0.9 / 1.15
    p = np.array([[[0.8, 0.6, 0.1], [0.2, 0.4, 0.9]]])
    t = np.array([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    d0, d1 = 1 - 1.4 / 1.85, 1 - 0.9 / 1.15
    for gamma in (0.75, 1.0, 2.0, 3.0):
        loss = losskit.TverskyLoss(alpha=0.3, beta=0.7, smooth=0.0, from_logits=False, gamma=gamma)
        np.testing.assert_allclose(loss(p, t), [(d0**gamma + d1**gamma) / 2], rtol=1e-13, err_msg=str(gamma))
    # the power per class, not of the mean: ((d0 + d1) / 2) ** 2 differs
    got = losskit.TverskyLoss(alpha=0.3, beta=0.7, smooth=0.0, from_logits=False, gamma=2.0)(p, t)
    assert not np.isclose(got[0], ((d0 + d1) / 2) ** 2, rtol=1e-6)


# ---- a NumPy loop, on every backend in float64 ---------------------------------------------------


OPTIONS = [
    ("jaccard", {}, dict(alpha=1.0, beta=1.0, smooth=1.0)),
    (
        "jaccard",
        {"smooth": 0.0, "class_weight": [0.5, 2.0, 0.0, 1.0]},
        dict(alpha=1.0, beta=1.0, smooth=0.0, class_weight=[0.5, 2.0, 0.0, 1.0]),
    ),
    ("jaccard", {"smooth": 0.25, "log_loss": True}, dict(alpha=1.0, beta=1.0, smooth=0.25, log_loss=True)),
    ("dice", {"log_loss": True}, dict(alpha=0.5, beta=0.5, smooth=1.0, log_loss=True)),
    ("tversky", {"alpha": 0.3, "beta": 0.7, "gamma": 0.75}, dict(alpha=0.3, beta=0.7, smooth=1.0, gamma=0.75)),
    (
        "tversky",
        {"alpha": 0.7, "beta": 0.3, "gamma": 2.0, "smooth": 0.0},
        dict(alpha=0.7, beta=0.3, smooth=0.0, gamma=2.0),
    ),
    (
        "tversky",
        {"gamma": 1.5, "class_weight": [1.0, 0.0, 2.0, 1.0], "log_loss": False},
        dict(alpha=0.5, beta=0.5, smooth=1.0, gamma=1.5, class_weight=[1.0, 0.0, 2.0, 1.0]),
    ),
    ("tversky", {"alpha": 0.2, "beta": 0.8, "log_loss": True}, dict(alpha=0.2, beta=0.8, smooth=1.0, log_loss=True)),
]
CLASSES = {"jaccard": losskit.JaccardLoss, "dice": losskit.DiceLoss, "tversky": losskit.TverskyLoss}


@pytest.mark.parametrize("backend", VALUE_BACKENDS)
@pytest.mark.parametrize(("name", "init", "ref"), OPTIONS, ids=[f"{o[0]}-{i}" for i, o in enumerate(OPTIONS)])
@pytest.mark.parametrize("soft", [False, True], ids=["onehot", "soft"])
def test_against_a_numpy_loop(backend: str, name: str, init: dict[str, Any], ref: dict[str, Any], soft: bool) -> None:
    x, t = _case(1, soft=soft)
    want = _ref(_softmax(x), t, **ref)
    loss = CLASSES[name](**init)
    got = to_numpy(loss(to_backend(x, backend, "float64"), to_backend(t, backend, "float64")))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_binary_mask_without_class_axis_uses_sigmoid() -> None:
    x, t = _case(2, shape=(3, 1, 7))
    prob = 1 / (1 + np.exp(-x))
    want = _ref(prob, t, 1.0, 1.0, 0.5)
    np.testing.assert_allclose(losskit.JaccardLoss(smooth=0.5)(x, t[:, 0]), want, rtol=1e-13)
    want = _ref(prob, t, 0.3, 0.7, 0.5, gamma=0.75)
    got = losskit.TverskyLoss(alpha=0.3, beta=0.7, smooth=0.5, gamma=0.75)(x, t[:, 0])
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_channels_last_and_batch_axis() -> None:
    x, t = _case(3, soft=True)
    want = losskit.TverskyLoss(gamma=0.5, alpha=0.4, beta=0.6)(x, t)
    moved = np.moveaxis(x, (0, 1), (1, -1)), np.moveaxis(t, (0, 1), (1, -1))  # (4?, N, ..., C)
    got = losskit.TverskyLoss(gamma=0.5, alpha=0.4, beta=0.6, axis=-1, batch_axis=1)(*moved)
    np.testing.assert_allclose(got, want, rtol=1e-13)


# ---- identities --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", VALUE_BACKENDS)
def test_jaccard_is_tversky_one_one(backend: str) -> None:
    x, t = _case(4, soft=True)
    x, t = to_backend(x, backend, "float64"), to_backend(t, backend, "float64")
    for opts in ({}, {"smooth": 0.0}, {"class_weight": [1.0, 2.0, 0.5, 0.0]}, {"log_loss": True, "smooth": 0.3}):
        a = to_numpy(losskit.JaccardLoss(**opts)(x, t))
        b = to_numpy(losskit.TverskyLoss(alpha=1.0, beta=1.0, **opts)(x, t))
        np.testing.assert_array_equal(a, b)
    # and not Tversky(1/2, 1/2), the Dice loss: the identity can tell them apart
    assert not np.allclose(to_numpy(losskit.JaccardLoss()(x, t)), to_numpy(losskit.DiceLoss()(x, t)))


def _per_class(loss_cls: type, c: int, **opts: Any) -> Any:
    """The per-class losses (N, C) of a loss: C times the loss with the one-hot class weight e_k."""

    def run(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.stack(
            [c * loss_cls(class_weight=[float(j == k) for j in range(c)], **opts)(x, t) for k in range(c)], axis=1
        )

    return run


def test_jaccard_is_dice_over_two_minus_dice_per_class() -> None:
    """J = D / (2 - D) per class: at smooth 0, and at any smooth with the placements used here,
    J = (I + s) / (P + T - I + s) and D = (I + s) / ((P + T) / 2 + s) (smooth enters Dice as 2s in
    (2I + 2s) / (P + T + 2s)). smp's Dice placement, (2I + s) / (P + T + s), breaks it."""
    x, t = _case(5, soft=True)
    for smooth in (0.0, 1.0, 0.3):
        jac = 1 - _per_class(losskit.JaccardLoss, 4, smooth=smooth)(x, t)
        dice = 1 - _per_class(losskit.DiceLoss, 4, smooth=smooth)(x, t)
        np.testing.assert_allclose(jac, dice / (2 - dice), rtol=1e-12)
    p = _softmax(x)
    inter, card = np.sum(p * t, axis=(2, 3)), np.sum(p + t, axis=(2, 3))
    smp_dice = (2 * inter + 1.0) / (card + 1.0)
    jac = 1 - _per_class(losskit.JaccardLoss, 4, smooth=1.0)(x, t)
    assert not np.allclose(jac, smp_dice / (2 - smp_dice), rtol=1e-6)


@pytest.mark.parametrize("backend", VALUE_BACKENDS)
def test_gamma_one_is_the_tversky_loss_unchanged(backend: str) -> None:
    x, t = _case(6, soft=True)
    x, t = to_backend(x, backend, "float64"), to_backend(t, backend, "float64")
    for opts in ({}, {"alpha": 0.3, "beta": 0.7, "smooth": 0.0}, {"class_weight": [0.0, 1.0, 2.0, 1.0]}):
        a = to_numpy(losskit.TverskyLoss(gamma=1.0, **opts)(x, t))
        b = to_numpy(losskit.TverskyLoss(**opts)(x, t))
        np.testing.assert_array_equal(a, b)
        c = to_numpy(F.tversky_loss(x, t, gamma=1, **opts))  # an int 1 too
        np.testing.assert_array_equal(c, b)


def test_gamma_two_is_the_mean_of_squared_per_class_losses() -> None:
    x, t = _case(7, soft=True)
    per_class = _per_class(losskit.TverskyLoss, 4, alpha=0.3, beta=0.7)(x, t)
    got = losskit.TverskyLoss(alpha=0.3, beta=0.7, gamma=2.0)(x, t)
    np.testing.assert_allclose(got, np.mean(per_class**2, axis=1), rtol=1e-12)
    assert not np.allclose(got, np.mean(per_class, axis=1) ** 2, rtol=1e-6)  # not the power of the mean


def test_log_loss_is_minus_log_of_the_index() -> None:
    x, t = _case(8, soft=True)
    index = 1 - _per_class(losskit.DiceLoss, 4)(x, t)
    np.testing.assert_allclose(losskit.DiceLoss(log_loss=True)(x, t), -np.mean(np.log(index), axis=1), rtol=1e-12)


def test_sample_weight_and_weight() -> None:
    x, t = _case(9, soft=True)
    sw = np.array([0.5, 2.0, 0.0])
    base = losskit.TverskyLoss(gamma=0.75)(x, t)
    np.testing.assert_allclose(losskit.TverskyLoss(gamma=0.75, weight=3.0)(x, t, sw), 3 * sw * base, rtol=1e-14)
    base = losskit.JaccardLoss()(x, t)
    np.testing.assert_allclose(losskit.JaccardLoss(weight=0.5)(x, t, sw), 0.5 * sw * base, rtol=1e-14)


# ---- optax -------------------------------------------------------------------------------------


def test_optax_dice_loss_alpha_beta_one_is_jaccard() -> None:
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    x, t = _case(10, shape=(3, 5, 4, 3))
    xl, tl = np.moveaxis(x, 1, -1), np.moveaxis(t, 1, -1)  # optax: channels last
    for smooth in (1.0, 0.0, 0.4):
        want = optax.losses.dice_loss(jnp.asarray(xl), jnp.asarray(tl), alpha=1.0, beta=1.0, smooth=smooth)
        got = losskit.JaccardLoss(axis=-1, smooth=smooth)(xl, tl)
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12)
        got = losskit.JaccardLoss(smooth=smooth)(x, t)  # channels first: the same
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 0.75, 2.0, 3.0])
def test_focal_tversky_against_optax_per_class_losses(gamma: float) -> None:
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    x, t = _case(11, shape=(3, 5, 4, 3))
    xl, tl = np.moveaxis(x, 1, -1), np.moveaxis(t, 1, -1)
    per_class = np.asarray(
        optax.losses.dice_loss(jnp.asarray(xl), jnp.asarray(tl), alpha=0.3, beta=0.7, smooth=0.5, reduction="none")
    )  # (N, C): 1 - TI_c
    want = np.mean(per_class**gamma, axis=-1)
    got = losskit.TverskyLoss(alpha=0.3, beta=0.7, smooth=0.5, axis=-1, gamma=gamma)(xl, tl)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    w = np.array([0.0, 1.5, 1.5, 1.0, 0.5])
    want = np.mean(w * per_class**gamma, axis=-1)
    got = losskit.TverskyLoss(alpha=0.3, beta=0.7, smooth=0.5, axis=-1, gamma=gamma, class_weight=w)(xl, tl)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ---- segmentation_models_pytorch, transcribed ----------------------------------------------------
# smp/losses/_functional.py (read from its source, not installed: it pulls in timm and torchvision)


def smp_soft_jaccard_score(output: Any, target: Any, smooth: float = 0.0, eps: float = 1e-7, dims: Any = None) -> Any:
    intersection = torch.sum(output * target, dim=dims)
    cardinality = torch.sum(output + target, dim=dims)
    union = cardinality - intersection
    return (intersection + smooth) / (union + smooth).clamp_min(eps)


def smp_soft_tversky_score(
    output: Any, target: Any, alpha: float, beta: float, smooth: float = 0.0, eps: float = 1e-7, dims: Any = None
) -> Any:  # noqa: E501
    intersection = torch.sum(output * target, dim=dims)  # TP
    fp = torch.sum(output * (1.0 - target), dim=dims)
    fn = torch.sum((1 - output) * target, dim=dims)
    return (intersection + smooth) / (intersection + alpha * fp + beta * fn + smooth).clamp_min(eps)


def smp_multilabel_loss(
    score_fn: Any, y_pred: Any, y_true: Any, log_loss: bool = False, gamma: float = 1.0, eps: float = 1e-7, **kw: Any
) -> Any:  # noqa: E501
    """smp's DiceLoss.forward in mode "multilabel" with from_logits=False (as its JaccardLoss):
    the scores over dims (0, 2), -log(clamp) or 1 - score, absent classes zeroed, then
    TverskyLoss.aggregate_loss, ``loss.mean() ** gamma`` (DiceLoss's is ``loss.mean()``)."""
    bs, c = y_true.size(0), y_pred.size(1)
    y_true = y_true.view(bs, c, -1)
    y_pred = y_pred.view(bs, c, -1)
    dims = (0, 2)
    scores = score_fn(y_pred, y_true.type_as(y_pred), eps=eps, dims=dims, **kw)
    loss = -torch.log(scores.clamp_min(eps)) if log_loss else 1.0 - scores
    mask = y_true.sum(dims) > 0
    loss = loss * mask.to(loss.dtype)
    return loss.mean() ** gamma


def _as_one_example(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) as (1, C, N * ...): smp's index sums over the batch as over the pixels."""
    return np.moveaxis(a, 1, 0).reshape(1, a.shape[1], -1)


def test_smp_jaccard() -> None:
    x, t = _case(12, shape=(3, 4, 6))
    p = _softmax(x)
    tp, tt = torch.from_numpy(p), torch.from_numpy(t)
    assert (t.sum(axis=(0, 2)) > 0).all()  # every class present: smp's mask drops none
    for smooth in (0.0, 1.0):
        for log_loss in (False, True):
            want = smp_multilabel_loss(smp_soft_jaccard_score, tp, tt, log_loss=log_loss, smooth=smooth).item()
            got = losskit.JaccardLoss(smooth=smooth, from_logits=False, log_loss=log_loss)(
                _as_one_example(p), _as_one_example(t)
            )
            np.testing.assert_allclose(got, [want], rtol=1e-12)


def test_smp_tversky_gamma_is_the_power_of_the_mean() -> None:
    x, t = _case(13, shape=(3, 4, 6))
    p = _softmax(x)
    tp, tt = torch.from_numpy(p), torch.from_numpy(t)
    pe, te = _as_one_example(p), _as_one_example(t)
    kw = {"alpha": 0.3, "beta": 0.7, "smooth": 1.0}
    # gamma = 1: smp's TverskyLoss and ours agree
    want = smp_multilabel_loss(smp_soft_tversky_score, tp, tt, **kw).item()
    np.testing.assert_allclose(losskit.TverskyLoss(from_logits=False, **kw)(pe, te), [want], rtol=1e-12)
    # gamma = 2 with one class: agree (the power of one class's loss)
    want = smp_multilabel_loss(smp_soft_tversky_score, tp[:, :1], tt[:, :1], gamma=2.0, **kw).item()
    got = losskit.TverskyLoss(from_logits=False, gamma=2.0, **kw)(pe[:, :1], te[:, :1])
    np.testing.assert_allclose(got, [want], rtol=1e-12)
    # gamma = 2 with four classes: smp raises the mean to the power, losskit each class's loss
    smp = smp_multilabel_loss(smp_soft_tversky_score, tp, tt, gamma=2.0, **kw).item()
    ours = losskit.TverskyLoss(from_logits=False, gamma=2.0, **kw)(pe, te)[0]
    mean = losskit.TverskyLoss(from_logits=False, **kw)(pe, te)[0]
    np.testing.assert_allclose(smp, mean**2, rtol=1e-12)
    assert ours > smp + 1e-4  # Jensen: the mean of squares exceeds the square of the mean


# ---- gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        losskit.JaccardLoss(),
        losskit.JaccardLoss(smooth=0.0, log_loss=True),
        losskit.TverskyLoss(alpha=0.3, beta=0.7, gamma=0.75),
        losskit.TverskyLoss(gamma=0.5, smooth=0.0, class_weight=[1.0, 2.0, 0.5, 1.0]),
        losskit.TverskyLoss(gamma=2.5),
        losskit.DiceLoss(log_loss=True),
    ],
    ids=repr,
)
def test_gradcheck(loss: Any) -> None:
    x, t = _case(14, shape=(2, 4, 5), soft=True)
    xt = torch.from_numpy(x).requires_grad_(True)
    tt = torch.from_numpy(t).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: loss(a, b), (xt, tt))


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_focal_gradient_against_the_chain_rule(backend: str) -> None:
    """d/dTI_c of mean_c (1 - TI_c)^gamma is -gamma (1 - TI_c)^(gamma - 1) / C: the loss's gradient is
    the Tversky loss's (gamma 1) with each class's part scaled by gamma (1 - TI_c)^(gamma - 1)."""
    x, t = _case(15, shape=(2, 3, 5), soft=True)
    gamma, c = 0.75, 3
    d = _per_class(losskit.TverskyLoss, c)(x, t)  # (N, C): 1 - TI_c

    def grad(loss: Any) -> np.ndarray:
        if backend == "torch":
            xt = torch.from_numpy(x).requires_grad_(True)
            (g,) = torch.autograd.grad(loss(xt, torch.from_numpy(t)).sum(), xt)
            return g.numpy()
        import jax

        return np.asarray(
            jax.grad(lambda a: loss(a, to_backend(t, "jax", "float64")).sum())(to_backend(x, "jax", "float64"))
        )

    want = sum(
        grad(losskit.TverskyLoss(class_weight=[float(j == k) for j in range(c)]))
        * gamma
        * d[:, k, None, None] ** (gamma - 1)
        for k in range(c)
    )
    np.testing.assert_allclose(grad(losskit.TverskyLoss(gamma=gamma)), want, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.75])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_focal_gradient_finite_at_and_near_perfect_overlap(gamma: float, dtype: str) -> None:
    """gamma < 1: d^gamma has an infinite derivative at d = 1 - TI = 0. At TI = 1 exactly the loss
    is 0 with a zero gradient; next to it the gradient is finite (d is at least eps / 2)."""
    mask = np.moveaxis(np.eye(3)[np.array([[0, 1, 2, 2], [1, 1, 0, 2]])], -1, 1)  # (2, 3, 4), every class present
    dt = getattr(torch, dtype)
    exact = torch.tensor(mask, dtype=dt, requires_grad=True)
    loss = losskit.TverskyLoss(gamma=gamma, from_logits=False, smooth=0.0)
    out = loss(exact, torch.tensor(mask, dtype=dt))
    assert out.dtype == dt and torch.equal(out, torch.zeros(2, dtype=dt))
    (g,) = torch.autograd.grad(out.sum(), exact)
    assert torch.equal(g, torch.zeros_like(g))
    # the unsafe form gives inf or NaN there: the test is not vacuous
    p = torch.tensor(mask, requires_grad=True)
    inter = (p * torch.tensor(mask)).sum(-1)
    ti = inter / (inter + 0.5 * (p.sum(-1) - inter) + 0.5 * (torch.tensor(mask).sum(-1) - inter))
    (bad,) = torch.autograd.grad(((1 - ti) ** gamma).mean(), p)
    assert not torch.isfinite(bad).all()
    # next to perfect: logits that round to probability 1 (or nearly) in the dtype
    for scale in (5.0, 12.0, 40.0):
        logits = torch.tensor(scale * (2 * mask - 1), dtype=dt, requires_grad=True)
        out = losskit.TverskyLoss(gamma=gamma)(logits, torch.tensor(mask, dtype=dt))
        (g,) = torch.autograd.grad(out.float().sum(), logits)
        assert torch.isfinite(out).all() and torch.isfinite(g).all(), (scale, out, g)


def test_gradient_far_from_and_near_perfect_overlap_jax() -> None:
    jax = pytest.importorskip("jax")
    mask = np.moveaxis(np.eye(3)[np.array([[0, 1, 2, 2], [1, 1, 0, 2]])], -1, 1)
    loss = losskit.TverskyLoss(gamma=0.5, from_logits=False, smooth=0.0)
    t = to_backend(mask, "jax", "float32")
    g = jax.grad(lambda p: loss(p, t).sum())(to_backend(mask, "jax", "float32"))
    assert np.array_equal(np.asarray(g), np.zeros(mask.shape, np.float32))


# ---- dtypes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "dtype"),
    [(b, d) for b in VALUE_BACKENDS for d in ("float16", "bfloat16", "float32") if b != "numpy" or d != "bfloat16"],
)
@pytest.mark.parametrize(
    "loss", [losskit.JaccardLoss(), losskit.TverskyLoss(gamma=0.75), losskit.DiceLoss(log_loss=True)], ids=repr
)
def test_dtype_follows_input(backend: str, dtype: str, loss: Any) -> None:
    x, t = _case(16, soft=True)
    out = loss(to_backend(x, backend, dtype), to_backend(t, backend, dtype))
    assert str(out.dtype).endswith(dtype)
    want = loss(x, t)
    tol = {"float16": 1e-2, "bfloat16": 3e-2, "float32": 1e-5}[dtype]
    np.testing.assert_allclose(to_numpy(out).astype(float), want, rtol=tol, atol=tol)


# ---- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: losskit.TverskyLoss(gamma=0.0), ValueError, "gamma"),
        (lambda: losskit.TverskyLoss(gamma=-1.0), ValueError, "gamma"),
        (lambda: losskit.TverskyLoss(gamma=float("nan")), ValueError, "gamma"),
        (lambda: losskit.TverskyLoss(gamma=float("inf")), ValueError, "gamma"),
        (lambda: losskit.TverskyLoss(gamma=True), TypeError, "gamma"),
        (lambda: losskit.TverskyLoss(gamma="2"), TypeError, "gamma"),
        (lambda: losskit.TverskyLoss(log_loss=1), TypeError, "log_loss"),
        (lambda: losskit.TverskyLoss(gamma=2.0, log_loss=True), ValueError, "do not combine"),
        (lambda: losskit.DiceLoss(log_loss="yes"), TypeError, "log_loss"),
        (lambda: losskit.DiceLoss(gamma=2.0), TypeError, "gamma"),
        (lambda: losskit.JaccardLoss(smooth=-1.0), ValueError, "smooth"),
        (lambda: losskit.JaccardLoss(log_loss=None), TypeError, "log_loss"),
        (lambda: losskit.JaccardLoss(from_logits="no"), TypeError, "from_logits"),
        (lambda: losskit.JaccardLoss(axis=1.0), TypeError, "axis"),
        (lambda: losskit.JaccardLoss(alpha=0.5), TypeError, "alpha"),
        (lambda: losskit.JaccardLoss(class_weight="a"), ValueError, "class_weight"),
        (lambda: losskit.JaccardLoss(class_weight=["a"]), TypeError, "class_weight"),
    ],
)
def test_options_are_checked(make: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_functional_options_are_checked() -> None:
    x, t = _case(17)
    with pytest.raises(ValueError, match="gamma"):
        F.tversky_loss(x, t, gamma=0.0)
    with pytest.raises(ValueError, match="do not combine"):
        F.tversky_loss(x, t, gamma=0.5, log_loss=True)
    with pytest.raises(TypeError, match="log_loss"):
        F.jaccard_loss(x, t, log_loss=0)
    with pytest.raises(ValueError, match="class_weight"):
        F.jaccard_loss(x, t, class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="label shape"):
        F.jaccard_loss(x, t[:, :3])


def test_registered_and_exported() -> None:
    assert "JaccardLoss" in losskit.list_losses("segmentation") and "JaccardLoss" in losskit.__all__
    assert losskit.get_loss("JaccardLoss", smooth=0.5)._smooth == 0.5
    assert "jaccard_loss" in F.__all__
    assert "gamma=0.75" in repr(losskit.TverskyLoss(gamma=0.75))


def test_empty_masks_with_smooth_zero_agree() -> None:
    """Two empty masks (index 0/0, taken as 1): loss 0 with gamma < 1 and log_loss, no NaN."""
    p = np.zeros((1, 2, 3))
    p[0, 0] = 1.0
    t = p.copy()  # class 1 empty in both
    for loss in (
        losskit.TverskyLoss(gamma=0.5, smooth=0.0, from_logits=False),
        losskit.JaccardLoss(smooth=0.0, from_logits=False, log_loss=True),
    ):
        np.testing.assert_array_equal(loss(p, t), [0.0])


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_a_class_weight_of_zero_leaves_an_infinite_log_loss_out(backend: str) -> None:
    """A class of weight 0 whose index is 0 (smooth 0, no overlap: -log 0 = inf) is left out, as
    documented: the loss is the other classes' (over C), with a finite gradient; 0 * inf made both
    NaN."""
    p = np.array([[[1.0, 1.0], [0.0, 0.0]], [[0.8, 0.6], [0.2, 0.4]]])  # (2 examples, 2 classes, 2 pixels)
    t = np.array([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])  # class 1 of example 0: index 0
    loss = losskit.DiceLoss(from_logits=False, smooth=0.0, log_loss=True, class_weight=[2.0, 0.0])
    dice0 = 2 * np.sum(p[:, 0] * t[:, 0], axis=1) / (np.sum(p[:, 0], axis=1) + np.sum(t[:, 0], axis=1))
    want = 2.0 * -np.log(dice0) / 2  # the weighted class-0 term, over C = 2
    x = to_backend(p, backend, "float64")
    got = loss(x, to_backend(t, backend))
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)
    (grad,) = autograd_grads(loss, [x, to_backend(t, backend)], (0,), backend)
    assert np.isfinite(grad).all() and (grad[:, 1] == 0).all()
    unweighted = losskit.DiceLoss(from_logits=False, smooth=0.0, log_loss=True)
    with np.errstate(divide="ignore"):
        assert np.isposinf(unweighted(p, t)[0])  # the class weighted 0 above is infinite
    if backend == "torch":  # a weight learnt through 0 keeps d loss / d w_c = penalty_c / C where finite
        w = torch.tensor([2.0, 0.0], dtype=torch.float64, requires_grad=True)
        finite = torch.tensor(p[1:]), torch.tensor(t[1:])  # example 1: both classes overlap
        losskit.DiceLoss(from_logits=False, smooth=0.0, log_loss=True, class_weight=w)(*finite).sum().backward()
        per_class = -torch.log(2 * (finite[0] * finite[1]).sum(2) / (finite[0].sum(2) + finite[1].sum(2)))[0]
        torch.testing.assert_close(w.grad, per_class / 2)


def test_log_loss_is_not_clamped() -> None:
    """-log of a tiny index is taken as it is (smp clamps the index at its eps, 1e-7); an index of
    0 (smooth 0, no overlap) is an infinite loss, as documented."""
    p = np.array([[[1e-6, 1 - 1e-6], [1 - 1e-6, 1e-6]]])  # (1, 2 classes, 2 pixels)
    t = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    # class 0: I = 1e-6, union = 1 + 1 - 1e-6; class 1 the same
    j = 1e-6 / (2 - 1e-6)
    got = losskit.JaccardLoss(smooth=0.0, from_logits=False, log_loss=True)(p, t)
    np.testing.assert_allclose(got, [-np.log(j)], rtol=1e-12)
    disjoint = np.array([[[0.0, 1.0], [1.0, 0.0]]])
    with np.errstate(divide="ignore"):
        assert np.isposinf(losskit.JaccardLoss(smooth=0.0, from_logits=False, log_loss=True)(disjoint, t)).all()


@pytest.mark.parametrize("backend", VALUE_BACKENDS)
@pytest.mark.parametrize(
    "loss",
    [
        losskit.DiceLoss(from_logits=False, smooth=0.0),
        losskit.TverskyLoss(gamma=0.5, from_logits=False, smooth=0.0),
        losskit.DiceLoss(log_loss=True, from_logits=False, smooth=0.0),
        losskit.JaccardLoss(from_logits=False, class_weight=[1.0, 2.0]),
    ],
    ids=repr,
)
def test_near_perfect_large_mask_keeps_its_digits_in_float32(backend: str, loss: Any) -> None:
    """A 256 x 256 mask, half foreground, predicted at 1 on it and 1e-6 off it: FP = 0.033 beside
    sums of 32768, where float32's step is 0.0039. FP formed as sum(p) - I kept that step (a 6%
    error, more in the loss); summed on its own it keeps float32's accuracy. The float64 result of
    the same loss is the reference (well conditioned here: its inputs are exact in float32)."""
    mask = np.zeros((1, 2, 256, 256))
    mask[0, 0, :128] = 1.0
    mask[0, 1] = 1.0 - mask[0, 0]
    prob = np.where(mask == 1.0, 1.0, 1e-6).astype(np.float32).astype(np.float64)
    want = to_numpy(loss(prob, mask))
    assert 1e-7 < want[0] < 1e-2  # a small loss, far from every clamp
    got = to_numpy(loss(to_backend(prob, backend, "float32"), to_backend(mask, backend, "float32")))
    np.testing.assert_allclose(got, want, rtol=2e-4)
    if backend in AUTOGRAD_BACKENDS:
        args = [to_backend(prob, backend, "float32"), to_backend(mask, backend, "float32")]
        (g,) = autograd_grads(loss, args, (0,), backend)
        (g64,) = autograd_grads(
            loss, [to_backend(prob, backend, "float64"), to_backend(mask, backend, "float64")], (0,), backend
        )
        np.testing.assert_allclose(g, g64, rtol=2e-4, atol=1e-6 * np.abs(g64).max())
