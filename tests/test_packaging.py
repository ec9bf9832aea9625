"""The sdist must carry the tests, docs, examples and benchmarks (MANIFEST.in).

MANIFEST.in names file types instead of grafting whole folders, so a new kind
of file (a fixture, a figure) would silently be left out of the sdist; this
test names the file that no rule covers."""
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "MANIFEST.in"


def _rules():
    rules = {}
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words and words[0] == "recursive-include":
            rules[words[1]] = words[2:]
    return rules


def test_manifest_covers_every_file_in_the_shipped_folders():
    if not MANIFEST.exists():
        pytest.skip("no MANIFEST.in: running from an installed copy, not a source tree")
    rules = _rules()
    assert set(rules) == {"tests", "docs", "examples", "benchmarks"}, rules
    missing = []
    for folder, patterns in rules.items():
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if not any(fnmatch.fnmatch(path.name, p) for p in patterns):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"MANIFEST.in leaves these out of the sdist (add their type): {sorted(missing)}"
