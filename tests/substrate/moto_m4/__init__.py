"""m4host's extension of moto_server: closes the gaps the M4 runbook needs (SPEC section 6).

Loaded inside the moto server process (see server.py) so that the AWS SDK still speaks real HTTP:
- ecs_scheduler: services get tasks, deployments, events, crash loops, stuck pending, rollback;
- iam_simulate: SimulatePrincipalPolicy answered from the role's real policies;
- standins: a stand-in daemon joins a service's Kafka consumer group while its task runs;
- control: /m4host-substrate/* endpoints for tests to inject faults and set timings.
"""
