"""``losskit gallery``: one card per registered loss, images that load in a real browser, new losses for free."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

import losskit  # noqa: E402
from custom_losses import Pinball  # noqa: E402
from losskit import cli, gallery, plot, registry  # noqa: E402
from losskit.losses.base import Loss  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """The cards of a gallery page: for each, its data-loss, and the images, text and TeX inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, dict[str, Any]] = {}
        self.images: list[dict[str, str]] = []
        self._card: dict[str, Any] | None = None
        self._depth = 0
        self._in_tex = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section" and "data-loss" in a:
            self._card = {"family": a["data-family"], "images": [], "text": "", "tex": []}
            self.cards[a["data-loss"]] = self._card
            self._depth = 0
        if self._card is not None and tag == "section":
            self._depth += 1
        if tag == "img":
            self.images.append(a)
            if self._card is not None:
                self._card["images"].append(a)
        if tag == "pre" and "tex" in a.get("class", "") and self._card is not None:
            self._in_tex = True
            self._card["tex"].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_tex = False
        if tag == "section" and self._card is not None:
            self._depth -= 1
            if self._depth == 0:
                self._card = None

    def handle_data(self, data: str) -> None:
        if self._card is not None:
            self._card["text"] += data
            if self._in_tex:
                self._card["tex"][-1] += data


def parse(page: Path) -> Page:
    parser = Page()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gallery.build_gallery(tmp_path_factory.mktemp("gallery"), points=41, progress=False)


def test_one_card_per_registered_loss(built: Path) -> None:
    page = parse(built)
    assert list(page.cards) == losskit.list_losses()
    for name, card in page.cards.items():
        info = losskit.loss_info(name)
        assert card["family"] == info.family
        assert cli._plain(info.summary).split()[0] in card["text"]
        for param, default in info.params.items():
            assert param in card["text"] and repr(default) in card["text"], (name, param)
        # the docstring's formula, as TeX and (where mathtext can) as an image
        assert card["tex"] == gallery.math_blocks(inspect.getdoc(info.cls)), name


def test_every_card_has_its_curve_or_says_why(built: Path) -> None:
    page = parse(built)
    for name, card in page.cards.items():
        curves = [img for img in card["images"] if img.get("class") == "curve"]
        assert curves or "No 1-D curve:" in card["text"], name
        assert "could not draw it" not in card["text"], name  # kept for losses registered later


def test_with_autograd_every_curve_has_its_gradient_panel(built: Path) -> None:
    """torch is a dev dependency: the page says whose autograd drew the gradients, and every curve
    is two panels wide (760 px; one panel, test_without_autograd_the_cards_show_values_only's, 410)."""
    assert "Gradients by torch autograd." in built.read_text(encoding="utf-8")
    widths = {
        name: png_size(built.parent / img["src"])[0]
        for name, card in parse(built).cards.items()
        for img in card["images"]
        if img.get("class") == "curve"
    }
    assert widths and all(w > 700 for w in widths.values()), sorted(widths.items(), key=lambda kv: kv[1])[:3]


def test_every_formula_is_typeset(built: Path) -> None:
    """matplotlib's mathtext typesets every docstring formula (TripletHardLoss's \\texttt fell back
    to its TeX source: mathtext knows \\mathtt only)."""
    html_text = built.read_text(encoding="utf-8")
    assert "mathtext cannot typeset it" not in html_text


def test_summaries_show_inline_math_as_text(built: Path) -> None:
    html_text = built.read_text(encoding="utf-8")
    assert "<code>ε (1 - p_t)</code>" in html_text and "<code>\\varepsilon" not in html_text


@pytest.mark.parametrize("name", ["NLLLoss", "JSDLoss", "InfoNCELoss", "DiceLoss", "TverskyLoss"])
def test_losses_with_a_named_slice_get_their_curve(built: Path, name: str) -> None:
    # these once had "No 1-D curve" cards (NLLLoss a straight line); each now has a slice of its own
    card = parse(built).cards[name]
    (curve,) = [img for img in card["images"] if img.get("class") == "curve"]
    assert curve["src"] == f"img/{name}-curve.png"
    assert "No 1-D curve" not in card["text"]
    drawn = plot.curve_for(name)
    assert f"x: {drawn.xlabel}; {drawn.what}" in card["text"]  # the card says what the slice fixes


def test_every_image_is_a_png_next_to_the_page(built: Path) -> None:
    page = parse(built)
    assert page.images
    for img in page.images:
        src = img["src"]
        assert not re.match(r"^[a-z]+:", src), src  # relative: nothing from the network
        width, height = png_size(built.parent / src)
        assert width > 50 and height > 20, src
    formulas = {name for name, card in page.cards.items() for img in card["images"] if img.get("class") == "formula"}
    assert {"L2Loss", "HuberLoss", "CosineEmbeddingLoss"} <= formulas  # incl. two `cases` formulas


def test_the_page_needs_no_network(built: Path) -> None:
    text = built.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_points_below_two_are_refused(tmp_path: Path) -> None:
    for points in (1, -5):  # empty cards, or "could not draw it" on every card
        with pytest.raises(ValueError, match=f"points must be at least 2, got {points}"):
            gallery.build_gallery(tmp_path, points=points)
    assert not any(tmp_path.iterdir())


