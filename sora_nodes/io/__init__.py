"""Files and devices: video files, tags they carry, output files written atomically, what a path names,
and the one place a device is chosen and its free memory read."""
