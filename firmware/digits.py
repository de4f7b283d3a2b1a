"""The built-in model: a LeNet-300-100-shaped MLP (64-300-100-10) on scikit-learn's digits.

The data set is the 8×8 handwritten digits that ship inside scikit-learn
(:func:`sklearn.datasets.load_digits`, 1797 images, no download). Pixels are integers 0..16;
the network sees ``pixel / 16``, which the accelerator holds exactly as int8 with 4 fraction
bits (the pixel value itself). The split is fixed: 25 % of the images, stratified by class with
seed 0, form the test split.

The trained float model is cached under ``~/.cache/corolla/models`` (or
``$COROLLA_CACHE_DIR/models``), keyed by the training settings, so it is trained once per
machine (a few seconds).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .model import Mlp, TrainConfig, init_mlp, load_model, save_model, train

__all__ = ["INPUT_FRAC_BITS", "SIZES", "DigitsData", "digits_compressed", "digits_model",
           "load_digits_data"]

#: Layer widths of the built-in model, inputs first.
SIZES = (64, 300, 100, 10)
#: The int8 input codes are the raw pixels: ``pixel / 16 = code · 2**-4``.
INPUT_FRAC_BITS = 4
SPLIT_SEED = 0
TEST_FRACTION = 0.25
TRAIN = TrainConfig(epochs=60, batch=32, lr=1e-3, weight_decay=1e-4, seed=0)


@dataclass(frozen=True)
class DigitsData:
    """The fixed train/test split. ``x_*`` are floats in [0, 1]; ``pixels_*`` the int codes."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def pixels_test(self) -> np.ndarray:
        """Test inputs as the accelerator's int8 codes (4 fraction bits)."""
        return np.rint(self.x_test * 16).astype(np.int64)


def load_digits_data() -> DigitsData:
    """The digits data set with Corolla's fixed stratified split.

    The split is cached beside the model (``digits-split-….npz``): importing scikit-learn takes
    over a second, which every simulation that runs test images would pay again.
    """
    key = hashlib.sha256(json.dumps([SPLIT_SEED, TEST_FRACTION, "v1"]).encode()).hexdigest()
    path = _cache_dir() / f"digits-split-{key[:16]}.npz"
    names = ("x_train", "y_train", "x_test", "y_test")
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                return DigitsData(*(f[name] for name in names))
        except (OSError, ValueError, KeyError, EOFError):
            pass                                    # a damaged cache is made again
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y)
    data = DigitsData(x_train, y_train, x_test, y_test)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **{name: getattr(data, name) for name in names})
    os.replace(tmp, path)
    return data


def _cache_dir() -> Path:
    root = os.environ.get("COROLLA_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "corolla"
    return base / "models"


def _model_key() -> str:
    return hashlib.sha256(json.dumps({"sizes": SIZES, "train": asdict(TRAIN),
                                      "split": [SPLIT_SEED, TEST_FRACTION], "v": 1},
                                     sort_keys=True).encode()).hexdigest()[:16]


def cached_file(path, make, save, load, cache: bool):
    """``load(path)`` when ``cache`` and the file exists (a damaged one is made again), else
    ``make()``, written with ``save(obj, tmp)`` and moved into place when ``cache``."""
    if cache and path.is_file():
        try:
            return load(path)
        except (OSError, ValueError, KeyError, EOFError):
            pass                                    # a damaged cache is made again
    obj = make()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        save(obj, tmp)
        os.replace(tmp, path)
    return obj


def digits_model(*, cache: bool = True, progress=None) -> Mlp:
    """The trained float model (from the cache when it exists).

    Parameters
    ----------
    cache : bool
        Read and write the cached model file.
    progress : callable, optional
        ``progress(epoch, loss)`` while training.
    """
    path = _cache_dir() / f"digits-{_model_key()}.npz"
    if cache and path.is_file():
        return load_model(path)
    data = load_digits_data()
    model = train(init_mlp(SIZES, seed=TRAIN.seed), data.x_train, data.y_train, TRAIN,
                  progress=progress)
    if cache:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        save_model(model, tmp)
        os.replace(tmp, path)
    return model


def digits_compressed(*, pes: int | None = None, balance: str = "rows", cache: bool = True,
                      progress=None):
    """The built-in model through Deep Compression with the default options, cached.

    Parameters
    ----------
    pes : int, optional
        The EIE PEs the pruning balances the weights for (default: the options' 4).
    balance : str
        How (:data:`~corolla.firmware.compress.prune.BALANCE_MODES`; ``"rows"``, the
        default of :class:`~corolla.firmware.compress.pipeline.CompressOptions`).

    Returns
    -------
    corolla.firmware.compress.qmodel.CompressedMlp
        The integer model the accelerator runs (pruning, sharing and quantization of
        :class:`~corolla.firmware.compress.pipeline.CompressOptions` defaults).
    """
    from .compress.pipeline import CompressOptions, compress
    from .compress.qmodel import load_compressed, save_compressed

    options = CompressOptions(balance=balance, **({} if pes is None else {"pes": pes}))
    key = hashlib.sha256(json.dumps({"model": _model_key(), "options": asdict(options),
                                     "v": 2}, sort_keys=True).encode()).hexdigest()[:16]
    path = _cache_dir() / f"digits-compressed-{key}.npz"
    if cache and path.is_file():
        return load_compressed(path)
    data = load_digits_data()
    report = compress(digits_model(cache=cache), data.x_train, data.y_train, data.x_test,
                      data.y_test, data.pixels_test, input_frac=INPUT_FRAC_BITS,
                      options=options, progress=progress)
    if cache:
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        save_compressed(report.compressed, tmp)
        os.replace(tmp, path)
    return report.compressed
