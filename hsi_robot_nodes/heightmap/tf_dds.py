"""``/tf`` (tf2_msgs/TFMessage) read straight from DDS: the heightmap node's ``odom_source: tf``.

Why not tf2_ros: neither ``tf2_ros`` nor ``tf2_msgs`` is published as a wheel next to the ``ros-*`` Kilted
wheels this project installs (only the message packages listed in requirements/runtime.txt are), and rclpy can
only subscribe to types it has generated code for. A ROS 2 topic is a plain DDS topic, though: ``/tf`` is DDS
topic ``rt/tf`` with type ``tf2_msgs::msg::dds_::TFMessage_`` (a sequence of
``geometry_msgs::msg::dds_::TransformStamped_``, XCDR1). A cyclonedds reader with the same structure receives
what any ROS 2 tf broadcaster publishes (FAST-LIO2 broadcasts ``camera_init -> body`` at odometry rate); ROS 2
on Fast DDS and on Cyclone DDS interoperate over RTPS. ``tests/test_heightmap_node.py`` checks this wire
format against rclpy's own ``geometry_msgs/TransformStamped`` in both directions.

Nothing runs on DDS threads (no listener): the node polls ``TfReader.poll`` from one of its timers.
Only direct ``parent -> child`` transforms are used (no chaining through intermediate frames, no
``/tf_static``): the odometry transform is one dynamic edge.
"""

# no ``from __future__ import annotations``: cyclonedds resolves the IDL field types from the annotations
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import float64, int32, sequence, uint32
from cyclonedds.internal import InvalidSample
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic


@dataclass
class DdsTime(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32 = 0
    nanosec: uint32 = 0


@dataclass
class DdsHeader(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: DdsTime = field(default_factory=DdsTime)
    frame_id: str = ""


@dataclass
class DdsVector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
class DdsQuaternion(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0
    w: float64 = 1.0


@dataclass
class DdsTransform(IdlStruct, typename="geometry_msgs::msg::dds_::Transform_"):
    translation: DdsVector3 = field(default_factory=DdsVector3)
    rotation: DdsQuaternion = field(default_factory=DdsQuaternion)


@dataclass
class DdsTransformStamped(IdlStruct, typename="geometry_msgs::msg::dds_::TransformStamped_"):
    header: DdsHeader = field(default_factory=DdsHeader)
    child_frame_id: str = ""
    transform: DdsTransform = field(default_factory=DdsTransform)


@dataclass
class DdsTFMessage(IdlStruct, typename="tf2_msgs::msg::dds_::TFMessage_"):
    transforms: sequence[DdsTransformStamped] = field(default_factory=list)


class TfTransform(NamedTuple):
    """One transform: ``child`` expressed in ``parent`` at ``stamp`` (s); quaternion x, y, z, w."""

    stamp: float
    parent: str
    child: str
    translation: np.ndarray
    quat_xyzw: np.ndarray


def dds_topic(ros_topic: str) -> str:
    """ROS 2 topic name -> DDS topic name (``/tf`` -> ``rt/tf``)."""
    name = ros_topic.strip()
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"tf topic must be a ROS topic name like /tf, got {ros_topic!r}")
    return "rt/" + name.lstrip("/")


def _frame(name: str) -> str:
    return name.lstrip("/")  # tf2 ignores a leading slash (ROS 1 habit)


def to_message(transforms: list[TfTransform]) -> DdsTFMessage:
    """A TFMessage from transforms (for publishers: the simulator, tests)."""
    out = []
    for t in transforms:
        sec = math.floor(t.stamp)
        p, q = (float(v) for v in t.translation), (float(v) for v in t.quat_xyzw)
        stamp = DdsTime(int(sec), min(int(round((t.stamp - sec) * 1e9)), 999_999_999))
        out.append(
            DdsTransformStamped(
                DdsHeader(stamp, t.parent), t.child, DdsTransform(DdsVector3(*p), DdsQuaternion(*q))
            )
        )
    return DdsTFMessage(out)


def from_message(msg: DdsTFMessage) -> list[TfTransform]:
    """Transforms of a TFMessage (frame names without a leading slash)."""
    return [
        TfTransform(
            s.header.stamp.sec + 1e-9 * s.header.stamp.nanosec,
            _frame(s.header.frame_id),
            _frame(s.child_frame_id),
            np.array([s.transform.translation.x, s.transform.translation.y, s.transform.translation.z]),
            np.array(
                [
                    s.transform.rotation.x,
                    s.transform.rotation.y,
                    s.transform.rotation.z,
                    s.transform.rotation.w,
                ]
            ),
        )
        for s in msg.transforms
    ]


# /tf is published reliable, volatile, keep-last 100; a best-effort reader matches reliable and best-effort
# writers alike, and a lost odometry sample only means the next one is used.
_READER_QOS = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(100), Policy.Durability.Volatile)
_WRITER_QOS = Qos(
    Policy.Reliability.Reliable(max_blocking_time=100_000_000),
    Policy.History.KeepLast(100),
    Policy.Durability.Volatile,
)


def _participant(domain_id: int) -> DomainParticipant:
    if not 0 <= int(domain_id) <= 232:
        raise ValueError(f"DDS domain {domain_id} is out of range 0..232")
    try:
        return DomainParticipant(int(domain_id))
    except Exception as e:  # cyclonedds raises DDSException with a numeric code
        raise ValueError(f"cannot join DDS domain {domain_id} for /tf ({e})") from None


class TfReader:
    """Reads ``topic`` (default ``/tf``) on DDS domain ``domain_id`` (the ROS domain); poll it from one
    thread."""

    def __init__(self, domain_id: int, topic: str = "/tf"):
        self.topic = topic
        self._dp = _participant(domain_id)
        topic_ = Topic(self._dp, dds_topic(topic), DdsTFMessage)
        self._reader: DataReader | None = DataReader(self._dp, topic_, qos=_READER_QOS)

    def poll(self, max_messages: int = 256) -> list[TfTransform]:
        """Every transform received since the last call, in arrival order (non-blocking)."""
        if self._reader is None:
            return []
        out: list[TfTransform] = []
        for s in self._reader.take(N=max_messages):
            if not isinstance(s, InvalidSample):
                out.extend(from_message(s))
        return out

    def close(self) -> None:
        self._reader = None  # the only references: cyclonedds deletes the entities


class TfWriter:
    """Publishes transforms on ``topic`` as a ROS 2 tf broadcaster does (simulator, tests)."""

    def __init__(self, domain_id: int, topic: str = "/tf"):
        self._dp = _participant(domain_id)
        topic_ = Topic(self._dp, dds_topic(topic), DdsTFMessage)
        self._writer: DataWriter | None = DataWriter(self._dp, topic_, qos=_WRITER_QOS)

    def publish(self, transforms: list[TfTransform]) -> None:
        if self._writer is None:
            raise RuntimeError("tf writer is closed")
        self._writer.write(to_message(transforms))

    def close(self) -> None:
        self._writer = None
