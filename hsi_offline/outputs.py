"""Output places checked before any work, and the completeness markers later stages check.

Why before: a solve, a reconstruction or an evaluation takes minutes; finding only at the end that the output
folder is a file, or cannot be written, wastes them and used to end in a traceback. Why markers: a stage's
folder holds several files written one by one; the marker file is written last (and removed first when a
folder is rewritten), so an interrupted write leaves a folder the next stage refuses instead of a mix of new
and old files it would trust.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hsi_offline.cli import UserError

# The file each producer writes last: its presence means the folder is complete.
RECONSTRUCT_MARKER = "report.json"  # hsi_offline.reconstruct.clip_folder.write_clip
# hsi_offline.retarget.pipeline.write_clip_folder: written after motion.npz, both removed first, so an
# interrupted retarget leaves no motion.npz for training to take
RETARGET_MARKER = "quality.json"
TRAINING_MARKER = "history.json"  # hsi_offline.training.runner (finish): the run's whole history


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor; a file on the way is reported as what blocks the path."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path) -> bool:
    """Whether a file can really be created in ``folder`` (``os.access`` says yes to root even on a
    read-only folder, and reads the real, not the effective, user)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".hsi_write_check.")
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Refuse, in one line, an output folder that cannot be created or written (before any work)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} '{path}' is a file, not a folder")
    base = _first_existing(path)
    if not base.is_dir():
        raise UserError(f"{what} '{path}' cannot be created: '{base}' is a file, not a folder")
    if not _probe_writable(base):
        raise UserError(f"{what} '{path}' is not writable ('{base}': permission denied or read-only)")
    return path


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """Refuse, in one line, an output file whose place is a folder or cannot be written (the atomic writers
    create a temp file beside it and rename it over, so its folder is what must be writable)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} '{path}' is a folder, not a file")
    base = _first_existing(path.parent)
    if not base.is_dir():
        raise UserError(f"{what} '{path}' cannot be created: '{base}' is a file, not a folder")
    if not _probe_writable(base):
        raise UserError(f"{what} '{path}' is not writable ('{base}': permission denied or read-only)")
    return path


def require_marker(folder: str | Path, marker: str, producer: str) -> Path:
    """Refuse, in one line, a stage folder without its completeness marker (an interrupted write)."""
    folder = Path(folder)
    if not (folder / marker).is_file():
        raise UserError(
            f"folder '{folder}' is incomplete: it has no {marker} (an interrupted `hsi-offline "
            f"{producer}`?); run {producer} again"
        )
    return folder
