"""Executors: how a worker runs its tasks. `base` has the protocols and a fake; `docker` runs
containers on the local engine; `container_config` maps a task spec to Docker's create body."""

from __future__ import annotations

from worker.executor.base import (
    ContainerState,
    Controller,
    Dependencies,
    DependencyNotFound,
    Executor,
    ExecutorError,
    ExitError,
    FakeBehaviour,
    FakeController,
    FakeExecutor,
    ImageNotFound,
    MemoryDependencies,
    TaskPrepared,
    TaskStarted,
    TemporaryError,
    UnhealthyError,
)

__all__ = [
    "ContainerState",
    "Controller",
    "Dependencies",
    "DependencyNotFound",
    "Executor",
    "ExecutorError",
    "ExitError",
    "FakeBehaviour",
    "FakeController",
    "FakeExecutor",
    "ImageNotFound",
    "MemoryDependencies",
    "TaskPrepared",
    "TaskStarted",
    "TemporaryError",
    "UnhealthyError",
]
