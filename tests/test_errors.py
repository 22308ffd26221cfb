"""Bad input gets a clear error, raised before any work, and nothing is modified."""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from typing import Any

import numpy as np
import pytest

import losskit
import losskit.functional as F
from backends import BACKENDS, to_backend, to_numpy
from losskit import _fast


def test_mismatched_sizes_name_both_shapes():
    with pytest.raises(ValueError, match=re.escape("label shape (4,) does not match pred shape (4, 3)")):
        losskit.L2Loss()(np.zeros((4, 3)), np.zeros(4))


def test_no_silent_n1_by_n_broadcast():
    # (N, 1) against (N,) has the same size: reshaped, never broadcast to (N, N)
    out = losskit.L1Loss()(np.zeros((4, 1)), np.arange(4.0))
    np.testing.assert_allclose(out, np.arange(4.0))
    with pytest.raises(
        ValueError, match=re.escape("sample_weight shape (4,) does not broadcast to the loss shape (4, 3)")
    ):
        losskit.L2Loss()(np.zeros((4, 3)), np.zeros((4, 3)), np.ones(4))
    with pytest.raises(ValueError, match=re.escape("use shape (4, 1)")):
        losskit.L2Loss()(np.zeros((4, 3)), np.zeros((4, 3)), np.ones(4))
    # Gluon aligns a (C,) weight with the last axis; here it is refused with the shape that does so
    with pytest.raises(ValueError, match=re.escape("entry of the last axis use shape (1, 3)")):
        losskit.L2Loss()(np.zeros((4, 3)), np.zeros((4, 3)), np.ones(3))
    with pytest.raises(ValueError, match="sample_weight shape"):
        losskit.SoftmaxCELoss()(np.zeros((4, 3)), np.zeros(4, dtype=int), np.ones((4, 3)))


@pytest.mark.parametrize(
    "call, hint",
    [
        # a per-example loss (CTC, the triplet losses) takes (N,); Gluon code often has (N, 1)
        (
            lambda: losskit.TripletLoss()(*[np.zeros((3, 2))] * 3, np.ones((3, 1))),
            "one weight per example use shape (3,)",
        ),
        (
            lambda: losskit.CTCLoss()(np.zeros((2, 5, 4)), np.ones((2, 2)), None, None, np.ones((2, 1))),
            "one weight per example use shape (2,)",
        ),
        # batch_axis=1: the batch is the loss's axis 1
        (
            lambda: losskit.L2Loss(batch_axis=1)(np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), np.ones(4)),
            "one weight per entry of axis 1 use shape (1, 4, 1)",
        ),
    ],
)
def test_a_refused_sample_weight_is_told_the_shape_it_likely_meant(call, hint):
    with pytest.raises(ValueError, match=re.escape(hint) + "$"):
        call()


