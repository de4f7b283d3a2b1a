"""Golden models, cocotb benches and the simulation runner."""
