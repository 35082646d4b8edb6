"""One-shot ECS tasks (RunTask, StopTask) for moto, modelled on the ECS documentation.

moto starts a RunTask task RUNNING at once and keeps it there; StopTask makes it STOPPED at once
with no stop code and no exit code. Real ECS does neither:

- Lifecycle (Developer Guide, "Amazon ECS task lifecycle"): PROVISIONING -> PENDING -> ACTIVATING
  -> RUNNING, over the scheduler's `start_delay` (a third each); a task stops when its essential
  container exits ("If the essential parameter of a container is marked as true, and that
  container fails or stops for any reason, all other containers that are part of the task are
  stopped", ContainerDefinition), with stopCode EssentialContainerExited and stoppedReason
  "Essential container in task exited" (API reference, Task; "Amazon ECS stopped task error
  codes"), then DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED over `stop_delay`.
- StopTask (API reference): "a SIGTERM value is sent ... If the container handles the SIGTERM
  value gracefully and exits within 30 seconds from receiving it, no SIGKILL value is sent";
  stopCode UserInitiated, stoppedReason the request's `reason`; the same for a task a service
  started (moto stops it at once with neither), which its service then replaces. A container killed by the default
  SIGTERM handler exits 128 + 15 = 143; a task stopped before RUNNING has no exit code.
- Eventual consistency (API reference, RunTask: "The Amazon ECS API follows an eventual
  consistency model ... the result of an API command ... might not be immediately visible"):
  DescribeTasks may answer a task just started with failures[] reason MISSING, for
  `visibility_delay` seconds (default 0).
- RunTask's `clientToken` ("Ensuring idempotency"): a repeated request with the same token in
  the same cluster returns the original tasks instead of starting more.

Behaviour per task definition family (POST /m4host-substrate/oneshot):
  run_for            seconds the essential container runs before it exits (default 1)
  exit_code          its exit code (default 0; null: no exit code reported)
  mode               "exit" (default), "fail_to_start" (stops before RUNNING, TaskFailedToStart),
                     "stuck_pending" (stays PENDING), "never_ends" (runs until stopped)
  output             false: the oracle stand-in writes nothing even when it exits 0
  visibility_delay   seconds DescribeTasks answers MISSING after RunTask
"""
import threading
from datetime import timedelta

from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses

from . import ecs_scheduler
from .ecs_scheduler import LOCK, now

BEHAVIOURS = {}  # (account, region, family) -> options
KEYS = {"run_for", "exit_code", "mode", "output", "visibility_delay"}
MODES = {"exit", "fail_to_start", "stuck_pending", "never_ends"}
TOKENS = {}  # (account, region, cluster, clientToken) -> [task arns]
LISTENERS = []  # fn(task, environment) -> exit code or None, called when the essential container exits
EXITED = "Essential container in task exited"
_STATE = threading.local()


def set_behaviour(account, region, family, options):
    unknown = set(options) - KEYS - {"family", "region", "account"}
    if unknown:
        raise ValueError(f"unknown one-shot options {sorted(unknown)}")
    mode = options.get("mode", "exit")
    if mode not in MODES:
        raise ValueError(f"unknown one-shot mode {mode!r}")
    with LOCK:
        BEHAVIOURS[(account, region, family)] = {k: v for k, v in options.items() if k in KEYS}


def _behaviour(backend, task):
    family = task.m4_family
    return BEHAVIOURS.get((backend.account_id, backend.region_name, family), {})


def environment(task):
    """The task's environment as its containers see it: the task definition's, then RunTask's
    containerOverrides (an override replaces a variable of the same name)."""
    td = task.m4_task_definition
    env = {}
    for c in td.container_definitions:
        if c.get("essential", True):
            env.update({e["name"]: e["value"] for e in c.get("environment", [])})
    for o in (task.overrides or {}).get("containerOverrides", []):
        env.update({e["name"]: e["value"] for e in o.get("environment", [])})
    return env


def _exit(backend, task, at, exit_code, stop_code, reason):
    task.desired_status = "STOPPED"
    task.status = "DEACTIVATING"
    task.stopping_at = task.execution_stopped_at = task.m4_stop_at = at
    task.stop_code = stop_code
    task.stopped_reason = reason
    for c in task.containers:
        c.last_status = "STOPPED"
        c.exitCode = exit_code


def _service_of(backend, cluster_name, task):
    """The service whose scheduler started `task` (its group "service:NAME"), if any."""
    if task is None or getattr(task, "m4_one_shot", False):
        return None
    group = getattr(task, "group", None) or ""
    if not group.startswith("service:"):
        return None
    return backend.services.get(f"{cluster_name}:{group[len('service:'):]}")


