"""The Unitree bridge: safety state machine (``safety``) and its DDS runtime (``runtime``)."""
