"""Model and checkpoint files: written atomically, read with checks, never pickled.

A model directory holds

    config.json            architecture, tokenizer, training arguments, rnnkit
                           version, and the SHA-256 of the two files below
    vocab.json             the dictionary: tokens in id order and their counts
    weights.safetensors    the parameters, by name (safetensors: plain arrays,
                           no code runs when it is read)

Every file goes to a temporary name in the same directory and is renamed over
the old one (an atomic step on POSIX file systems), so a crash leaves the old
file or the new one, never half of either. config.json is written last and
names the hashes of the files it goes with.

The directory as a whole changes atomically too: before a save replaces
weights.safetensors and vocab.json, each current file is kept under a second
name (``.prev.weights.safetensors``: a hard link, no copy). Until the new
config.json is in place, the old config.json names the old files' hashes, and
the loader finds them under those names; once it is, the new files match. So
a crash at any point leaves a directory that loads, as the old model or the
new one, never a mix (``save_model``, checked by tests/robust/test_faults.py).

A training run holds ``.lock`` in its directory (``DirLock``): a second
process with the same directory is refused, naming the first one's pid.
"""

import hashlib
import json
import os
import re
import stat
import struct

from rnnkit.backend import xp
from rnnkit.durable import sync_dir
from rnnkit.errors import RnnkitError, WriteError
from rnnkit.lm.lock import LOCK, process_alive

FORMAT = "rnnkit-lm"
FORMAT_VERSION = 1
CONFIG = "config.json"
VOCAB = "vocab.json"
WEIGHTS = "weights.safetensors"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.safetensors"
PREV = ".prev."  # the previous generation's file NAME is kept as .prev.NAME during a save

# Fault injection for the crash tests: with RNNKIT_TEST_CRASH_AT_WRITE=k the
# process ends itself (os._exit, as kill -9 would) at the k-th step of writing
# files (each temporary write, each rename, each link or removal), so a test
# can check what every crash point leaves behind. Unset: no effect.
_CRASH_AT = int(os.environ.get("RNNKIT_TEST_CRASH_AT_WRITE") or 0)
_steps = 0


def write_step():
    """One step of writing files: where the crash tests may end the process."""
    global _steps
    _steps += 1
    if _CRASH_AT and _steps == _CRASH_AT:
        os._exit(70)


# --- atomic writing ------------------------------------------------------------


