"""Secret and config files: where they are written, with what owner and mode, where they are
mounted, and that they go away with the task. The tmpfs mount and chown are faked here (no
root); the integration tests use the real ones."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from manager.store import Task, TaskSpec
from manager.store.specs import ConfigReference, ContainerSpec, FileTarget, SecretReference
from worker.executor import DependencyNotFound, MemoryDependencies
from worker.secrets import SecretFiles, SecretsError, config_target, is_tmpfs, secret_target


def make_task(
    *, secrets: tuple[SecretReference, ...] = (), configs: tuple[ConfigReference, ...] = ()
) -> Task:
    spec = ContainerSpec(image="b", secrets=secrets, configs=configs)
    return Task(id="t1", spec=TaskSpec(container=spec))


class Recorder:
    def __init__(self) -> None:
        self.tmpfs: list[Path] = []
        self.chowns: list[tuple[str, int, int]] = []

    def ensure(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.tmpfs.append(path)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self.chowns.append((Path(path).name, uid, gid))


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def files(tmp_path: Path, rec: Recorder, deps: MemoryDependencies) -> SecretFiles:
    return SecretFiles(tmp_path / "secrets", deps, ensure_tmpfs=rec.ensure, chown=rec.chown)


@pytest.mark.parametrize(
    ("target", "name", "expected"),
    [
        ("", "pw", "/run/secrets/pw"),
        ("db/pw", "pw", "/run/secrets/db/pw"),
        ("/etc/pw", "pw", "/etc/pw"),
    ],
)
def test_secret_target(target: str, name: str, expected: str) -> None:
    assert secret_target(target, name) == expected


@pytest.mark.parametrize(
    ("target", "name", "expected"),
    [("", "app.conf", "/app.conf"), ("/etc/app.conf", "c", "/etc/app.conf")],
)
def test_config_target(target: str, name: str, expected: str) -> None:
    assert config_target(target, name) == expected


def test_writes_files_with_mode_and_owner(tmp_path: Path, rec: Recorder) -> None:
    deps = MemoryDependencies(secrets={"s1": b"hunter2"}, configs={"c1": b"port=80\n"})
    sf = files(tmp_path, rec, deps)
    task = make_task(
        secrets=(SecretReference("s1", "pw", FileTarget("", "1000", "1001", 0o400)),),
        configs=(ConfigReference("c1", "app.conf", FileTarget("/etc/app.conf")),),
    )
    mounts = sf.write(task)
    root = tmp_path / "secrets"
    assert [m.target for m in mounts] == ["/run/secrets/pw", "/etc/app.conf"]
    secret, config = (Path(m.source) for m in mounts)
    assert secret.parent == root / "t1/secrets" and secret.name.startswith("s1.")
    assert config.parent == root / "t1/configs" and config.name.startswith("c1.")
    assert secret.read_bytes() == b"hunter2"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o400
    assert stat.S_IMODE(config.stat().st_mode) == 0o444
    assert rec.chowns == [(f".{secret.name}.tmp", 1000, 1001), (f".{config.name}.tmp", 0, 0)]
    assert rec.tmpfs == [root]
    assert sf.write(task) == mounts  # idempotent (an agent restart writes them again)
    assert rec.tmpfs == [root]  # the tmpfs is ensured once
    sf.remove("t1")
    assert not (root / "t1").exists()
    sf.remove("t1")  # twice is fine


def test_task_without_secrets_touches_nothing(tmp_path: Path, rec: Recorder) -> None:
    assert files(tmp_path, rec, MemoryDependencies()).write(make_task()) == []
    assert rec.tmpfs == []


def test_missing_secret_is_an_error(tmp_path: Path, rec: Recorder) -> None:
    sf = files(tmp_path, rec, MemoryDependencies())
    with pytest.raises(DependencyNotFound, match=r"secret pw \(s9\) not found"):
        sf.write(make_task(secrets=(SecretReference("s9", "pw"),)))


def test_non_numeric_owner_is_refused(tmp_path: Path, rec: Recorder) -> None:
    sf = files(tmp_path, rec, MemoryDependencies(secrets={"s1": b"x"}))
    with pytest.raises(SecretsError, match="must be numbers"):
        sf.write(make_task(secrets=(SecretReference("s1", "pw", FileTarget(uid="bob")),)))


def test_is_tmpfs_reads_the_mount_table(tmp_path: Path) -> None:
    table = tmp_path / "mounts"
    target = tmp_path / "sec ret"
    target.mkdir()
    escaped = str(target).replace(" ", "\\040")
    table.write_text(f"/dev/sda1 / ext4 rw 0 0\ntmpfs {escaped} tmpfs rw 0 0\n")
    assert is_tmpfs(target, table)
    table.write_text(f"tmpfs {escaped} tmpfs rw 0 0\n/dev/sdb {escaped} ext4 rw 0 0\n")
    assert not is_tmpfs(target, table)  # covered by a later mount
    assert not is_tmpfs(tmp_path, table)


def test_same_secret_twice_with_different_modes(tmp_path: Path, rec: Recorder) -> None:
    sf = files(tmp_path, rec, MemoryDependencies(secrets={"s1": b"x"}))
    task = make_task(
        secrets=(
            SecretReference("s1", "pw", FileTarget("a", mode=0o400)),
            SecretReference("s1", "pw", FileTarget("b", mode=0o444)),
        )
    )
    a, b = (Path(m.source) for m in sf.write(task))
    assert a != b
    assert (stat.S_IMODE(a.stat().st_mode), stat.S_IMODE(b.stat().st_mode)) == (0o400, 0o444)
