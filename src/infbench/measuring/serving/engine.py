"""A runtime ready to serve: its models loaded through the backend contract for the variant's serving loop.

A batching queue gets one model per batch size it pads to (one compilation or CUDA-graph capture
each), or one model for any batch; an asynchronous queue gets the runtime's own queue over a model
compiled for it. Each model is prepared (compiled, captured) and warmed up with real images before
LoadGen starts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from infbench.errors import BackendUnavailable
from infbench.measuring.backends.base import CellRequest, Loaded, Runtime
from infbench.measuring.serving.loops import AsyncLoop, BatchingLoop, BatchModels, InlineLoop
from infbench.planning.variants import AsyncRequests, BatchingQueue, ServingLoop

log = logging.getLogger("infbench")


@dataclass
class Engine:
    """The loaded models of a scenario cell and how its loop resolved on this machine."""

    loop: ServingLoop
    models: dict[int, Loaded]  # batch size -> its model (0: one model for any batch)
    resolved: dict  # workers and threads, OpenVINO's streams and requests
    input_dtype: np.dtype
    details: dict = field(default_factory=dict)  # what the runtime reported (of its batch-1 model)
    warmup: int = 0  # calls per model each worker makes before serving

    def make_loop(self, images: np.ndarray, ledger):
        """A fresh serving loop over `images` (the held-out images in the model's input dtype)."""
        if isinstance(self.loop, AsyncRequests):
            return AsyncLoop(self.models[1].async_queue, images, ledger)
        spec: BatchingQueue = self.loop
        sizes = tuple(size for size in self.models if size)
        models = BatchModels({size: loaded.infer for size, loaded in self.models.items()}, sizes, spec.max_batch)
        if self.resolved["workers"] == 0:
            return InlineLoop(models, images, ledger, self.warmup)
        return BatchingLoop(spec, models, images, ledger, self.resolved["workers"], self.warmup)

    def release(self) -> None:
        for loaded in self.models.values():
            loaded.release()


def resolve_batching(spec: BatchingQueue, threads: int) -> dict:
    """Workers and intra-op threads on a machine with `threads` CPU threads for the cell."""
    intra = spec.intra_op_threads or threads
    workers = spec.workers if spec.workers is not None else max(1, threads // intra)
    return {"workers": workers, "intra_op_threads": intra}


def _prepare(loaded: Loaded, batch: np.ndarray, warmup: int) -> None:
    """Compile or capture once with the batch; `warmup` calls more where they run in this thread (OpenVINO's queue)."""
    if loaded.prepare is not None:
        loaded.prepare(batch)
    for _ in range(warmup):
        loaded.infer(batch)


def _batch(images: np.ndarray, size: int, dtype: np.dtype) -> np.ndarray:
    return images[np.arange(size) % len(images)].astype(dtype)


def load_engine(runtime: Runtime, request_at: Callable[[int], CellRequest], loop: ServingLoop, threads: int,
                images: np.ndarray, warmup: int) -> Engine:
    """Load, prepare and warm up the models `loop` needs; `request_at(batch)` is the cell's request at a batch size."""
    if isinstance(loop, AsyncRequests):
        loaded = runtime.load(dataclasses.replace(request_at(1), serving=loop, threads=threads))
        if loaded.async_queue is None:
            loaded.release()
            raise BackendUnavailable("this runtime has no asynchronous queue (AsyncRequests serves OpenVINO only)")
        _prepare(loaded, _batch(images, 1, loaded.input_dtype), warmup)
        probe = loaded.async_queue(lambda userdata, output: None)
        resolved = {"requests": probe.jobs, **probe.details}
        return Engine(loop, {1: loaded}, resolved, loaded.input_dtype, loaded.details)
    resolved = resolve_batching(loop, threads)
    sizes = loop.batch_sizes or (0,)
    models: dict[int, Loaded] = {}
    try:
        for size in sizes:
            request = dataclasses.replace(request_at(size or 1), serving=loop, threads=resolved["intra_op_threads"])
            log.info("loading %s for batches of %s", request.variant_name, size or f"1 to {loop.max_batch}")
            models[size] = loaded = runtime.load(request)
            _prepare(loaded, _batch(images, size or loop.max_batch, loaded.input_dtype), 0)  # workers warm up (make_loop)
    except BaseException:
        for loaded in models.values():
            loaded.release()
        raise
    first = models[sizes[0]]
    return Engine(loop, models, resolved, first.input_dtype, first.details, warmup)
