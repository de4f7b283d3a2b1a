"""Plain-data parameters of the accelerator's engines and top (no Amaranth, no numpy).

The configuration (:mod:`corolla.config`) builds these objects, the gateware (:mod:`corolla.hw`)
elaborates them, and the host side (:mod:`corolla.firmware`) reads them back from the PING
reply, so the sizes have one definition that does not pull the HDL into the host code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import IntEnum
from typing import ClassVar

from . import protocol as proto

__all__ = ["CODE_WORD", "ArrayParams", "EieParams", "EieTarget", "SpaceInfo", "TopParams",
           "divisor_for"]


#: How the host reaches the link: UART pins, byte streams, or byte streams in words.
LINKS = ("uart", "stream", "burst")


def _bits_for(value: int) -> int:
    """Bits of an unsigned number up to ``value`` (at least 1)."""
    return max(1, int(value).bit_length())


def divisor_for(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clock_hz`` (rounded), checked to be usable.

    Raises
    ------
    ValueError
        The divisor is below 4 or the rounding error is above 2 % (the receiver samples
        mid-bit; about 4 % of total error is what 8N1 tolerates).
    """
    if baud <= 0 or clock_hz <= 0:
        raise ValueError(f"baud {baud!r} and clock {clock_hz!r} must be positive")
    divisor = round(clock_hz / baud)
    if divisor < 4:
        raise ValueError(f"baud {baud} is too fast for a {clock_hz / 1e6:g} MHz clock "
                         f"(divisor {clock_hz / baud:.2f}; at least 4)")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(f"baud {baud} at {clock_hz / 1e6:g} MHz is off by {100 * error:.1f} % "
                         f"(divisor {divisor}); at most 2 %")
    return divisor


@dataclass(frozen=True)
class SpaceInfo:
    """Size in bytes and access of one host-visible memory space."""

    size: int
    readable: bool = True
    writable: bool = True
    #: Written in :data:`~corolla.protocol.RECORD_BYTES`-byte records that the memory's owner
    #: checks (``bus.check``) before the link writes any of them.
    records: bool = False


class EieTarget(IntEnum):
    """Which memory of the EIE engine a load record writes."""

    #: A PE's entry memory: ``addr`` is the entry address, ``data`` the word ``v << z_bits | z``.
    ENTRY = 0
    #: A PE's column pointers: ``addr`` is ``ptr_base + column``, ``data`` the entry address.
    POINTER = 1
    #: The codebooks (every PE's copy): ``addr`` is ``codebook << v_bits | index``.
    CODEBOOK = 2
    #: The biases: ``addr`` is ``bias_base + row``, ``data`` two's complement, ``acc_width`` bits.
    BIAS = 3
    #: With Huffman-coded entries, the symbol tables (every PE's copy): ``addr`` is
    #: ``codebook << (s + 1) | field << s | position`` with ``s = max(z_bits, v_bits)`` and
    #: ``field`` 0 for ``z``, 1 for ``v``; ``data`` the value at that position in code order
    #: (:class:`corolla.firmware.compress.huffman.DecodeTable`).
    SYMBOLS = 4
    #: With Huffman-coded entries, the decoders' limit and base of code length ``n``:
    #: ``addr`` is ``codebook << 4 | field << 3 | (n − 1)``, ``data`` is
    #: ``limit | base << (code_length + 1)`` (base two's complement in ``code_length + 2``
    #: bits).
    LIMITS = 5


#: Bits of a word of Huffman-coded EIE entries (first bit most significant).
CODE_WORD = 16


