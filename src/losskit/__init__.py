"""losskit: every loss of ``mxnet.gluon.loss`` and more, on NumPy, PyTorch and JAX arrays.

Port Gluon code by changing the import::

    from losskit import L2Loss, SoftmaxCrossEntropyLoss   # was: from mxnet.gluon.loss import ...
"""

from . import functional
from ._compile import register_with_dynamo
from ._core import set_value_checks, value_checks
from .losses import *  # noqa: F403
from .losses import __all__ as _loss_names
from .losses.base import _apply_weighting as _apply_weighting  # Gluon's private helpers, which
from .losses.base import _reshape_like as _reshape_like  # ported custom losses import
from .registry import get_loss, list_losses, loss_info

register_with_dynamo()  # when torch.compile was used first: its functions are torch.compile graph nodes

__version__ = "0.1.0"
__all__ = [*_loss_names, "functional", "get_loss", "list_losses", "loss_info", "set_value_checks", "value_checks"]
