"""The speed benchmark must not rot: a tiny run, checking the shape of its output (no timing asserted)."""

import json
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="the speed benchmark compares with PyTorch (pip install torch==2.13.0)")

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "speed.py"


@pytest.mark.slow
def test_speed_benchmark_smoke(tmp_path):
    out = tmp_path / "speed.jsonl"
    r = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--configs", "elman-1x200,elman-1x200-eval",
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert out.read_text().splitlines() == r.stdout.splitlines(), "--out keeps what was printed"
    assert [rec["config"] for rec in records] == ["elman-1x200", "elman-1x200-eval"]
    for rec in records:
        for side in ("rnnkit_tokens_per_s", "torch_tokens_per_s", "ratio_per_rep"):
            assert set(rec[side]) == {"median", "min", "max"} and rec[side]["median"] > 0
        assert rec["ratio_median"] > 0 and rec["flops_per_token"] > 0 and rec["gemm_gflops"] > 0
        assert 0 < rec["fraction_of_gemm_limit"] and set(rec["peak_rss_mb"]) == {"rnnkit", "torch"}
        assert rec["torch_fraction_of_gemm_limit"] > 0 and rec["exp_ms_per_window"] > 0
        ceiling = rec["ratio_ceiling"]
        for limit in ("gemm", "gemm_and_exp"):
            assert set(ceiling[limit]) == {"median", "min", "max"}
        # the exponentials only add time: in every repetition the ceiling with them is the lower one
        assert 0 < ceiling["gemm_and_exp"]["max"] < ceiling["gemm"]["max"]
        assert ceiling["gemm_and_exp"]["median"] < ceiling["gemm"]["median"]
        assert rec["params"]["rnnkit"] > 0 and rec["params"]["torch"] > 0
        # the workers ran with the settings the rnnkit command gives itself (unless the caller set them)
        assert rec["blas_env"]["OPENBLAS_THREAD_TIMEOUT"] is not None
        # honest under load: each repetition's load and the CPU each side got; invalid ones said so
        assert len(rec["per_rep"]) == rec["reps"] and 0 <= rec["valid_reps"] <= rec["reps"]
        for rep in rec["per_rep"]:
            assert rep["load_before"] >= 0 and rep["load_after"] >= 0
            assert rep["rnnkit"]["cpu_per_wall"] > 0 and rep["torch"]["cpu_per_wall"] > 0
        assert (rec["valid_reps"] < rec["reps"]) == any("invalid" in w for w in rec["warnings"])
        above = rec["ratio_median"] > rec["ratio_ceiling"]["gemm"]["median"]
        assert above == any("above its own ceiling" in w for w in rec["warnings"])
        for w in rec["warnings"]:
            assert f"speed.py {rec['config']}: warning: {w}" in r.stderr
