"""Planning a batch (``pop batch``): which files, and for each a new, resumed or skipped agenda.

Layer: services. :func:`plan_batch` looks at the agendas already in the batch's link: one that
succeeded with the same file (size and modification time) and template is skipped; one that
failed or stopped is resumed (its succeeded ops kept); otherwise a new agenda is made from the
template. Every new agenda is filled and checked before any is stored, so a template that does
not fit one input stores nothing at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pop.engine.rerun import apply_rerun, plan_rerun
from pop.engine.submission import prepare, store_submission
from pop.engine.templates import expand_template
from pop.errors import InputError
from pop.models import Agenda, AgendaProgress, AgendaTemplate, ProcessingState
from pop.services.batch import NEW, RESUME, SKIPPED, BatchItem, BatchReport
from pop.store import Store
from pop.store.changes import AGENDA, Change


def plan_batch(
    store: Store,
    template: AgendaTemplate,
    inputs: Sequence[str | Path],
    *,
    glob: str | None,
    link_id: str | None,
    check: Callable[[Agenda], Agenda],
) -> BatchReport:
    """The batch's report with every item planned and its agenda stored (new) or reset
    (resumed); ``check`` validates a filled agenda (as ``pop submit`` would)."""
    fingerprint = template_fingerprint(template)
    link = link_id or f"batch-{fingerprint[:12]}"
    history = link_history(store, link)
    items = []
    for path in batch_inputs(inputs, glob):
        item = BatchItem(input=str(path), identity=input_identity(path, fingerprint))
        plan_item(item, history.get(str(path), []))
        items.append(item)
    agendas = {id(item): _agenda_for(template, item, check) for item in items if item.action == NEW}
    for item in items:
        if item.action == NEW:
            prepared, progress, operations = prepare(agendas[id(item)], link_id=link)
            with store.transaction():
                store_submission(store, prepared, progress, operations, queue=False)
                Change("batch").record(store.changes, AGENDA, prepared.id or "")
            item.agenda_id = prepared.id
        elif item.action == RESUME:
            current = store.progress.get(item.agenda_id or "", with_operations=False)
            if current is not None and current.processing_state == ProcessingState.COMPLETE:
                plan = plan_rerun(store.agendas.get(item.agenda_id or ""), keep=True)
                with store.transaction():
                    apply_rerun(store, item.agenda_id or "", plan, skip_execution=True)
                    Change("batch.resume").record(store.changes, AGENDA, item.agenda_id or "")
    return BatchReport(link_id=link, items=items)


def _agenda_for(
    template: AgendaTemplate, item: BatchItem, check: Callable[[Agenda], Agenda]
) -> Agenda:
    path = Path(item.input)
    agenda = expand_template(template, {"input": str(path), "name": path.stem}, strict=True)
    agenda.params = {**agenda.params, "externalId": str(path), "batch": item.identity}
    try:
        return check(agenda)
    except InputError as exc:
        raise InputError(f"{path}: {exc.message}", hint=exc.hint) from None


def batch_inputs(inputs: Sequence[str | Path], glob: str | None) -> list[Path]:
    """The files of a batch, absolute, each once, in the order given: files as named; in each
    directory (or the current one when no input is named) the files matching ``glob``."""
    if not inputs and glob is None:
        raise InputError("no input files", hint="name input files, or give --glob PATTERN")
    found: list[Path] = []
    for given in inputs or ["."]:
        path = Path(given).expanduser()
        if path.is_dir():
            if glob is None:
                raise InputError(
                    f"{given} is a directory", hint="give --glob '*.mp4' to pick files"
                )
            found.extend(sorted(p for p in path.glob(glob) if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"input file not found: {given}")
    if not found:
        raise InputError(f"no input files match {glob!r}")
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)


def template_fingerprint(template: AgendaTemplate) -> str:
    """A short hash of what the template would build (its agenda and static parameters)."""
    document = template.to_wire()
    stable = {key: document.get(key) for key in ("agenda", "staticParameters")}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_identity(path: Path, template: str) -> dict[str, Any]:
    """What ``params.batch`` records for one input: path, size, mtime and template."""
    stat = path.stat()
    return {
        "input": str(path),
        "size": stat.st_size,
        "mtimeNs": stat.st_mtime_ns,
        "template": template,
    }


def plan_item(item: BatchItem, earlier: Sequence[tuple[AgendaProgress, dict[str, Any]]]) -> None:
    """Decide ``item.action`` from the agendas of the link with the same input (oldest first):
    the newest one with the same file and template decides; none: a new agenda."""
    for progress, identity in reversed(earlier):
        if identity != item.identity:
            continue
        item.agenda_id = progress.agenda_id
        if progress.succeeded:
            item.action, item.state, item.percent = "skip", SKIPPED, 100.0
            item.message = "already succeeded"
        else:
            item.action = RESUME
        return
    item.action = NEW


def link_history(
    store: Store, link_id: str
) -> dict[str, list[tuple[AgendaProgress, dict[str, Any]]]]:
    """The agendas of a link that a batch made, by input path (oldest first)."""
    history: dict[str, list[tuple[AgendaProgress, dict[str, Any]]]] = {}
    for progress in store.progress.list(link_id=link_id, with_operations=False):
        agenda = store.agendas.get(progress.agenda_id or "")
        identity = agenda.params.get("batch")
        if isinstance(identity, dict) and isinstance(identity.get("input"), str):
            history.setdefault(identity["input"], []).append((progress, identity))
    return history
