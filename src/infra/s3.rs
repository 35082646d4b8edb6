//! S3 reachability: the bucket exists and a prefix is readable and writable (a probe object is
//! written under `<prefix>/_m4host_probe/`, read back, compared and removed). Under --plan the
//! write is not made; writability is then unknown, never assumed.

use crate::infra::aws::{AwsError, AwsErrorKind};
use crate::rules::outcome::ProbeOutcome;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct PrefixProbe {
    pub outcome: ProbeOutcome,
    pub bucket: String,
    pub prefix: String,
    pub bucket_exists: Option<bool>,
    pub readable: Option<bool>,
    pub writable: Option<bool>,
    pub probe_key: Option<String>,
    pub latency_ms: u64,
    pub reason: String,
}

/// Probes `s3://bucket/prefix`: the bucket exists, the prefix lists, and (when `write`) a probe
/// object written there reads back the same. The probe object is handed to `remove` rather than
/// deleted here: no answer waits for its removal (the caller removes it meanwhile).
pub async fn probe_prefix(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    probe_name: &str,
    write: bool,
    remove: impl FnOnce(String),
) -> PrefixProbe {
    let started = Instant::now();
    let mut p = PrefixProbe {
        outcome: ProbeOutcome::Error,
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        bucket_exists: None,
        readable: None,
        writable: None,
        probe_key: None,
        latency_ms: 0,
        reason: String::new(),
    };
    let finish = |mut p: PrefixProbe, outcome: ProbeOutcome, reason: String| {
        p.outcome = outcome;
        p.reason = reason;
        p.latency_ms = started.elapsed().as_millis() as u64;
        p
    };
    // HeadBucket, ListObjectsV2 and the probe's conditional PUT go together (one round trip),
    // the PUT's read-back as soon as the PUT is answered; the answers are judged in that order,
    // so a missing bucket is reported as missing, not as unlistable or unwritable. An object
    // written is removed once read back, whatever the other answers say.
    let key = format!("{}_m4host_probe/{probe_name}.txt", with_slash(prefix));
    let body = format!("m4host probe {probe_name}");
    let put_and_read = async {
        if !write {
            return None;
        }
        // Some(Err(the PUT's error)) or Some(Ok(what reading it back answered)).
        let put = s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .if_none_match("*")
            .body(aws_sdk_s3::primitives::ByteStream::from(
                body.clone().into_bytes(),
            ))
            .send()
            .await;
        Some(match put {
            Ok(_) => Ok(read_durable(s3, bucket, &key).await),
            Err(e) => Err(e),
        })
    };
    let (head, list, put) = futures::join!(
        s3.head_bucket().bucket(bucket).send(),
        s3.list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1)
            .send(),
        put_and_read
    );
    if matches!(put, Some(Ok(_))) {
        remove(key.clone());
    }
    match head {
        Ok(_) => p.bucket_exists = Some(true),
        Err(e) => {
            let e = AwsError::from_sdk(format!("HeadBucket {bucket}"), &e);
            return match e.kind {
                AwsErrorKind::NotFound => {
                    p.bucket_exists = Some(false);
                    finish(
                        p,
                        ProbeOutcome::Fail,
                        format!("bucket {bucket} does not exist"),
                    )
                }
                AwsErrorKind::AccessDenied => finish(
                    p,
                    ProbeOutcome::Fail,
                    format!("access to bucket {bucket} denied"),
                ),
                _ => finish(p, ProbeOutcome::Error, e.to_string()),
            };
        }
    }
    match list {
        Ok(_) => p.readable = Some(true),
        Err(e) => {
            let e = AwsError::from_sdk(format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e);
            p.readable = Some(false);
            return finish(p, e.outcome(), format!("cannot list: {e}"));
        }
    }
    if !write {
        return finish(
            p,
            ProbeOutcome::Pass,
            format!(
                "s3://{bucket}/{prefix} exists and is readable (write not probed under --plan)"
            ),
        );
    }
    p.probe_key = Some(key.clone());
    let read = match put {
        None => {
            return finish(
                p,
                ProbeOutcome::Error,
                "the probe write was not sent".into(),
            )
        }
        Some(Err(e)) => {
            let e = AwsError::from_sdk(format!("PutObject s3://{bucket}/{key}"), &e);
            p.writable = Some(false);
            return finish(p, e.outcome(), format!("cannot write: {e}"));
        }
        Some(Ok(read)) => read,
    };
    match read {
        Ok(bytes) if bytes == body.as_bytes() => {
            p.writable = Some(true);
            finish(
                p,
                ProbeOutcome::Pass,
                format!("s3://{bucket}/{prefix} is readable and writable"),
            )
        }
        Ok(_) => {
            p.writable = Some(false);
            finish(
                p,
                ProbeOutcome::Fail,
                format!("probe object s3://{bucket}/{key} read back different"),
            )
        }
        Err(why) => {
            p.writable = Some(false);
            finish(p, ProbeOutcome::Fail, why)
        }
    }
}

