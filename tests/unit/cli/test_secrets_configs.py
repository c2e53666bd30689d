"""`shoal secret ...` and `shoal config ...` against the fake daemon."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import grpc
import pytest

from shoal.cli import render

from .conftest import Run
from .fake_daemon import T0, FakeState, meta


@pytest.fixture(autouse=True)
def _now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "now", lambda: T0 + 5 * 60 + 2)


def test_create_from_a_file_prints_the_id(run: Run, state: FakeState, tmp_path: Path) -> None:
    (tmp_path / "pw").write_bytes(b"hunter2")
    result = run("secret", "create", "-l", "env=prod", "db_pw", str(tmp_path / "pw"))
    assert result.exit_code == 0, result.stderr
    (request,) = state.calls("CreateSecret")
    assert result.stdout == f"{next(iter(state.secrets))}\n"
    assert (request.spec.name, request.spec.data) == ("db_pw", b"hunter2")
    assert dict(request.spec.labels) == {"env": "prod"}


def test_create_from_stdin(run: Run, state: FakeState) -> None:
    result = run("secret", "create", "token", "-", input=b"s3cret\n")
    assert result.exit_code == 0, result.stderr
    assert state.calls("CreateSecret")[0].spec.data == b"s3cret\n"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["x"], None, "Error: secret file is required\n"),
        (["x", "-"], b"", "Error: error reading from STDIN: data is empty\n"),
        (
            ["x", "/no/such/file"],
            None,
            "Error: error reading from /no/such/file: open /no/such/file: "
            "no such file or directory\n",
        ),
    ],
)
def test_create_without_data_fails(
    run: Run, state: FakeState, args: list[str], stdin: bytes | None, message: str
) -> None:
    result = run("secret", "create", *args, input=stdin)
    assert (result.exit_code, result.stderr) == (1, message)
    assert state.calls("CreateSecret") == []


def test_create_passes_the_daemons_size_limit_message(run: Run, state: FakeState) -> None:
    message = "secret data must be larger than 0 and less than 500 KB"
    state.failures["CreateSecret"] = (grpc.StatusCode.INVALID_ARGUMENT, message)
    result = run("secret", "create", "big", "-", input=b"x" * (600 * 1024))
    assert (result.exit_code, result.stderr) == (1, f"Error: {message}\n")
    assert len(state.calls("CreateSecret")[0].spec.data) == 600 * 1024


def _secrets(run: Run) -> None:
    for name in ("b10", "b2", "a"):
        assert run("secret", "create", name, "-", input=b"data").exit_code == 0


def test_ls_table_quiet_and_json(run: Run, state: FakeState) -> None:
    _secrets(run)
    ids = {s.spec.name: s.id for s in state.secrets.values()}
    table = run("secret", "ls").stdout
    assert table == (
        "ID                          NAME      DRIVER    CREATED         UPDATED\n"
        f"{ids['a']}   a                   5 minutes ago   5 minutes ago\n"
        f"{ids['b2']}   b2                  5 minutes ago   5 minutes ago\n"
        f"{ids['b10']}   b10                 5 minutes ago   5 minutes ago\n"
    )
    assert run("secret", "ls", "-q").stdout.split() == [ids["a"], ids["b2"], ids["b10"]]
    rows = json.loads(run("secret", "ls", "--format", "json").stdout)
    assert set(rows[0]) >= {"ID", "Name", "Driver", "CreatedAt", "UpdatedAt"}
    assert rows[0]["CreatedAt"] == "5 minutes ago"
    assert run("secret", "ls", "-q", "-f", "name=b").stdout.split() == [ids["b2"], ids["b10"]]


def test_empty_ls_prints_the_header(run: Run) -> None:
    assert run("secret", "ls").stdout == "ID        NAME      DRIVER    CREATED   UPDATED\n"
    assert run("config", "ls").stdout == "ID        NAME      CREATED   UPDATED\n"


def test_secret_inspect_never_shows_data(run: Run, state: FakeState) -> None:
    _secrets(run)
    (secret,) = json.loads(run("secret", "inspect", "a").stdout)
    assert set(secret) == {"ID", "Version", "CreatedAt", "UpdatedAt", "Spec"}
    assert secret["Spec"] == {"Name": "a", "Labels": {}}
    assert secret["Version"] == {"Index": 1}


def test_rm_prints_names_removed_and_fails_for_the_rest(run: Run, state: FakeState) -> None:
    _secrets(run)
    state.ref_failures["RemoveSecret"] = {
        "b2": (
            grpc.StatusCode.FAILED_PRECONDITION,
            "secret 'b2' is in use by the following service: web",
        )
    }
    result = run("secret", "rm", "a", "b2", "zz", "b10")
    assert result.exit_code == 1
    assert result.stdout == "a\nb10\n"
    assert result.stderr == (
        "Error: secret 'b2' is in use by the following service: web\nError: secret zz not found\n"
    )


def test_config_create_inspect_and_ls(run: Run, state: FakeState, tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_bytes(b"server {}\n")
    created = run("config", "create", "--label", "app=web", "nginx", str(tmp_path / "nginx.conf"))
    assert created.exit_code == 0, created.stderr
    (config,) = json.loads(run("config", "inspect", "nginx").stdout)
    assert config["Spec"] == {
        "Name": "nginx",
        "Labels": {"app": "web"},
        "Data": base64.b64encode(b"server {}\n").decode(),
    }
    config_id = created.stdout.strip()
    assert run("config", "ls").stdout == (
        "ID                          NAME      CREATED         UPDATED\n"
        f"{config_id}   nginx     5 minutes ago   5 minutes ago\n"
    )
    pretty = run("config", "inspect", "--pretty", "nginx").stdout
    assert pretty.endswith("Data:\nserver {}\n\n")
    assert " - app=web\n" in pretty


def test_config_create_needs_a_file_argument(run: Run) -> None:
    result = run("config", "create", "nginx")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_humanised_times(state: FakeState) -> None:
    from proto import objects_pb2

    secret = objects_pb2.Secret(id="x", meta=meta(1, created=T0 - 3 * 86400))
    assert render.secret_row(secret, T0)["CreatedAt"] == "3 days ago"