def test_progress_bar_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    gallery.build_gallery(tmp_path / "one", points=11, names=["L2Loss", "HingeLoss"])
    err = capsys.readouterr().err
    assert "losskit gallery" in err and "2/2" in err  # tqdm's bar on stderr
    # the command, on a registry cut down to two losses (the whole page is the fixture's)
    monkeypatch.setattr(registry, "_REGISTRY", {n: registry._REGISTRY[n] for n in ("L1Loss", "CTCLoss")})
    assert cli.main(["gallery", "--out", str(tmp_path / "cli"), "--points", "5", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out == f"wrote {tmp_path / 'cli' / 'index.html'} (2 losses); open it in a browser\n" and err == ""
    assert list(parse(tmp_path / "cli" / "index.html").cards) == ["L1Loss", "CTCLoss"]


# ----------------------------------------------------------------------------------------------
# losses registered later appear by themselves; one that cannot be drawn still gets its card


class _Broken(Loss):
    r"""A segmentation loss no 1-D rule can call.

    .. math:: \begin{tabular}{c} not mathtext \end{tabular}
    """

    def __init__(self, smooth: float = 1.0, weight: float | None = None, batch_axis: int = 0) -> None:
        super().__init__(weight, batch_axis)

    def forward(self, pred: Any, label: Any, sample_weight: Any = None) -> Any:
        raise RuntimeError("needs (N, C, H, W) inputs")


def test_later_losses_get_cards_without_touching_the_gallery(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a registry holding only the new losses keeps this test quick
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_LOOKUP", {})
    registry.register("regression", curve="regression")(type("QuantileLoss", (Pinball,), {}))
    registry.register("segmentation")(type("DiceishLoss", (_Broken,), {}))
    registry.register("classification", curve="binary")(type("FailsLateLoss", (_Broken,), {}))

    page_path = gallery.build_gallery(tmp_path, points=11, progress=False)
    page = parse(page_path)
    assert list(page.cards) == ["QuantileLoss", "FailsLateLoss", "DiceishLoss"]
    quantile, fails, dice = (page.cards[n] for n in page.cards)
    assert [img["class"] for img in quantile["images"]] == ["formula", "curve"]
    assert "quantile" in quantile["text"] and "0.5" in quantile["text"]
    assert "No 1-D curve:" in dice["text"] and "no generic 1-D slice fits DiceishLoss(pred, label)" in dice["text"]
    assert "TeX source" in dice["text"] and dice["tex"] == [r"\begin{tabular}{c} not mathtext \end{tabular}"]
    assert "smooth" in dice["text"]
    assert "could not draw it: RuntimeError: needs (N, C, H, W) inputs" in fails["text"]


def test_without_autograd_the_cards_show_values_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", {"HuberLoss": registry._REGISTRY["HuberLoss"]})
    monkeypatch.setattr(gallery.plot, "importable", lambda name: False)
    page_path = gallery.build_gallery(tmp_path, points=11, progress=False)
    assert "No gradient curves: gradients are computed by autograd and need torch or jax" in page_path.read_text()
    (curve,) = [img for img in parse(page_path).cards["HuberLoss"]["images"] if img.get("class") == "curve"]
    width, height = png_size(tmp_path / curve["src"])
    assert width < 700  # one panel, not two


# ----------------------------------------------------------------------------------------------
# the page in a real browser

_CHECK = """<script>
window.addEventListener("load", () => {
  const report = Array.from(document.images).map((img) => {
    const box = img.getBoundingClientRect();
    return {src: img.getAttribute("src"), complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
            shownW: box.width, shownH: box.height};
  });
  const pre = document.createElement("pre");
  pre.id = "image-report";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
});
</script>
"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
def test_every_image_loads_in_headless_chromium(built: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(built.parent, site)
    page = site / "index.html"
    # a copy of the page under test with a script that writes what each <img> loaded into the DOM
    check = site / "check.html"
    check.write_text(page.read_text(encoding="utf-8").replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    proc = chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", check.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r'<pre id="image-report">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert match, "the check script did not run:\n" + proc.stdout[-2000:]
    report = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(report) == len(parse(page).images) > 0
    broken = [
        r for r in report if not (r["complete"] and r["w"] > 0 and r["h"] > 0 and r["shownW"] > 0 and r["shownH"] > 0)
    ]
    assert not broken, broken

    shot = tmp_path / "gallery.png"
    proc = chromium(tmp_path, "--hide-scrollbars", "--window-size=1400,2400", f"--screenshot={shot}", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png_size(shot) == (1400, 2400)
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one


def test_without_tqdm_the_gallery_is_built_with_no_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tqdm draws the progress bar only: without it (or with progress off) the page is still written."""
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)
    for progress in (False, True):
        page = gallery.build_gallery(tmp_path / str(progress), points=11, progress=progress, names=["L1Loss"])
        assert list(parse(page).cards) == ["L1Loss"]
