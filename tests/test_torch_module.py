"""Loss.as_module(): a loss as a torch.nn.Module whose tensor options are buffers, so that
module.to(...), state_dict() and load_state_dict() see them as they see torch's own loss modules'."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest

import losskit
from backends import to_backend
from cases import CASES

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch_args(case):
    raw = case.make(np.random.default_rng(0))
    return [to_backend(x, "torch", "float64" if i in case.float_args else None) for i, x in enumerate(raw)]


def _tensor_options(init):
    """The recipe's options given as lists (per-class vectors), as float64 tensors instead."""
    return {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v for k, v in init.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_recipe_computes_the_same_through_its_module(case):
    loss = losskit.get_loss(case.loss, **case.init)
    args = _torch_args(case)
    want = loss(*args, **case.call_kwargs)
    module = loss.as_module()
    assert isinstance(module, torch.nn.Module)
    torch.testing.assert_close(module(*args, **case.call_kwargs), want, rtol=0, atol=0)
    # the per-class vectors given as tensors are the module's buffers, under the options' names
    tensor_module = losskit.get_loss(case.loss, **_tensor_options(case.init)).as_module()
    lists = sorted(k for k, v in case.init.items() if isinstance(v, list))
    assert sorted(tensor_module.state_dict()) == lists
    torch.testing.assert_close(tensor_module(*args, **case.call_kwargs), want, rtol=0, atol=0)


def test_state_dict_holds_the_class_weight_and_loading_one_changes_the_loss():
    logits = torch.randn(6, 4, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 3, 1, 2])
    given = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    loss = losskit.SoftmaxCELoss(class_weight=given)
    criterion = loss.as_module()
    state = criterion.state_dict()
    assert list(state) == ["class_weight"]
    new_weight = torch.tensor([0.5, 0.0, 8.0, 1.0], dtype=torch.float64)
    criterion.load_state_dict({"class_weight": new_weight})
    want = F.cross_entropy(logits, target, weight=new_weight, reduction="none")
    torch.testing.assert_close(criterion(logits, target), want)
    # loaded into the module's copy: the loss it was made from still has the tensor given, unchanged
    assert loss._class_weight is given and given.tolist() == [1.0, 2.0, 3.0, 4.0]
    torch.testing.assert_close(loss(logits, target), F.cross_entropy(logits, target, weight=given, reduction="none"))
    # assign=True replaces the buffer's tensor rather than copying into it
    other = torch.tensor([3.0, 1.0, 1.0, 0.25], dtype=torch.float64)
    criterion.load_state_dict({"class_weight": other}, assign=True)
    assert criterion.class_weight is other
    want = F.cross_entropy(logits, target, weight=other, reduction="none")
    torch.testing.assert_close(criterion(logits, target), want)


def test_a_model_moves_and_saves_the_loss_it_holds_while_the_loss_itself_is_left_alone():
    weight = torch.tensor([1.0, 3.0])
    loss = losskit.SoftmaxCELoss(class_weight=weight)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)
            self.criterion = loss.as_module()

        def forward(self, x, y):
            return self.criterion(self.linear(x), y).mean()

    model = Model()
    assert "criterion.class_weight" in model.state_dict()
    model.double()
    assert model.criterion.class_weight.dtype == torch.float64
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])
    model(x, y).backward()
    # Gluon's per-example losses averaged: torch's 'none', then mean (not its weighted 'mean')
    want = F.cross_entropy(model.linear(x), y, weight=weight.double(), reduction="none").mean()
    torch.testing.assert_close(model(x, y), want)
    model.to("meta")  # a device other than the CPU: the buffer follows, the result is computed there
    out = model(x.to("meta"), y.to("meta"))
    assert out.device.type == "meta" and model.criterion.class_weight.device.type == "meta"
    assert loss._class_weight is weight and weight.dtype == torch.float32 and weight.device.type == "cpu"


def test_a_zero_dim_tensor_option_is_a_buffer_too():
    pred = torch.tensor([[0.5, -2.0], [1.5, 0.0]], dtype=torch.float64)
    label = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    module = losskit.HingeLoss(margin=torch.tensor(2.0)).as_module().double()
    assert list(module.state_dict()) == ["margin"] and module.margin.dtype == torch.float64
    # Gluon's hinge: mean over the row of relu(margin - pred * label)
    want = torch.tensor([(1.5 + 0.0) / 2, (3.5 + 2.0) / 2], dtype=torch.float64)
    torch.testing.assert_close(module(pred, label), want)


