"""A small ECS service scheduler for moto, modelled on the ECS documentation (not on m4host's
classifier: each behaviour names the page it follows).

moto has no scheduler: update-service sets runningCount to the desired count at once, deployments
never change, there are no events, list-tasks ignores serviceName and never pages, and every
container reports HEALTHY. This module reconciles every service whenever ECS is asked about it, as
a discrete-event simulation over wall-clock time.

Task lifecycle (Developer Guide, "Amazon ECS task lifecycle"):
  PROVISIONING -> PENDING -> ACTIVATING -> RUNNING -> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED
each start phase a third of `start_delay`, each stop phase a third of `stop_delay`. stoppingAt and
executionStoppedAt are set when the stop begins, stoppedAt when the task reaches STOPPED.

Faults per service (POST /m4host-substrate/fault, mode + options):
  crash_loop         the essential container exits `crash_after` s after RUNNING (not counted in
                     failedTasks: the task did reach RUNNING, see _count_failure); options
                     exit_code (default 1; 0 or null too), container_reason (e.g.
                     "OutOfMemoryError: Container killed due to memory usage" with exit_code 137),
                     last_words (the lines the daemon prints before it dies, see awslogs.py)
  fail_to_start      the task stops before RUNNING with stopCode TaskFailedToStart; options
                     stopped_reason (e.g. "ResourceInitializationError: ..."), container_reason
  unhealthy          the declared container health check command fails from the start
  unhealthy_after    the check passes for `healthy_for` s after RUNNING, then fails
  unplaceable        no task can be placed; the service logs placement events instead (option event)
  stuck_pending      tasks stay PENDING
  rollback           the next deployment's tasks fail to start (as fail_to_start); after
                     `rollback_after` of them (its failedTasks) the circuit breaker marks it FAILED
                     and rolls back to the previous task definition
  failed_deployment  the same, with the circuit breaker's rollback off: FAILED, no new deployment
"""
import threading
import uuid
from datetime import datetime, timedelta, timezone

from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import InvalidParameterException

LOCK = threading.RLock()

TIMING = {"start_delay": 1.0, "crash_after": 1.0, "restart_delay": 0.5, "rollback_after": 2, "stop_delay": 0.3}
OPTIONS = {"exit_code", "container_reason", "stopped_reason", "healthy_for", "event", "last_words"}
# (account, region, cluster, service) -> {"mode": ..., "rollback_to": ..., "timing": {}, "options": {}}
FAULTS = {}
# listeners called as fn(event, service, task) for "running" and "stopped"
LISTENERS = []

# Stop reasons as ECS writes them ("Amazon ECS stopped task error codes"; service event messages).
PLANNED_STOP = "Scaling activity initiated by (deployment {})"
HEALTH_STOP = "Task failed container health checks"
EXITED = "Essential container in task exited"
PULL_FAILED = ("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve "
               "ref docker.io/library/daemon:v0: not found")
# Service events end with this pointer when ECS cannot place or start tasks (as real
# DescribeServices answers users posted show it).
TROUBLESHOOTING = " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
NO_CAPACITY = ("was unable to place a task. Reason: Capacity is unavailable at this time. Please try again "
               "later or in a different availability zone." + TROUBLESHOOTING)


def now():
    return datetime.now(timezone.utc)


class ScheduledTask(ecs_models.Task):
    """A task whose status is set by the scheduler only (no moto state-manager progression)."""

    @property
    def status(self):
        return self._m4_status

    @status.setter
    def status(self, value):
        self._m4_status = value

    def advance(self):
        pass


def _aware(at):
    """moto stamps its own deployments with naive UTC datetimes."""
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def _event(service, message, at):
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": at, "message": f"(service {service.name}) {message}"})
    del service.events[100:]  # DescribeServices returns the newest 100 events


def _timing(fault, key):
    """A service's own timing (set with its fault entry) or the global one."""
    return fault.get("timing", {}).get(key, TIMING[key])


def _option(fault, key, default=None):
    return fault.get("options", {}).get(key, default)


def _fault(backend, service):
    return FAULTS.get((backend.account_id, backend.region_name, service.cluster_name, service.name), {})


