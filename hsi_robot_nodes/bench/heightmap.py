"""``hsi-robot bench heightmap``: accuracy of the onboard heightmap per scene, and its speed on one core.

Accuracy: scripted walks (``heightmap.sim_walk.WALKS``) with the simulated MID-360 and drifting odometry;
RMSE / p95 / max absolute error of the valid cells against ``sample_heightmap`` on the true terrain at the
true torso pose, and coverage (valid fraction, occlusion-filled cells included; the observed-only coverage
and the filled cells' own errors are reported beside it), over the scans after the first ``--after`` seconds.
Speed (the process pinned to one CPU core): PointCloud2 decode, scan integration (self filter + map update)
for ~20k-point scans, heightmap publish (sample + encode), and the processing latency from a received scan
to the heightmap message built from it; each as wall time and as the thread's CPU time (on a loaded machine
the wall p99 shows the scheduler's time slices, the CPU time what the work itself costs). The node publishes
on a 50 Hz timer, so the end-to-end latency from scan arrival to publication is that processing latency
plus up to one 20 ms timer period.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

SCENES = ("flat", "stairs", "stairs_down", "kerb", "bench")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenes", default=",".join(SCENES), help="comma-separated scenes for the accuracy part")
    p.add_argument("--after", type=float, default=2.0, help="score scans after this many seconds of walking")
    p.add_argument("--reps", type=int, default=300, help="timed repetitions for the speed part")
    p.add_argument("--points", type=int, default=20000, help="points per scan for the speed part")
    p.add_argument("--no-accuracy", dest="accuracy", action="store_false")
    p.add_argument(
        "--ros-seconds",
        type=float,
        default=10.0,
        help="run the real node on DDS with the simulated sensors this long (0: skip)",
    )
    p.add_argument("--domain", type=int, default=77, help="DDS domain for the ROS part")
    p.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def _speed(reps: int, n_points: int) -> dict:
    import mujoco

    from hsi_kernel.heightmap.message import encode_heightmap_msg, stamp_to_sec
    from hsi_kernel.heightmap.pointcloud import cloud_xyz, encode_xyz
    from hsi_robot_nodes.bench.heightmap_walk import ScriptedRobot
    from hsi_robot_nodes.heightmap.core import HeightmapCore
    from hsi_sim.lidar import LidarConfig, SimLidar, SimOdometry

    robot = ScriptedRobot("flat")
    lidar = SimLidar(robot.model, LidarConfig(points_per_scan=int(n_points * 1.25)))
    odom = SimOdometry()
    core = HeightmapCore()
    scans, poses, qs = [], [], []
    for k in range(20):  # 2 s of walking: distinct scans, arms swinging
        t = 0.1 * k
        q = robot.joint_q(t)
        robot.pose(np.array([0.8 * t - 1.0, 0.0]), 0.0, q)
        pts = lidar.scan(robot.data)[:n_points]
        pos, R = lidar.sensor_pose(robot.data)
        p, Rc = odom.odometry(pos, R)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, Rc.reshape(-1))
        scans.append(encode_xyz(pts, "body"))
        poses.append((p, np.array([quat[1], quat[2], quat[3], quat[0]])))
        qs.append(q)
    keys = ("decode_ms", "integrate_ms", "publish_ms", "scan_to_heightmap_ms")
    wall: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    for i in range(reps + 5):  # the first few calls compile / warm caches
        k = i % len(scans)
        t = 0.1 * i
        msg = scans[k]
        core.on_joint_state(t, qs[k])
        core.on_odometry(t, poses[k][0] + [0.8 * 2.0 * (i // len(scans)), 0, 0], poses[k][1])
        w0, c0 = time.perf_counter(), time.thread_time()
        xyz = cloud_xyz(msg)
        w1, c1 = time.perf_counter(), time.thread_time()
        err = core.on_cloud(t, "body", xyz)
        w2, c2 = time.perf_counter(), time.thread_time()
        out = core.heightmap(t)
        hm = encode_heightmap_msg(out.values, out.valid, out.stamp, out.stale, inferred=out.inferred)
        w3, c3 = time.perf_counter(), time.thread_time()
        if err is not None:
            raise RuntimeError(f"speed benchmark scan rejected: {err}")
        if abs(stamp_to_sec(hm.header.stamp) - out.stamp) > 1e-6:
            raise RuntimeError("heightmap message stamp differs from the odometry stamp it was sampled at")
        if i >= 5:
            for key, (a, b, ca, cb) in {
                "decode_ms": (w0, w1, c0, c1),
                "integrate_ms": (w1, w2, c1, c2),
                "publish_ms": (w2, w3, c2, c3),
                "scan_to_heightmap_ms": (w0, w3, c0, c3),
            }.items():
                wall[key].append((b - a) * 1e3)
                cpu[key].append((cb - ca) * 1e3)
    t_latency = wall["scan_to_heightmap_ms"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    res = {
        "points_per_scan": int(len(cloud_xyz(scans[0]))),
        "reps": reps,
        "load_average_1min": load,
        "wall": {k: _pct(v) for k, v in wall.items()},
        "cpu": {k: _pct(v) for k, v in cpu.items()},
    }
    lat = _pct(t_latency)
    res.update(
        {
            "end_to_end_worst_ms": lat["p99"] + 20.0,
            "publish_period_ms": 20.0,
            "publish_over_budget": int(sum(x > 20.0 for x in wall["publish_ms"])),
        }
    )
    return res


def _sensor_process(seconds: float, domain: int) -> None:
    """Child process: the simulated robot walking (forwards, then backwards, arms swinging), its joint states,
    and the simulated MID-360 + odometry on the FAST-LIO2 topics (a separate process, as on the robot)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from hsi_robot_nodes import defaults
    from hsi_robot_nodes.bench.heightmap_walk import ScriptedRobot
    from hsi_sim.lidar import SimLidarPublisher

    if hasattr(os, "sched_setaffinity"):  # off the core the node is pinned to
        others = set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)
        if others:
            os.sched_setaffinity(0, others)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    robot = ScriptedRobot("flat")
    robot.pose(np.array([-3.0, 0.0]), 0.0, robot.contract.default_q)
    sensors = SimLidarPublisher(robot.model, robot.data, ctx)
    pub_js = sensors.node.create_publisher(JointState, defaults.JOINT_STATES, 10)
    names = list(robot.contract.joint_names)
    t0 = time.monotonic()

    def walk() -> None:  # physics + bridge stand-in
        t = time.monotonic() - t0
        x = -3.0 + 6.0 - abs(6.0 - (0.8 * t) % 12.0)
        q = robot.joint_q(t)
        robot.pose(np.array([x, 0.0]), 0.0, q)
        js = JointState(name=names, position=[float(v) for v in q])
        js.header.stamp = sensors.node.get_clock().now().to_msg()
        pub_js.publish(js)

    sensors.node.create_timer(0.02, walk)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(sensors.node)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.01)
    sensors.destroy()
    rclpy.try_shutdown(context=ctx)


