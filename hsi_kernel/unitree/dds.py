"""The DDS link to the robot (or the simulator): one domain participant per process, readers and writers.

Why not the SDK's ``ChannelFactory``/``ChannelSubscriber``: they deliver samples from a cyclonedds *listener*
(a ctypes callback on a DDS thread), and ``Close()`` only drops a Python reference, so the listener can still
fire while the reader is being torn down or garbage-collected on another thread. That segfaulted cyclonedds'
Python binding about once in seven simulator test runs. Here nothing runs on DDS threads:

- a :class:`Reader` is a DataReader with a ReadCondition and a GuardCondition in a WaitSet, drained by one
  Python thread that we start and join (``WaitSet.wait`` is a ctypes call, so it releases the GIL while it
  blocks, and a sample wakes it as fast as a listener would);
- a :class:`Writer` is a DataWriter without a listener;
- ``close()`` is explicit: wake the thread with the guard, join it, then delete the entities in order.

The message types, the wire format and the network configuration are the Unitree SDK's (the same IDL and
interface selection), so the robot, the C++ SDK and the simulator all interoperate (tests/test_sim_dds.py).

Raw mode (``Reader(..., raw=True)``, ``Writer.write_raw``) moves the serialized sample as bytes, through the
binding's own ``ddspy_take``/``ddspy_write``, for the 500 Hz LowState/LowCmd path that ``unitree.wire``
encodes with numpy; the IDL classes stay for everything else.
"""

from __future__ import annotations

import atexit
import ctypes as ct
import threading
import weakref
from collections.abc import Callable
from typing import Any

from cyclonedds._clayer import ddspy_take, ddspy_write
from cyclonedds.core import (
    DDSException,
    GuardCondition,
    InstanceState,
    ReadCondition,
    SampleState,
    ViewState,
    WaitSet,
)
from cyclonedds.domain import Domain, DomainParticipant
from cyclonedds.internal import InvalidSample, dds_c_t, load_cyclonedds
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from hsi_kernel.unitree.sdk import DdsSetupError, check_interface

# The SDK's interface selection without its trace file (/tmp/cdds.LOG at "config" verbosity).
_CONFIG = """<?xml version="1.0" encoding="UTF-8" ?>
<CycloneDDS><Domain Id="any"><General><Interfaces>
  <NetworkInterface name="{interface}" priority="default" multicast="default"/>
</Interfaces></General></Domain></CycloneDDS>"""

_lock = threading.Lock()
_joined: tuple[int, str] | None = None
_domain: Domain | None = None
_participant: DomainParticipant | None = None
_topics: dict[str, Topic] = {}
_open_readers: weakref.WeakSet[Reader] = weakref.WeakSet()


def init_channels(domain: int, interface: str) -> None:
    """Join DDS ``domain`` on ``interface`` for this process. Idempotent for equal arguments; a process talks
    to one robot, so a second, different domain is refused."""
    global _joined, _domain, _participant
    with _lock:
        if _joined is not None:
            if (domain, interface) != _joined:
                raise DdsSetupError(
                    f"this process already joined DDS domain {_joined[0]} on {_joined[1]}; "
                    "one domain per process"
                )
            return
        if not 0 <= domain <= 232:
            raise DdsSetupError(f"DDS domain {domain} is out of range 0..232")
        check_interface(interface)
        try:
            _domain = Domain(domain, _CONFIG.format(interface=interface))
            _participant = DomainParticipant(domain)
        except Exception as e:  # cyclonedds raises DDSException with a numeric code
            raise DdsSetupError(
                f"cannot join DDS domain {domain} on '{interface}' ({e}); check the interface and permissions"
            ) from None
        _joined = (domain, interface)


def _topic(name: str, msg_type: Any) -> Topic:
    if _participant is None:
        raise DdsSetupError("DDS is not initialised: call init_channels(domain, interface) first")
    with _lock:
        topic = _topics.get(name)
        if topic is None:
            topic = _topics[name] = Topic(_participant, name, msg_type)
        elif topic.data_type is not msg_type:
            raise DdsSetupError(f"topic {name} is already open with type {topic.data_type.__name__}")
        return topic


class Writer:
    """A DataWriter on ``topic`` (no listener). ``write(msg)`` serialises and sends one sample."""

    def __init__(self, topic: str, msg_type: Any):
        self.topic = topic
        self._writer: DataWriter | None = DataWriter(_participant, _topic(topic, msg_type))

    def write(self, msg: Any) -> None:
        if self._writer is None:
            raise RuntimeError(f"writer on {self.topic} is closed")
        self._writer.write(msg)

    def write_raw(self, data: bytes) -> None:
        """Send an already serialized sample (XCDR1 with its header, length a multiple of 4)."""
        if self._writer is None:
            raise RuntimeError(f"writer on {self.topic} is closed")
        ret = ddspy_write(self._writer._ref, data)
        if ret < 0:
            raise DDSException(ret, f"writing a raw sample on {self.topic}")

    def close(self) -> None:
        self._writer = None  # the only reference: cyclonedds deletes the entity now