def _service_tasks(backend, service):
    # A service's tasks are the ones its deployments started (Task.startedBy is the deployment id,
    # ECS API reference "Task"): a RunTask that sets `--group service:NAME` by hand is a
    # stand-alone task ECS never manages as the service's, whatever its group says.
    group = f"service:{service.name}"
    return [t for t in backend.tasks.get(service.cluster_name, {}).values()
            if getattr(t, "group", None) == group and not getattr(t, "m4_one_shot", False)]


def _health_checks(backend, task):
    """Container name -> declared healthCheck (HealthCheck defaults: interval 30, timeout 5, retries
    3, startPeriod 0), essential containers only (Task.healthStatus counts only those)."""
    td = backend.describe_task_definition(task.task_definition_arn)
    checks = {}
    for c in td.container_definitions:
        hc = c.get("healthCheck")
        if hc and c.get("essential", True):
            checks[c["name"]] = {"interval": hc.get("interval", 30), "retries": hc.get("retries", 3),
                                 "startPeriod": hc.get("startPeriod", 0)}
    return checks


def _start_task(backend, service, deployment, at):
    cluster = backend.clusters[service.cluster_name]
    task_def = backend.describe_task_definition(deployment["taskDefinition"])
    networking = None
    if task_def.network_mode == "awsvpc":
        networking = service.network_configuration or None
    task = ScheduledTask(
        cluster=cluster,
        task_definition=task_def,
        container_instance_arn=None,
        resource_requirements=None,
        backend=backend,
        group=f"service:{service.name}",
        launch_type=service.launch_type or "FARGATE",
        started_by=deployment["id"],
        networking_configuration=networking,
        platform_version=service.platform_version,
    )
    task.status = "PROVISIONING"
    task.desired_status = "RUNNING"
    task.created_at = at
    task.m4_deployment = deployment["id"]
    # UNKNOWN until a declared check passes, and forever without one (HealthCheck, Task.healthStatus).
    task.health_status = "UNKNOWN"
    task.m4_health = {}
    for c in task.containers:
        c.last_status = "PENDING"
        c.exitCode = None  # a running container has no exit code
        c.reason = None
        c.health_status = "UNKNOWN"
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    return task


def _begin_stop(service, task, at, *, exit_code, stop_code, reason, container_reason=None):
    """The stop begins: desired STOPPED, containers exited; STOPPED follows after stop_delay."""
    task.desired_status = "STOPPED"
    task.status = "DEACTIVATING"
    task.stopping_at = at
    task.execution_stopped_at = at
    task.m4_stop_at = at
    task.stop_code = stop_code
    task.stopped_reason = reason
    for c in task.containers:
        c.last_status = "STOPPED"
        c.exitCode = exit_code
        c.reason = container_reason
    short = task.task_arn.split("/")[-1]
    _event(service, f"has stopped 1 running tasks: (task {short}).", at)
    for listener in LISTENERS:
        listener("stopped", service, task)


def _planned_stop(service, task, at, deployment):
    _begin_stop(service, task, at, exit_code=0, stop_code="ServiceSchedulerInitiated",
                reason=PLANNED_STOP.format(deployment["id"]))


def _crashes(fault, task):
    return fault.get("mode") == "crash_loop"


def _pulled(task, start_delay, fails):
    """The image pull's timestamps as far as the task got: the pull is the PENDING state's work
    (task lifecycle: the agent pulls, then starts the containers) and ends as ACTIVATING begins;
    `pullStartedAt` / `pullStoppedAt` are "the time when the container image pull began /
    completed" (Task, ECS API reference). A task whose pull fails never records a completed
    pull."""
    if task.status in ("PENDING", "ACTIVATING", "RUNNING") and getattr(task, "pull_started_at", None) is None:
        task.pull_started_at = task.created_at + timedelta(seconds=start_delay / 3)
    if not fails and task.status in ("ACTIVATING", "RUNNING") and getattr(task, "pull_stopped_at", None) is None:
        task.pull_stopped_at = task.created_at + timedelta(seconds=2 * start_delay / 3)


def _fails_to_start(fault, task):
    """The circuit breaker's own case: tasks of the faulted deployment never reach RUNNING (its
    Stage 1, "Amazon ECS deployment circuit breaker", Developer Guide), so failedTasks counts them."""
    mode = fault.get("mode")
    if mode == "fail_to_start":
        return True
    return mode in ("rollback", "failed_deployment") and getattr(task, "m4_deployment", None) == fault.get("deployment")


# Deployments that have had a task successfully running: their failedTasks is back at zero and no
# longer counted. Kept here, not in the deployment dict, which DescribeServices returns as it is.
SUCCEEDED = set()


