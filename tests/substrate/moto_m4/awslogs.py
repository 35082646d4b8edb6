"""The awslogs log driver for the stand-in daemons: what a daemon prints goes to the stream its task
definition names, as ECS's awslogs driver writes it ("Using the awslogs log driver", ECS developer
guide: group `awslogs-group`, stream `awslogs-stream-prefix/container-name/ecs-task-id`). No
stream exists for a task that never started its container (TaskFailedToStart).

A daemon prints its start and the run scope it saw; when it dies it prints its last words: the
fault's `last_words` lines, else what such a daemon typically prints for the way it ended (an exit
code, an OutOfMemoryError kill, a failing health check).
"""
import logging
import time

from moto.ecs.models import ecs_backends
from moto.logs.models import logs_backends

from . import ecs_scheduler

LOG = logging.getLogger("m4host.awslogs")


def _where(task):
    """(account, region) of a task, from its ARN (arn:aws:ecs:REGION:ACCOUNT:task/...)."""
    parts = task.task_arn.split(":")
    return parts[4], parts[3]


def _streams(backend, task):
    """[(group, stream, container definition)] of the task's essential containers using awslogs."""
    td = backend.describe_task_definition(task.task_definition_arn)
    task_id = task.task_arn.split("/")[-1]
    out = []
    for c in td.container_definitions:
        conf = c.get("logConfiguration") or {}
        options = conf.get("options") or {}
        if c.get("essential", True) and conf.get("logDriver") == "awslogs" \
                and options.get("awslogs-group") and options.get("awslogs-stream-prefix"):
            out.append((options["awslogs-group"], f"{options['awslogs-stream-prefix']}/{c['name']}/{task_id}", c))
    return out


# The last event time written to each stream: a daemon's lines keep the order it printed them in,
# also when the scheduler reports its start and its death in one reconcile (same millisecond).
_LAST = {}


def _write(task, lines):
    account, region = _where(task)
    logs = logs_backends[account][region]
    ecs = ecs_backends[account][region]
    for group, stream, _ in _streams(ecs, task):
        try:
            if stream not in logs.groups[group].streams:
                logs.create_log_stream(group, stream)
            first = max(int(time.time() * 1000), _LAST.get((group, stream), 0) + 1)
            _LAST[(group, stream)] = first + len(lines) - 1
            logs.put_log_events(group, stream, [{"timestamp": first + i, "message": line}
                                                for i, line in enumerate(lines)])
        except Exception as exc:  # a missing group is the operator's world; the driver is best effort
            LOG.warning("awslogs %s/%s: %r", group, stream, exc)


def _last_words(task, fault):
    options = fault.get("options", {})
    if options.get("last_words"):
        return list(options["last_words"])
    reasons = " ".join(str(getattr(c, "reason", "") or "") for c in task.containers)
    codes = [getattr(c, "exitCode", None) for c in task.containers]
    if "OutOfMemory" in reasons:
        # What a Go daemon prints when an allocation fails just before the kernel kills it.
        return ["runtime: program exceeds memory limit", "fatal error: runtime: out of memory"]
    if getattr(task, "stop_code", None) == "ServiceSchedulerInitiated":
        return ["health: /healthz not ready: upstream broker timeout", "received SIGTERM, shutting down"]
    code = next((c for c in codes if c is not None), None)
    return [f"error: consumer loop failed: broker connection reset", f"exiting with status {code}"]


def _on_task(event, service, task):
    try:
        if event == "running":
            env = {}
            account, region = _where(task)
            ecs = ecs_backends[account][region]
            for _, _, c in _streams(ecs, task):
                env.update({e["name"]: e["value"] for e in c.get("environment", [])})
            scope = ", ".join(f"{k}={v}" for k, v in env.items() if "RUN_ID" in k) or "none"
            _write(task, [f"{service.name} starting", f"run scope {scope}", "consumer ready"])
        elif event == "stopped":
            fault = ecs_scheduler.FAULTS.get((*_where(task), service.cluster_name, service.name), {})
            planned = (getattr(task, "stopped_reason", "") or "").startswith("ECS is scaling") or \
                "Scaling activity" in (getattr(task, "stopped_reason", "") or "")
            if getattr(task, "stop_code", None) == "TaskFailedToStart" or planned:
                return
            _write(task, _last_words(task, fault))
    except Exception as exc:
        LOG.warning("awslogs listener: %r", exc)


def install():
    ecs_scheduler.LISTENERS.append(_on_task)