/// Removes an object the run wrote to probe. Its answer is not evidence, so a refusal holds
/// nothing (an evidence bucket that denies deletes is a sound one); it says which object is
/// left and how to stop it being left.
pub async fn remove_probe_object(
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
) -> Result<(), String> {
    s3.delete_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let e = AwsError::from_sdk("DeleteObject", &e);
            format!(
                "the probe object s3://{bucket}/{key} is left in place ({e}): remove it by hand, \
                 or allow s3:DeleteObject on {bucket}/*_m4host_probe/* (`m4host policy` grants it)"
            )
        })
}

fn with_slash(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_findings_and_the_rest_could_not_ask() {
        let of = |kind| AwsError::new("ListObjectsV2", kind, "x").outcome();
        assert_eq!(of(AwsErrorKind::AccessDenied), ProbeOutcome::Fail);
        assert_eq!(of(AwsErrorKind::NotFound), ProbeOutcome::Fail);
        for kind in [
            AwsErrorKind::Throttled,
            AwsErrorKind::Timeout,
            AwsErrorKind::Unreachable,
            AwsErrorKind::ServerError,
        ] {
            assert_eq!(of(kind), ProbeOutcome::Error, "{kind:?}");
        }
    }
}

/// One object as ListObjectsV2 lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectView {
    pub key: String,
    pub size: i64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Objects under a prefix, page by page (1,000 keys a page, ListObjectsV2), up to `limit`;
/// `truncated` says the prefix holds more.
pub async fn list_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    limit: usize,
) -> Result<(Vec<ObjectView>, bool), AwsError> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e))?;
        for o in page.contents() {
            objects.push(ObjectView {
                key: o.key().unwrap_or_default().to_owned(),
                size: o.size().unwrap_or_default(),
                etag: o.e_tag().map(str::to_owned),
                last_modified: o
                    .last_modified()
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
            });
        }
        let more = page.is_truncated() == Some(true);
        match page.next_continuation_token() {
            Some(next) if more && objects.len() < limit => token = Some(next.to_owned()),
            _ => {
                let truncated = more || objects.len() > limit;
                objects.truncate(limit);
                return Ok((objects, truncated));
            }
        }
    }
}

/// Reads an object whole.
pub async fn read_durable(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, String> {
    let uri = format!("s3://{bucket}/{key}");
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|err| {
            format!(
                "cannot read {uri}: {}",
                crate::infra::aws::AwsError::from_sdk("GetObject", &err).detail
            )
        })?;
    Ok(got
        .body
        .collect()
        .await
        // The body stream carries the SDK's checksum validation: a body that differs from the
        // object's x-amz-checksum fails here, and the cause is in the error's source chain.
        .map_err(|e| {
            format!(
                "cannot read {uri}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?
        .into_bytes()
        .to_vec())
}
