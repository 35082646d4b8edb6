"""Runs moto_server with m4host's extension: python3 -m moto_m4.server -H 127.0.0.1 -p 4566"""
import argparse
import signal
import sys

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from . import awslogs, control, ecs_scheduler, ecs_tasks, iam_enforce, iam_simulate, oracle, standins


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    if not args.host.startswith("127.") and args.host != "localhost":
        sys.exit("the substrate binds to loopback only")
    ecs_scheduler.install()
    ecs_tasks.install()  # after the scheduler: it wraps the scheduler's DescribeTasks
    oracle.install()
    iam_simulate.install()
    standins.install()
    awslogs.install()
    iam_enforce.install()  # inert until enforcement is asked for (POST /moto-api/reset-auth)
    signal.signal(signal.SIGTERM, lambda *_: (standins.stop_all(), sys.exit(0)))
    app = control.middleware(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
