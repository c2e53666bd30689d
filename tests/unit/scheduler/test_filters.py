"""Each filter: does it apply, check (table), explain (singular and plural); the pipeline's
order and explanation."""

from __future__ import annotations

import pytest

from manager.scheduler import (
    ConstraintFilter,
    CPUFilter,
    Filter,
    HostPortFilter,
    MaxReplicasFilter,
    MemoryFilter,
    NodeInfo,
    Pipeline,
    PlatformFilter,
    ReadyFilter,
    no_suitable_node,
)
from manager.store import (
    Node,
    NodeAvailability,
    NodeState,
    Placement,
    Platform,
    Task,
    TaskSpec,
    TaskState,
)
from tests.unit.scheduler.helpers import GB, host_port, node, running, spec, task

WEB = task("t", task_spec=spec(cpus=1, memory=2 * GB))


def info(n: Node, *tasks: Task) -> NodeInfo:
    return NodeInfo.of(n, tasks)


@pytest.mark.parametrize(
    ("f", "t", "n", "ok"),
    [
        (ReadyFilter(), WEB, info(node("n")), True),
        (ReadyFilter(), WEB, info(node("n", state=NodeState.DOWN)), False),
        (ReadyFilter(), WEB, info(node("n", state=NodeState.UNKNOWN)), False),
        (ReadyFilter(), WEB, info(node("n", state=NodeState.DISCONNECTED)), False),
        (ReadyFilter(), WEB, info(node("n", availability=NodeAvailability.DRAIN)), False),
        (ReadyFilter(), WEB, info(node("n", availability=NodeAvailability.PAUSE)), False),
        (MemoryFilter(), WEB, info(node("n", memory=2 * GB)), True),
        (MemoryFilter(), WEB, info(node("n", memory=2 * GB - 1)), False),
        (
            MemoryFilter(),
            WEB,
            info(node("n", memory=4 * GB), running("o", "n", task_spec=spec(memory=3 * GB))),
            False,
        ),
        (
            # a task being shut down still holds its reservation until it is terminal
            MemoryFilter(),
            WEB,
            info(
                node("n", memory=4 * GB),
                running("o", "n", task_spec=spec(memory=3 * GB), desired=TaskState.SHUTDOWN),
            ),
            False,
        ),
        (CPUFilter(), WEB, info(node("n", cpus=1)), True),
        (CPUFilter(), WEB, info(node("n", cpus=0.5)), False),
        (
            CPUFilter(),
            WEB,
            info(node("n", cpus=2), running("o", "n", task_spec=spec(cpus=1.5))),
            False,
        ),
        (
            MaxReplicasFilter(),
            task("t", task_spec=spec(max_replicas=2)),
            info(node("n"), running("a", "n")),
            True,
        ),
        (
            MaxReplicasFilter(),
            task("t", task_spec=spec(max_replicas=2)),
            info(node("n"), running("a", "n"), running("b", "n")),
            False,
        ),
        (
            # other services' tasks and tasks being shut down do not count
            MaxReplicasFilter(),
            task("t", task_spec=spec(max_replicas=1)),
            info(
                node("n"), running("a", "n", "other"), running("b", "n", desired=TaskState.SHUTDOWN)
            ),
            True,
        ),
        (
            ConstraintFilter(),
            task("t", task_spec=spec(constraints=("node.labels.zone==a",))),
            info(node("n", labels={"zone": "a"})),
            True,
        ),
        (
            ConstraintFilter(),
            task("t", task_spec=spec(constraints=("node.labels.zone==a", "node.role==manager"))),
            info(node("n", labels={"zone": "a"})),
            False,
        ),
        (
            ConstraintFilter(),
            task("t", task_spec=spec(constraints=("node.nope==a",))),
            info(node("n")),
            False,
        ),
        (HostPortFilter(), task("t", endpoint=host_port(8080)), info(node("n")), True),
        (
            HostPortFilter(),
            task("t", endpoint=host_port(8080)),
            info(node("n"), running("o", "n", "other", endpoint=host_port(8080))),
            False,
        ),
        (
            HostPortFilter(),
            task("t", endpoint=host_port(8080)),
            info(node("n"), running("o", "n", "other", endpoint=host_port(8081))),
            True,
        ),
    ],
)
def test_check(f: Filter, t: Task, n: NodeInfo, ok: bool) -> None:
    assert f.applies(t)
    assert f.check(t, n) is ok


