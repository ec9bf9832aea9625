import json
import subprocess
import sys

from rnnkit.cli import main


def test_gradcheck_table_and_exit_code(capsys):
    assert main(["gradcheck", "--activation", "tanh", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert "all gradients agree" in out and "article" in out and "concat" in out


def test_gradcheck_json_records(capsys):
    assert main(["gradcheck", "--json", "--activation", "relu", "--depth", "1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["direction"] for r in records} == {"uni", "bi"}
    assert all(r["max_rel_error"] < 1e-6 and r["ok"] for r in records)
    assert {"x", "out.V", "out.c", "stack.layers.0.U", "stack.layers.0.W", "stack.layers.0.b"} <= {r["param"] for r in records}


def test_gradcheck_fails_loudly_when_a_gradient_is_wrong(monkeypatch, capsys):
    # Break the Elman layer's bias gradient: the command must notice and exit 1.
    from rnnkit.nn import recurrent

    original = recurrent.Recurrent.backward

    def broken(self, dstates):
        dx, ds0 = original(self, dstates)
        self.grads["b"] *= 1.01
        return dx, ds0

    monkeypatch.setattr(recurrent.Recurrent, "backward", broken)
    assert main(["gradcheck", "--activation", "tanh", "--depth", "1"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_bad_option_is_a_usage_error():
    r = subprocess.run([sys.executable, "-m", "rnnkit.cli", "gradcheck", "--activation", "swish"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "unknown activation 'swish'" in r.stderr and "Traceback" not in r.stderr
