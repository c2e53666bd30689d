"""Services: create, inspect, list, update (scale now, rolling updates later), remove.

    spec --validate_service_spec--> resolve secret/config/network names to ids --> store

Rules and messages follow swarmkit's manager/controlapi/service.go; an empty name gets a
random one, as Docker's daemon gives (`stoic_hopper`). Registry credentials
(`--with-registry-auth`) go in and never come back out, like Docker's API; an update without
them keeps the service's own. Removing a service deletes it: the task reaper then sets its
tasks' desired state to REMOVE and deletes them once no node runs them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta

from manager.controlapi._common import write
from manager.controlapi.errors import InvalidArgumentError, NotFoundError
from manager.controlapi.refs import resolve
from manager.scheduler import SchedulerError, validate_placement
from manager.store import (
    Config,
    ConfigReference,
    ContainerSpec,
    EndpointMode,
    GlobalJob,
    GlobalService,
    HealthConfig,
    MountType,
    Network,
    NetworkAttachmentConfig,
    PublishMode,
    ReadTx,
    ReplicatedJob,
    ReplicatedService,
    Resources,
    Secret,
    SecretReference,
    Service,
    ServiceSpec,
    Store,
    TaskSpec,
    UpdateConfig,
    WriteTx,
)

Entropy = Callable[[int], bytes]

MAX_NAME_LENGTH = 63  # a DNS label
# swarmkit's isValidDNSName
_DNS_NAME = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")
# distribution/reference, without the normalisation: [host[:port]/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])"
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
MIN_NANO_CPUS = 1_000_000  # 0.001 CPU
MIN_MEMORY_BYTES = 4 * 1024 * 1024

# A few of moby's namesgenerator words: enough for readable, rarely colliding names.
_ADJECTIVES = (
    "admiring", "bold", "brave", "clever", "dreamy", "eager", "festive", "gifted", "happy",
    "jolly", "keen", "loving", "modest", "nifty", "optimistic", "peaceful", "quirky", "relaxed",
    "serene", "stoic", "tender", "upbeat", "vibrant", "wizardly", "xenodochial", "youthful",
    "zealous", "amazing", "busy", "cool", "elegant", "focused",
)  # fmt: skip
_SURNAMES = (
    "albattani", "babbage", "curie", "darwin", "einstein", "feynman", "goldberg", "hopper",
    "johnson", "kepler", "lovelace", "meitner", "noether", "ptolemy", "ritchie", "shannon",
    "tesla", "turing", "volhard", "wozniak", "yalow", "zhukovsky", "archimedes", "bohr",
    "cerf", "dijkstra", "euclid", "fermat", "galileo", "hawking", "knuth", "lamport",
)  # fmt: skip


def random_name(entropy: Entropy) -> str:
    """moby's namesgenerator.GetRandomName(0) shape: adjective_surname."""
    a, b = entropy(2)
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_SURNAMES[b % len(_SURNAMES)]}"


def redact_service(service: Service) -> Service:
    """The service without registry credentials (spec and previous spec)."""
    previous = service.previous_spec
    return dataclasses.replace(
        service,
        spec=_without_auth(service.spec),
        previous_spec=None if previous is None else _without_auth(previous),
    )


def _without_auth(spec: ServiceSpec) -> ServiceSpec:
    container = spec.task_template.container
    if not container.registry_auth:
        return spec
    return _with_container(spec, dataclasses.replace(container, registry_auth=""))


def _with_container(spec: ServiceSpec, container: ContainerSpec) -> ServiceSpec:
    task = dataclasses.replace(spec.task_template, container=container)
    return dataclasses.replace(spec, task_template=task)


# -- the operations ----------------------------------------------------------------------------


async def create_service(store: Store, spec: ServiceSpec, *, entropy: Entropy) -> Service:
    """A new service; refuses an invalid spec, a taken name, a secret, config or network that
    does not exist. Nothing is written unless everything is valid."""
    if not spec.name:
        view = store.view()
        name = random_name(entropy)
        while view.get_by_name(Service, name) is not None:
            name = f"{random_name(entropy)}{entropy(1)[0] % 10}"
        spec = dataclasses.replace(spec, name=name)
    validate_service_spec(spec)

    def create(tx: WriteTx) -> Service:
        resolved = resolve_references(tx, spec)
        check_port_conflicts(tx, resolved, service_id="")
        return tx.create(Service(spec=resolved, spec_version=1))

    created = await write(store, create)
    return redact_service(store.view().get(Service, created.id) or created)


