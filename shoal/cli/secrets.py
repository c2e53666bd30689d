"""`shoal secret create|inspect|ls|rm` (docker/cli cli/command/secret)."""

from __future__ import annotations

from proto import objects_pb2

from . import render
from ._client import Daemon
from ._data_objects import DataObject, object_group

secret = object_group(
    DataObject(
        name="secret",
        create_help="Create a secret from a file or STDIN as content",
        file_optional=True,
        spec=objects_pb2.SecretSpec,
        create=Daemon.create_secret,
        get=Daemon.get_secret,
        list_all=Daemon.list_secrets,
        remove=Daemon.remove_secret,
        row=render.secret_row,
        headers=render.SECRET_HEADERS,
        table_format=render.SECRET_TABLE,
        inspect=render.secret_inspect,
        pretty=render.secret_pretty,
    )
)
