//! CloudWatch Logs: log groups under a prefix, the write surface (a probe stream and one event),
//! and filtering a group's events for a pattern (e.g. run-scope mismatch lines).

use crate::infra::aws::{AwsError, AwsErrorKind};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct LogEvent {
    pub stream: String,
    pub timestamp_ms: i64,
    pub message: String,
}

pub async fn groups(
    logs: &aws_sdk_cloudwatchlogs::Client,
    prefix: &str,
) -> Result<Vec<String>, crate::infra::aws::AwsError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = logs
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                crate::infra::aws::AwsError::from_sdk(format!("DescribeLogGroups {prefix}"), &e)
            })?;
        names.extend(
            out.log_groups()
                .iter()
                .filter_map(|g| g.log_group_name().map(str::to_owned)),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(names);
        }
    }
}

/// Creates `stream` in `group` and puts one event; Ok when both succeed.
pub async fn write_probe(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    message: &str,
    at_ms: i64,
) -> Result<(), AwsError> {
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("CreateLogStream {group}/{stream}"), &e))?;
    let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
        .timestamp(at_ms)
        .message(message)
        .build()
        .map_err(|e| AwsError::new("PutLogEvents", AwsErrorKind::Other, e.to_string()))?;
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .log_events(event)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("PutLogEvents {group}/{stream}"), &e))?;
    Ok(())
}

pub async fn filter(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    pattern: &str,
    since_ms: i64,
) -> Result<Vec<LogEvent>, crate::infra::aws::AwsError> {
    let mut events = Vec::new();
    let mut token = None;
    for _ in 0..20 {
        let out = logs
            .filter_log_events()
            .log_group_name(group)
            .filter_pattern(pattern)
            .start_time(since_ms)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                crate::infra::aws::AwsError::from_sdk(format!("FilterLogEvents {group}"), &e)
            })?;
        events.extend(out.events().iter().map(|e| LogEvent {
            stream: e.log_stream_name().unwrap_or_default().to_owned(),
            timestamp_ms: e.timestamp().unwrap_or_default(),
            message: e.message().unwrap_or_default().to_owned(),
        }));
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(events)
}

/// The last `limit` lines of one log stream, oldest first (GetLogEvents from the end,
/// `startFromHead = false`): a failed daemon's last words.
pub async fn tail(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    limit: i32,
) -> Result<Vec<String>, crate::infra::aws::AwsError> {
    let out = logs
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .start_from_head(false)
        .limit(limit.clamp(1, 10_000))
        .send()
        .await
        .map_err(|e| {
            crate::infra::aws::AwsError::from_sdk(format!("GetLogEvents {group}/{stream}"), &e)
        })?;
    Ok(out
        .events()
        .iter()
        .map(|e| e.message().unwrap_or_default().to_owned())
        .collect())
}
