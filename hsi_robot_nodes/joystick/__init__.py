"""Operator input -> the policy's root command and the bridge's state-machine events (ROS-free core).

``profiles``: how a sensor_msgs/Joy maps to the Unitree stick/button convention; ``root_command``: sticks or a
goal pose -> rate-limited (x, y, yaw) offset in the heading frame; ``buttons``: button edges -> events.
"""
