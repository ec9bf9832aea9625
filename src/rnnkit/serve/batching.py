"""One thread runs the models; score requests that wait together run as one batch.

A model holds state while it runs (its layers' buffers, the state after the
last step), so two threads must not run it at once: every piece of model work
goes to one worker thread, in the order it came, while the event loop goes on
taking requests. Score requests do not queue one by one: while the worker is
busy they gather, and when it is free all those for the same model (up to
``max_sentences`` sentences) run as one call, one forward pass over many
sentences instead of many small ones; each request then gets its own rows
back. No request waits for a timer: a lone request runs at once.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor


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