def _deployment_of(service, task):
    return next((d for d in service.deployments if d["id"] == getattr(task, "m4_deployment", None)), None)


def _count_failure(service, task):
    """failedTasks is "the number of consecutively failed tasks in the deployment. A task is
    considered a failure if the service scheduler can't launch the task, the task doesn't
    transition to a RUNNING state, or if it fails any of its defined health checks and is stopped.
    Once a service deployment has one or more successfully running tasks, the failed task count
    resets to zero and stops being evaluated." (ECS API reference, Deployment). A task that ran and
    then exited is not one of those."""
    deployment = _deployment_of(service, task)
    if deployment is not None and deployment["id"] not in SUCCEEDED:
        deployment["failedTasks"] = deployment.get("failedTasks", 0) + 1


def _count_success(service, task):
    deployment = _deployment_of(service, task)
    if deployment is not None and deployment["id"] not in SUCCEEDED:
        SUCCEEDED.add(deployment["id"])
        deployment["failedTasks"] = 0


def _advance_stopping(service, task, fault, at_now):
    """DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED over stop_delay."""
    elapsed = (at_now - task.m4_stop_at).total_seconds()
    delay = _timing(fault, "stop_delay")
    if elapsed >= delay:
        task.status = "STOPPED"
        task.stopped_at = task.m4_stop_at + timedelta(seconds=delay)
    elif elapsed >= 2 * delay / 3:
        task.status = "DEPROVISIONING"
    elif elapsed >= delay / 3:
        task.status = "STOPPING"


def _check_health(backend, service, task, fault, at_now):
    """Runs the declared checks due by now (Docker HEALTHCHECK semantics, which ECS maps to: the
    first check `interval` s after start, failures inside startPeriod not counted unless a check
    already passed, UNHEALTHY after `retries` consecutive counted failures). Returns the time the
    task turned UNHEALTHY, if it did."""
    checks = _health_checks(backend, task)
    if not checks:
        return None
    mode = fault.get("mode")
    healthy_for = float(_option(fault, "healthy_for", 0))
    turned = None
    for name, hc in checks.items():
        state = task.m4_health.setdefault(name, {"done": 0, "failures": 0, "passed": False, "status": "UNKNOWN"})
        while True:
            due = task.started_at + timedelta(seconds=hc["interval"] * (state["done"] + 1))
            if due > at_now or state["status"] == "UNHEALTHY":
                break
            state["done"] += 1
            since_start = (due - task.started_at).total_seconds()
            fails = mode == "unhealthy" or (mode == "unhealthy_after" and since_start >= healthy_for)
            if not fails:
                state.update(failures=0, passed=True, status="HEALTHY")
            elif state["passed"] or since_start > hc["startPeriod"]:
                state["failures"] += 1
                if state["failures"] >= hc["retries"]:
                    state["status"] = "UNHEALTHY"
                    turned = due if turned is None else min(turned, due)
        for c in task.containers:
            if c.name == name:
                c.health_status = state["status"]
    statuses = [s["status"] for s in task.m4_health.values()]
    task.health_status = ("UNHEALTHY" if "UNHEALTHY" in statuses
                          else "HEALTHY" if statuses and all(s == "HEALTHY" for s in statuses) else "UNKNOWN")
    return turned


def _last_unplanned_stop(backend, service):
    """When the latest stop the scheduler did not plan began: the replacement waits for it."""
    return max((t.m4_stop_at for t in _service_tasks(backend, service)
                if hasattr(t, "m4_stop_at") and not t.stopped_reason.startswith("Scaling activity")),
               default=None)


