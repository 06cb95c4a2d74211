"""The one exception tree of pop, and the exit code each class maps to.

Layer: bottom (imported by everything, imports nothing of pop).

    PopError (1)                      anything pop reports as a failure
    ├── InputError (2)                malformed JSON, unknown op type, invalid agenda, ...
    │   ├── AgendaValidationError     every problem of a submitted agenda, listed at once
    │   ├── RegistryError             a registry file with problems (every problem with its path)
    │   ├── UnknownOperationTypeError an op type no registry entry defines
    │   ├── UnauthorizedError         no token, or an unknown, expired or revoked one (HTTP 401)
    │   ├── ForbiddenError            the token may not do this (another customer's object; 403)
    │   ├── MethodNotAllowedError     a server route asked with a method it does not answer (405)
    │   ├── RequestTooLargeError      a server request body over the size limit (413)
    │   └── ConflictError             the object's state forbids the change (a running agenda; 409)
    ├── NotFoundError (4)             an id (agenda, template, customer, ...) that is not stored
    ├── RuntimeUnavailableError (3)   the runtime (Docker engine, cluster) cannot be reached
    ├── LaunchError (1)               a handler could not be launched
    ├── StoreError (1)                the SQLite store failed (locked for too long, corrupt, ...)
    ├── AgendaFailedError (1)         an agenda ended COMPLETE/failed
    ├── InterruptedRunError (130)     Ctrl-C / SIGTERM stopped a run
    └── HandlerError (1)              raised by handler code through the SDK
        ├── PermanentError            must not be retried
        └── TemporaryError            may be retried (optionally after `delay` seconds)

The CLI catches PopError once, prints ``error: <message>`` (plus the hint) and exits with
``exit_code``.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RUNTIME_UNREACHABLE = 3
EXIT_NOT_FOUND = 4
EXIT_INTERRUPTED = 130


class PopError(Exception):
    """Root of every error pop raises on purpose."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(PopError):
    """The user gave pop something it cannot accept; nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class AgendaValidationError(InputError):
    """A submitted agenda has problems; ``problems`` lists every one, each naming its op."""

    def __init__(self, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(
            f"invalid agenda ({len(self.problems)} {noun}): " + "; ".join(self.problems),
            hint=hint,
        )


class RegistryError(InputError):
    """A registry file cannot be used; ``problems`` holds ``path: message`` lines."""

    def __init__(self, problems: Sequence[str], *, source: str = "registry") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(
            f"{source}: " + "; ".join(self.problems),
            hint="run `pop registry validate` to see every problem",
        )


class UnknownOperationTypeError(InputError):
    """No registry entry defines this operation type."""


class UnauthorizedError(InputError):
    """A server request without a valid token (missing, unknown, expired, revoked): HTTP 401."""


class ForbiddenError(InputError):
    """The token is valid but may not do this (another customer's object, an insight it does
    not own): HTTP 403, the message names the customer or insight."""


class MethodNotAllowedError(InputError):
    """A ``pop serve`` route was asked with a method it does not answer: HTTP 405."""


class RequestTooLargeError(InputError):
    """A ``pop serve`` request body is over the server's size limit: HTTP 413."""


class ConflictError(InputError):
    """The object's state forbids the change now (deleting an agenda an executor runs): HTTP
    409."""


class NotFoundError(PopError):
    """An id that is not in the store."""

    exit_code = EXIT_NOT_FOUND


class RuntimeUnavailableError(PopError):
    """The runtime cannot be reached (no Docker engine, no cluster, ...). ``agenda_id`` names
    the agenda left WAITING because of it, when there is one."""

    exit_code = EXIT_RUNTIME_UNREACHABLE
    agenda_id: str | None = None


class LaunchError(PopError):
    """A handler or external binary could not be launched.

    ``permanent`` marks a launch that will fail the same way every time (a missing image, a
    spec the runtime rejects): the op fails permanently and is not retried. Otherwise (a busy
    engine, a full node) the retry policy decides."""

    def __init__(self, message: str, *, hint: str | None = None, permanent: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.permanent = permanent


class StoreError(PopError):
    """The store could not complete an operation."""


class AgendaFailedError(PopError):
    """An agenda ended COMPLETE/failed."""


class InterruptedRunError(PopError):
    """The run was interrupted (Ctrl-C, SIGTERM)."""

    exit_code = EXIT_INTERRUPTED


class HandlerError(PopError):
    """Raised by handler code; the op fails with this message as its diagnostic."""


class PermanentError(HandlerError):
    """A failure that retrying cannot fix (bad payload, missing input that will not appear)."""


class TemporaryError(HandlerError):
    """A failure that may go away; retry after ``delay`` seconds when given."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay
