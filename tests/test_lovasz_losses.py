"""LovaszSoftmaxLoss and LovaszHingeLoss (Berman, Rannen Triki & Blaschko, CVPR 2018).

The reference is a plain transcription of the paper's per-image algorithm (its Alg. 1 and
equations 9 and 12), written here with explicit Python loops over examples, classes and sorted
pixels: it shares no code with losskit. Values are compared on every backend; gradients of
PyTorch and JAX against central finite differences of that reference (valid where no two errors
tie, as in every random input here). Identities that need no reference: 1 - IoU at a hard
prediction (pixels counted), the hinge of one pixel, zero at a perfect prediction, ignored pixels
as cropped ones, pixel order. Then the error cases, checked to come before any work.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import AUTOGRAD_BACKENDS, BACKENDS, dtypes_for, to_backend, to_numpy
from losskit.functional import segmentation as seg

rng = np.random.default_rng(2018)


# --------------------------------------------------------------------------------------------
# the reference: the paper's algorithm, one image at a time, with loops


def ref_jaccard_steps(gt_sorted: list[bool]) -> list[float]:
    """Alg. 1: the Jaccard loss ``J(i) = 1 - |G \\ M_i| / |G u M_i|`` of mispredicting the first ``i``
    sorted pixels (``M_i``), and its steps ``J(i) - J(i - 1)``, ``J(0) = 0``."""
    total = sum(gt_sorted)
    steps, previous, missed_fg, missed_bg = [], 0.0, 0, 0
    for is_fg in gt_sorted:
        if is_fg:
            missed_fg += 1
        else:
            missed_bg += 1
        intersection = total - missed_fg  # foreground pixels still right
        union = total + missed_bg  # foreground, plus background predicted foreground
        jaccard = 1.0 - intersection / union
        steps.append(jaccard - previous)
        previous = jaccard
    return steps


def ref_lovasz(errors: list[float], gt: list[bool], clip: bool = False) -> float:
    """Equation 9: the Lovasz extension of the Jaccard loss at ``errors`` (sorted decreasing)."""
    order = sorted(range(len(errors)), key=lambda i: -errors[i])
    steps = ref_jaccard_steps([gt[i] for i in order])
    return sum((max(errors[i], 0.0) if clip else errors[i]) * s for i, s in zip(order, steps))


def ref_softmax_image(probs: np.ndarray, labels: np.ndarray, classes: str, ignore: int | None) -> float:
    """One image: probs (C, P), labels (P,). Ignored pixels are dropped before anything else."""
    keep = [i for i in range(labels.size) if ignore is None or labels[i] != ignore]
    losses = []
    for c in range(probs.shape[0]):
        fg = [bool(labels[i] == c) for i in keep]
        if classes == "present" and not any(fg):
            continue
        errors = [abs(float(f) - float(probs[c, i])) for f, i in zip(fg, keep)]
        losses.append(ref_lovasz(errors, fg))
    return sum(losses) / len(losses) if losses else 0.0


def ref_hinge_image(logits: np.ndarray, labels: np.ndarray, ignore: int | None) -> float:
    keep = [i for i in range(labels.size) if ignore is None or labels[i] != ignore]
    gt = [bool(labels[i] == 1) for i in keep]
    errors = [1.0 - float(logits[i]) * (2.0 * g - 1.0) for g, i in zip(gt, keep)]
    return ref_lovasz(errors, gt, clip=True)


def np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_softmax_loss(pred, label, sample_weight=None, *, classes="present", ignore_index=None,
                     from_logits=True, axis=1, weight=None, batch_axis=0):  # fmt: skip
    pred = np.asarray(pred, dtype=np.float64)
    probs = np_softmax(pred, axis) if from_logits else pred
    cls, b = axis % pred.ndim, batch_axis % pred.ndim
    probs = np.moveaxis(probs, (b, cls), (0, 1))
    label = np.moveaxis(np.asarray(label), b - (b > cls), 0)
    out = np.array(
        [ref_softmax_image(probs[n].reshape(probs.shape[1], -1), label[n].reshape(-1), classes, ignore_index)
         for n in range(probs.shape[0])]
    )  # fmt: skip
    if sample_weight is not None:
        out = out * np.asarray(sample_weight)
    return out if weight is None else out * weight


def ref_hinge_loss(pred, label, sample_weight=None, *, ignore_index=None, weight=None, batch_axis=0):
    pred = np.moveaxis(np.asarray(pred, dtype=np.float64), batch_axis, 0)
    label = np.moveaxis(np.asarray(label), batch_axis, 0)
    out = np.array([ref_hinge_image(pred[n].reshape(-1), label[n].reshape(-1), ignore_index) for n in range(len(pred))])
    if sample_weight is not None:
        out = out * np.asarray(sample_weight)
    return out if weight is None else out * weight


def test_reference_jaccard_steps_by_hand():
    """The reference itself, on the paper's quantities worked out by hand."""
    # sorted fg, bg, fg with 2 foreground pixels: J = 1/2, 2/3, 1
    np.testing.assert_allclose(ref_jaccard_steps([True, False, True]), [1 / 2, 1 / 6, 1 / 3])
    np.testing.assert_allclose(ref_jaccard_steps([False, False]), [1.0, 0.0])  # no foreground: J = 1 at once
    assert ref_lovasz([0.2, 0.7], [True, True]) == pytest.approx(0.7 / 2 + 0.2 / 2)


