"""One array module: the engine (rnnkit/nn) and the model code take their arrays from
rnnkit.backend's ``xp``, never from numpy itself, so that a GPU array module (CuPy)
is a drop-in later. Read with ast: an import of numpy in any form fails."""

import ast
from pathlib import Path

import pytest

import rnnkit

SRC = Path(rnnkit.__file__).parent
# torch_bridge converts to and from PyTorch's CPU tensors, which are NumPy arrays;
# reference.py is the article's network in plain NumPy, the oracle the fast layers are tested against.
EXEMPT = {"torch_bridge.py", "reference.py"}
MODEL_FILES = ["lm/model.py"]
MODEL_CLASSES = {"lm/cloze.py": "ClozeModel"}  # the file also holds data handling and decoding


def numpy_uses(tree):
    """(line, what) for every import of numpy, and every use of a name bound to it, under ``tree``."""
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "numpy":
                    found.append((node.lineno, f"import {alias.name}"))
                    aliases.add(alias.asname or "numpy")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy":
            found.append((node.lineno, f"from {node.module} import ..."))
    return found, aliases


def names_used(tree, names):
    return [(n.lineno, n.id) for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in names]


def engine_files():
    files = [p for p in sorted((SRC / "nn").rglob("*.py")) if p.name not in EXEMPT]
    return files + [SRC / f for f in MODEL_FILES]


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_engine_and_model_files_take_arrays_from_the_backend(path):
    found, _ = numpy_uses(ast.parse(path.read_text(), str(path)))
    assert not found, f"{path.relative_to(SRC)} imports numpy (use rnnkit.backend's xp): {found}"


@pytest.mark.parametrize("relpath,cls", sorted(MODEL_CLASSES.items()))
def test_model_classes_take_arrays_from_the_backend(relpath, cls):
    tree = ast.parse((SRC / relpath).read_text())
    _, aliases = numpy_uses(tree)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    assert classes, f"{relpath} has no class {cls}: update MODEL_CLASSES"
    found = numpy_uses(classes[0])[0] + names_used(classes[0], aliases | {"numpy", "np"})
    assert not found, f"{relpath}'s {cls} uses numpy directly (use rnnkit.backend's xp): {found}"


def test_the_backend_is_where_numpy_is_chosen():
    found, _ = numpy_uses(ast.parse((SRC / "backend.py").read_text()))
    assert found, "rnnkit.backend no longer imports numpy: is xp chosen elsewhere?"


@pytest.mark.parametrize("source", ["import numpy", "import numpy as np", "from numpy import exp",
                                    "from numpy.linalg import norm", "def f():\n    import numpy.random"])
def test_the_check_sees_every_form_of_import(source):
    assert numpy_uses(ast.parse(source))[0]


def test_the_class_check_sees_a_use_of_numpy_inside_a_method():
    tree = ast.parse("import numpy as np\nclass M:\n    def f(self):\n        return np.exp(1)\n")
    _, aliases = numpy_uses(tree)
    assert names_used(tree.body[1], aliases) == [(4, "np")]
