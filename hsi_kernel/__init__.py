"""The robot kernel: the contract, observation, terrain, heightmap sampler, motor PD, model builder, message
codecs and the Unitree wire/CRC/DDS layer. It imports nothing else of the project; training, the simulator and
the onboard nodes all import it, so they agree by construction."""
