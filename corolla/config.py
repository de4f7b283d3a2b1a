"""Accelerator configurations: TOML files, validated before anything is built.

A configuration names the PE array (size, PE kind, dataflow), the number widths, the sparse
(EIE) engine, the LNS format and the on-chip memory sizes. Every key is optional and takes the
value of the built-in ``default`` configuration; unknown keys, wrong types and out-of-range
values are rejected with a :class:`ConfigError` that names the key, the value and what was
expected.

Built-in configurations live in ``corolla/configs/NAME.toml``; ``--config`` accepts either
such a name or a path to a TOML file.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import ClassVar

from .pe_kinds import PE_KINDS

__all__ = [
    "PE_KINDS",
    "ArrayConfig",
    "BinaryConfig",
    "Config",
    "ConfigError",
    "LnsConfig",
    "MemoryConfig",
    "SparseConfig",
    "TernaryConfig",
    "WidthsConfig",
    "WinogradConfig",
    "builtin_configs",
    "load_config",
    "parse_config",
]

#: What the array builds (its PEs keep their sums: output-stationary).
DATAFLOWS = ("output-stationary",)


class ConfigError(ValueError):
    """A configuration is malformed. The message names the key, the value and the expectation."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.key = key
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{message}")


@dataclass(frozen=True)
class _Int:
    lo: int
    hi: int

    def check(self, key, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"key '{key}' = {value!r} has type {type(value).__name__}; expected an integer "
                f"from {self.lo} to {self.hi}", key=key)
        if not self.lo <= value <= self.hi:
            raise ConfigError(
                f"key '{key}' = {value} is out of range; expected an integer from {self.lo} "
                f"to {self.hi}", key=key)
        return value


@dataclass(frozen=True)
class _Float:
    lo: float
    hi: float

    def check(self, key, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"key '{key}' = {value!r} has type {type(value).__name__}; expected a number "
                f"from {self.lo} to {self.hi}", key=key)
        if not self.lo <= value <= self.hi:
            raise ConfigError(
                f"key '{key}' = {value} is out of range; expected a number from {self.lo} "
                f"to {self.hi}", key=key)
        return float(value)


@dataclass(frozen=True)
class _Choice:
    choices: tuple

    def check(self, key, value):
        if value not in self.choices:
            raise ConfigError(
                f"key '{key}' = {value!r} is not allowed; expected one of "
                f"{', '.join(repr(c) for c in self.choices)}", key=key)
        return value


@dataclass(frozen=True)
class _Bool:
    def check(self, key, value):
        if not isinstance(value, bool):
            raise ConfigError(
                f"key '{key}' = {value!r} has type {type(value).__name__}; expected true or "
                f"false", key=key)
        return value


@dataclass(frozen=True)
class _Str:
    max_len: int = 64

    def check(self, key, value):
        if not isinstance(value, str) or not value or len(value) > self.max_len:
            raise ConfigError(
                f"key '{key}' = {value!r} is not allowed; expected a non-empty string of at "
                f"most {self.max_len} characters", key=key)
        return value


@dataclass(frozen=True)
class ArrayConfig:
    """The dense PE array: ``rows`` × ``cols`` PEs of one kind; ``conv``: the array engines
    run convolutions (their feeders' window walkers); ``scales``: the int8 array's
    requantizers have a 16-bit multiplier per output (models with float scales)."""

    rows: int = 4
    cols: int = 4
    pe: str = "int8"
    dataflow: str = "output-stationary"
    conv: bool = True
    scales: bool = True

    _schema: ClassVar[dict] = {"rows": _Int(1, 64), "cols": _Int(1, 64), "pe": _Choice(PE_KINDS),
               "dataflow": _Choice(DATAFLOWS), "conv": _Bool(), "scales": _Bool()}


@dataclass(frozen=True)
class WidthsConfig:
    """Number widths in bits (activations and dense weights are int8 in the reference design)."""

    activation: int = 8
    weight: int = 8
    accumulator: int = 32

    _schema: ClassVar[dict] = {"activation": _Int(2, 16), "weight": _Int(2, 16),
                               "accumulator": _Int(16, 48)}


