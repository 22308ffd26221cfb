"""The ``losskit`` command line: ``list`` and ``plot``, their figures, and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import losskit
from losskit import cli, plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_every_loss_with_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["name", "family", "aliases", "summary"]
    assert len(rows) == len(losskit.list_losses())
    for name, row in zip(losskit.list_losses(), rows):
        info = losskit.loss_info(name)
        assert row.split()[:2] == [name, info.family]
        assert row.endswith(cli._plain(info.summary))
        assert all(alias in row for alias in info.aliases)


def test_list_one_family(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--family", "metric")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == losskit.list_losses("metric")


def test_python_dash_m_losskit_list() -> None:
    proc = subprocess.run([sys.executable, "-m", "losskit", "list"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert all(name in proc.stdout for name in losskit.list_losses())


# ----------------------------------------------------------------------------------------------
# plot

needs_matplotlib = pytest.mark.skipif(not plot.importable("matplotlib"), reason="matplotlib is not installed")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures ``losskit plot`` draws, kept to read their data back."""
    figures: list[Any] = []
    new_figure = plot.new_figure

    def keep(*args: Any, **kwargs: Any) -> Any:
        fig, axes = new_figure(*args, **kwargs)
        figures.append(fig)
        return fig, axes

    monkeypatch.setattr(plot, "new_figure", keep)
    return figures


@needs_matplotlib
def test_plot_writes_a_png_whose_curves_hold_the_losses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], drawn: list[Any]
) -> None:
    out = tmp_path / "fig.png"
    code, stdout, _ = run(capsys, "plot", "l1loss", "SigmoidBCELoss", "--out", str(out), "--points", "21")
    assert code == 0 and stdout == f"wrote {out}\n"
    assert out.read_bytes()[:8] == PNG_MAGIC
    (fig,) = drawn
    (ax,) = fig.axes
    assert ax.get_xlabel() == "prediction x" and ax.get_ylabel() == "loss"
    lines = {line.get_gid(): line for line in ax.get_lines()}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "L1Loss [label fixed at 0]",
        "SigmoidBinaryCrossEntropyLoss [label fixed at 1]",
    ]
    x = np.linspace(-5, 5, 21)
    np.testing.assert_allclose(lines["loss:L1Loss"].get_ydata(), np.abs(x))
    np.testing.assert_allclose(
        lines["loss:SigmoidBinaryCrossEntropyLoss"].get_ydata(), losskit.SigmoidBCELoss()(x, np.ones_like(x))
    )


@needs_matplotlib
def test_plot_grad_params_label_and_range(tmp_path: Path, capsys: pytest.CaptureFixture[str], drawn: list) -> None:
    if not any(plot.importable(name) for name in plot.AUTOGRAD_BACKENDS):
        pytest.skip("--grad needs torch or jax")
    out = tmp_path / "fig.svg"
    argv = ["plot", "HuberLoss", "HingeLoss", "--grad", "--param", "rho=2", "HingeLoss.margin=0.5", "--label", "1"]
    code, _, err = run(capsys, *argv, "--range", "-3", "3", "--points", "12", "--out", str(out))
    assert code == 0, err
    assert ET.parse(out).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    (fig,) = drawn
    value_ax, grad_ax = fig.axes
    x = np.linspace(-3, 3, 12)  # misses the hinge's kink at 0.5
    d = x - 1.0
    values = {line.get_gid(): np.asarray(line.get_ydata()) for line in value_ax.get_lines()}
    grads = {line.get_gid(): np.asarray(line.get_ydata()) for line in grad_ax.get_lines()}
    np.testing.assert_allclose(values["loss:HuberLoss(rho=2)"], losskit.HuberLoss(rho=2)(x, np.ones_like(x)))
    np.testing.assert_allclose(values["loss:HingeLoss(margin=0.5)"], np.maximum(0, 0.5 - x))
    np.testing.assert_allclose(grads["grad:HuberLoss(rho=2)"], np.clip(d / 2, -1, 1), atol=1e-6)
    np.testing.assert_allclose(grads["grad:HingeLoss(margin=0.5)"], np.where(x < 0.5, -1.0, 0.0), atol=1e-6)
    assert grad_ax.get_ylabel() == "d loss / d x"


