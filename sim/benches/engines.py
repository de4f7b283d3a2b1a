"""cocotb bench of one engine of the accelerator top on its own (:mod:`corolla.hw.engines`),
against its layer kind's golden model (:meth:`corolla.layers.LayerKind.golden`).

``COROLLA_PARAMS`` gives the layer kind (``kind``) and the top's parameters (``top``). The bench
plays the rest of the top: it writes the compiled network's memory images through the
engine's host bus (with idle cycles between bytes), models the two activation banks (a read is
answered the next cycle, writes land on their lane enables), and runs each layer as one step:
descriptor, ``step.start``, then ``step.done``. Between steps it leaves random idle cycles;
during steps it drives junk writes on the host bus, which the engine must ignore while
``busy``. Every layer's outputs are compared with the golden model, and descriptors that do not
fit the engine's memories must end the step at once with the ``DESCRIPTOR`` flag.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly

from corolla import protocol as proto
from corolla.firmware.compile import compile_network
from corolla.layers import LAYER_KINDS
from corolla.params import TopParams
from corolla.sim.benches.common import TB, first_mismatch, golden, params, record_stats, rng
from corolla.sim.benches.top import random_conv, random_network


class EngineTB(TB):
    """Clock, reset, the host bus, the activation banks and steps of one engine."""

    def __init__(self, dut, top: TopParams, gen):
        super().__init__(dut)
        self.top, self.gen = top, gen
        self.lanes = top.cols
        self.banks = [np.zeros((top.act_depth, top.cols), dtype=np.int64) for _ in range(2)]
        for name in ("step__start", "bus__we", "bus__re", "bus__check", "busy"):
            getattr(dut, name).value = 0
        dut.act__rd_data.value = 0
        dut.desc.value = 0

    async def write_bytes(self, space: int, addr: int, data: bytes):
        d = self.dut
        for k, byte in enumerate(data):
            while self.gen.random() < 0.2:                 # idle cycles between bytes
                d.bus__we.value = 0
                await self.tick()
            d.bus__space.value, d.bus__addr.value = int(space), addr + k
            d.bus__wdata.value, d.bus__we.value = byte, 1
            await self.tick()
        d.bus__we.value = 0
        await self.tick()

    def _word(self, bank: int, addr: int) -> int:
        row = self.banks[bank][addr] if addr < len(self.banks[bank]) else np.zeros(self.lanes)
        return sum((int(v) & 0xFF) << 8 * lane for lane, v in enumerate(row))

    async def step(self, desc: bytes, src: int, *, budget: int = 200_000):
        """Run one step; returns its error flags and cycles."""
        d = self.dut
        d.desc.value = int.from_bytes(desc, "little")
        d.busy.value = 1
        d.step__start.value = 1
        pending_read = None
        for cycle in range(budget):
            if pending_read is not None:
                d.act__rd_data.value = self._word(src, pending_read)
            # Junk on the host bus while busy: the engine must not take it.
            d.bus__we.value = int(self.gen.random() < 0.1)
            d.bus__space.value = int(self.gen.integers(0, 8))
            d.bus__addr.value = int(self.gen.integers(0, 1 << 16))
            d.bus__wdata.value = int(self.gen.integers(0, 256))
            await ReadOnly()
            pending_read = int(d.act__rd_addr.value) if int(d.act__rd_en.value) else None
            en = int(d.act__wr_en.value)
            if en:
                addr = int(d.act__wr_addr.value)
                data = int(d.act__wr_data.value)
                for lane in range(self.lanes):
                    if en >> lane & 1:
                        byte = (data >> 8 * lane) & 0xFF
                        self.banks[1 - src][addr, lane] = byte - 256 if byte > 127 else byte
            done, error = int(d.step__done.value), int(d.step__error.value)
            await self.tick()
            d.step__start.value = 0
            if done:
                d.busy.value = 0
                d.bus__we.value = 0
                return error, cycle + 1
        raise AssertionError(f"the step did not end within {budget} cycles")


def feature_networks(gen, kind, info, depth: int):
    """Random networks on feature maps for ``kind``: convolutions (random sides, kernels,
    strides, paddings and channel counts, every map at most ``depth`` words) for an array
    kind that runs them, chains of max pooling for ``maxpool``; else none."""
    from corolla.firmware.quant.layers import MaxPoolLayer, QuantNetwork

    nets = []
    if kind.name == "maxpool":
        for _ in range(3):
            h, w = int(gen.integers(2, 6)), int(gen.integers(2, 6))
            c = int(gen.integers(1, max(1, depth // (h * w)) + 1))
            layers = []
            while h * w * c <= depth and min(h, w) >= 2 and len(layers) < 2:
                size = int(gen.integers(1, min(h, w) + 1))
                pool = MaxPoolLayer(h, w, c, size, int(gen.integers(1, 3)))
                layers.append(pool)
                h, w = pool.out_h, pool.out_w
            nets.append(QuantNetwork(tuple(layers), ("maxpool",) * len(layers)))
        return nets
    probes = [random_conv(gen, kind, info, h=3, w=3, c_in=1, c_out=1, kernel=k, stride=1,
                          pad=k // 2) for k in (1, 3)]
    if all(kind.accepts(conv) for conv in probes):
        return nets
    while len(nets) < 4:
        kernel = int(gen.integers(1, 6))
        stride = int(gen.integers(1, 3))
        pad = int(gen.integers(0, kernel))
        h, w = int(gen.integers(max(1, kernel - 2 * pad), 8)), int(gen.integers(1, 8))
        if w + 2 * pad < kernel:
            continue
        c_in = int(gen.integers(1, 6))
        c_out = int(gen.integers(1, 7))
        conv = random_conv(gen, kind, info, h=h, w=w, c_in=c_in, c_out=c_out, kernel=kernel,
                           stride=stride, pad=pad, last=bool(gen.integers(0, 2)))
        if (max(conv.shape) > depth or conv.shape[1] < 1 or kernel ** 2 * c_in > depth
                or kind.accepts(conv)):          # a geometry this kind does not run
            continue
        layers = [conv]
        # Two binary convolutions in a row would pass sign bits: one at a time.
        if conv.out_h * conv.out_w > 1 and 2 * conv.shape[0] <= depth and kind.name != "binary":
            nxt = random_conv(gen, kind, info, h=conv.out_h, w=conv.out_w, c_in=c_out,
                              c_out=int(gen.integers(1, 5)), kernel=min(3, conv.out_h,
                                                                         conv.out_w),
                              stride=1, pad=0, last=True)
            if max(nxt.shape) <= depth and not kind.accepts(nxt):
                layers.append(nxt)
        nets.append(QuantNetwork(tuple(layers), (kind.name,) * len(layers)))
    return nets


@cocotb.test()
async def network(dut):
    """Random networks, every layer on this engine, bit-exact against the kind's golden:
    fully connected layers, convolutions (the kinds that run them) and max pooling."""
    p = params()
    kind = LAYER_KINDS[p["kind"]]
    top = TopParams.from_dict(p["top"])
    gen = rng(7)
    tb = EngineTB(dut, top, gen)
    await tb.reset()
    model_golden = golden(kind.golden)
    layers_run = 0
    info = top.info()
    models = feature_networks(gen, kind, info, top.act_depth)
    if kind.has_weights and kind.accepts(kind.random_layer(gen, 4, 4, last=False,
                                                           info=info)) is None:
        models += [random_network(gen, sizes, [kind.name] * (len(sizes) - 1), info)
                   for sizes in ((12, 9, 5), (3, 17, 9, 1), (33, 6))]
    assert models, f"no network to run on {kind.name}"
    for model in models:
        sizes = (model.layers[0].shape[1], *(q.shape[0] for q in model.layers))
        prog = compile_network(model, info)
        for space, addr, data in prog.writes:
            await tb.write_bytes(space, addr, data)
        for batch in (top.cols, 1):
            x = gen.integers(-128, 128, (batch, sizes[0]))
            x[gen.random(x.shape) < 0.3] = 0
            x[gen.random(x.shape) < 0.1] = -128          # the extremes
            x[gen.random(x.shape) < 0.1] = 127
            tb.banks[0][:sizes[0], :batch] = x.T
            a = x
            for i, (q, step) in enumerate(zip(model.layers, prog.steps, strict=True)):
                for _ in range(int(gen.integers(0, 5))):
                    await tb.tick()
                desc = proto.pack_descriptor(kind.args, **step, batch=batch)
                error, cycles = await tb.step(desc, src=i % 2)
                assert error == 0, f"layer {i} of {sizes}: error flags {error:#x}"
                want = model_golden(prog, i, q, a, model.acc_width)
                rows = want.shape[1]          # outputs, or words of sign bits
                got = tb.banks[1 - i % 2][:rows, :batch].T

                def where(k, i=i, a=a, rows=rows, sizes=sizes):
                    return (f"inputs layer {i} of {sizes}, image {k // rows}: "
                            f"{a[k // rows].tolist()}")
                msg = first_mismatch(got.ravel().tolist(), want.ravel().tolist(), where)
                assert msg is None, msg
                a = want
                layers_run += 1
                dut._log.info("%s layer %d (%s): %d cycles for %d image(s)", kind.name, i,
                              prog.layer_names[i], cycles, batch)
    record_stats(layers=layers_run)


@cocotb.test()
async def descriptors_past_memories(dut):
    """Descriptors whose memory ranges do not fit end the step with ``DESCRIPTOR`` at once."""
    p = params()
    kind = LAYER_KINDS[p["kind"]]
    top = TopParams.from_dict(p["top"])
    tb = EngineTB(dut, top, rng(8))
    await tb.reset()
    common = {"kind": kind.code, "rows": 4, "cols": 4, "batch": 1}
    bad = kind.bad_descriptors(top)
    assert bad, f"layer kind {kind.name} names no descriptor its engine must refuse"
    for fields in bad:
        desc = proto.pack_descriptor(kind.args, **(common | fields))
        error, cycles = await tb.step(desc, src=0, budget=200)
        assert error == 1 << proto.ErrorFlag.DESCRIPTOR, f"{fields}: flags {error:#x}"
        # The setup multiplies the sizes one bit a cycle: a few dozen cycles at most.
        assert cycles < 100, f"{fields}: refused after {cycles} cycles"
