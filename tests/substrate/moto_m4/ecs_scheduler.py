"""A small ECS service scheduler for moto.

moto has no scheduler: update-service sets runningCount to the desired count at once, deployments
never change, there are no events and list-tasks ignores serviceName. This module reconciles every
service whenever ECS is asked about it, as a discrete-event simulation over wall-clock time:

  PENDING --start_delay--> RUNNING --(crash fault) crash_after--> STOPPED (exit 1) --restart_delay--> new task

Faults per service: crash_loop, stuck_pending, rollback (the next deployment's tasks crash; after
`rollback_after` failures the deployment is FAILED and ECS rolls back to the previous task
definition with a new PRIMARY deployment).
"""
import threading
import uuid
from datetime import datetime, timedelta, timezone

from moto.ecs import models as ecs_models

LOCK = threading.RLock()

TIMING = {"start_delay": 1.0, "crash_after": 1.0, "restart_delay": 0.5, "rollback_after": 2}
# (account, region, cluster, service) -> {"mode": ..., "rollback_to": ...}
FAULTS = {}
# listeners called as fn(event, backend, service, task) for "running" and "stopped"
LISTENERS = []


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


def _event(service, message, at):
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": at, "message": f"(service {service.name}) {message}"})
    del service.events[100:]


def _timing(fault, key):
    """A service's own timing (set with its fault entry) or the global one."""
    return fault.get("timing", {}).get(key, TIMING[key])


def _fault(backend, service):
    return FAULTS.get((backend.account_id, backend.region_name, service.cluster_name, service.name), {})


def _service_tasks(backend, service):
    group = f"service:{service.name}"
    return [t for t in backend.tasks.get(service.cluster_name, {}).values() if getattr(t, "group", None) == group]


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
    task.status = "PENDING"
    task.desired_status = "RUNNING"
    task.created_at = at
    task.m4_deployment = deployment["id"]
    for c in task.containers:
        c.last_status = "PENDING"
        # The ECS API's Container.cpu and .memory are strings; moto keeps the task definition's ints.
        c.cpu = None if c.cpu is None else str(c.cpu)
        c.memory = None if c.memory is None else str(c.memory)
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    return task


def _stop_task(service, task, at, *, exit_code, stop_code, reason):
    task.status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_at = at
    task.stopping_at = at
    task.execution_stopped_at = at
    task.stop_code = stop_code
    task.stopped_reason = reason
    for c in task.containers:
        c.last_status = "STOPPED"
        c.exitCode = exit_code
        c.reason = reason if exit_code else None
    short = task.task_arn.split("/")[-1]
    if exit_code:
        _event(service, f"has stopped 1 running tasks: (task {short}).", at)
    for listener in LISTENERS:
        listener("stopped", service, task)


def _crashes(fault, task):
    mode = fault.get("mode")
    if mode == "crash_loop":
        return True
    return mode == "rollback" and getattr(task, "m4_deployment", None) == fault.get("deployment")


def reconcile(backend, service):
    """Brings one service's tasks, counts, deployments and events up to the current time."""
    with LOCK:
        if not service.deployments or service.status != "ACTIVE":
            return
        at_now = now()
        fault = _fault(backend, service)
        for _ in range(1000):  # bounded: each pass applies the earliest due transition(s)
            changed = False
            primary = service.deployments[0]
            tasks = _service_tasks(backend, service)
            live = [t for t in tasks if t.desired_status == "RUNNING"]
            for t in live:
                if t.status == "PENDING" and fault.get("mode") != "stuck_pending":
                    due = t.created_at + timedelta(seconds=_timing(fault, "start_delay"))
                    if due <= at_now:
                        t.status = "RUNNING"
                        t.started_at = t.pull_started_at = t.pull_stopped_at = due
                        for c in t.containers:
                            c.last_status = "RUNNING"
                        changed = True
                        for listener in LISTENERS:
                            listener("running", service, t)
                elif t.status == "RUNNING" and _crashes(fault, t):
                    due = t.started_at + timedelta(seconds=_timing(fault, "crash_after"))
                    if due <= at_now:
                        _stop_task(service, t, due, exit_code=1, stop_code="EssentialContainerExited",
                                   reason="Essential container in task exited")
                        primary["failedTasks"] = primary.get("failedTasks", 0) + 1
                        changed = True
            if fault.get("mode") == "rollback" and primary["id"] == fault.get("deployment") \
                    and primary.get("failedTasks", 0) >= _timing(fault, "rollback_after"):
                _roll_back(backend, service, fault, at_now)
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
                    _stop_task(service, t, at_now, exit_code=0, stop_code="ServiceSchedulerInitiated",
                               reason=f"Task stopped by deployment {primary['id']}")
                changed = True
            if len(on_primary) > desired:
                for t in sorted(on_primary, key=lambda t: t.created_at)[: len(on_primary) - desired]:
                    _stop_task(service, t, at_now, exit_code=0, stop_code="ServiceSchedulerInitiated",
                               reason=f"Scaling activity initiated by (deployment {primary['id']})")
                changed = True
            elif len(on_primary) < desired:
                last_stop = max((t.stopped_at for t in _service_tasks(backend, service)
                                 if getattr(t, "stopped_at", None) and t.stop_code == "EssentialContainerExited"),
                                default=None)
                start_at = at_now if last_stop is None else max(
                    last_stop + timedelta(seconds=_timing(fault, "restart_delay")), primary.get("updatedAt", at_now))
                if start_at <= at_now:
                    started = [_start_task(backend, service, primary, start_at) for _ in range(desired - len(on_primary))]
                    ids = " ".join(f"(task {t.task_arn.split('/')[-1]})" for t in started)
                    _event(service, f"has started {len(started)} tasks: {ids}.", start_at)
                    changed = True
            if not changed:
                break
        _update_counts(service, backend, at_now)


