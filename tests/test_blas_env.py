import os
import subprocess
import sys

from rnnkit import blas_env

# Imports what the `rnnkit` console script imports, then a command module (which
# pulls in NumPy), and reports the variable as it was when NumPy was first imported.
PROBE = """
import os, sys

seen = []

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and not seen:
            seen.append(os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
        return None

sys.meta_path.insert(0, Watch())
from rnnkit.cli import main
import rnnkit.commands.train
print(seen[0] if seen else "numpy never imported")
"""


def run_probe(**env):
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_command_sets_openblas_thread_timeout_before_numpy_loads():
    assert run_probe() == blas_env.SETTINGS["OPENBLAS_THREAD_TIMEOUT"]


def test_a_value_the_user_set_is_kept():
    assert run_probe(OPENBLAS_THREAD_TIMEOUT="12") == "12"
    environ = {"OPENBLAS_THREAD_TIMEOUT": "20"}
    assert blas_env.apply(environ) == {"OPENBLAS_THREAD_TIMEOUT": "20"}
    assert blas_env.apply({}) == blas_env.SETTINGS
