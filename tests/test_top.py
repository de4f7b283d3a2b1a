# amaranth: UnusedElaboratable=no
"""The accelerator top: protocol, compiler, driver, and the whole top in cocotb (digits MLP
end to end, UART pins, link fuzzing, invalid programs), plus `corolla run` and `demo`."""

import json
import subprocess
import sys
from collections import deque

import numpy as np
import pytest

from corolla import protocol as proto
from corolla.firmware.cnn import CNN_VARIANTS
from corolla.firmware.compile import CompileError, compile_network, golden_outputs
from corolla.firmware.digits import digits_compressed, load_digits_data
from corolla.firmware.runtime import Driver, LinkError
from corolla.firmware.variants import VARIANTS
from corolla.hw.bus import descriptor_layout
from corolla.hw.io.uart import divisor_for
from corolla.hw.top import Accelerator, TopParams
from corolla.layers import LAYER_KINDS, info_fields
from corolla.params import ArrayParams
from corolla.protocol import Command, Space, Status
from corolla.sim import runner

BENCH = "corolla.sim.benches.top"


# Protocol -----------------------------------------------------------------------------------

def test_frame_round_trip_and_crc_residue():
    f = proto.frame(Command.WRITE, b"\x01abc", tag=9)
    assert f[0] == proto.SYNC_REQUEST and f[1] == Command.WRITE and f[2] == 9
    assert int.from_bytes(f[3:5], "little") == 4 and f[5:9] == b"\x01abc"
    assert proto.crc16(f[1:]) == 0                        # what the receiver checks
    assert proto.crc16(b"123456789") == 0x29B1            # CRC-16/CCITT-FALSE check value
    reply = proto.frame(Status.OK, b"xyz", tag=9, sync=proto.SYNC_REPLY)
    assert proto.parse_reply(reply) == (Status.OK, 9, b"xyz")


@pytest.mark.parametrize("damage,fragment", [
    (lambda r: r[:-1], "length field"),
    (lambda r: b"\x00" + r[1:], "sync byte"),
    (lambda r: r[:5] + b"X" + r[6:], "CRC"),
    (lambda r: r[:3], "at least 7"),
])
def test_parse_reply_names_the_problem(damage, fragment):
    reply = proto.frame(Status.OK, b"abc", sync=proto.SYNC_REPLY)
    with pytest.raises(proto.ProtocolError, match=fragment):
        proto.parse_reply(damage(reply))


@pytest.mark.parametrize("kind", list(LAYER_KINDS.values()), ids=list(LAYER_KINDS))
def test_descriptor_packing_matches_the_gateware_layout(kind):
    layout = descriptor_layout(kind.args)
    assert layout.size == 8 * proto.DESCRIPTOR_BYTES
    assert descriptor_layout().size == layout.size
    values = {"kind": kind.code, "rows": 300, "cols": 64, "batch": 4, "shift": 9}
    values |= {name: (1 << bits) - 2 for name, bits in kind.args}
    raw = proto.pack_descriptor(kind.args, **values)
    word = int.from_bytes(raw, "little")
    fields = proto.unpack_fields(proto.descriptor_fields(kind.args), word)
    assert {k: fields[k] for k in values} == values
    for name, _ in proto.descriptor_fields(kind.args):
        offset = layout[name].offset
        width = layout[name].shape.width
        assert (word >> offset) & ((1 << width) - 1) == fields[name]
    with pytest.raises(proto.ProtocolError, match="field rows is 5000"):
        proto.pack_descriptor(kind.args, rows=5000)
    with pytest.raises(proto.ProtocolError, match="unknown field"):
        proto.pack_descriptor(kind.args, colour=1)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="rows must be a power of two"):
        TopParams(rows=3)
    with pytest.raises(ValueError, match="acc_width"):
        TopParams(acc_width=40)
    with pytest.raises(ValueError, match="too fast"):
        divisor_for(12e6, 6_000_000)
    with pytest.raises(ValueError, match="off by"):
        divisor_for(10e6, 1_500_000)
    assert divisor_for(12e6, 115200) == 104
    info = TopParams().info()
    fields = info_fields()
    n = sum(size for _, size in fields)
    raw = TopParams().info_bytes()
    assert raw[:5] == proto.INFO_MAGIC + bytes([proto.VERSION]) and len(raw) == 5 + n
    assert proto.unpack_fields(fields, int.from_bytes(raw[5:], "little"), unit=8) == info
    assert info["eie_pes"] == 4 and TopParams(eie=None).info()["eie_pes"] == 0


