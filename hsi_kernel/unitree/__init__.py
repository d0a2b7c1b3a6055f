"""The Unitree SDK 2 link: IDL types and channels (``sdk``), CRC (``crc``) and the wireless remote
(``remote``)."""
