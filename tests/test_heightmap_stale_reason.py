"""When the map goes stale and the policy falls back, the reason names the input that went stale: the LiDAR
cloud, odometry, or the heightmap node itself. Driven through the ROS-free cores: the heightmap node's
(``HeightmapCore``: its status, what ``/heightmap/status`` carries) into the policy node's (``PolicyRunner``:
the fallback's reason and ``stale_input``, what the node logs and counts for the demo summary)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hsi_kernel.contract import get_contract
from hsi_kernel.heightmap.sampler import HeightmapSpec
from hsi_kernel.observation import make_layout
from hsi_kernel.policy_file import PolicyMetadata
from hsi_offline.export import export_policy
from hsi_robot_nodes.demo import fallback_summary
from hsi_robot_nodes.heightmap.core import LIDAR, ODOMETRY, HeightmapCore, HeightmapNodeConfig
from hsi_robot_nodes.policy.runner import HEIGHTMAP_NODE, HOLD, RESUMING, PolicyRunner, RunnerConfig
from tests.test_heightmap_core import MOUNT, Q_ID, ground_scan

C = get_contract(23)
MS = 1_000_000


@pytest.fixture(scope="module")
def terrain_policy(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    layout = make_layout(23, "student", heightmap=True)
    actor = torch.nn.Sequential(torch.nn.Linear(layout.dim, 16), torch.nn.ELU(), torch.nn.Linear(16, 23))
    md = PolicyMetadata.for_contract(23, layout, 0.25, 4.0, C.kp, C.kd, heightmap_spec=HeightmapSpec())
    return export_policy(actor, None, md, tmp_path_factory.mktemp("pol") / "terrain.onnx").path


class Loop:
    """The heightmap core and the policy runner at 50 Hz on one clock, as the two nodes run them: each tick
    the core's map and status go to the runner (the status before the map, as the node publishes them),
    then the runner steps. ``lidar`` / ``odometry`` / ``node`` switch an input on or off."""

    def __init__(self, policy):
        self.core = HeightmapCore(HeightmapNodeConfig(), extrinsic=MOUNT)
        self.runner = PolicyRunner({"terrain": policy}, config=RunnerConfig(resume_cycles=5))
        self.t = 0.0
        self.lidar = self.odometry = self.node = True
        self.status = ""

    def tick(self):
        self.t += 0.02
        k = round(self.t / 0.02)
        if self.odometry:
            assert self.core.on_odometry(self.t, np.zeros(3), Q_ID) is None
        if self.lidar and k % 5 == 0:  # a 10 Hz LiDAR
            self.core.on_cloud(self.t, "body", ground_scan(n=3000, seed=k))
        now_ns = round(self.t * 1e9)
        if self.node:  # the heightmap node publishes its map (and its status when that changed)
            out = self.core.heightmap(self.t)
            self.status = out.status
            self.runner.update_heightmap(out.values, now_ns, out.stale, self.status)
        self.runner.update_joint_state(C.default_q, np.zeros(23), now_ns, now_ns)
        self.runner.update_imu([1.0, 0, 0, 0], np.zeros(3), now_ns)
        return self.runner.step(now_ns + MS)

    def run(self, seconds):
        return [self.tick() for _ in range(round(seconds / 0.02))]


def test_each_stale_input_is_named_in_the_status_and_the_fallback(terrain_policy):
    loop = Loop(terrain_policy)
    res = loop.run(1.0)
    assert res[0].active == HOLD and res[0].stale_input == LIDAR  # the first map came before a scan
    assert res[0].reason == f"'terrain' waits for a fresh heightmap; stale: {LIDAR} (no scan yet)"
    assert res[-1].active == "terrain" and res[-1].reason == "" and loop.status == "ok"

    # the LiDAR stops: the map goes stale 0.35 s later on the LiDAR cloud, and the robot holds
    loop.lidar = False
    res = loop.run(0.6)
    assert loop.status.startswith(f"{LIDAR}: last scan is ") and loop.status.endswith(" s old")
    assert res[-1].active == HOLD and res[-1].stale_input == LIDAR
    assert res[-1].reason.startswith(f"'terrain' waits for a fresh heightmap; stale: {LIDAR} (last scan is ")

    # the LiDAR comes back: fresh, then `resume_cycles` fresh maps before the heightmap policy runs again
    loop.lidar = True
    res = loop.run(0.5)
    assert [r.stale_input for r in res if r.active == HOLD][-1] == RESUMING
    assert res[-1].active == "terrain" and loop.status == "ok"

    # odometry stops (the LiDAR keeps scanning): named odometry, not the clouds it can no longer register
    loop.odometry = False
    res = loop.run(0.6)
    assert loop.status.startswith(f"{ODOMETRY}: odometry is ")
    assert res[-1].active == HOLD and res[-1].stale_input == ODOMETRY
    assert f"stale: {ODOMETRY} (odometry is " in res[-1].reason
    loop.odometry = True
    assert loop.run(0.6)[-1].active == "terrain"

    # the heightmap node stops publishing (its process stalled or died): the runner names the node itself
    loop.node = False
    res = loop.run(0.6)
    assert res[-1].active == HOLD and res[-1].stale_input == HEIGHTMAP_NODE
    assert "stale: heightmap node (its last map is older than 500 ms" in res[-1].reason


def test_a_cloud_that_arrives_but_is_not_fused_is_named_with_its_rejection():
    core = HeightmapCore(HeightmapNodeConfig(), extrinsic=MOUNT)
    for k in range(30):  # odometry at 50 Hz, clouds stamped 0.5 s in the past: rejected as stale clouds
        t = 1.0 + 0.02 * k
        core.on_odometry(t, np.zeros(3), Q_ID)
        if k % 5 == 0:
            assert "older than odometry" in core.on_cloud(t - 0.5, "body", ground_scan(n=3000))
    out = core.heightmap(1.6)
    assert out.stale and out.source == LIDAR
    assert out.reason.startswith("no scan yet; last cloud rejected: cloud stamp ")
    assert out.status == f"{LIDAR}: {out.reason}"
    core.on_cloud(1.58, "body", ground_scan(n=3000))
    assert core.heightmap(1.6).status == "ok" and core.last_cloud_rejection == ""


def test_without_the_status_the_runner_still_says_the_node_flagged_its_map(terrain_policy):
    r = PolicyRunner({"terrain": terrain_policy})
    r.update_heightmap(np.full(121, 0.78), 0, stale=True)  # its status has not arrived
    assert r.heightmap_staleness(MS) == (
        HEIGHTMAP_NODE,
        "flagged its map stale (its status with the reason has not arrived)",
    )


def test_the_demo_summary_counts_fallback_cycles_per_stale_input():
    node = SimpleNamespace(
        fallback_cycles_in_run=7,
        fallback_cycles_by_input={LIDAR: 5, RESUMING: 2},
        fallback_starts_in_run=[101.25],
        fallback_reasons_in_run=["'terrain' waits for a fresh heightmap; stale: LiDAR cloud (no scan yet)"],
    )
    assert fallback_summary(node, 100.0) == {
        "cycles": 7,
        "cycles_by_stale_input": {LIDAR: 5, RESUMING: 2},
        "began_s_after_run": [1.25],
        "why_each_began": ["'terrain' waits for a fresh heightmap; stale: LiDAR cloud (no scan yet)"],
    }