# Compiler -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    data = load_digits_data()
    return digits_compressed(), data.pixels_test[:12]


def test_both_variants_compute_the_compressed_model(digits):
    model, pixels = digits
    info = TopParams().info()
    want = model.forward(pixels)[-1]
    for variant in ("dense", "sparse"):
        prog = compile_network(model, info, variant)
        assert len(prog.steps) == 3 and prog.out_space == Space.ACT1
        assert np.array_equal(golden_outputs(model, prog, pixels), want)


def test_dense_layout_is_tile_order(digits):
    model, _ = digits
    info = TopParams(rows=4).info()
    prog = compile_network(model, info, "dense")
    space, addr, raw = prog.writes[0]
    w = model.layers[0].weights()
    words = np.frombuffer(raw, dtype=np.int8).reshape(-1, 64, 4)       # (tile, k, r)
    assert space == Space.WEIGHTS and addr == 0 and words.shape[0] == 75
    assert np.array_equal(words[2, 5], w[8:12, 5])


def test_compile_errors_name_layer_and_field(digits):
    model, pixels = digits
    with pytest.raises(CompileError, match="layer 0: outputs is 300; expected at most "
                                           "act_depth = 256"):
        compile_network(model, TopParams(act_depth=256).info(), "dense")
    with pytest.raises(CompileError, match="weight words"):
        compile_network(model, TopParams(weight_depth=1000).info(), "dense")
    with pytest.raises(CompileError, match="entry_depth"):
        from corolla.params import EieParams
        compile_network(model, TopParams(eie=EieParams(entry_depth=64)).info(), "sparse")
    with pytest.raises(CompileError, match="no EIE engine"):
        compile_network(model, TopParams(eie=None).info(), "sparse")
    with pytest.raises(CompileError, match="layer kind is 'fp8'"):
        compile_network(model, TopParams().info(), "fp8")
    with pytest.raises(CompileError, match="layer kind lns: the accelerator has no lns array"):
        compile_network(model, TopParams().info(), "lns")
    prog = compile_network(model, TopParams().info(), "dense")
    with pytest.raises(CompileError, match="inputs have shape"):
        prog.input_bytes(pixels)                       # 12 images, 4 lanes
    with pytest.raises(CompileError, match="batch is 0"):
        prog.program_bytes(0)


# Driver against a scripted device ------------------------------------------------------------

class FakeLink:
    """The transport side of a fake device: replies queue in ``out`` and are read from it."""

    def __init__(self):
        self.out = bytearray()

    def read(self, n, timeout):
        data, self.out[:] = bytes(self.out[:n]), self.out[n:]
        return data

    def sleep(self, seconds):
        pass


class ScriptedLink(FakeLink):
    """Answers each request with the next scripted action: a status, 'drop' or 'garble'."""

    def __init__(self, script):
        super().__init__()
        self.script = deque(script)
        self.requests = []

    def write(self, data):
        tag = data[2]
        self.requests.append(data[1])
        action = self.script.popleft()
        if action == "drop":
            return
        if action == "garble":
            reply = bytearray(proto.frame(Status.OK, b"", tag=tag, sync=proto.SYNC_REPLY))
            reply[-1] ^= 0xFF
        else:
            reply = bytearray(proto.frame(action, b"", tag=tag, sync=proto.SYNC_REPLY))
        self.out += reply



def test_driver_retries_lost_and_damaged_replies():
    link = ScriptedLink(["drop", "garble", Status.BAD_CRC, Status.OK])
    driver = Driver(link, timeout=0.01, retries=3)
    assert driver.request(Command.STATUS) == b""
    assert driver.retried == 3 and len(link.requests) == 4


def test_driver_gives_up_and_names_the_status():
    driver = Driver(ScriptedLink(["drop"] * 3), timeout=0.01, retries=2)
    with pytest.raises(LinkError, match="STATUS failed after 3 attempt"):
        driver.request(Command.STATUS)
    driver = Driver(ScriptedLink([Status.BUSY]), timeout=0.01)
    with pytest.raises(LinkError, match="WRITE refused: BUSY") as exc:
        driver.request(Command.WRITE, b"\x01\0\0\0\0x")
    assert exc.value.status == Status.BUSY