def _ros(seconds: float, domain: int) -> dict:
    """The real node over DDS: publish period at 50 Hz and latency from scan stamp to heightmap receipt."""
    import multiprocessing

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import PointCloud2

    from hsi_robot_nodes import defaults
    from hsi_robot_nodes.nodes.heightmap_node import build_node

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = build_node(context=ctx)
    arrivals: list[float] = []

    def on_map(msg: PointCloud2) -> None:
        arrivals.append(time.monotonic())

    # the listener shares the node's executor (one thread, like a policy node would not): it only appends
    listener = rclpy.create_node("bench_listener", context=ctx)
    listener.create_subscription(PointCloud2, defaults.HEIGHTMAP, on_map, 50)
    child = multiprocessing.get_context("spawn").Process(
        target=_sensor_process, args=(seconds + 1.0, domain), daemon=True
    )
    child.start()
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(listener)
    t0 = time.monotonic()
    try:
        while time.monotonic() < t0 + seconds:
            ex.spin_once(timeout_sec=0.005)
    finally:
        ex.shutdown(timeout_sec=1.0)
        counts = dict(node.core.counts)
        node.destroy_node()
        listener.destroy_node()
        rclpy.try_shutdown(context=ctx)
        child.join(timeout=10.0)
        if child.is_alive():
            child.terminate()
    pub = np.asarray(node.publish_times)
    pub = pub[pub > t0 + 3.0]  # after start-up (child process import, first scans)
    gaps = np.diff(pub) * 1e3
    latency, seen = [], set()
    for clock, scan_stamp in node.publish_log:  # first publication that contains each scan
        if math.isfinite(scan_stamp) and scan_stamp not in seen:
            seen.add(scan_stamp)
            latency.append((clock - scan_stamp) * 1e3)
    latency = latency[3:]
    a = np.asarray(arrivals)
    a = a[a > t0 + 3.0]
    return {
        "seconds": seconds,
        "published": int(len(pub)),
        "received": int(len(a)),
        "rate_hz": float((len(pub) - 1) / max(pub[-1] - pub[0], 1e-9)) if len(pub) > 1 else 0.0,
        "period_ms": _pct(list(gaps)) if len(gaps) else {},
        "missed_ticks": int(np.sum(gaps > 30.0)),
        "scan_to_publish_ms": _pct(latency) if latency else {},
        "scans": int(counts.get("scans", 0)),
        "rejected": {k: v for k, v in counts.items() if k not in ("scans", "self_points")},
    }


