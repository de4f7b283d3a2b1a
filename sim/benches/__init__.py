"""cocotb benches, one module per hardware unit, run through :mod:`corolla.sim.runner`."""