# --------------------------------------------------------------------------------------------
# values against the reference, on every backend


def _labels(shape, classes, absent=False, ignored=0):
    label = rng.integers(0, classes, size=shape)
    if absent:  # example 0 without the last class
        label[0] = rng.integers(0, classes - 1, size=shape[1:])
    if ignored:
        flat = label.reshape(-1)  # a view
        flat[rng.choice(flat.size, ignored, replace=False)] = -1
    return label


SOFTMAX_CONFIGS = [
    ({}, (3, 4, 3, 5), 1, 0),
    ({"classes": "all"}, (3, 4, 3, 5), 1, 0),
    ({"ignore_index": -1}, (3, 4, 6), 1, 5),
    ({"classes": "all", "ignore_index": -1, "weight": 0.5}, (3, 4, 6), 1, 5),
    ({"from_logits": False}, (2, 3, 7), 1, 0),
    ({"axis": -1}, (3, 5, 2, 4), -1, 0),
    ({"axis": 2, "batch_axis": 1}, (5, 3, 4), 2, 0),  # pixels first: (P, N, C)
    ({"batch_axis": 2}, (4, 3, 2, 5), 1, 0),  # batch after the classes
]


def _softmax_inputs(init, shape, axis, ignored):
    cls = axis % len(shape)
    b = init.get("batch_axis", 0) % len(shape)
    pred = 2 * rng.normal(size=shape)
    if not init.get("from_logits", True):
        pred = np_softmax(pred, cls)
    # drawn examples first, then moved to where pred's batch axis is once its class axis is dropped
    front = (shape[b], *(s for i, s in enumerate(shape) if i not in (b, cls)))
    label = np.moveaxis(_labels(front, shape[cls], absent=True, ignored=ignored), 0, b - (b > cls))
    return pred, label, rng.uniform(0.5, 2, size=shape[b])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("init", "shape", "axis", "ignored"), SOFTMAX_CONFIGS, ids=[str(c[0]) for c in SOFTMAX_CONFIGS]
)
def test_lovasz_softmax_matches_the_reference(init, shape, axis, ignored, backend):
    pred, label, sw = _softmax_inputs(init, shape, axis, ignored)
    for weights in ((), (sw,)):
        want = ref_softmax_loss(pred, label, *weights, **init)
        got = losskit.LovaszSoftmaxLoss(**init)(*(to_backend(a, backend, "float64") for a in (pred, label, *weights)))
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-14)
        fn = F.lovasz_softmax_loss(*(to_backend(a, backend, "float64") for a in (pred, label, *weights)), **init)
        np.testing.assert_array_equal(to_numpy(fn), to_numpy(got))


