"""A bounded load test of `rnnkit serve` on loopback, against spawning the command line per request.

    python benchmarks/serve_load.py --model PTB_MODEL_DIR --text ptb.test.txt [--clients 32] [--requests 960]

It starts `rnnkit serve MODEL --port 0` (127.0.0.1 only) and runs, each with a
fixed number of requests and a time cap, and stops by itself:

1. batching: the same score requests sent by one client, one after another,
   then by --clients clients at once (the server batches those that wait
   together); throughput of each and their ratio. The two alternate
   --rounds times, so that the load of a shared machine falls on both.
2. mixed: --clients clients sending --requests requests, a mix of predict,
   score and rescore (n-best lists of 5); throughput, p50/p99 latency, errors,
   the server's memory (resident set, sampled every 0.25 s) at the start and
   end of the run.
3. the command line: --cli-requests of the same requests, each by spawning
   `rnnkit predict/score --json` (a process that loads the model each time);
   its latency against the server's, and every answer compared with the server's
   (the spot check: same tokens and probabilities to 1e-6).

The machine's load (os.getloadavg) is recorded with every figure. Results:
one JSON object on stdout, and --out FILE.
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

import httpx


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


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))] if xs else float("nan")


async def run_clients(url, requests, clients, deadline_s):
    """Send ``requests`` with ``clients`` at once; (wall seconds, latencies, errors, answers by index)."""
    queue = list(enumerate(requests))
    latencies, errors, answers = [], [], {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        stop = time.perf_counter() + deadline_s

        async def worker():
            while queue and time.perf_counter() < stop:
                i, (kind, body) = queue.pop(0)
                t = time.perf_counter()
                try:
                    r = await client.post(f"v1/{kind}", json=body)
                except httpx.HTTPError as exc:
                    errors.append(f"{kind}: {type(exc).__name__}")
                    continue
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors.append(f"{kind}: {r.status_code} {r.text[:200]}")
                else:
                    answers[i] = r.json()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - t0, latencies, errors, answers


def load():
    return [round(x, 2) for x in os.getloadavg()]


def summary(wall, latencies, errors, n):
    return {"requests": n, "done": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "seconds": round(wall, 3), "throughput_rps": round(len(latencies) / wall, 1),
            "p50_ms": round(1000 * percentile(latencies, 50), 2), "p99_ms": round(1000 * percentile(latencies, 99), 2)}


def batching_phase(url, sentences, args):
    reqs = make_requests(sentences, args.batch_requests, args.seed + 1, kinds=("score",))
    rounds = []
    for _ in range(args.rounds):
        one = asyncio.run(run_clients(url, reqs, 1, args.duration))
        many = asyncio.run(run_clients(url, reqs, args.clients, args.duration))
        rounds.append({"sequential": summary(*one[:3], len(reqs)), "concurrent": summary(*many[:3], len(reqs)),
                       "load": load()})
    ratios = [r["concurrent"]["throughput_rps"] / r["sequential"]["throughput_rps"] for r in rounds]
    return {"requests": len(reqs), "sentences_per_request": "1-4", "rounds": rounds,
            "ratio": [round(x, 2) for x in ratios], "ratio_median": round(sorted(ratios)[len(ratios) // 2], 2)}


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
    with tempfile.TemporaryDirectory() as tmp, httpx.Client(base_url=url, timeout=60) as client:
        for i in picked:
            kind, body = reqs[i]
            seconds, cli = cli_answer(model, kind, body, tmp)
            times.append(seconds)
            t = time.perf_counter()
            client.post(f"v1/{kind}", json=body).raise_for_status()  # the same request, alone, to the server
            server_times.append(time.perf_counter() - t)
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
    p.add_argument("--model", required=True, help="a language model directory (e.g. the PTB 1x200 model)")
    p.add_argument("--text", required=True, help="sentences to draw requests from, one per line")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=960, help="requests of the mixed run")
    p.add_argument("--batch-requests", type=int, default=320, help="score requests of each batching run")
    p.add_argument("--rounds", type=int, default=3, help="sequential/concurrent pairs of the batching runs")
    p.add_argument("--cli-requests", type=int, default=12, help="requests done by spawning the command line")
    p.add_argument("--duration", type=float, default=120.0, help="time cap of each run, seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    sentences = read_sentences(args.text)
    server, url = start_server(args.model)
    try:
        result = {"model": args.model, "clients": args.clients, "cpus": os.cpu_count(), "load_start": load()}
        result["batching"] = batching_phase(url, sentences, args)
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


if __name__ == "__main__":
    main()
