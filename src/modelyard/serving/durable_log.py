"""Group commit for ``prediction_log.durability: acknowledged``: a prediction is on disk
(written and fsync'd) before its answer is sent.

One writer thread per server process. A request hands its entry over and awaits the commit of
the batch it lands in; the thread takes everything queued since its last commit as one batch
(requests that arrive while a commit runs form the next one), formats and appends each file's
lines with one ``write``, ``fsync``\\ s each file once, and wakes the whole batch with one call
into the event loop. So under concurrency one fsync covers many requests, and the event loop
never blocks on the disk. A failed write fails every request of its batch (the caller then
answers 503: nothing is acknowledged that is not recorded).

Each process appends to its own ``<pid>-acked.jsonl`` beside the buffered log's
``<pid>.jsonl``, so the two writers never interleave inside a line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

Format = Callable[[Any], tuple[Path, bytes]]  # an entry → (file, its line)
_STOP = object()
# fdatasync: the data and the file size (what an append needs), without the timestamps
_sync = getattr(os, "fdatasync", os.fsync)
MAX_BATCH = 4096


class GroupCommitWriter:
    def __init__(self, format_entry: Format) -> None:
        self.format = format_entry
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.files: dict[Path, int] = {}  # open descriptors (O_APPEND), one per file
        self.commits = 0  # batches written (one fsync per file each)
        self.written = 0

    async def commit(self, entry: Any) -> None:
        """Return once ``entry`` is written and fsync'd; raise if it could not be."""
        loop = asyncio.get_running_loop()
        if self.thread is None:
            self.thread = threading.Thread(
                target=self._run, name="modelyard-durable-log", daemon=True
            )
            self.thread.start()
        done: asyncio.Future[None] = loop.create_future()
        self.queue.put((entry, loop, done))
        await done

    def close(self) -> None:
        """Commit what is queued, stop the thread, close the files."""
        if self.thread is not None:
            self.queue.put(_STOP)
            self.thread.join()
            self.thread = None
        for fd in self.files.values():
            os.close(fd)
        self.files.clear()

    # ---- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self.queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stop = True
                batch = [item for item in batch if item is not _STOP]
            if not batch:
                continue
            error: BaseException | None = None
            try:
                self._write([entry for entry, _, _ in batch])
            except Exception as exc:  # every request of the batch learns it was not recorded
                error = exc
            waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, loop, done in batch:
                waiting.setdefault(loop, []).append(done)
            for loop, futures in waiting.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_resolve, futures, error)

    def _write(self, entries: list[Any]) -> None:
        lines: dict[Path, list[bytes]] = {}
        for entry in entries:
            path, line = self.format(entry)
            lines.setdefault(path, []).append(line)
        for path, chunk in lines.items():
            fd = self.files.get(path)
            if fd is None:
                fd = self._open(path)
            data = memoryview(b"".join(chunk))
            while data:
                data = data[os.write(fd, data) :]
            _sync(fd)
        self.commits += 1
        self.written += len(entries)

    def _open(self, path: Path) -> int:
        new_folder, new = not path.parent.exists(), not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if new:  # the file's directory entries must survive a crash too
            _fsync_dir(path.parent)
        if new_folder:
            _fsync_dir(path.parent.parent)
        self.files[path] = fd
        return fd


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for done in futures:
        if done.done():  # the request was cancelled (client gone, server stopping)
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