class CountingLink(FakeLink):
    """An accelerator behind a link as far as RUN and STATUS go: RUN_WAIT runs the program at
    once and replies with the STATUS; the next ``drop`` RUN replies are lost."""

    def __init__(self):
        super().__init__()
        self.runs = 0
        self.drop = 0
        self.commands = []

    def status(self) -> bytes:
        fields = {"state": 0, "errors": 0, "pc": 3, "steps": 3, "runs": self.runs, "cycles": 99}
        n = sum(size for _, size in proto.STATUS_FIELDS)
        return proto.pack_fields(proto.STATUS_FIELDS, fields, unit=8).to_bytes(n, "little")

    def write(self, data):
        code, tag = data[1], data[2]
        self.commands.append(code)
        if code == Command.RUN:
            self.runs += 1
            assert data[3] == 7 and data[5 + 6] == proto.RUN_WAIT
            if self.drop:
                self.drop -= 1
                return
        self.out += proto.frame(Status.OK, self.status(), tag=tag, sync=proto.SYNC_REPLY)



def test_run_and_wait_takes_one_request_and_never_runs_twice():
    link = CountingLink()
    driver = Driver(link, timeout=0.01)
    assert driver.run_and_wait(0, 3)["runs"] == 1
    assert driver.run_and_wait(0, 3)["runs"] == 2
    # One STATUS to learn the runs counter, then one request per program: no polls.
    assert link.commands == [Command.STATUS, Command.RUN, Command.RUN]
    # A lost reply: STATUS shows the RUN was taken, so it is not sent again.
    link.drop = 1
    assert driver.run_and_wait(0, 3)["runs"] == 3 and link.runs == 3
    assert link.commands[3:] == [Command.RUN, Command.STATUS, Command.STATUS]


# The top in simulation -------------------------------------------------------------------------

def _run(params, testcase, env=None, simulator=None):
    return runner.run(Accelerator(params), test_module=BENCH, testcase=testcase, env=env or {},
                      simulator=simulator, seed=5)


#: Every engine, sized for the digits MLP.
DIGITS_ENGINES = {name: ArrayParams() for name in TopParams.ARRAYS}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_digits_end_to_end_bit_exact(tmp_path, variant):
    """Every variant over the burst link, as `corolla run --sim` does (small networks and the
    link fuzz run over the byte streams, the UART pins and Icarus below)."""
    path = tmp_path / "result.json"
    env = {"COROLLA_VARIANT": variant, "COROLLA_IMAGES": "12", "COROLLA_FIRST_IMAGE": "100",
           "COROLLA_RESULT": str(path)}
    _run(TopParams(link="burst", **DIGITS_ENGINES), "run_job", env=env)
    r = json.loads(path.read_text())
    assert r["bit_exact"] and r["images"] == 12 and r["variant"] == variant
    assert r["predictions"] == r["golden_predictions"]
    assert len(r["batch_cycles"]) == 3 and all(c > 0 for c in r["batch_cycles"])
    assert len(r["layer_cycles_per_inference"]) == 3
    if VARIANTS[variant].kinds[0] in ("dense", "ternary", "lns"):
        # Layer cycles follow the array's tiling: ceil(M/4) tiles of K beats, plus the drain.
        layers = r["step_cycles"][0]
        assert 75 * 64 <= layers[0] < 75 * 64 + 64
    if variant in ("dense", "ternary", "lns", "binary"):
        # The binary array packs the signs of eight int8 inputs a beat: eight reads a beat.
        layers = r["step_cycles"][0]
        assert 25 * 300 <= layers[1] < 25 * 300 + 64 + (25 * 4 if variant == "binary" else 0)


def test_uart_pins():
    """The real UART pins (8N1 at a divisor of 8) carry small networks, both variants."""
    result = _run(TopParams(link="uart", baud=6_250_000), "small_networks")
    assert result.passed


#: Every engine: the int8 array, the EIE engine, the ternary, binary and LNS arrays.
ALL_ENGINES = {name: ArrayParams(rows=4, weight_depth=1024, bias_depth=128)
               for name in TopParams.ARRAYS}


def test_small_networks_over_streams():
    """Every layer kind alone and mixed (every conversion between kinds on chip)."""
    assert _run(TopParams(**ALL_ENGINES), "small_networks").passed


def test_conv_networks_over_streams():
    """Random convolutional networks in every kind that runs them, with max pooling."""
    result = _run(TopParams(**ALL_ENGINES), "conv_networks")
    assert result.passed and result.stats["conv_networks"] >= 8


def test_small_networks_on_icarus():
    if "icarus" not in runner.available_simulators():
        pytest.skip("Icarus Verilog is not installed")
    assert _run(TopParams(), "small_networks", simulator="icarus").passed


