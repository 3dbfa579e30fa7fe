"""Streamed generation of a whole batch: one decoding run, one stream per row.

:class:`BatchStream` runs its rows through :func:`~moe_coder.experts.decoding.decode` in a
worker thread. Its :class:`RowWatcher` sees every generated token of every row in the
generating thread, step by step. For each row it decodes the text so far, ends the row at its
end-of-sequence token, at a stop string or when its reader cancels, and hands finished text to
the row's queue. A row that ends stops
generating (the decoder drops it from the batch, or feeds it padding until enough rows ended);
the batch stops when every row has ended.

Each row is read through :meth:`BatchStream.reader`, a generator of text pieces whose return
value is the row's :class:`~moe_coder.experts.completion.Completion`. Nothing is generated
until some reader asks for its first piece. A reader that stops reading (closed, or its
``cancel`` event set) ends its own row only. The generating thread never waits for a reader,
so a slow reader delays nobody.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Sequence

from moe_coder.experts.completion import Completion, truncate_at_stop

_END = object()


@dataclass
class _Row:
    """One row of the batch: its tokens, the text handed out so far, and how it ended."""

    prompt_tokens: int
    cancel: threading.Event | None = None
    left: bool = False  # its reader is done with it (read to the end, closed or gone)
    ids: list[int] = field(default_factory=list)
    sent: int = 0  # characters of the decoded text already handed to the reader
    ended: bool = False
    finish_reason: str = "stop"
    text: str = ""  # the final text, once ended
    pieces: "queue.SimpleQueue[Any]" = field(default_factory=queue.SimpleQueue)


class RowWatcher:
    """Streams each row's new text and ends rows one by one.

    :meth:`step` is called once per generated token with the running rows' new tokens; it
    returns, per row, whether that row is done (ended here, or earlier).
    """

    def __init__(
        self,
        rows: list[_Row],
        decode: Callable[[list[int]], str],
        eos_ids: Sequence[int],
        stop: Sequence[str] | None,
        max_new_tokens: int,
        streaming: bool = True,
    ) -> None:
        self.rows = rows
        self.streaming = streaming  # False: nobody reads pieces, so text is decoded only where a stop string needs it
        self.decode = decode
        self.eos_ids = set(eos_ids)
        self.stop = [s for s in stop or () if s]
        self.max_new_tokens = max_new_tokens
        # Hold back enough characters that a stop string split across pieces is never handed out.
        self.holdback = max((len(s) for s in self.stop), default=1) - 1

    def _advance(self, row: _Row, token: int) -> None:
        row.ids.append(token)
        if token in self.eos_ids:
            self.end(row, "stop")
            return
        if not self.streaming and not self.stop:
            if len(row.ids) >= self.max_new_tokens:
                self.end(row, "length")
            return
        text = self.decode(row.ids)
        cut = truncate_at_stop(text, self.stop)
        if len(cut) < len(text):
            self.end(row, "stop", cut)
            return
        if len(row.ids) >= self.max_new_tokens:
            self.end(row, "length", text)
            return
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
            return
        ready = len(text) - self.holdback
        if ready > row.sent:
            row.pieces.put(text[row.sent : ready])
            row.sent = ready

    def end(self, row: _Row, reason: str, text: str | None = None) -> None:
        """End ``row``: hand out the rest of its text, then its completion (once)."""
        if row.ended:
            return
        row.ended = True
        row.finish_reason = reason
        row.text = self.decode(row.ids) if text is None else text
        if len(row.text) > row.sent:
            row.pieces.put(row.text[row.sent :])
        row.pieces.put(_END)

    def step(self, indices: Sequence[int], tokens: Sequence[int]) -> list[bool]:
        """Hand each row of ``indices`` its new token; whether each has ended (here, or earlier)."""
        for index, token in zip(indices, tokens):
            row = self.rows[index]
            if row.ended:
                continue
            if row.left or (row.cancel is not None and row.cancel.is_set()):
                self.end(row, "stop")  # the token of this step is not the reader's: it left
                continue
            self._advance(row, int(token))
        return [self.rows[index].ended for index in indices]


class BatchStream:
    """One batch generating in a worker thread, read row by row.

    ``run(batch)`` is called once, in the worker thread, on the first read of any row. It loads
    and encodes what it needs, sets each row's prompt length (:meth:`set_prompt_tokens`) and
    decodes with :meth:`watch`'s watcher seeing every step (``decode``'s ``on_step``).
    """

    def __init__(self, cancels: Sequence[threading.Event | None], run: Callable[["BatchStream"], None]) -> None:
        self.rows = [_Row(0, cancel) for cancel in cancels]
        self.watcher: RowWatcher | None = None
        self._run = run
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._streaming = True  # False when run() generates the whole batch for its completions

    def set_prompt_tokens(self, indices: Sequence[int], counts: Sequence[int]) -> None:
        """The number of prompt tokens rows ``indices`` read (the padding not counted), set as they are encoded."""
        for index, n in zip(indices, counts):
            self.rows[index].prompt_tokens = int(n)

    def watch(
        self, decode: Callable[[list[int]], str], eos_ids: Sequence[int], stop: Sequence[str] | None, max_new_tokens: int
    ) -> RowWatcher:
        """The stopping criterion that streams this batch's rows."""
        self.watcher = RowWatcher(self.rows, decode, eos_ids, stop, max_new_tokens, streaming=self._streaming)
        return self.watcher

    def _finish(self, error: BaseException | None) -> None:
        """End every row still running once decoding returned (or raised ``error``)."""
        for row in self.rows:
            if row.ended:
                continue
            if error is not None or self.watcher is None:
                row.ended = True
                row.pieces.put(error or RuntimeError("the batch ended without generating"))
            else:  # decoding stopped on its own (the length)
                reason = "length" if len(row.ids) >= self.watcher.max_new_tokens else "stop"
                self.watcher.end(row, reason)

    def _work(self) -> None:
        error: BaseException | None = None
        try:
            self._run(self)
        except BaseException as exc:  # handed to every reader whose row had not ended
            error = exc
        self._finish(error)

    def run(self) -> list[Completion]:
        """Generate the whole batch in this thread; the :class:`Completion` of each row."""
        with self._lock:
            if self._worker is not None:
                raise RuntimeError("this batch is already streaming")
            self._worker = threading.current_thread()
            self._streaming = False
        self._run(self)
        self._finish(None)
        return [Completion(r.text, r.prompt_tokens, len(r.ids), r.finish_reason) for r in self.rows]

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="batch-stream", daemon=True)
                self._worker.start()

    def reader(self, index: int) -> Generator[str, None, Completion]:
        """The pieces of row ``index``'s answer; returns its :class:`Completion`."""
        row = self.rows[index]
        self._start()
        try:
            while True:
                item = row.pieces.get()
                if item is _END:
                    return Completion(row.text, row.prompt_tokens, len(row.ids), row.finish_reason)
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._leave(index)

    def _leave(self, index: int) -> None:
        """A reader is done with its row: the watcher ends the row at the next token if it still runs; the last reader waits for the worker."""
        with self._lock:
            self.rows[index].left = True
            last = all(row.left for row in self.rows)
            worker = self._worker
        if last and worker is not None:
            worker.join()