def test_a_sample_weight_matching_no_axis_gets_no_hint():
    with pytest.raises(ValueError, match=re.escape("(it needs 2 axes, each equal to the loss's or 1)") + "$"):
        losskit.L2Loss()(np.zeros((4, 3)), np.zeros((4, 3)), np.ones(5))
    with pytest.raises(ValueError, match=re.escape("(it needs 2 axes, each equal to the loss's or 1)") + "$"):
        losskit.L2Loss()(np.zeros((4, 3)), np.zeros((4, 3)), np.ones((4, 3, 1)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "make",
    [
        lambda: losskit.L2Loss(),
        lambda: losskit.SigmoidBCELoss(),
        lambda: losskit.KLDivLoss(from_logits=False),
        lambda: losskit.SoftmaxCELoss(sparse_label=False),
    ],
    ids=["L2Loss", "SigmoidBCELoss", "KLDivLoss", "SoftmaxCELoss-dense"],
)
def test_a_transposed_label_is_refused_not_reshaped(make, backend):
    """A label of pred's element count and axes of size above 1 in another order, (T, N) or
    (T, N, 1) against (N, T), is a transposed label: a ValueError naming both shapes, where Gluon's
    reshape scrambled it into wrong values. What keeps the elements' order is still Gluon's reshape:
    (N * T,) for (N, T), (N,) for (N, 1), axes of size 1 moved (a channels-last one-channel mask)."""
    rng = np.random.default_rng(3)
    pred, label = rng.uniform(0.1, 0.9, size=(2, 3)), rng.uniform(0.1, 0.9, size=(2, 3))
    loss = make()
    with pytest.raises(ValueError, match=re.escape("label shape (3, 2) does not match pred shape (2, 3): as many")):
        loss(to_backend(pred, backend), to_backend(label.T.copy(), backend))
    want = to_numpy(loss(to_backend(pred, backend), to_backend(label, backend)))
    got = to_numpy(loss(to_backend(pred, backend), to_backend(label.reshape(-1), backend)))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    column = to_numpy(losskit.L1Loss()(to_backend(pred[:, :1], backend), to_backend(label[:, 0], backend)))
    np.testing.assert_allclose(column, np.abs(pred[:, 0] - label[:, 0]), rtol=1e-12)
    with pytest.raises(ValueError, match=re.escape("label shape (3, 2, 1) does not match pred shape (2, 3)")):
        loss(to_backend(pred, backend), to_backend(label.T[:, :, None].copy(), backend))
    # axes of size 1 moved keep the elements' order: a one-channel mask channels-last, a row for a column
    image, mask = rng.normal(size=(2, 1, 3, 3)), rng.uniform(0.1, 0.9, size=(2, 3, 3, 1))
    bce = losskit.SigmoidBCELoss()
    got = to_numpy(bce(to_backend(image, backend), to_backend(mask, backend)))
    want = to_numpy(bce(to_backend(image, backend), to_backend(mask.reshape(2, 1, 3, 3), backend)))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    row = to_numpy(losskit.L1Loss()(to_backend(pred[:1, :].T.copy(), backend), to_backend(label[:1, :], backend)))
    np.testing.assert_allclose(row, np.abs(pred[0] - label[0]), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_class_index_out_of_range(backend):
    pred = to_backend(np.zeros((3, 4)), backend, "float32")
    for bad in ([0, 4, 1], [0, -1, 1]):
        with pytest.raises(ValueError, match=r"outside the valid range \[0, 3\]"):
            losskit.SoftmaxCELoss()(pred, to_backend(np.array(bad), backend))
    with pytest.raises(ValueError, match="non-integer"):
        losskit.SoftmaxCELoss()(pred, to_backend(np.array([0.5, 1.0, 2.0]), backend, "float32"))


def test_mixed_libraries_say_which_argument_is_odd():
    """The two types alone, in a fixed order, did not say which argument to convert (here an
    option given at construction, class_weight)."""
    torch = pytest.importorskip("torch")
    x, y = torch.zeros(2, 3), torch.tensor([0, 1])
    odd_option = "pred is torch.Tensor; sample_weight or an array option .* is numpy.ndarray$"
    with pytest.raises(TypeError, match="same array library .*: " + odd_option):
        losskit.SoftmaxCELoss(class_weight=np.ones(3))(x, y)
    with pytest.raises(TypeError, match="same array library .*: " + odd_option):
        losskit.QuantileLoss(quantile=np.float32(0.3))(x, x, np.ones((2, 1)))  # a NumPy scalar option: a number
    with pytest.raises(TypeError, match="same array library .*: pred is numpy.ndarray; label is torch.Tensor$"):
        losskit.L2Loss()(np.zeros(3), torch.zeros(3))


def test_tensors_on_two_devices_are_named_before_any_work():
    """torch's own error ("Tensor on device cpu is not on the expected device meta!") came from
    inside the computation and named no argument. meta stands for a second device here."""
    torch = pytest.importorskip("torch")
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    with pytest.raises(ValueError, match="^the tensors of one call must be on one device: pred on cpu; label on meta$"):
        losskit.SoftmaxCELoss()(x, y.to("meta"))
    with pytest.raises(
        ValueError, match="^the tensors of one call must be on one device: input1 on meta; input2 on cpu"
    ):
        losskit.CosineEmbeddingLoss()(x.to("meta"), x, torch.ones(4))
    with pytest.raises(
        ValueError, match=r"pred on cpu; label on cpu; sample_weight or an array option .* on meta: move"
    ):
        losskit.L2Loss()(x, x, torch.ones(4, 1, device="meta"))
    # a 0-d CPU tensor goes with tensors of any device, as in torch
    out = losskit.QuantileLoss(quantile=torch.tensor(0.3))(x.to("meta"), x.to("meta"))
    assert out.device.type == "meta" and out.shape == (4,)


def test_sparse_label_shape():
    with pytest.raises(ValueError, match=re.escape("sparse label shape (3, 4) does not match pred shape (3, 4)")):
        losskit.SoftmaxCELoss()(np.zeros((3, 4)), np.zeros((3, 4), dtype=int))


def test_mixed_libraries_raise_type_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="same array library"):
        losskit.L2Loss()(torch.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="same array library"):
        losskit.SoftmaxCELoss()(np.zeros((2, 3)), torch.zeros(2, dtype=torch.int64))


def test_non_arrays_and_integer_predictions_raise_type_error():
    with pytest.raises(TypeError):
        losskit.L2Loss()([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(TypeError, match="pred must be a real floating-point array"):
        losskit.L2Loss()(np.array([1, 2]), np.array([1, 2]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: losskit.LogisticLoss(label_format="onehot"),
        lambda: losskit.CTCLoss(layout="NCT"),
        lambda: losskit.CTCLoss(label_layout="TT"),
        lambda: losskit.HingeLoss(margin=float("nan")),  # any real margin, as Gluon (negative ones too)
        lambda: losskit.SquaredHingeLoss(margin=float("inf")),
        lambda: losskit.TripletLoss(margin=float("-inf")),
        lambda: losskit.HuberLoss(rho=0),
        lambda: losskit.SDMLLoss(smoothing_parameter=1.0),
        lambda: losskit.L1Loss(weight=float("nan")),
        lambda: losskit.SoftmaxCELoss(weight=float("-inf")),
    ],
)
def test_invalid_constructor_values(make):
    with pytest.raises(ValueError):
        make()


def test_option_errors_name_the_option():
    with pytest.raises(TypeError, match="smoothing_parameter must be a real number, got 'a'"):
        losskit.SDMLLoss(smoothing_parameter="a")
    with pytest.raises(ValueError, match=r"weight must be finite, got nan"):
        losskit.functional.l2_loss(np.zeros(2), np.zeros(2), weight=float("nan"))


def test_invalid_weight_and_unknown_kwargs():
    with pytest.raises(TypeError, match="weight must be a number"):
        losskit.L1Loss(weight="2")
    with pytest.raises(TypeError, match="unexpected keyword"):
        losskit.L1Loss(wieght=2.0)
    losskit.L1Loss(prefix="l1_")  # Gluon's block keyword is accepted for porting


@pytest.mark.parametrize(
    "make, hint",
    [
        (
            lambda: losskit.SigmoidBCELoss(pos_weight=np.ones(3)),
            r"pos_weight is an argument of the call: loss\(pred, label, sample_weight=None, pos_weight=None\)$",
        ),
        (lambda: losskit.HuberLoss(delta=2.0), r"delta=d is HuberLoss\(rho=d, weight=d\)$"),
        (lambda: losskit.HuberLoss(beta=2.0), r"SmoothL1Loss\(beta=b\) is HuberLoss\(rho=b\)$"),
        (
            lambda: losskit.L2Loss(reduction="sum"),
            r"reduction: the loss is one value per example.*\.mean\(\) or \.sum\(\)$",
        ),
        (lambda: losskit.SoftmaxCELoss(size_average=False), r"size_average is torch's deprecated form of reduction="),
        (lambda: losskit.L1Loss(wieght=2.0), r"its options: weight, batch_axis$"),  # a typo: no hint
    ],
)
def test_a_keyword_of_another_librarys_constructor_says_where_it_goes(make, hint):
    """torch's constructor forms, ported as written: the TypeError says the losskit form."""
    with pytest.raises(TypeError, match="unexpected keyword arguments: .*" + hint):
        make()


def test_batch_axis_out_of_range():
    with pytest.raises(ValueError, match="batch_axis=2 is out of range"):
        losskit.L1Loss(batch_axis=2)(np.zeros((2, 2)), np.zeros((2, 2)))


def test_ctc_errors():
    pred = np.zeros((2, 5, 4))
    with pytest.raises(ValueError, match="blank"):
        F.ctc_loss(pred, np.array([[3, -1], [0, 1]]))  # 3 is the blank
    with pytest.raises(ValueError, match="batch size"):
        F.ctc_loss(pred, np.array([[0, 1]]))
    with pytest.raises(ValueError, match=re.escape("pred_lengths must have shape (2,)")):
        F.ctc_loss(pred, np.array([[0, 1], [1, 2]]), np.array([5]))
    with pytest.raises(ValueError, match="pred_lengths"):
        F.ctc_loss(pred, np.array([[0, 1], [1, 2]]), np.array([5, 6]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctc_range_errors_name_the_array(backend):
    """CTC checks its three integer inputs together (one host copy); each error names its own."""
    pred = to_backend(np.zeros((2, 5, 4)), backend, "float32")
    label, frames, lengths = np.array([[0, 1], [1, -1]]), np.array([5, 4]), np.array([2, 1])

    def call(label=label, frames=frames, lengths=lengths, label_dtype=None):
        args = [to_backend(a, backend, label_dtype if i == 0 else None) for i, a in enumerate((label, frames, lengths))]
        return F.ctc_loss(pred, *args)

    call()  # valid
    # label_lengths given: only the labels within them are read, and each must be a class
    with pytest.raises(
        ValueError, match=r"label holds labels within label_lengths .* in \[0, 3\], outside the valid range \[0, 2\]"
    ):
        call(label=np.array([[0, 3], [1, -1]]))
    with pytest.raises(ValueError, match=r"label holds labels .* in \[-1, 3\], outside the valid range \[-1, 2\]"):
        F.ctc_loss(pred, to_backend(np.array([[0, 3], [1, -1]]), backend))  # padded with -1: no lengths
    with pytest.raises(ValueError, match=r"pred_lengths holds lengths in \[4, 6\], outside the valid range \[0, 5\]"):
        call(frames=np.array([6, 4]))
    with pytest.raises(ValueError, match=r"label_lengths holds lengths in \[-1, 2\], outside the valid range \[0, 2\]"):
        call(lengths=np.array([2, -1]))
    with pytest.raises(ValueError, match="label holds non-integer"):
        call(label=np.array([[0.0, 1.5], [1.0, -1.0]]), label_dtype="float32")
    # a length of 1.5 also reaches the -1 padding: the error is the length's, not the label's
    with pytest.raises(ValueError, match="label_lengths holds non-integer or non-finite values"):
        F.ctc_loss(pred, *[to_backend(a, backend) for a in (label, frames, np.array([2.0, 1.5]))])
    call(label=np.array([[0.0, 1.0], [1.0, -1.0]]), label_dtype="float32")  # whole floats are indices


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "torch"])  # torch lacks uint64 aminmax
def test_large_unsigned_labels_are_refused(backend):
    """A uint64 label above 2**63 is not wrapped round to a negative by a cast to the index dtype
    (nor then clamped by JAX's gather)."""
    big = 2**64 - 1
    pred = to_backend(np.zeros((3, 3)), backend, "float32")
    label = to_backend(np.array([0, big, 1], dtype=np.uint64), backend)
    with pytest.raises(ValueError, match=rf"in \[0, {big}\], outside the valid range \[0, 2\]"):
        losskit.SoftmaxCELoss()(pred, label)
    label = to_backend(np.array([[0], [big], [1]], dtype=np.uint64), backend)
    with pytest.raises(ValueError, match=rf"in \[0, {big}\]"):
        F.ctc_loss(to_backend(np.zeros((3, 4, 3)), backend, "float32"), label)


@pytest.mark.parametrize("backend", BACKENDS)
def test_number_options_of_any_real_type(backend):
    """NumPy scalars and Fractions as options give the result of the same Python float."""
    from fractions import Fraction

    pred = to_backend(np.random.default_rng(0).normal(size=(4, 5)), backend, "float32")
    label = to_backend(np.array([0, 1, 2, 3]), backend)
    want = to_numpy(F.softmax_cross_entropy(pred, label, label_smoothing=0.1, z_loss=0.001, reduction="mean"))
    for smoothing, z in ((np.float32(0.1), np.float64(0.001)), (Fraction(1, 10), Fraction(1, 1000))):
        got = F.softmax_cross_entropy(pred, label, label_smoothing=smoothing, z_loss=z, reduction="mean")
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-6)


def test_bool_weights_and_axes_are_type_errors():
    x = np.zeros((2, 3))
    with pytest.raises(TypeError, match="sample_weight must be an array or a number, got True"):
        losskit.L2Loss()(x, x, True)
    with pytest.raises(TypeError, match="pos_weight must be an array or a number, got True"):
        losskit.SigmoidBCELoss()(x, x, None, True)
    for axis in (True, 1.0):
        with pytest.raises(TypeError, match="axis must be an int"):
            F.softmax_cross_entropy(x, np.array([0, 1]), axis=axis)


def test_value_checks_switch():
    """Off, the range check is skipped (the backend's own error, here NumPy's, remains); the
    setting is restored after the block, also when the block raises; it takes only a bool."""
    pred, bad = np.zeros((2, 3)), np.array([0, 3])
    with losskit.value_checks(False):
        with pytest.raises(IndexError):
            losskit.SoftmaxCELoss()(pred, bad)
    with pytest.raises(ValueError, match="outside the valid range"):
        losskit.SoftmaxCELoss()(pred, bad)
    with pytest.raises(RuntimeError, match="inside"), losskit.value_checks(False):
        raise RuntimeError("inside")
    with pytest.raises(ValueError, match="outside the valid range"):
        losskit.SoftmaxCELoss()(pred, bad)
    with pytest.raises(TypeError, match="True or False"):
        losskit.set_value_checks(0)
    losskit.set_value_checks(False)
    try:
        F.ctc_loss(np.zeros((2, 5, 4)), np.array([[0, 1], [1, 2]]), np.array([5, 6]))  # 6 > 5 frames: unchecked
    finally:
        losskit.set_value_checks(True)
    with pytest.raises(ValueError, match="pred_lengths"):
        F.ctc_loss(np.zeros((2, 5, 4)), np.array([[0, 1], [1, 2]]), np.array([5, 6]))


_BAD_LABEL = (np.zeros((1, 2)), np.array([-1]))  # unchecked, NumPy reads class -1 as class 1


def _refused(call) -> bool:
    try:
        call()
    except ValueError:
        return True
    return False


#: (a block that turns a switch off, whether it is on here): the range checks and the fast paths
SWITCHES = [
    pytest.param(
        lambda: losskit.value_checks(False),
        lambda: _refused(lambda: losskit.SoftmaxCELoss()(*_BAD_LABEL)),
        id="value_checks",
    ),
    pytest.param(
        _fast.disabled, lambda: _fast.use_torch(pytest.importorskip("torch").zeros(1)), id="fast_paths_disabled"
    ),
]


@pytest.mark.parametrize(("block", "still_on"), SWITCHES)
def test_a_block_is_its_own_threads(block, still_on):
    """A ``with`` block holds in its own thread, as torch.no_grad: another thread keeps its
    setting while it is open, and two blocks that overlap in two threads (A enters, B enters,
    A leaves, B leaves) leave the setting on. Process-wide, B restored the off it had found
    inside A's block: the range checks (or the fast paths) stayed off for good."""
    import threading

    assert still_on()
    inside, done = threading.Event(), threading.Event()
    seen: list[bool] = []

    def hold() -> None:
        with block():
            seen.append(still_on())  # off inside its own block
            inside.set()
            done.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait()
    assert still_on()  # this thread, while the other's block is open
    done.set()
    holder.join()
    assert seen == [False]

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with block():
            a_in.set()
            b_in.wait()
        a_out.set()

    def second() -> None:
        a_in.wait()
        with block():
            b_in.set()
            a_out.wait()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert still_on()


@contextlib.contextmanager
def _a_block_open_in_another_thread(block):
    """While the ``with`` runs, another thread holds ``block()`` open."""
    import threading

    inside, done = threading.Event(), threading.Event()

    def hold() -> None:
        with block():
            inside.set()
            done.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait()
    try:
        yield
    finally:
        done.set()
        holder.join()


def _leave_a_block_closed_by_another_thread(block):
    """Open ``block()`` in a generator here and close the generator from another thread."""
    import threading

    def opened():
        with block():
            yield

    stale = opened()
    next(stale)
    closer = threading.Thread(target=stale.close)
    closer.start()
    closer.join()


@pytest.mark.parametrize(("block", "still_on"), SWITCHES)
def test_a_block_closed_in_another_thread_reads_alike_whatever_other_threads_do(block, still_on):
    """A block opened by a generator that another thread closes cannot reset this thread's context
    (as decimal's localcontext): what this thread reads then must not change with blocks that
    unrelated threads open (it did: a count of the blocks open anywhere was read first). Run in
    a copy of the context, which the stale setting does not outlive."""
    import contextvars

    def scenario() -> tuple[bool, bool]:
        _leave_a_block_closed_by_another_thread(block)
        alone = still_on()
        with _a_block_open_in_another_thread(block):
            meanwhile = still_on()
        return alone, meanwhile

    alone, meanwhile = contextvars.copy_context().run(scenario)
    assert alone == meanwhile
    assert still_on()  # the test's own context


def test_blocks_closed_out_of_order_keep_the_open_ones_in_force():
    """The outer of two blocks closed first (ExitStack unwound by hand, __exit__ called directly):
    the inner one, still open, stays in force; and blocks left behind closed by another thread
    are not chained on, so reading the setting costs the same however many there were."""
    import contextvars

    from losskit._switch import Switch

    switch = Switch("test_switch", True)
    outer, inner = switch.block(False), switch.block(False)
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)
    assert not switch.on()  # the inner block is still open
    inner.__exit__(None, None, None)
    assert switch.on()

    def stale_blocks() -> int:
        for _ in range(50):
            _leave_a_block_closed_by_another_thread(lambda: switch.block(False))
        with switch.block(False):
            chain, block = 0, switch._innermost.get()
            while block is not None:
                chain, block = chain + 1, block.outer
            assert not switch.on()
        assert switch.on()
        return chain

    assert contextvars.copy_context().run(stale_blocks) == 1


@pytest.mark.parametrize(("block", "still_on"), SWITCHES)
def test_a_block_is_its_own_asyncio_tasks(block, still_on):
    """Two tasks of one thread whose blocks overlap (A enters, B enters, A leaves, B leaves): each
    sees its own setting, and none is left behind (per thread, B restored A's off, which the
    thread then read whenever a block was open anywhere)."""
    import asyncio

    seen: dict[str, bool] = {}

    async def task(name: str, entered: asyncio.Event, wait_for: asyncio.Event, leave: asyncio.Event) -> None:
        with block():
            entered.set()
            await wait_for.wait()
            seen[name] = still_on()
        leave.set()

    async def main() -> None:
        a_in, b_in, a_out, b_out = (asyncio.Event() for _ in range(4))
        await asyncio.gather(task("a", a_in, b_in, a_out), task("b", b_in, a_out, b_out))
        seen["after"] = still_on()

    asyncio.run(main())
    assert seen == {"a": False, "b": False, "after": True}
    with _a_block_open_in_another_thread(block):  # this thread reads its own context, not a stale one
        assert still_on()


def test_a_block_held_by_a_generator_closed_in_another_thread():
    """A generator suspended inside a block and finalised in another thread: the block closes there
    without an error, and the setting is on again once no block is open (an AttributeError there
    left the count of open blocks at 1 and this thread's stale off in force for good)."""
    import threading

    def rows():
        with losskit.value_checks(False):
            yield 1

    gen = rows()
    next(gen)
    errors: list[BaseException] = []

    def close() -> None:
        try:
            gen.close()
        except BaseException as error:  # reported by the assert below
            errors.append(error)

    thread = threading.Thread(target=close)
    thread.start()
    thread.join()
    assert errors == []
    assert _refused(lambda: losskit.SoftmaxCELoss()(*_BAD_LABEL))


def test_pos_weight_shape():
    with pytest.raises(ValueError, match=re.escape("pos_weight shape (4,) does not broadcast to pred shape (2, 3)")):
        losskit.SigmoidBCELoss()(np.zeros((2, 3)), np.zeros((2, 3)), None, np.ones(4))


def test_errors_leave_inputs_unchanged():
    pred, label = np.arange(6.0).reshape(2, 3), np.array([0, 5])
    before = pred.copy(), label.copy()
    with pytest.raises(ValueError):
        losskit.SoftmaxCELoss()(pred, label)
    np.testing.assert_array_equal(pred, before[0])
    np.testing.assert_array_equal(label, before[1])


def test_jit_does_not_check_class_range_documented():
    """Under jax.jit the values are symbolic: no check (documented), no error raised."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    out = jax.jit(lambda p, y: losskit.SoftmaxCELoss()(p, y))(jnp.zeros((2, 3)), jnp.array([0, 1]))
    assert out.shape == (2,)


def test_cosine_batch_axis_out_of_range_is_said_of_the_pairs():
    with pytest.raises(ValueError, match=re.escape("out of range for the pairs, shape (3,) (input2's shape (3, 4)")):
        losskit.CosineEmbeddingLoss(batch_axis=1)(np.ones((3, 4)), np.ones((3, 4)), np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_cosine_labels_other_than_1_0_and_minus_1_are_refused(backend):
    """The label is compared with 1 and -1 (as in torch and MXNet, where any other value adds 0):
    a NaN, 1.5 or 2 would add 0 unseen, so it is refused; 0 stays a pair left out."""
    a, b = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])
    loss = losskit.CosineEmbeddingLoss()

    def call(label):
        return loss(to_backend(a, backend, "float64"), to_backend(b, backend, "float64"), to_backend(label, backend))

    np.testing.assert_array_equal(to_numpy(call(np.array([1.0, -1.0]))), [1.0, 1.0])  # cos 0, then 1
    np.testing.assert_array_equal(to_numpy(call(np.array([1, 0]))), [1.0, 0.0])
    for bad in ([np.nan, 1.0], [1.5, 1.0], [np.inf, -1.0]):
        with pytest.raises(ValueError, match=r"label holds non-integer or non-finite values; labels \(1: similar"):
            call(np.array(bad))
    with pytest.raises(ValueError, match=r"in \[1, 2\], outside the valid range \[-1, 1\]"):
        call(np.array([2, 1]))
    if backend == "numpy":
        with pytest.raises(TypeError, match="label must hold 1 .* got dtype bool"):
            call(np.array([True, False]))
        with pytest.raises(TypeError, match="got dtype <U1"):
            loss(a, b, np.array(["1", "1"]))
    with losskit.value_checks(False):  # unread, as any label value: adds 0, as torch
        np.testing.assert_array_equal(to_numpy(call(np.array([1.5, 1.0]))), [0.0, 0.0])


# every loss with a class axis: (its constructor options, a label for pred of shape (2, 0))
_SPARSE, _DENSE = np.zeros(2, dtype=np.int64), np.zeros((2, 0))
NO_CLASS_CASES = {
    "SoftmaxCrossEntropyLoss": ({}, _SPARSE),
    "SoftmaxCrossEntropyLoss dense": ({"sparse_label": False}, _DENSE),
    "NLLLoss": ({}, _SPARSE),
    "SoftmaxFocalLoss": ({}, _SPARSE),
    "PolyLoss": ({}, _SPARSE),
    "MultiMarginLoss": ({}, _SPARSE),
    "MulticlassHingeLoss": ({}, _SPARSE),
    "SparsemaxLoss": ({}, _SPARSE),
    "GeneralizedCrossEntropyLoss": ({}, _SPARSE),
    "CategoricalHingeLoss": ({}, _DENSE),
    "MultiLabelSoftMarginLoss": ({}, _DENSE),
    "MultiLabelMarginLoss": ({}, np.zeros((2, 0), dtype=np.int64)),
    "TverskyLoss": ({}, _DENSE),
    "DiceLoss": ({"from_logits": False}, _DENSE),
    "JaccardLoss": ({}, _DENSE),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(NO_CLASS_CASES))
def test_a_class_axis_of_size_zero_is_refused_naming_it(case: str, backend: str) -> None:
    """No classes: a ValueError naming the axis and shape, before any work. Before, the sparse
    losses said their label 0 was outside "[0, -1]", CategoricalHingeLoss raised the backends'
    own reduction errors and MultiLabelSoftMarginLoss returned NaN (a mean over 0 classes), as the
    overlap losses did on torch (NumPy and JAX raised their reductions' errors)."""
    options, label = NO_CLASS_CASES[case]
    loss = losskit.get_loss(case.split()[0], **options)
    pred = to_backend(np.zeros((2, 0)), backend)
    with pytest.raises(ValueError, match=re.escape("pred has no classes along axis 1 (shape (2, 0))")):
        loss(pred, to_backend(label, backend))


PER_CLASS_OPTIONS = [
    ("SoftmaxCrossEntropyLoss", "class_weight"),
    ("NLLLoss", "class_weight"),
    ("MultiMarginLoss", "class_weight"),
    ("MultiLabelSoftMarginLoss", "class_weight"),
    ("SoftmaxFocalLoss", "alpha"),
    ("DiceLoss", "class_weight"),
    ("TverskyLoss", "class_weight"),
]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 10**400])
@pytest.mark.parametrize(("name", "option"), PER_CLASS_OPTIONS)
def test_a_per_class_sequence_must_be_finite(name: str, option: str, bad: Any) -> None:
    """A NaN among the per-class weights made every loss it touched NaN, without a word."""
    with pytest.raises(ValueError, match=f"{option} must hold finite numbers, got {re.escape(repr(bad))}"):
        losskit.get_loss(name, **{option: [1.0, bad, 0.5]})


