"""PD targets from the policy node to the bridge as a self-describing std_msgs/Float64MultiArray.

Standard messages have no "q, dq, tau, kp, kd per named joint" type and custom .msg packages cannot be built
everywhere this runs, so the layout's labels carry the meaning and the bridge checks them:
- dim[0]: label ``"q,dq,tau,kp,kd"``, size 5
- dim[1]: label = comma-joined joint names (contract order), size = dof
- dim[2]: label ``"stamp_ns=<int>;seq=<int>;policy=<name>"``, size 1: the receive time (ns) of the joint state
  the targets answer, a sequence number and the active policy, for latency measurement and logging.
data = q (dof), dq (dof), tau (dof), kp (dof), kd (dof).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIELDS = "q,dq,tau,kp,kd"


@dataclass
class PdTargets:
    joint_names: tuple[str, ...]
    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    stamp_ns: int = 0
    seq: int = 0
    policy: str = ""


def encode(t: PdTargets):
    """PdTargets -> std_msgs/Float64MultiArray."""
    from std_msgs.msg import Float64MultiArray, MultiArrayDimension

    n = len(t.joint_names)
    msg = Float64MultiArray()
    msg.layout.dim = [
        MultiArrayDimension(label=FIELDS, size=5, stride=5 * n),
        MultiArrayDimension(label=",".join(t.joint_names), size=n, stride=n),
        MultiArrayDimension(
            label=f"stamp_ns={int(t.stamp_ns)};seq={int(t.seq)};policy={t.policy}", size=1, stride=1
        ),
    ]
    msg.data = np.concatenate([t.q, t.dq, t.tau, t.kp, t.kd]).astype(np.float64).tolist()
    return msg


def decode(msg) -> PdTargets:
    """std_msgs/Float64MultiArray -> PdTargets; a one-line ValueError when the layout is not ours."""
    dims = msg.layout.dim
    if len(dims) != 3 or dims[0].label != FIELDS or dims[0].size != 5:
        raise ValueError("PD target message layout is not 'q,dq,tau,kp,kd x joints x meta'")
    names = tuple(dims[1].label.split(","))
    n = len(names)
    if dims[1].size != n:
        raise ValueError(f"PD target message names {n} joints but says size {dims[1].size}")
    data = np.asarray(msg.data, dtype=np.float64)
    if data.shape != (5 * n,):
        raise ValueError(f"PD target message has {data.size} values, expected {5 * n}")
    meta = dict(kv.split("=", 1) for kv in dims[2].label.split(";") if "=" in kv)
    try:
        stamp, seq = int(meta.get("stamp_ns", 0)), int(meta.get("seq", 0))
    except ValueError:
        raise ValueError("PD target message meta label is malformed") from None
    q, dq, tau, kp, kd = data.reshape(5, n)
    return PdTargets(names, q, dq, tau, kp, kd, stamp, seq, meta.get("policy", ""))
