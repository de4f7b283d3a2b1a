"""Shared fixtures of Corolla's test suite."""

import pytest

from corolla.sim import runner


@pytest.fixture(params=["verilator", "icarus"])
def simulator(request):
    """Each simulator in turn; Icarus is skipped with the reason when it is not installed."""
    if request.param not in runner.available_simulators():
        pytest.skip(f"{request.param} is not installed (Icarus: apt-get install iverilog)")
    return request.param
