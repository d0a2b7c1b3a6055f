"""Atomic artifact writes (temp file beside the target, then ``os.replace``): a crash or Ctrl-C never leaves
a half-written file where a reader (the next pipeline stage, a report) would take it for a whole one."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "", mode: int = 0o644) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path``, else delete it.

    ``suffix`` (default: ``path``'s) ends the temp name, for writers that pick the format from it or add
    their own (``np.savez`` appends ``.npz`` to a name without it: pass ``".npz"``). The file gets ``mode``
    (default 0644, an artifact other users read: mkstemp's own 0600 would hide it from them).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the name is chosen before the file exists, so a Ctrl-C that lands between creating it and entering the
    # try (which mkstemp's Python-level return leaves room for) cannot leave it behind
    tmp = path.parent / f".{path.stem}.{secrets.token_hex(4)}{suffix or path.suffix}"
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | Path, obj, indent: int | None = 1) -> Path:
    return write_bytes_atomic(path, (json.dumps(obj, indent=indent) + "\n").encode())
