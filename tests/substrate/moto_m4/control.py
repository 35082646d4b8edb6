"""/m4host-substrate/* control endpoints, served by the same moto process (loopback only).

POST /m4host-substrate/timing  {"start_delay": s, "crash_after": s, "restart_delay": s, "rollback_after": n,
                                "stop_delay": s}
POST /m4host-substrate/fault   {"cluster", "service", "mode": one of ecs_scheduler.MODES (null without
                                "timing" clears), "rollback_to": task definition arn (optional), "region",
                                "account", "timing": {per-service overrides of the timing keys},
                                "options": {exit_code, container_reason, stopped_reason, healthy_for, event,
                                last_words}}; a service that does not exist is a 400
POST /m4host-substrate/lanes   {"cluster", "service", "group", "topics": [...], "bootstrap"}
POST /m4host-substrate/rogue   {"name", "action": "start"|"stop", "group", "topics", "bootstrap",
                                "wait_s": seconds to wait until the rogue has joined} -> {"joined"}
POST /m4host-substrate/oneshot {"family", "region", "account", "run_for", "exit_code", "mode", "output",
                                "visibility_delay"}: how a one-shot task of that family behaves (ecs_tasks)
GET  /m4host-substrate/state   faults, timing, lanes, stand-in members
"""
import json

from . import ecs_scheduler, ecs_tasks, standins

PREFIX = "/m4host-substrate/"
DEFAULT_ACCOUNT = "123456789012"


def _json(start_response, status, body):
    data = json.dumps(body, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def handle(environ, start_response):
    path = environ["PATH_INFO"][len(PREFIX):]
    method = environ["REQUEST_METHOD"]
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(size) or b"{}") if size else {}
        if method == "GET" and path == "state":
            return _json(start_response, "200 OK", {
                "timing": ecs_scheduler.TIMING,
                "faults": {"/".join(k): v for k, v in ecs_scheduler.FAULTS.items()},
                "lanes": standins.LANES,
                "members": standins.members(),
                "one_shot": ecs_tasks.state(),
            })
        if method == "POST" and path == "timing":
            unknown = set(body) - set(ecs_scheduler.TIMING)
            if unknown:
                return _json(start_response, "400 Bad Request", {"error": f"unknown timing {sorted(unknown)}"})
            ecs_scheduler.TIMING.update(body)
            return _json(start_response, "200 OK", ecs_scheduler.TIMING)
        if method == "POST" and path == "fault":
            ecs_scheduler.set_fault(body.get("account", DEFAULT_ACCOUNT), body.get("region", "eu-west-2"),
                                    body["cluster"], body["service"], body.get("mode"), body.get("rollback_to"),
                                    body.get("timing"), body.get("options"))
            return _json(start_response, "200 OK", {"ok": True})
        if method == "POST" and path == "oneshot":
            ecs_tasks.set_behaviour(body.get("account", DEFAULT_ACCOUNT), body.get("region", "eu-west-2"),
                                    body["family"], body)
            return _json(start_response, "200 OK", {"ok": True})
        if method == "POST" and path == "lanes":
            standins.register_lane(body)
            return _json(start_response, "200 OK", {"ok": True})
        if method == "POST" and path == "rogue":
            return _json(start_response, "200 OK", {"ok": True, **standins.rogue(body)})
        return _json(start_response, "404 Not Found", {"error": f"no control endpoint {method} {path}"})
    except (KeyError, ValueError) as exc:
        return _json(start_response, "400 Bad Request", {"error": repr(exc)})


def middleware(app):
    def wrapped(environ, start_response):
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return handle(environ, start_response)
        return app(environ, start_response)
    return wrapped
