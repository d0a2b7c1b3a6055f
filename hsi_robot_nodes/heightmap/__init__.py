"""Onboard terrain perception: LiDAR points + odometry -> elevation map -> the policy's heightmap.

``sampler`` is shared with training; the rest (point clouds, self filter, elevation map, node core) is
ROS-free so it runs in tests, benchmarks and the simulator alike.
"""