def test_ctc_takes_its_batch_axis_from_the_label_layout() -> None:
    with pytest.raises(TypeError, match=r"CTCLoss takes its batch axis from label_layout .* got batch_axis=1"):
        losskit.CTCLoss(batch_axis=1)
    assert losskit.CTCLoss(label_layout="TN")._batch_axis == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_probabilities_outside_0_1_are_refused(backend):
    """SigmoidBCELoss(from_sigmoid=True) takes probabilities: a value outside [0, 1] (a logit given
    by mistake) is a ValueError naming the values' range, where the formula gave NaN (below 0) or a
    finite log(eps) (above 1). 0 and 1 themselves pass, and so does NaN (a NaN loss)."""
    loss = losskit.SigmoidBCELoss(from_sigmoid=True)
    label = to_backend(np.array([[0.0, 1.0, 1.0]]), backend, "float32")
    for bad, span in (
        ([0.2, 1.5, 0.5], "[0.2, 1.5]"),
        ([-0.25, 0.5, 0.5], "[-0.25, 0.5]"),
        ([np.nan, 2.0, 0.0], "[0, 2]"),
    ):
        pred = to_backend(np.array([bad]), backend, "float32")
        with pytest.raises(
            ValueError, match=re.escape(f"pred holds values in {span}, outside [0, 1]: from_sigmoid=True")
        ):
            loss(pred, label)
    edges = to_backend(np.array([[1.0, 1.0, 0.0]]), backend, "float32")  # -log(eps) twice, log(1 + eps) = 0
    np.testing.assert_allclose(to_numpy(loss(edges, label)), [-2 * np.log(1e-12) / 3], rtol=1e-5)
    assert np.isnan(to_numpy(loss(to_backend(np.array([[np.nan, 1.0, 1.0]]), backend, "float32"), label))).all()
    with losskit.value_checks(False), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's log of a negative number
        assert np.isnan(to_numpy(loss(to_backend(np.array([[-0.25, 1.0, 1.0]]), backend, "float32"), label))).all()


