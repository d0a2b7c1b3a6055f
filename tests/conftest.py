"""Shared test set-up: DDS isolation so parallel test runs on one machine never hear each other."""

from __future__ import annotations

import os
import random

import pytest

# One Unitree DDS domain per pytest process (the SDK's channel factory is process-wide), away from 0 (real
# robots) and 1 (a user's simulator), and a matching ROS 2 domain for rclpy.
_DOMAIN = int(os.environ.get("HSI_TEST_DDS_DOMAIN", 100 + random.Random(os.getpid()).randrange(100)))
os.environ.setdefault("ROS_DOMAIN_ID", str(_DOMAIN % 100 + 100))


@pytest.fixture(scope="session")
def dds_domain() -> int:
    return _DOMAIN
