"""``losskit tour`` on every installed backend: the tutorial's numbers, and figures that hold the losses."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import losskit
from losskit import cli, tour

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _run(backend: str, out: Path | None, plots: bool = True) -> tuple[tour.TourResult, str]:
    if backend not in tour.installed_backends():
        pytest.skip(f"{backend} is not installed")
    if plots:
        pytest.importorskip("matplotlib")
    stream = io.StringIO()
    result = tour.run_tour(backend, out=out, plots=plots, stream=stream)
    return result, stream.getvalue()


@pytest.fixture(scope="module", params=tour.BACKENDS)
def toured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp(f"tour-{request.param}")
    result, text = _run(request.param, out)
    yield result, text, out
    for fig in result.figures.values():
        fig.clear()


_VALUE_LINE = re.compile(r"^   ([-\[\]\d., infa]+?)(?:    # .*)?$")  # what tour.fmt writes, then a note


def test_the_printed_code_runs_and_gives_the_printed_numbers(toured: tuple) -> None:
    """Pasted into Python cell by cell, the printed code gives the printed values (the torch cells
    fed float64 X to a float32 layer; softmax, sigmoid and log were not defined; W was `...`)."""
    _, text, _ = toured
    lines = text.splitlines()
    namespace: dict = {}
    checked = 0
    for i, line in enumerate(lines):
        if not line.startswith("   >>> "):
            continue
        k = i + 1
        while k < len(lines) and lines[k].startswith("   ... "):
            k += 1
        code = "\n".join(entry[7:] for entry in lines[i:k])
        body = ast.parse(code).body
        last = body.pop() if isinstance(body[-1], ast.Expr) else None
        with np.errstate(divide="ignore"):
            exec(compile(ast.Module(body, type_ignores=[]), "<pasted>", "exec"), namespace)
            value = None if last is None else eval(compile(ast.Expression(last.value), "<pasted>", "eval"), namespace)
        shown = _VALUE_LINE.match(lines[k]) if k < len(lines) else None
        assert (value is None) == (shown is None), code
        if shown:
            value = value.detach() if hasattr(value, "detach") else value
            assert tour.fmt(np.asarray(value)) == shown[1], code
            checked += 1
    assert checked >= 12


def test_l2_loss_and_its_definition(toured: tuple) -> None:
    result, text, _ = toured
    np.testing.assert_allclose(result.values["l2"], [0.5, 0.5])
    np.testing.assert_allclose(result.values["l2_definition"], [0.5, 0.5])
    assert ">>> loss(x, y)\n   [0.5, 0.5]\n" in text
    assert ">>> 0.5 * (x - y)**2\n   [0.5, 0.5]\n" in text
    assert "same numbers: yes" in text


def test_sample_weights(toured: tuple) -> None:
    result, text, _ = toured
    np.testing.assert_allclose(result.values["l2_weighted"], [0.5, 1.0])
    assert re.search(r"asarray\(\[1\.0, 2\.0\].*\)\)\n   \[0\.5, 1\.0\]\n", text)


def test_weight_gradient_of_the_dense_layer(toured: tuple) -> None:
    result, text, _ = toured
    X, W, y = (result.values[k].astype(np.float64) for k in ("X", "W", "y"))
    # L2Loss per example is (pred - y)^2 / 2 and Gluon's backward() sums them: dL/dW = (pred - y)^T X
    expected = ((X @ W.T)[:, 0] - y)[None, :] @ X
    np.testing.assert_allclose(result.values["weight_grad"], expected, rtol=1e-5)
    assert f"\n   {tour.fmt(result.values['weight_grad'])}\n" in text
    if result.backend == "torch":
        assert ">>> net.weight.grad\n" in text and "l.sum().backward()" in text
    elif result.backend == "jax":
        assert "jax.grad(" in text
    else:
        assert "NumPy has no autograd" in text and "--backend torch" in text
    if result.backend != "numpy":  # autograd's numbers, then the chain rule's by hand beside them
        np.testing.assert_allclose(result.values["weight_grad_by_hand"], expected, rtol=1e-5)
        assert "The chain rule by hand" in text


def test_softmax_cross_entropy_as_mxnet(toured: tuple) -> None:
    result, text, _ = toured
    np.testing.assert_allclose(result.values["softmax_ce"], [9.0001234, 6.00247569], rtol=1e-6)
    assert "   [9.0001, 6.0025]    # MXNet: [9.0001, 6.0025]\n" in text
    assert np.isinf(result.values["softmax_ce_two_steps"]).all()
    np.testing.assert_allclose(result.values["softmax_ce_fused"], [200.0])


def test_sigmoid_binary_cross_entropy(toured: tuple) -> None:
    result, text, _ = toured
    x, z = np.array([-2.0, 0.0, 3.0]), np.array([0.0, 1.0, 1.0])
    p = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(result.values["sigmoid_bce"], -(z * np.log(p) + (1 - z) * np.log(1 - p)), rtol=1e-5)
    assert "[0.1269, 0.6931, 0.0486]" in text
    assert np.isinf(result.values["sigmoid_bce_two_steps"]).all()
    np.testing.assert_allclose(result.values["sigmoid_bce_fused"], [100.0])


def test_sample_values_of_the_figures_losses(toured: tuple) -> None:
    result, text, _ = toured
    sample = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    for *_, names, _ in tour.FIGURES:
        for name in names:
            label = 0.0 if losskit.loss_info(name).curve == "regression" else 1.0
            expected = losskit.get_loss(name)(sample, np.full_like(sample, label))
            np.testing.assert_allclose(result.values[f"curve:{name}"], expected, rtol=1e-5, atol=1e-6)
            assert f"   {name:<31} {tour.fmt(result.values[f'curve:{name}'])}\n" in text


def test_figures_are_valid_png_and_svg(toured: tuple) -> None:
    result, text, out = toured
    expected = [out / f"{stem}.{ext}" for stem, *_ in tour.FIGURES for ext in ("png", "svg")]
    assert result.files == expected
    for stem, _, names, _ in tour.FIGURES:
        assert (out / f"{stem}.png").read_bytes()[:8] == PNG_MAGIC
        root = ET.parse(out / f"{stem}.svg").getroot()
        assert root.tag == f"{SVG_NS}svg"
        ids = {el.get("id") for el in root.iter()}
        assert {f"loss:{name}" for name in names} <= ids  # one drawn line per loss
    # it ends by saying where the figures are
    tail = text.rstrip().splitlines()
    assert f"Figures (PNG and SVG) are in {out}:" in tail[-6:][0]
    assert [line.strip() for line in tail[-5:-1]] == [str(path) for path in expected]


def test_figure_curves_hold_the_losses_values(toured: tuple) -> None:
    result, _, _ = toured
    tol = 1e-5  # the tour's arrays are float32 on JAX
    for stem, title, names, _ in tour.FIGURES:
        (ax,) = result.figures[stem].axes
        assert ax.get_title() == title and ax.get_xlabel() == "prediction x" and ax.get_ylabel() == "loss"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == list(names)
        lines = {line.get_gid(): line for line in ax.get_lines()}
        for name in names:
            x, y = np.asarray(lines[f"loss:{name}"].get_xdata()), np.asarray(lines[f"loss:{name}"].get_ydata())
            assert x[0] == -5.0 and x[-1] == 5.0
            label = 0.0 if "regression" in stem else 1.0
            picks = np.linspace(0, x.size - 1, 9).astype(int)
            direct = losskit.get_loss(name)(x[picks], np.full(picks.size, label))
            np.testing.assert_allclose(y[picks], direct, rtol=tol, atol=tol)


def test_no_plots_writes_nothing_and_says_so(tmp_path: Path) -> None:
    result, text = _run("numpy", tmp_path / "figs", plots=False)
    assert not (tmp_path / "figs").exists() and not result.files and not result.figures
    assert "No figures were written (--no-plots)." in text
    assert "[9.0001, 6.0025]" in text


def test_default_backend_is_torch_where_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tour, "installed_backends", lambda: ["numpy", "jax"])
    assert tour.default_backend() == "numpy"
    monkeypatch.setattr(tour, "installed_backends", lambda: ["numpy", "torch"])
    assert tour.default_backend() == "torch"


def test_cli_rejects_a_backend_that_is_not_installed(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(tour, "installed_backends", lambda: ["numpy"])
    assert cli.main(["tour", "--backend", "jax", "--no-plots"]) == 1  # a missing optional dependency
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "backend 'jax' is not installed; installed: numpy" in err
    assert "pip install 'losskit[jax]'" in err


def test_python_dash_m_losskit_tour() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "losskit", "tour", "--no-plots"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert f"on {tour.default_backend()} arrays" in proc.stdout.splitlines()[0]
    assert "[0.5, 0.5]" in proc.stdout and "[0.5, 1.0]" in proc.stdout and "[9.0001, 6.0025]" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("Next: ")


def test_cli_tour_writes_the_figures_where_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "figs"
    assert cli.main(["tour", "--backend", "numpy", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.{e}" for s, *_ in tour.FIGURES for e in ("png", "svg"))
    assert f"Figures (PNG and SVG) are in {out}:" in stdout


def test_an_out_folder_that_cannot_be_made_stops_the_tour_before_its_first_cell(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It stopped at section 4, with sections 5 and 6 never shown. /proc takes no new folder, even
    from root (a parent that is a file is refused by the CLI's own check, before this)."""
    pytest.importorskip("matplotlib")
    assert cli.main(["tour", "--backend", "numpy", "--out", "/proc/losskit-tour-figures"]) == 1
    captured = capsys.readouterr()
    assert "losskit tour: error:" in captured.err and "1. Basic usage" not in captured.out


