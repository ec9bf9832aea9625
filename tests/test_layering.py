"""The package's layers (docs/architecture.md, "Layers"): a module imports only from its own layer or below.

Every module under src/rnnkit is parsed (ast, so imports inside functions count
too, and nothing is executed) and each import of an rnnkit module is checked
against LAYERS and MAY_IMPORT. A new top-level module or package fails here
until it is given a layer."""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"

# rnnkit.<first part of the name> -> layer
LAYERS = {
    "errors": "foundation", "backend": "foundation", "parallel": "foundation", "blas_env": "foundation",
    "durable": "foundation",
    "nn": "engine",
    "lm": "models", "ngram": "models", "gradflow": "models", "plots": "models", "datasets": "models",
    "": "api",  # rnnkit/__init__.py: LanguageModel, ClozeLM for outside code and front ends
    "serve": "front ends", "scale": "front ends",
    "commands": "commands",
    "cli": "cli",
}
# layer -> the layers its modules may import (their own included)
MAY_IMPORT = {
    "foundation": {"foundation"},
    "engine": {"foundation", "engine"},
    "models": {"foundation", "engine", "models"},
    "api": {"foundation", "engine", "models", "api"},
    "front ends": {"foundation", "engine", "models", "api", "front ends"},
    "commands": {"foundation", "engine", "models", "api", "front ends", "commands"},
    "cli": {"foundation", "engine", "models", "api", "front ends", "commands", "cli"},
}
# Within the models layer, the n-gram package stands beside lm, not on it: of lm it
# may use only the text side (tokenizers, vocabulary), never the network models.
NGRAM_MAY_USE_FROM_LM = {"rnnkit.lm.tokenize", "rnnkit.lm.vocab"}
# Metadata, readable from anywhere: `from rnnkit import __version__`.
ANYWHERE = {"rnnkit.__version__"}


def module_name(path, src=SRC):
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(tree, me, is_package):
    """(line, full dotted name) of every rnnkit import in a module, relative ones resolved."""
    package = me if is_package else me.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # `from rnnkit import nn` imports rnnkit.nn; `from rnnkit.nn import Linear` rnnkit.nn
                yield node.lineno, f"{module}.{alias.name}"


def resolve(name, src=SRC):
    """The rnnkit module a dotted name lies in: the longest prefix that is a file or package
    (rnnkit itself for a name that rnnkit/__init__.py defines)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        path = src.joinpath(*parts[:end])
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return ".".join(parts[:end])
    return None


def layer_of(module):
    first = module.split(".")[1] if "." in module else ""
    return LAYERS.get(first)


def forbidden_edges(src=SRC):
    """One line per import that breaks the rules: 'file:line: importer (layer) imports name (layer): why'."""
    problems = []
    for path in sorted((src / "rnnkit").rglob("*.py")):
        me = module_name(path, src)
        mine = layer_of(me)
        where = f"{path.relative_to(src.parent)}"
        if mine is None:
            problems.append(f"{where}: {me} has no layer; add it to LAYERS in tests/test_layering.py "
                            "and to the table in docs/architecture.md")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in imported_names(tree, me, path.name == "__init__.py"):
            if name.split(".")[0] != "rnnkit" or name in ANYWHERE:
                continue
            target = resolve(name, src)  # "rnnkit" for a name of rnnkit/__init__.py (LanguageModel, ...)
            theirs = layer_of(target)
            if theirs is None:
                continue  # reported once, as the module without a layer
            if theirs not in MAY_IMPORT[mine]:
                problems.append(f"{where}:{line}: {me} ({mine}) imports {target} ({theirs}); "
                                f"the {mine} layer may import only {', '.join(sorted(MAY_IMPORT[mine]))}")
            elif me.startswith("rnnkit.ngram") and target.startswith("rnnkit.lm") \
                    and target not in NGRAM_MAY_USE_FROM_LM:
                problems.append(f"{where}:{line}: {me} imports {target}; of rnnkit.lm the n-gram package may "
                                f"use only {', '.join(sorted(NGRAM_MAY_USE_FROM_LM))}")
    return problems


def test_every_import_keeps_to_the_layers():
    problems = forbidden_edges()
    assert not problems, "imports across the layers of docs/architecture.md:\n" + "\n".join(problems)


def test_every_module_has_a_layer_and_the_table_matches_the_docs():
    tops = {p.stem if p.is_file() else p.name for p in (SRC / "rnnkit").iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert tops - set(LAYERS) == set(), "top-level modules without a layer"
    doc = (SRC.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for top in tops:
        assert f"`{top}`" in doc, f"docs/architecture.md's layer table does not name `{top}`"


def write(root, name, text):
    path = root.joinpath(*name.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.relative_to(root).parents:
        if str(parent) != ".":
            (root / parent / "__init__.py").touch()
    path.write_text(text)


def test_the_check_catches_each_kind_of_forbidden_import(tmp_path):
    src = tmp_path / "src"
    write(src, "rnnkit.backend", "import numpy\n")
    write(src, "rnnkit.nn.linear", "from rnnkit.backend import xp\n"
                                   "def f():\n    from rnnkit.lm import model\n")       # engine -> models, in a function
    write(src, "rnnkit.lm.model", "from rnnkit.nn import linear\n")
    write(src, "rnnkit.lm.tokenize", "from ..errors import X\n")
    write(src, "rnnkit.lm.train", "from .. import commands\nfrom rnnkit import __version__\n")  # models -> commands
    write(src, "rnnkit.lm.api", "from rnnkit import LanguageModel\n")                # models -> the API above it
    write(src, "rnnkit.ngram.query", "from rnnkit.lm.tokenize import get\nimport rnnkit.lm.model\n")
    write(src, "rnnkit.commands.eval", "from rnnkit.lm import model\nfrom rnnkit import LanguageModel\n")
    write(src, "rnnkit.cli", "import rnnkit.commands.eval\n")
    write(src, "rnnkit.errors", "")
    write(src, "rnnkit.newthing", "")
    problems = forbidden_edges(src)
    found = sorted(p.split(": ")[0].split("/", 1)[1] for p in problems)
    assert found == ["rnnkit/lm/api.py:1", "rnnkit/lm/train.py:1", "rnnkit/newthing.py",
                     "rnnkit/ngram/query.py:2", "rnnkit/nn/linear.py:3"], problems
    assert any("rnnkit.nn.linear (engine) imports rnnkit.lm.model (models)" in p for p in problems), problems


@pytest.mark.parametrize("name, module", [("rnnkit.nn.Linear", "rnnkit.nn"), ("rnnkit.nn.linear.Linear", "rnnkit.nn.linear"),
                                          ("rnnkit.LanguageModel", "rnnkit"), ("rnnkit.errors.RnnkitError", "rnnkit.errors")])
def test_names_resolve_to_their_module(name, module):
    assert resolve(name) == module