HINGE_CONFIGS = [
    ({}, (3, 4, 5), 0),
    ({"ignore_index": 255}, (3, 10), 6),
    ({"batch_axis": 1, "weight": 2.0}, (4, 3, 2), 0),
    ({}, (5,), 0),  # one pixel per example
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("init", "shape", "ignored"), HINGE_CONFIGS, ids=[str(c[0]) for c in HINGE_CONFIGS])
def test_lovasz_hinge_matches_the_reference(init, shape, ignored, backend):
    b = init.get("batch_axis", 0)
    pred = 2 * rng.normal(size=shape)
    label = rng.integers(0, 2, size=shape)
    if ignored:
        label.reshape(-1)[rng.choice(label.size, ignored, replace=False)] = 255
    sw = rng.uniform(0.5, 2, size=shape[b])
    for dtype in ("int64", "float64", "int32", "uint8"):
        want = ref_hinge_loss(pred, label, sw, **init)
        args = (pred, label.astype(dtype), sw)
        got = losskit.LovaszHingeLoss(**init)(*(to_backend(a, backend, "float64") for a in args))
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-14, err_msg=dtype)
    if not ignored:  # a bool mask is 0/1
        got = losskit.LovaszHingeLoss(**init)(to_backend(pred, backend), to_backend(label.astype(bool), backend))
        np.testing.assert_allclose(to_numpy(got), ref_hinge_loss(pred, label, **init), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ignore_index", [1, 0, 255])
def test_lovasz_hinge_ignored_pixels_change_nothing(ignore_index, backend):
    """The loss of an image is that of its pixels not ignored, whatever the ignored label: also
    when it is 1, the foreground's own label (ignored pixels must not count as foreground)."""
    pred = np.array([[0.3, -1.2, 2.0, 0.5, -0.7, 1.1]])
    label = np.array([[1, 0, 1, 0, 1, 0]])
    label[0, [1, 2]] = ignore_index
    kept = label[0] != ignore_index
    loss = losskit.LovaszHingeLoss(ignore_index=ignore_index)
    got = to_numpy(loss(to_backend(pred, backend), to_backend(label, backend)))
    want = to_numpy(loss(to_backend(pred[:, kept], backend), to_backend(label[:, kept], backend)))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got, ref_hinge_loss(pred[:, kept], label[:, kept]), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_and_half_inputs_compute_in_float32_and_return_their_dtype(backend):
    pred, label = rng.normal(size=(2, 3, 4, 4)), _labels((2, 4, 4), 3)
    want = ref_softmax_loss(pred, label)
    for dtype, tol in (("float32", 1e-6), ("float16", 2e-3)):
        if dtype not in dtypes_for(backend):  # array_api_strict has no float16
            continue
        x = to_backend(pred, backend, dtype)
        got = losskit.LovaszSoftmaxLoss()(x, to_backend(label, backend))
        assert got.dtype == x.dtype
        # the reference on the values the backend sees (rounded to the dtype)
        np.testing.assert_allclose(to_numpy(got), ref_softmax_loss(to_numpy(x), label), rtol=tol, atol=tol)
        np.testing.assert_allclose(to_numpy(got), want, rtol=10 * tol, atol=10 * tol)


# --------------------------------------------------------------------------------------------
# gradients: autograd against finite differences of the reference


def _finite_differences(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up).sum() - f(down).sum()) / (2 * eps)
    return grad


def _autograd(backend, fn, pred, *rest):
    if backend == "torch":
        import torch

        x = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
        fn(x, *(to_backend(a, "torch") for a in rest)).sum().backward()
        return x.grad.numpy()
    import jax

    x = to_backend(pred, "jax", "float64")
    return np.asarray(jax.grad(lambda p: fn(p, *(to_backend(a, "jax") for a in rest)).sum())(x))


