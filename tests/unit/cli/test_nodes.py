"""`shoal node ...` against the fake daemon: docker's columns, JSON shapes and wording."""

from __future__ import annotations

import json
from pathlib import Path

import grpc

from .conftest import Run
from .fake_daemon import NODE1, NODE2, NODE10, FakeState

NODE_LS = (Path(__file__).parent / "testdata" / "node-ls.golden").read_text()


def test_ls_prints_dockers_table_sorted_naturally_with_self_marked(run: Run) -> None:
    result = run("node", "ls")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == NODE_LS


def test_ls_quiet_prints_only_ids(run: Run) -> None:
    result = run("node", "ls", "-q")
    assert result.stdout.split() == [NODE1, NODE2, NODE10]
    assert run("node", "list", "-q").stdout == result.stdout


def test_ls_format_json_is_one_array_of_docker_rows(run: Run) -> None:
    rows = json.loads(run("node", "ls", "--format", "json").stdout)
    assert rows[0] == {
        "ID": NODE1,
        "Self": True,
        "Hostname": "node1",
        "Status": "Ready",
        "Availability": "Active",
        "ManagerStatus": "Leader",
        "EngineVersion": "27.3.1",
    }
    assert [r["Self"] for r in rows] == [True, False, False]
    assert rows[2]["ManagerStatus"] == ""


def test_ls_template_format(run: Run) -> None:
    result = run("node", "ls", "--format", "{{.Hostname}} {{.Status}}")
    assert result.stdout == "node1 Ready\nnode2 Ready\nnode10 Down\n"


def test_ls_filters_by_role_and_name(run: Run) -> None:
    assert run("node", "ls", "-q", "-f", "role=worker").stdout.split() == [NODE10]
    managers = run("node", "ls", "-q", "--filter", "role=manager", "-f", "name=node2")
    assert managers.stdout.split() == [NODE2]
    assert run("node", "ls", "-q", "-f", "id=node1").stdout.split() == [NODE1, NODE10]


def test_ls_rejects_unknown_and_malformed_filters(run: Run) -> None:
    unknown = run("node", "ls", "-f", "colour=red")
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: invalid filter 'colour'\n")
    bad_role = run("node", "ls", "-f", "role=boss")
    assert bad_role.stderr == "Error: invalid role filter: 'boss'\n"
    malformed = run("node", "ls", "-f", "role")
    assert malformed.exit_code == 2
    assert "bad format of filter (expected name=value)" in malformed.stderr


def test_inspect_self_prints_the_docker_api_shape(run: Run) -> None:
    result = run("node", "inspect", "self")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith('[\n    {\n        "ID"')
    (node,) = json.loads(result.stdout)
    assert node["ID"] == NODE1
    assert node["Version"] == {"Index": 7}
    assert node["CreatedAt"] == "2023-11-14T22:13:20Z"
    assert node["Spec"] == {"Labels": {"zone": "a"}, "Role": "manager", "Availability": "active"}
    assert node["Description"] == {
        "Hostname": "node1",
        "Platform": {"Architecture": "x86_64", "OS": "linux"},
        "Resources": {"NanoCPUs": 4_000_000_000, "MemoryBytes": 8_201_543_680},
        "Engine": {"EngineVersion": "27.3.1", "Labels": {}},
    }
    assert node["Status"] == {"State": "ready", "Addr": "10.0.0.1"}
    assert node["ManagerStatus"] == {
        "Leader": True,
        "Reachability": "reachable",
        "Addr": "10.0.0.1:2377",
    }


def test_inspect_worker_has_no_manager_status_and_format_json_is_one_line(run: Run) -> None:
    result = run("node", "inspect", "--format", "json", "node10")
    assert result.stdout.count("\n") == 1
    assert "ManagerStatus" not in json.loads(result.stdout)


def test_inspect_template(run: Run) -> None:
    result = run("node", "inspect", "-f", "{{.Spec.Role}} {{json .Spec.Labels}}", "node2")
    assert result.stdout == 'manager {"zone":"a"}\n'


def test_inspect_pretty(run: Run) -> None:
    result = run("node", "inspect", "--pretty", "self")
    assert result.stdout == (
        f"ID:\t\t\t{NODE1}\n"
        "Labels:\n"
        " - zone=a\n"
        "Hostname:              \tnode1\n"
        "Joined at:             \t2023-11-14 22:13:20 +0000 utc\n"
        "Status:\n"
        " State:\t\t\tReady\n"
        " Availability:         \tActive\n"
        " Address:\t\t10.0.0.1\n"
        "Manager Status:\n"
        " Address:\t\t10.0.0.1:2377\n"
        " Raft Status:\t\tReachable\n"
        " Leader:\t\tYes\n"
        "Platform:\n"
        " Operating System:\tlinux\n"
        " Architecture:\t\tx86_64\n"
        "Resources:\n"
        " CPUs:\t\t\t4\n"
        " Memory:\t\t7.638GiB\n"
        "Engine Version:\t\t27.3.1\n"
    )


def test_inspect_prints_what_it_found_and_fails_for_the_rest(run: Run) -> None:
    result = run("node", "inspect", "node2", "nope")
    assert result.exit_code == 1
    assert [n["ID"] for n in json.loads(result.stdout)] == [NODE2]
    assert result.stderr == "Error: node nope not found\n"


def test_update_merges_flags_into_the_spec_read_and_sends_its_version(
    run: Run, state: FakeState
) -> None:
    result = run(
        "node", "update", "--availability", "drain", "--label-add", "disk=ssd",
        "--label-add", "gpu", "--label-rm", "zone", "node10",
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, "node10\n")
    (request,) = state.calls("UpdateNode")
    assert (request.ref, request.version) == (NODE10, 7)
    assert request.spec.availability == "drain"
    assert dict(request.spec.labels) == {"disk": "ssd", "gpu": ""}
    assert request.spec.role == "worker"


def test_update_label_rm_of_a_missing_key_fails(run: Run, state: FakeState) -> None:
    result = run("node", "update", "--label-rm", "nope", "node10")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: key nope doesn't exist in node's labels\n",
    )
    assert state.calls("UpdateNode") == []


def test_promote_and_demote_print_dockers_messages(run: Run, state: FakeState) -> None:
    promoted = run("node", "promote", "node10", "node1")
    assert promoted.stdout == (
        f"Node node10 promoted to a manager in the swarm.\nNode {NODE1} is already a manager.\n"
    )
    assert [r.spec.role for r in state.calls("UpdateNode")] == ["manager"]
    demoted = run("node", "demote", "node2")
    assert demoted.stdout == "Manager node2 demoted in the swarm.\n"
    assert state.calls("UpdateNode")[-1].spec.role == "worker"


def test_demote_passes_the_daemons_refusal_through(run: Run, state: FakeState) -> None:
    message = "attempting to demote the last manager of the swarm"
    state.failures["UpdateNode"] = (grpc.StatusCode.FAILED_PRECONDITION, message)
    result = run("node", "demote", "node1")
    assert (result.exit_code, result.stderr) == (1, f"Error: {message}\n")


def test_rm_continues_past_errors_and_exits_1(run: Run, state: FakeState) -> None:
    state.ref_failures["RemoveNode"] = {
        "node2": (grpc.StatusCode.FAILED_PRECONDITION, "node node2 is a cluster manager")
    }
    result = run("node", "rm", "--force", "node2", "node10")
    assert result.exit_code == 1
    assert result.stdout == "node10\n"
    assert result.stderr == "Error: node node2 is a cluster manager\n"
    assert [r.force for r in state.calls("RemoveNode")] == [True, True]
