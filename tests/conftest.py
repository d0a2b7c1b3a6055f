"""Shared test set-up: DDS isolation so parallel test runs on one machine never hear each other."""

from __future__ import annotations

import os
import random
import zlib

import pytest

# One Unitree DDS domain per pytest process (the SDK's channel factory is process-wide), away from 0 (real
# robots) and 1 (a user's simulator), and a matching ROS 2 domain for rclpy.
_DOMAIN = int(os.environ.get("HSI_TEST_DDS_DOMAIN", 100 + random.Random(os.getpid()).randrange(100)))
os.environ.setdefault("ROS_DOMAIN_ID", str(_DOMAIN % 100 + 100))


@pytest.fixture(scope="session")
def dds_domain() -> int:
    return _DOMAIN


@pytest.fixture(scope="module")
def ros_domain(request) -> int:
    """A ROS 2 domain of the test module's own (200..229), so node tests running side by side never meet."""
    base = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    return 200 + (base + zlib.crc32(request.module.__name__.encode())) % 30


@pytest.fixture
def ctx(ros_domain):
    """An rclpy context on the module's ROS domain, shut down after the test."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    yield context
    rclpy.try_shutdown(context=context)
