"""Board support: one module per board (platform, clocks, pins) around the accelerator top."""