def test_the_jax_tour_is_float32_with_x64_enabled():
    """With jax_enable_x64 (the test suite turns it on) JAX's default float is float64, where
    exp(-200) does not underflow: the two-step cross-entropy gave 200, not inf, and the tour's
    point was lost. Its arrays say float32."""
    jax = pytest.importorskip("jax")
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        result, text = _run("jax", None, plots=False)
    finally:
        jax.config.update("jax_enable_x64", previous)
    assert np.isinf(result.values["softmax_ce_two_steps"]).all()
    assert "dtype=jnp.float32" in text and result.values["dense_loss"].dtype == np.float32


def test_the_torch_tour_is_float32_with_a_float64_default_dtype():
    """After torch.set_default_dtype(torch.float64) the bias the tour printed (torch.zeros(1)) was
    float64 beside float32 X and W (net(X) raised), and the two-step cross-entropy gave 200."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        result, text = _run("torch", None, plots=False)
    finally:
        torch.set_default_dtype(previous)
    assert np.isinf(result.values["softmax_ce_two_steps"]).all()
    assert result.values["dense_loss"].dtype == np.float32


@pytest.mark.parametrize(
    ("hidden", "suggested", "hint"),
    [
        ((), "`losskit plot HuberLoss L1Loss --grad`", None),
        (("torch", "jax"), "`losskit plot HuberLoss L1Loss`", "pip install 'losskit[torch]'"),
        (("matplotlib", "torch", "jax"), "`losskit list`", "pip install 'losskit[all]'"),
    ],
)
def test_the_closing_hint_suggests_only_what_runs_here(
    hidden: tuple[str, ...], suggested: str, hint: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A core install (numpy only) is not told to run `losskit plot --grad`, which would fail twice."""
    for name in ("matplotlib", "torch"):
        if name not in hidden:
            pytest.importorskip(name)
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    stream = io.StringIO()
    tour.run_tour(backend="numpy", out=None, plots=False, stream=stream)
    last = stream.getvalue().rstrip().splitlines()[-1]
    assert last.startswith("Next: ") and suggested in last
    assert ("--grad" in last) == (not hidden)
    assert ("`losskit plot" in last) == ("matplotlib" not in hidden)
    if hint is not None:
        assert last.endswith(f"{hint}.") or f"{hint})." in last