def reconcile(backend, service):
    """Brings one service's tasks, counts, deployments and events up to the current time."""
    with LOCK:
        if not service.deployments or service.status != "ACTIVE":
            return  # CODE_DEPLOY and EXTERNAL services have no ECS deployments: not ours to run
        at_now = now()
        fault = _fault(backend, service)
        mode = fault.get("mode")
        for _ in range(1000):  # bounded: each pass applies the earliest due transition(s)
            changed = False
            primary = service.deployments[0]
            for t in _service_tasks(backend, service):
                if t.desired_status == "STOPPED" and t.status != "STOPPED" and hasattr(t, "m4_stop_at"):
                    before = t.status
                    _advance_stopping(service, t, fault, at_now)
                    changed |= t.status != before
            live = [t for t in _service_tasks(backend, service) if t.desired_status == "RUNNING"]
            for t in live:
                start_delay = _timing(fault, "start_delay")
                if t.status in ("PROVISIONING", "PENDING", "ACTIVATING"):
                    elapsed = (at_now - t.created_at).total_seconds()
                    if mode == "stuck_pending":
                        t.status = "PENDING" if elapsed >= start_delay / 3 else "PROVISIONING"
                        continue
                    if _fails_to_start(fault, t) and elapsed >= start_delay:
                        reason = _option(fault, "stopped_reason", PULL_FAILED)
                        _begin_stop(service, t, t.created_at + timedelta(seconds=start_delay), exit_code=None,
                                    stop_code="TaskFailedToStart", reason=reason,
                                    container_reason=_option(fault, "container_reason", reason.split(":")[0]))
                        if reason.startswith("ResourceInitializationError"):
                            # The task failed before any container was created ("Amazon ECS stopped
                            # task error codes", ResourceInitializationError): DescribeTasks lists
                            # `containers: []`, and no log stream was ever written.
                            t.containers = []
                        _count_failure(service, t)
                        changed = True
                    elif elapsed >= start_delay:
                        due = t.created_at + timedelta(seconds=start_delay)
                        t.status = "RUNNING"
                        t.started_at = due
                        _pulled(t, start_delay, fails=False)
                        for c in t.containers:
                            c.last_status = "RUNNING"
                        if not _health_checks(backend, t):
                            _count_success(service, t)  # running is success when no check is declared
                        changed = True
                        for listener in LISTENERS:
                            listener("running", service, t)
                    else:
                        t.status = "ACTIVATING" if elapsed >= 2 * start_delay / 3 else (
                            "PENDING" if elapsed >= start_delay / 3 else "PROVISIONING")
                        _pulled(t, start_delay, fails=_fails_to_start(fault, t))
                elif t.status == "RUNNING":
                    unhealthy_at = _check_health(backend, service, t, fault, at_now)
                    if t.health_status == "HEALTHY":
                        _count_success(service, t)  # running and passing its declared checks
                    crash_at = t.started_at + timedelta(seconds=_timing(fault, "crash_after")) if _crashes(fault, t) else None
                    if unhealthy_at and (crash_at is None or unhealthy_at <= crash_at):
                        # "if the task reports as unhealthy then the task will be stopped and the
                        # service scheduler will replace it" (HealthCheck, API reference)
                        _event(service, f"(task {t.task_arn.split('/')[-1]}) failed container health checks.", unhealthy_at)
                        _begin_stop(service, t, unhealthy_at, exit_code=143, stop_code="ServiceSchedulerInitiated",
                                    reason=HEALTH_STOP)
                        _count_failure(service, t)
                        changed = True
                    elif crash_at and crash_at <= at_now:
                        exit_code = _option(fault, "exit_code", 1)
                        _begin_stop(service, t, crash_at, exit_code=exit_code, stop_code="EssentialContainerExited",
                                    reason=EXITED, container_reason=_option(fault, "container_reason"))
                        changed = True
            if mode in ("rollback", "failed_deployment") and primary["id"] == fault.get("deployment") \
                    and primary.get("failedTasks", 0) >= _timing(fault, "rollback_after") \
                    and primary.get("rolloutState") != "FAILED":
                if mode == "rollback":
                    _roll_back(backend, service, fault, at_now)
                else:
                    # Circuit breaker without rollback: the deployment is FAILED and stays PRIMARY
                    # (Developer Guide, "deployment circuit breaker").
                    primary["rolloutState"] = "FAILED"
                    primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
                    primary["updatedAt"] = at_now
                    _event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.", at_now)
                changed = True
                continue
            live = [t for t in _service_tasks(backend, service) if t.desired_status == "RUNNING"]
            desired = service.desired_count
            on_primary = [t for t in live if getattr(t, "m4_deployment", None) == primary["id"]]
            old = [t for t in live if t not in on_primary]
            running_primary = sum(1 for t in on_primary if t.status == "RUNNING")
            if old and (running_primary >= desired):
                # Rolling deployment: old tasks drain once the new ones carry the load.
                for t in old:
                    _planned_stop(service, t, at_now, primary)
                changed = True
            if len(on_primary) > desired:
                for t in sorted(on_primary, key=lambda t: t.created_at)[: len(on_primary) - desired]:
                    _planned_stop(service, t, at_now, primary)
                changed = True
            elif len(on_primary) < desired and primary.get("rolloutState") != "FAILED":
                last_stop = _last_unplanned_stop(backend, service)
                start_at = at_now if last_stop is None else max(
                    last_stop + timedelta(seconds=_timing(fault, "restart_delay")), _aware(primary.get("updatedAt", at_now)))
                if mode == "unplaceable":
                    changed |= _placement_attempt(service, fault, at_now)
                elif start_at <= at_now:
                    started = [_start_task(backend, service, primary, start_at) for _ in range(desired - len(on_primary))]
                    ids = " ".join(f"(task {t.task_arn.split('/')[-1]})" for t in started)
                    _event(service, f"has started {len(started)} tasks: {ids}.", start_at)
                    changed = True
            if not changed:
                break
        _update_counts(service, backend, at_now)


