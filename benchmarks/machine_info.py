"""What a benchmark's JSON records about where and how it ran (benchmarks/scaling.py, benchmarks/prepare_scale.py).

A figure is only comparable with the machine, the load, the versions and the
command next to it: every result file carries this block.
"""

import os
import platform
import subprocess
import sys
import time


def _version(module):
    try:
        return __import__(module).__version__
    except Exception:  # not installed, or no __version__: recorded as unknown
        return None


def _commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine():
    """The machine, the versions, the command line and the load at the time of the call."""
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": [os.path.basename(sys.executable)] + sys.argv,
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_1_5_15": list(os.getloadavg()),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "ray": _version("ray"),
        "rnnkit": _version("rnnkit"),
        "commit": _commit(),
    }
