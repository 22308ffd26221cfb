"""Functional forms of every loss: pure functions with the same semantics as the classes.

Each takes its arrays positionally (as the class's call does) and its options as keywords::

    losskit.functional.l2_loss(pred, label, sample_weight, weight=1.0, batch_axis=0)
"""

from .classification import (
    hinge_loss,
    jsd_loss,
    kl_div,
    logistic_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    nll_loss,
    poly_loss,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    soft_margin_loss,
    softmax_cross_entropy,
    softmax_focal_loss,
    squared_hinge_loss,
)
from .metric import cosine_embedding_loss, info_nce_loss, margin_ranking_loss, sdml_loss, triplet_loss
from .regression import gaussian_nll_loss, huber_loss, l1_loss, l2_loss, log_cosh_loss, poisson_nll_loss, quantile_loss
from .segmentation import dice_loss, tversky_loss
from .sequence import ctc_loss

__all__ = [
    "l2_loss",
    "l1_loss",
    "huber_loss",
    "poisson_nll_loss",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
    "kl_div",
    "hinge_loss",
    "squared_hinge_loss",
    "logistic_loss",
    "triplet_loss",
    "cosine_embedding_loss",
    "sdml_loss",
    "ctc_loss",
    # beyond Gluon
    "nll_loss",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    "poly_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "jsd_loss",
    "gaussian_nll_loss",
    "log_cosh_loss",
    "quantile_loss",
    "margin_ranking_loss",
    "info_nce_loss",
    "dice_loss",
    "tversky_loss",
]
