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


def write_broken_policy(kind: str, path) -> str:
    """An ONNX policy whose metadata is the shipped 23-DoF hold-default policy's (valid), with a graph that is
    broken in one way: 'nan' answers NaN, 'saturating' answers 100 on every joint, 'wrong_input' declares a
    symbolic input width but its weights need 7 more values than the metadata's observation."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from hsi_kernel.paths import models_dir

    good = onnx.load(str(models_dir() / "hold_default_23dof.onnx"))
    x, y = good.graph.input[0].name, good.graph.output[0].name
    dim = good.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    width = dim + 7 if kind == "wrong_input" else dim
    weight = np.full((width, 23), np.nan if kind == "nan" else 0.0, np.float32)
    bias = np.full(23, 100.0 if kind == "saturating" else 0.0, np.float32)
    width_decl = "n" if kind == "wrong_input" else dim
    nodes = [helper.make_node("MatMul", [x, "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], [y])]
    graph = helper.make_graph(
        nodes,
        "broken",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", width_decl])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["batch", 23])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=good.opset_import)
    model.ir_version = good.ir_version
    for prop in good.metadata_props:
        model.metadata_props.add(key=prop.key, value=prop.value)
    onnx.save(model, str(path))
    return str(path)