def _one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"losskit {argv[0]}: error: ")
    return err


def test_unknown_loss_lists_the_valid_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _one_line_error(capsys, "plot", "L2Loss", "NoSuchLoss", "--out", str(tmp_path / "x.png"))
    assert "unknown loss 'NoSuchLoss'" in err
    assert all(name in err for name in losskit.list_losses())
    assert not (tmp_path / "x.png").exists()


def test_unknown_param_lists_the_valid_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _one_line_error(capsys, "plot", "HingeLoss", "L2Loss", "--param", "gamma=2", "--out", str(tmp_path / "x.png"))
    assert "unknown parameter 'gamma'" in err
    assert "valid parameters: HingeLoss: margin, weight; L2Loss: weight" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plot", "HingeLoss", "--param", "L2Loss.weight=2"], "'L2Loss' is not among the plotted losses (HingeLoss)"),
        (["plot", "HingeLoss", "--param", "margin"], "--param takes NAME=VALUE"),
        (["plot", "HuberLoss", "--param", "rho=-1"], "HuberLoss: rho must be in (0, inf), got -1"),
        (["plot", "TripletLoss", "--param", "margin=nan"], "TripletLoss: margin must be in (-inf, inf), got nan"),
        (["plot", "CosineEmbeddingLoss", "--param", "margin=abc"], "margin must be a real number, got 'abc'"),
        # a parameter the constructor cannot check (the input's rank is unknown there)
        pytest.param(
            ["plot", "DiceLoss", "--param", "axis=5"], "DiceLoss: axis=5 is out of range", marks=needs_matplotlib
        ),
        (["plot", "SoftmaxCELoss", "--label", "3"], "label must be 0 or 1"),
        (["plot", "L2Loss", "--range", "2", "1"], "--range A B needs A < B"),
        (["plot", "L2Loss", "--range", "-inf", "5"], "--range A B needs finite numbers, got -inf 5"),
        (["plot", "L2Loss", "--range", "0", "nan"], "--range A B needs finite numbers"),
        pytest.param(["plot", "L2Loss", "--out", "fig.nope"], "unknown image format", marks=needs_matplotlib),
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert message in _one_line_error(capsys, *argv)


def test_grad_without_autograd_is_a_clear_error(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(plot, "importable", lambda name: False)
    err = _one_line_error(capsys, "plot", "L2Loss", "--grad")
    assert "autograd" in err and "pip install" in err


def test_missing_matplotlib_names_the_extra(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, module, None)
    code, _, err = run(capsys, "plot", "L2Loss")
    assert code == 1 and err.count("\n") == 1 and "pip install 'losskit[plot]'" in err
    code, _, err = run(capsys, "gallery", "--out", "unused")
    assert code == 1 and "pip install 'losskit[plot]'" in err


def test_argparse_rejects_bad_choices() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["tour", "--backend", "cupy"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("text", "value"),
    [("2", 2), ("0.5", 0.5), ("True", True), ("none", None), ("NTC", "NTC"), ("inf", np.inf), ("-1e3", -1000.0)],
)
def test_param_values(text: str, value: Any) -> None:
    assert cli.parse_value(text) == value


@pytest.mark.parametrize(
    "command",
    [
        ["tour", "--backend", "numpy", "--out", "{file}"],
        ["gallery", "--out", "{file}"],
        ["plot", "L1Loss", "--out", "{file}/x.png"],
        ["plot", "L1Loss", "--out", "{dir}"],
    ],
)
def test_out_that_cannot_be_written_is_refused_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    """--out naming an existing file where a folder is needed (or a folder for an image): one line,
    exit 2, and nothing printed first (the tour used to print all its cells, then fail)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    argv = [part.format(file=a_file, dir=tmp_path) for part in command]
    err = _one_line_error(capsys, *argv)
    assert "is not a folder" in err or "is a folder" in err


@needs_matplotlib
def test_range_takes_negative_numbers_in_scientific_notation(tmp_path: Path, capsys, drawn: list) -> None:
    code, _, err = run(
        capsys, "plot", "L1Loss", "--range", "-1e3", "5e2", "--points", "5", "--out", str(tmp_path / "r.png")
    )
    assert code == 0, err
    (fig,) = drawn
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), np.linspace(-1000, 500, 5))
