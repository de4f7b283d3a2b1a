"""Bad input across every verb: one line naming the option or key, exit 2, no traceback, and
no work before the check (slow verbs answer within seconds)."""

import re
import subprocess
import sys
import time

import numpy as np
import pytest

from corolla.firmware.compress.qmodel import save_compressed
from corolla.firmware.digits import digits_compressed

# Verbs whose work takes a minute or more: their bad input must be refused at once.
SLOW = {"compress", "report", "demo", "build", "run", "sim", "bench"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    f = {}

    def write(name, data):
        path = d / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        f[name] = str(path)

    write("file.txt", "not a folder\n")
    write("random.toml", bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8)))
    write("utf16.toml", "name = 'x'\n".encode("utf-16"))
    write("broken.toml", "[array\nrows = 4\n")
    write("pes3.toml", "[sparse]\npes = 3\n")
    write("oldkey.toml", "[memory]\nweights = 4096\n")
    write("rows3.toml", "[array]\nrows = 3\n")
    write("clock.toml", "clock_mhz = -1.0\n")
    write("narrow.toml", "[widths]\naccumulator = 8\n")
    write("unknown.toml", "[array]\ncolz = 4\n")
    write("stationary.toml", "[array]\ndataflow = 'weight-stationary'\n")
    write("lnslog.toml", "[lns]\naccumulate = 'log'\n")
    write("empty.npz", b"")
    write("text.npz", "hello, this is text\n")
    write("empty.bin", b"")
    write("wrong.bit", b"\x00" * 16)
    np.savez(d / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    f["objects.npz"] = str(d / "objects.npz")
    good = save_compressed(digits_compressed(), d / "good.npz")
    raw = good.read_bytes()
    write("corrupt.npz", raw[:len(raw) // 2])
    arrays = dict(np.load(good))
    np.savez(d / "extra.npz", **arrays, surprise=np.array(1))
    f["extra.npz"] = str(d / "extra.npz")
    f["good.npz"] = str(good)
    f["dir"] = str(d)
    return f


# (verb and arguments, a fragment the one-line message must contain). {name} is a file from
# the fixture; {out} a fresh output folder.
CASES = [
    # generate
    (["generate", "--out", ""], "--out"),
    (["generate", "--out", "{file.txt}"], "--out"),
    (["generate", "--out", "{file.txt}/sub"], "--out"),
    (["generate", "--out", "{out}", "--config", "{random.toml}"], "not UTF-8"),
    (["generate", "--out", "{out}", "--config", "{utf16.toml}"], "not UTF-8"),
    (["generate", "--out", "{out}", "--config", "/dev/zero"], "--config '/dev/zero'"),
    (["generate", "--out", "{out}", "--config", "{dir}"], "not a regular file"),
    (["generate", "--out", "{out}", "--config", "nope"], "--config 'nope'"),
    (["generate", "--out", "{out}", "--config", ""], "--config ''"),
    (["generate", "--out", "{out}", "--config", "{broken.toml}"], "not valid TOML"),
    (["generate", "--out", "{out}", "--config", "{pes3.toml}", "--design", "array"],
     "sparse.pes"),
    (["generate", "--out", "{out}", "--config", "{oldkey.toml}"], "memory.weights"),
    (["generate", "--out", "{out}", "--config", "{rows3.toml}"], "array.rows"),
    (["generate", "--out", "{out}", "--config", "{clock.toml}"], "clock_mhz"),
    (["generate", "--out", "{out}", "--config", "{narrow.toml}"], "widths.accumulator"),
    (["generate", "--out", "{out}", "--config", "{unknown.toml}"], "array.colz"),
    (["generate", "--out", "{out}", "--config", "{stationary.toml}"], "array.dataflow"),
    (["generate", "--out", "{out}", "--config", "{lnslog.toml}"], "lns.accumulate"),
    (["generate", "--out", "{out}", "--design", "nope"], "--design"),
    # sim
    (["sim", "--seed", "-1"], "--seed"),
    (["sim", "--seed", "abc"], "--seed"),
    (["sim", "--seed", str(2**40)], "--seed"),
    (["sim", "--cycles", "0"], "--cycles"),
    (["sim", "--simulator", "modelsim"], "--simulator"),
    (["sim", "--config", "nope"], "--config"),
    # run
    (["run", "--sim", "--baud", "0"], "--baud"),
    (["run", "--sim", "--images", "0"], "--images"),
    (["run", "--sim", "--images", "451"], "--images"),
    (["run", "--sim", "--first", "-1"], "--first"),
    (["run", "--sim", "--first", "449", "--images", "5"], "--first"),
    (["run", "--sim", "--variant", "fp8"], "--variant"),
    (["run", "--sim", "--variant", "dense,sparse"], "--variant"),
    (["run", "--sim", "--model", "{dir}/missing.npz"], "--model"),
    (["run", "--sim", "--model", "{empty.npz}"], "--model"),
    (["run", "--sim", "--model", "{text.npz}"], "not an .npz file"),
    (["run", "--sim", "--model", "{objects.npz}"], "Python objects"),
    (["run", "--sim", "--model", "{corrupt.npz}"], "damaged .npz"),
    (["run", "--sim", "--model", "{extra.npz}"], "unexpected key 'surprise'"),
    (["run", "--sim", "--model", "/dev/zero"], "--model"),
    (["run", "--port", "/dev/corolla-no-such-port"], "--port"),
    (["run", "--sim", "--port", "/dev/null"], "--port"),
    (["run"], "--sim"),
    (["run", "--sim", "--seed", "-5"], "--seed"),
    (["run", "--sim", "--link", "spi"], "--link"),
    (["run", "--sim", "--config", "icebreaker", "--variant", "sparse"], "no EIE engine"),
    (["run", "--sim", "--board", "nope"], "--board"),
    # demo
    (["demo", "--images", "0"], "--images"),
    (["demo", "--out", "{file.txt}"], "--out"),
    (["demo", "--config", "nope"], "--config"),
    # compress
    (["compress", "--out", "{file.txt}"], "--out"),
    (["compress", "--out", "{out}", "--seed", "-1"], "--seed"),
    (["compress", "--out", "{out}", "--sparsity", "1.5"], "sparsity"),
    (["compress", "--out", "{out}", "--sparsity", "a"], "--sparsity"),
    (["compress", "--out", "{out}", "--bits", "0"], "bits"),
    (["compress", "--out", "{out}", "--bits", "1,2"], "bits"),
    (["compress", "--out", "{out}", "--pes", "0"], "--pes"),
    (["compress", "--out", "{out}", "--model", "{dir}/missing.npz"], "--model"),
    (["compress", "--out", "{out}", "--model", "{good.npz}"], "format"),
    (["compress", "--out", "{out}", "--config", "{utf16.toml}"], "not UTF-8"),
    # build
    (["build", "--board", "nope", "--out", "{out}"], "--board"),
    (["build", "--board", "icebreaker", "--out", "{file.txt}"], "--out"),
    (["build", "--board", "icebreaker", "--out", "{out}", "--clock-mhz", "0"], "--clock-mhz"),
    (["build", "--board", "icebreaker", "--out", "{out}", "--clock-mhz", "nan"],
     "--clock-mhz"),
    (["build", "--board", "icebreaker", "--out", "{out}", "--baud", "0"], "--baud"),
    (["build", "--board", "icebreaker", "--out", "{out}", "--seed", "-1"], "--seed"),
    (["build", "--board", "icebreaker", "--out", "{out}", "--config", "nope"], "--config"),
    (["build", "--board", "icebreaker", "--out", "{out}", "--design", "x"], "--design"),
    # report
    (["report", "--board", "icebreaker", "--out", "{file.txt}"], "--out"),
    (["report", "--out", "{out}"], "--board"),
    (["report", "--compare", "nope", "--out", "{out}"], "board 'nope'"),
    (["report", "--compare", "ulx3s:nope", "--out", "{out}"], "config 'nope'"),
    (["report", "--compare", "ulx3s:default:fp8", "--out", "{out}"], "variant"),
    (["report", "--compare", "ulx3s::dense", "--out", "{out}"], "BOARD[:CONFIG[:VARIANT]]"),
    (["report", "--board", "icebreaker", "--images", "0", "--out", "{out}"], "--images"),
    (["report", "--board", "icebreaker", "--model", "{dir}/m.npz", "--out", "{out}"],
     "--model"),
    (["report", "--board", "icebreaker", "--seed", "-2", "--out", "{out}"], "--seed"),
    # flash
    (["flash", "--board", "nope"], "--board"),
    (["flash", "--board", "icebreaker", "--bitstream", "{empty.bin}"], "--bitstream"),
    (["flash", "--board", "icebreaker", "--bitstream", "/dev/zero"], "--bitstream"),
    (["flash", "--board", "icebreaker", "--bitstream", "{wrong.bit}"], "--bitstream"),
    # bench
    (["bench", "array", "--sizes", "0x4"], "--sizes"),
    (["bench", "array", "--kinds", "fp8"], "--kinds"),
    (["bench", "array", "--shapes", "8x8"], "--shapes"),
    (["bench", "sparse", "--pes", "3"], "--pes"),
    (["bench", "sparse", "--images", "0"], "--images"),
    (["bench", "units", "--target-mhz", "-5"], "--target-mhz"),
    (["bench", "units", "--device", "xc7a35t"], "--device"),
    (["bench", "all", "--sizes", "2x2"], "--sizes"),
    (["bench", "nope"], "BENCH"),
    # the command itself
    (["kinds", "--verbose"], "--verbose"),
    (["launch"], "VERB"),
    ([], "VERB"),
]


def _expand(args, files, out):
    names = {"out": out, **files}
    return [re.sub(r"\{([^}]+)\}", lambda m: names[m.group(1)], a) for a in args]


@pytest.mark.parametrize(("args", "fragment"), CASES,
                         ids=[" ".join(a) or "(none)" for a, _ in CASES])
def test_bad_input_gets_one_line_and_exit_2(args, fragment, files, tmp_path):
    argv = _expand(args, files, str(tmp_path / "out"))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "corolla.cli", *argv], capture_output=True,
                          text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    assert fragment in errors[0], errors[0]
    if args and args[0] in SLOW:
        assert elapsed < 15, f"refused after {elapsed:.1f} s"
    # Nothing was written for a refused command.
    assert not (tmp_path / "out").exists()


def test_user_text_with_markup_characters_is_shown_as_it_is(tmp_path):
    config = tmp_path / "odd-name.toml"
    config.write_text('name = "odd[/]name"\n')
    out = tmp_path / "out[/]dir"
    proc = subprocess.run([sys.executable, "-m", "corolla.cli", "generate", "--config",
                           str(config), "--out", str(out), "--design", "array"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "odd[/]name" in proc.stdout and "out[/]dir" in proc.stdout
    assert (out / "corolla_array.v").is_file()


def test_without_a_terminal_lines_are_not_wrapped_at_80_columns(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "corolla.cli", "generate", "--out",
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert any(len(line) > 100 for line in proc.stdout.splitlines())
    # Progress goes to stderr as lines when there is no terminal.
    assert "Generating Verilog" in proc.stderr


def test_flash_dry_run_shows_the_command_before_a_build(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "corolla.cli", "flash", "--board",
                           "icebreaker", "--dry-run", "--bitstream", str(tmp_path / "x.bin")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "x.bin" in proc.stdout and "does not exist yet" in proc.stderr
