"""Boards: PLL solvers, board modules, `corolla build` / `corolla flash`, and bitstreams."""

import json
import subprocess
import sys

import pytest

from corolla.boards import BOARDS, BoardError, get_board
from corolla.boards.pll import PllError, ecp5_pll, ice40_pll
from corolla.build import BuildError, _check_fit, board_design, flash_command
from corolla.config import ConfigError, load_config, parse_config
from corolla.generate import top_params
from corolla.toolchain import SynthReport


def corolla(*args, env=None):
    return subprocess.run([sys.executable, "-m", "corolla.cli", *args], capture_output=True,
                          text=True, env=env)


@pytest.mark.parametrize("f_out", [18.0, 24.0, 30.0, 36.0, 48.0, 72.0])
def test_ice40_pll_settings_obey_the_pll_limits(f_out):
    pll = ice40_pll(12.0, f_out)
    f_pfd = 12.0 / (pll.divr + 1)
    f_vco = f_pfd * (pll.divf + 1)
    assert 10.0 <= f_pfd <= 133.0
    assert 533.0 <= f_vco <= 1066.0
    assert pll.f_out_mhz == pytest.approx(f_vco / 2 ** pll.divq)
    # 12 MHz · n / 2^q reaches each of these exactly.
    assert pll.f_out_mhz == pytest.approx(f_out)
    assert 1 <= pll.filter_range <= 6


def test_ice40_pll_known_setting():
    # 12 MHz to 48 MHz: DIVR 0, DIVF 63, DIVQ 4 (what icepll prints).
    pll = ice40_pll(12.0, 48.0)
    assert (pll.divr, pll.divf, pll.divq, pll.filter_range) == (0, 63, 4, 1)


@pytest.mark.parametrize("f_in,f_out,expected", [
    (25.0, 50.0, 50.0), (25.0, 60.0, 60.0), (48.0, 64.0, 64.0), (25.0, 33.4, 33.3333),
    # 50 MHz is out of reach from 48 MHz (the phase detector needs at least 3.125 MHz):
    # 51.2 MHz is closer, but 48 MHz does not exceed the request.
    (48.0, 50.0, 48.0)])
def test_ecp5_pll_settings_obey_the_pll_limits(f_in, f_out, expected):
    pll = ecp5_pll(f_in, f_out)
    assert pll.f_out_mhz == pytest.approx(f_in * pll.clkfb_div / pll.clki_div)
    assert f_in / pll.clki_div >= 3.125
    assert 400.0 <= pll.f_out_mhz * pll.clkop_div <= 800.0
    assert pll.f_out_mhz == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("solve,f", [(ice40_pll, 5.0), (ice40_pll, 400.0), (ecp5_pll, 1.0),
                                     (ecp5_pll, 500.0)])
def test_pll_refuses_out_of_range(solve, f):
    with pytest.raises(PllError, match="MHz"):
        solve(12.0, f)


def test_every_board_loads_and_its_config_builds_a_top():
    for name in BOARDS:
        board = get_board(name)
        assert board.name == name
        config = load_config(board.config)
        params = top_params(config, link="uart")
        assert params.link == "uart"
        top = board_design(board, config)
        # The UART divisor is made for the clock the PLL gives.
        assert top.design.params.clock_hz > 0


def test_unknown_board_names_the_supported_ones():
    with pytest.raises(BoardError, match="icebreaker, ulx3s, orangecrab"):
        get_board("arty")


@pytest.mark.parametrize(("name", "baud", "divisor"), [
    ("icebreaker", 3_000_000, 9), ("ulx3s", 3_000_000, 15), ("orangecrab", 115200, None)])
def test_boards_default_to_the_fastest_baud_their_serial_chip_takes(name, baud, divisor):
    board = get_board(name)
    assert board.baud == baud
    params = board_design(board, load_config(board.config)).design.params
    assert params.baud == baud
    if divisor:
        assert params.divisor == divisor


def test_board_design_refuses_an_unreachable_clock_or_baud():
    board = get_board("icebreaker")
    config = load_config("icebreaker")
    with pytest.raises(ConfigError, match="clock 500"):
        board_design(board, config, clock_mhz=500.0)
    with pytest.raises(ConfigError, match="baud 6000000"):
        board_design(board, config, baud=6_000_000)


