"""The layer-kind and PE-kind registries, the direction of dependencies, `corolla kinds`."""

import json
import subprocess
import sys

import numpy as np
import pytest

from corolla import protocol as proto
from corolla.layers import LAYER_KINDS, CompileError, info_fields, layer_kind, parse_kinds
from corolla.params import ArrayParams, TopParams
from corolla.pe_kinds import PE_KINDS, pe_kind


def test_host_side_does_not_load_the_hdl():
    code = ("import corolla.firmware.compile, corolla.firmware.runtime, corolla.layers, "
            "corolla.pe_kinds, corolla.config, sys; assert 'amaranth' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("kind", list(LAYER_KINDS.values()), ids=list(LAYER_KINDS))
def test_layer_kind_entries_are_complete(kind):
    assert 1 <= kind.code <= 15 and kind.summary and kind.memory
    proto.descriptor_fields(kind.args)                 # fits after the common fields
    params = TopParams(**{name: ArrayParams() for name in TopParams.ARRAYS})
    assert kind.enabled(params)
    assert set(kind.info_values(params)) == {name for name, _ in kind.info}
    assert kind.bad_descriptors(params)
    peak = kind.peak(params)
    assert peak["pes"] > 0 and peak["bytes_per_cycle"] > 0
    from corolla.report import _all_memories

    assert kind.memory in _all_memories(params)
    assert kind.engine_class().__name__ == kind.engine.partition(":")[2]
    doc = kind.to_dict()
    assert doc["name"] == kind.name and doc["engine"] == kind.engine


def test_codes_and_fields_are_distinct():
    codes = [k.code for k in LAYER_KINDS.values()]
    assert len(set(codes)) == len(codes)
    names = [name for name, _ in info_fields()]
    assert len(set(names)) == len(names)
    params = TopParams(**{name: ArrayParams() for name in TopParams.ARRAYS})
    spaces = [sp for k in LAYER_KINDS.values() for sp in k.spaces(params)]
    assert len(set(spaces)) == len(spaces)


def test_kinds_parse_per_layer():
    assert parse_kinds("dense", 3) == ["dense"] * 3
    assert parse_kinds("sparse,dense,sparse", 3) == ["sparse", "dense", "sparse"]
    with pytest.raises(CompileError, match="layer kind is 'fp8'"):
        parse_kinds("dense,fp8", 2)
    with pytest.raises(CompileError, match="expected one kind or 3"):
        parse_kinds("dense,sparse", 3)
    with pytest.raises(CompileError, match="expected one of dense, sparse"):
        layer_kind("fp16")


def test_an_accelerator_without_an_engine_lists_no_fields_for_it():
    info = TopParams(eie=None).info()
    assert info["eie_pes"] == 0 and info["rows"] == 4
    assert proto.Space.EIE not in TopParams(eie=None).spaces()
    assert LAYER_KINDS["sparse"].missing(info) == "the accelerator has no EIE engine"


@pytest.mark.parametrize("name", list(PE_KINDS))
def test_pe_kind_entries_are_complete(name):
    kind = pe_kind(name)
    assert pe_kind(kind.to_dict()) == kind and kind.summary and kind.gateware
    va, vb = kind.values_a(), kind.values_b()
    assert len(va) == 1 << kind.a_shape[0] or kind.a_shape[1]
    a, b, big = kind.extremes()
    assert a in va and b in vb and big > 0
    # The extremes' product is within the bound given (exact but for LNS's rounding).
    y = kind.gemm(np.array([[a]]), np.array([[b]]))
    assert big * 0.9 <= np.abs(y).max() <= big
    gen = np.random.default_rng(0)
    ra, rb = kind.random_a(gen, (3, 5)), kind.random_b(gen, (5, 2))
    assert kind.gemm(ra, rb).shape == (3, 2, len(kind.result_fields))
    # The pad operand contributes nothing.
    pad = np.full((1, 4), kind.pad)
    assert not kind.gemm(pad, rb[:4]).any() or kind.name == "binary"


def test_corolla_kinds_json_lists_the_registries():
    proc = subprocess.run([sys.executable, "-m", "corolla.cli", "kinds", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [k["name"] for k in doc["layer_kinds"]] == list(LAYER_KINDS)
    assert [k["name"] for k in doc["pe_kinds"]] == list(PE_KINDS)
    configs = {c["name"]: c for c in doc["configs"]}
    assert configs["default"]["layer_kinds"] == list(LAYER_KINDS)
    assert configs["icebreaker"]["layer_kinds"] == ["dense"]
    assert {b["name"] for b in doc["boards"]} == {"icebreaker", "ulx3s", "orangecrab"}
    text = subprocess.run([sys.executable, "-m", "corolla.cli", "kinds"], capture_output=True,
                          text=True)
    assert text.returncode == 0 and "sparse" in text.stdout and "lns" in text.stdout