def test_the_tour_says_no_when_the_loss_differs_from_its_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    """Section 1 compares loss(x, y) with 0.5 * (x - y)**2 and prints the verdict: it must be
    computed, not a constant 'yes'. An L2Loss off by a factor 2 (a broken build) must print NO."""

    class DoubledL2(losskit.L2Loss):
        def __call__(self, *args, **kwargs):
            return 2 * super().__call__(*args, **kwargs)

    monkeypatch.setattr(losskit, "L2Loss", DoubledL2)
    out = io.StringIO()
    tour.run_tour("numpy", out=None, plots=False, stream=out)
    text = out.getvalue()
    assert "same numbers: NO" in text and "same numbers: yes" not in text


def test_the_numpy_softmax_cell_is_the_safe_one() -> None:
    """The tour's two-step softmax is documented as computed safely (the largest score subtracted
    first): pasted as printed, with scores 1000 apart it must give the probabilities (1, 0) by
    hand, not exp(1000) / exp(1000) = nan. (Section 5's recorded numbers cannot tell: -log(p)[:, 0]
    is inf for x = [0, 200] either way.)"""
    ns = {"np": np, "x": np.array([[1000.0, 0.0], [0.0, 1000.0]], dtype=np.float32)}
    with np.errstate(over="ignore", invalid="ignore"):
        exec(tour._SOFTMAX["numpy"], ns)
    np.testing.assert_array_equal(ns["p"], [[1.0, 0.0], [0.0, 1.0]])


def test_the_classification_figure_is_cut_at_seven_with_room_below_zero(tmp_path) -> None:
    """FIGURES gives the classification figure a top of 7 (SquaredHingeLoss reaches 36); the
    bottom sits 5% of it below 0 (-0.35, by hand), so that the losses that reach 0 stay visible
    above the frame."""
    pytest.importorskip("matplotlib")
    result = tour.run_tour("numpy", out=tmp_path, plots=True, stream=io.StringIO())
    (ax,) = result.figures["classification-losses"].axes
    assert ax.get_ylim() == pytest.approx((-0.35, 7.0))