def _placement_attempt(service, fault, at):
    """No capacity: the scheduler retries with a growing interval and logs each failure as a
    service event; after repeated failures it also reports that it cannot start tasks
    consistently (Developer Guide, "Amazon ECS service event messages" and "service throttle")."""
    state = fault.setdefault("placement", {"next": at, "attempts": 0})
    if at < state["next"]:
        return False
    state["attempts"] += 1
    _event(service, _option(fault, "event", NO_CAPACITY), at)
    if state["attempts"] == 3:
        _event(service, "is unable to consistently start tasks successfully.", at)
    backoff = min(_timing(fault, "restart_delay") * 2 ** state["attempts"], 10.0)
    state["next"] = at + timedelta(seconds=backoff)
    return False


def _update_counts(service, backend, at):
    live = [t for t in _service_tasks(backend, service) if t.desired_status == "RUNNING"]
    # runningCount and pendingCount count tasks in the RUNNING and PENDING states (Service shape).
    running = sum(1 for t in live if t.status == "RUNNING")
    pending = sum(1 for t in live if t.status == "PENDING")
    service.running_count, service.pending_count = running, pending
    primary = service.deployments[0]
    on_primary = [t for t in live if getattr(t, "m4_deployment", None) == primary["id"] and t.status == "RUNNING"]
    primary.update(desiredCount=service.desired_count, runningCount=len(on_primary), pendingCount=pending)
    not_stopped = [t for t in _service_tasks(backend, service) if t.status != "STOPPED"]
    steady = running == service.desired_count and len(not_stopped) == running and len(on_primary) == running
    if steady and primary.get("rolloutState") == "IN_PROGRESS":
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = at
        # A completed deployment (a rollback's too) leaves only itself: the one rolled back from
        # is gone from the answer.
        del service.deployments[1:]
        _event(service, f"(deployment {primary['id']}) deployment completed.", at)
    if primary.get("rolloutState") == "COMPLETED":
        _remember_completed(service, primary)
    if steady and not getattr(service, "m4_steady", False):
        _event(service, "has reached a steady state.", at)
    service.m4_steady = steady


def _remember_completed(service, deployment):
    """Where a circuit-breaker rollback returns to: the last deployment that completed (kept on
    the service object, outside the API shape)."""
    service.m4_last_completed = (deployment.get("taskDefinition"), deployment.get("id"))


def _new_deployment(service, task_definition, at, reason=None):
    deployment = dict(service.deployments[0]) if service.deployments else {}
    deployment.update(
        id=f"ecs-svc/{uuid.uuid4().int % 10**19}",
        status="PRIMARY",
        taskDefinition=task_definition,
        desiredCount=service.desired_count,
        runningCount=0,
        pendingCount=0,
        failedTasks=0,
        rolloutState="IN_PROGRESS",
        rolloutStateReason=reason or "ECS deployment in progress.",
        createdAt=at,
        updatedAt=at,
    )
    for d in service.deployments:
        d["status"] = "ACTIVE"
    service.deployments.insert(0, deployment)
    service.task_definition = task_definition
    service.m4_steady = False
    return deployment


