"""``hsi-offline pipeline``: one resumable command from motion sources to an evaluated policy."""
