"""Running networks on the accelerator: in simulation (cocotb) or on a board (serial port).

Both go through the same driver (:mod:`corolla.firmware.runtime`): in simulation the cocotb
bench ``run_job`` of :mod:`corolla.sim.benches.top` drives it over
:class:`~corolla.firmware.runtime.sim.SimTransport`; on a board,
:class:`~corolla.firmware.runtime.SerialTransport` does. Inputs are images of the digits
test split; every output is compared with the golden model of the variant.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from .config import Config, ConfigError
from .params import LINKS, divisor_for

__all__ = ["BUILTIN_MODELS", "RunError", "default_variant", "load_network", "missing_engines",
           "model_variants", "resolve_network", "run_board", "run_sim", "runnable_variants",
           "test_accuracy"]

#: Images in the digits test split.
TEST_IMAGES = 450
#: The built-in models: the digits MLP and the digits CNN.
BUILTIN_MODELS = ("digits", "digits-cnn")


def model_variants(model: str = "digits") -> dict:
    """The variants of a built-in model (name → recipe with its ``kinds``): the MLP's
    (:data:`corolla.firmware.variants.VARIANTS`) for ``digits`` and files, the CNN's
    (:data:`corolla.firmware.cnn.CNN_VARIANTS`) for ``digits-cnn``."""
    if model == "digits-cnn":
        from .firmware.cnn import CNN_VARIANTS

        return CNN_VARIANTS
    from .firmware.variants import VARIANTS

    return VARIANTS


def default_variant(model: str = "digits") -> str:
    """The variant run when none is given: ``dense`` for the MLP, ``int8`` for the CNN."""
    return "int8" if model == "digits-cnn" else "dense"


class RunError(RuntimeError):
    """The run failed (simulation failure, link failure, outputs not bit-exact)."""


def test_inputs(net, data):
    """The int8 codes of the digits test split for ``net``: the raw pixels for Corolla's own
    models (4 fraction bits), the model's own input quantizer for an imported one."""
    if getattr(net, "input_scale", 0):
        return net.quantize_inputs(data.x_test)
    return data.pixels_test


def import_onnx(path: str):
    """The network of an ONNX / QONNX model (:func:`corolla.firmware.importer.import_model`),
    calibrated on the digits training split; raises :class:`ConfigError` for a model the
    importer refuses."""
    from .firmware.digits import load_digits_data
    from .firmware.importer import ModelImportError, import_model

    try:
        return import_model(path, load_digits_data().x_train).network
    except ModelImportError as exc:
        raise ConfigError(str(exc)) from None


def load_network(model: str):
    """The integer model: ``"digits"`` (the built-in Deep Compression model),
    ``"digits-cnn"`` (the built-in CNN, int8) or a file (a compressed model from ``corolla
    compress``, a network of any layer kinds, or an ONNX / QONNX model, imported).

    Raises
    ------
    ConfigError
        The file is missing or malformed, or its input/output sizes are not the digits
        network's (64 inputs, 10 outputs).
    """
    from .firmware.compress.qmodel import load_compressed
    from .firmware.digits import digits_compressed
    from .firmware.model import ModelError, open_npz
    from .firmware.quant.layers import NETWORK_FORMAT
    from .firmware.quant.layers import load_network as load_any

    if model == "digits":
        return digits_compressed()
    if model == "digits-cnn":
        from .firmware.cnn import digits_cnn

        return digits_cnn("int8")
    if str(model).endswith(".onnx"):
        net = import_onnx(model)
        n_in, n_out = net.layers[0].shape[1], net.layers[-1].shape[0]
        if (n_in, n_out) != (64, 10):
            raise ConfigError(f"{model}: the model has {n_in} inputs and {n_out} outputs; the "
                              f"digits test images need 64 and 10")
        return net
    try:
        _, data = open_npz(model, "model")
        if str(data.get("format", "")) == NETWORK_FORMAT:
            net = load_any(model)
        else:
            net = load_compressed(model)
    except (ModelError, OSError) as exc:
        raise ConfigError(str(exc)) from None
    n_in, n_out = net.layers[0].shape[1], net.layers[-1].shape[0]
    if (n_in, n_out) != (64, 10):
        raise ConfigError(f"{model}: the model has {n_in} inputs and {n_out} outputs; the "
                          f"digits test images need 64 and 10")
    return net