def _roll_back(backend, service, fault, at):
    """The circuit breaker's rollback as real DescribeServices answers show it (and the Developer
    Guide's "Amazon ECS service deployment state change events", whose rollback deployment reason
    reads "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/..."): a new
    PRIMARY deployment on the last completed task definition, its rolloutStateReason naming the
    deployment it rolls back to; the deployment rolled back from stays ACTIVE and IN_PROGRESS with
    its failedTasks until the rollback completes, and is gone after (see _update_counts)."""
    failed = service.deployments[0]
    failed["updatedAt"] = at
    last_td, back_to = getattr(service, "m4_last_completed", (None, "ecs-svc/unknown"))
    target = fault.get("rollback_to") or last_td or failed["taskDefinition"]
    _event(service, f"(deployment {failed['id']}) deployment failed: tasks failed to start.", at)
    deployment = _new_deployment(service, target, at,
                                 reason=f"ECS deployment circuit breaker: rolling back to deploymentId {back_to}.")
    for t in _service_tasks(backend, service):
        if t.desired_status == "RUNNING":
            _planned_stop(service, t, at, deployment)
    del service.deployments[2:]
    fault["mode"] = None  # the rolled-back task definition runs normally


def _reconcile_cluster(backend, cluster_str):
    with LOCK:
        name = cluster_str.split("/")[-1] if cluster_str else "default"
        for key, service in list(backend.services.items()):
            if key.startswith(f"{name}:"):
                reconcile(backend, service)


def _int_param(value, name, low, high):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidParameterException(f"{name} must be an integer.")
    if not low <= number <= high:
        raise InvalidParameterException(f"{name} must be between {low} and {high}.")
    return number