@dataclass(frozen=True)
class SparseConfig:
    """The EIE compressed-weight engine: the keys are the fields of
    :class:`corolla.params.EieParams` (which :meth:`params` builds), ``acc_width`` coming from
    ``widths.accumulator``."""

    enabled: bool = True
    pes: int = 4
    z_bits: int = 4              # relative row index of an entry
    v_bits: int = 4              # codebook index of an entry (2**v_bits shared weights)
    weight_width: int = 8        # codebook entries (signed)

    #: Per-PE entry memory (words of z_bits + v_bits), pointer memory (columns + 1 per layer),
    #: biases, codebooks held at once, and the largest layer's rows.
    entry_depth: int = 1024
    ptr_depth: int = 512
    bias_depth: int = 512
    codebooks: int = 4
    max_rows: int = 512
    #: Entries stored Huffman-coded (a z code and a v code per layer, at most code_length
    #: bits each) in code_depth 16-bit words per PE, decoded on chip one entry a cycle.
    huffman: bool = False
    code_length: int = 8
    code_depth: int = 512

    _schema: ClassVar[dict] = {"enabled": _Bool(), "pes": _Int(1, 64), "z_bits": _Int(2, 8),
               "v_bits": _Int(1, 8), "weight_width": _Int(2, 16),
               "entry_depth": _Int(16, 65536), "ptr_depth": _Int(16, 65536),
               "bias_depth": _Int(16, 65536), "codebooks": _Int(1, 16),
               "max_rows": _Int(16, 65536), "huffman": _Bool(), "code_length": _Int(4, 8),
               "code_depth": _Int(16, 65536)}

    def params(self, acc_width: int):
        """The engine's :class:`~corolla.params.EieParams` (``None`` when not ``enabled``).

        Raises
        ------
        ConfigError
            Naming the key (``EieParams`` names its fields as this section does).
        """
        from .params import EieParams

        if not self.enabled:
            return None
        try:
            return EieParams(acc_width=acc_width, **{k: getattr(self, k) for k in self._schema
                                                     if k != "enabled"})
        except ValueError as exc:
            key = next((k for k in self._schema if f" {k} " in str(exc)), None)
            raise ConfigError(f"key 'sparse.{key}': {exc}" if key else str(exc),
                              key=f"sparse.{key}" if key else None) from None


@dataclass(frozen=True)
class MemoryConfig:
    """On-chip memories of the accelerator top, in words: the size fields of
    :class:`corolla.params.TopParams` under the same names.

    ``weight_depth`` are dense weight words of ``array.rows`` bytes, ``act_depth`` the words of
    each activation bank (the widest layer), ``bias_depth`` dense biases, ``program_depth``
    layer descriptors, ``max_payload`` the host link's largest request payload in bytes.
    """

    weight_depth: int = 16384
    act_depth: int = 512
    bias_depth: int = 1024
    program_depth: int = 16
    max_payload: int = 1024

    _schema: ClassVar[dict] = {"weight_depth": _Int(16, 1 << 20), "act_depth": _Int(16, 4095),
                               "bias_depth": _Int(16, 4095), "program_depth": _Int(1, 255),
                               "max_payload": _Int(64, 4096)}

    def sizes(self) -> dict:
        """The keyword arguments of :class:`~corolla.params.TopParams` these keys set."""
        return {k: getattr(self, k) for k in self._schema}


@dataclass(frozen=True)
class ExtraArrayConfig:
    """One of the top's extra PE arrays: ``rows`` × ``array.cols`` PEs (the columns are the
    activation lanes every engine shares), its weight words and biases."""

    enabled: bool = True
    rows: int = 4
    weight_depth: int = 16384
    bias_depth: int = 512
    _schema: ClassVar[dict] = {"enabled": _Bool(), "rows": _Int(1, 16),
                               "weight_depth": _Int(16, 1 << 20), "bias_depth": _Int(16, 4095)}

    def params(self, section: str):
        """The :class:`~corolla.params.ArrayParams` (``None`` when not ``enabled``).

        Raises
        ------
        ConfigError
            Naming the key.
        """
        from .params import ArrayParams

        if not self.enabled:
            return None
        try:
            return ArrayParams(rows=self.rows, weight_depth=self.weight_depth,
                               bias_depth=self.bias_depth)
        except ValueError as exc:
            key = next((k for k in self._schema if f" {k} " in str(exc)), None)
            raise ConfigError(f"key '{section}.{key}': {exc}", key=f"{section}.{key}") from None