def test_memory_section_is_validated_and_sizes_the_top():
    config = parse_config({"memory": {"weight_depth": 4096, "act_depth": 256}})
    params = top_params(config)
    assert (params.weight_depth, params.act_depth) == (4096, 256)
    with pytest.raises(ConfigError, match=r"memory\.weight_depth"):
        parse_config({"memory": {"weight_depth": 2}})
    with pytest.raises(ConfigError, match=r"unknown key 'memory\.banks'"):
        parse_config({"memory": {"banks": 2}})
    with pytest.raises(ConfigError, match=r"key 'sparse\.pes': .*power of two") as exc:
        top_params(parse_config({"sparse": {"pes": 3}}))
    assert exc.value.key == "sparse.pes"


def test_config_keys_are_the_parameter_names():
    config = parse_config({"sparse": {"z_bits": 3, "v_bits": 5, "weight_width": 6,
                                      "entry_depth": 2048, "ptr_depth": 256, "codebooks": 2},
                           "memory": {"bias_depth": 300, "program_depth": 9}})
    params = top_params(config)
    e = params.eie
    assert (e.z_bits, e.v_bits, e.weight_width, e.entry_depth, e.ptr_depth, e.codebooks) == \
        (3, 5, 6, 2048, 256, 2)
    assert (params.bias_depth, params.program_depth) == (300, 9)
    for old, new in (("sparse.index_bits", "sparse.z_bits"),
                     ("memory.weights", "memory.weight_depth")):
        section, key = old.split(".")
        with pytest.raises(ConfigError, match=f"key '{old}' is now called '{new}'"):
            parse_config({section: {key: 4}})


def test_fit_check_names_the_resource():
    _check_fit("ice40up5k", SynthReport("ice40up5k", {"SB_LUT4": 5000, "SB_MAC16": 8}))
    with pytest.raises(BuildError, match="needs 9 DSPs, the device has 8"):
        _check_fit("ice40up5k", SynthReport("ice40up5k", {"SB_MAC16": 9}))
    with pytest.raises(BuildError, match="needs 31 block RAMs"):
        _check_fit("ice40up5k", SynthReport("ice40up5k", {"SB_RAM40_4K": 31}))
    with pytest.raises(BuildError, match="needs 5 SPRAMs"):
        _check_fit("ice40up5k", SynthReport("ice40up5k", {"SB_SPRAM256KA": 5}))


def test_flash_command_takes_the_first_installed_programmer(tmp_path):
    board = get_board("icebreaker")
    bit = tmp_path / "corolla_top.bin"
    found = {"openFPGALoader": "/usr/bin/openFPGALoader"}
    cmd = flash_command(board, bit, which=found.get)
    assert cmd == ["/usr/bin/openFPGALoader", "--board", "ice40_generic", str(bit)]
    with pytest.raises(BuildError, match=r"iceprog or openFPGALoader.*install"):
        flash_command(board, bit, which=lambda tool: None)
    assert flash_command(board, bit, which=lambda tool: None, installed=False) == [
        "iceprog", str(bit)]


