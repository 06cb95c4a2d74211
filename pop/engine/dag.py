"""The agenda as a graph: dependencies, submission validation, cycle and deadlock reports.

Layer: engine. Called by the api at submit time (``validate_agenda``) and by the executor
(``dependencies_of``, ``describe_blocked``).

Dependencies of an op = the ops whose output it references (``@<name.out...>``) plus the names
in ``params.dependsOn``. Executor-phase names (``pop.agendaId``, ``pop.operationName``,
``pop.workDir``) are always available and create no dependency.
"""

from __future__ import annotations

from pop import refs
from pop.errors import AgendaValidationError

TYPE_CHECKING = False  # no typing or models at import: the fast `pop submit` validates with it
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from pop.models import DiagnosticEvent, Operation
    from pop.models.views import AgendaLike, OperationLike

EXECUTOR_NAMES = frozenset({"pop.agendaId", "pop.operationName", "pop.workDir"})
TEMPLATE_NAMES = frozenset({"pop.payload", "pop.transformRequest"})


def dependencies_of(operation: OperationLike) -> list[str]:
    """Names this op waits for, in first-mention order (references, then ``dependsOn``)."""
    names: list[str] = []
    for reference in refs.references_in(operation.payload):
        name = reference.output_of
        if name is not None and name not in names:
            names.append(name)
    for name in operation.depends_on():
        if name not in names:
            names.append(name)
    return names


def _reference_problems(operation: OperationLike, known_ops: set[str]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for reference in refs.references_in(operation.payload):
        if reference.text in seen:
            continue
        seen.add(reference.text)
        name = reference.name
        if name in EXECUTOR_NAMES:
            continue
        output_of = reference.output_of
        if output_of is not None and output_of in known_ops:
            continue
        if name in TEMPLATE_NAMES:
            problems.append(
                f"operation '{operation.name}' references {reference.text}, a template parameter "
                "with no value here (templates are filled by `pop template run`)"
            )
        elif output_of is not None:
            problems.append(
                f"operation '{operation.name}' references {reference.text} "
                f"but the agenda has no operation '{output_of}'"
            )
        else:
            problems.append(
                f"operation '{operation.name}' references {reference.text}, which names neither "
                "an operation output (<op>.out) nor pop.agendaId, pop.operationName, pop.workDir"
            )
    for name in operation.depends_on():
        if name not in known_ops:
            problems.append(
                f"operation '{operation.name}' has dependsOn '{name}' "
                "but the agenda has no such operation"
            )
    return problems


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first walk, each once, as [a, b, ..., a]."""
    cycles: list[list[str]] = []
    seen_members: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for successor in graph.get(node, ()):
            if successor not in graph:
                continue
            if state.get(successor) == 1:
                cycle = [*stack[stack.index(successor) :], successor]
                key = frozenset(cycle)
                if key not in seen_members:
                    seen_members.add(key)
                    cycles.append(cycle)
            elif successor not in state:
                visit(successor)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return cycles


def validate_agenda(
    agenda: AgendaLike,
    *,
    known_types: Iterable[str] | None = None,
    check_payload: Callable[[OperationLike], list[str]] | None = None,
) -> None:
    """Raise AgendaValidationError listing every problem of a submitted agenda."""
    problems: list[str] = []
    if not agenda.operations:
        raise AgendaValidationError(["the agenda has no operations"])
    types = set(known_types) if known_types is not None else None
    by_folded: dict[str, str] = {}
    names: set[str] = set()
    for index, operation in enumerate(agenda.operations, start=1):
        name = operation.name
        if name is None or not str(name).strip():
            problems.append(f"operation #{index} has no name")
            continue
        folded = name.casefold()
        if folded in by_folded:
            problems.append(
                f"operations '{by_folded[folded]}' and '{name}' have the same name "
                "(names are unique case-insensitively)"
            )
        else:
            by_folded[folded] = name
        names.add(name)
        if not operation.type:
            problems.append(f"operation '{name}' has no type")
        elif types is not None and operation.type not in types:
            problems.append(f"operation '{name}' has unknown type '{operation.type}'")
    for operation in agenda.operations:
        if operation.name:
            problems.extend(_reference_problems(operation, names))
            if check_payload is not None and (types is None or operation.type in types):
                problems.extend(check_payload(operation))
    graph = {op.name: dependencies_of(op) for op in agenda.operations if op.name}
    for cycle in find_cycles(graph):
        if len(cycle) == 2:
            problems.append(f"operation '{cycle[0]}' depends on itself")
        else:
            problems.append("dependency cycle: " + " -> ".join(cycle))
    if problems:
        raise AgendaValidationError(problems)


def describe_blocked(
    pending: Iterable[Operation], succeeded: set[str], known: set[str]
) -> list[str]:
    """For a deadlock report: each blocked op and the names it still waits for."""
    lines = []
    for operation in pending:
        waiting = [name for name in dependencies_of(operation) if name not in succeeded]
        parts = []
        for name in waiting:
            parts.append(name if name in known else f"{name} (no such operation)")
        lines.append(f"{operation.name} waits for {', '.join(parts) or 'nothing'}")
    return lines


def deadlock_diagnostic(
    pending: Iterable[Operation], succeeded: set[str], known: set[str]
) -> DiagnosticEvent:
    """The agenda diagnostic of a deadlock: every blocked op and what it waits for."""
    from pop.models import DiagnosticEvent

    blocked = describe_blocked(pending, succeeded, known)
    return DiagnosticEvent.of(
        "agenda deadlock: operations are pending but none can become ready: " + "; ".join(blocked),
        payload=blocked,
    )


def unresolved_problem(operation_name: str, resolution: refs.Resolution) -> str | None:
    """Why a ready op's payload cannot be used (invalid or still-missing references), or None."""
    if resolution.invalid:
        return f"operation '{operation_name}' has invalid references: " + ", ".join(
            resolution.invalid
        )
    if resolution.missing:
        return (
            f"operation '{operation_name}': all dependencies completed but references are "
            "still unresolved: " + ", ".join(resolution.missing)
        )
    return None
