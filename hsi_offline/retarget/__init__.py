"""Retargeting human motion onto the G1 in its terrain (PyRoki + jaxls trajectory optimisation)."""
