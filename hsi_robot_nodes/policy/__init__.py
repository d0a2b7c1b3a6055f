"""Onboard policy execution: ONNX + metadata (``metadata``), the ROS-free control-cycle core (``runner``)."""