GRAD_CONFIGS = [
    {},
    {"classes": "all"},
    {"ignore_index": -1},
    {"from_logits": False},
    {"classes": "all", "from_logits": False, "ignore_index": -1},
]


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("init", GRAD_CONFIGS, ids=[str(c) for c in GRAD_CONFIGS])
def test_lovasz_softmax_gradient_matches_finite_differences_of_the_reference(init, backend):
    shape = (2, 3, 2, 4)
    pred, label, sw = _softmax_inputs(init, shape, 1, ignored=3 if "ignore_index" in init else 0)
    want = _finite_differences(lambda p: ref_softmax_loss(p, label, sw, **init), pred)
    got = _autograd(backend, lambda p, y, w: losskit.LovaszSoftmaxLoss(**init)(p, y, w), pred, label, sw)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    if "ignore_index" in init:  # an ignored pixel gets no gradient
        ignored = np.broadcast_to(np.expand_dims(label == -1, 1), shape)
        assert np.all(got[ignored] == 0)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("init", [{}, {"ignore_index": 255}], ids=["plain", "ignore"])
def test_lovasz_hinge_gradient_matches_finite_differences_of_the_reference(init, backend):
    pred, label = 2 * rng.normal(size=(3, 2, 5)), rng.integers(0, 2, size=(3, 2, 5))
    if init:
        label[0, 1, :3] = 255
    want = _finite_differences(lambda p: ref_hinge_loss(p, label, **init), pred)
    got = _autograd(backend, lambda p, y: losskit.LovaszHingeLoss(**init)(p, y), pred, label)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    assert np.any(got != 0)


# --------------------------------------------------------------------------------------------
# identities


def _iou_loss_by_counting(predicted: np.ndarray, label: np.ndarray, n_classes: int, classes: str) -> float:
    """1 - IoU of a hard prediction, averaged over the classes in the label (or all, an empty
    prediction of an empty class agreeing: IoU 1)."""
    losses = []
    for c in range(n_classes):
        inter = np.count_nonzero((predicted == c) & (label == c))
        union = np.count_nonzero((predicted == c) | (label == c))
        if classes == "present" and not np.any(label == c):
            continue
        losses.append(1.0 - (inter / union if union else 1.0))
    return float(np.mean(losses))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("classes", ["present", "all"])
