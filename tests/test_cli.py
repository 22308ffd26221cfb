"""The ``losskit`` command line: ``list`` and ``plot``, their figures, and one-line errors with exit status 2."""

from __future__ import annotations

import os
import re
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


def test_list_shows_inline_math_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0 and "\\" not in out  # no raw TeX such as \varepsilon
    (poly,) = [row for row in out.splitlines() if row.startswith("PolyLoss ")]
    assert poly.endswith("cross-entropy plus ε (1 - p_t).")


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


def _one_line_error(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 2) -> str:
    code, out, err = run(capsys, *argv)
    assert code == status and out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"losskit {argv[0]}: error: ")
    return err


def test_unknown_loss_lists_the_valid_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _one_line_error(capsys, "plot", "L2Loss", "NoSuchLoss", "--out", str(tmp_path / "x.png"))
    assert "unknown loss 'NoSuchLoss'" in err
    assert all(name in err for name in losskit.list_losses())
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("HubberLoss", "HuberLoss"), ("sigmoidbceloss2", "SigmoidBCELoss"), ("L2", "L2Loss"), ("huber", "HuberLoss")],
)
def test_unknown_loss_suggests_the_nearest_name(capsys: pytest.CaptureFixture[str], typed: str, meant: str) -> None:
    assert f"unknown loss {typed!r}; did you mean {meant}? valid names: " in _one_line_error(capsys, "plot", typed)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("L2", "L2Loss"),
        ("huber", "HuberLoss"),
        ("dice", "DiceLoss"),
        ("focal", "SigmoidFocalLoss or SoftmaxFocalLoss"),
        ("BCE", "SigmoidBinaryCrossEntropyLoss"),
    ],
)
def test_get_loss_suggests_the_nearest_name_as_the_cli_does(typed: str, meant: str) -> None:
    """The CLI had the hint and losskit.get_loss did not; a name without its "Loss" got none."""
    with pytest.raises(ValueError, match=f"unknown loss {typed!r}; did you mean {meant}\\? valid names: "):
        losskit.get_loss(typed)


def test_an_unknown_option_names_the_losss_own() -> None:
    """Keras's and optax's delta is HuberLoss's rho: the error says which options there are."""
    with pytest.raises(TypeError, match="unexpected keyword arguments: delta; its options: rho, weight, batch_axis"):
        losskit.HuberLoss(delta=2.0)


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
            ["plot", "DiceLoss", "--param", "axis=5"],
            "DiceLoss has no 1-D curve: axis=5 is out of range",
            marks=needs_matplotlib,
        ),
        (["plot", "SoftmaxCELoss", "--label", "3"], "label must be 0 or 1"),
        # a class is an integer: 0.5 was truncated to class 0, nan raised Python's own message
        *(
            (
                ["plot", name, "--label", "0.5"],
                f"{name}: the softmax curve has two classes: label must be 0 or 1, got 0.5",
            )
            for name in ("SoftmaxCrossEntropyLoss", "NLLLoss", "SoftmaxFocalLoss", "PolyLoss", "MultiMarginLoss")
        ),
        (["plot", "SoftmaxCELoss", "--label", "nan"], "label must be 0 or 1, got nan"),
        (["plot", "PolyLoss", "--label", "nan"], "PolyLoss: the curve's label must be a finite number, got nan"),
        (["plot", "CosineEmbeddingLoss", "--label", "nan"], "label is 1 or -1, got nan"),
        (["plot", "L2Loss", "--label", "nan"], "L2Loss: the curve's label must be a finite number, got nan"),
        (["plot", "PoissonNLLLoss", "--label", "inf"], "the curve's label must be a finite number, got inf"),
        (["plot", "TripletLoss", "--label", "1"], "error: TripletLoss: the triplet curve has no label to set\n"),
        # options for which a loss has no curve, said in the loss's terms (matplotlib's and the
        # loss's messages about arrays the user never gave were shown)
        *(
            (["plot", name, "--param", f"reduction={r}"], f"reduction='{r}' gives one number for the whole batch")
            for name in ("SoftmaxCELoss", "NLLLoss")
            for r in ("mean", "sum")
        ),
        (["plot", "JSDLoss", "--param", "axis=0"], "JSDLoss has no 1-D curve: the divergence curve puts the classes"),
        (["plot", "SoftmaxCELoss", "--param", "axis=0"], "no 1-D curve: the softmax curve puts the classes on axis 1"),
        (["plot", "PolyLoss", "--param", "axis=0"], "no 1-D curve: the softmax curve puts the classes on axis 1"),
        (["plot"], "give the names of the losses to plot"),
        (["plot", "--param", "rho=2"], "give the names of the losses to plot"),
        (["gallery", "--points", "1"], "--points needs 2 to 100000, got 1"),
        (["gallery", "--points", "-5"], "--points needs 2 to 100000, got -5"),
        (["plot", "L2Loss", "--points", "100000000000"], "--points needs 2 to 100000, got 100000000000"),  # no OOM
        (["plot", "L2Loss", "--range", "2", "1"], "--range A B needs A < B"),
        (["plot", "L2Loss", "--range", "-1e308", "1e308"], "a finite distance apart"),  # savefig's traceback
        (["plot", "L2Loss", "--range", "-inf", "5"], "--range A B needs finite numbers, got -inf 5"),
        # values of 1e616 overflow to inf: matplotlib's tick layout fails inside savefig
        pytest.param(["plot", "HuberLoss", "--label", "1e308"], "cannot draw the axes", marks=needs_matplotlib),
        (["plot", "L2Loss", "--range", "0", "nan"], "--range A B needs finite numbers"),
        pytest.param(["plot", "L2Loss", "--out", "fig.nope"], "unknown image format", marks=needs_matplotlib),
        # the formats matplotlib really writes, not just three of them
        pytest.param(["plot", "L2Loss", "--out", "fig.nope"], ".jpeg, .jpg, .pdf", marks=needs_matplotlib),
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert message in _one_line_error(capsys, *argv)


