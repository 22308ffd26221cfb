"""A loss as a ``torch.nn.Module`` (:meth:`losskit.Loss.as_module`): its tensor options are buffers."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .base import Loss


class LossModule(torch.nn.Module):
    """A losskit loss inside PyTorch's module system, as ``torch.nn.CrossEntropyLoss`` is.

    Each option of the loss given as a tensor (``class_weight``, a 0-d ``margin``, ...) is a
    buffer of the module under the option's name: ``module.to(device)``, ``.double()``,
    ``state_dict()`` and ``load_state_dict()`` (also of a model the module is part of) see it. A
    buffer is a copy of the option's tensor (torch's own loss modules hold the tensor given), and
    the module computes through its own shallow copy of the loss, which reads the buffers at each
    call: the loss it was made from, and its tensors, are left as they are. An option given as a
    ``torch.nn.Parameter`` (a learnt margin) is a parameter of the module instead, the same
    tensor, so that ``module.parameters()`` and its gradient reach it; another tensor that
    requires grad is refused (give a Parameter, or detach it). Options given as numbers or tuples
    stay as they are (a tuple already follows the inputs' device).
    """

    def __init__(self, loss: Loss) -> None:
        super().__init__()
        options = {name: v for name, v in loss._stored_options().items() if isinstance(v, torch.Tensor)}
        for name, value in options.items():
            if value.requires_grad and not isinstance(value, torch.nn.Parameter):
                raise ValueError(
                    f"{type(loss).__name__}'s {name} requires grad but is no torch.nn.Parameter: give a Parameter "
                    "to learn it through the module (a parameter of it), or detach it (a buffer)"
                )
        self.loss = copy.copy(loss)  # the tensors are set on this copy only
        self._tensor_options = tuple(options)
        for name, value in options.items():
            if isinstance(value, torch.nn.Parameter):
                self.register_parameter(name, value)  # learnt: the same tensor, trained through the module
            else:
                self.register_buffer(name, value.detach().clone())  # a copy: load_state_dict() writes in place
            setattr(self.loss, "_" + name, getattr(self, name))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        for name in self._tensor_options:
            # .to() and load_state_dict(assign=True) replace a buffer's tensor: the copy reads it anew
            tensor = getattr(self, name)
            if getattr(self.loss, "_" + name) is not tensor:
                setattr(self.loss, "_" + name, tensor)
        return self.loss(*args, **kwargs)

    def _replicate_for_data_parallel(self) -> LossModule:
        # DataParallel's replicas are shallow copies run in threads: each needs a loss of its own
        # to set its tensors on (a shared one computed with another replica's, or device's, tensor)
        replica = super()._replicate_for_data_parallel()
        replica.loss = copy.copy(self.loss)
        return replica

    def extra_repr(self) -> str:
        return repr(self.loss)
