"""Saving and loading models: arrays in an .npz, settings in a JSON header, never pickle.

The package, from the bytes up:

- `files` -- the project's one atomic write (temporary file, fsync, rename, fsync of the
  folder), the removal of temporaries that killed saves left behind, and `open_regular`;
- `npy` -- a strict reader for one ``.npy`` member;
- `container` -- the file: a zip of ``.npy`` members with a JSON header, sealed by a
  SHA-256 of the whole file (the file layout is described there), and `ModelFileError`;
- `fields` -- typed checks of header fields and arrays, for every kind of model;
- `header` -- the common header fields, the manifest, and `read_model`;
- `network` -- a `Network`'s spec; `estimators` -- the estimator kinds;
- `steps`, `codecs`, `preprocessors`, `columns`, `pipeline` -- scikit-learn pipelines:
  the fitted preprocessors (scalers, encoders, imputers, whitening) as arrays and JSON,
  ColumnTransformer and Pipeline as a tree of such steps and nablanet estimators;
- `kinds` -- `save` and `load`.

`files`, `npy` and `container` import nothing of nablanet beyond each other, so that
anything may use the atomic write; the modules that know networks and estimators are
imported on first use of the names that need them.

Why no pickle
-------------
Unpickling runs whatever code the file names, so a pickled model is a program: loading one
from an untrusted source hands that source the machine. Here every member is read by a
strict ``.npy`` reader that accepts only bool, integer and float arrays, the settings are
plain JSON, and every name is looked up in a table (`ACTIVATIONS`, `LOSSES`,
`INITIALIZERS`): loading a file never executes code from it.

What loading checks
-------------------
The path (a regular file: FIFOs and devices are refused without blocking), the digest,
the container (uncompressed ``.npy`` members, no duplicates, sizes consistent with the
file, CRCs before any ``.npy`` header is parsed), the header (JSON object, format name,
format version, library version, kind), the manifest (exactly the arrays present, each
one's dtype, shape and checksum), and for the kind of model every setting (names against
the tables, sizes, dtypes, finite values) and every array's shape against the
architecture. Each refusal raises `ModelFileError` naming the file and the fault.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nablanet.io.container import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_ARRAY_BYTES,
    MAX_HEADER_BYTES,
    MAX_MEMBERS,
    ModelFileError,
    jsonable,
    write_model,
)
from nablanet.io.fields import (
    check_array,
    check_classes,
    check_field,
    check_finite_array,
    check_keys,
    check_labels,
    label_state,
)
from nablanet.io.files import atomic_write
from nablanet.io.header import read_model

if TYPE_CHECKING:
    from nablanet.io.kinds import known_kinds, load, read_metadata, save
    from nablanet.io.network import network_from_state, network_state

# Names whose modules import the network (and, on use, the estimators): loaded on first use.
_LAZY = {
    "save": "nablanet.io.kinds",
    "load": "nablanet.io.kinds",
    "known_kinds": "nablanet.io.kinds",
    "read_metadata": "nablanet.io.kinds",
    "network_state": "nablanet.io.network",
    "network_from_state": "nablanet.io.network",
}

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_ARRAY_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_MEMBERS",
    "ModelFileError",
    "atomic_write",
    "check_array",
    "check_classes",
    "check_field",
    "check_finite_array",
    "check_keys",
    "check_labels",
    "jsonable",
    "known_kinds",
    "label_state",
    "load",
    "network_from_state",
    "network_state",
    "read_metadata",
    "read_model",
    "save",
    "write_model",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nablanet.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