def resolve_network(model: str, variant: str, config: Config | None = None):
    """The network ``variant`` runs, with a layer kind per layer.

    With a built-in model a variant name (:func:`model_variants`) gives that variant's
    trained network (for the LNS format of ``config``); a list of layer kinds runs the Deep
    Compression model (the int8 CNN) with those kinds. A file's network runs with its own
    kinds, or with the kinds ``variant`` lists.
    """
    from .firmware.quant.layers import QuantNetwork
    from .firmware.variants import VARIANTS, digits_network
    from .formats import LnsFormat

    if model == "digits-cnn" and variant in model_variants(model):
        from .firmware.cnn import digits_cnn

        return digits_cnn(variant)
    if model == "digits" and variant in VARIANTS:
        lns = config.lns if config is not None else None
        fmt = LnsFormat(lns.int_bits, lns.frac_bits) if lns else None
        return digits_network(variant, lns_format=fmt,
                              lns_acc_frac=lns.acc_frac if lns else 8)
    net = load_network(model)
    if getattr(net, "kinds", None) is not None and "," not in str(variant):
        return net
    kinds = check_variant(variant, layers=len(net.layers), model=model)
    return QuantNetwork(net.layers, tuple(kinds), input_frac=net.input_frac,
                        acc_width=net.acc_width, input_scale=getattr(net, "input_scale", 0.0))


def runnable_variants(params, model: str = "digits") -> list[str]:
    """The variants of a built-in model an accelerator with ``params`` can run."""
    from .layers import LAYER_KINDS

    have = {k.name for k in LAYER_KINDS.values() if k.enabled(params)}
    return [name for name, v in model_variants(model).items() if set(v.kinds) <= have]


def _check_images(images: int, first: int):
    if not 1 <= images <= TEST_IMAGES:
        raise ConfigError(f"--images is {images}; expected 1 to {TEST_IMAGES}")
    if first < 0 or first + images > TEST_IMAGES:
        raise ConfigError(f"--first is {first}; with {images} image(s) expected 0 to "
                          f"{TEST_IMAGES - images}")


def check_variant(variant, option: str = "--variant", *, layers: int | None = None,
                  model: str = "digits") -> list[str]:
    """The layer kinds named by ``variant`` (a variant of ``model``, :func:`model_variants`;
    ``KIND`` or ``KIND,KIND,…``), checked against the registry (and against the network's
    ``layers`` when given); raises :class:`ConfigError` naming ``option``."""
    from .layers import CompileError, parse_kinds

    variants = model_variants(model)
    if variant in variants:
        return list(variants[variant].kinds)
    names = [s.strip() for s in str(variant).split(",")]
    try:
        return parse_kinds(names, len(names) if layers is None or len(names) == 1 else layers)
    except CompileError as exc:
        raise ConfigError(f"{option} is {variant!r}: {exc}; or a variant of {model}: "
                          f"{', '.join(variants)}") from None


