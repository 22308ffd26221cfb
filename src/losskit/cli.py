"""The ``losskit`` command line: ``tour``, ``plot``, ``gallery``, ``list`` and ``bench``.

Usage errors (an unknown loss, parameter or backend, a value a loss refuses) print one line
naming what is valid and exit with status 2; a missing optional dependency (matplotlib, torch
for ``--grad``, every backend ``bench`` was asked for) and a file that cannot be written print
one line and exit with status 1. Output cut short by its reader (``losskit list | head``) ends
quietly. Figures are drawn on :class:`matplotlib.figure.Figure` objects outside pyplot, so no
GUI backend is ever involved.
"""

from __future__ import annotations

import argparse
import ast
import collections
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .registry import LossInfo, list_losses, loss_info


class UsageError(Exception):
    """A mistake in the command line: reported on one line, exit status 2."""


def parse_value(text: str, string_option: bool = False) -> Any:
    """A ``--param`` value: a Python literal (``2``, ``0.5``, ``True``), ``true``/``false``/``none``, or a string.

    ``none`` stays the string ``'none'`` for a ``string_option`` (one whose default is a string,
    as ``reduction``'s).

    >>> parse_value("2"), parse_value("0.5"), parse_value("false"), parse_value("binary"), parse_value("inf")
    (2, 0.5, False, 'binary', inf)
    >>> parse_value("none"), parse_value("none", string_option=True)
    (None, 'none')
    """
    lowered = {"true": True, "false": False} if string_option else {"true": True, "false": False, "none": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return float(text)  # nan, inf, -inf: numbers (the loss then says what it accepts)
    except ValueError:
        return text


def _valid_params(info: LossInfo) -> list[str]:
    return sorted({*info.params, "weight"})


def assign_params(infos: Sequence[LossInfo], assignments: Sequence[str]) -> list[dict[str, Any]]:
    """Share ``NAME=VALUE`` (every loss that has ``NAME``) and ``LOSS.NAME=VALUE`` out among ``infos``.

    ``LOSS.NAME=VALUE`` wins over ``NAME=VALUE`` in either order; one of them given twice for a loss
    is refused (which one was meant?)."""
    params: list[dict[str, Any]] = [{} for _ in infos]
    given: list[dict[str, tuple[bool, str]]] = [{} for _ in infos]  # name: (loss-specific?, the item)
    names = ", ".join(info.name for info in infos)
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param takes NAME=VALUE or LOSS.NAME=VALUE, got {item!r}")
        target, _, name = key.rpartition(".")
        chosen: Sequence[int] = range(len(infos))
        if target:
            chosen = [
                i for i, info in enumerate(infos) if target.lower() in (n.lower() for n in (info.name, *info.aliases))
            ]
            if not chosen:
                raise UsageError(f"--param {item!r}: {target!r} is not among the plotted losses ({names})")
        hits = [i for i in chosen if name in _valid_params(infos[i])]
        if not hits:
            valid = "; ".join(f"{infos[i].name}: {', '.join(_valid_params(infos[i]))}" for i in chosen)
            raise UsageError(f"unknown parameter {name!r} for {names}; valid parameters: {valid}")
        for i in hits:
            specific, earlier = given[i].get(name, (False, None))
            if earlier is not None and specific == bool(target):
                raise UsageError(f"--param {name} is given twice for {infos[i].name}: {earlier!r} and {item!r}")
            if earlier is not None and specific:
                continue  # the loss's own value stands
            given[i][name] = (bool(target), item)
            params[i][name] = parse_value(text, isinstance(infos[i].params.get(name), str))
    return params


#: The most points a curve takes: more cannot be told apart on a figure, and 1e11 would not fit in memory.
MAX_POINTS = 100_000


def check_points(points: int) -> None:
    if not 2 <= points <= MAX_POINTS:
        raise UsageError(f"--points needs 2 to {MAX_POINTS}, got {points}")


def check_out_dir(path: str | Path, option: str = "--out") -> None:
    """A folder to write into must be a folder, or not exist yet: checked before any work."""
    for folder in (Path(path), *Path(path).parents):
        if folder.exists():
            if not folder.is_dir():
                raise UsageError(f"{option} {path}: {folder} exists and is not a folder")
            return


def _info(name: str) -> LossInfo:
    try:
        return loss_info(name)
    except ValueError as exc:  # its message names the nearest loss
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# the commands


def cmd_tour(args: argparse.Namespace) -> int:
    from .tour import check_backend, run_tour

    try:
        backend = check_backend(args.backend)
    except ValueError as exc:  # ImportError (not installed) is left to main: exit status 1
        raise UsageError(str(exc)) from None
    if not args.no_plots:
        check_out_dir(args.out)
    run_tour(backend, out=args.out, plots=not args.no_plots)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from . import plot

    infos = [_info(name) for name in args.losses + args.more_losses]
    if not infos:
        raise UsageError("give the names of the losses to plot (see `losskit list`)")
    per_loss = assign_params(infos, args.param or [])
    curves = []
    for info, params in zip(infos, per_loss):
        try:
            curve = plot.curve_for(info, args.label, **params)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{info.name}: {exc}") from None
        if curve.fn is None:
            raise UsageError(f"{info.name} has no 1-D curve: {curve.reason}")
        curves.append(curve)
    check_points(args.points)
    if args.grad:
        try:
            plot.autograd_backend()
        except RuntimeError as exc:  # torch and jax are both missing
            raise ImportError(str(exc)) from None
    x = None
    if args.range is not None:
        import numpy as np

        start, stop = args.range
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise UsageError(f"--range A B needs finite numbers, got {start:g} {stop:g}")
        if not math.isfinite(stop - start):  # matplotlib cannot lay out such an axis
            raise UsageError(f"--range A B needs numbers a finite distance apart, got {start:g} {stop:g}")
        if not start < stop:
            raise UsageError(f"--range A B needs A < B, got {start:g} {stop:g}")
        x = np.linspace(start, stop, args.points)
    out = Path(args.out)
    check_out_dir(out.parent)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give an image file name")
    fig, axes = plot.new_figure(grad=args.grad)
    formats = fig.canvas.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in formats:
        raise UsageError(f"--out {out}: unknown image format; use one of {', '.join('.' + f for f in sorted(formats))}")
    try:
        plot.draw(curves, x, grad=args.grad, ax=axes, points=args.points)
    except ValueError as exc:  # a parameter the loss refuses only once it sees an input
        raise UsageError(f"{', '.join(c.name for c in curves)}: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out, dpi=110)
    except (ValueError, OverflowError) as exc:  # matplotlib lays out the axes only here
        raise UsageError(
            f"cannot draw the axes of these curves (values near the float range's end?): {exc}; "
            "try a --label or --range of smaller numbers"
        ) from None
    print(f"wrote {out}")
    return 0


def cmd_gallery(args: argparse.Namespace) -> int:
    from .gallery import build_gallery

    check_points(args.points)
    check_out_dir(args.out)
    page = build_gallery(args.out, points=args.points, progress=not args.no_progress)
    print(f"wrote {page} ({len(list_losses())} losses); open it in a browser")
    return 0


def _plain(text: str) -> str:
    from .gallery import tex_to_text

    text = re.sub(r":math:`([^`]+)`", lambda m: tex_to_text(m[1]), text)
    return text.replace("``", "").replace("`", "")


def cmd_list(args: argparse.Namespace) -> int:
    infos = [loss_info(name) for name in list_losses(args.family)]
    rows = [("name", "family", "aliases", "summary")]
    rows += [(i.name, i.family, ", ".join(i.aliases), _plain(i.summary)) for i in infos]
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import NothingToTime, run_parsed

    try:
        return run_parsed(args)
    except NothingToTime as exc:  # a missing backend: exit status 1, as a missing dependency
        raise ImportError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------------------------


class _ParamAction(argparse.Action):
    """``--param`` takes NAME=VALUE words up to the first that has no ``=``: the loss names that follow
    (``--param rho=2 HuberLoss``) go to ``more_losses``."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        # the first word is always a parameter, so that "--param margin" is refused as one
        end = next((k for k, v in enumerate(values) if k and "=" not in v), len(values))
        setattr(namespace, self.dest, (getattr(namespace, self.dest) or []) + values[:end])
        namespace.more_losses = namespace.more_losses + values[end:]


def _in_order_given(names: list[str], argv: Sequence[str]) -> list[str]:
    """``names`` (loss names gathered from several places of the command line) in ``argv``'s order."""
    left = collections.Counter(names)
    ordered = []
    for word in argv:
        if left[word] > 0:
            left[word] -= 1
            ordered.append(word)
    return ordered


def build_parser() -> argparse.ArgumentParser:
    from .registry import FAMILIES
    from .tour import BACKENDS, DEFAULT_OUT

    parser = argparse.ArgumentParser(
        prog="losskit",
        description="losskit: every Gluon loss on NumPy, PyTorch and JAX arrays. Start with `losskit tour`.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tour = sub.add_parser("tour", help="the Gluon loss tutorial, cell by cell, on real arrays")
    tour.add_argument(
        "--backend", type=str.lower, choices=BACKENDS, help="array library (default: torch where installed, else numpy)"
    )
    tour.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="folder for the figures (default: %(default)s)")
    tour.add_argument("--no-plots", action="store_true", help="print the numbers only, write no figures")
    tour.set_defaults(handler=cmd_tour)

    plot = sub.add_parser("plot", help="plot losses against the prediction, in one figure")
    # nargs="*": the names after a --param reach more_losses instead (see _ParamAction)
    plot.add_argument("losses", nargs="*", metavar="LOSS", help="loss names or Gluon aliases, any case")
    plot.set_defaults(more_losses=[])
    plot.add_argument(
        "--label",
        type=float,
        help="the value held fixed while x varies (a label, the true class, a target probability, a mask "
        "pixel's value, a second input: each loss has its own); the curve's title names it and its default",
    )
    plot.add_argument(
        "--range",
        nargs=2,
        type=float,
        metavar=("A", "B"),
        help="x from A to B (default: the loss's own range, -5 5 for most)",
    )
    # argparse reads "-1e3" as an option (its negative-number pattern has no exponent): widen it
    if hasattr(plot, "_negative_number_matcher"):
        plot._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf$|^-nan$")
    plot.add_argument("--grad", action="store_true", help="add the derivative w.r.t. x (by autograd) as a panel")
    plot.add_argument(
        "--param",
        nargs="+",
        action=_ParamAction,
        metavar="NAME=VALUE",
        help="loss parameters, e.g. margin=2 (every loss that has it) or HuberLoss.rho=2 (that loss alone; it "
        "wins over rho=...)",
    )
    plot.add_argument("--points", type=int, default=201, help="points on each curve (default: %(default)s)")
    plot.add_argument("--out", default="losskit-plot.png", metavar="FILE", help="image file (default: %(default)s)")
    plot.set_defaults(handler=cmd_plot)

    gallery = sub.add_parser("gallery", help="write a static HTML page with one card per loss")
    gallery.add_argument("--out", default="losskit-gallery", metavar="DIR", help="folder (default: %(default)s)")
    gallery.add_argument("--points", type=int, default=161, help="points on each curve (default: %(default)s)")
    gallery.add_argument("--no-progress", action="store_true", help="no progress bar")
    gallery.set_defaults(handler=cmd_gallery)

    listing = sub.add_parser("list", help="a table of every loss with its one-line summary")
    listing.add_argument("--family", choices=FAMILIES, help=f"only the losses of this family: {', '.join(FAMILIES)}")
    listing.set_defaults(handler=cmd_list)

    from .bench import build_parser as bench_options  # NumPy and the standard library only

    bench = sub.add_parser(
        "bench",
        help="time forward+backward against torch.nn.functional, optax and MXNet 1.9.1",
        description="Time losskit against torch.nn.functional, optax (jax.jit) and MXNet 1.9.1 (when installed).",
    )
    bench_options(bench)
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``losskit`` command line on ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extras = parser.parse_known_args(argv)
    if extras:
        # argparse takes a positional list once: `plot L1Loss --grad L2Loss` leaves L2Loss over
        if args.command != "plot" or any(word.startswith("-") for word in extras):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.losses, args.more_losses = _in_order_given(args.losses + args.more_losses + extras, argv), []
    error: Exception | str
    try:
        code = args.handler(args)
        if sys.stdout is not None:  # (None when the shell closed it: `losskit list >&-`)
            sys.stdout.flush()  # a reader that has gone shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # `losskit list | head`: stop quietly (the Python docs' "Note on SIGPIPE"); the exit's own
        # flush of what is left would fail again, so stdout goes to devnull
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except UsageError as exc:
        error, code = exc, 2
    except ImportError as exc:  # a missing optional dependency
        error, code = exc, 1
    except OSError as exc:  # a file that cannot be written (a name too long, no permission)
        error, code = (f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else exc), 1
    print(f"losskit {args.command}: error: {error}", file=sys.stderr)
    return code
