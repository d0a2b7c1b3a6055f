"""Defaults of the onboard stack in one place: topic names, the robot variant and its DDS link, the policies.

Every node takes these through its ROS parameters (`config/nodes.yaml` and the launch file may override them);
no other module writes these values again."""

from hsi_kernel.unitree import link

JOINT_STATES = "/joint_states"  # sensor_msgs/JointState, contract order, from the bridge
IMU = "/imu/pelvis"  # sensor_msgs/Imu, pelvis IMU from LowState (frame 'imu_in_pelvis')
REMOTE = "/wireless_remote"  # sensor_msgs/Joy, the Unitree remote decoded by the bridge
BRIDGE_STATE = "/bridge/state"  # std_msgs/String, safety state machine state
BRIDGE_EVENT = "/bridge/event"  # std_msgs/String: start | run | damp | estop | zero_torque
PD_TARGETS = "/policy/pd_targets"  # std_msgs/Float64MultiArray, see msgs/pd_targets.py
POLICY_TIMING = "/policy/timing"  # std_msgs/Float64MultiArray [period_ms, compute_ms, obs_ms, infer_ms]
POLICY_SELECT = "/policy/select"  # std_msgs/String: name of the policy slot to switch to (blind | terrain)
ROOT_TARGET = "/root_target"  # geometry_msgs/PoseStamped, x/y/yaw offset in the robot's heading frame
GOAL_POSE = "/goal_pose"  # geometry_msgs/PoseStamped in the odometry frame (optional path following)
JOY = "/joy"  # sensor_msgs/Joy from a standard gamepad
HEIGHTMAP = "/heightmap/policy"  # the policy heightmap (see heightmap/ message helpers)
HEIGHTMAP_VIZ = "/heightmap/grid"  # sensor_msgs/PointCloud2 for operators
HEIGHTMAP_STATUS = "/heightmap/status"  # std_msgs/String: 'ok' or the input that went stale and why (latched)
POINTS = "/cloud_registered_body"  # sensor_msgs/PointCloud2 from the LiDAR/odometry
ODOMETRY = "/Odometry"  # nav_msgs/Odometry (FAST-LIO2 conventions)
DIAGNOSTICS = "/diagnostics"

# -- the robot and its DDS link: shared with the simulator through the kernel (hsi_kernel.unitree.link)
DOF = link.DOF  # the G1 variant the nodes drive (23 or 29); LowState's mode_machine must match it
DOMAIN = link.DOMAIN  # DDS domain of rt/lowstate and rt/lowcmd (1: the simulated robot; the real G1 uses 0)
INTERFACE = link.INTERFACE  # network interface of the Unitree DDS link (the robot's: eth0 or the like)

# -- the bridge
JOINT_STATE_DECIMATION = 10
"""Joint states + IMU once per 10 LowStates (50 Hz): one per policy cycle, phase-locked to the robot's clock
(the policy node answers each as soon as it arrives); 500 Hz costs the control process ~4x the CPU."""

# -- policies (files in models/)
BRINGUP_POLICY = "hold_default_23dof.onnx"
"""What ``hsi-robot bringup`` runs unless told otherwise: the stiff hold-default-pose placeholder."""
DEMO_POLICY = "g1_23dof_student_cpu.onnx"
"""The best policy the project has trained (``models/``, with its ``.eval/`` report): the CPU-scale distilled
student of ``make train-cpu``. It balances standing on VideoMimic's soft gains; it does not walk (trained on
standing clips only). ``hsi-robot bringup`` on a robot keeps the stiff hold-default placeholder unless a
policy is given."""
