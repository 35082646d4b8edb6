//! S3 and CloudWatch Logs probes, and S3 listings. Each answers `#{outcome: "pass" | "fail" | "error", reason, ...}`;
//! writes are skipped under --plan and recorded as would-do.

use super::{Args, Failure, Primitive, Shape, Ty};
use crate::host::json::from_json;
use crate::host::{Fail, Host, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::outcome::ProbeOutcome;
use crate::rules::permissions::*;
use rhai::{Dynamic, NativeCallContext};

/// One bucket/prefix probe, ready to run with others.
fn s3_probe_item(
    host: &Host,
    bucket: String,
    prefix: String,
) -> Outcome<impl std::future::Future<Output = serde_json::Value> + '_> {
    let aws = host.aws()?;
    let write = !host.plan();
    if !write {
        host.would(format!(
            "would write and remove a probe object under s3://{bucket}/{prefix}"
        ));
    }
    let name = host.probe_name(&format!("s3://{bucket}/{prefix}"));
    Ok(async move {
        // The probe object is removed meanwhile, settled before anything changes the world.
        let remove = |key: String| {
            host.clean_up_later(crate::infra::s3::remove_probe_object(
                aws.s3.clone(),
                bucket.clone(),
                key,
            ))
        };
        let mut probe =
            crate::infra::s3::probe_prefix(&aws.s3, &bucket, &prefix, &name, write, remove).await;
        probe.latency_ms = host.measured_ms(
            &format!("s3 probe latency {bucket}/{prefix}"),
            probe.latency_ms,
        );
        crate::host::json::record(&probe)
    })
}

fn s3_probe(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let probe = s3_probe_item(host, args.str(0), args.str(1))?;
    Ok(from_json(&host.call(probe)?))
}

fn s3_probes(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let mut probes = Vec::new();
    for item in args.array(0) {
        let map = item.try_cast::<rhai::Map>().ok_or_else(|| {
            Fail::error(ErrorCode::BadArgument, "each item is #{bucket, prefix}", "")
        })?;
        let get = |k: &str| map.get(k).and_then(|v| v.clone().into_string().ok());
        let Some(bucket) = get("bucket") else {
            return Err(Fail::error(
                ErrorCode::BadArgument,
                "each item needs a bucket",
                "",
            ));
        };
        probes.push(s3_probe_item(
            host,
            bucket,
            get("prefix").unwrap_or_default(),
        )?);
    }
    let results = host.call(crate::host::bounded(probes))?;
    Ok(from_json(&serde_json::Value::Array(results)))
}

/// At most this many keys come back from one s3_list (10 pages); more says `truncated`.
const LIST_LIMIT: usize = 10_000;

fn s3_list(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (bucket, prefix) = (args.str(0), args.str(1));
    let aws = host.aws()?;
    let listed = host.call(crate::infra::s3::list_objects(
        &aws.s3, &bucket, &prefix, LIST_LIMIT,
    ))?;
    let value = match listed {
        Ok((objects, truncated)) => serde_json::json!({
            "outcome": ProbeOutcome::Pass,
            "reason": format!("{} object(s) under s3://{bucket}/{prefix}{}", objects.len(),
                              if truncated { " (more not listed)" } else { "" }),
            "keys": objects.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
            "objects": objects,
            "truncated": truncated,
        }),
        // A bucket that is missing or may not be listed is a finding; a listing that could not
        // be made (throttled, timed out, unreachable, 5xx) is an error, never an empty prefix.
        Err(why) => serde_json::json!({
            "outcome": why.outcome(),
            "reason": why.to_string(),
            "keys": [],
            "objects": [],
            "truncated": false,
        }),
    };
    Ok(from_json(&value))
}

/// `object` as the output rule reads it.
fn listed(o: &crate::infra::s3::ObjectView) -> crate::rules::one_shot::Listed {
    crate::rules::one_shot::Listed {
        key: o.key.clone(),
        size: o.size,
        last_modified: o
            .last_modified
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
    }
}

const JOB_OUTPUTS_OPTIONS: &[super::OptionDoc] = &[
    super::opt("started_at", "String (RFC 3339) or ()", "none", "when the task started (ecs_wait_task_stopped's task.started_at); () for a task that never started"),
    super::opt("consumes", "Array of String", "[]", "keys in the same bucket the job reads: its outputs must not be older"),
];

