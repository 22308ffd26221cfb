"""``losskit gallery``: a static HTML page with one card per registered loss.

Each card shows the loss's name and aliases, its one-line summary, the formula of its docstring
(typeset by matplotlib's mathtext into a PNG, with the TeX source beside it), its value and
gradient curves (from :func:`losskit.plot.curve_for`), and its parameters with their defaults.
The page reads the registry, so a loss registered later gets its card without any change
here; a loss that cannot be drawn still gets a card that says why. Everything the page needs
sits next to it (no CDN, no network).
"""

from __future__ import annotations

import html
import inspect
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from . import plot
from .registry import FAMILIES, LossInfo, list_losses, loss_info

DEFAULT_POINTS = 161
_MATH_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. math::[ \t]*(?P<first>.*)$")
_CASES = re.compile(r"\\begin\{cases\}(?P<body>.*?)\\end\{cases\}", re.DOTALL)
_SPACING = re.compile(r"^(?:\s|,|\\[,;:! ]|\\q?quad)+")
# TeX that mathtext lacks, and what it reads instead (sized delimiters become plain ones)
_MATHTEXT_SUBS = (
    (re.compile(r"\\[bB]igg?[lr]?(?![a-zA-Z])"), ""),
    (re.compile(r"\\tfrac"), r"\\frac"),
    (re.compile(r"\\frac(\d)(\d)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\[lr]Vert"), r"\\Vert"),
    (re.compile(r"\\(le|ge)(?![a-zA-Z])"), r"\\\1q"),
    (re.compile(r"\\texttt"), r"\\mathtt"),  # mathtext has \mathtt only
)
# TeX commands as plain text, for the one-line summaries (`losskit list`, the cards); others stay TeX
_TEX_TEXT = {
    **dict(zip("alpha beta gamma delta varepsilon epsilon lambda mu sigma tau rho theta pi".split(), "αβγδεελμστρθπ")),
    **{"ell": "ℓ", "cdot": "·", "times": "×", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "infty": "∞"},
    **{"log": "log", "exp": "exp", "max": "max", "min": "min"},
}


def tex_to_text(tex: str) -> str:
    r"""Inline TeX as plain text: Greek letters and common operators become their Unicode signs.

    >>> tex_to_text(r"\varepsilon (1 - p_t)"), tex_to_text(r"\alpha \cdot x \le \infty"), tex_to_text(r"\frac12")
    ('ε (1 - p_t)', 'α · x ≤ ∞', '\\frac12')
    """
    return re.sub(r"\\([a-zA-Z]+)", lambda m: _TEX_TEXT.get(m[1], m[0]), tex)


def math_blocks(doc: str) -> list[str]:
    """The TeX of each ``.. math::`` block of a docstring, its lines joined by spaces.

    >>> math_blocks('''Intro.
    ...
    ... .. math:: a = b
    ...
    ... .. math::
    ...     c = d
    ...     + e
    ...
    ... After.''')
    ['a = b', 'c = d + e']
    """
    lines = inspect.cleandoc(doc).splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        body = [match["first"].strip()]
        indent = len(match["indent"])
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i].strip())
            i += 1
        blocks.append(" ".join(part for part in body if part))
    return blocks


def mathtext_lines(tex: str) -> list[str] | None:
    r"""``tex`` rewritten as lines that matplotlib's mathtext can typeset, or ``None`` if it can't.

    A ``cases`` environment becomes one line per case (mathtext has no environments).

    >>> mathtext_lines(r"\ell = \begin{cases} a & x > 0 \\ b & \text{otherwise} \end{cases}, \quad c = 1")
    ['\\ell = a \\quad \\mathrm{if}\\ x > 0', '\\ell = b \\quad \\text{otherwise}', 'c = 1']
    >>> mathtext_lines(r"\begin{tabular}") is None
    True
    """
    from matplotlib.mathtext import MathTextParser

    for pattern, replacement in _MATHTEXT_SUBS:
        tex = pattern.sub(replacement, tex)
    cases = _CASES.search(tex)
    if cases:
        prefix, suffix = tex[: cases.start()].strip(), _SPACING.sub("", tex[cases.end() :]).strip()
        lines = []
        for row in cases["body"].split(r"\\"):
            expr, _, cond = (part.strip() for part in row.partition("&"))
            if "otherwise" not in cond and cond:
                cond = r"\mathrm{if}\ " + cond
            lines.append(f"{prefix} {expr}" + (rf" \quad {cond}" if cond else ""))
        lines += [suffix] if suffix else []
    else:
        lines = [tex.strip()]
    # a \qquad between two statements (sparse and dense forms, say) starts a new line
    lines = [part for line in lines for part in _split_top_level(line, r"\qquad")]
    parser = MathTextParser("path")
    try:
        for line in lines:
            parser.parse(f"${line}$")
    except ValueError:
        return None
    return lines


