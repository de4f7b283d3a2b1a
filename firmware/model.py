"""Float multilayer perceptrons: the ``.npz`` model file, inference and training in numpy.

A model is a chain of fully connected layers ``y = act(W x + b)``. Corolla trains, prunes and
fine-tunes them here (numpy only, no deep-learning framework) and compiles them for the
accelerator elsewhere.

File layout (``numpy.savez``, no pickled objects)::

    format          str    "corolla-mlp"
    version         int    1
    layers          int    L, the number of layers
    weight_{i}      float32 (out_i, in_i)     i = 0 .. L-1; in_{i+1} == out_i
    bias_{i}        float32 (out_i,)
    activation_{i}  str    "relu" or "linear"

:func:`load_model` checks every key, shape and dtype and raises :class:`ModelError` naming the
key, what it holds and what was expected.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "Adam",
    "Dense",
    "Mlp",
    "ModelError",
    "TrainConfig",
    "check_keys",
    "gradients",
    "init_mlp",
    "load_model",
    "minibatches",
    "open_npz",
    "save_model",
    "train",
]

FORMAT = "corolla-mlp"
VERSION = 1
ACTIVATIONS = ("relu", "linear")


class ModelError(ValueError):
    """A model file or model object is malformed; the message names the field."""


@dataclass
class Dense:
    """One fully connected layer ``y = act(weight @ x + bias)``.

    Attributes
    ----------
    weight : numpy.ndarray of float, shape (out, in)
    bias : numpy.ndarray of float, shape (out,)
    activation : str
        ``"relu"`` or ``"linear"``.
    """

    weight: np.ndarray
    bias: np.ndarray
    activation: str = "relu"

    @property
    def shape(self) -> tuple[int, int]:
        """``(out, in)``."""
        return self.weight.shape

    def copy(self) -> Dense:
        return Dense(self.weight.copy(), self.bias.copy(), self.activation)


@dataclass
class Mlp:
    """A chain of :class:`Dense` layers."""

    layers: list[Dense] = field(default_factory=list)

    def __post_init__(self):
        _check_layers(self.layers)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].shape[1]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].shape[0]

    @property
    def n_params(self) -> int:
        """Weights plus biases."""
        return sum(layer.weight.size + layer.bias.size for layer in self.layers)

    def copy(self) -> Mlp:
        return Mlp([layer.copy() for layer in self.layers])

    def forward(self, x: np.ndarray, *, weights=None) -> list[np.ndarray]:
        """Activations of every layer for a batch ``x`` of shape (batch, in).

        Parameters
        ----------
        weights : list of numpy.ndarray, optional
            Weight matrices to use instead of the layers' own (pruned or shared versions).

        Returns
        -------
        list of numpy.ndarray
            ``[x, a_0, ..., a_{L-1}]``; the last entry holds the logits.
        """
        acts = [np.asarray(x, dtype=np.float64)]
        for i, layer in enumerate(self.layers):
            w = layer.weight if weights is None else weights[i]
            z = acts[-1] @ w.T + layer.bias
            acts.append(np.maximum(z, 0.0) if layer.activation == "relu" else z)
        return acts

    def predict(self, x: np.ndarray, *, weights=None) -> np.ndarray:
        """Predicted class of each row of ``x``."""
        return np.argmax(self.forward(x, weights=weights)[-1], axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray, *, weights=None) -> float:
        """Fraction of rows of ``x`` classified as ``y``."""
        return float(np.mean(self.predict(x, weights=weights) == y))


def _check_layers(layers):
    if not isinstance(layers, list) or not layers:
        raise ModelError("a model needs at least one layer")
    for i, layer in enumerate(layers):
        w, b = layer.weight, layer.bias
        if not isinstance(w, np.ndarray) or w.ndim != 2 or 0 in w.shape:
            raise ModelError(f"weight_{i}: expected a non-empty 2-D array (out, in), got "
                             f"{getattr(w, 'shape', type(w).__name__)}")
        if not np.issubdtype(w.dtype, np.floating):
            raise ModelError(f"weight_{i}: expected a floating-point dtype, got {w.dtype}")
        if not isinstance(b, np.ndarray) or b.shape != (w.shape[0],):
            raise ModelError(f"bias_{i}: expected shape ({w.shape[0]},) to match weight_{i} "
                             f"{w.shape}, got {getattr(b, 'shape', type(b).__name__)}")
        if not np.issubdtype(b.dtype, np.floating):
            raise ModelError(f"bias_{i}: expected a floating-point dtype, got {b.dtype}")
        for name, a in ((f"weight_{i}", w), (f"bias_{i}", b)):
            if not np.all(np.isfinite(a)):
                raise ModelError(f"{name}: holds a non-finite value")
        if layer.activation not in ACTIVATIONS:
            raise ModelError(f"activation_{i}: {layer.activation!r} is not one of "
                             f"{', '.join(ACTIVATIONS)}")
        if i and w.shape[1] != layers[i - 1].weight.shape[0]:
            raise ModelError(f"weight_{i}: has {w.shape[1]} inputs but layer {i - 1} has "
                             f"{layers[i - 1].weight.shape[0]} outputs")


def save_model(model: Mlp, path) -> Path:
    """Write ``model`` in the ``.npz`` layout of this module."""
    _check_layers(model.layers)
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION),
              "layers": np.array(len(model.layers))}
    for i, layer in enumerate(model.layers):
        arrays[f"weight_{i}"] = layer.weight.astype(np.float32)
        arrays[f"bias_{i}"] = layer.bias.astype(np.float32)
        arrays[f"activation_{i}"] = np.array(layer.activation)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _scalar(data, key, kind, source):
    if key not in data:
        raise ModelError(f"{source}: missing key '{key}'")
    a = data[key]
    if a.ndim != 0 or not (np.issubdtype(a.dtype, np.integer) if kind is int
                           else a.dtype.kind == "U"):
        raise ModelError(f"{source}: key '{key}' must be a single "
                         f"{'integer' if kind is int else 'string'}, got {a.dtype} {a.shape}")
    return kind(a[()])


#: The largest model file Corolla reads (bytes).
MAX_MODEL_BYTES = 256 << 20


def open_npz(path, what: str):
    """Read every array of an ``.npz`` file (no pickles), or raise :class:`ModelError`
    naming the path and what is wrong with it.

    Returns the path as text (for messages) and a dict of the arrays.
    """
    import zipfile
    import zlib

    path = Path(path)
    source = str(path)
    if not path.exists():
        raise ModelError(f"{source}: no such {what} file")
    if not path.is_file():
        raise ModelError(f"{source}: not a regular file; expected an .npz {what}")
    size = path.stat().st_size
    if size == 0:
        raise ModelError(f"{source}: the file is empty; expected an .npz {what}")
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{source}: {size:,} bytes; a {what} file has at most "
                         f"{MAX_MODEL_BYTES:,}")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise ModelError(f"{source}: not an .npz file (a zip archive of arrays, as "
                         f"`numpy.savez` writes); expected an .npz {what}")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                arrays[key] = data[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ModelError(f"{source}: member '{key}' holds Python objects; a {what} "
                             f"holds only numeric and string arrays") from None
        raise ModelError(f"{source}: member '{key}' is not a readable array ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise ModelError(f"{source}: a damaged .npz file ({type(exc).__name__}: {exc})") \
            from None
    return source, arrays


def check_keys(data: dict, expected, source: str) -> None:
    """Refuse keys a file should not have, naming the first one."""
    extra = sorted(set(data) - set(expected))
    if extra:
        raise ModelError(f"{source}: unexpected key '{extra[0]}'; the file's format has no "
                         f"such key")


def minibatches(n: int, batch: int, rng: np.random.Generator):
    """Index arrays of one shuffled epoch over ``n`` samples, ``batch`` at a time."""
    order = rng.permutation(n)
    for start in range(0, n, batch):
        yield order[start:start + batch]


def load_model(path) -> Mlp:
    """Read and validate a model written by :func:`save_model`.

    Raises
    ------
    ModelError
        The file is missing, not an ``.npz``, or a key is missing or has the wrong shape or
        dtype; the message names the key.
    """
    source, data = open_npz(path, "model")
    fmt = _scalar(data, "format", str, source)
    if fmt != FORMAT:
        raise ModelError(f"{source}: key 'format' is {fmt!r}; expected {FORMAT!r}")
    version = _scalar(data, "version", int, source)
    if version != VERSION:
        raise ModelError(f"{source}: key 'version' is {version}; expected {VERSION}")
    n = _scalar(data, "layers", int, source)
    if not 1 <= n <= 64:
        raise ModelError(f"{source}: key 'layers' is {n}; expected 1 to 64")
    layers = []
    for i in range(n):
        for key in (f"weight_{i}", f"bias_{i}"):
            if key not in data:
                raise ModelError(f"{source}: missing key '{key}' (layers = {n})")
        w, b = data[f"weight_{i}"], data[f"bias_{i}"]
        for key, a in ((f"weight_{i}", w), (f"bias_{i}", b)):
            if not np.issubdtype(a.dtype, np.floating):
                raise ModelError(f"{source}: {key}: expected a floating-point dtype, got "
                                 f"{a.dtype}")
        layers.append(Dense(w.astype(np.float64), b.astype(np.float64),
                            _scalar(data, f"activation_{i}", str, source)))
    check_keys(data, ["format", "version", "layers",
                      *(f"{k}_{i}" for i in range(n)
                        for k in ("weight", "bias", "activation"))], source)
    try:
        return Mlp(layers)
    except ModelError as exc:
        raise ModelError(f"{source}: {exc}") from None


# --- Training ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    """Mini-batch Adam on softmax cross-entropy.

    Attributes
    ----------
    epochs : int
    batch : int
    lr : float
        Adam step size.
    weight_decay : float
        L2 penalty on weights (not biases); it pushes small weights towards zero, which is
        what magnitude pruning removes.
    seed : int
        Shuffling seed.
    """

    epochs: int = 60
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


class Adam:
    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def gradients(model: Mlp, x: np.ndarray, y: np.ndarray, *, weights=None):
    """Softmax cross-entropy loss and its gradients for a batch.

    Returns
    -------
    loss : float
    grad_w : list of numpy.ndarray
        d loss / d weight per layer (with respect to the weights used in the forward pass).
    grad_b : list of numpy.ndarray
    """
    acts = model.forward(x, weights=weights)
    logits = acts[-1]
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = float(-np.mean(np.log(p[np.arange(n), y] + 1e-12)))
    delta = p
    delta[np.arange(n), y] -= 1.0
    delta /= n
    grad_w, grad_b = [], []
    for i in range(len(model.layers) - 1, -1, -1):
        w = model.layers[i].weight if weights is None else weights[i]
        grad_w.append(delta.T @ acts[i])
        grad_b.append(delta.sum(axis=0))
        if i:
            delta = (delta @ w) * (acts[i] > 0 if model.layers[i - 1].activation == "relu"
                                   else 1.0)
    return loss, grad_w[::-1], grad_b[::-1]


def train(model: Mlp, x: np.ndarray, y: np.ndarray, config: TrainConfig = TrainConfig(), *,
          masks=None, progress=None) -> Mlp:
    """Train ``model`` in place with Adam; pruned weights stay zero when ``masks`` are given.

    Parameters
    ----------
    masks : list of numpy.ndarray of bool, optional
        Per layer, which weights may be non-zero. Gradients of the others are masked out and
        the weights are kept at exactly zero (pruning with retraining).
    progress : callable, optional
        Called as ``progress(epoch, loss)`` after each epoch.
    """
    rng = np.random.default_rng(config.seed)
    params = [p for layer in model.layers for p in (layer.weight, layer.bias)]
    opt = Adam(params, config.lr)
    n = x.shape[0]
    for epoch in range(config.epochs):
        total = 0.0
        for idx in minibatches(n, config.batch, rng):
            loss, gw, gb = gradients(model, x[idx], y[idx])
            total += loss * len(idx)
            grads = []
            for i, layer in enumerate(model.layers):
                g = gw[i] + config.weight_decay * layer.weight
                if masks is not None:
                    g = g * masks[i]
                grads += [g, gb[i]]
            opt.step(params, grads)
            if masks is not None:
                for layer, mask in zip(model.layers, masks, strict=True):
                    layer.weight *= mask
        if progress is not None:
            progress(epoch, total / n)
    return model


def init_mlp(sizes, *, seed: int = 0, activation: str = "relu") -> Mlp:
    """He-initialised MLP with layer widths ``sizes`` (inputs first); the last layer is linear."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))
        act = "linear" if i == len(sizes) - 2 else activation
        layers.append(Dense(w, np.zeros(n_out), act))
    return Mlp(layers)