def test_at_a_hard_prediction_lovasz_softmax_is_one_minus_the_mean_iou(classes, backend):
    n, c, p = 6, 4, 9
    label = rng.integers(0, c - 1, size=(n, p))  # class 3 is in no label
    predicted = rng.integers(0, c, size=(n, p))
    predicted[0] = label[0]  # a perfect example: 0
    predicted[1] = rng.integers(0, c - 1, size=p)  # an example that never predicts class 3
    onehot = np.moveaxis(np.eye(c)[predicted], -1, 1)  # (N, C, P)
    want = [_iou_loss_by_counting(predicted[i], label[i], c, classes) for i in range(n)]
    assert want[0] == 0
    got = losskit.LovaszSoftmaxLoss(classes=classes, from_logits=False)(
        to_backend(onehot, backend, "float64"), to_backend(label, backend)
    )
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lovasz_hinge_of_one_pixel_is_the_hinge(backend):
    x = np.linspace(-3, 3, 13) + 0.05  # no x s exactly 1
    for y in (0, 1):
        s = 2 * y - 1
        got = losskit.LovaszHingeLoss()(to_backend(x, backend), to_backend(np.full(x.shape, y), backend))
        np.testing.assert_allclose(to_numpy(got), np.maximum(0, 1 - x * s), rtol=1e-14, atol=0)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_a_perfect_prediction_gives_zero_with_a_zero_gradient(backend):
    label = rng.integers(0, 3, size=(2, 3, 4))
    onehot = np.moveaxis(np.eye(3)[label], -1, 1)
    got = _autograd(backend, lambda p, y: losskit.LovaszSoftmaxLoss(from_logits=False)(p, y), onehot, label)
    np.testing.assert_array_equal(got, 0)  # |0| has derivative 0, as Berman's torch abs
    assert to_numpy(losskit.LovaszSoftmaxLoss(from_logits=False)(onehot, label)).tolist() == [0.0, 0.0]
    mask = rng.integers(0, 2, size=(2, 3, 4))
    logits = (2 * mask - 1) * rng.uniform(1.0, 3.0, size=mask.shape)  # x s >= 1 everywhere
    np.testing.assert_array_equal(losskit.LovaszHingeLoss()(logits, mask), [0.0, 0.0])
    got = _autograd(backend, lambda p, y: losskit.LovaszHingeLoss()(p, y), logits + 0.01 * (2 * mask - 1), mask)
    np.testing.assert_array_equal(got, 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ignored_pixels_are_cropped_pixels(backend):
    pred, label = rng.normal(size=(2, 3, 10)), rng.integers(0, 3, size=(2, 10))
    label[:, 7:] = 99
    for init in ({}, {"classes": "all"}):
        loss = losskit.LovaszSoftmaxLoss(ignore_index=99, **init)
        got = loss(to_backend(pred, backend), to_backend(label, backend))
        want = losskit.LovaszSoftmaxLoss(**init)(to_backend(pred[..., :7], backend), to_backend(label[:, :7], backend))
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-13)
    mask = rng.integers(0, 2, size=(2, 10))
    mask[:, 7:] = 99
    got = losskit.LovaszHingeLoss(ignore_index=99)(to_backend(pred[:, 0], backend), to_backend(mask, backend))
    want = losskit.LovaszHingeLoss()(to_backend(pred[:, 0, :7], backend), to_backend(mask[:, :7], backend))
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_order_of_pixels_does_not_matter(backend):
    pred, label = rng.normal(size=(2, 3, 4, 5)), rng.integers(0, 3, size=(2, 4, 5))
    perm = rng.permutation(20)
    shuffled = pred.reshape(2, 3, 20)[..., perm], label.reshape(2, 20)[:, perm]
    loss = losskit.LovaszSoftmaxLoss()
    np.testing.assert_allclose(
        to_numpy(loss(*(to_backend(a, backend) for a in shuffled))),
        to_numpy(loss(to_backend(pred, backend), to_backend(label, backend))),
        rtol=1e-13,
    )


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_an_example_with_every_pixel_ignored_gives_zero_with_a_zero_gradient(backend):
    pred, label = rng.normal(size=(2, 3, 4)), rng.integers(0, 3, size=(2, 4))
    label[1] = -1
    for init in ({}, {"classes": "all"}):
        fn = losskit.LovaszSoftmaxLoss(ignore_index=-1, **init)
        assert to_numpy(fn(pred, label))[1] == 0
        grad = _autograd(backend, lambda p, y, fn=fn: fn(p, y), pred, label)
        assert np.all(grad[1] == 0) and np.any(grad[0] != 0)
    hinge = losskit.LovaszHingeLoss(ignore_index=-1)
    mask = np.where(label == -1, -1, label % 2)
    assert to_numpy(hinge(pred[:, 0], mask))[1] == 0
    grad = _autograd(backend, lambda p, y: hinge(p, y), pred[:, 0], mask)
    assert np.all(grad[1] == 0)


def test_an_absent_class_with_all_classes_scores_its_largest_probability():
    probs = np_softmax(rng.normal(size=(1, 3, 8)), 1)
    label = np.zeros((1, 8), dtype=int)
    label[0, 4:] = 1  # class 2 absent
    present = losskit.LovaszSoftmaxLoss(from_logits=False)(probs, label)[0]
    every = losskit.LovaszSoftmaxLoss(classes="all", from_logits=False)(probs, label)[0]
    assert every == pytest.approx((2 * present + probs[0, 2].max()) / 3, rel=1e-13)


def test_a_mask_without_foreground_scores_the_largest_hinge_error():
    x = rng.normal(size=(2, 6))
    np.testing.assert_allclose(losskit.LovaszHingeLoss()(x, np.zeros((2, 6))), np.maximum(0, 1 + x.max(axis=1)))
    np.testing.assert_array_equal(losskit.LovaszHingeLoss()(np.full((1, 3), -1.5), np.zeros((1, 3))), [0.0])


