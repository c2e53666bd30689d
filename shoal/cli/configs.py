"""`shoal config create|inspect|ls|rm` (docker/cli cli/command/config)."""

from __future__ import annotations

from proto import objects_pb2

from . import render
from ._client import Daemon
from ._data_objects import DataObject, object_group

config = object_group(
    DataObject(
        name="config",
        create_help="Create a config from a file or STDIN",
        file_optional=False,
        spec=objects_pb2.ConfigSpec,
        create=Daemon.create_config,
        get=Daemon.get_config,
        list_all=Daemon.list_configs,
        remove=Daemon.remove_config,
        row=render.config_row,
        headers=render.CONFIG_HEADERS,
        table_format=render.CONFIG_TABLE,
        inspect=render.config_inspect,
        pretty=render.config_pretty,
    )
)
