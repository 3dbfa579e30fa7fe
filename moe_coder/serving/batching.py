"""A batching window: requests that arrive together are answered by one call.

The first request of a batch waits at most ``window_s`` for company, and only while more
requests are on their way (``expected()`` counts those the server has accepted but not yet
answered); otherwise only for ``ARRIVAL_GRACE_S``, so a request that arrives alone barely waits. While a batch runs, newcomers queue
and form the next one. Batches run one
at a time in a worker thread, so the event loop keeps accepting requests.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Generic, Sequence, TypeVar

import anyio
import anyio.to_thread

logger = logging.getLogger(__name__)

#: How long a batch waits for company when the server holds no other request: long enough for
#: requests sent together to be read off their sockets, short enough not to matter alone.
ARRIVAL_GRACE_S = 0.001

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Groups submitted items into batches for ``run_batch(items) -> results or exceptions, in order``."""

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Sequence[Result | BaseException]],
        max_batch: int,
        window_s: float,
        on_batch: Callable[[int], None] | None = None,
        expected: Callable[[], int] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, found {max_batch}")
        if window_s < 0:
            raise ValueError(f"the batching window must be >= 0 ms, found {window_s * 1000:g}")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.window_s = window_s
        self.on_batch = on_batch
        self.expected = expected
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future, float]] | None = None
        self._task: asyncio.Task | None = None
        self._limiter = anyio.CapacityLimiter(1)

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def submit(self, item: Item) -> Result:
        """Answer one item as part of whichever batch it lands in."""
        assert self._queue is not None, "Batcher.start() was not called"
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        await self._queue.put((item, future, loop.time()))
        return await future

    async def _gather(self) -> list[tuple[Item, asyncio.Future, float]]:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = batch[0][2] + self.window_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if self.expected is not None and self.expected() <= len(batch):
                remaining = min(remaining, ARRIVAL_GRACE_S)  # none known to be coming: wait only for ones in transit
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        while True:
            batch = [entry for entry in await self._gather() if not entry[1].done()]  # drop cancelled requests
            if not batch:
                continue
            if self.on_batch is not None:
                self.on_batch(len(batch))
            try:
                results = await anyio.to_thread.run_sync(self.run_batch, [item for item, _, _ in batch], limiter=self._limiter)
            except Exception as exc:  # a failed batch fails its requests, not the server
                results = [exc] * len(batch)
            for (_, future, _), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
