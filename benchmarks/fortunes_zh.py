"""Chinese text for the language-model runs in docs/results.md: Debian's fortunes-zh.

    apt-get install fortunes-zh
    python benchmarks/fortunes_zh.py OUT_DIR        # writes zh.train.txt, zh.valid.txt, zh.test.txt

The package's ``chinese`` file holds entries separated by lines with ``%``,
with ANSI colour codes, hard-wrapped paragraphs, attribution lines
("-- author") and box-drawing tables. Each paragraph becomes one line with the
codes, the wrapping and the tables removed; attributions are dropped. Entries
are split by number, so the three files never share an entry: every 20th entry
(from the first) goes to valid, the next one to test, the rest to train.
"""

import os
import re
import sys

FORTUNES = "/usr/share/games/fortunes"
SOURCE = os.path.join(FORTUNES, "chinese.u8")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOX = re.compile(r"[\u2500-\u257f]")


def paragraphs(entry):
    text = ANSI.sub("", entry).replace("\xa0", " ")
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith("--") and not BOX.search(ln)]
        if not lines:
            continue
        # Chinese lines join without a space; a space stays between two Latin words.
        joined = lines[0]
        for ln in lines[1:]:
            sep = " " if joined[-1:].isascii() and ln[:1].isascii() and joined[-1:].isalnum() else ""
            joined += sep + ln
        out.append(re.sub(r"\s+", " ", joined))
    return out


def main(out_dir):
    if not os.path.exists(SOURCE):
        sys.exit(f"{SOURCE}: missing; install it with: apt-get install fortunes-zh")
    with open(SOURCE, encoding="utf-8") as f:
        entries = f.read().split("\n%\n")
    splits = {"train": [], "valid": [], "test": []}
    for i, entry in enumerate(entries):
        name = "valid" if i % 20 == 0 else "test" if i % 20 == 1 else "train"
        splits[name].extend(paragraphs(entry))
    os.makedirs(out_dir, exist_ok=True)
    for name, lines in splits.items():
        path = os.path.join(out_dir, f"zh.{name}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{path}: {len(lines)} lines, {sum(len(ln.replace(' ', '')) for ln in lines):,} characters")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "zh")
