"""A bounded load test of `rnnkit serve` on loopback, against spawning the command line per request.

    python benchmarks/serve_load.py --model PTB_MODEL_DIR --text ptb.test.txt [--clients 32] [--requests 960]

It starts `rnnkit serve MODEL --port 0` (127.0.0.1 only) and runs, each with a
fixed number of requests and a time cap, and stops by itself:

1. batching: the same score requests sent by one client, one after another
   (each sent when the answer to the one before has come), and by --clients
   clients at once (the server batches those that wait together); throughput
   of each and their ratio. After a warm-up of both kinds, the two alternate
   --rounds times, each round in the other order, so that neither always runs
   first and the load of a shared machine falls on both. Each run also
   records the CPU time the server and the client spent per request, which a
   busy machine disturbs less than the wall clock.
2. mixed: --clients clients sending --requests requests, a mix of predict,
   score and rescore (n-best lists of 5); throughput, p50/p99 latency, errors,
   the server's memory (resident set, sampled every 0.25 s) at the start and
   end of the run.
3. the command line: --cli-requests of the same requests, each by spawning
   `rnnkit predict/score --json` (a process that loads the model each time);
   its latency against the server's, and every answer compared with the server's
   (the spot check: same tokens and probabilities to 1e-6).

The machine's load (os.getloadavg) is recorded with every figure. Results:
one JSON object on stdout (and --out FILE), then a summary of the figures
the issue asks for on stderr: the concurrent / sequential ratio, the command
line / server ratio, p50 and p99, the server's memory.
"""

import argparse
import asyncio
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time


def read_sentences(path, limit=5000):
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if 3 <= len(line.split()) <= 30]
    return lines[:limit]


def make_requests(sentences, n, seed, kinds=("predict", "score", "rescore")):
    """n requests (kind, body), drawn with a fixed seed: the same mix every run."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "predict":
            words = rnd.choice(sentences).split()
            body = {"prefix": " ".join(words[: rnd.randint(1, min(8, len(words)))]), "top": 10}
        elif kind == "score":
            body = {"sentences": rnd.sample(sentences, rnd.randint(1, 4))}
        else:
            base = rnd.choice(sentences).split()
            cands = []
            for k in range(5):  # the sentence and four variants with a word dropped or swapped
                words = list(base)
                if k:
                    j = rnd.randrange(len(words))
                    if k % 2:
                        del words[j]
                    else:
                        words[j] = rnd.choice(rnd.choice(sentences).split())
                cands.append({"text": " ".join(words), "am_score": round(-rnd.uniform(10, 20), 3)})
            body = {"nbest": [{"utt": f"utt{i}", "candidates": cands}]}
        out.append((kind, body))
    return out


def start_server(model, extra=()):
    p = subprocess.Popen([sys.executable, "-m", "rnnkit.cli", "serve", model, "--port", "0", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        found = re.search(r"listening on (http://\S+/)", line)
        if found:
            return p, found.group(1)
    raise SystemExit(f"the server did not start: {p.stderr.read()}")


def server_pids(pid):
    """The server's process and the processes it forked (`rnnkit serve --processes N`)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [pid, *map(int, f.read().split())]
    except OSError:
        return [pid]


def cpu_seconds(pid):
    """User + system CPU time of the server so far: every thread of every one of its processes."""
    total = 0
    for p in server_pids(pid):
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    """The server's resident memory, its processes' together (forked ones share pages: an upper bound)."""
    total = 0.0
    for p in server_pids(pid):
        with open(f"/proc/{p}/status") as f:
            total += next((int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:")), float("nan"))
    return total


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))] if xs else float("nan")


