"""Oracle stand-ins: what the one-shot oracle tasks of M5 and the reporter after them do when their
essential container exits, as the platform's jobs are specified to (seed writes the run's oracle
seed, sort reads it and writes the sorted set, checker reads that and writes its report, reporter
reads the report and writes the run's summary), each under
`oracle/<REQUIRED_PLATFORM_RUN_ID>/<stage>/` in the bucket its task definition names
(ORACLE_OUTPUT_BUCKET). Like the real jobs they fail fast (exit 1) without their run scope or
without their input; a task told to write no output (one-shot option output: false) exits as told
and writes nothing. Objects are written into moto's S3 backend directly, as the task's role would.
"""
import json

from moto.s3.models import s3_backends

from . import ecs_tasks

STAGES = {"seed": (None, "manifest.json"), "sort": ("seed/manifest.json", "manifest.json"),
          "checker": ("sort/manifest.json", "report.json"),
          # The platform's reporter (P11), run once after M5: reads the checker's report and
          # writes the run's summary beside it.
          "reporter": ("checker/report.json", "summary.json")}


def _on_exit(task, env, exit_code, output):
    stage = env.get("ORACLE_STAGE")
    if stage not in STAGES:
        return None  # not an oracle task: it exits as its behaviour says
    run_id, bucket = env.get("REQUIRED_PLATFORM_RUN_ID"), env.get("ORACLE_OUTPUT_BUCKET")
    if not run_id or not bucket:
        return 1
    s3 = s3_backends[task._account_id]["aws"]
    prefix = f"oracle/{run_id}/"
    needs, name = STAGES[stage]
    if needs is not None:
        try:
            found = s3.get_object(bucket, prefix + needs)
        except Exception:
            found = None
        if found is None:
            return 1
    if exit_code != 0 or not output:
        return None
    body = json.dumps({"stage": stage, "platform_run_id": run_id, "task": task.task_arn,
                       "input": None if needs is None else prefix + needs}).encode()
    s3.put_object(bucket, f"{prefix}{stage}/{name}", body)
    return None


def install():
    ecs_tasks.LISTENERS.append(_on_exit)