class Reader:
    """A DataReader on ``topic``, drained by our own thread when ``handler`` is given.

    The handler gets the newest valid sample of each wake-up (older ones still queued are dropped: a
    controller wants the latest state, like the SDK's queue of length 1); it runs on the reader's thread, so
    it must be quick and must not block. Without a handler, call :meth:`take_latest`. With ``raw`` the
    sample is its serialized bytes (``unitree.wire`` decodes them). ``keep`` > 0 makes a recorder instead:
    the reader keeps up to that many samples between wake-ups and the handler gets every one, oldest first
    (a monitor that must see every command, not the latest).
    """

    def __init__(
        self,
        topic: str,
        msg_type: Any,
        handler: Callable[[Any], None] | None = None,
        name: str | None = None,
        raw: bool = False,
        keep: int = 0,
    ):
        self.topic = topic
        self._handler = handler
        self._raw = raw
        self._keep = keep
        qos = (
            Qos(Policy.History.KeepLast(keep), Policy.Reliability.Reliable(duration(seconds=1)))
            if keep
            else None
        )
        self._reader = DataReader(_participant, _topic(topic, msg_type), qos=qos)
        self._data = ReadCondition(self._reader, SampleState.Any | ViewState.Any | InstanceState.Any)
        self._wake = GuardCondition(_participant)
        self._waitset = WaitSet(_participant)
        self._waitset.attach(self._data)
        self._waitset.attach(self._wake)
        self._closing = False
        self._handling = threading.Lock()
        self._thread: threading.Thread | None = None
        self.handler_errors = 0
        if handler is not None:
            self._thread = threading.Thread(target=self._run, name=name or f"dds:{topic}", daemon=True)
            self._thread.start()
        _open_readers.add(self)

    def _valid(self) -> list[Any]:
        """Every valid sample taken now, oldest first."""
        n = max(64, self._keep)
        if self._raw:
            ret = ddspy_take(self._reader._ref, n)
            if isinstance(ret, int):
                raise DDSException(ret, f"taking from {self.topic}")
            return [data for data, info in ret if info.valid_data]
        return [s for s in self._reader.take(N=n) if not isinstance(s, InvalidSample)]

    def _newest(self) -> Any | None:
        valid = self._valid()
        return valid[-1] if valid else None

    def take_latest(self, timeout_s: float) -> Any | None:
        """The newest sample that arrives within ``timeout_s`` (None if none did). Only without a handler."""
        if self._thread is not None:
            raise RuntimeError("take_latest() is for readers without a handler")
        if self._waitset.wait(duration(seconds=timeout_s)) == 0 or self._closing:
            return None
        return self._newest()

    def _run(self) -> None:
        period = duration(milliseconds=200)  # only bounds how long close() can wait; data wakes it at once
        while not self._closing:
            if self._waitset.wait(period) == 0 or self._closing:
                continue
            self._take_and_handle()

    def _take_and_handle(self) -> int:
        with self._handling:
            if self._closing:
                return 0
            samples = self._valid()
            samples = samples if self._keep else samples[-1:]
            for sample in samples:
                try:
                    self._handler(sample)
                except Exception:  # a failing handler must not kill the link; counted for diagnostics
                    self.handler_errors += 1
                    if self.handler_errors == 1:
                        import traceback

                        traceback.print_exc()
            return len(samples)

    def poll(self) -> bool:
        """Take and handle what is waiting now, on the calling thread; True when there was a sample.

        Why: the reader's own thread can be late to wake (a loaded machine, another thread of the process
        holding the interpreter lock) while the samples already sit in the reader. A controller that is
        about to declare its input lost polls first, so it judges the robot, not its own reader thread.
        Serialised with the reader's thread: the handler never runs twice at once."""
        if self._thread is None:
            raise RuntimeError("poll() is for readers with a handler")
        return self._take_and_handle() > 0

    def close(self) -> None:
        """Stop the thread (joined), then delete waitset, conditions and reader in that order. Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._wake.set(True)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        with self._handling:  # a poll() on another thread finishes first
            self._waitset.detach(self._data)
            self._waitset.detach(self._wake)
            self._waitset = self._data = self._wake = None
            self._reader = None
        _open_readers.discard(self)

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@atexit.register
def _close_all() -> None:
    """Readers left open stop before the interpreter tears down (a running reader thread calling into
    cyclonedds during finalisation is another crash)."""
    for r in list(_open_readers):
        r.close()


# the binding wraps no call that reads a reader's SUBSCRIPTION_MATCHED status without a listener (a listener
# runs on a DDS thread, which this module avoids), so it is called through ctypes like the binding's own calls
_get_subscription_matched = load_cyclonedds().dds_get_subscription_matched_status
_get_subscription_matched.restype = ct.c_int32
_get_subscription_matched.argtypes = [ct.c_int32, ct.POINTER(dds_c_t.subscription_matched_status)]


class WriterWatch:
    """How many DataWriters of *other* participants are matched on ``topic``, now.

    Why: only one controller may drive the motors, and one that appears later (a second bridge, a test tool,
    the SDK's example) is as dangerous as one present at start-up. DDS discovery tells every reader of the
    topic about each writer as it appears; a reader that ignores its own participant's endpoints counts
    exactly the others. :meth:`count` reads that status (a few us), so a 500 Hz loop can poll it every cycle.
    The reader takes no samples; its history (keep-last 1) is all it holds.
    """

    def __init__(self, topic: str, msg_type: Any):
        self.topic = topic
        self._reader: DataReader | None = DataReader(
            _participant, _topic(topic, msg_type), qos=Qos(Policy.IgnoreLocal.Participant)
        )
        self._status = dds_c_t.subscription_matched_status()

    def count(self) -> int:
        if self._reader is None:
            raise RuntimeError(f"writer watch on {self.topic} is closed")
        ret = _get_subscription_matched(self._reader._ref, ct.byref(self._status))
        if ret < 0:
            raise DDSException(ret, f"reading the matched writers of {self.topic}")
        return int(self._status.current_count)

    def close(self) -> None:
        self._reader = None


def someone_publishes(topic: str, msg_type: Any, wait_s: float = 0.4) -> bool:
    """True when samples arrive on ``topic`` within ``wait_s``: another writer (robot, simulator or
    controller, all of which publish at 500 Hz) already owns it on this domain."""
    with Reader(topic, msg_type) as r:
        return r.take_latest(wait_s) is not None
