import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_article_toy_checks_every_gradient(capsys):
    toy = _load("article_toy")
    import numpy

    assert toy.run("identity", numpy.zeros((1, 2))) < 1e-6
    assert toy.run("tanh", numpy.array([[0.3, -0.7]])) < 1e-6
    assert "d E / d U" in capsys.readouterr().out


@pytest.mark.slow
def test_memory_task_is_learned():
    # chance error is 7/8; a network without memory cannot beat it
    assert _load("memory_task").train(iterations=400, verbose=False) < 0.02
