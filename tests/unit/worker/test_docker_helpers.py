"""The Docker executor's pure helpers: registry auth decoding and engine state mapping."""

from __future__ import annotations

import base64
import json

from worker.executor.docker import _state, decode_registry_auth


def test_decode_registry_auth() -> None:
    creds = {"username": "u", "password": "p", "serveraddress": "reg:5000"}
    encoded = base64.urlsafe_b64encode(json.dumps(creds).encode()).decode().rstrip("=")
    assert decode_registry_auth(encoded) == creds
    assert decode_registry_auth("") is None
    assert decode_registry_auth("!!not base64!!") is None


def test_state_from_inspect() -> None:
    info = {
        "Id": "abc",
        "State": {
            "Status": "running",
            "Pid": 12,
            "ExitCode": 0,
            "Error": "",
            "Health": {"Status": "healthy"},
        },
    }
    state = _state(info)
    assert (state.container_id, state.status, state.pid, state.health) == (
        "abc",
        "running",
        12,
        "healthy",
    )
    assert state.running and state.healthy is True
    exited = _state({"Id": "x", "State": {"Status": "exited", "ExitCode": 137}})
    assert not exited.running and exited.exit_code == 137 and exited.healthy is None
