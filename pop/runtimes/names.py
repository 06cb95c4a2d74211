"""Names pop makes from user text: op folders, log files and launch (container, pod) names.

Layer: runtimes (pure functions, no I/O). Used by the engine for every attempt and by the
outputs and logs views to find an attempt's files again.

The rule is the same everywhere: a name that is already safe where it goes stays as it is; an
unsafe one becomes ``<slug>-<6 hex>``, the hex a hash of the whole original name, so two names
that differ only in unsafe characters (``a/b``, ``a.b``, ``a b``) never share a folder or a
container. Launch names hash the full agenda id, so two agendas whose ids share a prefix never
collide either.
"""

from __future__ import annotations

import hashlib
import re

# File names: letters, digits, '.', '_' and '-', not starting with '.' or '-'.
_FILE_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
FILE_NAME_MAX = 100
# DNS labels (Kubernetes pod names, also valid container names): lower-case letters, digits and
# '-', starting and ending with a letter or digit, at most 63 characters.
_DNS_SAFE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_DNS_UNSAFE = re.compile(r"[^a-z0-9]+")
DNS_LABEL_MAX = 63


def short_hash(text: str, length: int = 6) -> str:
    """``length`` hex digits of the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_name(name: str) -> str:
    """A file or folder name for ``name``: itself when safe (``transcode_720p``), else
    ``<slug>-<6 hex>`` (``a/b`` → ``a_b-<hex>``), at most :data:`FILE_NAME_MAX` characters."""
    if len(name) <= FILE_NAME_MAX and _FILE_SAFE.fullmatch(name):
        return name
    slug = _FILE_UNSAFE.sub("_", name).strip("._-")[: FILE_NAME_MAX - 7] or "op"
    return f"{slug}-{short_hash(name)}"


def dns_label(name: str, *, max_length: int = DNS_LABEL_MAX) -> str:
    """A DNS label for ``name``: itself when it is one and fits, else ``<slug>-<6 hex>``."""
    if len(name) <= max_length and _DNS_SAFE.fullmatch(name):
        return name
    slug = _DNS_UNSAFE.sub("-", name.lower()).strip("-")[: max_length - 7].strip("-") or "op"
    return f"{slug}-{short_hash(name)}"


def launch_name(agenda_id: str, operation_name: str, attempt: int) -> str:
    """The launch (container, pod) name of one attempt: ``pop-<8 hex of the agenda id>-<op>-<n>``,
    a DNS label of at most 63 characters, unique per agenda, op and attempt."""
    head = f"pop-{short_hash(agenda_id, 8)}-"
    tail = f"-{attempt}"
    return head + dns_label(operation_name, max_length=DNS_LABEL_MAX - len(head) - len(tail)) + tail