fn job_outputs(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (bucket, prefix) = (args.str(0), args.str(1));
    let expected: Vec<String> = super::ecs::names(args.array(2), "outputs")?
        .into_iter()
        .map(|o| format!("{prefix}{o}"))
        .collect();
    let o = super::options::Options::new(args.map(3), "job_outputs", JOB_OUTPUTS_OPTIONS)?;
    // `started_at: ()` is a task that never started: no time to judge outputs against.
    let started_at = match o.get("started_at") {
        Some(v) if v.is_unit() => None,
        _ => match o.text("started_at")? {
            None => None,
            Some(text) => Some(
                chrono::DateTime::parse_from_rfc3339(&text)
                    .map_err(|e| {
                        Fail::error(
                            ErrorCode::BadOption,
                            format!("option `started_at` is not an RFC 3339 time: {e}"),
                            "e.g. 2026-12-07T10:00:05.120Z",
                        )
                    })?
                    .with_timezone(&chrono::Utc),
            ),
        },
    };
    let consumes = o.strings("consumes")?;
    let aws = host.aws()?;
    let s3 = &aws.s3;
    let (bucket_ref, prefix_ref) = (&bucket, &prefix);
    let (listing, inputs) = host.call(async move {
        futures::join!(
            crate::infra::s3::list_objects(s3, bucket_ref, prefix_ref, LIST_LIMIT),
            futures::future::join_all(
                consumes
                    .iter()
                    .map(|k| crate::infra::s3::list_objects(s3, bucket_ref, k, 1))
            )
        )
    })?;
    let could_not = |why: String| {
        serde_json::json!({"outcome": ProbeOutcome::Error, "reason": why, "outputs": [], "listed": [],
                           "clock_allowance_ms": crate::rules::one_shot::OUTPUT_CLOCK_ALLOWANCE_MS})
    };
    let value = match listing {
        Err(why) => could_not(why.to_string()),
        Ok((objects, _)) => {
            let mut consumed = Vec::new();
            let mut unread = None;
            for input in inputs {
                match input {
                    Ok((found, _)) => consumed.extend(found.iter().map(listed)),
                    Err(why) => unread = Some(why.to_string()),
                }
            }
            match unread {
                Some(why) => could_not(format!("the consumed inputs could not be listed: {why}")),
                None => {
                    let found: Vec<_> = objects.iter().map(listed).collect();
                    let checks = crate::rules::one_shot::judge_outputs(
                        &expected, &found, started_at, &consumed,
                    );
                    let problems: Vec<String> = checks
                        .iter()
                        .filter_map(|c| {
                            c.problem
                                .as_ref()
                                .map(|p| format!("s3://{bucket}/{} {p}", c.key))
                        })
                        .collect();
                    serde_json::json!({
                        "outcome": ProbeOutcome::of(problems.is_empty()),
                        "reason": if problems.is_empty() {
                            format!("{} output(s) written by the task after it started", checks.len())
                        } else {
                            problems.join("; ")
                        },
                        "outputs": checks,
                        "listed": objects.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
                        "clock_allowance_ms": crate::rules::one_shot::OUTPUT_CLOCK_ALLOWANCE_MS,
                    })
                }
            }
        }
    };
    Ok(from_json(&value))
}

fn log_groups(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let prefix = args.str(0);
    let aws = host.aws()?;
    let value = match host.call(crate::infra::logs::groups(&aws.logs, &prefix))? {
        Ok(groups) if groups.is_empty() => {
            serde_json::json!({"outcome": ProbeOutcome::Fail, "groups": [], "reason": format!("no log group under {prefix}")})
        }
        Ok(groups) => {
            serde_json::json!({"outcome": ProbeOutcome::Pass, "reason": format!("{} log group(s) under {prefix}", groups.len()), "groups": groups})
        }
        Err(why) => {
            serde_json::json!({"outcome": ProbeOutcome::Error, "groups": [], "reason": why.to_string()})
        }
    };
    Ok(from_json(&value))
}

fn log_write_probe(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let group = args.str(0);
    if host.plan() {
        host.would(format!(
            "would create a probe stream and put one event in {group}"
        ));
        return Ok(from_json(
            &serde_json::json!({"outcome": ProbeOutcome::Pass, "written": false, "stream": null,
            "reason": format!("write to {group} not probed under --plan")}),
        ));
    }
    let aws = host.aws()?;
    let stream = format!("m4host-probe-{}", host.probe_name(&group));
    // The event's time is part of the request: on the tape, and from it in a replay.
    let at = host.stamped_now(&format!("logs write probe {group}"));
    let value = match host.call(crate::infra::logs::write_probe(
        &aws.logs,
        &group,
        &stream,
        "m4host write probe",
        at.timestamp_millis(),
    ))? {
        Ok(()) => {
            serde_json::json!({"outcome": ProbeOutcome::Pass, "written": true, "stream": stream,
            "reason": format!("created {stream} and put one event in {group}")})
        }
        // No such group is a finding; a call that could not be made is not.
        Err(why) if why.kind == crate::infra::aws::AwsErrorKind::NotFound => {
            serde_json::json!({"outcome": ProbeOutcome::Fail, "written": false, "stream": null, "reason": why.to_string()})
        }
        Err(why) => {
            serde_json::json!({"outcome": ProbeOutcome::Error, "written": false, "stream": null, "reason": why.to_string()})
        }
    };
    Ok(from_json(&value))
}

