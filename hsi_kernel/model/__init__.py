"""The G1 model: MJCF generation from the project's description and the robot contract."""