def test_no_pixels_at_all():
    assert losskit.LovaszSoftmaxLoss()(np.zeros((2, 3, 0)), np.zeros((2, 0), dtype=int)).tolist() == [0.0, 0.0]
    assert losskit.LovaszSoftmaxLoss(classes="all")(np.zeros((2, 3, 0)), np.zeros((2, 0), dtype=int)).tolist() == [
        0.0,
        0.0,
    ]
    assert losskit.LovaszHingeLoss()(np.zeros((2, 0)), np.zeros((2, 0))).tolist() == [0.0, 0.0]
    assert losskit.LovaszSoftmaxLoss()(np.zeros((0, 3, 4)), np.zeros((0, 4), dtype=int)).shape == (0,)


def test_the_lovasz_coefficients_keep_their_precision_in_float32():
    """The closed form of seg.lovasz_gradient against the reference's J(i) - J(i - 1) in float64,
    on a one-megapixel mask: each coefficient to float32 precision. Subtracting float32 Jaccard
    values (the naive form) is off by percents there."""
    gt = np.random.default_rng(3).random(2**20) < 0.3  # its own: not dependent on which tests ran before
    ints = gt.astype(np.int64)
    want = ref_jaccard_steps_vectorised(ints)
    got = seg.lovasz_gradient(np, ints, np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)
    naive = np.diff(_jaccard(ints, np.float32), prepend=np.float32(0))
    # what the closed form avoids (relative to the nonzero steps: after the last foreground pixel both are 0)
    nonzero = want > 0
    assert np.max(np.abs(naive - want)[nonzero] / want[nonzero]) > 1e-2


def _jaccard(gt: np.ndarray, dtype) -> np.ndarray:
    total = gt.sum()
    return 1 - (total - np.cumsum(gt)).astype(dtype) / (total + np.cumsum(1 - gt)).astype(dtype)


def ref_jaccard_steps_vectorised(gt: np.ndarray) -> np.ndarray:
    """The reference's steps for a million pixels (the loop is too slow there), in long double: in
    float64 the difference of two Jaccard values near 1 is itself off by 1e-16, 2e-6 of the last
    steps (4e-11). Checked against the loop on a small mask below."""
    return np.diff(_jaccard(gt, np.longdouble), prepend=0.0)


def test_the_vectorised_reference_is_the_loop():
    gt = rng.random(50) < 0.4
    np.testing.assert_allclose(
        ref_jaccard_steps_vectorised(gt.astype(np.int64)), ref_jaccard_steps(list(gt)), rtol=1e-12
    )


def test_batch_is_one_example_per_image():
    pred, label = rng.normal(size=(3, 3, 6)), rng.integers(0, 3, size=(3, 6))
    batch = losskit.LovaszSoftmaxLoss()(pred, label)
    each = [losskit.LovaszSoftmaxLoss()(pred[i : i + 1], label[i : i + 1])[0] for i in range(3)]
    np.testing.assert_allclose(batch, each, rtol=1e-15)


def test_registry_and_curve():
    assert (
        losskit.loss_info("LovaszSoftmaxLoss").family == losskit.loss_info("LovaszHingeLoss").family == "segmentation"
    )
    assert losskit.loss_info("lovaszhingeloss").curve == "binary"  # one pixel per example: the hinge
    assert losskit.loss_info("LovaszSoftmaxLoss").curve is None
    assert repr(losskit.LovaszSoftmaxLoss(classes="all", ignore_index=255)) == (
        "LovaszSoftmaxLoss(batch_axis=0, w=None, classes='all', ignore_index=255, from_logits=True, axis=1)"
    )


# --------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: losskit.LovaszSoftmaxLoss(classes="some"),
            ValueError,
            "classes must be 'present' or 'all', got 'some'",
        ),
        (
            lambda: losskit.LovaszSoftmaxLoss(classes=[0, 2]),
            TypeError,
            r"classes must be 'present' or 'all', got \[0, 2\]",
        ),
        (
            lambda: losskit.LovaszSoftmaxLoss(ignore_index=1.5),
            TypeError,
            "ignore_index must be an int or None, got 1.5",
        ),
        (lambda: losskit.LovaszSoftmaxLoss(ignore_index=True), TypeError, "ignore_index must be an int"),
        (lambda: losskit.LovaszSoftmaxLoss(from_logits="no"), TypeError, "from_logits must be True or False"),
        (lambda: losskit.LovaszSoftmaxLoss(axis=1.0), TypeError, "axis must be an int, got 1.0"),
        (lambda: losskit.LovaszSoftmaxLoss(weight="2"), TypeError, "weight must be a number"),
        (lambda: losskit.LovaszSoftmaxLoss(weight=float("nan")), ValueError, "weight must be finite"),
        (lambda: losskit.LovaszHingeLoss(ignore_index="255"), TypeError, "ignore_index must be an int"),
        (lambda: losskit.LovaszHingeLoss(batch_axis=0.5), TypeError, "batch_axis must be an int"),
        (lambda: losskit.LovaszHingeLoss(margin=1), TypeError, "unexpected keyword arguments: margin"),
    ],
)
def test_bad_options(make, error, match):
    with pytest.raises(error, match=match):
        make()