class Connection:
    """One keep-alive HTTP/1.1 connection to the server, written on asyncio's streams.

    The load generator shares the machine with the server, so it should take as
    little CPU as it can, and no more per request with 32 clients than with one:
    httpx's client took 3.7-4.6 ms of CPU per request with one client and
    6.3-8.2 ms with 32 (its connection pool), on a 2-core machine whose other
    core the server needs. This one takes a fraction of a millisecond either way.
    """

    def __init__(self, url):
        found = re.match(r"http://([^/:]+|\[[^\]]+\]):(\d+)/", url)
        self.host, self.port = found.group(1).strip("[]"), int(found.group(2))
        self.reader = self.writer = None

    async def post(self, path, body):
        """(status, body bytes) of POST ``path`` with the JSON ``body``."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        self.writer.write(b"POST /%s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
                          b"content-length: %d\r\n\r\n%s" % (path.encode(), self.host.encode(), len(data), data))
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        length = re.search(r"\r\ncontent-length: *(\d+)", head)
        if length:
            answer = await self.reader.readexactly(int(length.group(1)))
        else:  # chunked
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readexactly(2)
            answer = b"".join(parts)
        if "\r\nconnection: close" in head:
            await self.close()
        return status, answer

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def run_clients(url, requests, clients, deadline_s):
    """Send ``requests`` with ``clients`` at once, each client one request after another
    on its own connection; (wall seconds, latencies, errors, answers by index)."""
    queue = list(enumerate(requests))
    latencies, errors, answers = [], [], {}
    stop = time.perf_counter() + deadline_s

    async def worker():
        connection = Connection(url)
        try:
            while queue and time.perf_counter() < stop:
                i, (kind, body) = queue.pop(0)
                t = time.perf_counter()
                try:
                    status, answer = await asyncio.wait_for(connection.post(f"v1/{kind}", body), 120)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                    errors.append(f"{kind}: {type(exc).__name__}")
                    await connection.close()
                    continue
                latencies.append(time.perf_counter() - t)
                if status != 200:
                    errors.append(f"{kind}: {status} {answer[:200].decode('utf-8', 'replace')}")
                else:
                    answers[i] = json.loads(answer)
        finally:
            await connection.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - t0, latencies, errors, answers


def load():
    return [round(x, 2) for x in os.getloadavg()]


def summary(wall, latencies, errors, n):
    return {"requests": n, "done": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "seconds": round(wall, 3), "throughput_rps": round(len(latencies) / wall, 1),
            "p50_ms": round(1000 * percentile(latencies, 50), 2), "p99_ms": round(1000 * percentile(latencies, 99), 2)}


def measured_run(url, pid, reqs, clients, duration):
    """summary() of one run, with the server's and this client's CPU milliseconds per request."""
    server0, client0 = cpu_seconds(pid), time.process_time()
    wall, latencies, errors, _ = asyncio.run(run_clients(url, reqs, clients, duration))
    done = max(1, len(latencies))
    return {**summary(wall, latencies, errors, len(reqs)),
            "server_cpu_ms_per_request": round(1000 * (cpu_seconds(pid) - server0) / done, 2),
            "client_cpu_ms_per_request": round(1000 * (time.process_time() - client0) / done, 2)}


def batching_phase(url, pid, sentences, args):
    reqs = make_requests(sentences, args.batch_requests, args.seed + 1, kinds=("score",))
    # a warm-up of both kinds, not counted: first calls (threads started, BLAS's and the
    # recurrent loops' thread counts measured) would otherwise fall on whichever runs first
    warm = make_requests(sentences, min(64, len(reqs)), args.seed + 3, kinds=("score",))
    asyncio.run(run_clients(url, warm[:8], 1, args.duration))
    asyncio.run(run_clients(url, warm, args.clients, args.duration))
    rounds = []
    for n in range(args.rounds):
        runs = {}
        for kind in (("sequential", "concurrent") if n % 2 == 0 else ("concurrent", "sequential")):
            runs[kind] = measured_run(url, pid, reqs, 1 if kind == "sequential" else args.clients, args.duration)
        rounds.append({"first": "sequential" if n % 2 == 0 else "concurrent", "sequential": runs["sequential"],
                       "concurrent": runs["concurrent"], "load": load()})
    ratios = [r["concurrent"]["throughput_rps"] / r["sequential"]["throughput_rps"] for r in rounds]
    cpu = [r["sequential"]["server_cpu_ms_per_request"] / max(1e-9, r["concurrent"]["server_cpu_ms_per_request"])
           for r in rounds]
    return {"requests": len(reqs), "sentences_per_request": "1-4", "rounds": rounds,
            "ratio": [round(x, 2) for x in ratios], "ratio_median": round(sorted(ratios)[len(ratios) // 2], 2),
            "server_cpu_ratio": [round(x, 2) for x in cpu]}


def mixed_phase(url, pid, sentences, args):
    reqs = make_requests(sentences, args.requests, args.seed)
    samples = []
    done = [False]

    async def sample():
        while not done[0]:
            samples.append(rss_mb(pid))
            await asyncio.sleep(0.25)

    async def both():
        sampler = asyncio.create_task(sample())
        try:
            return await run_clients(url, reqs, args.clients, args.duration)
        finally:
            done[0] = True
            await sampler

    before = load()
    wall, latencies, errors, answers = asyncio.run(both())
    tenth = max(1, len(samples) // 10)
    memory = {"start_mb": round(sum(samples[:tenth]) / tenth, 1), "end_mb": round(sum(samples[-tenth:]) / tenth, 1),
              "max_mb": round(max(samples), 1), "samples": len(samples)}
    by_kind = {}
    for kind in ("predict", "score", "rescore"):
        idx = [i for i, (k, _) in enumerate(reqs) if k == kind]
        by_kind[kind] = len([i for i in idx if i in answers])
    return reqs, answers, {**summary(wall, latencies, errors, len(reqs)), "answered_by_kind": by_kind,
                           "memory": memory, "load_before": before, "load_after": load()}


def cli_answer(model, kind, body, tmp):
    """(seconds, parsed --json answer) of one request done by spawning the command line."""
    if kind == "predict":
        argv = ["predict", model, body["prefix"], "--top", str(body["top"]), "--json"]
    else:
        path = os.path.join(tmp, "input.txt")
        with open(path, "w", encoding="utf-8") as f:
            if kind == "score":
                f.write("\n".join(body["sentences"]) + "\n")
            else:
                for u in body["nbest"]:
                    f.writelines(f"{u['utt']}\t{c['text']}\t{c['am_score']!r}\n" for c in u["candidates"])
        argv = ["score", model, path, "--json"] + (["--nbest"] if kind == "rescore" else [])
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "rnnkit.cli", *argv], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t
    return seconds, [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def same(kind, server, cli):
    def close(a, b):
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))

    if kind == "predict":
        [c] = cli
        return (server["tokens"] == c["tokens"] and [p["token"] for p in server["predictions"]] ==
                [p["token"] for p in c["predictions"]] and
                all(close(a["probability"], b["probability"]) for a, b in zip(server["predictions"], c["predictions"])))
    if kind == "score":
        return all(a["tokens"] == b["tokens"] and close(a["logprob"], b["logprob"])
                   for a, b in zip(server["results"], cli, strict=True))
    return all([c["text"] for c in a["candidates"]] == [c["text"] for c in b["candidates"]] and
               all(close(x["combined"], y["combined"]) for x, y in zip(a["candidates"], b["candidates"]))
               for a, b in zip(server["results"], cli, strict=True))


def cli_phase(url, model, reqs, answers, args):
    rnd = random.Random(args.seed + 2)
    picked = rnd.sample([i for i in answers], min(args.cli_requests, len(answers)))
    times, server_times, checked, wrong = [], [], 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for i in picked:
            kind, body = reqs[i]
            seconds, cli = cli_answer(model, kind, body, tmp)
            times.append(seconds)
            # the same request, alone, to the server (a fresh connection, as a new client would open)
            wall, latencies, errors, _ = asyncio.run(run_clients(url, [(kind, body)], 1, 60))
            if errors:
                raise SystemExit(f"the server failed a request it had answered: {errors[0]}")
            server_times.append(latencies[0])
            checked += 1
            if not same(kind, answers[i], cli):
                wrong.append(i)
    return {"requests": len(picked), "cli_p50_ms": round(1000 * percentile(times, 50), 1),
            "cli_mean_ms": round(1000 * sum(times) / len(times), 1),
            "server_alone_p50_ms": round(1000 * percentile(server_times, 50), 2),
            "server_alone_mean_ms": round(1000 * sum(server_times) / len(server_times), 2),
            "speedup_p50": round(percentile(times, 50) / percentile(server_times, 50), 1),
            "answers_checked": checked, "answers_different": wrong, "load": load()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a language model directory (e.g. a PTB model of rnnkit train)")
    p.add_argument("--text", required=True, help="sentences to draw requests from, one per line")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=960, help="requests of the mixed run")
    p.add_argument("--batch-requests", type=int, default=320, help="score requests of each batching run")
    p.add_argument("--rounds", type=int, default=3, help="sequential/concurrent pairs of the batching runs")
    p.add_argument("--cli-requests", type=int, default=12, help="requests done by spawning the command line")
    p.add_argument("--duration", type=float, default=120.0, help="time cap of each run, seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--processes", type=int, default=1, help="rnnkit serve --processes (default: 1)")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    sentences = read_sentences(args.text)
    server, url = start_server(args.model, ["--processes", str(args.processes)])
    try:
        result = {"model": args.model, "clients": args.clients, "processes": args.processes, "cpus": os.cpu_count(),
                  "load_start": load()}
        result["batching"] = batching_phase(url, server.pid, sentences, args)
        reqs, answers, result["mixed"] = mixed_phase(url, server.pid, sentences, args)
        result["cli"] = cli_phase(url, args.model, reqs, answers, args)
        result["load_end"] = load()
    finally:
        server.terminate()
        server.wait(30)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print_summary(result, sys.stderr)


def print_summary(r, out):
    b, m, c = r["batching"], r["mixed"], r["cli"]
    seq = [x["sequential"]["throughput_rps"] for x in b["rounds"]]
    conc = [x["concurrent"]["throughput_rps"] for x in b["rounds"]]
    lines = [
        f"model {r['model']}, {r.get('processes', 1)} server process(es), {r['cpus']} CPUs, load {r['load_start']} at the start, {r['load_end']} at the end",
        f"batching, {b['requests']} score requests: {r['clients']} concurrent / 1 sequential = "
        f"{', '.join(f'{x:.2f}x' for x in b['ratio'])} (median {b['ratio_median']:.2f}x; requests/s "
        f"{seq} one after another, {conc} at once); server CPU per request, sequential / concurrent: "
        f"{', '.join(f'{x:.2f}x' for x in b['server_cpu_ratio'])}",
        f"mixed, {m['requests']} requests from {r['clients']} clients: {m['done']} done, {m['errors']} errors, "
        f"{m['throughput_rps']} requests/s, p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms",
        f"server memory over the mixed run: {m['memory']['start_mb']} MB at the start, {m['memory']['end_mb']} MB "
        f"at the end, {m['memory']['max_mb']} MB at most",
        f"command line per request / server: p50 {c['cli_p50_ms']:.0f} ms / {c['server_alone_p50_ms']:.1f} ms = "
        f"{c['speedup_p50']}x; answers checked against the command line: {c['answers_checked']}, "
        f"different: {len(c['answers_different'])}",
    ]
    print("\n".join(lines), file=out)


if __name__ == "__main__":
    main()