def test_grad_without_autograd_is_a_clear_error(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(plot, "importable", lambda name: False)
    err = _one_line_error(capsys, "plot", "L2Loss", "--grad", status=1)  # a missing optional dependency
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


def test_backend_names_are_case_insensitive_like_loss_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from losskit import tour

    ran: list[str] = []
    monkeypatch.setattr(tour, "run_tour", lambda backend, **kwargs: ran.append(backend))
    assert cli.main(["tour", "--backend", "NumPy", "--no-plots"]) == 0
    assert ran == ["numpy"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"losskit {losskit.__version__}\n"


def test_list_help_names_the_families(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["list", "--help"])
    assert "only the losses of this family: regression, classification, metric" in " ".join(
        capsys.readouterr().out.split()
    )


@pytest.mark.parametrize(
    "argv",
    [["list"], ["tour", "--backend", "numpy", "--no-plots"]],
)
def test_a_reader_that_stops_early_ends_the_command_quietly(argv: list[str]) -> None:
    """`losskit list | head -2`: the pipe's reader has gone; no BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)  # every write to the pipe now fails, as after `head` has exited
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "losskit", *argv], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write)
    assert proc.returncode == 1 and proc.stderr == ""


@pytest.mark.parametrize("command", [["tour", "--backend", "numpy"], ["gallery"], ["plot", "L1Loss"]])
def test_a_file_the_system_refuses_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    too_long = tmp_path / ("a" * 300)
    err = _one_line_error(capsys, *command, "--out", str(too_long), status=1)
    assert f"error: {too_long}: File name too long" in err


@pytest.mark.parametrize(
    ("text", "value"),
    [("2", 2), ("0.5", 0.5), ("True", True), ("none", None), ("NTC", "NTC"), ("inf", np.inf), ("-1e3", -1000.0)],
)
def test_param_values(text: str, value: Any) -> None:
    assert cli.parse_value(text) == value


def test_none_is_a_string_for_string_options() -> None:
    """``reduction=none`` (its default) was parsed as Python's None and refused."""
    (params,) = cli.assign_params([losskit.loss_info("SoftmaxCELoss")], ["reduction=none", "ignore_index=none"])
    assert params == {"reduction": "none", "ignore_index": None}


@pytest.mark.parametrize("order", [["HingeLoss.margin=2", "margin=3"], ["margin=3", "HingeLoss.margin=2"]])
def test_a_losss_own_param_wins_over_a_shared_one_in_either_order(order: list[str]) -> None:
    """``HuberLoss.rho=2 rho=3`` plotted rho=3 (the later one won): the loss's own value stands."""
    infos = [losskit.loss_info("HingeLoss"), losskit.loss_info("SquaredHingeLoss")]
    hinge, squared = cli.assign_params(infos, order)
    assert hinge == {"margin": 2} and squared == {"margin": 3}


@pytest.mark.parametrize("twice", [["rho=2", "rho=3"], ["HuberLoss.rho=2", "huberloss.rho=3"]])
def test_a_param_given_twice_for_a_loss_is_refused(twice: list[str]) -> None:
    with pytest.raises(
        cli.UsageError, match=f"--param rho is given twice for HuberLoss: {twice[0]!r} and {twice[1]!r}"
    ):
        cli.assign_params([losskit.loss_info("HuberLoss")], twice)


@needs_matplotlib
def test_plot_takes_reduction_none(tmp_path: Path, capsys: pytest.CaptureFixture[str], drawn: list) -> None:
    argv = ["plot", "SoftmaxCELoss", "--param", "reduction=none", "--points", "5", "--out", str(tmp_path / "r.png")]
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    (fig,) = drawn
    x = np.linspace(-5, 5, 5)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), np.logaddexp(0, -x))


