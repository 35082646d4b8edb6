"""m4host's extension of moto_server: closes the gaps the M4 runbook needs (SPEC section 6).

Loaded inside the moto server process (see server.py) so that the AWS SDK still speaks real HTTP:
- ecs_scheduler: services get tasks, deployments, events, crash loops, stuck pending, rollback;
- ecs_tasks: one-shot tasks (RunTask, StopTask) run, exit and stop as ECS documents it;
- oracle: the oracle seed / sort / checker stand-ins write their outputs to S3;
- iam_simulate: SimulatePrincipalPolicy answered from the role's real policies;
- standins: a stand-in daemon joins a service's Kafka consumer group while its task runs;
- control: /m4host-substrate/* endpoints for tests to inject faults and set timings.
"""
