//! S3 and CloudWatch Logs probes. Each answers `#{outcome: "pass" | "fail" | "error", reason, ...}`;
//! writes are skipped under --plan and recorded as would-do.

use super::{Args, Failure, Primitive, Ty};
use crate::host::{Host, Outcome};
use crate::json::from_json;
use rhai::{Dynamic, NativeCallContext};

fn s3_probe(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (bucket, prefix) = (args.str(0), args.str(1));
    let aws = host.aws()?;
    let write = !host.plan();
    if !write {
        host.would_do.lock().expect("plan lock").push(format!(
            "would write and remove a probe object under s3://{bucket}/{prefix}"
        ));
    }
    let name = format!("{}-{}", host.clock.execution_id, host.next_probe_id());
    let probe = host.block_on(crate::s3::probe_prefix(
        &aws.s3, &bucket, &prefix, &name, write,
    ));
    Ok(from_json(
        &serde_json::to_value(probe).expect("probe serialises"),
    ))
}

fn log_groups(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let prefix = args.str(0);
    let aws = host.aws()?;
    let value = match host.block_on(crate::logs::groups(&aws.logs, &prefix)) {
        Ok(groups) if groups.is_empty() => {
            serde_json::json!({"outcome": "fail", "groups": [], "reason": format!("no log group under {prefix}")})
        }
        Ok(groups) => {
            serde_json::json!({"outcome": "pass", "reason": format!("{} log group(s) under {prefix}", groups.len()), "groups": groups})
        }
        Err(why) => serde_json::json!({"outcome": "error", "groups": [], "reason": why}),
    };
    Ok(from_json(&value))
}

fn log_write_probe(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let group = args.str(0);
    if host.plan() {
        host.would_do.lock().expect("plan lock").push(format!(
            "would create a probe stream and put one event in {group}"
        ));
        return Ok(from_json(
            &serde_json::json!({"outcome": "pass", "written": false,
            "reason": format!("write to {group} not probed under --plan")}),
        ));
    }
    let aws = host.aws()?;
    let stream = format!(
        "m4host-probe-{}-{}",
        host.clock.execution_id,
        host.next_probe_id()
    );
    let value = match host.block_on(crate::logs::write_probe(
        &aws.logs,
        &group,
        &stream,
        "m4host write probe",
    )) {
        Ok(()) => serde_json::json!({"outcome": "pass", "written": true, "stream": stream,
            "reason": format!("created {stream} and put one event in {group}")}),
        Err(why) if why.contains("ResourceNotFound") => {
            serde_json::json!({"outcome": "fail", "written": false, "reason": why})
        }
        Err(why) => serde_json::json!({"outcome": "error", "written": false, "reason": why}),
    };
    Ok(from_json(&value))
}

fn log_filter(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (group, pattern) = (args.str(0), args.str(1));
    let since_ms = args.any(2).as_int().unwrap_or(0);
    let aws = host.aws()?;
    let value = match host.block_on(crate::logs::filter(&aws.logs, &group, &pattern, since_ms)) {
        Ok(events) => {
            serde_json::json!({"outcome": "pass", "count": events.len(), "events": events,
            "reason": format!("{} event(s) match", events.len())})
        }
        Err(why) => {
            serde_json::json!({"outcome": "error", "count": 0, "events": [], "reason": why})
        }
    };
    Ok(from_json(&value))
}

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "s3_probe",
        params: &[("bucket", Ty::Str), ("prefix", Ty::Str)],
        returns: "Map",
        doc: "Bucket exists (HeadBucket), prefix readable (ListObjectsV2) and writable (a probe object \
              under <prefix>/_m4host_probe/ written If-None-Match, read back, compared, deleted; not \
              under --plan): #{outcome, bucket, prefix, bucket_exists, readable, writable, probe_key, \
              latency_ms, reason}.",
        example: "let p = s3_probe(resolve_handle(\"S3_EVIDENCE_BUCKET\"), \"evidence/\");\nprint(`${p.outcome}: ${p.reason}`);",
        example_exit: 0,
        failure: Failure::Catchable,
        call: s3_probe,
    },
    Primitive {
        name: "log_groups",
        params: &[("prefix", Ty::Str)],
        returns: "Map",
        doc: "Log groups under a prefix: #{outcome (fail when none), groups, reason}.",
        example: "print(log_groups(\"/fraud-platform/dev_min\").groups.len());",
        example_exit: 0,
        failure: Failure::Catchable,
        call: log_groups,
    },
    Primitive {
        name: "log_write_probe",
        params: &[("group", Ty::Str)],
        returns: "Map",
        doc: "The write surface of a log group: creates a probe stream and puts one event (not under \
              --plan): #{outcome, written, stream, reason}.",
        example: "print(log_write_probe(\"/fraud-platform/dev_min/fraud-platform-dev-min-ig\").outcome);",
        example_exit: 0,
        failure: Failure::Catchable,
        call: log_write_probe,
    },
    Primitive {
        name: "log_filter",
        params: &[("group", Ty::Str), ("pattern", Ty::Str), ("since_ms", Ty::Int)],
        returns: "Map",
        doc: "Events of a log group matching a CloudWatch filter pattern since an epoch time in ms \
              (e.g. run-scope mismatch lines): #{outcome, count, events: [#{stream, timestamp_ms, \
              message}], reason}.",
        example: "print(log_filter(\"/fraud-platform/dev_min/fraud-platform-dev-min-ig\", \"RUN_SCOPE_MISMATCH\", 0).count);",
        example_exit: 0,
        failure: Failure::Catchable,
        call: log_filter,
    },
];