async fn log_filter_value(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    pattern: &str,
    since_ms: i64,
) -> serde_json::Value {
    match crate::infra::logs::filter(logs, group, pattern, since_ms).await {
        Ok(events) => {
            serde_json::json!({"outcome": ProbeOutcome::Pass, "count": events.len(), "events": events,
            "reason": format!("{} event(s) match", events.len())})
        }
        // A group that does not exist or may not be read is a finding; a filter that could not
        // be run (throttled, timed out, unreachable) only says the logs were not read.
        Err(why) => {
            serde_json::json!({"outcome": why.outcome(), "count": 0, "events": [], "reason": why.to_string()})
        }
    }
}

fn log_filter(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let (group, pattern) = (args.str(0), args.str(1));
    let since_ms = args.any(2).as_int().unwrap_or(0);
    let aws = host.aws()?;
    Ok(from_json(&host.call(log_filter_value(
        &aws.logs, &group, &pattern, since_ms,
    ))?))
}

fn log_filters(host: &Host, _: &NativeCallContext, args: &mut Args) -> Outcome<Dynamic> {
    let groups: Vec<String> = args.array(0).into_iter().map(|g| g.to_string()).collect();
    let pattern = args.str(1);
    let since_ms = args.any(2).as_int().unwrap_or(0);
    let aws = host.aws()?;
    let pattern = &pattern;
    let results = host.call(crate::host::bounded(groups.iter().map(|g| async move {
        (
            g.clone(),
            log_filter_value(&aws.logs, g, pattern, since_ms).await,
        )
    })))?;
    Ok(from_json(&serde_json::Value::Object(
        results.into_iter().collect(),
    )))
}

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "s3_probe",
        params: &[("bucket", Ty::Str), ("prefix", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "bucket", "prefix", "bucket_exists", "readable", "writable", "probe_key", "latency_ms"]),
        doc: "Bucket exists (HeadBucket), prefix readable (ListObjectsV2) and writable (a \
              probe object under <prefix>/_m4host_probe/ written If-None-Match, read back, \
              compared; not under --plan). The object is deleted while the script goes on, \
              before anything changes the world; one that cannot be deleted holds nothing \
              (it is not evidence) and is named on stderr with the fix.",
        example: "let p = s3_probe(resolve_handle(\"S3_EVIDENCE_BUCKET\"), \"evidence/\");\nprint(p.outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[S3_LIST_BUCKET, S3_PUT_PROBE, S3_GET_PROBE, S3_DELETE_PROBE],
        call: s3_probe,
    },
    Primitive {
        name: "s3_probes",
        params: &[("items", Ty::Array)],
        returns: "Array",
        shape: Shape::PerItem(&["outcome", "reason", "bucket", "prefix", "bucket_exists", "readable", "writable", "probe_key", "latency_ms"]),
        doc: "s3_probe for many buckets at once (at most 8 in flight): items [#{bucket, prefix}] -> \
              one s3_probe result per item, in order; one bucket failing does not hide the others.",
        example: "let b = resolve_handle(\"S3_EVIDENCE_BUCKET\");\nlet r = s3_probes([#{ bucket: b, prefix: \"evidence/\" }, #{ bucket: \"no-such-bucket-m4host\", prefix: \"\" }]);\nprint(r.map(|p| p.outcome));",
        example_exit: 0,
        example_prints: &["[\"pass\", \"fail\"]"],
        raises: &[ErrorCode::BadArgument, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[S3_LIST_BUCKET, S3_PUT_PROBE, S3_GET_PROBE, S3_DELETE_PROBE],
        call: s3_probes,
    },
    Primitive {
        name: "job_outputs",
        params: &[("bucket", Ty::Str), ("prefix", Ty::Str), ("outputs", Ty::Array), ("options", Ty::Map)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "outputs", "listed", "clock_allowance_ms"]),
        doc: "Whether a one-shot job's outputs (names under prefix) are its own: each present, \
              not empty, written after the task started (S3 LastModified against ECS's \
              startedAt, within clock_allowance_ms) and not older than any input it consumes. \
              outputs: [#{key, size, \
              last_modified, problem}]; listed: every key under the prefix. fail names each \
              output not proven; error when S3 could not be listed.",
        example: "let r = job_outputs(resolve_handle(\"S3_EVIDENCE_BUCKET\"), \"no/such/job/\", [\"report.json\"], #{ started_at: \"2026-12-07T10:00:05Z\" });\nprint(`${r.outcome} ${r.outputs[0].problem}`);",
        example_exit: 0,
        example_prints: &["fail was not written"],
        raises: &[ErrorCode::BadArgument, ErrorCode::BadOption, ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: JOB_OUTPUTS_OPTIONS,
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[S3_LIST_BUCKET],
        call: job_outputs,
    },
    Primitive {
        name: "s3_list",
        params: &[("bucket", Ty::Str), ("prefix", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "keys", "objects", "truncated"]),
        doc: "Objects under a prefix (ListObjectsV2, every page, at most 10,000 keys; truncated \
              says there are more): keys [String], objects [#{key, size, etag, last_modified}]. \
              outcome is pass when listed (also when empty), fail when the bucket is missing or \
              may not be listed, error when S3 could not be asked.",
        example: "let l = s3_list(resolve_handle(\"S3_EVIDENCE_BUCKET\"), \"no/such/prefix/\");\nprint(l.outcome == \"pass\" && l.keys.is_empty());",
        example_exit: 0,
        example_prints: &["true"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[S3_LIST_BUCKET],
        call: s3_list,
    },
    Primitive {
        name: "log_groups",
        params: &[("prefix", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "groups"]),
        doc: "Log groups under a prefix; outcome is fail when there are none.",
        example: "print(log_groups(\"/fraud-platform/dev_min\").groups.len());",
        example_exit: 0,
        example_prints: &["13"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[LOGS_DESCRIBE_LOG_GROUPS],
        call: log_groups,
    },
    Primitive {
        name: "log_write_probe",
        params: &[("group", Ty::Str)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "written", "stream"]),
        doc: "The write surface of a log group: creates a probe stream and puts one event (not \
              under --plan).",
        example: "print(log_write_probe(\"/fraud-platform/dev_min/fraud-platform-dev-min-ig\").outcome);",
        example_exit: 0,
        example_prints: &["pass"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[LOGS_CREATE_LOG_STREAM, LOGS_PUT_LOG_EVENTS],
        call: log_write_probe,
    },
    Primitive {
        name: "log_filter",
        params: &[("group", Ty::Str), ("pattern", Ty::Str), ("since_ms", Ty::Int)],
        returns: "Map",
        shape: Shape::Outcome(&["outcome", "reason", "count", "events"]),
        doc: "Events of a log group matching a CloudWatch filter pattern since an epoch time \
              in ms (e.g. run-scope mismatch lines); events: [#{stream, timestamp_ms, \
              message}]; outcome fail when the group does not exist or may not be read, error \
              when the logs could not be asked.",
        example: "print(log_filter(\"/fraud-platform/dev_min/fraud-platform-dev-min-ig\", \"RUN_SCOPE_MISMATCH\", 0).count);",
        example_exit: 0,
        example_prints: &["0"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[LOGS_FILTER_LOG_EVENTS],
        call: log_filter,
    },
    Primitive {
        name: "log_filters",
        params: &[("groups", Ty::Array), ("pattern", Ty::Str), ("since_ms", Ty::Int)],
        returns: "Map",
        shape: Shape::PerItem(&["outcome", "reason", "count", "events"]),
        doc: "log_filter over many log groups at once (at most 8 in flight): group -> its log_filter \
              result; one group failing does not hide the others.",
        example: "let r = log_filters([\"/fraud-platform/dev_min/fraud-platform-dev-min-ig\", \"/no/such/group\"], \"RUN_SCOPE_MISMATCH\", 0);\nprint(r.values().map(|f| f.outcome));",
        example_exit: 0,
        example_prints: &["[\"pass\", \"fail\"]"],
        raises: &[ErrorCode::NoEnv, ErrorCode::Interrupted],
        options: &[],
        failure: Failure::Catchable,
        together: true,
        changes_world: false,
        aws: &[LOGS_FILTER_LOG_EVENTS],
        call: log_filters,
    },
];
