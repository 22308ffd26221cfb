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
    call: the loss it was made from, and its tensors, are left as they are. Options given as
    numbers or tuples stay as they are (a tuple already follows the inputs' device).
    """

    def __init__(self, loss: Loss) -> None:
        super().__init__()
        self.loss = copy.copy(loss)  # the buffers are set on this copy only
        self._tensor_options = tuple(
            name for name, value in loss._stored_options().items() if isinstance(value, torch.Tensor)
        )
        for name in self._tensor_options:
            # a copy: load_state_dict() writes into a buffer in place
            self.register_buffer(name, getattr(loss, "_" + name).detach().clone())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        for name in self._tensor_options:
            # .to() and load_state_dict(assign=True) replace a buffer's tensor: the copy reads it anew
            buffer = self._buffers[name]
            if getattr(self.loss, "_" + name) is not buffer:
                setattr(self.loss, "_" + name, buffer)
        return self.loss(*args, **kwargs)

    def extra_repr(self) -> str:
        return repr(self.loss)