def test_small_networks_on_a_2x4_array_with_2_huffman_eie_pes():
    """A small top whose EIE engine decodes Huffman-coded entries: every kind alone and mixed,
    several programs (the engines are reset between them; the code tables stay)."""
    from corolla.params import EieParams

    params = TopParams(rows=2, cols=4, eie=EieParams(pes=2, entry_depth=512, huffman=True,
                                                     code_depth=256),
                       weight_depth=2048, act_depth=64, bias_depth=128, program_depth=4)
    assert _run(params, "small_networks").passed


def test_digits_sparse_variant_from_huffman_coded_memories(tmp_path):
    from dataclasses import replace

    path = tmp_path / "result.json"
    env = {"COROLLA_VARIANT": "sparse", "COROLLA_IMAGES": "8", "COROLLA_RESULT": str(path)}
    params = TopParams(link="burst")
    _run(replace(params, eie=replace(params.eie, huffman=True)), "run_job", env=env)
    r = json.loads(path.read_text())
    assert r["bit_exact"] and r["images"] == 8
    assert r["predictions"] == r["golden_predictions"]


def test_link_fuzzing_changes_nothing():
    result = _run(TopParams(frame_timeout=200), "fuzz_link")
    stats = result.stats
    assert stats["fuzz_frames"] >= 250
    assert stats["status_BAD_CRC"] > 100 and stats["status_TIMEOUT"] > 20


def test_invalid_programs_are_stopped_with_the_right_flag():
    """Every engine's corrupted descriptors are flagged, never a hang."""
    assert _run(TopParams(**ALL_ENGINES), "bad_programs").passed


def test_bench_catches_a_link_that_ignores_the_crc(monkeypatch):
    """A link that skips the CRC check executes a damaged frame: the fuzz bench must fail."""
    from amaranth.lib import crc

    class NoCheck(crc.Processor):
        def elaborate(self, platform):
            m = super().elaborate(platform)
            m.d.comb += self.match_detected.eq(1)
            return m

    real = crc.Parameters.create
    monkeypatch.setattr(crc.Parameters, "create", lambda self: NoCheck(self))
    design = Accelerator(TopParams(frame_timeout=200))
    result = runner.run(design, test_module=BENCH, testcase="fuzz_link", seed=5, check=False)
    monkeypatch.setattr(crc.Parameters, "create", real)
    assert not result.passed
    assert "accepted" in result.tests[0].message


# CLI -----------------------------------------------------------------------------------------

def corolla(*args):
    return subprocess.run([sys.executable, "-m", "corolla.cli", *args], capture_output=True,
                          text=True)


def test_run_sim_json():
    proc = corolla("run", "--sim", "--variant", "sparse", "--images", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["bit_exact"] and r["images"] == 5 and r["variant"] == "sparse"
    assert 0 <= r["accuracy"] <= 1 and r["cycles_per_inference"] > 0


@pytest.mark.parametrize("args,fragment", [
    (["--images", "0"], "--images: 0; expected an integer from 1 to 450"),
    (["--first", "449", "--images", "2"], "--first is 449"),
    (["--model", "no-such.npz"], "no-such.npz"),
    (["--baud", "3000000"], "--baud 3000000 applies to --link uart only"),
    (["--link", "uart", "--baud", "12000000"], "--baud: baud 12000000 at 50 MHz is off by"),
])
def test_run_bad_input_exits_2(args, fragment):
    proc = corolla("run", "--sim", *args)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr


def test_run_needs_sim_or_port():
    proc = corolla("run")
    assert proc.returncode == 2 and "--sim" in proc.stderr


def test_demo_json(tmp_path):
    proc = corolla("demo", "--images", "4", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    cnn = {f"cnn-{v}" for v in CNN_VARIANTS}
    assert r["bit_exact"] and set(r["variants"]) == set(VARIANTS) | cnn
    assert r["compression_ratio"] > 10 and r["accuracy_float"] > 0.9
    for v in r["variants"].values():
        assert v["inferences_per_s"] == pytest.approx(50e6 / v["cycles_per_inference"])
    assert (tmp_path / "verilog" / "corolla_top.v").is_file()


def test_sim_runs_every_bench_of_the_top():
    proc = corolla("sim", "--config", "default", "--seed", "7", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    names = {t["name"] for t in summary["tests"] if t["passed"]}
    assert names == {"run_job", "small_networks", "conv_networks", "conv_throughput",
                     "fuzz_link", "bad_programs", "winograd_networks"}