def test_probabilities_error_reads_a_tensor_that_requires_grad_without_a_warning():
    torch = pytest.importorskip("torch")
    x = torch.tensor([[0.2, 1.5]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=re.escape("pred holds values in [0.2, 1.5]")):
            losskit.SigmoidBCELoss(from_sigmoid=True)(x, torch.tensor([[0.0, 1.0]]))


IGNORE_INDEX_LOSSES = {
    "SoftmaxCrossEntropyLoss": ((3, 4), np.array([0, 1, 2]), F.softmax_cross_entropy),
    "NLLLoss": ((3, 4), np.array([0, 1, 2]), F.nll_loss),
    "LovaszSoftmaxLoss": ((2, 3, 4), np.array([[0, 1, 2, 0], [2, 1, 0, 1]]), F.lovasz_softmax_loss),
    "LovaszHingeLoss": ((2, 4), np.array([[0, 1, 1, 0], [1, 1, 0, 1]]), F.lovasz_hinge_loss),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(IGNORE_INDEX_LOSSES))
def test_an_ignore_index_past_int32_is_refused_on_every_backend(name: str, backend: str) -> None:
    """An ignore_index outside int32 (JAX's index dtype without x64) is a ValueError naming it,
    from the constructor and the function alike; before, NumPy took it (matching nothing) where
    torch past int64 and JAX past int32 raised their own OverflowErrors. Inside the range it is
    taken: int32's largest matches no label here, the loss is the one without ignore_index."""
    shape, label, function = IGNORE_INDEX_LOSSES[name]
    pred = to_backend(np.random.default_rng(0).normal(size=shape), backend)
    label = to_backend(label, backend)
    message = re.escape("ignore_index must be in [-2147483648, 2147483647] (int32")
    for bad in (2**31, -(2**31) - 1, 2**70):
        with pytest.raises(ValueError, match=message):
            losskit.get_loss(name, ignore_index=bad)
        with pytest.raises(ValueError, match=message):
            function(pred, label, ignore_index=bad)
    largest = losskit.get_loss(name, ignore_index=2**31 - 1)(pred, label)
    np.testing.assert_allclose(to_numpy(largest), to_numpy(losskit.get_loss(name)(pred, label)), rtol=1e-12)


def test_messages_use_the_names_of_the_losses_own_arguments():
    """PoissonNLLLoss calls its label `target` (Gluon's name), ArcFace and CosFace their
    prediction `cosine`: the errors say so, not 'label' and 'pred'."""
    with pytest.raises(ValueError, match=re.escape("target shape (2, 4) does not match pred shape (2, 3)")):
        losskit.PoissonNLLLoss()(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(TypeError, match="target must be an array of the call's library"):
        losskit.PoissonNLLLoss()(np.zeros((2, 3)), None)
    for loss in (losskit.ArcFaceLoss(), losskit.CosFaceLoss()):
        with pytest.raises(
            ValueError, match=re.escape("does not match cosine shape (2, 3, 1): expected (2, 3) (cosine's")
        ):
            loss(np.zeros((2, 3, 1)), np.array([0, 1]))