def reconcile(backend, cluster_name):
    """Brings the cluster's one-shot tasks up to now (the tasks RunTask started, whatever group
    they were given)."""
    with LOCK:
        at_now = now()
        for task in list(backend.tasks.get(cluster_name, {}).values()):
            if not getattr(task, "m4_one_shot", False):
                continue
            behaviour = _behaviour(backend, task)
            start_delay = ecs_scheduler.TIMING["start_delay"]
            if task.desired_status == "STOPPED":
                ecs_scheduler._advance_stopping(None, task, {}, at_now)  # the same stop phases
                continue
            mode = behaviour.get("mode", "exit")
            elapsed = (at_now - task.created_at).total_seconds()
            if task.status in ("PROVISIONING", "PENDING", "ACTIVATING"):
                if mode == "stuck_pending":
                    task.status = "PENDING" if elapsed >= start_delay / 3 else "PROVISIONING"
                    continue
                if elapsed < start_delay:
                    task.status = "ACTIVATING" if elapsed >= 2 * start_delay / 3 else (
                        "PENDING" if elapsed >= start_delay / 3 else "PROVISIONING")
                    ecs_scheduler._pulled(task, start_delay, fails=mode == "fail_to_start")
                    continue
                due = task.created_at + timedelta(seconds=start_delay)
                if mode == "fail_to_start":
                    reason = ecs_scheduler.PULL_FAILED
                    _exit(backend, task, due, None, "TaskFailedToStart", reason)
                    for c in task.containers:
                        c.reason = reason.split(":")[0]
                    continue
                task.status = "RUNNING"
                task.started_at = due
                ecs_scheduler._pulled(task, start_delay, fails=False)
                for c in task.containers:
                    c.last_status = "RUNNING"
            if task.status == "RUNNING" and mode != "never_ends":
                ends = task.started_at + timedelta(seconds=float(behaviour.get("run_for", 1)))
                if ends <= at_now:
                    exit_code = behaviour.get("exit_code", 0)
                    for listener in LISTENERS:
                        said = listener(task, environment(task), exit_code, behaviour.get("output", True))
                        if said is not None:
                            exit_code = said
                    _exit(backend, task, ends, exit_code, "EssentialContainerExited", EXITED)
            # A stop that was due in the past finishes in the same pass.
            if task.desired_status == "STOPPED":
                ecs_scheduler._advance_stopping(None, task, {}, at_now)


def install():
    backend_cls = ecs_models.EC2ContainerServiceBackend
    orig_stop = backend_cls.stop_task

    def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type,
                 networking_configuration=None, group=None, platform_version=None):
        with LOCK:
            cluster = self._get_cluster(cluster_str)
            td = self.describe_task_definition(task_definition_str)
            token = getattr(_STATE, "client_token", None)
            key = (self.account_id, self.region_name, cluster.name, token)
            if token and key in TOKENS:
                return [self.tasks[cluster.name][arn] for arn in TOKENS[key]]
            tasks = []
            for _ in range(count):
                task = ecs_scheduler.ScheduledTask(
                    cluster=cluster, task_definition=td, container_instance_arn=None,
                    resource_requirements=None, backend=self, group=group or f"family:{td.family}",
                    launch_type=launch_type or "FARGATE", overrides=overrides or {},
                    started_by=started_by or "", tags=tags or [],
                    networking_configuration=networking_configuration, platform_version=platform_version)
                task.status = "PROVISIONING"
                task.desired_status = "RUNNING"
                task.created_at = now()
                task.m4_one_shot = True
                task.m4_family = td.family
                task.m4_task_definition = td
                task.health_status = "UNKNOWN"
                for c in task.containers:
                    c.last_status = "PENDING"
                    c.exitCode = None
                    c.reason = None
                self.tasks.setdefault(cluster.name, {})[task.task_arn] = task
                tasks.append(task)
            if token:
                TOKENS[key] = [t.task_arn for t in tasks]
            return tasks

    def stop_task(self, cluster_str, task_str, reason):
        with LOCK:
            cluster = self._get_cluster(cluster_str)
            reconcile(self, cluster.name)
            task_id = task_str.split("/")[-1]
            task = next((t for arn, t in self.tasks.get(cluster.name, {}).items() if arn.endswith(task_id)), None)
            service = _service_of(self, cluster.name, task)
            if task is not None and service is not None:
                # A service's task stops as a one-shot task does (stopCode UserInitiated, the
                # request's reason, the stop's timestamps), and its service replaces it.
                ecs_scheduler.reconcile(self, service)
                if task.desired_status != "STOPPED":
                    was_running = task.status == "RUNNING"
                    ecs_scheduler._begin_stop(service, task, now(), exit_code=143 if was_running else None,
                                              stop_code="UserInitiated", reason=reason or "Task stopped by user")
                return task
            if task is None or not getattr(task, "m4_one_shot", False):
                return orig_stop(self, cluster_str, task_str, reason)
            if task.desired_status != "STOPPED":
                was_running = task.status == "RUNNING"
                _exit(self, task, now(), 143 if was_running else None, "UserInitiated",
                      reason or "Task stopped by user")
            return task

    orig_list_tasks = backend_cls.list_tasks

    def list_tasks(self, cluster_str=None, *args, **kwargs):
        reconcile(self, (cluster_str or "default").split("/")[-1])
        return orig_list_tasks(self, cluster_str, *args, **kwargs)

    backend_cls.run_task = run_task
    backend_cls.stop_task = stop_task
    backend_cls.list_tasks = list_tasks

    responses_cls = ecs_responses.EC2ContainerServiceResponse
    orig_run_response = responses_cls.run_task
    orig_describe = responses_cls.describe_tasks

    def run_task_response(self):
        _STATE.client_token = self._get_param("clientToken")
        try:
            return orig_run_response(self)
        finally:
            _STATE.client_token = None

    def describe_tasks_response(self):
        cluster = self._get_param("cluster", "default").split("/")[-1]
        reconcile(self.ecs_backend, cluster)
        result = orig_describe(self)
        # Eventual consistency: a task started less than visibility_delay ago is not yet known.
        at = now()
        hidden = []
        data = result.result
        for task in list(data.get("tasks", [])):
            behaviour = _behaviour(self.ecs_backend, task) if getattr(task, "m4_one_shot", False) else {}
            delay = float(behaviour.get("visibility_delay", 0))
            if delay and (at - task.created_at).total_seconds() < delay:
                hidden.append(task)
        for task in hidden:
            data["tasks"].remove(task)
            data["failures"].append({"arn": task.task_arn, "reason": "MISSING"})
        return result

    responses_cls.run_task = run_task_response
    responses_cls.describe_tasks = describe_tasks_response


def state():
    return {"/".join(k): v for k, v in BEHAVIOURS.items()}
