"""What the fixture tools share (each runs in the virtual environment of its framework)."""

from __future__ import annotations

import zipfile
from pathlib import Path

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
