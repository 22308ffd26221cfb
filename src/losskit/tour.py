"""``losskit tour``: the Gluon loss tutorial, cell by cell, on real arrays."""

from __future__ import annotations

import numpy as np

import losskit


def run_tour() -> int:
    loss = losskit.L2Loss()
    x = np.ones((2,))
    y = np.ones((2,)) * 2
    print("L2Loss()(x, y) with x = ones(2), y = 2 * ones(2):", loss(x, y))
    print("0.5 * (x - y)**2:", 0.5 * (x - y) ** 2)
    print("with sample weights [1, 2]:", loss(x, y, np.array([1.0, 2.0])))
    ce = losskit.SoftmaxCrossEntropyLoss()
    print("SoftmaxCrossEntropyLoss on [[1, 10], [8, 2]], labels [0, 1]:", ce(np.array([[1.0, 10.0], [8.0, 2.0]]), np.array([0, 1])))
    return 0
