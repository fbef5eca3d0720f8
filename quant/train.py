"""Training dense spiking networks with surrogate gradients (BPTT, Adam).

:func:`train` takes a :class:`TrainConfig` to a run directory::

    RUN/model.pt        final weights + model config (torch.save of plain dicts)
    RUN/run.json        config, float test accuracy, per-epoch history, wall times
    RUN/checkpoint.pt   model + optimizer + scheduler + history after the last epoch

A run that stopped part-way resumes from ``checkpoint.pt`` when :func:`train` is called
again with the same configuration and output directory.

Reproducibility: the weights come from ``torch.manual_seed(cfg.seed)``; each epoch's
sample order comes from ``numpy.random.default_rng((cfg.seed, epoch))`` and its input
spikes from the encoding seed ``encoding_seed(cfg.seed, epoch)``; the test spikes from
``cfg.seed`` alone. Same configuration, same threads -> same weights.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pysim.atomic import atomic_path, make_dir
from pysim.errors import InputError

from . import encoding
from .config import ENCODINGS, TrainConfig
from .model import SpikingMLP, fused_bptt

__all__ = [
    "ENCODINGS",
    "Run",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "encode",
    "encoding_seed",
    "evaluate",
    "iter_encoded",
    "load_run",
    "loss_fn",
    "train",
]

RUN_FORMAT = "spikeforge.run"


# ----------------------------------------------------------------------------- encoding
def encode(x: np.ndarray, timesteps: int, method: str = "rate", seed: int = 0,
           gain: float = 1.0) -> np.ndarray:
    """Encode intensities ``x`` (N, F) in [0, 1] as spikes uint8 (N, T, F).

    Delegates to :func:`quant.encoding.encode` (the project's one encoder, shared with
    the spike files the hardware consumes). Already-binned event spikes (N, T, F) pass
    through unchanged (:mod:`quant.events`).
    """
    if np.ndim(x) == 3:
        return np.asarray(x, np.uint8)
    return encoding.encode(x, timesteps, method=method, seed=seed, gain=gain)


def iter_encoded(x: np.ndarray, y: np.ndarray, timesteps: int, method: str, seed: int,
                 batch_size: int, gain: float = 1.0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(spikes uint8 (B, T, F), labels)`` batches in the order of ``x``."""
    if np.ndim(x) == 3:  # event spikes, already binned
        for i in range(0, len(y), batch_size):
            yield np.asarray(x[i:i + batch_size], np.uint8), y[i:i + batch_size]
        return
    yield from encoding.iter_encoded(x, y, timesteps, method, seed, batch_size, gain=gain)


def encoding_seed(seed: int, epoch: int) -> int:
    """Seed of the training spikes of ``epoch`` (fresh Bernoulli draws every epoch)."""
    return int(seed) * 1_000_003 + 7919 * (int(epoch) + 1)


# ----------------------------------------------------------------------------- results
@dataclass
class TrainResult:
    """What :func:`train` produced."""

    model: SpikingMLP
    config: TrainConfig
    test_accuracy: float
    history: list[dict[str, float]]
    out_dir: Path
    train_seconds: float


