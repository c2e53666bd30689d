"""Packaging sanity: the console scripts import, and the committed proto modules are current."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTOS = sorted((ROOT / "proto").glob("*.proto"))


@pytest.mark.parametrize("name", ["shoal", "shoald", "shoal-lab"])
def test_console_script_entry_point_loads(name: str) -> None:
    (ep,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == name]
    assert callable(ep.load())


@pytest.mark.parametrize("name", ["shoal", "shoald", "shoal-lab"])
def test_unknown_command_prints_usage_and_exits_2(name: str) -> None:
    script = Path(sys.executable).parent / name
    run = subprocess.run([script, "no-such-command"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "Usage:" in run.stderr


def test_there_are_protos() -> None:
    assert PROTOS, "proto/ holds no .proto files"


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_committed_proto_module_matches_source(proto: Path, tmp_path: Path) -> None:
    # Compare descriptors rather than text so that a newer protoc's formatting is not "stale".
    out = tmp_path / "set.pb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            ROOT,
            f"--descriptor_set_out={out}",
            proto.relative_to(ROOT),
        ],
        check=True,
        cwd=ROOT,
    )
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    module = importlib.import_module(f"proto.{proto.stem}_pb2")
    committed = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    for message in fresh.message_type:  # protoc adds json_name only to --descriptor_set_out
        _clear_json_names(message)
    assert committed == fresh, f"{proto.name} changed: run scripts/gen-proto and commit the result"
    grpc_module = ROOT / "proto" / f"{proto.stem}_pb2_grpc.py"
    if fresh.service:
        assert grpc_module.exists(), f"run scripts/gen-proto: {grpc_module.name} is missing"
        for service in fresh.service:
            assert f"class {service.name}Stub" in grpc_module.read_text()


def _clear_json_names(message: descriptor_pb2.DescriptorProto) -> None:
    for f in message.field:
        f.ClearField("json_name")
    for nested in message.nested_type:
        _clear_json_names(nested)
