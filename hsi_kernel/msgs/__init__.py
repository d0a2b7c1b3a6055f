"""Codecs for the project's messages, built on standard ROS 2 message types only."""