P3 = np.zeros((2, 3, 4))
L3 = np.zeros((2, 4), dtype=int)

SOFTMAX_ERRORS = [
    ((np.zeros(4), np.zeros(4, dtype=int)), {}, ValueError, "a batch and a class axis, (N, C, ...); got shape (4,)"),
    ((np.zeros((2, 1, 4)), L3), {}, ValueError, "pred has 1 class along axis 1; the Lovasz-Softmax loss needs"),
    ((P3, L3), {"axis": 0}, ValueError, "batch_axis=0 is the class axis (0) of pred's 3 axes: they must differ"),
    ((P3, L3), {"axis": 3}, ValueError, "axis=3 is out of range for pred with 3 axes"),
    ((P3, L3), {"batch_axis": 3}, ValueError, "batch_axis=3 is out of range"),
    ((P3, np.zeros((2, 5), dtype=int)), {}, ValueError, "label shape (2, 5) does not match pred shape (2, 3, 4)"),
    ((P3, np.zeros((4, 2), dtype=int)), {}, ValueError, "label shape (4, 2) does not match pred shape (2, 3, 4)"),
    ((P3, np.zeros((2, 3, 4), dtype=int)), {}, ValueError, "sparse label shape (2, 3, 4) does not match"),
    ((P3, np.array([[0, 1, 3, 0], [0] * 4])), {}, ValueError, "indices in [0, 3], outside the valid range [0, 2]"),
    ((P3, np.array([[0, 1, -1, 0], [0, 0, 0, 0]])), {}, ValueError, "outside the valid range [0, 2]"),
    ((P3, np.array([[0, 1, -1, 7], [0] * 4])), {"ignore_index": -1}, ValueError, "in [0, 7], outside the valid range"),
    ((P3, np.full((2, 4), 0.5)), {}, ValueError, "label holds non-integer or non-finite values"),
    ((P3, np.zeros((2, 4), dtype=bool)), {}, TypeError, "must hold class indices (integers), got dtype bool"),
    ((np.zeros((2, 3, 4), dtype=int), L3), {}, TypeError, "pred must be a real floating-point array, got dtype int64"),
    ((P3, L3, np.ones(3)), {}, ValueError, "sample_weight shape (3,) does not broadcast to the loss shape (2,)"),
    ((P3, L3, np.ones((2, 1))), {}, ValueError, "sample_weight shape (2, 1) does not broadcast to the loss shape (2,)"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "init", "error", "match"), SOFTMAX_ERRORS, ids=[e[3][:40] for e in SOFTMAX_ERRORS])