def install():
    orig_container_init = ecs_models.Container.__init__

    def container_init(self, task_def):
        # The Container shape as DescribeTasks documents it: cpu and memory are strings, a running
        # container has no exitCode, and its healthStatus is UNKNOWN until a declared check
        # passes (moto says HEALTHY, exit code 0 and integers from the start).
        orig_container_init(self, task_def)
        self.cpu = None if self.cpu is None else str(self.cpu)
        self.memory = None if self.memory is None else str(self.memory)
        self.exitCode = None
        self.health_status = "UNKNOWN"

    ecs_models.Container.__init__ = container_init
    backend_cls = ecs_models.EC2ContainerServiceBackend
    orig_update = backend_cls.update_service
    orig_describe_services = backend_cls.describe_services
    orig_list_tasks = backend_cls.list_tasks
    orig_create_service = backend_cls.create_service

    def create_service(self, cluster_str, service_name, desired_count, *args, **kwargs):
        with LOCK:
            service = orig_create_service(self, cluster_str, service_name, 0, *args, **kwargs)
            service.running_count = service.pending_count = 0
            if service.deployments:
                d = service.deployments[0]
                d.update(runningCount=0, pendingCount=0, desiredCount=0, rolloutState="COMPLETED",
                         rolloutStateReason=f"ECS deployment {d['id']} completed.")
                _remember_completed(service, d)
            service.desired_count = desired_count or 0
            reconcile(self, service)
            return service

    def update_service(self, props):
        with LOCK:
            cluster_str = props.get("cluster", "default")
            name = props["service"].split("/")[-1]
            service = self._get_service(cluster_str, name)
            if not service.deployments:  # CODE_DEPLOY / EXTERNAL: only counts change here
                return orig_update(self, props)
            reconcile(self, service)
            desired = props.pop("desired_count", None)
            task_definition = props.pop("task_definition", None)
            force = props.pop("force_new_deployment", False)
            props["force_new_deployment"] = False
            at = now()
            service = orig_update(self, props)
            if task_definition is not None:
                task_definition = self.describe_task_definition(task_definition).arn
            if desired is not None:
                service.desired_count = int(desired)
            if (task_definition and task_definition != service.deployments[0]["taskDefinition"]) or force:
                deployment = _new_deployment(service, task_definition or service.deployments[0]["taskDefinition"], at)
                fault = _fault(self, service)
                if fault.get("mode") in ("rollback", "failed_deployment"):
                    fault["deployment"] = deployment["id"]
            elif desired is not None:
                # A count change alone starts no new deployment: the PRIMARY deployment's desired
                # count (and so its updatedAt) changes, its rollout state is older than the update.
                service.deployments[0]["updatedAt"] = at
                if fault_mode(self, service) in ("rollback", "failed_deployment"):
                    _fault(self, service)["deployment"] = service.deployments[0]["id"]
            reconcile(self, service)
            return service

    def describe_services(self, cluster_str, service_names):
        _reconcile_cluster(self, cluster_str)
        return orig_describe_services(self, cluster_str, service_names)

    def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                   service_name=None, desiredStatus=None):
        _reconcile_cluster(self, cluster_str)
        # "desiredStatus ... The default status filter is RUNNING" (ListTasks, API reference);
        # moto lists every task when it is omitted.
        tasks = orig_list_tasks(self, cluster_str, container_instance, family, started_by, None,
                                desiredStatus or "RUNNING")
        if service_name:
            # ListTasks serviceName: "tasks that belong to that service" — started by it, not a
            # RunTask that borrowed its group name.
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks
                     if getattr(t, "group", None) == group and not getattr(t, "m4_one_shot", False)]
        return tasks

    backend_cls.create_service = create_service
    backend_cls.update_service = update_service
    backend_cls.describe_services = describe_services
    backend_cls.list_tasks = list_tasks

    responses_cls = ecs_responses.EC2ContainerServiceResponse

    def list_tasks_response(self):
        # "ListTasks returns up to 100 results and a nextToken value if applicable"; maxResults
        # 1-100 (ListTasks, API reference). The token is opaque to clients; here it is an offset.
        max_results = _int_param(self._get_param("maxResults") or 100, "maxResults", 1, 100)
        token = self._get_param("nextToken")
        start = 0
        if token:
            if not str(token).startswith("m4p-") or not token[4:].isdigit():
                raise InvalidParameterException("Invalid token")
            start = int(token[4:])
        tasks = self.ecs_backend.list_tasks(
            self._get_param("cluster", "default"), self._get_param("containerInstance"),
            self._get_param("family"), self._get_param("startedBy"), self._get_param("serviceName"),
            self._get_param("desiredStatus"))
        arns = [t.task_arn for t in tasks]
        result = {"taskArns": arns[start:start + max_results]}
        if start + max_results < len(arns):
            result["nextToken"] = f"m4p-{start + max_results}"
        return ecs_responses.ActionResult(result)

    def describe_tasks_response(self):
        # "tasks: A list of up to 100 task IDs or full ARN entries"; tasks it cannot find come back
        # in failures[] with reason MISSING ("Amazon ECS API failure reasons").
        cluster = self._get_param("cluster", "default")
        wanted = self._get_param("tasks", [])
        if not wanted:
            raise InvalidParameterException("Tasks cannot be empty.")
        if len(wanted) > 100:
            raise InvalidParameterException("Tasks cannot have more than 100 elements.")
        _reconcile_cluster(self.ecs_backend, cluster)
        self.ecs_backend._get_cluster(cluster)
        name = cluster.split("/")[-1]
        by_key = {}
        for arn, task in self.ecs_backend.tasks.get(name, {}).items():
            by_key[arn] = task
            by_key[arn.split("/")[-1]] = task
        found, failures = [], []
        for key in wanted:
            task = by_key.get(key)
            if task is None:
                failures.append({"arn": key, "reason": "MISSING"})
            elif task not in found:
                found.append(task)
        return ecs_responses.ActionResult({"tasks": found, "failures": failures})

    responses_cls.list_tasks = list_tasks_response
    responses_cls.describe_tasks = describe_tasks_response


def fault_mode(backend, service):
    return _fault(backend, service).get("mode")


MODES = {None, "crash_loop", "fail_to_start", "unhealthy", "unhealthy_after", "unplaceable", "stuck_pending",
         "rollback", "failed_deployment"}


def set_fault(account, region, cluster, service, mode, rollback_to=None, timing=None, options=None):
    with LOCK:
        key = (account, region, cluster, service)
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        try:
            ecs_models.ecs_backends[account][region]._get_service(cluster, service)
        except Exception:
            # A fault that names nothing would answer ok and do nothing: say so instead.
            raise ValueError(f"no service {service!r} in cluster {cluster!r} ({account}, {region}); "
                             "a one-shot task family is shaped with POST /m4host-substrate/oneshot")
        unknown = set(timing or {}) - set(TIMING)
        if unknown:
            raise ValueError(f"unknown timing {sorted(unknown)}")
        unknown = set(options or {}) - OPTIONS
        if unknown:
            raise ValueError(f"unknown fault options {sorted(unknown)}")
        if mode or timing:
            FAULTS[key] = {"mode": mode, "rollback_to": rollback_to, "timing": dict(timing or {}),
                           "options": dict(options or {})}
        else:
            FAULTS.pop(key, None)
