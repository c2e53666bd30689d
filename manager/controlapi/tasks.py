"""Tasks: what `service ps` and `node ps` read. Tasks are made by the orchestrators, never
by the Control API; the registry credentials they carry are never returned."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from manager.controlapi.refs import resolve
from manager.store import Store, Task, TaskState


def redact_task(task: Task) -> Task:
    container = task.spec.container
    if not container.registry_auth:
        return task
    spec = dataclasses.replace(
        task.spec, container=dataclasses.replace(container, registry_auth="")
    )
    return dataclasses.replace(task, spec=spec)


def list_tasks(
    store: Store,
    *,
    service_ids: Collection[str] = (),
    node_ids: Collection[str] = (),
    desired_states: Collection[TaskState] = (),
) -> list[Task]:
    """The tasks matching every non-empty filter (any value of a filter matches)."""
    view = store.view()
    if service_ids:
        found = [t for s in dict.fromkeys(service_ids) for t in view.tasks_by_service(s)]
    elif node_ids:
        found = [t for n in dict.fromkeys(node_ids) for t in view.tasks_by_node(n)]
    else:
        found = view.all(Task)
    return [
        redact_task(t)
        for t in found
        if (not node_ids or t.node_id in node_ids)
        and (not desired_states or t.desired_state in desired_states)
    ]


def get_task(store: Store, ref: str) -> Task:
    """By id or unique id prefix (tasks have no unique name)."""
    return redact_task(resolve("task", store.view().all(Task), ref, lambda t: ""))
