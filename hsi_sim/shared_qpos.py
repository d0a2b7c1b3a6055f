"""The simulated robot's pose (``qpos``) in shared memory, for sensors simulated in other processes.

Why: as a thread of the simulator's interpreter, the simulated MID-360's casts and its PointCloud2
publishing would hold the interpreter lock for milliseconds at a time while the 500 Hz physics thread waits
(LowState publish gaps of 8-10 ms with no machine stall behind them, seen by ``hsi-robot bench loop``'s
witness). On the robot the LiDAR is its own device; here it is its own process, reading the pose the physics
thread writes after every step.

Layout: ``int64`` sequence number, ``float64`` simulation time, ``float64[nq]`` qpos. One writer (the physics
thread), any number of readers; a sequence lock (odd while writing) gives readers a consistent copy without a
lock shared across processes. Stores are ordered on x86 (where the simulator runs); a reader retries while the
number is odd or changed under it.
"""

from __future__ import annotations

import contextlib
import time
from multiprocessing import resource_tracker, shared_memory

import numpy as np


class SharedQpos:
    """``SharedQpos.create(nq)`` in the simulator, ``SharedQpos.attach(name, nq)`` in a sensor process."""

    def __init__(self, shm: shared_memory.SharedMemory, nq: int, owner: bool):
        if shm.size < 16 + 8 * nq:
            raise ValueError(
                f"shared qpos block '{shm.name}' holds {shm.size} bytes, need {16 + 8 * nq} "
                f"for nq={nq}: simulator and sensor disagree on the model"
            )
        self.shm, self.nq, self.owner = shm, nq, owner
        self._seq = np.ndarray((1,), np.int64, shm.buf, 0)
        self._time = np.ndarray((1,), np.float64, shm.buf, 8)
        self._qpos = np.ndarray((nq,), np.float64, shm.buf, 16)

    @classmethod
    def create(cls, nq: int) -> SharedQpos:
        shm = shared_memory.SharedMemory(create=True, size=16 + 8 * nq)
        out = cls(shm, nq, owner=True)
        out._seq[0] = 0
        return out

    @classmethod
    def attach(cls, name: str, nq: int) -> SharedQpos:
        try:
            shm = shared_memory.SharedMemory(name=name)
        except FileNotFoundError:
            raise ValueError(f"no shared qpos block '{name}': is the simulator running?") from None
        # the simulator owns (and unlinks) the block; a reader must not have it removed when it exits
        with contextlib.suppress(Exception):
            resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        return cls(shm, nq, owner=False)

    @property
    def name(self) -> str:
        return self.shm.name

    def write(self, qpos: np.ndarray, t: float) -> None:
        self._seq[0] += 1  # odd: writing
        self._qpos[:] = qpos
        self._time[0] = t
        self._seq[0] += 1

    def read(self, timeout_s: float = 0.1) -> tuple[np.ndarray, float, int]:
        """A consistent (qpos copy, simulation time, writes so far); ``writes == 0`` before the first step."""
        deadline = time.monotonic() + timeout_s
        while True:
            s1 = int(self._seq[0])
            if not s1 & 1:
                q, t = self._qpos.copy(), float(self._time[0])
                if int(self._seq[0]) == s1:
                    return q, t, s1 // 2
            if time.monotonic() > deadline:
                raise TimeoutError(f"shared qpos block '{self.name}': the writer did not finish a write")

    @property
    def qpos(self) -> np.ndarray:
        """The latest pose (what ``SimLidarPublisher`` reads from its source)."""
        return self.read()[0]

    def close(self) -> None:
        """Detach; the owner also removes the block."""
        self._seq = self._time = self._qpos = None  # type: ignore[assignment]  # release the buffer views
        self.shm.close()
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                self.shm.unlink()
