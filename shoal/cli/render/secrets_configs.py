"""Secrets and configs: `ls` rows, inspect JSON and `--pretty` text
(docker/cli cli/command/{secret,config}/formatter.go)."""

from __future__ import annotations

import base64

from proto import objects_pb2

from ._common import Row, _label_lines, _labels_csv, ago, go_time, pretty, rfc3339

SECRET_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "CreatedAt": "CREATED",
    "UpdatedAt": "UPDATED",
    "Labels": "LABELS",
}
CONFIG_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "CreatedAt": "CREATED",
    "UpdatedAt": "UPDATED",
    "Labels": "LABELS",
}
# docker's defaultSecretTableFormat and defaultConfigTableFormat, for format_rows
SECRET_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
CONFIG_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"


def secret_row(secret: objects_pb2.Secret, now: float) -> Row:
    return {
        "ID": secret.id,
        "Name": secret.spec.name,
        "Driver": "",
        "CreatedAt": ago(secret.meta.created_at, now),
        "UpdatedAt": ago(secret.meta.updated_at, now),
        "Labels": _labels_csv(secret.spec.labels),
    }


def config_row(config: objects_pb2.Config, now: float) -> Row:
    return {
        "ID": config.id,
        "Name": config.spec.name,
        "CreatedAt": ago(config.meta.created_at, now),
        "UpdatedAt": ago(config.meta.updated_at, now),
        "Labels": _labels_csv(config.spec.labels),
    }


def secret_inspect(secret: objects_pb2.Secret) -> Row:
    """A secret in the Docker API's shape; its data is never shown."""
    return {
        "ID": secret.id,
        "Version": {"Index": secret.meta.version},
        "CreatedAt": rfc3339(secret.meta.created_at),
        "UpdatedAt": rfc3339(secret.meta.updated_at),
        "Spec": {"Name": secret.spec.name, "Labels": dict(secret.spec.labels)},
    }


def config_inspect(config: objects_pb2.Config) -> Row:
    """A config in the Docker API's shape, Spec.Data base64 as Go's JSON encodes []byte."""
    return {
        "ID": config.id,
        "Version": {"Index": config.meta.version},
        "CreatedAt": rfc3339(config.meta.created_at),
        "UpdatedAt": rfc3339(config.meta.updated_at),
        "Spec": {
            "Name": config.spec.name,
            "Labels": dict(config.spec.labels),
            "Data": base64.b64encode(config.spec.data).decode(),
        },
    }


def secret_pretty(secret: objects_pb2.Secret) -> str:
    """`docker secret inspect --pretty` (secretInspectPrettyTemplate)."""
    lines = [f"ID:              {secret.id}", f"Name:              {secret.spec.name}"]
    lines += _label_lines("Labels:", secret.spec.labels)
    lines += [
        "Driver:            ",
        f"Created at:        {pretty(go_time(secret.meta.created_at))}",
        f"Updated at:        {pretty(go_time(secret.meta.updated_at))}",
    ]
    return "\n".join(lines) + "\n"


def config_pretty(config: objects_pb2.Config) -> str:
    """`docker config inspect --pretty` (configInspectPrettyTemplate)."""
    lines = [f"ID:\t\t\t{config.id}", f"Name:\t\t\t{config.spec.name}"]
    lines += _label_lines("Labels:", config.spec.labels)
    lines += [
        f"Created at:            \t{pretty(go_time(config.meta.created_at))}",
        f"Updated at:            \t{pretty(go_time(config.meta.updated_at))}",
        "Data:",
        config.spec.data.decode(errors="replace"),
    ]
    return "\n".join(lines) + "\n"
