"""Serving loops: how requests that arrive one by one reach a runtime (infbench.planning.variants.ServingLoop says which).

A loop takes LoadGen's samples (`submit`: pairs of LoadGen's id and the sample's index in the held-out
images), runs the runtime on them, and hands each id the runtime's output for that sample
(`Ledger.complete`). A runtime error ends the loop's work and is reported (`Ledger.fail`); the
harness then gives up on the samples still waiting.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from infbench.errors import first_line
from infbench.planning.variants import BatchingQueue

Pair = tuple[int, int]  # LoadGen's sample id, the sample's index in the images


@dataclass(frozen=True)
class BatchModels:
    """The runtime's models by batch size: `sizes` empty means one model that takes any batch up to `max_batch`."""

    infer: dict[int, Callable[[np.ndarray], np.ndarray]]  # batch size (0: any) -> host in, host out
    sizes: tuple[int, ...]
    max_batch: int

    def size_for(self, n: int) -> int:
        """The batch a group of `n` requests runs as: the smallest size that holds them (`n` itself without sizes)."""
        if not self.sizes:
            return n
        return next(size for size in self.sizes if size >= n)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.infer[batch.shape[0] if self.sizes else 0](batch)

    def warm_up(self, images: np.ndarray, calls: int) -> None:
        """Run every model `calls` times on real images, in the calling thread (a CUDA graph is recorded per thread)."""
        for size in self.sizes or (self.max_batch,):
            batch = images[np.arange(size) % len(images)]
            for _ in range(calls):
                self.run(batch)


class BatchingLoop:
    """Triton-style dynamic batching: workers take up to `max_batch` queued requests, waiting up to the window for more.

    A batch is padded to the model's next batch size with copies of its first image (real data, never
    zeros); the padding's outputs are dropped. Each worker warms every model up in its own thread before
    the loop takes requests: torch.compile's CUDA graphs are recorded per thread.
    """

    def __init__(self, spec: BatchingQueue, models: BatchModels, images: np.ndarray, ledger, workers: int, warmup: int = 0):
        self.spec, self.models, self.images, self.ledger, self.warmup = spec, models, images, ledger, warmup
        self.window_s = spec.window_ms / 1000
        self._queue: collections.deque[tuple[float, int, int]] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self._warm = threading.Barrier(workers + 1)
        self._warm_errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"serving-{i}") for i in range(workers)]
        for thread in self._threads:
            thread.start()
        self._warm.wait()
        if self._warm_errors:
            self.close()
            raise self._warm_errors[0]

    def submit(self, pairs: list[Pair]) -> None:
        now = time.monotonic()
        with self._ready:
            self._queue.extend((now, sample_id, index) for sample_id, index in pairs)
            self._ready.notify(len(pairs))

    def _take(self) -> list[tuple[float, int, int]] | None:
        """The next batch: wait for a request, then up to the window (from the oldest's arrival) for a full batch."""
        with self._ready:
            while True:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return None
                deadline = self._queue[0][0] + self.window_s
                while 0 < len(self._queue) < self.spec.max_batch and (left := deadline - time.monotonic()) > 0 and not self._closed:
                    self._ready.wait(left)
                if self._queue:  # another worker may have taken them while this one waited
                    return [self._queue.popleft() for _ in range(min(len(self._queue), self.spec.max_batch))]

    def _work(self) -> None:
        try:
            self.models.warm_up(self.images, self.warmup)
        except Exception as exc:  # the loop does not start: its constructor raises it
            self._warm_errors.append(exc)
            return
        finally:
            self._warm.wait()
        while (taken := self._take()) is not None:
            try:
                ids, outputs = self.run(taken)
            except Exception as exc:  # the runtime's error ends the serving: the harness gives up on what waits
                self.ledger.fail(f"{type(exc).__name__}: {first_line(exc)}")
                return
            self.answer(ids, outputs)

    def run(self, taken: list[tuple[float, int, int]]) -> tuple[list[int], np.ndarray]:
        """Run one batch: the ids and one output row each, in the same order."""
        ids = [sample_id for _, sample_id, _ in taken]
        indices = [index for _, _, index in taken]
        size = self.models.size_for(len(indices))
        if size == 1:  # one sample: a view of it, no copy
            batch = self.images[indices[0] : indices[0] + 1]
        else:
            batch = self.images[indices + [indices[0]] * (size - len(indices))]
        outputs = self.models.run(batch)
        return ids, np.asarray(outputs)[: len(ids)]

    def answer(self, ids: list[int], outputs: np.ndarray) -> None:
        self.ledger.complete(ids, outputs)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()


class InlineLoop:
    """One request at a time in LoadGen's issuing thread: no hand-over between threads (MLPerf's reference SUTs serve
    SingleStream so). Only where one sample is in flight: LoadGen issues the next query once this one is answered."""

    def __init__(self, models: BatchModels, images: np.ndarray, ledger, warmup: int = 0):
        self.models, self.images, self.ledger = models, images, ledger
        models.warm_up(images, warmup)

    def submit(self, pairs: list[Pair]) -> None:
        for sample_id, index in pairs:
            try:
                output = self.models.run(self.images[index : index + 1])
            except Exception as exc:
                self.ledger.fail(f"{type(exc).__name__}: {first_line(exc)}")
                return
            self.ledger.complete([sample_id], np.asarray(output))

    def close(self) -> None:
        pass


class AsyncLoop:
    """The runtime's own asynchronous queue (OpenVINO's AsyncInferQueue), one request per sample.

    A feeder thread starts requests in arrival order (waiting while every request is busy); each
    finished request answers its sample from the runtime's callback thread.
    """

    def __init__(self, make_queue, images: np.ndarray, ledger):
        self.images, self.ledger = images, ledger
        self.queue = make_queue(self._done)
        self._pending: queue.SimpleQueue[Pair | None] = queue.SimpleQueue()
        self._feeder = threading.Thread(target=self._feed, daemon=True, name="serving-feeder")
        self._feeder.start()

    def submit(self, pairs: list[Pair]) -> None:
        for pair in pairs:
            self._pending.put(pair)

    def _feed(self) -> None:
        while (pair := self._pending.get()) is not None:
            sample_id, index = pair
            try:
                self.queue.start(self.images[index : index + 1], sample_id)
            except Exception as exc:
                self.ledger.fail(f"{type(exc).__name__}: {first_line(exc)}")
                return

    def _done(self, sample_id: int, output: np.ndarray) -> None:
        try:
            self.ledger.complete([sample_id], output)
        except Exception as exc:  # raised in the runtime's own thread: reported, never lost
            self.ledger.fail(f"{type(exc).__name__}: {first_line(exc)}")

    def close(self) -> None:
        self._pending.put(None)
        self._feeder.join()
        self.queue.wait_all()
