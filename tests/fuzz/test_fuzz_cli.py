"""Fuzz the command line: any argv ends in exit status 0, 1 or 2, never a traceback.

Each case is a command followed by flags drawn from that command's real parser (so new
flags are fuzzed as soon as they exist), each with a value drawn from a pool of valid,
borderline and hostile values: numbers of every kind, names, lists, and paths to a tiny CSV,
a model file, a junk file, a folder, a missing file, and the inputs themselves as outputs.
The outcome must be status 0, or status 1 or 2 with exactly one ``nablanet: error:`` line,
last on standard error; no traceback, no "internal error".

The work of a case is kept small by the values (at most 3 epochs, samples, restarts or
coordinates; a 12-row CSV), not by leaving flags out. Left out: ``demo`` (a fixed tour of
the digits, seconds per case), ``--debug`` (shows a traceback by design) and Fashion-MNIST
(a minute to load and train).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from _fuzz import count, run_fuzz
from hypothesis import given, settings
from hypothesis import strategies as st

from nablanet.cli import build_parser, main

SKIPPED_COMMANDS = {"demo"}
SKIPPED_FLAGS = {"--debug", "-h", "--help", "--version"}

NUMBERS = ["0", "1", "2", "3", "-1", "0.5", "1e-3", "-0.1", "1e400", "nan", "inf", "-inf",
           "1.5", "x", "", " ", "0x10", "1_000", "True", "٣"]
LISTS = ["4", "3,2", "none", "", "0", "2,,3", "a,b", "-1", "1,2,3", "relu,tanh", "1e9"]
NAMES = ["relu", "tanh", "sigmoid", "logistic", "softmax", "identity", "leaky_relu", "bogus",
         "cross_entropy", "binary_cross_entropy", "squared_error", "adam", "sgd", "gd",
         "lbfgs", "auto", "classify", "regress", "float32", "float64", "label", "x0", "-"]
FILES = ["@csv", "@features", "@model", "@net", "@junk", "@folder", "@missing",
         "@nofolder/m.npz", "@out.npz", "@out.csv", "digits", "@idx"]
JUNK_TOKENS = ["--no-such-flag", "-z", "extra", "--", "--layers=3", "--epochs=0", "-q"]

_PARSER = build_parser()
_SUB = next(a for a in _PARSER._actions if a.__class__.__name__ == "_SubParsersAction")
COMMANDS = sorted(set(_SUB.choices) - SKIPPED_COMMANDS)


def _fixtures() -> Path:
    """A folder with a tiny CSV, a features-only CSV, a model, a bare network and junk."""
    import nablanet
    from nablanet.data import load_digits, write_idx

    root = Path(tempfile.mkdtemp(prefix="nablanet-fuzz-cli-"))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    labels = np.array(["a", "b", "c"] * 4)
    rows = ["f0,f1,f2,label"] + [f"{x[0]:.3f},{x[1]:.3f},{x[2]:.3f},{t}"
                                 for x, t in zip(X, labels, strict=True)]
    (root / "data.csv").write_text("\n".join(rows) + "\n")
    (root / "features.csv").write_text("\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n")
    est = nablanet.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two iterations: not converged, and that is fine
        est.fit(X, labels)
    est.save(root / "model.npz")
    nablanet.Network([3, 2, 3], seed=0).save(root / "net.npz")
    (root / "junk.npz").write_bytes(rng.bytes(300))
    (root / "folder").mkdir()
    digits = load_digits()
    idx = root / "idx"
    idx.mkdir()
    images = (digits.X_train[:30] * 255).astype(np.uint8).reshape(-1, 8, 8)
    write_idx(idx / "train-images-idx3-ubyte", images)
    write_idx(idx / "train-labels-idx1-ubyte", digits.y_train[:30].astype(np.uint8))
    write_idx(idx / "t10k-images-idx3-ubyte", images[:10])
    write_idx(idx / "t10k-labels-idx1-ubyte", digits.y_train[:10].astype(np.uint8))
    return root


_FIXTURES = _fixtures()


def _resolve(token: str, case: Path) -> str:
    """A pool token as a path inside this case's own copy of the fixtures."""
    names = {"@csv": "data.csv", "@features": "features.csv", "@model": "model.npz",
             "@net": "net.npz", "@junk": "junk.npz", "@folder": "folder", "@idx": "idx",
             "@missing": "missing.npz"}
    if token in names:
        return str(case / names[token])
    if token.startswith("@"):
        return str(case / token[1:])
    return token


def _values(action) -> st.SearchStrategy[str]:
    pools = [st.sampled_from(NUMBERS), st.sampled_from(LISTS), st.sampled_from(NAMES),
             st.sampled_from(FILES), st.text(max_size=6)]
    if action.choices:
        pools.insert(0, st.sampled_from(sorted(map(str, action.choices))))
    return st.one_of(*pools)


@st.composite
def argvs(draw) -> list[str]:
    """A command, its positional argument (maybe), some of its flags with values, junk."""
    command = draw(st.sampled_from(COMMANDS))
    actions = [a for a in _SUB.choices[command]._actions
               if not set(a.option_strings) & SKIPPED_FLAGS]
    argv = [command]
    for action in draw(st.lists(st.sampled_from(actions), max_size=6)):
        if not action.option_strings:  # the positional MODEL
            argv.append(draw(st.sampled_from(FILES)))
            continue
        argv.append(draw(st.sampled_from(action.option_strings)))
        if action.nargs != 0:
            argv.append(draw(_values(action)))
    if draw(st.booleans()):  # most commands need a MODEL: give one more often than not
        argv.insert(1, draw(st.sampled_from(["@model", "@net", "@junk", "@missing"])))
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(JUNK_TOKENS)))
    return argv


def _is_small(argv: list[str]) -> bool:
    """Whether the case's work is bounded: small counts, no Fashion-MNIST."""
    for token in argv:
        with contextlib.suppress(ValueError, OverflowError):
            if float(token) > 3 and token not in ("1e400", "inf"):
                return False
    return "fashion-mnist" not in argv


def _run(argv: list[str]) -> tuple[int, str, str]:
    case = Path(tempfile.mkdtemp(prefix="case-", dir=_FIXTURES))
    for item in _FIXTURES.iterdir():
        if item.name.startswith("case-"):
            continue
        copy = shutil.copytree if item.is_dir() else shutil.copy
        copy(item, case / item.name)
    args = [_resolve(token, case) for token in argv]
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(case)  # relative outputs ("report", "-") land in the case's folder
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        os.chdir(cwd)
        shutil.rmtree(case, ignore_errors=True)
    return code, out.getvalue(), err.getvalue()


def test_any_argv_ends_in_a_status_and_at_most_one_error_line():
    @settings(max_examples=25)
    @given(argv=argvs())
    def run(argv):
        if not _is_small(argv):
            return
        count("cli argv")
        code, _, err = _run(argv)
        assert code in (0, 1, 2), (argv, code, err)
        assert "Traceback" not in err and "internal error" not in err, (argv, err)
        errors = [line for line in err.splitlines() if "nablanet: error:" in line]
        if code == 0:
            assert errors == [], (argv, err)
        else:
            assert len(errors) == 1 and err.rstrip().splitlines()[-1] == errors[0], (argv, err)

    run_fuzz(run)
