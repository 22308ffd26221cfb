"""Loss classes, grouped by family. Each is a thin class over :mod:`losskit.functional`.

A family module's ``__all__`` lists its classes (aliases included); this package exports them all.
"""

from . import classification, metric, regression, segmentation, sequence
from .base import Loss
from .classification import *  # noqa: F403
from .metric import *  # noqa: F403
from .regression import *  # noqa: F403
from .segmentation import *  # noqa: F403
from .sequence import *  # noqa: F403

__all__ = [
    "Loss",
    *regression.__all__,
    *classification.__all__,
    *metric.__all__,
    *sequence.__all__,
    *segmentation.__all__,
]
