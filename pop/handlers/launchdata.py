"""Launch data: what a handler learns from its command line, its environment and its properties.

Layer: handlers (imports pop.models, pop.errors, the codec and the standard library). Built by
:func:`pop.handlers.entry.run_handler` for a launched handler and by
:func:`pop.handlers.resident.run_resident` (defaults only) for a resident one; handler code reads
it as ``ctx.launch_data``.

Standard arguments (DESIGN.md §6), each as ``-name value``, ``--name value`` or ``--name=value``:
``launchType`` (default ``local``), ``externalLaunchType`` (default: the launchType), ``propFile``
(default ``./config/external.properties``; a missing file is empty), ``payloadFile`` (overrides
the environment payload), ``lastProgressFile``, ``oauthCertPath``, ``oauthTokenPath``, and POP's
ignored flag ``-c``. Anything else is an error. Environment variables with an empty value count
as unset.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pop.errors import InputError, PermanentError
from pop.handlers.codec import decode_payload_env
from pop.models import OperationProgress
from pop.models.validation import problems

LAUNCH_TYPES = ("local", "docker", "kubernetes", "fake")
DEFAULT_PROP_FILE = "./config/external.properties"

AGENDA_ID = "AGENDA_ID"
PROGRESS_ID = "PROGRESS_ID"
OPERATION_NAME = "OPERATION_NAME"
OPERATION_ID = "OPERATION_ID"
CID = "CID"
CUSTOMER_ID = "CUSTOMER_ID"
LAST_PROGRESS = "LAST_PROGRESS"
POP_WORK_DIR = "POP_WORK_DIR"
POP_OP_DIR = "POP_OP_DIR"
MY_POD_NAME = "MY_POD_NAME"
# Set by the executor for every attempt, resident or launched (DESIGN §7): the attempt number,
# the runtime options of the run as a JSON object (``docker_host``, ...) and "1" when launches
# are kept after they end (``--keep``); external launches are built with them.
POP_ATTEMPT = "POP_ATTEMPT"
POP_RUNTIME_OPTIONS = "POP_RUNTIME_OPTIONS"
POP_KEEP = "POP_KEEP"
# Set for a launched handler: its own launch (container, pod) name, the ``pop.parent`` label of
# the external launches it starts.
POP_LAUNCH_NAME = "POP_LAUNCH_NAME"

_VALUED_ARGS = {
    "launchType": "launch_type",
    "externalLaunchType": "external_launch_type",
    "propFile": "prop_file",
    "payloadFile": "payload_file",
    "lastProgressFile": "last_progress_file",
    "oauthCertPath": "oauth_cert_path",
    "oauthTokenPath": "oauth_token_path",
}
_IGNORED_FLAGS = {"c"}


@dataclass(frozen=True)
class LaunchArgs:
    """The standard arguments, defaults applied."""

    launch_type: str = "local"
    external_launch_type: str = "local"
    prop_file: Path = Path(DEFAULT_PROP_FILE)
    prop_file_given: bool = False
    payload_file: Path | None = None
    last_progress_file: Path | None = None
    oauth_cert_path: Path | None = None
    oauth_token_path: Path | None = None


HELP_ARGS = ("-h", "--help")
USAGE = (
    "[-launchType local|docker|kubernetes] [-externalLaunchType R] [-propFile F] "
    "[-payloadFile F] [-lastProgressFile F] [-oauthCertPath F] [-oauthTokenPath F]"
)


def asks_for_help(argv: Sequence[str]) -> bool:
    """Whether ``argv`` holds ``-h`` or ``--help`` as a whole argument where an argument name
    goes: ``-launchType local`` does not ask (an ``h`` inside a name is no flag), and neither
    does ``-payloadFile -h`` (a value)."""
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if token in HELP_ARGS:
            return True
        if token.startswith("-") and "=" not in token and token.lstrip("-") in _VALUED_ARGS:
            index += 1  # its value
    return False


def parse_args(argv: Sequence[str]) -> LaunchArgs:
    """The standard arguments in ``argv``; InputError for unknown ones or bad launch types."""
    values: dict[str, str] = {}
    tokens = list(argv)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        name, _, inline = token.lstrip("-").partition("=")
        if not token.startswith("-") or name not in _VALUED_ARGS.keys() | _IGNORED_FLAGS:
            raise InputError(
                f"Unknown argument: {token}",
                hint="standard arguments: " + ", ".join(f"-{arg}" for arg in _VALUED_ARGS),
            )
        if name in _IGNORED_FLAGS:
            continue
        if "=" in token:
            values[name] = inline
        elif index < len(tokens):
            values[name] = tokens[index]
            index += 1
        else:
            raise InputError(f"Missing value for argument: {token}")
    launch_type = _launch_type("launchType", values.get("launchType", "local"))
    external = _launch_type("externalLaunchType", values.get("externalLaunchType", launch_type))

    def path(name: str) -> Path | None:
        value = values.get(name)
        return Path(value) if value else None

    return LaunchArgs(
        launch_type=launch_type,
        external_launch_type=external,
        prop_file=Path(values.get("propFile") or DEFAULT_PROP_FILE),
        prop_file_given=bool(values.get("propFile")),
        payload_file=path("payloadFile"),
        last_progress_file=path("lastProgressFile"),
        oauth_cert_path=path("oauthCertPath"),
        oauth_token_path=path("oauthTokenPath"),
    )


def _launch_type(name: str, value: str) -> str:
    normalized = value.strip().lower()
    if normalized not in LAUNCH_TYPES:
        raise InputError(
            f"Failed to evaluate {name}: {value}", hint="one of " + ", ".join(LAUNCH_TYPES)
        )
    return normalized


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_SEPARATOR = re.compile(r"(?<!\\)(?:\\\\)*(\s*[=:]\s*|\s+)")


def parse_properties(text: str) -> dict[str, str]:
    """A Java ``.properties`` text as a dict: ``key=value``, ``key: value`` and ``key value``
    lines, ``#`` and ``!`` comments, trailing-backslash continuation lines and the escapes
    ``\\t \\n \\r \\f \\uXXXX`` (any other escaped character stands for itself)."""
    properties: dict[str, str] = {}
    logical = ""
    for raw_line in text.splitlines():
        line = raw_line.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            logical += line[:-1]
            continue
        logical += line
        key, value = _split_property(logical)
        properties[key] = value
        logical = ""
    if logical:
        key, value = _split_property(logical)
        properties[key] = value
    return properties


def _split_property(line: str) -> tuple[str, str]:
    match = _SEPARATOR.search(line)
    if match is None:
        return _unescape(line), ""
    key_end = match.start(1)
    return _unescape(line[:key_end]), _unescape(line[match.end(1) :])


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\" or index + 1 >= len(text):
            out.append(char)
            index += 1
            continue
        escaped = text[index + 1]
        if escaped == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[index + 2 : index + 6]):
            out.append(chr(int(text[index + 2 : index + 6], 16)))
            index += 6
            continue
        out.append(_ESCAPES.get(escaped, escaped))
        index += 2
    return "".join(out)


def read_properties(path: Path) -> dict[str, str] | None:
    """The properties in ``path``, or None when the file does not exist."""
    try:
        return parse_properties(path.read_text(encoding="latin-1"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PermanentError(f"Failed to load data from: {path}") from exc


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PermanentError(f"Failed to load data from: {path}") from exc


_EMPTY_ENV: Mapping[str, str] = {}


@dataclass
class LaunchData:
    """Arguments, environment and properties of one handler run; the payload and the last
    progress are read on first use and cached."""

    args: LaunchArgs = field(default_factory=LaunchArgs)
    env: Mapping[str, str] = field(default_factory=lambda: _EMPTY_ENV)
    properties: Mapping[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _payload: str | None = field(default=None, init=False, repr=False)
    _payload_read: bool = field(default=False, init=False, repr=False)
    _last_progress: OperationProgress | None = field(default=None, init=False, repr=False)
    _last_progress_read: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_argv(cls, argv: Sequence[str], env: Mapping[str, str] | None = None) -> LaunchData:
        """Parse ``argv`` and read the properties file; ``env`` defaults to ``os.environ``.
        Raises InputError for bad arguments, PermanentError for an unreadable properties file."""
        args = parse_args(argv)
        properties = read_properties(args.prop_file)
        warnings = []
        if properties is None:
            properties = {}
            if args.prop_file_given:
                warnings.append(f"Properties file not found, using none: {args.prop_file}")
        return cls(
            args=args,
            env=os.environ if env is None else env,
            properties=properties,
            warnings=warnings,
        )

    def getenv(self, name: str) -> str | None:
        """The environment variable ``name``; empty counts as unset."""
        return self.env.get(name) or None

    def get_property(self, name: str, default: str | None = None) -> str | None:
        """The property ``name`` from the properties file (empty counts as unset)."""
        return self.properties.get(name) or default

    def bool_property(self, name: str, default: bool = False) -> bool:
        """A boolean property: ``true`` in any case is True, any other value False."""
        value = self.get_property(name)
        return default if value is None else value.strip().lower() == "true"

    @property
    def launch_type(self) -> str:
        return self.args.launch_type

    @property
    def external_launch_type(self) -> str:
        return self.args.external_launch_type

    @property
    def operation_name(self) -> str | None:
        return self.getenv(OPERATION_NAME)

    @property
    def operation_id(self) -> str | None:
        return self.getenv(OPERATION_ID)

    @property
    def agenda_id(self) -> str | None:
        return self.getenv(AGENDA_ID)

    @property
    def progress_id(self) -> str | None:
        return self.getenv(PROGRESS_ID)

    @property
    def cid(self) -> str | None:
        return self.getenv(CID)

    @property
    def customer_id(self) -> str | None:
        return self.getenv(CUSTOMER_ID)

    @property
    def pod_name(self) -> str | None:
        return self.getenv(MY_POD_NAME)

    @property
    def attempt(self) -> int | None:
        """The attempt number (``POP_ATTEMPT``), None when absent or not a number."""
        value = self.getenv(POP_ATTEMPT)
        return int(value) if value and value.isdigit() else None

    @property
    def keep(self) -> bool:
        """Whether launches are kept after they end (``POP_KEEP`` = "1"; ``--keep``)."""
        return self.getenv(POP_KEEP) == "1"

    @property
    def runtime_options(self) -> dict[str, str]:
        """The run's runtime options (``POP_RUNTIME_OPTIONS``, a JSON object); {} when absent or
        not an object."""
        raw = self.getenv(POP_RUNTIME_OPTIONS)
        try:
            options = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        if not isinstance(options, dict):
            return {}
        return {str(key): str(value) for key, value in options.items()}

    @property
    def launch_name(self) -> str | None:
        """A launched handler's own launch name (``POP_LAUNCH_NAME``); None when resident."""
        return self.getenv(POP_LAUNCH_NAME)

    @property
    def work_dir(self) -> Path | None:
        value = self.getenv(POP_WORK_DIR)
        return Path(value) if value else None

    @property
    def op_dir(self) -> Path | None:
        value = self.getenv(POP_OP_DIR)
        return Path(value) if value else None

    def payload_text(self) -> str | None:
        """The payload JSON text: the ``payloadFile`` contents, else the environment payload.
        PermanentError "Failed to load data from: <file>" when the file cannot be read."""
        if not self._payload_read:
            if self.args.payload_file is not None:
                self._payload = _read_file(self.args.payload_file)
            else:
                self._payload = decode_payload_env(self.env)
            self._payload_read = True
        return self._payload

    def last_progress(self) -> OperationProgress | None:
        """The earlier OperationProgress (``lastProgressFile``, else ``LAST_PROGRESS``); None when
        absent or unparsable (a warning is recorded)."""
        if not self._last_progress_read:
            self._last_progress_read = True
            if self.args.last_progress_file is not None:
                text: str | None = _read_file(self.args.last_progress_file)
            else:
                text = self.getenv(LAST_PROGRESS)
            self._last_progress = parse_last_progress(text, warnings=self.warnings)
        return self._last_progress

    def last_progress_param(self, name: str) -> Any:
        """``params[name]`` of the last progress, or None."""
        progress = self.last_progress()
        return None if progress is None or not progress.params else progress.params.get(name)

    def metadata(self) -> dict[str, str]:
        """The operation metadata present in the environment, for the start-up log line."""
        names = (AGENDA_ID, PROGRESS_ID, OPERATION_NAME, OPERATION_ID, CID, CUSTOMER_ID)
        return {name: value for name in names if (value := self.getenv(name))}


def parse_last_progress(
    text: str | None, *, warnings: list[str] | None = None
) -> OperationProgress | None:
    """``text`` parsed as an OperationProgress; None (and a warning) when it is not one."""
    if not text or not text.strip():
        return None
    try:
        return OperationProgress.model_validate_json(text)
    except ValidationError as exc:
        if warnings is not None:
            said = "; ".join(problems(exc, root="the last progress"))
            warnings.append(f"Ignoring the last progress: {said}")
        return None
    except ValueError as exc:
        if warnings is not None:
            warnings.append(f"Ignoring the last progress: {exc}")
        return None
