"""The simulated G1: MuJoCo physics (``robot_sim``), scenes (``scene``) and the DDS front end
(``dds_sim``)."""