def _split_top_level(line: str, separator: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(line):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if (
            depth == 0
            and line.startswith(separator, i)
            and not line[i + len(separator) : i + len(separator) + 1].isalpha()
        ):
            parts.append(line[start:i])
            start = i + len(separator)
    parts.append(line[start:])
    cleaned = (re.sub(r"(?:\s|,|\\[,;:! ]|\\q?quad)+$", "", _SPACING.sub("", part)) for part in parts)
    return [part for part in cleaned if part]


def render_formula(lines: list[str], path: Path, fontsize: float = 15, dpi: int = 100) -> None:
    """Typeset mathtext ``lines`` into a PNG at ``path``, one below the other.

    The lines are measured first (as ``matplotlib.mathtext.math_to_image`` does) so that the
    figure is drawn once at its final size, instead of twice for ``bbox_inches="tight"``.
    """
    figure_mod = plot.require("matplotlib.figure")
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    prop = FontProperties(size=fontsize)
    parser = MathTextParser("path")
    sizes = [parser.parse(f"${line}$", dpi=72, prop=prop)[:3] for line in lines]  # width, height, depth in pt
    pad, gap = 4.0, 6.0
    width = max(w for w, _, _ in sizes) + 2 * pad
    height = sum(h for _, h, _ in sizes) + gap * (len(lines) - 1) + 2 * pad
    fig = figure_mod.Figure(figsize=(width / 72, height / 72))
    top = height - pad
    for line, (_, h, depth) in zip(lines, sizes):
        fig.text(pad / width, (top - h + depth) / height, f"${line}$", fontproperties=prop)
        top -= h + gap
    fig.savefig(path, dpi=dpi, facecolor="white")


@dataclass
class Card:
    """One loss's card, as the page shows it."""

    info: LossInfo
    formulas: list[tuple[str, str | None]] = field(default_factory=list)  # (TeX, image file or None)
    curve: plot.Curve | None = None
    curve_image: str | None = None
    no_curve: str = ""


def _draw_card_curve(card: Card, img_dir: Path, points: int, grad_backend: str | None) -> None:
    info = card.info
    try:
        curve = plot.curve_for(info)
        card.curve = curve
        if curve.fn is None:
            card.no_curve = curve.reason
            return
        grad = grad_backend is not None
        # fixed margins: constrained layout would cost a third of the page's rendering time
        width = 7.6 if grad else 4.1
        fig, axes = plot.new_figure(grad=grad, width=width, height=2.7, layout=None)
        fig.subplots_adjust(left=0.62 / width, right=1 - 0.08 / width, bottom=0.19, top=0.9, wspace=0.3)
        # no legend: the card names the loss already
        plot.draw([curve], grad=grad, ax=axes, backend=grad_backend, points=points, title="loss", legend=False)
        name = f"{info.name}-curve.png"
        fig.savefig(img_dir / name, dpi=100, facecolor="white")
        card.curve_image = name
    except Exception as exc:  # a future loss that no rule can draw must not take the page down
        card.no_curve = f"could not draw it: {type(exc).__name__}: {exc}"


def _render_card_formulas(card: Card, img_dir: Path) -> None:
    for k, tex in enumerate(math_blocks(inspect.getdoc(card.info.cls) or "")):
        image = None
        lines = mathtext_lines(tex)
        if lines is not None:
            image = f"{card.info.name}-formula-{k}.png"
            try:
                render_formula(lines, img_dir / image)
            except Exception:  # mathtext parsed it but could not lay it out: show the TeX only
                image = None
        card.formulas.append((tex, image))


def build_gallery(
    out: str | Path,
    *,
    points: int = DEFAULT_POINTS,
    progress: bool = True,
    backend: str | None = None,
    names: list[str] | None = None,
) -> Path:
    """Write ``out/index.html`` and its images for every registered loss (or just ``names``).

    Gradients come from autograd on ``backend`` (PyTorch, else JAX by default); without
    either, the cards show values only and the page says so. Returns the page's path.
    """
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    plot.require("matplotlib")
    out = Path(out)
    img_dir = out / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    try:
        grad_backend: str | None = plot.autograd_backend(backend)
        grad_note = f"Gradients by {grad_backend} autograd."
    except RuntimeError as exc:
        grad_backend, grad_note = None, f"No gradient curves: {exc}."
    infos = [loss_info(name) for name in (names if names is not None else list_losses())]
    cards = []
    bar = plot.progress_bar(len(infos), quiet=not progress, desc="losskit gallery", unit="loss")
    try:
        for info in infos:
            bar.set_postfix_str(info.name)
            card = Card(info)
            _render_card_formulas(card, img_dir)
            _draw_card_curve(card, img_dir, points, grad_backend)
            cards.append(card)
            bar.update(1)
    finally:
        bar.close()
    page = out / "index.html"
    page.write_text(_page(cards, grad_note), encoding="utf-8")
    return page


# --------------------------------------------------------------------------------------------
# HTML


def _inline_rst(text: str) -> str:
    """Escape ``text`` and turn RST ````code```` and ``:math:`...``` (as plain text) into ``<code>``."""
    text = html.escape(text)
    return re.sub(
        r"(?::math:`([^`]+)`|``([^`]+)``)", lambda m: f"<code>{tex_to_text(m[1]) if m[1] else m[2]}</code>", text
    )


def _card_html(card: Card) -> str:
    info = card.info
    e = html.escape
    aliases = f' <span class="alias">alias {", ".join(map(e, info.aliases))}</span>' if info.aliases else ""
    formulas = []
    for tex, image in card.formulas:
        source = f'<pre class="tex">{e(tex)}</pre>'
        if image:
            img = f'<img class="formula" src="img/{e(image)}" alt="formula of {e(info.name)}">'
            formulas.append(f'<div class="math">{img}<details><summary>TeX</summary>{source}</details></div>')
        else:
            note = '<p class="note">TeX source (matplotlib mathtext cannot typeset it):</p>'
            formulas.append(f'<div class="math">{note}{source}</div>')
    if not formulas:
        formulas.append('<p class="note">No formula in the docstring.</p>')
    if card.curve_image:
        curve = card.curve
        assert curve is not None
        what = f"x: {curve.xlabel}; {curve.what}" if curve.what else f"x: {curve.xlabel}"
        drawing = (
            f'<img class="curve" src="img/{e(card.curve_image)}" alt="{e(info.name)} against x">'
            f'<p class="what">{e(what)}</p>'
        )
    else:
        drawing = f'<p class="no-curve">No 1-D curve: {e(card.no_curve)}</p>'
    rows = "".join(
        f"<tr><td><code>{e(k)}</code></td><td><code>{e(repr(v))}</code></td></tr>" for k, v in info.params.items()
    )
    params = (
        f'<table class="params"><tr><th>parameter</th><th>default</th></tr>{rows}</table>'
        if rows
        else '<p class="note">No parameters besides <code>weight</code> and <code>batch_axis</code>.</p>'
    )
    return textwrap.dedent(f"""\
        <section class="card" id="{e(info.name)}" data-loss="{e(info.name)}" data-family="{e(info.family)}">
          <h2>{e(info.name)}{aliases}</h2>
          <p class="family">{e(info.family)}</p>
          <p class="summary">{_inline_rst(info.summary)}</p>
          {"".join(formulas)}
          {drawing}
          {params}
        </section>""")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f4f5f7; color: #1d1f23; }
header { padding: 1.2rem 2rem; background: #1f3b57; color: #fff; }
header h1 { margin: 0 0 .3rem 0; font-size: 1.6rem; }
header p { margin: .2rem 0; opacity: .9; }
nav { padding: .6rem 2rem; background: #e4e8ee; font-size: .9rem; }
nav a { margin-right: .8rem; color: #1f3b57; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 1.2rem; padding: 1.5rem 2rem; }
.card { background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.15); padding: 1rem 1.2rem; }
.card h2 { margin: 0; font-size: 1.25rem; }
.alias { font-weight: normal; font-size: .85rem; color: #5b6470; }
.family { margin: .1rem 0 .6rem 0; text-transform: uppercase; font-size: .75rem; letter-spacing: .08em;
  color: #7a4e9c; }
.summary { margin: .4rem 0; }
.math { margin: .6rem 0; }
img.formula { max-width: 100%; display: block; }
img.curve { max-width: 100%; height: auto; display: block; margin-top: .6rem; }
details summary { font-size: .75rem; color: #5b6470; cursor: pointer; }
pre.tex { font-size: .75rem; background: #f6f8fa; padding: .4rem; overflow-x: auto; white-space: pre-wrap;
  color: #444; }
.what { font-size: .85rem; color: #5b6470; margin: .2rem 0 .6rem 0; }
.no-curve { background: #fff6e0; border-left: 4px solid #e0a800; padding: .6rem; }
.note { font-size: .85rem; color: #5b6470; margin: .2rem 0; }
table.params { border-collapse: collapse; font-size: .9rem; margin-top: .4rem; }
table.params td, table.params th { border: 1px solid #dde1e6; padding: .2rem .6rem; text-align: left; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; }
"""


def _page(cards: list[Card], grad_note: str) -> str:
    families = [f for f in FAMILIES if any(c.info.family == f for c in cards)]
    nav = " ".join(
        f"<strong>{html.escape(family)}:</strong> "
        + " ".join(f'<a href="#{c.info.name}">{c.info.name}</a>' for c in cards if c.info.family == family)
        for family in families
    )
    body = "\n".join(_card_html(card) for card in cards)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>losskit loss gallery</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>losskit loss gallery</h1>
<p>{len(cards)} losses, read from the registry. Each is drawn against one number x: regression losses
against the prediction with the label fixed at 0, binary classification losses with the label fixed at 1,
the others on the slice their card names. {html.escape(grad_note)}</p>
</header>
<nav>{nav}</nav>
<main>
{body}
</main>
</body>
</html>
"""