@dataclass
class Run:
    """A trained run loaded from disk (see :func:`load_run`)."""

    model: SpikingMLP
    cfg: TrainConfig
    run_dir: Path
    info: dict[str, Any] = field(default_factory=dict)
    _dataset: Any = None

    def dataset(self):
        """The run's dataset (:class:`quant.data.Dataset`), loaded once."""
        if self._dataset is None:
            self._dataset = _load_data(self.cfg)
        return self._dataset

    def test_spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """The encoded test set (spikes uint8 (N, T, F), labels) the run was scored on."""
        return _test_spikes(self.cfg, self.dataset())

    def train_spikes(self, n: int | None = None, *, seed: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` training samples encoded (seed: the first epoch's by default)."""
        ds = self.dataset()
        x, y = ds.x_train[:n], ds.y_train[:n]
        s = encoding_seed(self.cfg.seed, 0) if seed is None else seed
        return encode(x, self.cfg.timesteps, self.cfg.encoding, s, self.cfg.gain), y

    def train_batches(self, epoch: int = 0, batch_size: int | None = None
                      ) -> Iterator[tuple[Tensor, Tensor]]:
        """Shuffled, encoded training batches as torch tensors (as :func:`train` sees)."""
        yield from _train_batches(self.cfg, self.dataset(), epoch,
                                  batch_size or self.cfg.batch_size)


# ----------------------------------------------------------------------------- helpers
def build_model(cfg: TrainConfig) -> SpikingMLP:
    """The untrained model a config describes (weights from the current torch RNG).

    A dense ``arch`` gives a :class:`SpikingMLP`, a convolutional one a
    :class:`quant.convnet.SpikingConvNet`.
    """
    sizes = cfg.validate()
    if cfg.is_conv:
        from .convnet import SpikingConvNet

        return SpikingConvNet(cfg.arch.replace(" ", ""), timesteps=cfg.timesteps,
                              leak_shift=cfg.leak_shift, reset=cfg.reset,
                              readout=cfg.readout, threshold=cfg.threshold, bias=cfg.bias,
                              slope=cfg.slope, surrogate=cfg.surrogate,
                              init_gain=cfg.init_gain)
    return SpikingMLP(sizes, timesteps=cfg.timesteps, leak_shift=cfg.leak_shift,
                      reset=cfg.reset, readout=cfg.readout, threshold=cfg.threshold,
                      bias=cfg.bias, slope=cfg.slope, surrogate=cfg.surrogate,
                      init_gain=cfg.init_gain)


def loss_fn(model: SpikingMLP, x: Tensor, y: Tensor) -> Tensor:
    """The training loss: cross-entropy of the model's scores (mean over the batch).

    ``x`` is (B, T, in) float 0/1 spikes, ``y`` int64 labels. For the spike-count readout
    the scores are spike counts (0..T) used directly as logits. This is the exact loss
    :func:`train` and QAT minimize (the Hessian is taken of this function).
    """
    return F.cross_entropy(model(x), y)


@torch.no_grad()
def evaluate(model: SpikingMLP, spikes: np.ndarray | Tensor, labels: np.ndarray | Tensor,
             batch_size: int = 512) -> float:
    """Accuracy of ``model`` (its current mode) on spikes (N, T, F) with labels (N,).

    Predictions are ``argmax`` of the scores with ties to the lowest index.
    """
    was_training = model.training
    model.eval()
    preds = predict(model, spikes, batch_size)
    model.train(was_training)
    lab = torch.as_tensor(np.asarray(labels))
    return float((preds == lab).float().mean()) if len(lab) else 0.0


@torch.no_grad()
def predict(model: SpikingMLP, spikes: np.ndarray | Tensor, batch_size: int = 512) -> Tensor:
    """Class predictions (N,) int64 of ``model`` in its current mode."""
    out = []
    for start in range(0, len(spikes), batch_size):
        xb = torch.as_tensor(np.asarray(spikes[start:start + batch_size]), dtype=torch.float32)
        out.append(torch.argmax(model(xb), dim=1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def _load_data(cfg: TrainConfig):
    from .config import EVENT_DATASETS
    from .data import load_dataset

    if cfg.dataset in EVENT_DATASETS:
        from .events import load_event_dataset

        try:
            return load_event_dataset(cfg.dataset, cfg.data_path, timesteps=cfg.timesteps,
                                      limit_train=cfg.limit_train, limit_test=cfg.limit_test)
        except InputError as exc:
            raise exc.renamed({"name": "dataset", "path": "data_path"}) from None

    try:
        return load_dataset(cfg.dataset, cfg.data_path, limit_train=cfg.limit_train,
                            limit_test=cfg.limit_test)
    except InputError as exc:  # load_dataset's names -> this config's field names
        raise exc.renamed({"name": "dataset", "path": "data_path"}) from None


def _map_shape(ds) -> tuple[int, ...]:
    """A dataset's images as a (C, H, W) map: one channel (grey levels)."""
    shape = tuple(int(d) for d in ds.shape)
    return (1, *shape) if len(shape) == 2 else shape


def _test_spikes(cfg: TrainConfig, ds) -> tuple[np.ndarray, np.ndarray]:
    return encode(ds.x_test, cfg.timesteps, cfg.encoding, cfg.seed, cfg.gain), ds.y_test


def _train_batches(cfg: TrainConfig, ds, epoch: int, batch_size: int
                   ) -> Iterator[tuple[Tensor, Tensor]]:
    order = np.random.default_rng((cfg.seed, epoch)).permutation(len(ds.y_train))
    x, y = ds.x_train[order], ds.y_train[order]
    for sb, yb in iter_encoded(x, y, cfg.timesteps, cfg.encoding,
                               encoding_seed(cfg.seed, epoch), batch_size, cfg.gain):
        yield torch.from_numpy(np.asarray(sb)).float(), torch.from_numpy(np.asarray(yb)).long()


#: Bytes per sample, time step and input or neuron that training holds at least (measured
#: on the digits network: 9 to 11 bytes for a training or an evaluation sample; the
#: figure is kept low so that only a run that cannot fit is refused)
TRAIN_BYTES_PER_UNIT = 6


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``; None when
    it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def training_memory(cfg: TrainConfig, sizes: list[int], n_test: int) -> int:
    """A lower bound of the bytes :func:`train` needs beyond its start-up: the encoded
    test set (one byte per spike and a float32 copy of each evaluation batch), and the
    states of one training and one evaluation batch over all ``T`` steps."""
    units = sum(sizes)
    eval_n = min(cfg.eval_batch_size, n_test)
    return cfg.timesteps * (n_test * sizes[0] + (cfg.batch_size + eval_n) * units
                            * TRAIN_BYTES_PER_UNIT)


def check_memory(cfg: TrainConfig, sizes: list[int], n_test: int = 0) -> None:
    """Refuse (InputError on ``timesteps``) a run whose :func:`training_memory` exceeds
    the memory available now (a long ``T`` would otherwise end in an out-of-memory kill).
    ``n_test`` 0: the bound without the test set (before the data is loaded)."""
    avail = available_memory()
    need = training_memory(cfg, sizes, n_test)
    if avail is not None and need > avail:
        gib = 1 << 30
        raise InputError(f"training at T={cfg.timesteps} with batch_size {cfg.batch_size} "
                         f"needs at least {need / gib:.1f} GiB, {avail / gib:.1f} GiB are "
                         "available: lower timesteps, batch_size or limit_test",
                         param="timesteps")


SMALL_LAYER = 1 << 16


def auto_threads(sizes: list[int]) -> int | None:
    """Threads for ``threads=None``: 1 when every weight matrix is small, else torch's default.

    Small layers (fewer than 65536 weights, e.g. digits 64-128-10) gain nothing from
    intra-op threads, and on a busy machine the threads' synchronization costs far more
    than the work (measured: 0.7 s/epoch with 1 thread vs 6.4 s with 2 under load).
    """
    return 1 if max(a * b for a, b in itertools.pairwise(sizes)) < SMALL_LAYER else None


def model_from_config(config: dict[str, Any]):
    """Rebuild a model from its ``config()`` dict (``model.pt``): an ``arch`` key means a
    :class:`quant.convnet.SpikingConvNet`, ``sizes`` a :class:`SpikingMLP`."""
    if "arch" in config:
        from .convnet import SpikingConvNet

        return SpikingConvNet(**config)
    return SpikingMLP(**config)


def model_threads(model: Any) -> int | None:
    """Threads for ``threads=None`` for a built model: :func:`auto_threads` for a dense
    one; for a convolutional one, 1 when a sample-step needs fewer than 65536
    multiply-accumulates (digits-sized), else torch's default."""
    if hasattr(model, "macs_per_step"):
        return 1 if model.macs_per_step() < SMALL_LAYER else None
    return auto_threads(list(model.sizes))


def _set_threads(threads: int | None, sizes: list[int] | None = None, model: Any = None
                 ) -> None:
    if threads is None and model is not None:
        threads = model_threads(model)
    elif threads is None and sizes is not None:
        threads = auto_threads(sizes)
    if threads is not None:
        torch.set_num_threads(int(threads))


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, unit="batch",
                dynamic_ncols=True)


def _save_torch(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _write_json(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- train
def train(cfg: TrainConfig, out_dir: str | os.PathLike[str], *, dataset=None,
          progress: bool = True) -> TrainResult:
    """Train a float spiking network and write the run directory.

    Parameters
    ----------
    cfg : TrainConfig
    out_dir : run directory (created; resumed from ``checkpoint.pt`` when the saved
        configuration equals ``cfg``)
    dataset : a :class:`quant.data.Dataset` to use instead of loading ``cfg.dataset``
    progress : tqdm bars on stderr

    Returns
    -------
    TrainResult
    """
    sizes = cfg.validate()
    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    _set_threads(cfg.threads, sizes, model)
    ds = dataset if dataset is not None else _load_data(cfg)
    if cfg.is_conv and tuple(model.input_shape) != _map_shape(ds):
        shape = "x".join(str(d) for d in _map_shape(ds))
        raise InputError(f"input {'x'.join(map(str, model.input_shape))} does not match "
                         f"dataset {ds.name!r} ({shape} maps)", param="arch")
    if ds.n_features != sizes[0]:
        raise InputError(f"first size {sizes[0]} does not match dataset "
                         f"{ds.name!r} ({ds.n_features} input features)", param="arch")
    if ds.n_classes != sizes[-1]:
        raise InputError(f"last size {sizes[-1]} does not match dataset "
                         f"{ds.name!r} ({ds.n_classes} classes)", param="arch")
    check_memory(cfg, sizes, len(ds.y_test))
    out = Path(out_dir)
    make_dir(out)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = math.ceil(len(ds.y_train) / cfg.batch_size)
    total_steps = max(1, cfg.epochs * n_batches)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    history: list[dict[str, float]] = []
    start_epoch = 0
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.is_file():
        try:
            ckpt = torch.load(ckpt_path, weights_only=False)
            if ckpt.get("config") == cfg.to_dict():
                model.load_state_dict(ckpt["model"])
                opt.load_state_dict(ckpt["optimizer"])
                sched.load_state_dict(ckpt["scheduler"])
                history = list(ckpt["history"])
                start_epoch = int(ckpt["epoch"]) + 1
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is bad input
            raise InputError(f"{ckpt_path}: cannot be loaded to resume the run "
                             f"({' '.join(str(exc).split())[:200]}); delete it to train "
                             "from scratch") from None
    test_x, test_y = _test_spikes(cfg, ds)
    t_start = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        tot_loss, tot_ok, tot_n = 0.0, 0, 0
        bar = _progress(_train_batches(cfg, ds, epoch, cfg.batch_size), n_batches,
                        f"epoch {epoch + 1}/{cfg.epochs}", progress)
        for xb, yb in bar:
            opt.zero_grad(set_to_none=True)
            with fused_bptt(model):
                scores = model(xb)
                loss = F.cross_entropy(scores, yb)
                loss.backward()
            opt.step()
            sched.step()
            tot_loss += float(loss.detach()) * len(yb)
            tot_ok += int((scores.argmax(1) == yb).sum())
            tot_n += len(yb)
            if progress and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}")
        train_time = time.perf_counter() - t0
        acc = evaluate(model, test_x, test_y, cfg.eval_batch_size)
        history.append({"epoch": epoch + 1, "loss": tot_loss / max(1, tot_n),
                        "train_accuracy": tot_ok / max(1, tot_n), "test_accuracy": acc,
                        "seconds": train_time})
        if progress:
            import sys
            print(f"epoch {epoch + 1}/{cfg.epochs}: loss {tot_loss / max(1, tot_n):.4f} "
                  f"train {100 * tot_ok / max(1, tot_n):.2f}% test {100 * acc:.2f}% "
                  f"({train_time:.1f} s)", file=sys.stderr)
        _save_torch({"config": cfg.to_dict(), "model": model.state_dict(),
                     "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "history": history, "epoch": epoch}, ckpt_path)
    wall = time.perf_counter() - t_start
    acc = evaluate(model, test_x, test_y, cfg.eval_batch_size)
    _save_torch({"model_config": model.config(), "state_dict": model.state_dict(),
                 "train_config": cfg.to_dict()}, out / "model.pt")
    info = {
        "format": RUN_FORMAT,
        "version": 1,
        "config": cfg.to_dict(),
        "sizes": sizes,
        "test_accuracy": acc,
        "n_test": len(test_y),
        "n_train": len(ds.y_train),
        "history": history,
        "train_seconds": sum(h["seconds"] for h in history),
        "wall_seconds_this_call": wall,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }
    _write_json(info, out / "run.json")
    return TrainResult(model=model, config=cfg, test_accuracy=acc, history=history,
                       out_dir=out, train_seconds=info["train_seconds"])


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Load a run directory written by :func:`train` (model in float mode, eval()).

    Raises
    ------
    InputError
        The directory, ``run.json`` or ``model.pt`` is missing or unreadable, or
        ``run.json``'s config disagrees with ``model.pt`` on a field that determines the
        model (architecture, timesteps, threshold, reset, ...): one line naming the key
        and both values.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory (make one with spikeforge train)")
    info_path, model_path = run_dir / "run.json", run_dir / "model.pt"
    for p in (info_path, model_path):
        if not p.is_file():
            raise InputError(f"{p}: missing (is {run_dir} a finished 'spikeforge train' run?)")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
            raise ValueError(f"its 'format' is not {RUN_FORMAT!r}")
        if info.get("version") != 1:
            raise ValueError(f"version {info.get('version')!r} is not 1")
        cfg = TrainConfig.from_dict(info["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{info_path}: not a spikeforge run record ({exc})") from None
    try:
        saved = torch.load(model_path, weights_only=False)
        model = model_from_config(saved["model_config"])
        model.load_state_dict(saved["state_dict"])
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is bad input
        raise InputError(f"{model_path}: cannot be loaded ({' '.join(str(exc).split())})"
                         ) from None
    _check_config_matches_model(cfg, model, info_path)
    model.eval()
    return Run(model=model, cfg=cfg, run_dir=run_dir, info=info)


_MODEL_KEY_TO_CONFIG = {"sizes": "arch"}
"""A model config key -> the ``TrainConfig`` (run.json) key it comes from, where they differ."""


def _check_config_matches_model(cfg: TrainConfig, model: Any, info_path: Path) -> None:
    """Raise InputError when ``run.json``'s config describes another model than ``model.pt``.

    Every field that determines the model (architecture, timesteps, neuron, threshold,
    reset, leak, readout, bias, surrogate) must give what the saved model was built with:
    the later stages take them from ``cfg``. The model ``cfg`` describes is built under a
    forked RNG (the global torch RNG is left as it was).
    """
    try:
        with torch.random.fork_rng(devices=[]):
            want = build_model(cfg).config()
    except InputError as exc:
        where = f"config {exc.param!r}: {exc.detail}" if exc.param else str(exc)
        raise InputError(f"{info_path}: {where}") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{info_path}: its config does not describe a model "
                         f"({' '.join(str(exc).split())})") from None
    have = model.config()
    for key in dict.fromkeys([*have, *want]):
        if key in want and key in have and want[key] == have[key]:
            continue
        # a dense and a conv architecture are keyed 'sizes' and 'arch': pair them up
        old_key = key if key in have else next((k for k in have if k not in want), key)
        new_key = key if key in want else next((k for k in want if k not in have), key)
        gives = f"{new_key} {want.get(new_key)!r}"
        trained = (f"{have.get(old_key)!r}" if old_key == new_key
                   else f"{old_key} {have.get(old_key)!r}")
        cfg_key = _MODEL_KEY_TO_CONFIG.get(new_key, new_key)
        raise InputError(f"{info_path}: config {cfg_key!r} gives {gives}, but model.pt was "
                         f"trained with {trained} (run.json and model.pt disagree: restore "
                         "run.json or train again)")