@dataclass(frozen=True)
class EieParams:
    """Sizes of an EIE engine.

    Parameters
    ----------
    pes : int
        P, a power of two from 1 to 64; row ``i`` belongs to PE ``i mod P``.
    z_bits, v_bits : int
        Entry fields: relative row index and codebook index.
    weight_width, act_width : int
        Codebook entries and activations, signed.
    acc_width, out_width : int
        Accumulators (and biases) and outputs, signed.
    max_rows : int
        Most rows (M) a layer may have; each PE keeps ``ceil(max_rows / P)`` accumulators.
    entry_depth : int
        Entries per PE, over every layer held at once.
    ptr_depth : int
        Column pointers per PE, over every layer held at once (a layer of N columns needs
        N + 1); even.
    bias_depth : int
        Biases, over every layer held at once.
    codebooks : int
        Codebooks held at once (one per layer), ``2**v_bits`` entries each.
    fifo_depth : int
        Depth of each PE's activation FIFO (at least 3: the broadcast keeps room for the
        columns in flight).
    act_lanes : int
        Activations per beat of the ``act`` stream (1 to 16).
    broadcast : int
        B, non-zero activations broadcast to the PEs per cycle (1 to ``act_lanes``, at most
        8); each PE fetches the column pointers of up to B columns a cycle (a copy of its
        pointer memory per broadcast lane).
    column_queue : int
        Non-empty columns each PE can hold between its pointer fetch and its entry walk.
    huffman : bool
        Entries stored canonically Huffman-coded (a code for ``z`` and one for ``v`` per
        codebook slot), decoded on chip one entry a cycle; column pointers are then bit
        addresses.
    code_length : int
        Longest Huffman code (4 to 8 bits), with ``huffman``.
    code_depth : int
        16-bit words of coded entries per PE (even), with ``huffman``; ``entry_depth`` then
        only sizes the plain layout's checks.
    """

    pes: int = 4
    z_bits: int = 4
    v_bits: int = 4
    weight_width: int = 8
    act_width: int = 8
    acc_width: int = 32
    out_width: int = 8
    max_rows: int = 512
    entry_depth: int = 1024
    ptr_depth: int = 512
    bias_depth: int = 512
    codebooks: int = 4
    fifo_depth: int = 8
    act_lanes: int = 4
    broadcast: int = 2
    column_queue: int = 4
    huffman: bool = False
    code_length: int = 8
    code_depth: int = 512

    def __post_init__(self):
        def need(name, ok, expected):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
                raise ValueError(f"EIE engine parameter {name} must be {expected}, not "
                                 f"{value!r}")

        need("pes", lambda v: 1 <= v <= 64 and v & (v - 1) == 0,
             "a power of two from 1 to 64")
        need("z_bits", lambda v: 1 <= v <= 8, "an integer from 1 to 8")
        need("v_bits", lambda v: 1 <= v <= 8, "an integer from 1 to 8")
        need("weight_width", lambda v: 2 <= v <= 18, "an integer from 2 to 18")
        need("act_width", lambda v: 2 <= v <= 18, "an integer from 2 to 18")
        need("acc_width", lambda v: self.weight_width + self.act_width <= v <= 48,
             f"an integer from {self.weight_width + self.act_width} to 48")
        need("out_width", lambda v: 2 <= v <= self.acc_width,
             f"an integer from 2 to {self.acc_width}")
        need("max_rows", lambda v: v >= 1, "a positive integer")
        need("entry_depth", lambda v: v >= 2, "an integer of at least 2")
        need("ptr_depth", lambda v: v >= 2 and v % 2 == 0, "an even integer of at least 2")
        need("bias_depth", lambda v: v >= 1, "a positive integer")
        need("codebooks", lambda v: v >= 1, "a positive integer")
        need("fifo_depth", lambda v: v >= 3, "an integer of at least 3")
        need("act_lanes", lambda v: 1 <= v <= 16, "an integer from 1 to 16")
        need("broadcast", lambda v: 1 <= v <= min(8, self.act_lanes),
             f"an integer from 1 to {min(8, self.act_lanes)} (act_lanes, at most 8)")
        need("column_queue", lambda v: 1 <= v <= 64, "an integer from 1 to 64")
        if not isinstance(self.huffman, bool):
            raise ValueError(f"EIE engine parameter huffman must be true or false, not "
                             f"{self.huffman!r}")
        need("code_length", lambda v: 4 <= v <= 8, "an integer from 4 to 8")
        need("code_depth", lambda v: v >= 2 and v % 2 == 0, "an even integer of at least 2")

    @property
    def pe_bits(self) -> int:
        """Bits of a PE number (0 for a single PE)."""
        return self.pes.bit_length() - 1

    @property
    def local_depth(self) -> int:
        """Accumulators per PE."""
        return -(-self.max_rows // self.pes)

    @property
    def entry_width(self) -> int:
        """Bits of an entry word (``v`` above ``z``)."""
        return self.z_bits + self.v_bits

    @property
    def ptr_width(self) -> int:
        """Bits of a column pointer (an entry address or the end of the entry memory; with
        ``huffman`` a bit address of the coded memory or its end)."""
        return _bits_for(self.pointer_end)

    @property
    def symbol_bits(self) -> int:
        """Bits of a position in a Huffman symbol table: ``max(z_bits, v_bits)``."""
        return max(self.z_bits, self.v_bits)

    @property
    def pointer_end(self) -> int:
        """Largest valid column pointer: the entry memory's size (in bits with ``huffman``)."""
        return self.code_depth * CODE_WORD if self.huffman else self.entry_depth

    @property
    def col_bits(self) -> int:
        """Bits of a column index (and of a pointer-memory address)."""
        return _bits_for(self.ptr_depth - 1)

    @property
    def load_addr_width(self) -> int:
        """Bits of ``load.addr``."""
        depths = [self.entry_depth, self.ptr_depth, self.codebooks << self.v_bits,
                  self.bias_depth]
        if self.huffman:
            depths += [self.code_depth, self.codebooks << (self.symbol_bits + 1),
                       self.codebooks << 4]
        return _bits_for(max(depths) - 1)

    @property
    def load_data_width(self) -> int:
        """Bits of ``load.data``."""
        widths = [self.entry_width, self.ptr_width, self.weight_width, self.acc_width]
        if self.huffman:
            widths += [CODE_WORD, 2 * self.code_length + 3]
        return max(widths)

    def to_dict(self) -> dict:
        """The parameters as a plain mapping."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _pow2(value) -> bool:
    return isinstance(value, int) and value >= 1 and value & (value - 1) == 0


@dataclass(frozen=True)
class ArrayParams:
    """Sizes of one of the top's extra PE arrays (ternary, binary, LNS); its columns are the
    top's ``cols`` (the activation lanes).

    Parameters
    ----------
    rows : int
        Array rows (outputs computed at once), a power of two from 1 to 16.
    weight_depth : int
        Weight words (``rows`` operands each).
    bias_depth : int
        Biases (and, for the binary array, per-output scales).
    """

    rows: int = 4
    weight_depth: int = 16384
    bias_depth: int = 512

    def __post_init__(self):
        for name, ok, expected in (
                ("rows", _pow2(self.rows) and self.rows <= 16, "a power of two from 1 to 16"),
                ("weight_depth", isinstance(self.weight_depth, int)
                 and 16 <= self.weight_depth <= 1 << 20, "an integer from 16 to 2**20"),
                ("bias_depth", isinstance(self.bias_depth, int)
                 and 16 <= self.bias_depth <= 4095, "an integer from 16 to 4095")):
            if isinstance(getattr(self, name), bool) or not ok:
                raise ValueError(f"array parameter {name} must be {expected}, not "
                                 f"{getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TopParams:
    """Sizes of the accelerator.

    Parameters
    ----------
    rows, cols : int
        PE array size (powers of two, 1 to 16). ``cols`` is also the number of images a
        program runs at once (activation lanes).
    acc_width : int
        Accumulator width (16 to 32).
    eie : EieParams or None
        The EIE engine (``act_lanes`` and ``broadcast`` are set to 1, ``act_width``/``out_width``
        to 8), or
        ``None`` for none.
    weight_depth : int
        Dense weight words (``rows`` bytes each).
    act_depth : int
        Words per activation bank (the widest layer).
    bias_depth : int
        Dense biases.
    program_depth : int
        Program steps (at most 255).
    max_payload : int
        Largest request payload of the host link.
    frame_timeout : int
        Host-link idle timeout in cycles (see :class:`~corolla.hw.io.HostLink`).
    clock_hz, baud : float, int
        For the UART divisor.
    link : str
        ``"uart"`` (pins ``rx``/``tx``), ``"stream"`` (byte streams ``host_rx``/``host_tx``)
        or ``"burst"`` (the same bytes in words of several, for fast simulation).
    ternary, binary, lns, winograd : ArrayParams or None
        The extra PE arrays (``None`` for none): ternary weights, binary weights and
        activations, LNS words, and the Winograd engine's array (12-bit transformed weights
        and inputs, :mod:`corolla.hw.engines.winograd`).
    lns_int_bits, lns_frac_bits : int
        The LNS array's word format (:class:`~corolla.formats.LnsFormat`).
    lns_acc_frac : int
        Fraction bits of the LNS array's fixed-point products and sums.
    pool : bool
        The max-pooling engine.
    conv : bool
        The array engines run convolutions (a window walker in each feeder).
    scales : bool
        The int8 array's requantizers multiply by a 16-bit multiplier per output before the
        shift (models with float scales); without, they only shift.
    """

    rows: int = 4
    cols: int = 4
    acc_width: int = 32
    eie: EieParams | None = field(default_factory=lambda: EieParams(pes=4))
    weight_depth: int = 16384
    act_depth: int = 512
    bias_depth: int = 1024
    program_depth: int = 16
    max_payload: int = 1024
    frame_timeout: int = 2000
    clock_hz: float = 50e6
    baud: int = 115200
    link: str = "stream"
    ternary: ArrayParams | None = None
    binary: ArrayParams | None = None
    lns: ArrayParams | None = None
    winograd: ArrayParams | None = None
    lns_int_bits: int = 4
    lns_frac_bits: int = 3
    lns_acc_frac: int = 8
    pool: bool = True
    conv: bool = True
    scales: bool = True

    #: The extra PE arrays' fields.
    ARRAYS: ClassVar[tuple] = ("ternary", "binary", "lns", "winograd")

    def __post_init__(self):
        def need(name, ok, expected):
            value = getattr(self, name)
            if isinstance(value, bool) or not ok(value):
                raise ValueError(f"accelerator parameter {name} must be {expected}, not "
                                 f"{value!r}")
        need("rows", lambda v: _pow2(v) and v <= 16, "a power of two from 1 to 16")
        need("cols", lambda v: _pow2(v) and v <= 16, "a power of two from 1 to 16")
        need("acc_width", lambda v: isinstance(v, int) and 16 <= v <= 32,
             "an integer from 16 to 32")
        need("weight_depth", lambda v: isinstance(v, int) and 1 <= v <= 1 << 20,
             "an integer from 1 to 2**20")
        need("act_depth", lambda v: isinstance(v, int) and 1 <= v <= 4095,
             "an integer from 1 to 4095")
        need("bias_depth", lambda v: isinstance(v, int) and 1 <= v <= 4095,
             "an integer from 1 to 4095")
        need("program_depth", lambda v: isinstance(v, int) and 1 <= v <= 255,
             "an integer from 1 to 255")
        need("link", lambda v: v in LINKS, " or ".join(repr(k) for k in LINKS))
        need("lns_int_bits", lambda v: isinstance(v, int) and 1 <= v <= 7,
             "an integer from 1 to 7 (LNS words of at most 8 bits)")
        need("lns_frac_bits", lambda v: isinstance(v, int) and v >= 0
             and self.lns_int_bits + v <= 7, "an integer with lns_int_bits + lns_frac_bits "
             "from 2 to 7")
        need("lns_acc_frac", lambda v: isinstance(v, int) and 0 <= v <= 16,
             "an integer from 0 to 16")
        for name in self.ARRAYS:
            need(name, lambda v: v is None or isinstance(v, ArrayParams),
                 "ArrayParams or None")
        if self.ternary is not None and self.ternary.rows < 4:
            raise ValueError("accelerator parameter ternary: rows must be at least 4 (a "
                             "weight word of whole bytes)")
        if self.winograd is not None and (self.winograd.rows < 2 or self.acc_width < 32):
            raise ValueError("accelerator parameter winograd: rows must be at least 2 and "
                             "acc_width at least 32 (16-bit operands)")
        if self.eie is not None:
            eie = replace(self.eie, act_lanes=1, broadcast=1, act_width=8, out_width=8,
                          acc_width=self.acc_width)
            object.__setattr__(self, "eie", eie)
            if eie.load_addr_width > 16 or eie.pes > 64:
                raise ValueError("accelerator parameter eie: memories need at most 16 address "
                                 "bits")
        if self.link == "uart":
            divisor_for(self.clock_hz, self.baud)

    @property
    def divisor(self) -> int:
        """UART clock cycles per bit."""
        return divisor_for(self.clock_hz, self.baud)

    def spaces(self) -> dict:
        """Byte size and access of each host-visible memory: the top's own, then those of
        the engine of each layer kind it has (:meth:`corolla.layers.LayerKind.spaces`)."""
        from .layers import LAYER_KINDS

        spaces = {
            proto.Space.PROGRAM: SpaceInfo(self.program_depth * proto.DESCRIPTOR_BYTES),
            proto.Space.ACT0: SpaceInfo(self.act_depth * self.cols),
            proto.Space.ACT1: SpaceInfo(self.act_depth * self.cols),
            proto.Space.COUNTERS: SpaceInfo(self.program_depth * 4, writable=False),
        }
        for kind in LAYER_KINDS.values():
            if kind.enabled(self):
                spaces |= kind.spaces(self)
        return spaces

    def info(self) -> dict:
        """The PING reply fields (:func:`corolla.layers.info_fields`): 0 for the fields of a
        layer kind the accelerator does not have."""
        from .layers import LAYER_KINDS, info_fields

        values = dict.fromkeys((name for name, _ in info_fields()), 0)
        values |= {"cols": self.cols, "max_payload": self.max_payload,
                   "program_depth": self.program_depth, "act_depth": self.act_depth,
                   "acc_width": self.acc_width, "conv": int(self.conv),
                   "scales": int(self.scales)}
        for kind in LAYER_KINDS.values():
            if kind.enabled(self):
                values |= kind.info_values(self)
        return values

    def info_bytes(self) -> bytes:
        """The PING reply payload: magic, version, :meth:`info`."""
        from .layers import info_fields

        fields = info_fields()
        n = sum(size for _, size in fields)
        return (proto.INFO_MAGIC + bytes([proto.VERSION])
                + proto.pack_fields(fields, self.info(), unit=8).to_bytes(n, "little"))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eie"] = self.eie.to_dict() if self.eie else None
        for name in self.ARRAYS:
            d[name] = getattr(self, name).to_dict() if getattr(self, name) else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TopParams:
        d = dict(d)
        if d.get("eie") is not None:
            d["eie"] = EieParams(**d["eie"])
        for name in cls.ARRAYS:
            if d.get(name) is not None:
                d[name] = ArrayParams(**d[name])
        return cls(**d)


