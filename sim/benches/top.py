"""cocotb benches of the accelerator top (:class:`corolla.hw.top.Accelerator`).

The host side is the real driver (:mod:`corolla.firmware.runtime`) running in a bridge thread
over :class:`~corolla.firmware.runtime.sim.SimTransport`, so these benches test the gateware,
the protocol, the compiler and the runtime together.

``run_job`` runs a network on test images and compares every output with the golden model
(``COROLLA_MODEL`` = ``digits`` or a compressed-model path, ``COROLLA_VARIANT``,
``COROLLA_IMAGES``, ``COROLLA_FIRST_IMAGE``; figures to the JSON file ``COROLLA_RESULT``).
``small_networks`` runs random small networks in every variant (the UART-pin test uses it);
``conv_networks`` random convolutional networks (random map sizes, kernels, strides, paddings
and channel counts, max pooling, zero and extreme activations) in every kind that runs
convolutions, against the direct-convolution golden model.
``fuzz_link`` sends damaged and invalid frames, and ``bad_programs`` invalid programs, and
check that each is refused, that nothing changed and that a normal run still succeeds.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import cocotb
import numpy as np
from cocotb.task import bridge

from corolla import protocol as proto
from corolla.firmware.compile import compile_network, golden_outputs
from corolla.firmware.compress.qmodel import CompressedMlp, QuantLayer
from corolla.firmware.runtime import (
    Driver,
    LinkError,
    Session,
    first_mismatch,
    run_batches,
    run_report,
)
from corolla.firmware.runtime.sim import SimTransport
from corolla.hw.top import BURST_BYTES
from corolla.layers import LAYER_KINDS
from corolla.params import TopParams
from corolla.protocol import Command, ErrorFlag, Space, Status
from corolla.sim.runner import CLOCK_PERIOD_NS

from .common import TB, params, record_stats, rng

CLOCK_HZ = 1e9 / CLOCK_PERIOD_NS


async def _setup(dut):
    p = TopParams.from_dict(params())
    tb = TB(dut)
    if p.link == "uart":
        dut.rx.value = 1
    else:
        dut.host_rx__valid.value = 0
        dut.host_tx__ready.value = 0
    await tb.reset()
    transport = SimTransport(dut, clock_hz=CLOCK_HZ, mode=p.link,
                             divisor=p.divisor if p.link == "uart" else 0, width=BURST_BYTES,
                             device_hz=p.clock_hz)
    # Replies take at most a few cycles per byte (a UART byte is 10 bit times); an error reply
    # waits for frame_timeout idle cycles first.
    per_byte = 10 * p.divisor if p.link == "uart" else 4
    timeout = (4 * p.frame_timeout + per_byte * (p.max_payload + 64)) / CLOCK_HZ
    driver = Driver(transport, timeout=timeout, retries=2)
    return p, transport, driver


def random_mlp(gen: np.random.Generator, sizes, *, density=0.4, codebook=16) -> CompressedMlp:
    """A random integer MLP: int8 codebook weights, about ``density`` non-zero."""
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        cb = np.concatenate([[0], gen.integers(-128, 128, codebook - 1)])
        index = gen.integers(1, codebook, (n_out, n_in))
        index[gen.random((n_out, n_in)) > density] = 0
        last = i == len(sizes) - 2
        layers.append(QuantLayer(codebook=cb.astype(np.int64), codebook_frac=6,
                                 codebook_width=8, index=index,
                                 bias=gen.integers(-4000, 4000, n_out),
                                 shift=int(gen.integers(5, 9)),
                                 relu=not last, in_frac=4, out_frac=4))
    return CompressedMlp(tuple(layers), input_frac=4)


def random_network(gen: np.random.Generator, sizes, kinds, info: dict):
    """A random integer network whose layer ``i`` is of kind ``kinds[i]`` (each kind's
    :meth:`~corolla.layers.ArrayKind.random_layer`)."""
    from corolla.firmware.quant.layers import QuantNetwork

    last = len(sizes) - 2
    layers = tuple(LAYER_KINDS[k].random_layer(gen, n_in, n_out, last=i == last, info=info)
                   for i, (k, n_in, n_out) in enumerate(zip(kinds, sizes[:-1], sizes[1:],
                                                             strict=True)))
    return QuantNetwork(layers, tuple(kinds))


def random_conv(gen, kind, info, *, h, w, c_in, c_out, kernel, stride, pad, last=False):
    """A random convolution of layer kind ``kind`` (its :meth:`random_layer` as the kernel
    matrix)."""
    from corolla.firmware.quant.layers import ConvLayer

    inner = kind.random_layer(gen, kernel * kernel * c_in, c_out, last=last, info=info)
    return ConvLayer(inner, h, w, c_in, kernel, stride, pad)


def random_cnn(gen, kinds, info: dict, depth: int):
    """A random network conv → (max pooling) → conv or fully connected, its weighted layers
    of kinds ``kinds[0]`` and ``kinds[1]``, every map at most ``depth`` words."""
    from corolla.firmware.quant.layers import MaxPoolLayer, QuantNetwork

    while True:
        kernel = int(gen.integers(1, 6))
        stride, pad = int(gen.integers(1, 3)), int(gen.integers(0, kernel))
        h, w = (int(v) for v in gen.integers(max(1, kernel - 2 * pad), 10, 2))
        c_in, c_out = int(gen.integers(1, 6)), int(gen.integers(1, 10))
        if w + 2 * pad < kernel or h * w * c_in > depth or kernel ** 2 * c_in > depth:
            continue
        conv = random_conv(gen, LAYER_KINDS[kinds[0]], info, h=h, w=w, c_in=c_in,
                           c_out=c_out, kernel=kernel, stride=stride, pad=pad)
        if conv.shape[0] > depth:
            continue
        layers, names = [conv], [kinds[0]]
        oh, ow = conv.out_h, conv.out_w
        # Between two binary layers a pooling step keeps the map int8 (a binary convolution
        # takes and gives int8 maps).
        both_binary = kinds[0] == kinds[1] == "binary"
        if both_binary and min(oh, ow) < 2:
            continue
        if min(oh, ow) >= 2 and (both_binary or gen.random() < 0.7):
            size = int(gen.integers(2, min(oh, ow, 3) + 1))
            pool = MaxPoolLayer(oh, ow, c_out, size, int(gen.integers(1, 3)))
            layers.append(pool)
            names.append("maxpool")
            oh, ow = pool.out_h, pool.out_w
        second = LAYER_KINDS[kinds[1]]
        if min(oh, ow) >= 2 and gen.random() < 0.5:
            k2 = int(gen.integers(1, min(oh, ow, 3) + 1))
            nxt = random_conv(gen, second, info, h=oh, w=ow, c_in=c_out,
                              c_out=int(gen.integers(1, 7)), kernel=k2, stride=1,
                              pad=int(gen.integers(0, k2)), last=True)
        else:
            nxt = second.random_layer(gen, oh * ow * c_out, int(gen.integers(1, 8)),
                                      last=True, info=info)
        if max(nxt.shape) > depth:
            continue
        layers.append(nxt)
        names.append(kinds[1])
        return QuantNetwork(tuple(layers), tuple(names))


def random_winograd_cnn(gen, info: dict, depth: int, second: str):
    """A random network of 3×3 stride-1 convolutions on the Winograd engine: a convolution
    (odd and even map sides, padding 0 or 1, channel counts not multiples of the array's
    rows), then (max pooling and) another Winograd convolution or a layer of kind ``second``
    (a convolution or fully connected)."""
    from corolla.firmware.quant.layers import MaxPoolLayer, QuantNetwork

    wino = LAYER_KINDS["winograd"]
    while True:
        pad = int(gen.integers(0, 2))
        h, w = (int(v) for v in gen.integers(3 - 2 * pad, 10, 2))
        c_in, c_out = int(gen.integers(1, 7)), int(gen.integers(1, 11))
        if h * w * c_in > depth:
            continue
        conv = random_conv(gen, wino, info, h=h, w=w, c_in=c_in, c_out=c_out, kernel=3,
                           stride=1, pad=pad)
        if conv.shape[0] > depth:
            continue
        layers, names = [conv], ["winograd"]
        oh, ow = conv.out_h, conv.out_w
        if min(oh, ow) >= 2 and gen.random() < 0.4:
            pool = MaxPoolLayer(oh, ow, c_out, 2, int(gen.integers(1, 3)))
            layers.append(pool)
            names.append("maxpool")
            oh, ow = pool.out_h, pool.out_w
        kind = second
        if kind == "winograd" and max(oh, ow) + 2 < 3:
            kind = "dense"
        if kind == "winograd" or (min(oh, ow) >= 3 and gen.random() < 0.5):
            p2 = int(gen.integers(0, 2)) if min(oh, ow) >= 3 else 1
            nxt = random_conv(gen, LAYER_KINDS[kind], info, h=oh, w=ow, c_in=c_out,
                              c_out=int(gen.integers(1, 9)), kernel=3, stride=1, pad=p2,
                              last=True)
        else:
            nxt = LAYER_KINDS[kind].random_layer(gen, oh * ow * c_out, int(gen.integers(1, 8)),
                                                 last=True, info=info)
        if max(nxt.shape) > depth:
            continue
        layers.append(nxt)
        names.append(kind)
        return QuantNetwork(tuple(layers), tuple(names))


def random_batch(gen, prog, lanes: int, *, extremes: float):
    """1 to ``2·lanes`` random input images for ``prog``: 30 % zeros and a share
    ``extremes`` each of −128 and 127."""
    batch = int(gen.integers(1, 2 * lanes + 1))
    pixels = gen.integers(-128, 128, (batch, prog.in_features))
    for value, share in ((0, 0.3), (-128, extremes), (127, extremes)):
        pixels[gen.random(pixels.shape) < share] = value
    return pixels


def run_bit_exact(dut, driver, prog, model, pixels, what: str = ""):
    """Run ``pixels`` through ``prog`` on the top; every output must equal the golden
    model's (the assertion names the layers and ``what``)."""
    got, want, cycles, *_ = run_batches(driver, prog, model, pixels)
    msg = first_mismatch(got, want)
    layers = " → ".join(prog.layer_names)
    assert msg is None, f"{layers} {what}: {msg}" if what else f"{layers}: {msg}"
    dut._log.info("%s (%s): %d images bit-exact, cycles per batch %s", layers,
                  ",".join(prog.kinds), len(pixels), cycles)


