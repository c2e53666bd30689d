"""Log messages <-> the broker's values (the only logs module that sees *_pb2), and the
streaming RPC bodies the Control and Dispatcher servicers delegate to.

Shared by the managers (Control.ServiceLogs, Dispatcher.LogSubscriptions/PublishLogs) and the
agent (worker/logs.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, NoReturn

import grpc

from manager.controlapi import services as service_api
from manager.controlapi import tasks as task_api
from manager.controlapi.errors import NotFoundError
from manager.logbroker import (
    BrokerNotRunning,
    LogBroker,
    LogLine,
    LogOptions,
    LogSelector,
    SubscriptionInfo,
    UnknownSubscription,
    nodes_for,
)
from manager.store import Store
from proto import control_pb2, dispatcher_pb2, logs_pb2

MAX_LINES = 200  # lines per message


def line_message(line: LogLine) -> logs_pb2.LogMessage:
    return logs_pb2.LogMessage(
        context=logs_pb2.LogContext(
            service_id=line.service_id, node_id=line.node_id, task_id=line.task_id
        ),
        unix_nano=line.unix_nano,
        stream=logs_pb2.LogMessage.STDERR if line.stderr else logs_pb2.LogMessage.STDOUT,
        data=line.data,
    )


def message_line(msg: logs_pb2.LogMessage) -> LogLine:
    return LogLine(
        service_id=msg.context.service_id,
        node_id=msg.context.node_id,
        task_id=msg.context.task_id,
        unix_nano=msg.unix_nano,
        stderr=msg.stream == logs_pb2.LogMessage.STDERR,
        data=msg.data,
    )


def subscription_message(info: SubscriptionInfo) -> dispatcher_pb2.LogSubscription:
    return dispatcher_pb2.LogSubscription(
        id=info.id,
        service_ids=sorted(info.selector.service_ids),
        task_ids=sorted(info.selector.task_ids),
        follow=info.options.follow,
        tail=info.options.tail,
        since_unix_nano=info.options.since_unix_nano,
        close=info.close,
    )


def decode_subscription(msg: dispatcher_pb2.LogSubscription) -> SubscriptionInfo:
    return SubscriptionInfo(
        id=msg.id,
        selector=LogSelector(frozenset(msg.service_ids), frozenset(msg.task_ids)),
        options=LogOptions(follow=msg.follow, tail=msg.tail, since_unix_nano=msg.since_unix_nano),
        close=msg.close,
    )


def publish_message(
    subscription_id: str, lines: Iterable[LogLine], *, close: bool = False
) -> dispatcher_pb2.PublishLogsMessage:
    return dispatcher_pb2.PublishLogsMessage(
        subscription_id=subscription_id,
        messages=[line_message(line) for line in lines],
        close=close,
    )


# -- RPC bodies --------------------------------------------------------------------------------


async def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("context.abort returned")


def resolve_selector(store: Store, ref: str) -> LogSelector:
    """A service (id, prefix, name) first, then a task (id, prefix), like `docker service
    logs SERVICE|TASK`. NotFoundError names both."""
    try:
        return LogSelector(service_ids=frozenset({service_api.get_service(store, ref).id}))
    except NotFoundError:
        pass
    try:
        return LogSelector(task_ids=frozenset({task_api.get_task(store, ref).id}))
    except NotFoundError:
        raise NotFoundError(f"no such task or service: {ref}") from None


async def service_logs(
    broker: LogBroker, store: Store, request: control_pb2.ServiceLogsRequest, context: Any
) -> AsyncIterator[control_pb2.ServiceLogsMessage]:
    """Control.ServiceLogs on the leader."""
    try:
        selector = resolve_selector(store, request.ref)
    except NotFoundError as e:
        await _abort(context, grpc.StatusCode.NOT_FOUND, str(e))
    tail = request.tail if request.HasField("tail") else -1
    options = LogOptions(follow=request.follow, tail=tail, since_unix_nano=request.since_unix_nano)
    nodes = nodes_for(store.view(), selector)
    try:
        async for batch in broker.subscribe(selector, options, nodes):
            lines = list(batch.lines)
            for i in range(0, max(len(lines), 1), MAX_LINES):
                yield control_pb2.ServiceLogsMessage(
                    messages=[line_message(line) for line in lines[i : i + MAX_LINES]],
                    warnings=list(batch.warnings) if i == 0 else [],
                )
    except BrokerNotRunning as e:
        await _abort(context, grpc.StatusCode.UNAVAILABLE, str(e))


async def log_subscriptions(
    broker: LogBroker, node_id: str, context: Any
) -> AsyncIterator[dispatcher_pb2.LogSubscription]:
    """Dispatcher.LogSubscriptions for the (authenticated) caller."""
    try:
        async for info in broker.listen(node_id):
            yield subscription_message(info)
    except BrokerNotRunning as e:
        await _abort(context, grpc.StatusCode.UNAVAILABLE, str(e))


async def publish_logs(
    broker: LogBroker,
    node_id: str,
    requests: AsyncIterator[dispatcher_pb2.PublishLogsMessage],
    context: Any,
) -> dispatcher_pb2.PublishLogsResponse:
    """Dispatcher.PublishLogs: every message goes to the broker as the caller's."""
    try:
        async for msg in requests:
            broker.publish(
                node_id,
                msg.subscription_id,
                [message_line(m) for m in msg.messages],
                close=msg.close,
            )
    except UnknownSubscription as e:
        await _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(e))
    return dispatcher_pb2.PublishLogsResponse()
