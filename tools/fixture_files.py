"""What the fixture tools share (each runs in the virtual environment of its framework)."""

from __future__ import annotations

import argparse
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed zip timestamps (reproducible bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


def remove_stale(out: Path, stems: list[str]) -> None:
    """Delete the ``*__*.npz`` fixtures in ``out`` that no case (``stems``) writes any more."""
    expected = {out / f"{stem}.npz" for stem in stems}
    for stale in sorted(set(out.glob("*__*.npz")) - expected):
        print(f"removing stale {stale.name}")
        stale.unlink()


def write_fixtures(
    cases: Sequence[Any],
    *,
    description: str,
    default_out: Path,
    run: Callable[[Any], tuple[dict[str, Any], dict[str, np.ndarray]]],
    line: Callable[[Any, dict[str, Any], dict[str, np.ndarray]], str],
    done: str = "",
) -> None:
    """The command line of every fixture tool: ``--out DIR`` and ``--only TEXT`` (the cases whose
    stem contains it). Each case's ``(meta, arrays) = run(case)`` is written as ``<stem>.npz`` with
    :func:`save_npz` and reported by ``line(case, meta, arrays)``; a full run removes stale files."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=default_out, help="output directory")
    parser.add_argument("--only", default="", help="only cases whose file stem contains this")
    opts = parser.parse_args()
    stems = [case.stem for case in cases]
    duplicated = {s for s in stems if stems.count(s) > 1}
    if duplicated:
        raise ValueError(f"duplicate case names: {sorted(duplicated)}")
    opts.out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        if opts.only not in case.stem:
            continue
        meta, data = run(case)
        save_npz(opts.out / f"{case.stem}.npz", data)
        print(line(case, meta, data))
    if not opts.only:
        remove_stale(opts.out, stems)
    print(f"{len(cases) if not opts.only else 'selected'} cases written to {opts.out}{done}")
