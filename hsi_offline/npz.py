"""Reading a user's ``.npz`` input with one set of one-line errors (importers of the offline pipeline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class MissingInputError(FileNotFoundError, ValueError):
    """An input file that is not there. Both a FileNotFoundError and a ValueError, so callers that treat
    every bad input as a ValueError (the CLIs: one line, exit 2) catch it too."""


def read_npz(path: str | Path, what: str, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """All arrays of ``path`` (no pickles), or a one-line error naming ``what`` the file should have been:
    missing file, unreadable file, or keys of ``required`` that it lacks."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{what} file '{path}' does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            d = {k: np.asarray(f[k]) for k in f.files}
    except Exception as e:
        raise ValueError(f"'{path}' is not a readable {what} .npz ({type(e).__name__}: {e})") from None
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"'{path}' lacks {missing} (expected {', '.join(required)})")
    return d
