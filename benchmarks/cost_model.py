"""The cost model of docs/scaling.md: tokens/s of `rnnkit train --workers` on M machines of 16 cores.

    python benchmarks/cost_model.py --rate 3500 --bandwidth-gbit 10

One worker per core, W = 16 M workers, b streams of T steps each per worker (n = b T tokens per
worker and step). A synchronous step costs

    t_step = n / r                                  compute: r = one core's tokens/s on the model
           + (W G + M U) / BW + W lam               exchange through the driver (rnnkit.scale today):
                                                    W gradients in, the update out once per machine
           + W G / S                                the driver's sum (S bytes/s of memory it can add)

and delivers W n / t_step tokens/s. G, the bytes one worker sends, for the One Billion Word setup
(V = 793,471 words, C = 891 classes, GRU 256 with class softmax, as `rnnkit train` builds it):

    dense:   GRU U, W, b (E H 3 + H H 3 + 4 H) and the class layer Vc, bc (C H + C)   floats
    E rows:  the distinct input words of the n tokens, H floats + an 8-byte index each
    V rows:  every word of every class the n targets fall in: V (1 - (1 - 1/K)^n) rows of H + 1
             floats + an index, K = HIT_CLASSES calibrated on a measurement (below)

U, the update, is the same size as the sum of the W gradients' rows (at most V rows).

The driver's exchange with V's gradient as factors (what rnnkit.scale sends where it is smaller,
docs/scaling.md "V's gradient as factors"): a worker sends, for V, d and h of each token instead of
rows, (V/C + H) floats a token (the class of a token holds V/C words on average, as frequency classes
give each class an equal share of the tokens); the update carries every worker's, W n tokens' worth.
Fewer bytes, but the product d^T h for the global batch is made twice in every step, by the driver
before it steps and by each replica as it applies the update (2 (V/C) H FLOPs a token each, at
--gemm-gflops), where a worker made only its own n tokens' before.
"""

import argparse


# Calibrated on benchmarks/large_vocab_workers.py: 400 Zipf tokens hit 96,396 of V's 793,471 rows. With the
# classes of equal count**0.5 mass (frequency_classes) a token's class is hit as if there were ~3,087
# equally likely classes rather than C = 891: V (1 - (1 - 1/3087)^400) = 96,400.
HIT_CLASSES = 3087


def dense_floats(C, H, E):
    """The GRU's U, W and b and the class layer's Vc and bc: sent whole by every worker."""
    return 3 * E * H + 3 * H * H + 4 * H + C * H + C


def driver_exchange(W, machines, g, u, bandwidth, lam, add_rate):
    """Seconds of the driver's exchange: W gradients of g bytes in, the update of u bytes out once
    per machine, a message latency per worker, and the driver's sum."""
    return (W * g + machines * u) / bandwidth + W * lam + W * g / add_rate


def bytes_per_worker(n, V=793_471, C=891, H=256, E=256):
    dense = dense_floats(C, H, E)
    e_rows = min(n, V)  # an upper bound: distinct inputs <= tokens
    v_rows = V * (1 - (1 - 1 / HIT_CLASSES) ** n)
    return 4 * dense + e_rows * (4 * E + 8) + v_rows * (4 * (H + 1) + 8), v_rows


def factored_bytes(n, V=793_471, C=891, H=256, E=256):
    """(G, U) with V's gradient as factors: dense, E rows, and (V/C + H) floats + a block header per token."""
    per_token = 4 * (V / C + H) + 24
    return 4 * dense_floats(C, H, E) + n * (4 * E + 8) + n * per_token, per_token


