"""The simulated MID-360 and its odometry as a process of their own, fed the robot's pose by shared memory.

``hsi-robot sim --lidar`` starts it (``python -m hsi_sim.lidar_process``); it builds the same
scene as the simulator, attaches to the simulator's ``SharedQpos`` and runs a ``SimLidarPublisher`` on it
until SIGTERM or the simulator's exit. Why a
process: see ``shared_qpos``. It runs at normal scheduling, below the simulated robot's real-time physics, as
a sensor's own computer would not take the robot's motor controller's time.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from hsi_kernel.unitree import link

READY = "sim lidar: ready"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hsi_sim.lidar_process", description=__doc__)
    p.add_argument("--qpos", required=True, help="name of the simulator's shared qpos block")
    p.add_argument("--nq", type=int, required=True, help="the simulator model's qpos size")
    p.add_argument("--scene", default="flat")
    p.add_argument("--dof", type=int, default=link.DOF, choices=(23, 29))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    from hsi_kernel.realtime import control_weight, realtime_interpreter

    realtime_interpreter(priority=False)  # drop real-time scheduling inherited from the simulator
    # the robot's own sensor: held up by onboard load no more than the controller is (control_weight)
    control_weight()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from hsi_sim.lidar import LidarConfig, OdometryNoise, SimLidarPublisher
    from hsi_sim.scene import build_ray_model, build_scene
    from hsi_sim.shared_qpos import SharedQpos

    try:
        scene = build_scene(a.scene, a.dof)
        if scene.model.nq != a.nq:
            raise ValueError(
                f"scene '{a.scene}' ({a.dof} DoF) has nq={scene.model.nq}, the simulator's has {a.nq}"
            )
        source = SharedQpos.attach(a.qpos, a.nq)
    except (ValueError, OSError) as e:
        print(f"sim lidar: error: {e}", flush=True)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    context = rclpy.Context()
    rclpy.init(context=context)
    lidar = SimLidarPublisher(
        scene.model,
        source,
        context,
        LidarConfig(seed=a.seed),
        OdometryNoise(seed=a.seed),
        ray_model=build_ray_model(scene),
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(lidar.node)
    print(READY, flush=True)

    def watch_parent() -> None:  # the simulator closes our stdin when it stops (or dies)
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        executor.shutdown(timeout_sec=1)
        lidar.destroy()
        rclpy.try_shutdown(context=context)
        source.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
