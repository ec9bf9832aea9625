"""The documentation holds together: the repository refers to nothing outside itself."""

import contextlib
import io
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Pointers to material that lived beside the repository while it was written and
# that a reader who clones rnnkit does not have. Spelled in pieces so that this
# file does not match itself (nor a grep for them).
OUTSIDE = re.compile("|".join([
    r"SE" r"ED\.md",
    r"SE" r"ED\s*§",
    r"SE" r"ED section",
    r"\.\./" r"shar" r"ed",
    r"/work/" r"shar" r"ed",
    r"shar" r"ed/seed",
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
    for line in ["see SE" "ED.md", "(SE" "ED §3)", "../shar" "ed/x", "SE" "ED section 1"]:
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


# --- docs/article-map.md: every file, name and line it cites exists ----------

MAP = ROOT / "docs" / "article-map.md"
PATH = re.compile(r"((?:src|tests|docs|benchmarks|examples|nn|lm|ngram|commands)/[\w/.-]+\.(?:py|md))(?::(\d+))?")
NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def resolve(cited):
    """A cited path: nn/…, lm/… are inside src/rnnkit; src/…, tests/…, docs/… from the repository root."""
    top = cited.split("/")[0]
    return (ROOT / "src" / "rnnkit" / cited) if top in {"nn", "lm", "ngram", "commands"} else ROOT / cited


def squeeze(code):
    return re.sub(r"\s+", "", code)


def map_rows():
    """(table header, row cells) for every body row of every table in the map."""
    lines = MAP.read_text(encoding="utf-8").splitlines()
    header = None
    for k, line in enumerate(lines):
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if k + 1 < len(lines) and lines[k + 1].startswith("|---"):
            header = cells
        elif not line.startswith("|---"):
            yield header, cells


def command_help(name):
    """What `rnnkit NAME --help` prints, or None if there is no such command."""
    from rnnkit.cli import main

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            main([name, "--help"])
    except SystemExit as exit:
        if exit.code not in (0, None):
            return None
    return out.getvalue() or None


def check_cell(cell, where):
    """Problems with one cell's citations: `path[:line]` sets the file; what follows must be in it."""
    problems, current, line = [], None, None
    for token in re.findall(r"`([^`]+)`", cell):
        path = PATH.fullmatch(token)
        if path:
            current, line = resolve(path.group(1)), path.group(2)
            if not current.is_file():
                problems.append(f"{where}: {path.group(1)} does not exist (moved? update docs/article-map.md)")
                current = None
                continue
            text = current.read_text(encoding="utf-8").splitlines()
            if line is not None:
                if not 1 <= int(line) <= len(text):
                    problems.append(f"{where}: {token}: the file has {len(text)} lines")
                    current = None
                    continue
                line = text[int(line) - 1]
            continue
        if token.startswith("rnnkit "):
            words = token.split()
            usage = command_help(words[1])
            if usage is None:
                problems.append(f"{where}: `{token}`: there is no command {words[1]!r}")
                continue
            problems += [f"{where}: `{token}`: `rnnkit {words[1]} --help` lists no {w}"
                         for w in words[2:] if not re.search(rf"{re.escape(w)}\b", usage)]
            continue
        if current is None:
            problems.append(f"{where}: `{token}` follows no existing file; cite the file first")
            continue
        if line is not None:  # the code quoted after `path:N` must be that line's
            if squeeze(token) not in squeeze(line):
                problems.append(f"{where}: `{token}` is not on the cited line, which reads: {line.strip()}")
            line = None
            continue
        source = current.read_text(encoding="utf-8")
        if NAME.fullmatch(token):
            problems += [f"{where}: `{token}`: {part} does not appear in {current.relative_to(ROOT)}"
                         for part in token.split(".") if not re.search(rf"\b{re.escape(part)}\b", source)]
        elif squeeze(token) not in squeeze(source):
            problems.append(f"{where}: `{token}` does not appear in {current.relative_to(ROOT)}")
    return problems


def test_article_map_cites_only_what_exists():
    rows = list(map_rows())
    assert len(rows) > 20, f"found only {len(rows)} table rows in {MAP}: has its layout changed?"
    problems = []
    for header, cells in rows:
        for cell in cells:
            problems += check_cell(cell, f"row {cells[0]} {cells[1]!r}")
    assert not problems, "docs/article-map.md is stale:\n" + "\n".join(problems)


def test_article_map_lines_carry_their_tag():
    """In the equations table the cited reference.py line and the first fast file hold the row's tag (式2, ∇W …)."""
    problems, tags = [], set()
    for header, cells in map_rows():
        if not any("reference.py" in h for h in header):
            continue
        tag = cells[0]
        tags.add(tag)
        for cited, number in re.findall(r"`(nn/reference\.py):(\d+)`", cells[2]):
            text = resolve(cited).read_text(encoding="utf-8").splitlines()
            if int(number) <= len(text) and tag not in text[int(number) - 1]:
                problems.append(f"{cited}:{number} lacks the tag {tag}: {text[int(number) - 1].strip()}")
        fast = PATH.search(cells[3])
        if fast is None:
            problems.append(f"row {tag} {cells[1]!r} cites no fast layer")
        elif resolve(fast.group(1)).is_file() and tag not in resolve(fast.group(1)).read_text(encoding="utf-8"):
            problems.append(f"row {tag} {cells[1]!r}: {fast.group(1)} has no {tag} comment to search for")
    assert not problems, "\n".join(problems)
    assert {"式1", "式2", "式3", "式4", "∇U", "∇W", "∇b", "∇V", "∇c", "§3", "§4", "§7"} <= tags, sorted(tags)


def test_the_map_check_can_fail():
    assert check_cell("`nn/reference.py:1` `net[t] = U @ x[t]`", "x")  # wrong line
    assert check_cell("`nn/no_such_file.py` `Recurrent`", "x")
    assert check_cell("`nn/recurrent.py` `Recurrent.no_such_method`", "x")
    assert check_cell("`Recurrent`", "x")  # no file before it
    assert check_cell("`rnnkit train --no-such-flag`", "x")
    assert check_cell("`rnnkit no-such-command`", "x")
    assert not check_cell("`nn/recurrent.py` `Recurrent.backward`", "x")