@dataclass(frozen=True)
class TernaryConfig(ExtraArrayConfig):
    """The ternary PE array (TTQ / TWN layers)."""


@dataclass(frozen=True)
class BinaryConfig(ExtraArrayConfig):
    """The binary PE array (XNOR-Net layers)."""


@dataclass(frozen=True)
class WinogradConfig(ExtraArrayConfig):
    """The Winograd engine's PE array (3×3 stride-1 convolutions by F(2×2, 3×3))."""

    weight_depth: int = 2048


#: How the array's LNS PEs accumulate: in linear fixed point (see the README, "LNS", for why
#: the log-domain and Kahan-compensated accumulations stay in the LNS units).
LNS_MODES = ("linear",)


@dataclass(frozen=True)
class LnsConfig:
    """Logarithmic number format (signed fixed-point log2 magnitude with I.F bits), its
    Gaussian-log tables (sampled every 2**-table_frac_bits, optionally interpolated), the
    LNS PEs' accumulation mode and fixed-point fraction bits, and the top's LNS array
    (``enabled``, ``rows``, ``weight_depth``, ``bias_depth`` as in ``[ternary]``)."""

    int_bits: int = 4
    frac_bits: int = 3
    table_frac_bits: int = 3
    interpolate: bool = False
    accumulate: str = "linear"
    acc_frac: int = 8
    enabled: bool = True
    rows: int = 4
    weight_depth: int = 16384
    bias_depth: int = 512

    _schema: ClassVar[dict] = {"int_bits": _Int(1, 8), "frac_bits": _Int(0, 12),
                               "table_frac_bits": _Int(0, 12), "interpolate": _Bool(),
                               "accumulate": _Choice(LNS_MODES), "acc_frac": _Int(0, 16),
                               **ExtraArrayConfig._schema}

    def params(self, section: str = "lns"):
        """The top's LNS array (:class:`~corolla.params.ArrayParams`, ``None`` when not
        ``enabled``)."""
        return ExtraArrayConfig.params(self, section)

    def format(self):
        """The :class:`corolla.formats.LnsFormat` these keys describe."""
        from .formats import LnsFormat

        return LnsFormat(self.int_bits, self.frac_bits, self.table_frac_bits, self.interpolate)


@dataclass(frozen=True)
class PoolConfig:
    """The max-pooling engine (the pooling layers of convolutional networks)."""

    enabled: bool = True

    _schema: ClassVar[dict] = {"enabled": _Bool()}


#: Keys of earlier releases and their names now (refused with the new name).
_RENAMED = {
    "sparse.index_bits": "sparse.z_bits", "sparse.codebook_bits": "sparse.v_bits",
    "sparse.codebook_width": "sparse.weight_width", "sparse.entries": "sparse.entry_depth",
    "sparse.pointers": "sparse.ptr_depth", "sparse.biases": "sparse.bias_depth",
    "memory.weights": "memory.weight_depth", "memory.activations": "memory.act_depth",
    "memory.biases": "memory.bias_depth", "memory.program": "memory.program_depth",
}

_SECTIONS = {"array": ArrayConfig, "widths": WidthsConfig, "sparse": SparseConfig,
             "ternary": TernaryConfig, "binary": BinaryConfig, "lns": LnsConfig,
             "winograd": WinogradConfig, "pool": PoolConfig, "memory": MemoryConfig}
_TOP = {"name": _Str(), "description": _Str(200), "clock_mhz": _Float(1.0, 500.0)}


@dataclass(frozen=True)
class Config:
    """A validated accelerator configuration."""

    name: str = "default"
    description: str = "Corolla accelerator"
    clock_mhz: float = 50.0
    array: ArrayConfig = field(default_factory=ArrayConfig)
    widths: WidthsConfig = field(default_factory=WidthsConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)
    ternary: TernaryConfig = field(default_factory=TernaryConfig)
    binary: BinaryConfig = field(default_factory=BinaryConfig)
    lns: LnsConfig = field(default_factory=LnsConfig)
    winograd: WinogradConfig = field(default_factory=WinogradConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)

    def to_dict(self) -> dict:
        """Plain-data form (what goes into manifests and reports)."""
        return asdict(self)


