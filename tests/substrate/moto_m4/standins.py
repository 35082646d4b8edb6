"""Stand-in daemons: while a service's task is RUNNING, a Kafka consumer joins the service's
consumer group on its lane topics (and commits, so the group is visible on the broker); it leaves
when the task stops. Consumer uniqueness is then observable on the broker as in production.
"""
import logging
import threading
import time

from . import ecs_scheduler

LOG = logging.getLogger("m4host.standins")
LANES = {}       # "cluster/service" -> {"group", "topics", "bootstrap"}
_RUNNING = {}    # task arn -> (thread, stop event, lane key)
_LOCK = threading.Lock()


def register_lane(body):
    key = f"{body['cluster']}/{body['service']}"
    LANES[key] = {"group": body["group"], "topics": list(body["topics"]), "bootstrap": body["bootstrap"],
                  "sasl": body.get("sasl")}


def _consume(lane, stop, joined=None, client_id=None):
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata
    consumer = None
    try:
        sasl = lane.get("sasl")
        security = {} if not sasl else {
            "security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_plain_username": sasl["username"],
            "sasl_plain_password": sasl["password"], "ssl_cafile": sasl["cafile"]}
        consumer = KafkaConsumer(*lane["topics"], bootstrap_servers=lane["bootstrap"], group_id=lane["group"],
                                 enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=1000,
                                 client_id=client_id or f"standin-{lane['group']}", **security)
        committed = False
        while not stop.is_set():
            consumer.poll(timeout_ms=1000)
            if not committed and consumer.assignment():
                consumer.commit({tp: OffsetAndMetadata(consumer.position(tp), "", -1) for tp in consumer.assignment()})
                committed = True
                if joined is not None:
                    joined.set()
    except Exception as exc:  # the broker may be down; the stand-in is best effort, never fatal to moto
        LOG.warning("stand-in for %s: %r", lane["group"], exc)
        time.sleep(0.5)
    finally:
        if consumer is not None:
            try:
                consumer.close()
            except Exception:
                pass


def _on_task(event, service, task):
    key = f"{service.cluster_name}/{service.name}"
    lane = LANES.get(key)
    if lane is None or not lane["topics"]:
        return
    with _LOCK:
        if event == "running" and task.task_arn not in _RUNNING:
            stop = threading.Event()
            # A daemon names itself to Kafka by its service and its ECS task id (the last segment of
            # its task ARN, read from the task metadata endpoint v4 in production), so that the
            # broker's DescribeGroups says which task a member is (kafka-python's `client_id`,
            # Kafka's client.id; the coordinator builds the member id as client.id-UUID).
            client_id = f"{service.name}-{task.task_arn.rsplit('/', 1)[-1]}"
            thread = threading.Thread(target=_consume, args=(lane, stop, None, client_id), daemon=True,
                                      name=f"standin-{service.name}")
            _RUNNING[task.task_arn] = (thread, stop, key)
            thread.start()
        elif event == "stopped" and task.task_arn in _RUNNING:
            _, stop, _ = _RUNNING.pop(task.task_arn)
            stop.set()


_ROGUES = {}  # name -> (thread, stop event, lane)


def rogue(body):
    """Starts or stops a manual once-off consumer in a lane's group (a duplicate consumer)."""
    name = body["name"]
    with _LOCK:
        if body.get("action", "start") == "stop":
            entry = _ROGUES.pop(name, None)
            if entry:
                entry[1].set()
            return {"joined": False}
        lane = {"group": body["group"], "topics": list(body["topics"]), "bootstrap": body["bootstrap"]}
        stop, joined = threading.Event(), threading.Event()
        # A manual consumer names itself as its operator chose (default: its own name).
        thread = threading.Thread(target=_consume, args=(lane, stop, joined, body.get("client_id", name)),
                                  daemon=True, name=f"rogue-{name}")
        _ROGUES[name] = (thread, stop, lane)
        thread.start()
    # A test waits for the state it needs: the rogue is a member with partitions assigned.
    return {"joined": joined.wait(timeout=float(body.get("wait_s", 0)))}


def members():
    with _LOCK:
        return [{"task": arn, "lane": key, "alive": thread.is_alive()} for arn, (thread, _, key) in _RUNNING.items()]


def stop_all():
    with _LOCK:
        for _, stop, _ in list(_RUNNING.values()) + list(_ROGUES.values()):
            stop.set()
        _RUNNING.clear()
        _ROGUES.clear()


def install():
    ecs_scheduler.LISTENERS.append(_on_task)
