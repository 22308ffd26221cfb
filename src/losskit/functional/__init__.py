"""Functional forms of every loss: pure functions with the same semantics as the classes.

Each takes its arrays positionally (as the class's call does) and its options as keywords::

    losskit.functional.l2_loss(pred, label, sample_weight, weight=1.0, batch_axis=0)

A family module's ``__all__`` lists its losses; being listed here makes a function a
``torch.compile`` graph node (:mod:`losskit._compile`).
"""

from . import classification, metric, regression, segmentation, sequence
from .classification import *  # noqa: F403
from .metric import *  # noqa: F403
from .regression import *  # noqa: F403
from .segmentation import *  # noqa: F403
from .sequence import *  # noqa: F403

__all__ = [
    *regression.__all__,
    *classification.__all__,
    *metric.__all__,
    *sequence.__all__,
    *segmentation.__all__,
]
