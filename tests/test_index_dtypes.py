"""Integer labels of every width, on torch: its uint16/uint32/uint64 are "shell" dtypes (casts and
equality, but no min, max or order comparisons on the CPU), which broke the class-range check."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from backends import to_backend, to_numpy
from cases import CASES

torch = pytest.importorskip("torch")

# every recipe with an integer input whose values an unsigned dtype can hold
UNSIGNED_CASES = [
    case
    for case in CASES
    if any(
        isinstance(a, np.ndarray) and a.dtype.kind == "i" and a.size and a.min() >= 0
        for a in case.make(np.random.default_rng(7))
    )
]


def _inputs(case, rng, unsigned=None):
    """The recipe's arrays as float64/int64 tensors, its non-negative integer arrays as ``unsigned``."""
    out = []
    for a in case.make(rng):
        t = to_backend(a, "torch", "float64")
        if unsigned is not None and isinstance(a, np.ndarray) and a.dtype.kind == "i" and a.size and a.min() >= 0:
            t = t.to(unsigned)
        out.append(t)
    return out


def test_the_recipes_cover_the_sparse_losses():
    covered = {losskit.loss_info(c.loss).name for c in UNSIGNED_CASES}
    assert {"SoftmaxCrossEntropyLoss", "MultiMarginLoss", "SoftmaxFocalLoss", "CircleLoss"} <= covered


@pytest.mark.parametrize("case", UNSIGNED_CASES, ids=[c.id for c in UNSIGNED_CASES])
@pytest.mark.parametrize("unsigned", ["uint8", "uint16", "uint32"])
def test_unsigned_labels_give_the_int64_result(case, unsigned):
    loss = losskit.get_loss(case.loss, **case.init)
    want = loss(*_inputs(case, np.random.default_rng(7)), **case.call_kwargs)
    args = _inputs(case, np.random.default_rng(7), getattr(torch, unsigned))
    got = loss(*args, **case.call_kwargs)
    np.testing.assert_array_equal(to_numpy(got), to_numpy(want))


@pytest.mark.parametrize("case", UNSIGNED_CASES, ids=[c.id for c in UNSIGNED_CASES])
def test_uint64_labels_work_or_are_refused_by_name(case):
    """Where only equality is needed (group ids) a uint64 label works; where indices are checked
    and gathered it is a TypeError naming the dtype, not torch's NotImplementedError."""
    loss = losskit.get_loss(case.loss, **case.init)
    args = _inputs(case, np.random.default_rng(7), torch.uint64)
    try:
        got = loss(*args, **case.call_kwargs)
    except TypeError as error:
        assert "torch.uint64" in str(error)
        return
    want = loss(*_inputs(case, np.random.default_rng(7)), **case.call_kwargs)
    np.testing.assert_array_equal(to_numpy(got), to_numpy(want))


def test_uint64_is_refused_for_class_indices_and_lengths():
    x = torch.randn(4, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 4], dtype=torch.uint64)
    for loss in (losskit.SoftmaxCELoss(), losskit.NLLLoss(), losskit.MultiMarginLoss()):
        with pytest.raises(TypeError, match="label has dtype torch.uint64"):
            loss(x, y)
    logits = torch.randn(2, 6, 4, dtype=torch.float64)
    label = torch.tensor([[1, 2], [3, 3]])
    lengths = torch.tensor([6, 5], dtype=torch.uint64)
    with pytest.raises(TypeError, match="pred_lengths has dtype torch.uint64"):
        losskit.CTCLoss()(logits, label, lengths)


def test_uint64_is_refused_with_the_value_checks_off():
    """Without the range check the cast to int64 would wrap 2**63 round to a negative index."""
    x = torch.randn(4, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 2**63], dtype=torch.uint64)
    with losskit.value_checks(False), pytest.raises(TypeError, match="torch.uint64"):
        losskit.SoftmaxCELoss()(x, y)


@pytest.mark.parametrize("unsigned", ["uint8", "uint16", "uint32"])
def test_ctc_lengths_of_every_unsigned_width(unsigned):
    """label_lengths are compared with positions before the range check: torch's uint16/32
    raised 'Promotion for uint16, uint32, uint64 types is not supported' there."""
    logits, label = torch.randn(2, 6, 4, dtype=torch.float64), torch.tensor([[1, 2], [0, 1]])
    lengths, label_lengths = torch.tensor([6, 5]), torch.tensor([2, 1])
    want = losskit.CTCLoss()(logits, label, lengths, label_lengths)
    kind = getattr(torch, unsigned)
    got = losskit.CTCLoss()(logits, label.to(kind), lengths.to(kind), label_lengths.to(kind))
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    with pytest.raises(TypeError, match="label_lengths has dtype torch.uint64"):
        losskit.CTCLoss()(logits, label, lengths, label_lengths.to(torch.uint64))


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8"])
def test_the_lean_cpu_read_of_a_label_agrees_with_the_general_one(dtype):
    """One CPU label takes ``cpu_index_span`` (a direct read), several the general
    ``index_summaries``: the same span, and so the same error, for every narrow dtype."""
    from losskit._array import cpu_index_span, index_summaries, namespace

    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    for _ in range(5):
        values = rng.integers(info.min, info.max, size=37, endpoint=True).astype(dtype)
        label = torch.from_numpy(values)
        xp = namespace(label, names=("label",))
        assert cpu_index_span(label) == (int(values.min()), int(values.max()))
        assert [(True, *cpu_index_span(label))] == index_summaries(xp, [label])
    assert cpu_index_span(torch.zeros(0, dtype=getattr(torch, dtype))) is None  # empty: nothing to read
    assert cpu_index_span(torch.zeros(3)) is None  # float labels: the general path checks they are whole


@pytest.mark.parametrize(
    ("dtype", "bad"),
    [(d, b) for d in ("int64", "int32", "int16", "int8", "uint8") for b in (-1, 5) if d[0] == "i" or b > 0],
)
def test_an_out_of_range_cpu_label_of_every_narrow_dtype_is_named(dtype, bad):
    pred = torch.zeros(4, 5, dtype=torch.float64)
    label = torch.tensor([0, 1, bad, 4], dtype=getattr(torch, dtype))
    for loss in (losskit.SoftmaxCELoss(), losskit.NLLLoss(), losskit.MultiMarginLoss()):
        with pytest.raises(ValueError, match=rf"label holds class indices in \[{min(bad, 0)}, {max(bad, 4)}\]"):
            loss(pred, label)
