"""Label values Kubernetes accepts, made from pop's own values (agenda ids, op names, ...).

Layer: runtimes (kubernetes implementation detail; pure functions). A label value is at most 63
characters of ``[A-Za-z0-9._-]``, starting and ending with a letter or digit. A value that already
is one stays as it is; otherwise each run of other characters becomes ``-`` and a value still too
long keeps its start and ends with a hash of the whole original, so two different values never
share a label. The exact value goes into an annotation beside the label (``podspec``).
"""

from __future__ import annotations

import re

from pop.runtimes.names import short_hash

LABEL_VALUE_MAX = 63
_VALID = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_INVALID_RUN = re.compile(r"[^-A-Za-z0-9_.]+")


def label_value(value: str) -> str:
    """``value`` as a valid label value (see the module docstring): itself when valid, else its
    cleaned start, ``-`` and 8 hex of a hash of the whole value."""
    if is_label_value(value):
        return value
    head = _INVALID_RUN.sub("-", value)[: LABEL_VALUE_MAX - 9].strip("-_.")
    digest = short_hash(value, 8)
    return f"{head}-{digest}" if head else digest


def is_label_value(value: str) -> bool:
    return len(value) <= LABEL_VALUE_MAX and _VALID.fullmatch(value) is not None