def _platform_task(*platforms: Platform) -> Task:
    return task("t", task_spec=TaskSpec(placement=Placement(platforms=platforms)))


@pytest.mark.parametrize(
    ("platforms", "os", "arch", "ok"),
    [
        ((Platform("amd64", "linux"),), "linux", "x86_64", True),
        ((Platform("arm64", "linux"),), "linux", "aarch64", True),
        ((Platform("arm64", "linux"),), "linux", "x86_64", False),
        ((Platform("amd64", "windows"),), "linux", "x86_64", False),
        ((Platform("arm64", "linux"), Platform("amd64", "linux")), "linux", "x86_64", True),
        ((Platform("", "linux"),), "linux", "riscv64", True),
    ],
)
def test_platform(platforms: tuple[Platform, ...], os: str, arch: str, ok: bool) -> None:
    t = _platform_task(*platforms)
    assert PlatformFilter().check(t, info(node("n", os=os, arch=arch))) is ok


@pytest.mark.parametrize(
    ("f", "t"),
    [
        (MemoryFilter(), task("t")),
        (CPUFilter(), task("t")),
        (MaxReplicasFilter(), task("t")),
        (PlatformFilter(), task("t")),
        (ConstraintFilter(), task("t")),
        (HostPortFilter(), task("t")),
        # a dynamic host port (published 0) is picked by the engine: never a conflict
        (HostPortFilter(), task("t", endpoint=host_port(0))),
    ],
)
def test_filters_with_nothing_to_check_do_not_apply(f: Filter, t: Task) -> None:
    assert not f.applies(t)


@pytest.mark.parametrize(
    ("f", "one", "many"),
    [
        (
            ReadyFilter(),
            "1 node not available for new tasks",
            "3 nodes not available for new tasks",
        ),
        (MemoryFilter(), "1 node has insufficient memory", "3 nodes have insufficient memory"),
        (CPUFilter(), "1 node has insufficient CPU", "3 nodes have insufficient CPU"),
        (
            MaxReplicasFilter(),
            "max replicas per node reached on 1 node",
            "max replicas per node reached on 3 nodes",
        ),
        (PlatformFilter(), "unsupported platform on 1 node", "unsupported platform on 3 nodes"),
        (
            ConstraintFilter(),
            "scheduling constraints not satisfied on 1 node",
            "scheduling constraints not satisfied on 3 nodes",
        ),
        (
            HostPortFilter(),
            "host-mode port already in use on 1 node",
            "host-mode port already in use on 3 nodes",
        ),
    ],
)
def test_explain(f: Filter, one: str, many: str) -> None:
    assert f.explain(1) == one
    assert f.explain(3) == many


def test_pipeline_runs_the_cheapest_filters_first() -> None:
    names = [type(f).__name__ for f in Pipeline().filters]
    assert names == [
        "ReadyFilter",
        "MemoryFilter",
        "CPUFilter",
        "MaxReplicasFilter",
        "PlatformFilter",
        "ConstraintFilter",
        "HostPortFilter",
    ]


def test_checklist_keeps_only_the_filters_that_apply() -> None:
    checklist = Pipeline().checklist(task("t", task_spec=spec(memory=GB)))
    assert [type(f).__name__ for f in checklist.filters] == ["ReadyFilter", "MemoryFilter"]


def test_explanation_counts_each_node_once_under_its_first_refusal_most_frequent_first() -> None:
    t = task("t", task_spec=spec(memory=4 * GB, constraints=("node.labels.zone==a",)))
    infos = [
        info(node("n1", state=NodeState.DOWN)),
        info(node("n2", availability=NodeAvailability.DRAIN, memory=GB)),  # counted as not ready
        info(node("n3", availability=NodeAvailability.PAUSE)),
        info(node("n4", memory=GB, labels={"zone": "a"})),
        info(node("n5", labels={"zone": "b"})),
        info(node("n6", labels={"zone": "b"})),
        info(node("n7", labels={"zone": "a"})),  # fits: not counted
    ]
    assert Pipeline().checklist(t).explain(infos) == (
        "3 nodes not available for new tasks; "
        "scheduling constraints not satisfied on 2 nodes; "
        "1 node has insufficient memory"
    )
    assert no_suitable_node(Pipeline().checklist(t).explain(infos[:4])) == (
        "no suitable node (3 nodes not available for new tasks; 1 node has insufficient memory)"
    )
    assert no_suitable_node("") == "no suitable node"
