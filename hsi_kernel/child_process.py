"""Child processes that end with their parent: no orphaned simulator or node keeps a core busy."""

from __future__ import annotations

import ctypes
import signal

try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded here: nothing may be imported after fork
except OSError:
    _LIBC = None


def die_with_parent() -> None:
    """Linux, in the child between fork and exec: SIGTERM when the parent dies, so no orphaned simulator or
    node keeps a core busy. Only a system call: no import or allocation-heavy work may happen here."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
