"""Default topic names of the onboard stack, in one place (every node also takes them as parameters)."""

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
POINTS = "/cloud_registered_body"  # sensor_msgs/PointCloud2 from the LiDAR/odometry
ODOMETRY = "/Odometry"  # nav_msgs/Odometry (FAST-LIO2 conventions)
DIAGNOSTICS = "/diagnostics"