def _update_counts(service, backend, at):
    live = [t for t in _service_tasks(backend, service) if t.desired_status == "RUNNING"]
    running = sum(1 for t in live if t.status == "RUNNING")
    pending = sum(1 for t in live if t.status == "PENDING")
    service.running_count, service.pending_count = running, pending
    primary = service.deployments[0]
    on_primary = [t for t in live if getattr(t, "m4_deployment", None) == primary["id"] and t.status == "RUNNING"]
    primary.update(desiredCount=service.desired_count, runningCount=len(on_primary), pendingCount=pending)
    steady = running == service.desired_count and pending == 0 and len(on_primary) == running
    if steady and primary.get("rolloutState") == "IN_PROGRESS":
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = at
        del service.deployments[1:]
    if steady and not getattr(service, "m4_steady", False):
        _event(service, "has reached a steady state.", at)
    service.m4_steady = steady


def _new_deployment(service, task_definition, at, reason=None):
    deployment = dict(service.deployments[0]) if service.deployments else {}
    # Where a circuit-breaker rollback returns to (not part of the API shape, so never serialised).
    deployment["m4_previous_td"] = deployment.get("taskDefinition")
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
    failed = service.deployments[0]
    failed["rolloutState"] = "FAILED"
    failed["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
    target = fault.get("rollback_to") or failed.get("m4_previous_td") or failed["taskDefinition"]
    for t in _service_tasks(backend, service):
        if t.desired_status == "RUNNING":
            _stop_task(service, t, at, exit_code=0, stop_code="ServiceSchedulerInitiated",
                       reason="Deployment rolled back")
    _event(service, f"deployment {failed['id']} deployment failed: tasks failed to start.", at)
    deployment = _new_deployment(service, target, at, reason=f"ECS deployment circuit breaker: rolling back to {target}")
    del service.deployments[2:]
    _event(service, f"rolling back to deployment {deployment['id']}.", at)
    fault["mode"] = None  # the rolled-back task definition runs normally


def _reconcile_cluster(backend, cluster_str):
    with LOCK:
        name = cluster_str.split("/")[-1] if cluster_str else "default"
        for key, service in list(backend.services.items()):
            if key.startswith(f"{name}:"):
                reconcile(backend, service)


def install():
    backend_cls = ecs_models.EC2ContainerServiceBackend
    orig_update = backend_cls.update_service
    orig_describe_services = backend_cls.describe_services
    orig_list_tasks = backend_cls.list_tasks
    orig_describe_tasks = backend_cls.describe_tasks
    orig_create_service = backend_cls.create_service

    def create_service(self, cluster_str, service_name, desired_count, *args, **kwargs):
        with LOCK:
            service = orig_create_service(self, cluster_str, service_name, 0, *args, **kwargs)
            service.running_count = service.pending_count = 0
            if service.deployments:
                d = service.deployments[0]
                d.update(runningCount=0, pendingCount=0, desiredCount=0, rolloutState="COMPLETED",
                         rolloutStateReason=f"ECS deployment {d['id']} completed.")
            service.desired_count = desired_count or 0
            reconcile(self, service)
            return service

    def update_service(self, props):
        with LOCK:
            cluster_str = props.get("cluster", "default")
            name = props["service"].split("/")[-1]
            service = self._get_service(cluster_str, name)
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
                if fault.get("mode") == "rollback":
                    fault["deployment"] = deployment["id"]
            elif desired is not None:
                service.deployments[0]["updatedAt"] = at
                if fault_mode(self, service) == "rollback":
                    _fault(self, service)["deployment"] = service.deployments[0]["id"]
            reconcile(self, service)
            return service

    def describe_services(self, cluster_str, service_names):
        _reconcile_cluster(self, cluster_str)
        return orig_describe_services(self, cluster_str, service_names)

    def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                   service_name=None, desiredStatus=None):
        _reconcile_cluster(self, cluster_str)
        tasks = orig_list_tasks(self, cluster_str, container_instance, family, started_by, None, desiredStatus)
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if getattr(t, "group", None) == group]
        return tasks

    def describe_tasks(self, cluster_str, tasks):
        _reconcile_cluster(self, cluster_str)
        return orig_describe_tasks(self, cluster_str, tasks)

    backend_cls.create_service = create_service
    backend_cls.update_service = update_service
    backend_cls.describe_services = describe_services
    backend_cls.list_tasks = list_tasks
    backend_cls.describe_tasks = describe_tasks


def fault_mode(backend, service):
    return _fault(backend, service).get("mode")


def set_fault(account, region, cluster, service, mode, rollback_to=None, timing=None):
    with LOCK:
        key = (account, region, cluster, service)
        unknown = set(timing or {}) - set(TIMING)
        if unknown:
            raise ValueError(f"unknown timing {sorted(unknown)}")
        if mode or timing:
            FAULTS[key] = {"mode": mode, "rollback_to": rollback_to, "timing": dict(timing or {})}
        else:
            FAULTS.pop(key, None)