def test_lovasz_softmax_bad_inputs_raise_before_any_work(args, init, error, match, monkeypatch):
    calls = []
    for name in ("softmax", "abs_", "lovasz_extension"):
        real = getattr(seg, name)
        monkeypatch.setattr(seg, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    before = [a.copy() for a in args]
    with pytest.raises(error, match=re.escape(match)):
        F.lovasz_softmax_loss(*args, **init)
    with pytest.raises(error, match=re.escape(match)):
        losskit.LovaszSoftmaxLoss(**init)(*args)
    assert calls == []
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


H2 = np.zeros((2, 4))

HINGE_ERRORS = [
    ((np.array(1.0), np.array(1.0)), {}, ValueError, "pred must have a batch axis, (N, ...); got a 0-d array"),
    ((H2, np.zeros((2, 5))), {}, ValueError, "label shape (2, 5) does not match pred shape (2, 4)"),
    ((H2, np.zeros((4, 2))), {}, ValueError, "label shape (4, 2) does not match pred shape (2, 4)"),
    ((H2, np.zeros(8)), {}, ValueError, "label shape (8,) does not match pred shape (2, 4)"),
    ((H2, np.array([[0, 1, 2, 0], [0, 0, 0, 0]])), {}, ValueError, "label holds binary labels (0 or 1) in [0, 2]"),
    ((H2, np.array([[0, 1, -1, 0], [0, 0, 0, 0]])), {}, ValueError, "outside the valid range [0, 1]"),
    ((H2, np.array([[0, 1, 255, 2], [0, 0, 0, 0]])), {"ignore_index": 255}, ValueError, "in [0, 2], outside"),
    ((H2, np.full((2, 4), 0.5)), {}, ValueError, "label holds non-integer or non-finite values"),
    ((H2, np.zeros((2, 4), dtype=complex)), {}, TypeError, "0 or 1 (bool, integer or float), got dtype complex128"),
    ((H2.astype(int), H2), {}, TypeError, "pred must be a real floating-point array, got dtype int64"),
    ((H2, H2), {"batch_axis": 2}, ValueError, "batch_axis=2 is out of range for an input with 2 axes"),
    ((H2, H2, np.ones(4)), {}, ValueError, "sample_weight shape (4,) does not broadcast to the loss shape (2,)"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "init", "error", "match"), HINGE_ERRORS, ids=[e[3][:40] for e in HINGE_ERRORS])
def test_lovasz_hinge_bad_inputs_raise_before_any_work(args, init, error, match, monkeypatch):
    calls = []
    for name in ("relu", "lovasz_extension"):
        real = getattr(seg, name)
        monkeypatch.setattr(seg, name, lambda *a, _real=real, **k: calls.append(1) or _real(*a, **k))
    before = [np.array(a, copy=True) for a in args]
    with pytest.raises(error, match=re.escape(match)):
        F.lovasz_hinge_loss(*args, **init)
    with pytest.raises(error, match=re.escape(match)):
        losskit.LovaszHingeLoss(**init)(*args)
    assert calls == []
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


def test_mixed_libraries_are_refused():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="same array library"):
        losskit.LovaszSoftmaxLoss()(torch.zeros(2, 3, 4), L3)
    with pytest.raises(TypeError, match="same array library"):
        losskit.LovaszHingeLoss()(H2, torch.zeros(2, 4))


def test_a_label_with_a_class_axis_of_size_one():
    pred, label = rng.normal(size=(2, 3, 4, 5)), rng.integers(0, 3, size=(2, 4, 5))
    np.testing.assert_array_equal(
        losskit.LovaszSoftmaxLoss()(pred, label[:, None]), losskit.LovaszSoftmaxLoss()(pred, label)
    )


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_at_extreme_logits(backend, dtype):
    pred = 1e4 * rng.normal(size=(2, 3, 6))
    label = rng.integers(0, 3, size=(2, 6))
    label[0, 0] = -1
    for fn, x, y in (
        (losskit.LovaszSoftmaxLoss(ignore_index=-1), pred, label),
        (losskit.LovaszSoftmaxLoss(classes="all"), pred, np.abs(label)),
        (losskit.LovaszHingeLoss(), 1e30 * pred[:, 0], np.abs(label) % 2),
    ):
        if backend == "torch":
            import torch

            xt = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
            out = fn(xt, torch.tensor(y))
            out.sum().backward()
            value, grad = out.detach().numpy(), xt.grad.numpy()
        else:
            import jax
            import jax.numpy as jnp

            xj, yj = jnp.asarray(x, dtype=dtype), jnp.asarray(y)
            value, grad = np.asarray(fn(xj, yj)), np.asarray(jax.grad(lambda p, fn=fn, yj=yj: fn(p, yj).sum())(xj))
        assert np.isfinite(value).all() and np.isfinite(grad).all(), (fn, dtype)
