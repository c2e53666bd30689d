"""Secrets and configs as files on a tmpfs the agent owns, never on the worker's disk.

    <data-dir>/secrets            tmpfs (mode 0700), mounted by the agent if it is not yet
      <task id>/secrets/<secret id>.<target digest>   uid, gid, mode from the reference
      <task id>/configs/<config id>.<target digest>

Each file is bind-mounted read-only into the task's container: a secret at
/run/secrets/<target> (target defaults to the secret's name), a config at /<target>; an
absolute target is used as given. A task's files go when the task is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from manager.store import Task
from manager.store.specs import FileTarget
from worker.executor.base import Dependencies, DependencyNotFound, ExecutorError
from worker.executor.container_config import FileMount

SECRETS_DIR = "/run/secrets"


class SecretsError(ExecutorError):
    """The secrets tmpfs could not be set up, or a reference cannot be honoured."""


def secret_target(ref_target: str, name: str) -> str:
    target = ref_target or name
    return target if target.startswith("/") else posixpath.join(SECRETS_DIR, target)


def config_target(ref_target: str, name: str) -> str:
    target = ref_target or name
    return target if target.startswith("/") else "/" + target


def is_tmpfs(path: Path, mounts_file: Path = Path("/proc/self/mounts")) -> bool:
    """Whether `path` itself is the mount point of a tmpfs."""
    want = os.path.realpath(path)
    found = ""
    for line in mounts_file.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and _unescape(fields[1]) == want:
            found = fields[2]  # the last mount on a path is the visible one
    return found == "tmpfs"


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")


def mount_tmpfs(path: Path) -> None:
    """Mount a fresh tmpfs at `path` (needs root), unless one is there already."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if is_tmpfs(path):
        return
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0700,nodev,nosuid,noexec", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SecretsError(
            f"cannot mount a tmpfs for secrets at {path}: {result.stderr.strip()}; "
            "shoald needs root (CAP_SYS_ADMIN) to keep secrets off the disk"
        )
    if not is_tmpfs(path):
        raise SecretsError(f"{path} is not a tmpfs after mounting one; refusing to write secrets")


class SecretFiles:
    """Writes a task's secrets and configs under `root` (a tmpfs) and says where to mount them.

    `ensure_tmpfs` and `chown` are injectable so unit tests run without root.
    """

    def __init__(
        self,
        root: Path,
        dependencies: Dependencies,
        *,
        ensure_tmpfs: Callable[[Path], None] = mount_tmpfs,
        chown: Callable[[str, int, int], None] = os.chown,
    ) -> None:
        self.root = root
        self._deps = dependencies
        self._ensure_tmpfs = ensure_tmpfs
        self._chown = chown
        self._ready = False

    def task_dir(self, task_id: str) -> Path:
        return self.root / task_id

    def write(self, task: Task) -> list[FileMount]:
        """Write `task`'s files (again: this is idempotent) and return their bind mounts."""
        spec = task.spec.container
        if not spec.secrets and not spec.configs:
            return []
        if not self._ready:
            self._ensure_tmpfs(self.root)
            self._ready = True
        mounts: list[FileMount] = []
        for s in spec.secrets:
            data = self._deps.secret(s.secret_id)
            if data is None:
                raise DependencyNotFound(f"secret {s.secret_name} ({s.secret_id}) not found")
            target = secret_target(s.file.name, s.secret_name)
            path = self._write(task.id, "secrets", s.secret_id, target, data, s.file)
            mounts.append(FileMount(str(path), target))
        for c in spec.configs:
            data = self._deps.config(c.config_id)
            if data is None:
                raise DependencyNotFound(f"config {c.config_name} ({c.config_id}) not found")
            target = config_target(c.file.name, c.config_name)
            path = self._write(task.id, "configs", c.config_id, target, data, c.file)
            mounts.append(FileMount(str(path), target))
        return mounts

    def remove(self, task_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.task_dir(task_id))

    def _write(
        self, task_id: str, kind: str, obj_id: str, target: str, data: bytes, file: FileTarget
    ) -> Path:
        uid, gid = _owner(file, target)
        directory = self.task_dir(task_id) / kind
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # One file per reference: the same secret may be mounted twice with different modes.
        name = f"{obj_id}.{hashlib.sha256(target.encode()).hexdigest()[:12]}"
        path = directory / name
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, data)
            os.fchmod(fd, file.mode & 0o7777)
        finally:
            os.close(fd)
        self._chown(str(tmp), uid, gid)
        os.replace(tmp, path)
        return path


def _owner(file: FileTarget, name: str) -> tuple[int, int]:
    try:
        return int(file.uid or "0"), int(file.gid or "0")
    except ValueError:
        raise SecretsError(
            f"{name}: uid {file.uid!r} and gid {file.gid!r} must be numbers"
        ) from None