def run_sim(config: Config, *, model: str = "digits", variant: str | None = None, images: int = 8,
            first: int = 0, link: str = "burst", baud: int | None = None,
            simulator: str | None = None, seed: int | None = None, status=None) -> dict:
    """Simulate the accelerator of ``config`` running ``images`` test images.

    ``link="burst"`` (the default) moves the host's bytes in words of several bytes
    (:mod:`corolla.hw.io.burst`), ``"stream"`` one byte per cycle, and ``"uart"`` drives the
    UART pins, at ``baud`` (default: an eighth of the clock, so that loading a model takes
    seconds, not hours, of simulation). The link and everything behind it are the same in all
    three. ``inferences_per_s`` in the result is end to end: simulated seconds from the first
    input byte sent to the last output read, host link included.

    Returns
    -------
    dict
        The bench's figures (:func:`corolla.firmware.runtime.run_report`) plus ``sim``, the
        simulator's summary.

    Raises
    ------
    ConfigError
        Bad input (variant, images, model, configuration), before anything is simulated.
    RunError
        The simulation failed or an output differed from the golden model.
    """
    from .firmware.compile import CompileError, compile_network
    from .generate import top_params
    from .hw.top import Accelerator
    from .sim import runner

    variant = variant or default_variant(model)
    check_variant(variant, model=model)
    if link not in LINKS:
        raise ConfigError(f"--link is {link!r}; expected one of {', '.join(LINKS)}")
    _check_images(images, first)
    if baud is not None and link != "uart":
        raise ConfigError(f"--baud {baud} applies to --link uart only, not --link {link}")
    overrides = {}
    if link == "uart":
        overrides["baud"] = baud or int(config.clock_mhz * 1e6 / 8)
        try:
            divisor_for(config.clock_mhz * 1e6, overrides["baud"])
        except ValueError as exc:
            raise ConfigError(f"--baud: {exc}") from None
    params = top_params(config, link=link, **overrides)
    missing = missing_engines(params, variant, model)
    if missing:
        raise ConfigError(f"--variant {variant}: configuration {config.name!r} has {missing} "
                          f"(see `corolla kinds`)")
    if status:
        status(f"Preparing the {variant} network (trained once per machine)")
    net = resolve_network(model, variant, config)
    try:
        prog = compile_network(net, params.info())
    except CompileError as exc:
        raise ConfigError(f"--variant {variant}: {exc}") from None
    design = Accelerator(params)
    with tempfile.TemporaryDirectory(prefix="corolla-run-") as tmp:
        from .firmware.quant.layers import save_network

        result_path = Path(tmp) / "result.json"
        model_path = save_network(net, Path(tmp) / "network.npz")
        env = {"COROLLA_MODEL": str(Path(model_path).resolve()), "COROLLA_VARIANT": variant,
               "COROLLA_IMAGES": str(images), "COROLLA_FIRST_IMAGE": str(first),
               "COROLLA_RESULT": str(result_path)}
        if status:
            status(f"Simulating {images} image(s), {variant} variant, host link over {link}")
        try:
            sim = runner.run(design, test_module="corolla.sim.benches.top",
                             name="corolla_top", testcase="run_job", simulator=simulator,
                             env=env, seed=seed, check=False)
        except (runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
            raise RunError(str(exc)) from None
        if not result_path.is_file():
            message = sim.tests[0].message if sim.tests else "no test ran"
            if not sim.tests and sim.log_file and sim.log_file.is_file():
                last = sim.log_file.read_text(errors="replace").strip().splitlines()[-1:]
                message += f" ({sim.log_file}: {' '.join(last)[:300]})"
            raise RunError(f"the simulation stopped before it had a result: {message}")
        result = json.loads(result_path.read_text())
    result["sim"] = sim.summary()
    result["clock_mhz"] = config.clock_mhz
    result["config"] = config.name
    result["test_accuracy"] = test_accuracy(net, prog)
    result["layer_model_cycles_per_inference"] = model_cycles(
        prog, net, params, runs=len(result["batch_cycles"]), images=images)
    return result


def model_cycles(prog, net, params, *, runs: int, images: int) -> list:
    """Each layer's cycles per inference by its kind's cycle model
    (:meth:`corolla.layers.LayerKind.cycle_model`, ``None`` where the work depends on the
    data), for ``images`` run in ``runs`` runs: beside the counters' figures."""
    from .layers import layer_kind

    out = []
    for i, (kind, q) in enumerate(zip(prog.kinds, net.layers, strict=True)):
        c = layer_kind(kind).cycle_model(prog, i, q, params)
        out.append(None if c is None else c * runs / images)
    return out


def test_accuracy(net, prog) -> float:
    """Accuracy of the golden model (bit for bit what the accelerator computes) on the whole
    digits test split."""
    import numpy as np

    from .firmware.compile import golden_outputs
    from .firmware.digits import load_digits_data

    data = load_digits_data()
    out = golden_outputs(net, prog, test_inputs(net, data))
    return float(np.mean(np.argmax(out, axis=1) == data.y_test))


def missing_engines(params, variant: str, model: str = "digits") -> str | None:
    """The engines ``variant`` (of ``model``) needs that an accelerator with ``params`` lacks,
    named, or ``None``."""
    from .layers import LAYER_KINDS

    kinds = dict.fromkeys(check_variant(variant, model=model))
    info = params.info()
    missing = [LAYER_KINDS[k].missing(info) for k in kinds]
    missing = [m.removeprefix("the accelerator has ") for m in missing if m]
    return " and ".join(missing) if missing else None


def run_board(config: Config, port: str, *, baud: int = 115200, model: str = "digits",
              variant: str | None = None, images: int = 8, first: int = 0,
              status=None) -> dict:
    """Run test images on a board over a serial port; same figures as :func:`run_sim`."""
    from .firmware.compile import CompileError, compile_network
    from .firmware.digits import load_digits_data
    from .firmware.runtime import Driver, LinkError, SerialTransport, run_batches, run_report

    variant = variant or default_variant(model)
    check_variant(variant, model=model)
    _check_images(images, first)
    net = resolve_network(model, variant, config)
    data = load_digits_data()
    pixels = test_inputs(net, data)[first:first + images]
    try:
        transport = SerialTransport(port, baud)
    except Exception as exc:        # pyserial raises SerialException (an OSError) or ValueError
        raise RunError(f"cannot open {port}: {exc}") from None
    try:
        driver = Driver(transport, timeout=2.0)
        t0 = time.perf_counter()
        info = driver.ping()
        try:
            prog = compile_network(net, info)
        except CompileError as exc:
            raise ConfigError(str(exc)) from None
        if status:
            status(f"Loading the {variant} model and running {images} image(s) on {port}")
        run = run_batches(driver, prog, net, pixels)
    except LinkError as exc:
        raise RunError(f"{port}: {exc}") from None
    finally:
        transport.close()
    return run_report(prog, run.outputs, run.expected, data.y_test[first:first + images],
                      run.batch_cycles, run.step_cycles, first_image=first, load_s=run.load_s,
                      run_s=run.run_s, end_to_end_inferences_per_s=images / run.run_s,
                      bytes_sent=driver.bytes_sent, bytes_received=driver.bytes_received,
                      link=run.link, host_s=time.perf_counter() - t0,
                      clock_mhz=config.clock_mhz, config=config.name, port=port,
                      test_accuracy=test_accuracy(net, prog))
