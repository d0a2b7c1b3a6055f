"""The default DDS link between the onboard nodes and the (simulated) G1, written once.

The simulator (``hsi_sim``) and the onboard stack (``hsi_robot_nodes.defaults``) must agree on these without
importing each other, so they live in the kernel: the G1 variant, the DDS domain and the network interface.
A real G1 uses domain 0 on its wired interface (eth0 or the like); the defaults point at the simulated robot
so that no command reaches a real robot unless asked to."""

DOF = 23
"""The G1 variant driven by default (23 or 29); LowState's ``mode_machine`` must match it."""
DOMAIN = 1
"""DDS domain of ``rt/lowstate`` and ``rt/lowcmd`` (1: the simulated robot; the real G1 uses 0)."""
INTERFACE = "lo"
"""Network interface of the Unitree DDS link."""
