"""The documentation holds together: the repository refers to nothing outside itself."""

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Pointers to material that lived beside the repository while it was written and
# that a reader who clones rnnkit does not have. Spelled in pieces so that this
# file does not match itself.
OUTSIDE = re.compile("|".join([
    r"SEED" + r"\.md",
    r"SEED" + r"\s*§",
    r"SEED" + r" section",
    r"\.\./" + r"shared",
    r"/work/" + r"shared",
    r"shared/" + r"seed",
]))

SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", "build", "dist", ".venv", "runs", "data"}


def repository_files():
    """The files under version control (every file of the tree where git is not there, as in an sdist)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listed = None
    if listed:
        return [ROOT / name for name in listed.decode().split("\0") if name]
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        found.extend(Path(folder) / name for name in files)
    return found


def text_of(path):
    try:
        data = path.read_bytes()
    except OSError:  # listed by git but deleted in the working tree
        return None
    if b"\0" in data[:8192]:
        return None  # binary (a figure)
    return data.decode("utf-8", errors="replace")


def test_no_file_refers_to_anything_outside_the_repository():
    files = repository_files()
    assert len(files) > 20, f"found only {len(files)} files under {ROOT}: the walk is broken"
    hits = []
    for path in files:
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "files point outside the repository (cite docs/article.md §N instead):\n" + "\n".join(hits)


def test_the_outside_pattern_matches_what_it_must():
    for line in ["see SEED" + ".md", "(SEED" + " §3)", "../" + "shared/x", "SEED" + " section 1"]:
        assert OUTSIDE.search(line), line
    for line in ["seed=0", "rng = make_rng(seed)", "docs/article.md §3", "a shared array"]:
        assert not OUTSIDE.search(line), line


def test_every_article_section_cited_exists():
    """`docs/article.md §N` anywhere in the tree names a section that docs/article.md has."""
    article = (ROOT / "docs" / "article.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## §(\d+)", article, flags=re.M))
    assert sections == {str(n) for n in range(1, 9)}, sorted(sections)
    cited = re.compile(r"docs/article\.md (§\d+(?:\s*(?:,|and)\s*§\d+)*)")
    missing = []
    for path in repository_files():
        text = text_of(path)
        if text is None:
            continue
        for match in cited.finditer(text):
            for number in re.findall(r"§(\d+)", match.group(1)):
                if number not in sections:
                    missing.append(f"{path.relative_to(ROOT)}: §{number}")
    assert not missing, "cited sections that docs/article.md does not have:\n" + "\n".join(missing)
