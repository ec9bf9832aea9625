"""The task interface (rnnkit.lm.task), the registries, and the option table behind `rnnkit train`."""

import argparse
from pathlib import Path

import numpy as np
import pytest

from rnnkit.errors import RnnkitError, UsageError
from rnnkit.lm import io
from rnnkit.lm.data import build_vocab_and_encode, encode_file
from rnnkit.lm.task import TASKS, get_task
from rnnkit.lm.train import DEFAULT_LR, OPTIONS, resolve_options, settle_softmax

SRC = Path(__file__).resolve().parents[2] / "src" / "rnnkit"


@pytest.mark.parametrize("name", sorted(TASKS))
@pytest.mark.parametrize("softmax", ["full", "class", "head"])
def test_every_task_builds_trains_saves_and_loads_through_one_interface(name, softmax, corpus, tmp_path):
    task = get_task(name)
    # "head": the class softmax with the 3 most frequent words scored directly (--head implies --softmax class)
    output = dict(head=3) if softmax == "head" else dict(softmax=softmax)
    opts = resolve_options(dict(task=name, hidden=6, embed=4, batch=3, bptt=8, seed=2, **output))
    vocab, train = build_vocab_and_encode(str(corpus[0]), "word")
    settle_softmax(opts, len(vocab))
    model = task.build(vocab, opts)
    assert model.config()["softmax"] == ("class" if softmax == "head" else softmax)
    assert model.config().get("head", 0) == (3 if softmax == "head" else 0)
    batches = task.batches(train.ids, vocab, opts)
    assert len(batches) > 0 and batches.tokens > 0
    x, y = batches.get(0, 0)
    model.zero_grad()
    loss = model.loss(x, y)
    model.backward()
    assert np.isfinite(loss) and any(np.abs(g).sum() > 0 for g in model.grads.values())
    valid = encode_file(str(corpus[1]), "word", vocab)
    before = task.validation_loss(model, valid.ids, vocab, opts)
    config = {"task": name, "tokenizer": "word", "model": model.config()}
    io.save_model(str(tmp_path / "m"), config, vocab.to_json(), model.arrays())
    _, _, tokenizer, loaded = task.load(str(tmp_path / "m"))
    assert type(loaded) is type(model) and loaded.config() == model.config() and tokenizer == "word"
    assert task.validation_loss(loaded, valid.ids, vocab, opts) == pytest.approx(before, rel=1e-12)
    other = get_task("cloze" if name == "lm" else "lm")
    with pytest.raises(RnnkitError, match="not a"):
        other.load(str(tmp_path / "m"))
    assert set(task.evaluate(loaded, valid, vocab.eos_id)) >= {"perplexity", "tokens", "oov"}


def test_unknown_task():
    with pytest.raises(UsageError, match="option 'task' 'mlm': expected one of lm, cloze"):
        get_task("mlm")
    assert get_task(None) is TASKS["lm"]  # config.json written before tasks existed


def test_the_trainer_and_the_train_command_do_not_branch_on_the_task():
    files = sorted((SRC / "lm" / "train").glob("*.py")) + [SRC / "commands" / "train.py"]
    assert len(files) >= 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        for branch in ('== "cloze"', '!= "cloze"', '== "lm"', '!= "lm"', "rnnkit.lm.cloze", "import cloze"):
            assert branch not in text, f"{path.name}: {branch}"


def test_one_registry_each():
    from rnnkit.commands import gradcheck
    from rnnkit.lm import tokenize
    from rnnkit.nn import optim, stack

    for name in stack.CELLS:
        assert stack.get_cell(name).__name__.lower() in ("recurrent", name)
    assert gradcheck.CELLS is stack.CELLS
    assert set(DEFAULT_LR) == set(optim.OPTIMIZERS)
    by_name = {o.name: o for o in OPTIONS}
    assert by_name["cell"].choices == tuple(stack.CELLS)
    assert by_name["tokenizer"].choices == tuple(tokenize.TOKENIZERS)
    assert by_name["optimizer"].choices == tuple(optim.OPTIMIZERS)
    assert by_name["task"].choices == tuple(TASKS)
    assert set(by_name["form"].choices) == set(stack.FORMS)
    for source in ("lm/model.py", "lm/cloze.py", "gradflow.py", "commands/gradcheck.py"):
        assert "CELLS = " not in (SRC / source).read_text(encoding="utf-8"), source


def test_the_train_flags_are_the_option_table():
    from rnnkit.commands import train as command

    p = argparse.ArgumentParser()
    command.add_arguments(p)
    flags = {a.dest: a for a in p._actions}
    listed = [name for names in command.GROUPS.values() for name in names]
    assert sorted(listed) == sorted(o.name for o in OPTIONS), "every option in exactly one group"
    for o in OPTIONS:
        action = flags[o.name]
        flag = "--" + o.name.replace("_", "-")
        assert action.option_strings in ([flag], [flag, "--no-" + flag[2:]])
        assert action.default is None, "None: --resume tells a typed option from a default"
        if o.kind in (int, float):
            assert action.type is o.kind
        if o.choices is not None and o.cli_choices:
            assert tuple(action.choices) == o.choices


def test_a_head_and_its_classes_must_fit_the_vocabulary():
    opts = resolve_options(dict(head=5, preset="ptb-20min"))  # the preset's full softmax gives way to the head
    assert opts["softmax"] == "class"
    settle_softmax(opts, 30)
    assert opts["classes"] == 5  # the square root of the 25 words after the head
    with pytest.raises(UsageError, match="option 'head' 30 leaves none of the 30 words"):
        settle_softmax(resolve_options(dict(head=30)), 30)
    with pytest.raises(UsageError, match="option 'classes' 26 is more than the 25 words after the head"):
        settle_softmax(resolve_options(dict(head=5, classes=26)), 30)
    with pytest.raises(UsageError, match="option 'head' is part of the class softmax"):
        resolve_options(dict(head=5, softmax="full"))