def predict_factored(machines, rate, bandwidth, n, lam=1e-3, add_rate=5e9, cores=16, gemm=30e9, V=793_471, C=891,
                     H=256, E=256):
    """(tokens/s, compute s, exchange s, G bytes, products s) of the driver's exchange with factors."""
    W = machines * cores
    g, per_token = factored_bytes(n, V, C, H, E)
    e_rows = min(W * n, V)
    u = g - n * (4 * E + 8) + e_rows * (4 * E + 8) + (W - 1) * n * per_token
    flops_per_token = 2 * (V / C) * H
    t_compute = n / rate - n * flops_per_token / gemm  # a worker no longer makes its own ∇V product
    t_products = 2 * W * n * flops_per_token / gemm  # the driver's, then each replica's, for all W n tokens
    t_exchange = driver_exchange(W, machines, g, u, bandwidth, lam, add_rate)
    return W * n / (t_compute + t_products + t_exchange), t_compute, t_exchange, g, t_products


def predict(machines, rate, bandwidth, n, lam=1e-3, add_rate=5e9, cores=16, ring=False, **model):
    """(tokens/s, compute s, exchange s, G bytes) for one exchange strategy:

    driver (rnnkit.scale today): every worker's G to the driver, the summed update U once per machine;
    ring: the 16 workers of a machine sum in shared memory (W/M G at S bytes/s), the machines run a ring
    all-reduce of the machine sums (2 (M-1)/M U over each link) in 2 (M-1) latency-bound steps.
    """
    W = machines * cores
    g, _ = bytes_per_worker(n, **model)
    u, _ = bytes_per_worker(min(W * n, 10**9), **model)  # the rows of all W n tokens (dense V at the limit)
    t_compute = n / rate
    if ring:
        t_exchange = cores * g / add_rate + 2 * (machines - 1) / machines * u / bandwidth + 2 * (machines - 1) * lam
    else:
        t_exchange = driver_exchange(W, machines, g, u, bandwidth, lam, add_rate)
    return W * n / (t_compute + t_exchange), t_compute, t_exchange, g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=3500, help="one core's tokens/s on the model (measured)")
    ap.add_argument("--bandwidth-gbit", type=float, nargs="+", default=[10, 100])
    ap.add_argument("--streams", type=int, nargs="+", default=[4, 32], help="b: streams per worker")
    ap.add_argument("--bptt", type=int, default=20)
    ap.add_argument("--gemm-gflops", type=float, default=30.0,
                    help="one core's rate on the class blocks' products d^T h (small inner dimension)")
    ap.add_argument("--factored", action="store_true",
                    help="the driver's exchange with V's gradient as factors instead (rnnkit.scale today)")
    args = ap.parse_args()
    if args.factored:
        print("| machines | workers | b | BW Gbit/s | G MB/worker | compute ms | products ms | exchange ms | tokens/s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for bw in args.bandwidth_gbit:
            for b in args.streams:
                n = b * args.bptt
                for m in (1, 8, 32, 128):
                    tps, tc, tx, g, tp = predict_factored(m, args.rate, bw * 1e9 / 8, n, gemm=args.gemm_gflops * 1e9)
                    print(f"| {m} | {16 * m} | {b} | {bw:g} | {g / 1e6:.2f} | {1e3 * tc:.0f} | {1e3 * tp:,.0f} | "
                          f"{1e3 * tx:,.0f} | {tps:,.0f} |")
        return
    print("| machines | workers | b | BW Gbit/s | G MB/worker | compute ms | driver: exchange ms | driver: tokens/s |"
          " ring: exchange ms | ring: tokens/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for bw in args.bandwidth_gbit:
        for b in args.streams:
            n = b * args.bptt
            for m in (8, 32, 128):
                tps, tc, tx, g = predict(m, args.rate, bw * 1e9 / 8, n)
                tps_r, _, tx_r, _ = predict(m, args.rate, bw * 1e9 / 8, n, ring=True)
                print(f"| {m} | {16 * m} | {b} | {bw:g} | {g / 1e6:.1f} | {1e3 * tc:.0f} | {1e3 * tx:,.0f} | "
                      f"{tps:,.0f} | {1e3 * tx_r:,.0f} | {tps_r:,.0f} |")


if __name__ == "__main__":
    main()