def _load_model(name: str, variant: str):
    from corolla.run import resolve_network

    return resolve_network(name, variant)


@cocotb.test()
async def run_job(dut):
    """A network on test images; every output must equal the golden model's."""
    from corolla.firmware.digits import load_digits_data

    _, _, driver = await _setup(dut)
    variant = os.environ.get("COROLLA_VARIANT", "dense")
    n = int(os.environ.get("COROLLA_IMAGES", "8"))
    first = int(os.environ.get("COROLLA_FIRST_IMAGE", "0"))
    model = _load_model(os.environ.get("COROLLA_MODEL", "digits"), variant)
    data = load_digits_data()
    from corolla.run import test_inputs

    pixels = test_inputs(model, data)[first:first + n]
    labels = data.y_test[first:first + n]

    def host():
        info = driver.ping()
        prog = compile_network(model, info)
        return prog, run_batches(driver, prog, model, pixels)

    t0 = time.perf_counter()
    prog, run = await bridge(host)()
    result = run_report(prog, run.outputs, run.expected, labels, run.batch_cycles,
                        run.step_cycles, first_image=first, bytes_sent=driver.bytes_sent,
                        bytes_received=driver.bytes_received, link=run.link,
                        retries=driver.retried, load_s=run.load_s, run_s=run.run_s,
                        end_to_end_inferences_per_s=len(pixels) / run.run_s,
                        host_s=time.perf_counter() - t0)
    mismatch = result["first_mismatch"]
    path = os.environ.get("COROLLA_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
    record_stats(cycles_per_inference=result["cycles_per_inference"], variant=variant)
    assert mismatch is None, mismatch


@cocotb.test()
async def small_networks(dut):
    """Random small networks in every variant, several batch sizes, bit-exact."""
    p, _, driver = await _setup(dut)
    gen = rng(11)
    sizes = [(12, 9, 5), (7, 16, 3)] if p.link == "stream" else [(12, 9, 5)]

    def host():
        info = driver.ping()
        kinds = [k.name for k in LAYER_KINDS.values()
                 if k.missing(info) is None and k.has_weights
                 and k.accepts(k.random_layer(gen, 4, 4, last=False, info=info)) is None]
        for k, shape in enumerate(sizes):
            pixels = gen.integers(-128, 128, (p.cols + 1 + k, shape[0]))
            pixels[gen.random(pixels.shape) < 0.3] = 0
            n = len(shape) - 1
            # Each kind alone, then the kinds alternating layer by layer in one network, in
            # registry order and backwards (every conversion between kinds on chip).
            variants = [[kind] * n for kind in kinds]
            variants += [[kinds[i % len(kinds)] for i in range(n)],
                         [kinds[::-1][i % len(kinds)] for i in range(n)]]
            for variant in variants:
                model = random_network(gen, shape, variant, info)
                prog = compile_network(model, info)
                got, want, cycles, *_ = run_batches(driver, prog, model, pixels)
                msg = first_mismatch(got, want)
                assert msg is None, f"{','.join(variant)} {shape}: {msg}"
                dut._log.info("%s network %s: %d images bit-exact, cycles per batch %s",
                              ",".join(variant), shape, len(pixels), cycles)

    await bridge(host)()


@cocotb.test()
async def conv_networks(dut):
    """Random convolutional networks in every kind that runs convolutions (and mixed),
    several batch sizes, zero and extreme activations, bit-exact against the golden model
    (a direct convolution); the link's streams stall at random."""
    p, _, driver = await _setup(dut)
    gen = rng(13)

    def host():
        info = driver.ping()
        conv_kinds = [k.name for k in LAYER_KINDS.values()
                      if k.missing(info) is None and hasattr(k, "conv_accumulate")
                      and k.accepts(random_conv(gen, k, info, h=2, w=2, c_in=1, c_out=1,
                                                kernel=1, stride=1, pad=0)) is None]
        assert conv_kinds and info["pool"], "the top runs no convolutions or no pooling"
        pairs = [(k, k) for k in conv_kinds] + list(itertools.pairwise(conv_kinds))
        runs = 0
        for first, second in pairs * 2:
            model = random_cnn(gen, (first, second), info, p.act_depth)
            prog = compile_network(model, info)
            pixels = random_batch(gen, prog, p.cols, extremes=0.1)
            run_bit_exact(dut, driver, prog, model, pixels, f"({first}, {second})")
            runs += 1
        record_stats(conv_networks=runs)

    await bridge(host)()


@cocotb.test()
async def conv_throughput(dut):
    """Single convolutions (``COROLLA_CONV_SHAPES``: JSON list of ``[h, w, c_in, c_out,
    kernel, stride, pad]``) on full runs of random images, bit-exact; records each layer's
    cycles from the step counters and its cycle model."""
    from corolla.params import TopParams

    p, _, driver = await _setup(dut)
    gen = rng(17)
    shapes = json.loads(os.environ.get("COROLLA_CONV_SHAPES", "[[4, 4, 16, 16, 3, 1, 1]]"))
    kind_name = os.environ.get("COROLLA_CONV_KIND", "dense")

    def host():
        from corolla.firmware.quant.layers import QuantNetwork

        info = driver.ping()
        kind = LAYER_KINDS[kind_name]
        rows = []
        for h, w, c_in, c_out, kernel, stride, pad in shapes:
            conv = random_conv(gen, kind, info, h=h, w=w, c_in=c_in, c_out=c_out,
                               kernel=kernel, stride=stride, pad=pad)
            model = QuantNetwork((conv,), (kind_name,))
            prog = compile_network(model, info)
            pixels = gen.integers(-128, 128, (p.cols, prog.in_features))
            got, want, _, steps, *_ = run_batches(driver, prog, model, pixels)
            msg = first_mismatch(got, want)
            assert msg is None, f"{prog.layer_names[0]}: {msg}"
            rows.append({"layer": prog.layer_names[0], "cycles": int(steps[0][0]),
                         "model_cycles": kind.cycle_model(prog, 0, conv,
                                                          TopParams.from_dict(params())),
                         "macs": int(conv.shape[0] * conv.inner.shape[1] * p.cols)})
            dut._log.info("%s: %d cycles for %d images", prog.layer_names[0], steps[0][0],
                          p.cols)
        record_stats(conv_throughput=rows)

    await bridge(host)()


def _damaged_frames(gen, good: list[bytes], limits: dict):
    """(description, bytes) of invalid requests; each must get exactly one error reply."""
    out = []
    for k in range(limits["corrupt"]):
        f = bytearray(good[k % len(good)])
        pos = int(gen.integers(1, len(f)))
        f[pos] ^= int(gen.integers(1, 256))
        # A damaged length field makes the frame look truncated (TIMEOUT) or too long.
        out.append((f"byte {pos} flipped", bytes(f)))
    for k in range(limits["truncated"]):
        f = good[k % len(good)]
        cut = int(gen.integers(2, len(f) - 1))
        out.append((f"truncated at {cut}", f[:cut]))
    for k in range(limits["unknown"]):
        code = int(gen.choice([c for c in range(256) if c not in set(Command)]))
        out.append((f"unknown command 0x{code:02x}", proto.frame(code, bytes(k % 9), tag=k)))
    return out


@cocotb.test()
async def fuzz_link(dut):
    """Hundreds of damaged or invalid frames: each answered with an error, nothing changed."""
    p, transport, driver = await _setup(dut)
    gen = rng(23)
    model = random_mlp(gen, (10, 6, 4))
    pixels = gen.integers(-128, 128, (p.cols, 10))

    def host():
        info = driver.ping()
        prog = compile_network(model, info, "dense")
        got, want, *_ = run_batches(driver, prog, model, pixels)
        assert first_mismatch(got, want) is None
        sizes = {Space.PROGRAM: len(prog.program_bytes(len(pixels))), Space.WEIGHTS: 64,
                 Space.BIAS: 40, Space.ACT0: 40, Space.ACT1: 40}
        spaces = list(sizes)
        before = {sp: driver.read(sp, 0, sizes[sp]) for sp in spaces}
        spaces_info = TopParams.from_dict(params()).spaces()

        good = [
            proto.frame(Command.WRITE, bytes([Space.WEIGHTS, 0, 0, 0, 0]) + bytes(range(40))),
            proto.frame(Command.WRITE, bytes([Space.BIAS, 4, 0, 0, 0]) + bytes(12)),
            proto.frame(Command.READ, bytes([Space.ACT0, 0, 0, 0, 0, 8, 0])),
            proto.frame(Command.RUN, bytes([0, 1, 0, 0, 0, 0])),
            proto.frame(Command.PING),
        ]
        invalid = _damaged_frames(gen, good, {"corrupt": 200, "truncated": 40, "unknown": 30})
        w = Command.WRITE
        r = Command.READ
        size = {sp: info.size for sp, info in spaces_info.items()}
        invalid += [
            ("write past the end", proto.frame(w, bytes([Space.WEIGHTS])
                                           + (size[Space.WEIGHTS] - 2).to_bytes(4, "little")
                                           + bytes(4))),
            ("write at 2**32 - 1", proto.frame(w, bytes([Space.ACT0]) + b"\xff\xff\xff\xff"
                                           + bytes(3))),
            ("write to the counters", proto.frame(w, bytes([Space.COUNTERS, 0, 0, 0, 0, 1]))),
            ("write to a space that does not exist",
             proto.frame(w, bytes([max(Space) + 1, 0, 0, 0, 0, 1]))),
            ("write without data", proto.frame(w, bytes([Space.BIAS, 0, 0, 0, 0]))),
            ("EIE write not record aligned", proto.frame(w, bytes([Space.EIE, 0, 0, 0, 0])
                                                     + bytes(12))),
            ("EIE record past the entry memory",
             proto.frame(w, bytes([Space.EIE, 0, 0, 0, 0])
                     + proto.pack_eie_record(0, 0, 0, 1) + proto.pack_eie_record(0, 0, 0xFFFF, 1))),
            ("EIE record for a PE that does not exist",
             proto.frame(w, bytes([Space.EIE, 0, 0, 0, 0]) + proto.pack_eie_record(0, 63, 0, 1))),
            ("EIE bias too wide", proto.frame(w, bytes([Space.EIE, 0, 0, 0, 0])
                                          + proto.pack_eie_record(3, 0, 0, 1 << 31)
                                          if p.acc_width < 32 else
                                          bytes([Space.EIE, 0, 0, 0, 0])
                                          + proto.pack_eie_record(1, 0, 0, 0xFFFF))),
            ("read of the EIE space", proto.frame(r, bytes([Space.EIE, 0, 0, 0, 0, 8, 0]))),
            ("read past the end", proto.frame(r, bytes([Space.BIAS])
                                          + (size[Space.BIAS] - 4).to_bytes(4, "little")
                                          + (8).to_bytes(2, "little"))),
            ("read of 0 bytes", proto.frame(r, bytes([Space.BIAS, 0, 0, 0, 0, 0, 0]))),
            ("read longer than max_payload", proto.frame(r, bytes([Space.WEIGHTS, 0, 0, 0, 0])
                                                     + (p.max_payload + 1).to_bytes(2, "little"))),
            ("read with a short payload", proto.frame(r, bytes([Space.BIAS, 0, 0]))),
            ("ping with a payload", proto.frame(Command.PING, b"x")),
            ("status with a payload", proto.frame(Command.STATUS, b"xy")),
            ("run past the program", proto.frame(Command.RUN,
                                             bytes([p.program_depth - 1, 2, 0, 0, 0, 0]))),
            ("run of 0 steps", proto.frame(Command.RUN, bytes([0, 0, 0, 0, 0, 0]))),
            ("run with a short payload", proto.frame(Command.RUN, bytes([0, 1]))),
            ("length past max_payload",
             bytes([proto.SYNC_REQUEST, w, 0]) + (p.max_payload + 1).to_bytes(2, "little")
             + bytes(40)),
        ]
        counts = {}
        for what, raw in invalid:
            transport.write(raw)
            # The tag itself may be the damaged byte, so any tag is taken.
            reply = driver.read_reply(None)
            assert reply is not None, f"{what}: no reply to {raw.hex()}"
            status, _ = reply
            if status == Status.OK:
                raise AssertionError(f"{what}: accepted {raw.hex()}")
            counts[getattr(status, "name", status)] = counts.get(
                getattr(status, "name", status), 0) + 1
        # Noise before a good frame: skipped.
        transport.write(bytes([0x00, 0x13, 0x5C]) + proto.frame(Command.PING, tag=200))
        assert driver.read_reply(200) is not None, "no reply after line noise"
        after = {sp: driver.read(sp, 0, sizes[sp]) for sp in spaces}
        for sp in spaces:
            assert after[sp] == before[sp], f"{sp.name} changed by refused requests"
        got, want, *_ = run_batches(driver, prog, model, pixels)
        msg = first_mismatch(got, want)
        assert msg is None, f"run after fuzzing: {msg}"
        return len(invalid), counts

    count, counts = await bridge(host)()
    dut._log.info("%d invalid requests refused: %s", count, counts)
    record_stats(fuzz_frames=count, **{f"status_{k}": v for k, v in counts.items()})


@cocotb.test()
async def bad_programs(dut):
    """Invalid descriptors, a broken EIE layer and the watchdog stop a program with the
    right flag; the next good program runs."""
    p, _, driver = await _setup(dut)
    gen = rng(31)
    model = random_mlp(gen, (8, 6, 3))
    pixels = gen.integers(-128, 128, (2, 8))

    def host():
        info = driver.ping()
        prog = compile_network(model, info, "dense")
        session = Session(driver, prog)
        session.load()
        cases = [
            ("kind 0", {"kind": 0, "rows": 4, "cols": 4, "batch": 1}, "DESCRIPTOR"),
            ("a kind the top has no engine for",
             {"kind": 15, "rows": 4, "cols": 4, "batch": 1}, "DESCRIPTOR"),
            ("batch 0", {"kind": 1, "rows": 4, "cols": 4, "batch": 0}, "DESCRIPTOR"),
            ("batch past the lanes", {"kind": 1, "rows": 4, "cols": 4, "batch": p.cols + 1},
             "DESCRIPTOR"),
            ("rows past the activation memory",
             {"kind": 1, "rows": p.act_depth + 1, "cols": 4, "batch": 1}, "DESCRIPTOR"),
            ("weights past the weight memory",
             {"kind": 1, "rows": 4, "cols": 8, "batch": 1,
              "weight_base": p.weight_depth - 2}, "DESCRIPTOR"),
            ("biases past the bias memory",
             {"kind": 1, "rows": 8, "cols": 4, "batch": 1, "bias_base": p.bias_depth - 3},
             "DESCRIPTOR"),
            ("watchdog", {"kind": 1, "rows": 64, "cols": 64, "batch": 1}, "WATCHDOG"),
        ]
        if info["eie_pes"]:
            cases.append(("EIE layer past its memories",
                          {"kind": 2, "rows": info["eie_max_rows"], "cols": 4, "batch": 1,
                           "ptr_base": info["eie_ptr_depth"] - 2}, "EIE_CONFIG"))
            cases += [
                ("EIE layer with more rows than the engine holds",
                 {"kind": 2, "rows": info["eie_max_rows"] + 1, "cols": 4, "batch": 1},
                 "DESCRIPTOR"),
                ("EIE layer with as many columns as pointers",
                 {"kind": 2, "rows": 4, "cols": info["eie_ptr_depth"], "batch": 1},
                 "DESCRIPTOR"),
                ("EIE codebook that does not exist",
                 {"kind": 2, "rows": 4, "cols": 4, "batch": 1,
                  "codebook": info["eie_codebooks"]}, "DESCRIPTOR"),
            ]
        for kind in LAYER_KINDS.values():
            if kind.missing(info) is None:
                cases += [(f"{kind.name} descriptor past its memories: {fields}",
                           {"kind": kind.code, "rows": 4, "cols": 4, "batch": 1} | fields,
                           "DESCRIPTOR") for fields in kind.bad_descriptors(p)]
        for what, desc, flag in cases:
            args = next((k.args for k in LAYER_KINDS.values() if k.code == desc["kind"]), ())
            driver.write(Space.PROGRAM, 0, proto.pack_descriptor(args, **desc))
            driver.run(0, 1, watchdog=50 if flag == "WATCHDOG" else 0)
            st = driver.wait()
            names = [f.name for f in ErrorFlag if st["errors"] >> f & 1]
            assert names == [flag], f"{what}: flags {names}, expected [{flag}]"
            # Writes are refused while a program runs.
        dense = LAYER_KINDS["dense"]
        driver.write(Space.PROGRAM, 0, proto.pack_descriptor(dense.args, kind=dense.code,
                                                             rows=64, cols=64, batch=1))
        driver.run(0, 1)
        try:
            driver.write(Space.WEIGHTS, 0, b"\x01")
            raise AssertionError("a write during a run was accepted")
        except LinkError as exc:
            assert exc.status == Status.BUSY, exc
        driver.wait()
        session._batch = None
        res = session.infer(pixels)
        want = golden_outputs(model, prog, pixels)
        assert first_mismatch(res.outputs, want) is None, first_mismatch(res.outputs, want)

    await bridge(host)()


@cocotb.test()
async def winograd_networks(dut):
    """Random 3×3 stride-1 convolutions on the Winograd engine, alone, chained and beside the
    int8 array, several batch sizes, zero and extreme activations: bit-exact against the
    golden model, which is checked against the direct convolution of the same weights."""
    p, _, driver = await _setup(dut)
    gen = rng(17)

    def host():
        info = driver.ping()
        runs = 0
        if LAYER_KINDS["winograd"].missing(info) is not None:
            dut._log.info("no Winograd engine on this top: nothing to run")
            record_stats(winograd_networks=0)
            return
        for second in ("winograd", "dense", "winograd", "dense", "winograd", "dense"):
            model = random_winograd_cnn(gen, info, p.act_depth, second)
            prog = compile_network(model, info)
            pixels = random_batch(gen, prog, p.cols, extremes=0.15)
            # The Winograd golden model is the direct convolution, bit for bit.
            conv = model.layers[0]
            wino, dense = LAYER_KINDS["winograd"], LAYER_KINDS["dense"]
            direct = dense.conv_accumulate(prog, 0, conv, pixels, info["acc_width"])
            fast = wino.conv_accumulate(prog, 0, conv, pixels, info["acc_width"])
            assert np.array_equal(direct, fast), "the Winograd model differs from direct"
            run_bit_exact(dut, driver, prog, model, pixels)
            runs += 1
        record_stats(winograd_networks=runs)

    await bridge(host)()