@needs_matplotlib
@pytest.mark.parametrize(
    "argv",
    [
        ["--param", "rho=2", "HuberLoss", "L1Loss"],  # the loss names after --param were taken as parameters
        ["HuberLoss", "--param", "rho=2", "L1Loss"],
        ["--param", "HuberLoss.rho=2", "--param", "weight=1", "HuberLoss", "L1Loss"],
        # names between other options, in the order given (argparse takes one positional list)
        ["HuberLoss", "--grad", "L1Loss", "--param", "HuberLoss.rho=2"],
        ["--grad", "HuberLoss", "--label", "0", "L1Loss", "--param", "HuberLoss.rho=2"],
        ["HuberLoss", "--param", "HuberLoss.rho=2", "--range", "-5", "5", "L1Loss"],
    ],
)
def test_loss_names_may_follow_param(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], drawn: list, argv: list[str]
) -> None:
    code, _, err = run(capsys, "plot", *argv, "--points", "5", "--out", str(tmp_path / "p.png"))
    assert code == 0, err
    (fig,) = drawn
    assert [line.get_gid() for line in fig.axes[0].get_lines()] == ["loss:HuberLoss(rho=2)", "loss:L1Loss"]


@pytest.mark.parametrize(
    ("argv", "left_over"),
    [
        (["plot", "L1Loss", "--grad", "--bogus", "L2Loss"], "--bogus L2Loss"),
        (["plot", "L1Loss", "-x"], "-x"),
        (["list", "L1Loss"], "L1Loss"),
    ],
)
def test_words_left_over_are_refused(capsys: pytest.CaptureFixture[str], argv: list[str], left_over: str) -> None:
    """Loss names may stand between a plot's options; an unknown option, or a word another command
    does not take, is still a usage error naming it."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert f"unrecognized arguments: {left_over}\n" in capsys.readouterr().err


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


def test_a_closed_stdout_is_no_traceback() -> None:
    """`losskit list >&-`: sys.stdout is None; the flush that catches a gone reader crashed on it."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.stdout.close(); sys.stdout = None; "
         "from losskit import cli; sys.exit(cli.main(['list']))"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr


def test_a_name_contained_in_exactly_three_losses_lists_all_three():
    """registry._hint lists the losses containing the typed name when there are 1 to 3 of them
    ("up to three"); "nll" is in exactly three registered names (by hand)."""
    with pytest.raises(
        ValueError,
        match=re.escape("unknown loss 'nll'; did you mean GaussianNLLLoss or NLLLoss or PoissonNLLLoss? valid names: "),
    ):
        losskit.get_loss("nll")