def get_service(store: Store, ref: str) -> Service:
    return redact_service(resolve_service(store.view(), ref))


def list_services(store: Store) -> list[Service]:
    return [redact_service(s) for s in store.view().all(Service)]


async def update_service(store: Store, ref: str, *, version: int, spec: ServiceSpec) -> Service:
    """Replace the service's spec (keeping the old one as previous_spec), based on the
    service `version` the caller read. The name and the mode's kind cannot change."""
    validate_service_spec(spec)

    def update(tx: WriteTx) -> Service:
        current = resolve_service(tx, ref)
        if spec.name != current.spec.name:
            raise InvalidArgumentError("renaming services is not supported")
        if type(spec.mode) is not type(current.spec.mode):
            raise InvalidArgumentError("service mode change is not allowed")
        new = resolve_references(tx, spec)
        if not new.task_template.container.registry_auth:
            kept = current.spec.task_template.container.registry_auth
            new = _with_container(
                new, dataclasses.replace(new.task_template.container, registry_auth=kept)
            )
        check_port_conflicts(tx, new, service_id=current.id)
        changed = dataclasses.replace(
            current,
            meta=dataclasses.replace(current.meta, version=version),
            spec=new,
            spec_version=current.spec_version + 1,
            previous_spec=current.spec,
            previous_spec_version=current.spec_version,
            update_status=None,
        )
        return tx.update(changed)

    updated = await write(store, update)
    return redact_service(store.view().get(Service, updated.id) or updated)


async def remove_service(store: Store, ref: str) -> None:
    """Delete the service; the task reaper shuts its tasks down and deletes them."""

    def remove(tx: WriteTx) -> None:
        tx.delete(Service, resolve_service(tx, ref).id)

    await write(store, remove)


def resolve_service(view: ReadTx, ref: str) -> Service:
    return resolve("service", view.all(Service), ref, lambda s: s.spec.name)


# -- validation (swarmkit's validateServiceSpec) -----------------------------------------------


def validate_service_spec(spec: ServiceSpec) -> None:
    """Raise InvalidArgumentError with swarmkit's message for the first problem found."""
    _validate_name(spec.name)
    _validate_mode(spec)
    _validate_task(spec.task_template)
    _validate_update("update", spec.update_config)
    _validate_update("rollback", spec.rollback_config)
    _validate_endpoint(spec)


def _validate_name(name: str) -> None:
    if not name:
        raise InvalidArgumentError("meta: name must be provided")
    if not _DNS_NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid name {name!r}: name must be valid as a DNS name component "
            "(letters, digits, '-' and '_' inside)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(f"invalid name {name!r}: name must be 63 characters or fewer")


def _validate_mode(spec: ServiceSpec) -> None:
    mode = spec.mode
    if isinstance(mode, ReplicatedService) and mode.replicas < 0:
        raise InvalidArgumentError("Number of replicas must be non-negative")
    if isinstance(mode, ReplicatedJob):
        if mode.max_concurrent < 0:
            raise InvalidArgumentError("Maximum concurrent jobs must not be negative")
        if mode.total_completions < 0:
            raise InvalidArgumentError("Total completed jobs must not be negative")
    if not isinstance(mode, ReplicatedService | GlobalService | ReplicatedJob | GlobalJob):
        raise InvalidArgumentError("Unrecognized service mode")


def _validate_task(task: TaskSpec) -> None:
    _validate_resources("limits", task.resources.limits)
    _validate_resources("reservations", task.resources.reservations)
    restart = task.restart_policy
    if restart.delay < timedelta(0):
        raise InvalidArgumentError("TaskSpec: restart-delay cannot be negative")
    if restart.window < timedelta(0):
        raise InvalidArgumentError("TaskSpec: restart-window cannot be negative")
    if restart.max_attempts < 0:
        raise InvalidArgumentError("TaskSpec: restart-max-attempts cannot be negative")
    if task.placement.max_replicas < 0:
        raise InvalidArgumentError("TaskSpec: max replicas per node cannot be negative")
    try:
        validate_placement(task.placement)
    except SchedulerError as e:
        raise InvalidArgumentError(str(e)) from None
    _validate_container(task.container)