def test_flash_cli_dry_run_missing_file_and_missing_programmer(tmp_path):
    bit = tmp_path / "corolla_top.bit"
    proc = corolla("flash", "--board", "ulx3s", "--bitstream", str(bit), "--dry-run")
    assert proc.returncode == 0 and "does not exist yet" in proc.stderr
    assert proc.stdout.split()[-1] == str(bit)
    proc = corolla("flash", "--board", "ulx3s", "--bitstream", str(bit))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    bit.write_bytes(b"\xff" * 16)
    proc = corolla("flash", "--board", "ulx3s", "--bitstream", str(bit), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == str(bit)
    assert proc.stdout.split()[0].endswith(("openFPGALoader", "fujprog"))
    proc = corolla("flash", "--board", "icebreaker", "--bitstream", str(bit))
    assert proc.returncode == 2 and "not a .bin file" in proc.stderr
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    proc = corolla("flash", "--board", "ulx3s", "--bitstream", str(bit), env=env)
    assert proc.returncode == 1
    assert "openFPGALoader or fujprog" in proc.stderr and "udev" in proc.stderr


def test_build_bad_input_exits_2(tmp_path):
    proc = corolla("build", "--board", "icebreaker", "--clock-mhz", "900", "--out",
                   str(tmp_path))
    assert proc.returncode == 2 and "--clock-mhz: 900" in proc.stderr
    proc = corolla("build", "--board", "nope", "--out", str(tmp_path))
    assert proc.returncode == 2


# iCE40UP5K bitstream: 104,090 bytes, starting with the preamble and the sync word.
UP5K_BIN_BYTES = 104090
ICE40_PREAMBLE = bytes.fromhex("ff0000ff7eaa997e")


def _check_report(report, board, bitstream_path):
    assert report["board"] == board
    clock = report["clock"]
    assert clock["fmax_mhz"] > 0 and clock["target_mhz"] > 0
    assert clock["timing_met"] == (clock["fmax_mhz"] >= clock["target_mhz"])
    util = report["utilization"]
    for key in ("lut", "ff", "dsp", "bram", "pll"):
        assert 0 <= util[key]["used"] <= util[key]["available"], key
    assert util["pll"]["used"] == 1
    assert report["bitstream"]["bytes"] == bitstream_path.stat().st_size
    assert set(report["times_s"]) == {"rtlil_s", "yosys_s", "nextpnr_s", "pack_s"}


def test_build_icebreaker_uart_loopback_end_to_end(tmp_path):
    proc = corolla("build", "--board", "icebreaker", "--design", "echo", "--out",
                   str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report == json.loads((tmp_path / "report.json").read_text()) | {
        "out": str(tmp_path)}
    bit = tmp_path / "corolla_top.bin"
    data = bit.read_bytes()
    assert len(data) == UP5K_BIN_BYTES
    assert data.startswith(ICE40_PREAMBLE)
    _check_report(report, "icebreaker", bit)
    assert report["clock"]["target_mhz"] == load_config("icebreaker").clock_mhz
    assert report["clock"]["timing_met"]
    assert report["utilization"]["io"]["used"] >= 3   # clock pad, rx, tx (+ LEDs)
    pcf = (tmp_path / "corolla_top.pcf").read_text()
    assert "set_io uart_0__rx__io 6" in pcf and "set_io uart_0__tx__io 9" in pcf


@pytest.mark.board
@pytest.mark.parametrize("board", BOARDS)
def test_build_full_accelerator(board, tmp_path):
    proc = corolla("build", "--board", board, "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    ext = get_board(board).bitstream
    _check_report(report, board, tmp_path / f"corolla_top.{ext}")
    assert report["utilization"]["dsp"]["used"] >= 8


@pytest.mark.board
def test_build_names_the_resource_a_design_lacks(tmp_path):
    proc = corolla("build", "--board", "icebreaker", "--config", "default", "--out",
                   str(tmp_path))
    assert proc.returncode == 1
    assert "does not fit the ice40up5k" in proc.stderr


def test_critical_path_summary_from_a_nextpnr_report():
    from corolla.build import critical_path

    def step(kind, delay, cell="design.core.eie.pe0.ptr.0", port="Q"):
        end = {"cell": cell, "port": port}
        return {"type": kind, "delay": delay, "from": end, "to": end}

    fast = [step("clk-to-q", 1.0), step("setup", 0.5)]
    slow = [step("clk-to-q", 2.0), step("routing", 3.0), step("logic", 0.5),
            step("routing", 1.0), step("setup", 0.5, cell="design.core.seq.d", port="D")]
    path = critical_path({"critical_paths": [{"path": fast}, {"path": slow}]})
    assert path == {"from": "design.core.eie.pe0.ptr.0.Q", "to": "design.core.seq.d.D",
                    "module": "design.core.eie.pe0", "delay_ns": 7.0, "logic_ns": 3.0,
                    "routing_ns": 4.0, "steps": 5}
    assert critical_path({}) is None


def test_bench_board_bad_input_exits_2():
    for args, words in ((["--seeds", "1,1"], "distinct integers"),
                        (["--seeds", "x"], "--seeds: 'x'"),
                        (["--board", "nope"], "invalid choice: 'nope'"),
                        (["--config", "nope"], "nope")):
        proc = corolla("bench", "board", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.board
def test_bench_board_icebreaker_beside_marlann(tmp_path):
    """The UP5K summary: 16 MACs a cycle, Fmax from nextpnr, the digits MLP's sustained rate
    from the counters, and MARLANN's figures as the reference line."""
    proc = corolla("bench", "board", "--seeds", "1", "--images", "2", "--out", str(tmp_path),
                   "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["macs_per_cycle"] == 16 and doc["resources"]["dsp"]["used"] == 8
    build = json.loads((tmp_path / "seed1" / "report.json").read_text())
    assert doc["fmax_mhz"] == build["clock"]["fmax_mhz"] > 0
    assert doc["gmacs_peak"] == pytest.approx(16 * doc["fmax_mhz"] / 1e3, abs=1e-3)
    sus = doc["sustained"]
    assert sus["bit_exact"] and sus["macs_per_inference"] == 50_200
    assert 0.9 < sus["fraction"] <= 1.0
    ref = doc["reference"]
    assert ref["name"] == "MARLANN" and ref["gmacs_peak"] == 0.47
    assert ref["ratio"] == pytest.approx(doc["gmacs_peak"] / 0.47, abs=0.01)