def test_options_given_as_numbers_or_tuples_are_no_buffers():
    module = losskit.SoftmaxCELoss(class_weight=(1.0, 3.0), label_smoothing=0.1).as_module()
    assert list(module.state_dict()) == [] and list(module.buffers()) == []


def test_the_module_compiles_as_one_graph():
    criterion = losskit.SoftmaxCELoss(class_weight=torch.tensor([1.0, 2.0, 0.5])).as_module()
    logits, target = torch.randn(4, 3), torch.tensor([0, 2, 1, 2])
    compiled = torch.compile(criterion, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(logits, target), criterion(logits, target))


def test_the_module_copies_and_pickles_with_its_buffers():
    criterion = losskit.NLLLoss(class_weight=torch.tensor([1.0, 2.0, 0.5])).as_module()
    x, y = torch.randn(4, 3).log_softmax(-1), torch.tensor([0, 2, 1, 2])
    for other in (copy.deepcopy(criterion), pickle.loads(pickle.dumps(criterion))):
        assert other.class_weight is not criterion.class_weight
        torch.testing.assert_close(other(x, y), criterion(x, y))
        other.class_weight.mul_(2)  # in place, as load_state_dict does: the copy's loss sees it
        torch.testing.assert_close(other(x, y), 2 * criterion(x, y))
    assert "LossModule(NLLLoss(" in repr(criterion)


def test_without_torch_as_module_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import losskit\n"
        "try:\n    losskit.L2Loss().as_module()\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'losskit[torch]'" in out


def test_an_option_on_another_device_than_the_inputs_points_to_as_module():
    loss = losskit.SoftmaxCELoss(class_weight=torch.tensor([1.0, 3.0], device="meta"))
    with pytest.raises(ValueError, match=r"class_weight, .*on meta.*loss\.as_module\(\) makes them so"):
        loss(torch.zeros(2, 2), torch.tensor([0, 1]))


def test_a_replica_of_data_parallel_computes_with_its_own_tensors():
    """DataParallel runs shallow copies of the module in threads: each sets its own tensors on a
    loss of its own (a shared loss computed with another replica's tensor, or device's)."""
    x, y = torch.randn(4, 2, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    weight = torch.tensor([1.0, 3.0], dtype=torch.float64)
    module = losskit.SoftmaxCELoss(class_weight=weight).as_module()
    replica = module._replicate_for_data_parallel()
    assert replica.loss is not module.loss
    other = torch.tensor([1.0, 100.0], dtype=torch.float64)
    replica._buffers["class_weight"] = other  # as replicate() gives each replica its device's copy
    torch.testing.assert_close(replica(x, y), F.cross_entropy(x, y, weight=other, reduction="none"))
    assert module.loss._class_weight is module.class_weight  # untouched by the replica's call
    torch.testing.assert_close(module(x, y), F.cross_entropy(x, y, weight=weight, reduction="none"))


def test_a_parameter_option_is_a_parameter_of_the_module_and_learns():
    margin = torch.nn.Parameter(torch.tensor(2.0, dtype=torch.float64))
    module = losskit.HingeLoss(margin=margin).as_module()
    assert list(module.parameters()) == [margin] and module.margin is margin and "margin" in module.state_dict()
    pred = torch.tensor([[0.5, -2.0], [1.5, 0.0]], dtype=torch.float64)
    label = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    out = module(pred, label)
    # Gluon's hinge, the row mean of relu(margin - pred * label): d/dmargin is the share of terms above 0
    (grad,) = torch.autograd.grad(out.sum(), margin)
    assert grad.item() == pytest.approx(1 / 2 + 2 / 2)  # row 0: one of two terms active; row 1: both


def test_an_option_that_requires_grad_but_is_no_parameter_is_refused():
    margin = torch.tensor(2.0, requires_grad=True) * 1.0
    with pytest.raises(ValueError, match=r"HingeLoss's margin requires grad but is no torch.nn.Parameter"):
        losskit.HingeLoss(margin=margin).as_module()
