"""Loss classes, grouped by family. Each is a thin class over :mod:`losskit.functional`."""

from .base import Loss
from .classification import (
    HingeLoss,
    JSDLoss,
    KLDivLoss,
    LogisticLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    NLLLoss,
    PolyLoss,
    SigmoidBCELoss,
    SigmoidBinaryCrossEntropyLoss,
    SigmoidFocalLoss,
    SoftMarginLoss,
    SoftmaxCELoss,
    SoftmaxCrossEntropyLoss,
    SoftmaxFocalLoss,
    SquaredHingeLoss,
)
from .metric import CosineEmbeddingLoss, InfoNCELoss, MarginRankingLoss, SDMLLoss, TripletLoss
from .regression import GaussianNLLLoss, HuberLoss, L1Loss, L2Loss, LogCoshLoss, PoissonNLLLoss, QuantileLoss
from .segmentation import DiceLoss, TverskyLoss
from .sequence import CTCLoss

__all__ = [
    "Loss",
    "L2Loss",
    "L1Loss",
    "SigmoidBinaryCrossEntropyLoss",
    "SigmoidBCELoss",
    "SoftmaxCrossEntropyLoss",
    "SoftmaxCELoss",
    "KLDivLoss",
    "CTCLoss",
    "HuberLoss",
    "HingeLoss",
    "SquaredHingeLoss",
    "LogisticLoss",
    "TripletLoss",
    "PoissonNLLLoss",
    "CosineEmbeddingLoss",
    "SDMLLoss",
    # beyond Gluon
    "NLLLoss",
    "SigmoidFocalLoss",
    "SoftmaxFocalLoss",
    "PolyLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "JSDLoss",
    "GaussianNLLLoss",
    "LogCoshLoss",
    "QuantileLoss",
    "MarginRankingLoss",
    "InfoNCELoss",
    "DiceLoss",
    "TverskyLoss",
]
