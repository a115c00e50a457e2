"""The container's small helpers that every message and header passes through.

`short` bounds a hostile value's length in a message, `type_name` says a decoded JSON
value's type in JSON's words, and `jsonable` is the project's one JSON sanitiser (headers,
metadata, the CLI's --json). Mutation testing (`make mutate`) found them unchecked.
"""

import json
import math

import numpy as np
import pytest

from nablanet.io.container import jsonable, short, type_name


def test_short_keeps_60_characters_and_cuts_longer_reprs_to_60():
    fits = "a" * 58  # repr adds the two quotes: 60 characters
    assert short(fits) == repr(fits)
    long = "b" * 59  # 61 characters of repr
    assert short(long) == "'" + "b" * 56 + "..."
    assert len(short(long)) == 60
    assert short("c" * 10, limit=8) == "'cccc..."  # 8 characters


@pytest.mark.parametrize(
    "value, name",
    [({}, "object"), ([], "list"), ("", "string"), (True, "boolean"), (None, "null"),
     (3, "int"), (1.5, "float")],
)
def test_type_name_speaks_json(value, name):
    assert type_name(value) == name


def test_jsonable_turns_numpy_and_nested_values_into_plain_json():
    value = {
        1: np.float32(0.5),
        "nested": {"a": (np.int64(3), np.array(2.0)), "b": [np.bool_(True), math.inf]},
        "array": np.arange(3, dtype=np.int16),
        "nan": np.float64("nan"),
        "none": None,
    }
    out = jsonable(value)
    assert out == {
        "1": 0.5,
        "nested": {"a": [3, 2.0], "b": [True, None]},
        "array": [0, 1, 2],
        "nan": None,
        "none": None,
    }
    assert type(out["nested"]["a"][0]) is int and type(out["nested"]["a"][1]) is float
    assert type(out["nested"]["b"][0]) is bool
    json.dumps(out, allow_nan=False)  # strict JSON: raises if anything is left over


def test_jsonable_hands_other_types_to_other_at_any_depth_or_refuses_them():
    value = {"when": {"at": [complex(1, 2)]}}
    assert jsonable(value, other=str) == {"when": {"at": ["(1+2j)"]}}
    with pytest.raises(TypeError, match=r"^header value \(1\+2j\) of type complex is not JSON; "
                                        r"put arrays in `arrays`$"):
        jsonable(value)
    with pytest.raises(TypeError, match="of type complex128 is not JSON"):
        jsonable(np.complex128(1j))