def run(args: argparse.Namespace) -> int:
    from hsi_robot_nodes.bench.heightmap_walk import WALKS, run_walk

    scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
    unknown = [s for s in scenes if s not in WALKS]
    if unknown:
        raise ValueError(f"unknown scene(s) {unknown}: choose from {', '.join(WALKS)}")
    if args.reps < 10 or args.points < 100:
        raise ValueError("--reps must be >= 10 and --points >= 100")
    pinned = None
    if hasattr(os, "sched_setaffinity"):
        pinned = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(pinned)})  # one core, as onboard
    try:
        out: dict = {"cpu": "one core (sched_setaffinity)" if pinned else "unpinned"}
        out["speed"] = _speed(args.reps, args.points)
        sp = out["speed"]
        print(
            f"speed ({sp['points_per_scan']} points/scan, {args.reps} reps, one core, load average "
            f"{sp['load_average_1min']:.1f}); wall = elapsed time, cpu = this thread's CPU time:"
        )
        for key in sp["wall"]:
            w, c = sp["wall"][key], sp["cpu"][key]
            print(
                f"  {key:22s} wall p50 {w['p50']:7.3f} p99 {w['p99']:7.3f} | cpu p50 {c['p50']:7.3f} "
                f"p99 {c['p99']:7.3f}"
            )
        print(f"  end-to-end worst (wall p99 + one 20 ms timer period): {sp['end_to_end_worst_ms']:.1f} ms")
        if args.ros_seconds > 0:
            r = out["ros"] = _ros(args.ros_seconds, args.domain)
            per, lat = r["period_ms"], r["scan_to_publish_ms"]
            print(
                f"ROS node on DDS ({args.ros_seconds:.0f} s, simulated MID-360 + odometry): "
                f"{r['rate_hz']:.1f} Hz, period p50 {per.get('p50', math.nan):.1f} ms "
                f"p99 {per.get('p99', math.nan):.1f} ms max {per.get('max', math.nan):.1f} ms, "
                f"ticks missed (gap > 30 ms) {r['missed_ticks']}; scan stamp -> its heightmap published "
                f"p50 {lat.get('p50', math.nan):.1f} ms p99 {lat.get('p99', math.nan):.1f} ms; "
                f"rejected inputs {r['rejected']}"
            )
        if args.accuracy:
            out["accuracy"] = {}
            print(f"accuracy (scans after {args.after} s, drifting odometry, MID-360 2 cm noise):")
            print(
                f"  {'scene':12s} {'scans':>5s} {'rmse_m':>8s} {'p95_m':>8s} {'max_m':>7s} "
                f"{'coverage':>8s} {'min_cov':>8s} {'stale':>6s} | {'observed':>8s} {'obs_rmse':>8s} "
                f"{'inferred':>8s} {'inf_rmse':>8s} {'inf_p95':>8s} {'inf_max':>7s}"
            )
            for s in scenes:
                t0 = time.perf_counter()
                r = run_walk(s)
                summ = r.summary(args.after)
                summ["wall_s"] = time.perf_counter() - t0
                out["accuracy"][s] = summ
                print(
                    f"  {s:12s} {summ['scans']:5d} {summ['rmse_m']:8.4f} {summ['p95_abs_m']:8.4f} "
                    f"{summ['max_abs_m']:7.3f} {summ['coverage']:8.3f} {summ['min_coverage']:8.3f} "
                    f"{summ['stale_fraction']:6.2f} | {summ['observed_coverage']:8.3f} "
                    f"{summ['observed_rmse_m']:8.4f} {summ['inferred_fraction']:8.3f} "
                    f"{summ['inferred_rmse_m']:8.4f} {summ['inferred_p95_abs_m']:8.4f} "
                    f"{summ['inferred_max_abs_m']:7.3f}",
                    flush=True,
                )
    finally:
        if pinned:
            os.sched_setaffinity(0, pinned)
    if args.json:
        from hsi_kernel.atomic import write_json_atomic

        write_json_atomic(args.json, out, indent=2)  # whole or not at all, readable by others (0644)
    return 0
