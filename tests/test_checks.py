import math

import numpy as np
import pytest

from nablanet import _checks
from nablanet.activations import ACTIVATIONS
from nablanet.losses import LOSSES


@pytest.mark.parametrize("value", [1, 5, np.int64(3), np.uint8(7)])
def test_integer_accepts_integers(value):
    out = _checks.integer(value, "n")
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1.0, "1", None, 0, -3])
def test_integer_refuses_bools_floats_and_small_values(value):
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
        _checks.integer(value, "n")


def test_integer_bounds_in_message():
    assert _checks.integer(0, "k", low=0) == 0
    with pytest.raises(ValueError, match=r"k must be an integer in \[0, 3\], got 4"):
        _checks.integer(4, "k", low=0, high=3)


@pytest.mark.parametrize(
    ("kwargs", "value", "ok"),
    [
        ({"low": 0, "low_open": True}, 0.1, True),
        ({"low": 0, "low_open": True}, 0, False),
        ({"low": 0, "low_open": True}, -0.1, False),
        ({"low": 0, "high": 1}, 1, True),
        ({"low": 0, "high": 1, "high_open": True}, 1, False),
        ({}, math.inf, False),
        ({}, math.nan, False),
        ({}, True, False),
        ({}, "0.5", False),
        ({}, np.float32(0.5), True),
    ],
)
def test_number(kwargs, value, ok):
    if ok:
        assert _checks.number(value, "x", **kwargs) == float(value)
    else:
        with pytest.raises(ValueError, match=r"^x must be a number in [\[(]"):
            _checks.number(value, "x", **kwargs)


def test_number_messages_agree_for_every_bad_value():
    # One interval, one wording: -0.1 and 0 are refused with the same sentence.
    msgs = []
    for v in (-0.1, 0):
        with pytest.raises(ValueError, match="learning_rate must be") as e:
            _checks.number(v, "learning_rate", 0, low_open=True)
        msgs.append(str(e.value).rsplit(", got", 1)[0])
    assert msgs[0] == msgs[1] == "learning_rate must be a number in (0, inf)"


def test_lookup_and_one_of_list_the_valid_names():
    assert _checks.lookup({"a": 1}, "b2", "thing", {"b2": "a"}) == 1
    with pytest.raises(ValueError, match="unknown thing 'c'; valid: a, b2"):
        _checks.lookup({"a": 1}, "c", "thing", {"b2": "a"})
    assert _checks.one_of("x", ("x", "y"), "mode") == "x"
    with pytest.raises(ValueError, match="unknown mode 'z'; valid: x, y"):
        _checks.one_of("z", ("x", "y"), "mode")


def test_activation_facts_are_consistent():
    for act in ACTIVATIONS.values():
        lo, hi = act.output_range
        neg, pos = act.labels
        assert lo <= neg < pos <= hi or not act.bounded
        assert act.decision_threshold == (neg + pos) / 2
        assert act.default_loss in LOSSES and act.classifier_loss in LOSSES
        if act.canonical_loss is not None:
            assert LOSSES[act.canonical_loss].is_canonical(act)
    assert ACTIVATIONS["tanh"].decision_threshold == 0.0
    assert ACTIVATIONS["sigmoid"].decision_threshold == 0.5
    assert [a for a, f in ACTIVATIONS.items() if f.can_die] == ["relu"]
    assert {a for a, f in ACTIVATIONS.items() if f.default_init == "he"} == {"relu", "leaky_relu"}
    assert ACTIVATIONS["sigmoid"].classifier_loss == "binary_cross_entropy"
    assert ACTIVATIONS["sigmoid"].default_loss == "squared_error"  # UFLDL's network
