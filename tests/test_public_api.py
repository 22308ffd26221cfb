"""The public names: what ``losskit``, ``losskit.losses`` and ``losskit.functional`` export, and
that a type checker sees it (py.typed is shipped). The packages import each name explicitly and
list it in a static ``__all__``: a star import inside an import cycle, or an ``__all__`` built by
unpacking, is opaque to mypy, which refused ``from losskit import L2Loss``, the README's first line."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import losskit
import losskit.functional
import losskit.losses

FAMILIES = ("regression", "classification", "metric", "sequence", "segmentation")


@pytest.mark.parametrize("package", ["losskit.losses", "losskit.functional"])
def test_a_package_exports_every_name_of_its_families(package):
    module = importlib.import_module(package)
    names = [name for family in FAMILIES for name in importlib.import_module(f"{package}.{family}").__all__]
    extra = ["Loss"] if package == "losskit.losses" else []
    assert module.__all__ == extra + names  # in family order, no name twice
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), name


def test_losskit_exports_every_loss_class_and_the_helpers():
    helpers = ["distributed", "functional", "fused", "get_loss", "list_losses", "loss_info", "set_value_checks"]
    helpers += ["value_checks"]
    assert losskit.__all__ == helpers + losskit.losses.__all__
    for name in losskit.__all__:
        assert hasattr(losskit, name), name
    for name in losskit.losses.__all__[1:]:  # every class but the base is in the registry
        assert type(losskit.get_loss(name)) is getattr(losskit, name)
    # and every registered class is exported (a class in no __all__ met no other test but compile's)
    unexported = sorted(n for n in losskit.list_losses() if getattr(losskit, n, None) is not losskit.loss_info(n).cls)
    assert unexported == [], f"registered but not in losskit.__all__ (add them to their family's __all__): {unexported}"


def test_mypy_sees_the_public_names(tmp_path):
    """mypy --strict on a user's module: the README's imports resolve to the classes (they were
    'Module "losskit" has no attribute "L2Loss"', and every loss was Any)."""
    user = tmp_path / "user.py"
    user.write_text(
        textwrap.dedent(
            """
            import losskit
            import losskit.functional as F
            from losskit import L2Loss, SoftmaxCrossEntropyLoss, get_loss
            from losskit.functional import l1_loss

            huber = losskit.HuberLoss(rho=2.0)
            ce = SoftmaxCrossEntropyLoss(ignore_index=-100)
            reveal_type(L2Loss())
            reveal_type(F.softmax_focal_loss)
            reveal_type(l1_loss)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(user)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Revealed type is "losskit.losses.regression.L2Loss"' in result.stdout
    assert "def (pred: Any, label: Any" in result.stdout


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda p: losskit.L1Loss()(p, p, sample_wieght=None),
            r"^L1Loss\(\)\(\.\.\.\): got an unexpected keyword argument 'sample_wieght'; its call takes "
            r"L1Loss\(\)\(pred, label, sample_weight\)$",
        ),
        (
            lambda p: losskit.SoftmaxCELoss()(p, np.array([0, 1]), weight=np.ones(3)),
            r"^SoftmaxCrossEntropyLoss\(\)\(\.\.\.\): got an unexpected keyword argument 'weight'",
        ),
        (lambda p: losskit.L2Loss()(p, p, None, None), r"^L2Loss\(\)\(\.\.\.\): too many positional arguments"),
        (
            lambda p: losskit.SoftmaxCELoss(weight=np.ones(3)),
            r"weight must be a number or None, got array.*per-class weights \(torch's weight=\) are class_weight=",
        ),
        (lambda p: losskit.KLDivLoss(True, -1, None, 0, True), "takes from 1 to 5 positional arguments"),
        (lambda p: losskit.L2Loss(weight=np.array(2.0)), r"weight must be a number or None, got array\(2\.\)$"),
    ],
    ids=[
        "call-keyword",
        "torch-weight-at-call",
        "call-positional",
        "torch-weight",
        "kl-log_target-keyword-only",
        "0d-weight-no-class-hint",
    ],
)
def test_mistakes_name_the_loss_and_what_it_takes(call, message):
    """A misspelled or torch-style argument in a loss's call named ``Loss._compute()``, a method
    the user never called; torch's weight= of class weights got no hint; KLDivLoss's fifth
    positional argument silently set log_target (the options beyond Gluon's are keyword-only)."""
    with pytest.raises(TypeError, match=message):
        call(np.zeros((2, 3)))


def test_the_installed_version_is_the_package_version():
    """pyproject reads the version from losskit.__version__ (one place to change it)."""
    from importlib.metadata import version

    assert version("losskit") == losskit.__version__


def test_the_subpackages_are_attributes_of_losskit_without_loading_a_framework():
    """``import losskit`` then ``losskit.fused.linear_cross_entropy`` (the README's spelling) works,
    and loads neither torch nor JAX until a function of theirs runs."""
    code = (
        "import sys, losskit\n"
        "assert callable(losskit.fused.linear_cross_entropy)\n"
        "assert 'vocab_parallel_cross_entropy' in losskit.distributed.__all__\n"
        "assert 'torch' not in sys.modules and 'jax' not in sys.modules, sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