def _validate_resources(kind: str, r: Resources) -> None:
    if r.nano_cpus < 0 or 0 < r.nano_cpus < MIN_NANO_CPUS:
        raise InvalidArgumentError(
            f"invalid cpu value {r.nano_cpus / 1e9:g}: Must be at least {MIN_NANO_CPUS / 1e9:g}"
        )
    if r.memory_bytes < 0 or 0 < r.memory_bytes < MIN_MEMORY_BYTES:
        raise InvalidArgumentError(f"invalid memory value {r.memory_bytes}: Must be at least 4MiB")
    if r.pids < 0:
        raise InvalidArgumentError(f"invalid pids {kind} {r.pids}: must not be negative")


def _validate_container(c: ContainerSpec) -> None:
    if not c.image:
        raise InvalidArgumentError("ContainerSpec: image reference must be provided")
    if not _REFERENCE.fullmatch(c.image):
        raise InvalidArgumentError(f"ContainerSpec: {c.image!r} is not a valid repository/tag")
    if c.stop_grace_period < timedelta(0):
        raise InvalidArgumentError("ContainerSpec: stop-grace-period cannot be negative")
    targets: set[str] = set()
    for m in c.mounts:
        if not m.target:
            raise InvalidArgumentError("ContainerSpec: mount target must be provided")
        if m.target in targets:
            raise InvalidArgumentError(f"ContainerSpec: duplicate mount point: {m.target}")
        targets.add(m.target)
        if m.type is MountType.BIND and not m.source.startswith("/"):
            raise InvalidArgumentError(
                f"ContainerSpec: invalid bind mount source {m.source!r}: "
                "source must be an absolute path on the node"
            )
        if m.type is MountType.TMPFS and m.source:
            raise InvalidArgumentError("ContainerSpec: tmpfs mounts take no source")
    if c.healthcheck is not None:
        _validate_healthcheck(c.healthcheck)


def _validate_healthcheck(h: HealthConfig) -> None:
    one_ms = timedelta(milliseconds=1)
    if h.interval != timedelta(0) and h.interval < one_ms:
        raise InvalidArgumentError(
            "ContainerSpec: Interval in HealthConfig cannot be less than 1ms"
        )
    if h.timeout != timedelta(0) and h.timeout < one_ms:
        raise InvalidArgumentError("ContainerSpec: Timeout in HealthConfig cannot be less than 1ms")
    if h.start_period < timedelta(0):
        raise InvalidArgumentError("ContainerSpec: StartPeriod in HealthConfig cannot be negative")
    if h.retries < 0:
        raise InvalidArgumentError("ContainerSpec: Retries in HealthConfig cannot be negative")


def _validate_update(kind: str, u: UpdateConfig) -> None:
    if u.parallelism < 0:
        raise InvalidArgumentError(f"TaskSpec: {kind}-parallelism cannot be negative")
    if u.delay < timedelta(0):
        raise InvalidArgumentError(f"TaskSpec: {kind}-delay cannot be negative")
    if u.monitor < timedelta(0):
        raise InvalidArgumentError(f"TaskSpec: {kind}-monitor cannot be negative")
    if not 0 <= u.max_failure_ratio <= 1:
        raise InvalidArgumentError(
            f"TaskSpec: {kind}-maxfailureratio cannot be less than 0 or bigger than 1"
        )


def _validate_endpoint(spec: ServiceSpec) -> None:
    endpoint = spec.endpoint_spec
    seen: set[tuple[int, str, str]] = set()
    for p in endpoint.ports:
        if not 0 < p.target_port <= 65535:
            raise InvalidArgumentError(f"EndpointSpec: invalid target port {p.target_port}")
        if not 0 <= p.published_port <= 65535:
            raise InvalidArgumentError(f"EndpointSpec: invalid published port {p.published_port}")
        if p.publish_mode is PublishMode.HOST and not p.published_port:
            # Docker lets the engine pick one; shoal's containers are in network mode none
            raise InvalidArgumentError(
                f"EndpointSpec: host-mode port {p.target_port} needs a published port: "
                f"use published=<port>,target={p.target_port},mode=host"
            )
        if p.publish_mode is PublishMode.INGRESS and endpoint.mode is EndpointMode.DNSRR:
            raise InvalidArgumentError(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
            )
        if p.published_port:
            key = (p.published_port, p.protocol.value, p.publish_mode.value)
            if key in seen:
                raise InvalidArgumentError("EndpointSpec: duplicate published ports provided")
            seen.add(key)


# -- what the spec refers to -------------------------------------------------------------------


