"""The real cause of a failure in a chain of diagnostics (issue 10, point 1)."""

from __future__ import annotations

from pop.models import AgendaProgress, DiagnosticEvent, OperationProgress
from pop.models.causes import RESIDENT_FAILURE, agenda_cause, cause_of


def event(message: str, payload: object = None) -> DiagnosticEvent:
    return DiagnosticEvent.of(message, payload=payload)


def test_a_resident_wrapper_gives_way_to_the_handler_s_own_error() -> None:
    chain = [event(RESIDENT_FAILURE + "transcode"), event("Cannot read a.mp4 as media: bad")]
    cause = cause_of(chain)
    assert cause is not None and cause.message == "Cannot read a.mp4 as media: bad"


def test_a_program_exit_is_the_cause_with_its_last_lines() -> None:
    chain = [event("command sh exited with code 3", payload=["one", "two", ""])]
    cause = cause_of(chain)
    assert cause is not None
    assert cause.lines == ("one", "two", "")
    assert cause.one_line() == "command sh exited with code 3: two"


def test_a_lone_wrapper_is_the_cause_and_keeps_the_lines_of_the_chain() -> None:
    chain = [event("handler reported failed and exited with code 1", payload=["last words"])]
    cause = cause_of(chain)
    assert cause is not None and cause.one_line().endswith(": last words")


def test_the_handler_s_report_comes_before_the_exit_wrapper() -> None:
    chain = [
        event("cannot open source.mp4"),
        event("handler reported failed and exited with code 1", payload=["x"]),
    ]
    cause = cause_of(chain)
    assert cause is not None and cause.one_line() == "cannot open source.mp4"


def test_an_agenda_s_cause_is_its_first_failed_op_s() -> None:
    progress = AgendaProgress(
        processing_state="COMPLETE",
        processing_state_message="failed",
        operation_progress=[
            OperationProgress(operation="a", processing_state="COMPLETE",
                              processing_state_message="succeeded"),
            OperationProgress(operation="b", processing_state="COMPLETE",
                              processing_state_message="failed",
                              diagnostic_events=[event(RESIDENT_FAILURE + "b"), event("boom")]),
        ],
    )  # fmt: skip
    cause = agenda_cause(progress)
    assert cause is not None and cause.one_line(with_operation=True) == "b: boom"


def test_a_succeeded_agenda_has_no_cause() -> None:
    progress = AgendaProgress(processing_state="COMPLETE", processing_state_message="succeeded")
    assert agenda_cause(progress) is None
    assert cause_of([]) is None
