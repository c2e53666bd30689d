"""Hypothesis: whatever happens to nodes and tasks, once things settle the cluster is right.

After stabilize (every reconciler to a fixpoint, the fake scheduler/agents run, restart delays
elapsed): running tasks per replicated service == replicas (when some node can take them), one
per eligible node for global services, none on drained or Down nodes, and no slot restarted
more often than its restart policy allows.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from manager.store import Node, NodeAvailability, NodeState, Task, TaskState
from tests.unit.orchestrator.interaction import Env

NODES = ["n1", "n2", "n3", "n4"]
OPS = st.one_of(
    st.tuples(
        st.sampled_from(["drain-node", "activate-node", "node-down", "node-up"]),
        st.sampled_from(NODES),
    ),
    st.tuples(st.just("scale web"), st.integers(0, 5).map(str)),
    st.tuples(
        st.sampled_from(["fail-task", "complete-task"]),
        st.sampled_from(["web.1", "web.2", "web.3", "capped.1", "agent.n1", "agent.n2"]),
    ),
    st.tuples(st.just("tick"), st.sampled_from(["1", "6"])),
    st.tuples(st.just("stabilize"), st.just("")),
)


def settle(env: Env) -> None:
    for _ in range(5):
        env.cmd_stabilize()
        env.cmd_tick("6")
    env.cmd_stabilize()


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=25))
def test_converges(ops: list[tuple[str, str]]) -> None:
    env = Env()
    for n in NODES:
        env.cmd_add_node(n)
    env.run("create-service web replicas=3")
    env.run("create-service agent mode=global")
    env.run("create-service capped replicas=1 restart=on-failure max-attempts=2 delay=0")
    for op, arg in ops:
        try:
            env.run(f"{op} {arg}".strip())
        except Exception as e:  # a task named in a fail-task may not be live right now
            if "live tasks named" not in str(e):
                raise
    settle(env)

    view = env.store.view()
    nodes = {n.id: n for n in view.all(Node)}
    eligible = {
        n.id
        for n in nodes.values()
        if n.status.state is NodeState.READY and n.spec.availability is NodeAvailability.ACTIVE
    }
    running = [t for t in view.all(Task) if t.status.state == TaskState.RUNNING]
    for t in running:
        node = nodes[t.node_id]
        # a Down node cannot report: its tasks still show RUNNING, but are told to stop
        if node.status.state is NodeState.DOWN:
            assert t.desired_state > TaskState.RUNNING, t
        else:
            assert node.spec.availability is not NodeAvailability.DRAIN, t
    live = [t for t in running if nodes[t.node_id].status.state is NodeState.READY]

    web = env.service("web")
    replicas = web.spec.mode.replicas  # type: ignore[union-attr]
    web_live = [t for t in live if t.service_id == "web" and t.desired_state == TaskState.RUNNING]
    # web restarts on any exit without limit: it always converges to its replica count
    assert len(web_live) == (replicas if eligible else 0)
    assert len({t.slot for t in web_live}) == len(web_live)

    agent_nodes = sorted(
        t.node_id for t in live if t.service_id == "agent" and t.desired_state == TaskState.RUNNING
    )
    assert agent_nodes == sorted(eligible)

    capped_tasks = [t for t in view.all(Task) if t.service_id == "capped"]
    capped_live = [t for t in capped_tasks if t.desired_state <= TaskState.RUNNING]
    assert len(capped_live) <= 1
    # a task that follows a FAILED one in the slot is a restart: at most max-attempts (2)
    ordered = sorted(capped_tasks, key=lambda t: int(t.id[1:]))
    restarts = sum(
        1 for prev, _ in itertools.pairwise(ordered) if prev.status.state == TaskState.FAILED
    )
    assert restarts <= 2, [(t.id, t.status.state.name) for t in ordered]
