"""Attempt rows, launch records, op logs and output tails of remote executors (pop's extension
of the ResourcePool service, issue 13 item 6).

Layer: api. :class:`pop.api.pool.PoolMixin` takes these methods from :class:`PoolAttemptsMixin`;
``pop serve`` calls them for the routes of :mod:`pop.server.attempts`, which first check that the
caller owns the agenda's insight (:meth:`PoolAttemptsMixin.pool_attempt_insight`). Each write
renews the lease of ``owner`` (the executor's id) in the same transaction and changes nothing
when ``owner`` no longer holds it (``ConflictError``, 409), exactly as ``updateAgendaProgress``.

What a local run writes to its store and ``logs`` folder, a remote run writes here:

- :meth:`~PoolAttemptsMixin.pool_start_attempt`: the attempt row (an op's, or the agenda's own
  with no operation) with the server's log path for an op (``<logs>/<agenda>/<op>.<n>.log``, the
  local layout under the server's ``POP_HOME``). A resend (same agenda, op, number and executor,
  row still open) answers the row it made.
- :meth:`~PoolAttemptsMixin.pool_record_launch`: what the attempt launched (replaces the record).
- :meth:`~PoolAttemptsMixin.pool_append_log`: a chunk of the op's log, written at byte ``offset``
  of the server's file (a resend of bytes it has is skipped), capped at ``POP_LOG_CAP_BYTES``.
- :meth:`~PoolAttemptsMixin.pool_end_attempt`: the attempt ends (outcome, exit code, message)
  and, for an op, its output tail is stored with its progress (``pop logs`` shows it). Ending an
  attempt that already ended changes nothing (a resend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pop.api.pool_lease import PoolLeaseBase, check_owner
from pop.errors import InputError, NotFoundError

MAX_TAIL_LINES = 200
TRUNCATED = "\n[pop: log truncated at {cap} bytes]\n"


def attempt_id_of(value: object) -> int:
    """The attempt id a route was given: a positive integer (InputError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError("attemptId is required: the id startAttempt answered (an integer)")
    return value


class PoolAttemptsMixin(PoolLeaseBase):
    """startAttempt, recordLaunch, appendLog and endAttempt of remote executors."""

    def pool_attempt_insight(self, attempt_id: int) -> str:
        """The insight of the agenda attempt ``attempt_id`` belongs to (what the caller must own
        to write it); NotFoundError when there is no such attempt."""
        return self._pool_agenda(self._attempt(attempt_id)["agendaId"]).agenda_insight_id

    def pool_lost_launches(self, agenda_id: str) -> list[dict[str, Any]]:
        """The agenda's op attempt rows whose executor died with launches recorded (never ended,
        or ended ``lost`` by the reclaimer): what the next executor stops before it runs it."""
        return self.store.attempts.lost_launches(agenda_id)

    def pool_start_attempt(
        self,
        agenda_id: str,
        *,
        owner: str,
        operation: str | None,
        number: int,
        runtime: str | None,
        launched: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Open an attempt row for ``owner`` (who must hold the agenda's lease) and answer it."""
        from pop.engine.launching import log_file

        owner = check_owner(owner)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise InputError("number is required: the attempt's number (an integer from 1)")
        if operation is not None and (not isinstance(operation, str) or not operation):
            raise InputError("operation must be the op's name (a string) or absent")
        if runtime is not None and not isinstance(runtime, str):
            raise InputError("runtime must be a string")
        if launched is not None and not isinstance(launched, Mapping):
            raise InputError("launched must be a JSON object")
        found = self._pool_agenda(agenda_id)
        store = self.store
        with store.transaction():
            self._renew(found, owner)
            if operation is not None:
                names = {op.operation for op in store.progress.operations(found.progress_id)}
                if operation not in names:
                    raise NotFoundError(f"agenda {found.agenda_id} has no operation '{operation}'")
            row = store.attempts.find_open(found.agenda_id, operation, number, owner)
            if row is None:
                log_path = (
                    str(log_file(self.settings.logs_dir, found.agenda_id, operation, number))
                    if operation is not None
                    else None
                )
                attempt_id = store.attempts.start(
                    found.agenda_id,
                    operation,
                    number,
                    executor=owner,
                    runtime=runtime,
                    log_path=log_path,
                )
            else:
                attempt_id = row["id"]
            if launched is not None:
                store.attempts.record_launch(attempt_id, launched)
        return self._attempt(attempt_id)

    def pool_record_launch(
        self, attempt_id: int, record: Mapping[str, Any], *, owner: str
    ) -> dict[str, Any]:
        """Store what the attempt launched (replacing the earlier record)."""
        if not isinstance(record, Mapping):
            raise InputError("launched is required: the launch record (a JSON object)")
        with self.store.transaction():
            self._owned(attempt_id, owner)
            self.store.attempts.record_launch(attempt_id, record)
        return self._attempt(attempt_id)

    def pool_append_log(self, attempt_id: int, text: str, *, offset: int, owner: str) -> int:
        """Write ``text`` at byte ``offset`` of the attempt's log on this machine (bytes the
        file already has are skipped: a resend) up to ``Settings.log_cap_bytes``; answers the
        file's size."""
        if not isinstance(text, str):
            raise InputError("text is required: a chunk of the op's log (a string)")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InputError("offset is required: the byte offset of the chunk (an integer >= 0)")
        with self.store.transaction():
            row = self._owned(attempt_id, owner)
        if not row["logPath"]:
            raise InputError(f"attempt {attempt_id} is an agenda's attempt: it has no log")
        path = Path(row["logPath"])
        path.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size if path.exists() else 0
        data = text.encode("utf-8", errors="replace")
        skip = max(0, size - offset)
        data = data[skip:]
        cap = self.settings.log_cap_bytes
        if not data or size >= cap:
            return size
        if size + len(data) > cap:
            data = data[: max(0, cap - size)] + TRUNCATED.format(cap=cap).encode()
        with open(path, "ab") as log:
            log.write(data)
        return size + len(data)

    def pool_end_attempt(
        self,
        attempt_id: int,
        *,
        owner: str,
        outcome: str,
        exit_code: int | None = None,
        message: str = "",
        output_tail: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """End the attempt (a resend of an ended one changes nothing) and store an op's
        output tail with its progress."""
        from pop.store import operation_progress_id

        if not isinstance(outcome, str) or not outcome.strip():
            raise InputError("outcome is required: succeeded, failed, timeout, cancelled, ...")
        if exit_code is not None and (
            isinstance(exit_code, bool) or not isinstance(exit_code, int)
        ):
            raise InputError("exitCode must be an integer")
        if not isinstance(message, str):
            raise InputError("message must be a string")
        if output_tail is not None and (
            not isinstance(output_tail, list) or not all(isinstance(x, str) for x in output_tail)
        ):
            raise InputError("outputTail must be a list of strings")
        with self.store.transaction():
            row = self._owned(attempt_id, owner)
            if row["endedTime"] is None:
                self.store.attempts.end(
                    attempt_id, outcome.strip(), exit_code=exit_code, message=message
                )
                if row["operation"] is not None and output_tail is not None:
                    found = self._pool_agenda(row["agendaId"])
                    self.store.progress.update_operation(
                        operation_progress_id(found.progress_id, row["operation"]),
                        output_tail=list(output_tail)[-MAX_TAIL_LINES:],
                    )
        return self._attempt(attempt_id)

    # -- internals --------------------------------------------------------------------------

    def _attempt(self, attempt_id: int) -> dict[str, Any]:
        row = self.store.attempts.get(attempt_id)
        if row is None:
            raise NotFoundError(f"no attempt {attempt_id}")
        return row

    def _owned(self, attempt_id: int, owner: str) -> dict[str, Any]:
        """The attempt row once ``owner`` renewed the lease of its agenda (inside the caller's
        transaction); ConflictError when it no longer holds it."""

        owner = check_owner(owner)
        row = self._attempt(attempt_id)
        self._renew(self._pool_agenda(row["agendaId"]), owner)
        return row