def resolve_references(view: ReadTx, spec: ServiceSpec) -> ServiceSpec:
    """The spec with its secrets, configs and networks named by id and name, each secret and
    config with a target file; refuses those that do not exist and clashing targets."""
    c = spec.task_template.container
    secrets = tuple(_resolve_secret(view, r) for r in c.secrets)
    configs = tuple(_resolve_config(view, r) for r in c.configs)
    _missing("secret", [r.secret_name for r in secrets if not r.secret_id])
    _missing("config", [r.config_name for r in configs if not r.config_id])
    _check_targets("secret", [(r.secret_name, r.file.name) for r in secrets])
    _check_targets("config", [(r.config_name, r.file.name) for r in configs])
    networks = tuple(_resolve_network(view, n) for n in spec.task_template.networks)
    container = dataclasses.replace(c, secrets=secrets, configs=configs)
    task = dataclasses.replace(spec.task_template, container=container, networks=networks)
    return dataclasses.replace(spec, task_template=task)


def _find(view: ReadTx, cls: type[Secret] | type[Config], id: str, name: str) -> str | None:
    """The id of the secret or config with `id` (if given) or else `name`."""
    if id:
        found = view.get(cls, id)
        return None if found is None else found.id
    by_name = view.get_by_name(cls, name)
    return None if by_name is None else by_name.id


def _resolve_secret(view: ReadTx, ref: SecretReference) -> SecretReference:
    found = _find(view, Secret, ref.secret_id, ref.secret_name)
    secret = view.get(Secret, found) if found else None
    name = secret.spec.name if secret else ref.secret_name or ref.secret_id
    file = ref.file if ref.file.name else dataclasses.replace(ref.file, name=name)
    return SecretReference(secret_id=found or "", secret_name=name, file=file)


def _resolve_config(view: ReadTx, ref: ConfigReference) -> ConfigReference:
    found = _find(view, Config, ref.config_id, ref.config_name)
    config = view.get(Config, found) if found else None
    name = config.spec.name if config else ref.config_name or ref.config_id
    file = ref.file if ref.file.name else dataclasses.replace(ref.file, name=name)
    return ConfigReference(config_id=found or "", config_name=name, file=file)


def _missing(kind: str, names: list[str]) -> None:
    if names:
        noun = kind if len(names) == 1 else f"{kind}s"
        raise InvalidArgumentError(
            f"{noun} not found: {', '.join(names)}; create it first with `shoal {kind} create`"
        )


def _check_targets(kind: str, refs: list[tuple[str, str]]) -> None:
    by_target: dict[str, str] = {}
    for name, target in refs:
        if target in by_target:
            raise InvalidArgumentError(
                f"{kind} references '{by_target[target]}' and '{name}' have a conflicting "
                f"target: '{target}'"
            )
        by_target[target] = name


def _resolve_network(view: ReadTx, net: NetworkAttachmentConfig) -> NetworkAttachmentConfig:
    try:
        found = resolve("network", view.all(Network), net.target, lambda n: n.spec.name)
    except NotFoundError:
        raise InvalidArgumentError(f"network {net.target} not found") from None
    if found.spec.ingress:  # services join it by publishing a port in ingress mode
        raise InvalidArgumentError(
            f'service cannot be explicitly attached to the ingress network "{found.spec.name}"'
        )
    return dataclasses.replace(net, target=found.id)


def check_port_conflicts(view: ReadTx, spec: ServiceSpec, *, service_id: str) -> None:
    """swarmkit's checkPortConflicts: a published ingress port belongs to one service, and a
    host-mode port cannot be another service's ingress port (the mesh answers on it on every
    node) nor the other way round."""
    mine = [p for p in spec.endpoint_spec.ports if p.published_port]
    if not mine:
        return
    for other in view.all(Service):
        if other.id == service_id:
            continue
        ports = list(other.spec.endpoint_spec.ports)
        if other.endpoint is not None:
            ports += other.endpoint.ports
        for p in ports:
            for q in mine:
                if (p.published_port, p.protocol) != (q.published_port, q.protocol):
                    continue
                if PublishMode.INGRESS in (p.publish_mode, q.publish_mode):
                    mode = "an ingress" if p.publish_mode is PublishMode.INGRESS else "a host"
                    raise InvalidArgumentError(
                        f"port '{p.published_port}' is already in use by service "
                        f"'{other.spec.name}' ({other.id}) as {mode} port"
                    )
