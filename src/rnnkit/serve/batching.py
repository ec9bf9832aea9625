"""One thread runs the models; score requests that wait together run as one batch.

A model holds state while it runs (its layers' buffers, the state after the
last step), so two threads must not run it at once: every piece of model work
goes to one worker thread, in the order it came, while the event loop goes on
taking requests. Score requests do not queue one by one: while the worker is
busy they gather, and when it is free all those for the same model (up to
``max_sentences`` sentences) run as one call, one forward pass over many
sentences instead of many small ones; each request then gets its own rows
back. No request waits for a timer: a lone request runs at once, and a batch
is taken once the requests the event loop is reading have stopped arriving.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

GATHER_TURNS = 64  # of the event loop, at most, while waiting requests still come (ModelWorker._gather)


class ModelWorker:
    def __init__(self, max_sentences=1024):
        self.max_sentences = max_sentences
        self._executor = None  # made on first use, and again after close() (an app may be started twice)
        self._waiting = []  # [(key, score function, sentences, future)]
        self._draining = False
        self.batches = []  # sizes of the score batches run, in requests (for tests and the load script)

    async def run(self, fn, *args):
        """fn(*args) on the model thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnkit-model")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def score(self, key, fn, sentences):
        """fn(sentences) -> one row per sentence, run together with other requests of the same key."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((key, fn, list(sentences), future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self):
        try:
            while self._waiting:
                await self._gather()
                batch = self._take()
                fn = batch[0][1]
                sentences = [s for _, _, ss, _ in batch for s in ss]
                self.batches.append(len(batch))
                try:
                    rows = await self.run(fn, sentences)
                except Exception:
                    # One bad request must not fail the others: run each alone for its own answer.
                    for item in batch:
                        await self._alone(item)
                    continue
                at = 0
                for _, _, ss, future in batch:
                    if not future.done():
                        future.set_result(rows[at : at + len(ss)])
                    at += len(ss)
        finally:
            self._draining = False

    async def _gather(self):
        """Let the requests the event loop is already reading reach the queue before a batch is taken.

        Under load the answers of one batch go out together and their clients' next
        requests come back together, each after some turns of the event loop (its
        body, its checking, its text cut). Taking at once ran the first of them alone
        beside that work (measured: 11-22 ms for 1-3 sentences, against 3-5 ms alone),
        then the rest; so one loop turn at a time while the queue still grows, at
        most GATHER_TURNS. No timer: a lone request waits one turn of an idle loop.
        """
        n = -1
        for _ in range(GATHER_TURNS):
            if len(self._waiting) in (n, 0) or self._full():
                break
            n = len(self._waiting)
            await asyncio.sleep(0)

    def _full(self):
        return sum(len(item[2]) for item in self._waiting) >= self.max_sentences

    def _take(self):
        """The oldest waiting request and every other one of its key that fits, in order."""
        key = self._waiting[0][0]
        batch, rest, size = [], [], 0
        for item in self._waiting:
            if item[0] == key and (not batch or size + len(item[2]) <= self.max_sentences):
                batch.append(item)
                size += len(item[2])
            else:
                rest.append(item)
        self._waiting = rest
        return batch

    async def _alone(self, item):
        _, fn, sentences, future = item
        try:
            rows = await self.run(fn, sentences)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(rows)

    def close(self):
        """Stop the model thread after the work it has begun; a later run() starts a new one."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