def _expected_keys(keys):
    return ", ".join(sorted(keys))


def parse_config(data: dict, *, source: str | None = None) -> Config:
    """Validate a configuration given as nested dicts (parsed TOML).

    Raises
    ------
    ConfigError
        On the first unknown key, wrong type or out-of-range value.
    """
    try:
        if not isinstance(data, dict):
            raise ConfigError(f"configuration must be a table, not {type(data).__name__}")
        top = {}
        sections = {}
        for key, value in data.items():
            if key in _TOP:
                top[key] = _TOP[key].check(key, value)
            elif key in _SECTIONS:
                if not isinstance(value, dict):
                    raise ConfigError(
                        f"key '{key}' = {value!r} is not a table; expected a [{key}] section",
                        key=key)
                cls = _SECTIONS[key]
                values = {}
                for sub, subvalue in value.items():
                    full = f"{key}.{sub}"
                    if full in _RENAMED:
                        raise ConfigError(f"key '{full}' is now called '{_RENAMED[full]}'",
                                          key=full)
                    if sub not in cls._schema:
                        raise ConfigError(
                            f"unknown key '{full}'; expected one of: "
                            f"{_expected_keys(cls._schema)}", key=full)
                    values[sub] = cls._schema[sub].check(full, subvalue)
                if key == "lns" and "frac_bits" in values:
                    # Exact tables unless a coarser resolution is asked for.
                    values.setdefault("table_frac_bits", values["frac_bits"])
                sections[key] = cls(**values)
            else:
                raise ConfigError(
                    f"unknown key '{key}'; expected one of: "
                    f"{_expected_keys([*_TOP, *_SECTIONS])}", key=key)
        config = Config(**top, **sections)
        _check_consistency(config)
        return config
    except ConfigError as exc:
        if source and exc.source is None:
            raise ConfigError(str(exc), key=exc.key, source=source) from None
        raise


def _check_consistency(config: Config):
    lns = config.lns
    if lns.table_frac_bits > lns.frac_bits:
        raise ConfigError(
            f"key 'lns.table_frac_bits' = {lns.table_frac_bits} is too fine; expected at most "
            f"lns.frac_bits = {lns.frac_bits}", key="lns.table_frac_bits")
    config.sparse.params(config.widths.accumulator)       # the engines' own limits
    config.ternary.params("ternary")
    config.binary.params("binary")
    config.winograd.params("winograd")
    config.lns.params()
    w = config.widths
    if w.accumulator < w.activation + w.weight:
        raise ConfigError(
            f"key 'widths.accumulator' = {w.accumulator} is too narrow; expected at least "
            f"widths.activation + widths.weight = {w.activation + w.weight}",
            key="widths.accumulator")


def builtin_configs() -> dict[str, Path]:
    """Names and paths of the configurations shipped with Corolla."""
    folder = resources.files("corolla") / "configs"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


#: The largest configuration file read (bytes).
MAX_CONFIG_BYTES = 1 << 20


def load_config(name_or_path: str | Path) -> Config:
    """Load a built-in configuration by name, or a TOML file by path.

    Raises
    ------
    ConfigError
        If the name is unknown, the file is unreadable or not TOML, or validation fails.
    """
    builtins = builtin_configs()
    text_name = str(name_or_path)
    if text_name in builtins:
        path = builtins[text_name]
    else:
        path = Path(name_or_path)
        if not text_name or not path.exists():
            raise ConfigError(
                f"--config {text_name!r} is neither a built-in configuration "
                f"({', '.join(sorted(builtins))}) nor an existing file", key="config")
        if not path.is_file():
            raise ConfigError(f"--config {text_name!r} is not a regular file; expected a TOML "
                              f"file", key="config")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"--config {text_name!r} has {path.stat().st_size:,} bytes; a "
                              f"configuration has at most {MAX_CONFIG_BYTES:,}", key="config")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key="config") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); expected a TOML file",
                          key="config") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", key="config") from None
    return parse_config(data, source=str(path))
