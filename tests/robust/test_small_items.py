"""The smaller defects: file modes of ARPA files, the --resume hint before any checkpoint exists."""

import os
import stat

import pytest

from rnnkit.errors import RnnkitError
from rnnkit.lm import io
from rnnkit.lm.train import train

from robust_helpers import TINY, quiet


def test_arpa_files_get_the_umasks_mode_like_model_files(corpus, tmp_path):
    from rnnkit.ngram import NgramModel

    old = os.umask(0o022)
    try:
        model = NgramModel.train(str(corpus[0]), 2)
        model.write_arpa(str(tmp_path / "m.arpa"))
        model.write_arpa(str(tmp_path / "m.arpa.gz"))
        modes = {n: stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in os.listdir(tmp_path) if "arpa" in n}
    finally:
        os.umask(old)
    assert modes and set(modes.values()) == {0o644}, modes


def test_no_resume_hint_without_a_checkpoint(corpus, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / io.CONFIG).write_text("{}")  # what a run killed during its first epoch's save could leave
    with pytest.raises(RnnkitError) as info:
        train(str(corpus[0]), str(corpus[1]), str(out), TINY, quiet=True, log=quiet)
    assert "option 'resume'" not in str(info.value) and "option 'force'" in str(info.value)
    train(str(corpus[0]), str(corpus[1]), str(out), dict(TINY, epochs=1), force=True, quiet=True, log=quiet)
    with pytest.raises(RnnkitError, match="option 'resume'"):  # with a checkpoint, the hint is right
        train(str(corpus[0]), str(corpus[1]), str(out), TINY, quiet=True, log=quiet)