def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` through a temporary file and a rename.

    A file that cannot be written (disk full, read-only directory) raises
    WriteError (an RnnkitError and an OSError) naming it; the old file stays.
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        write_step()
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        write_step()
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, RnnkitError):
            raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
    sync_dir(directory)


_TEMP = re.compile(r"^\..+\.tmp(\d+)$")


def remove_stale_temporaries(directory):
    """Remove the temporary files (``.NAME.tmpPID``) that a process killed mid-write left behind.

    Only those whose process is gone: a live writer's file is its own business.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = _TEMP.match(name)
        if m and int(m.group(1)) != os.getpid() and not process_alive(int(m.group(1))):
            try:
                os.remove(os.path.join(directory, name))
            except OSError:
                pass


def json_bytes(obj):
    return (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# --- safetensors -------------------------------------------------------------


def tensors_bytes(arrays, metadata=None):
    """The safetensors encoding of a dict name -> array (contiguous copies where needed)."""
    from safetensors.numpy import save

    return save({k: xp.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata)


def read_tensors(path, data=None):
    """(arrays, metadata) from a safetensors file; RnnkitError for a broken or foreign file."""
    from safetensors.numpy import load

    if data is None:
        data = _read_bytes(path)
    try:
        arrays = load(data)
        (header_len,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + header_len])
    except Exception as exc:  # safetensors raises its own error types for every kind of damage
        raise RnnkitError(f"{path}: not a readable safetensors file, truncated or damaged ({_first_line(exc)})") from None
    return arrays, header.get("__metadata__") or {}


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_bytes(path):
    if not os.path.exists(path):
        raise RnnkitError(f"{path}: missing")
    return read_regular_file(path)


def read_regular_file(path):
    """The bytes of ``path``, refusing anything but a regular file before opening it.

    A directory, a FIFO or a link to a device (/dev/urandom never ends,
    /dev/zero fills the memory) is refused by name instead of read.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise RnnkitError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise RnnkitError(f"{path}: {kind}, expected a file")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise RnnkitError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_json(path, data=None):
    """A JSON file's content; RnnkitError for broken, non-UTF-8 or absurdly nested JSON."""
    data = _read_bytes(path) if data is None else data
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RnnkitError(f"{path}: not valid JSON, truncated or damaged ({exc})") from None
    except RecursionError:
        raise RnnkitError(f"{path}: JSON nested too deeply to be an rnnkit file") from None


# --- model directories -------------------------------------------------------


def listdir_own(path):
    """What a directory holds, leaving out the lock and the temporaries of killed writers."""
    try:
        return [n for n in os.listdir(path) if n != LOCK and not _TEMP.match(n)]
    except FileNotFoundError:
        return []


def check_model_dir_free(path, force):
    """Refuse to train into a directory that already holds something, unless --force."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise RnnkitError(f"{path}: exists and is not a directory")
    if os.path.isdir(path) and listdir_own(path) and not force:
        if os.path.exists(os.path.join(path, CHECKPOINT)):
            raise RnnkitError(f"{path}: exists and is not empty; use {{force}} to train into it, or {{resume}} to "
                              "continue", "force", "resume")
        # No checkpoint (a run stopped in its first epoch, or not a run at all): nothing to resume.
        raise RnnkitError(f"{path}: exists and is not empty (and holds no checkpoint to resume); use {{force}} to "
                          "train into it", "force")


def save_model(model_dir, config, vocab_json, arrays):
    """Write the three files of a model directory, config.json last; the whole directory
    changes at once (the module's docstring: the previous generation stays until then)."""
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"{model_dir}: cannot create the directory ({exc.strerror or exc})") from None
    remove_stale_temporaries(model_dir)
    weights = tensors_bytes(arrays)
    vocab = json_bytes(vocab_json)
    config = dict(config, format=FORMAT, format_version=FORMAT_VERSION,
                  files={WEIGHTS: sha256(weights), VOCAB: sha256(vocab)})
    committed = _committed_files(model_dir)
    for name in (WEIGHTS, VOCAB):
        _keep_previous(model_dir, name, committed.get(name))
    atomic_write(os.path.join(model_dir, WEIGHTS), weights)
    atomic_write(os.path.join(model_dir, VOCAB), vocab)
    atomic_write(os.path.join(model_dir, CONFIG), json_bytes(config))  # the switch to the new generation
    for name in (WEIGHTS, VOCAB):
        write_step()
        remove_file(os.path.join(model_dir, PREV + name))


def _committed_files(model_dir):
    """NAME -> SHA-256 of the generation the current config.json names ({} when there is none)."""
    try:
        files = json.loads(read_regular_file(os.path.join(model_dir, CONFIG))).get("files")
    except (RnnkitError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def _keep_previous(model_dir, name, digest):
    """Keep the committed ``name`` as .prev.NAME (a hard link; a copy where links are not allowed).

    ``digest``: its hash in the current config.json. A file that does not match
    it is what an unfinished save left; the committed one is then already
    .prev.NAME, which stays.
    """
    path, prev = os.path.join(model_dir, name), os.path.join(model_dir, PREV + name)
    if digest is None or not os.path.isfile(path) or os.path.islink(path):
        return
    with open(path, "rb") as f:
        if sha256(f.read()) != digest:
            return
    tmp = os.path.join(model_dir, f".{PREV}{name}.tmp{os.getpid()}")
    write_step()
    remove_file(tmp)
    try:
        os.link(path, tmp)
    except OSError:
        with open(path, "rb") as f:
            atomic_write(tmp, f.read())
    write_step()
    try:
        os.replace(tmp, prev)
    except OSError as exc:
        remove_file(tmp)
        raise WriteError(f"{prev}: cannot write ({exc.strerror or exc})") from None
    # rename(2) does nothing when both names are links to one file already (a
    # save killed after this point): the temporary name is then still there.
    remove_file(tmp)
    sync_dir(model_dir)


def remove_file(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise WriteError(f"{path}: cannot remove ({exc.strerror or exc})") from None


def load_model_files(model_dir, verify=True):
    """(config, vocab json, arrays) of a model directory, every file checked.

    ``verify=False`` accepts a config.json that names no SHA-256 of its files
    (hand-made directories); one that names them is always checked.
    """
    if not os.path.exists(model_dir):
        raise RnnkitError(f"{model_dir}: no such model directory")
    if not os.path.isdir(model_dir):
        raise RnnkitError(f"{model_dir}: not a model directory (expected a directory with {CONFIG})")
    config_path = os.path.join(model_dir, CONFIG)
    if not os.path.exists(config_path):
        raise RnnkitError(f"{model_dir}: not an rnnkit model directory ({CONFIG} missing)")
    config = read_json(config_path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise RnnkitError(f"{config_path}: not an rnnkit language model (no \"format\": \"{FORMAT}\")")
    if config.get("format_version") != FORMAT_VERSION:
        raise RnnkitError(
            f"{config_path}: model format version {config.get('format_version')!r}; "
            f"this rnnkit reads version {FORMAT_VERSION}"
        )
    files = config.get("files")
    if files is None and verify:
        raise RnnkitError(f"{config_path}: names no SHA-256 of {WEIGHTS} and {VOCAB} (no \"files\"), so nothing "
                          "shows they belong together; refused ({verify} accepts it)", "verify",
                          words={"verify": "verify=False"})
    if files is not None and not (isinstance(files, dict) and all(isinstance(files.get(n), str)
                                                                  for n in (WEIGHTS, VOCAB))):
        raise RnnkitError(f"{config_path}: \"files\" must map {WEIGHTS} and {VOCAB} to their SHA-256 digests")
    contents = {}
    for name in (WEIGHTS, VOCAB):
        path = os.path.join(model_dir, name)
        data = _read_bytes(path)
        want = (files or {}).get(name)
        if want is not None and sha256(data) != want:
            # A save stopped before its config.json: the generation this config.json
            # names is still there under its second name.
            prev = os.path.join(model_dir, PREV + name)
            data = read_regular_file(prev) if os.path.isfile(prev) else None
            if data is None or sha256(data) != want:
                raise RnnkitError(
                    f"{path}: does not match {CONFIG} (truncated, modified, or left from another save)"
                )
        contents[name] = data
    arrays, _ = read_tensors(os.path.join(model_dir, WEIGHTS), contents[WEIGHTS])
    check_finite(os.path.join(model_dir, WEIGHTS), arrays)
    vocab_json = read_json(os.path.join(model_dir, VOCAB), contents[VOCAB])
    return config, vocab_json, arrays


def _check_sizes(config_path, model_cfg, arrays):
    """Refuse a model section whose sizes the weights cannot hold, before building anything.

    A model of vocabulary V, ``layers`` L, ``hidden`` H and ``embed`` E has at
    least L*H*H recurrent weights and V*max(H, E) output or embedding weights: a config.json that asks for more
    than weights.safetensors holds (hidden 10**9) is refused here, instead of
    allocating what it asks for.
    """
    sizes = {}
    for key in ("vocab_size", "hidden", "layers", "embed", "classes", "head"):
        value = model_cfg.get(key)
        if value is None and key in ("embed", "classes", "head"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key in ("embed", "head") else 1):
            raise RnnkitError(f"{config_path}: model {key} must be a positive integer, got {value!r:.40}")
        sizes[key] = value
    held = sum(a.size for a in arrays.values())
    if sizes.get("classes", 0) + sizes.get("head", 0) > sizes["vocab_size"]:
        head = f" and a head of {sizes['head']}" if sizes.get("head") else ""
        raise RnnkitError(f"{config_path}: {sizes.get('classes', 0)} classes{head} for {sizes['vocab_size']} words")
    needed = (sizes["layers"] * sizes["hidden"] ** 2
              + sizes["vocab_size"] * max(sizes["hidden"], sizes.get("embed", 0)))
    if needed > held:
        raise RnnkitError(f"{config_path}: describes a model of at least {needed:,} weights; "
                          f"{WEIGHTS} holds {held:,}")


def check_arrays(source, expected, loaded):
    """Raise RnnkitError unless ``loaded`` has exactly ``expected``'s names, shapes and dtypes."""
    missing = sorted(set(expected) - set(loaded))
    extra = sorted(set(loaded) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if extra:
            parts.append("unexpected " + ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else ""))
        raise RnnkitError(f"{source}: arrays do not fit the model ({'; '.join(parts)})")
    for name, want in expected.items():
        got = loaded[name]
        if got.shape != want.shape:
            raise RnnkitError(f"{source}: {name} has shape {got.shape}, the model needs {want.shape}")
        if got.dtype != want.dtype:
            raise RnnkitError(f"{source}: {name} has dtype {got.dtype}, the model needs {want.dtype}")


def check_finite(source, arrays):
    """Refuse weights holding NaN or Inf, naming the array: loaded, they would only
    turn every figure computed from them into nan or inf."""
    for name, a in arrays.items():
        if a.dtype.kind in "fc" and not xp.isfinite(a).all():
            what = "NaN" if xp.isnan(a).any() else "Inf"
            raise RnnkitError(f"{source}: array {name} holds {what} values (weights must be finite numbers)")


def copy_into(params, arrays):
    """Write loaded arrays into the model's own arrays, in place (the dicts stay valid)."""
    for name, p in params.items():
        p[...] = arrays[name]


def load_trained(model_dir, task, build, what, wrong_task, verify=True):
    """A trained model's parts from MODEL_DIR, every file checked: (config, vocab, tokenizer, model).

    ``task`` is the one config.json must name ("lm" when it names none), else
    RnnkitError(``wrong_task``, formatted with the task found and model_dir).
    ``build(model_config, buffers, dtype)`` makes the network the config
    describes (RNNLM.from_config, ClozeModel.from_config); ``what`` names it in
    the error when the config does not describe one.
    """
    from rnnkit.lm.tokenize import TOKENIZERS
    from rnnkit.lm.vocab import Vocab

    config, vocab_json, arrays = load_model_files(model_dir, verify)
    config_path = os.path.join(model_dir, CONFIG)
    found = config.get("task", "lm")
    if found != task:
        raise RnnkitError(wrong_task.format(task=found, model_dir=model_dir), "task")
    try:
        tokenizer = config["tokenizer"]
        if not isinstance(config["model"], dict):
            raise TypeError
        model_cfg = dict(config["model"])
    except (KeyError, TypeError):
        raise RnnkitError(f"{config_path}: incomplete (no tokenizer or model section)") from None
    if not isinstance(tokenizer, str) or tokenizer not in TOKENIZERS:
        raise RnnkitError(f"{config_path}: unknown tokenizer {tokenizer!r}")
    vocab = Vocab.from_json(vocab_json, os.path.join(model_dir, VOCAB))
    if model_cfg.get("vocab_size") != len(vocab):
        raise RnnkitError(f"{model_dir}: {CONFIG} says {model_cfg.get('vocab_size')} tokens, {VOCAB} has {len(vocab)}")
    _check_sizes(config_path, model_cfg, arrays)
    dtype = next((a.dtype for a in arrays.values() if a.dtype.kind == "f"), None)
    buffers = {k: v for k, v in arrays.items() if k == "output.word_class"}
    try:
        model = build(model_cfg, buffers=buffers, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise RnnkitError(f"{config_path}: the model section does not describe {what} ({exc})") from None
    check_arrays(os.path.join(model_dir, WEIGHTS), {**model.params, **model.buffers()}, arrays)
    copy_into(model.params, arrays)
    return config, vocab, tokenizer, model



def stored_path(model_dir, stored, what, option):
    """The file that a path recorded in MODEL_DIR/config.json names, to be read without the user naming it.

    The one rule for such paths (docs/reliability.md): config.json records
    them as they were given; they are resolved against MODEL_DIR, never the
    current directory, and used only when they lie inside MODEL_DIR (links
    followed). Anything else the user names on the command line: RnnkitError
    naming ``option`` (``what``: what the file is, for the message).
    """
    config = os.path.join(model_dir, CONFIG)
    give = f"give one with {{{option}}} FILE"
    if stored is None:
        raise RnnkitError(f"{config}: names no {what}; {give}", option)
    if not isinstance(stored, str) or not stored or "\0" in stored:
        raise RnnkitError(f"{config}: its {what} {stored!r:.200} is no file name; {give}", option)
    path = os.path.join(model_dir, stored)  # an absolute path stays itself
    root, real = os.path.realpath(model_dir), os.path.realpath(path)
    if real == root or os.path.commonpath([root, real]) != root:
        # a model directory never makes rnnkit read a file the user did not name
        raise RnnkitError(f"{config}: names {stored[:200]!r} as its {what}, outside the model directory; name it "
                          f"yourself with {{{option}}} FILE", option)
    if not os.path.isfile(path):
        raise RnnkitError(f"{model_dir}: its {what} {stored[:200]!r} is not there (or not a regular file); {give}",
                          option)
    return path
