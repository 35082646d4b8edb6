//! Evidence writing (SPEC §5): the local mirror written atomically and never overwritten, the
//! durable S3 object written once (`If-None-Match: *`), read back and compared by SHA-256.
//!
//! This module does the I/O; deciding what is written (payload checks, blocker codes) is the
//! host's `emit_snapshot`.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A runbook file as provenance names it, the same on every machine: its folder and file name
/// (`m4/main.rhai`, `stdlib/runbook.rhai`).
pub fn source_name(path: &Path) -> String {
    let mut parts: Vec<String> = path
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.reverse();
    parts.join("/")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An artifact name: lower-case letters, digits and `_` (e.g. `m4_a_handle_closure_snapshot`).
pub fn valid_artifact_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A run-scoped relative path such as `operate/daemons_ready`: artifact names joined by `/`.
pub fn valid_relative_path(path: &str) -> bool {
    path.split('/').all(valid_artifact_name)
}

/// Writes `bytes` to `path` atomically and only if `path` does not exist yet: temp file in the
/// same folder, fsync, hard link to the final name (which fails if it exists), fsync the folder.
pub fn write_local_once(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no parent folder", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if path.exists() {
        return Err(format!(
            "{} already exists; evidence is never overwritten",
            path.display()
        ));
    }
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("artifact");
    let temp: PathBuf = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::hard_link(&temp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&temp);
    result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{} already exists; evidence is never overwritten",
                path.display()
            )
        } else {
            format!("cannot write {}: {e}", path.display())
        }
    })
}

/// Writes `bytes` to `path` atomically, replacing what was there (a report file CI reads, not
/// evidence): temp file in the same folder, fsync, rename over the final name. A reader sees the
/// old file or the new one, never half of either.
pub fn write_local_replacing(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("report");
    let temp: PathBuf = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the object once: PUT with `If-None-Match: *` (S3 answers 412 when the key exists, so no
/// overwrite and no HEAD before it; S3 User Guide, "Add preconditions to S3 operations with
/// conditional requests"). S3 answers 200 only once the object is stored durably (S3 User Guide,
/// "Data protection": a PUT is acknowledged after it is stored across devices), so the object is
/// durable when this returns; `verify_read_back` proves its bytes.
pub async fn put_once(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let uri = format!("s3://{bucket}/{key}");
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .if_none_match("*")
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes.to_vec()))
        .send()
        .await;
    match put {
        Ok(_) => Ok(()),
        // 412: the key exists; 409: a concurrent conditional write to it is in flight.
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
        {
            Err(format!(
                "{uri} already exists (precondition failed); evidence is write-once"
            ))
        }
        Err(err) => Err(format!(
            "cannot write {uri}: {}",
            crate::infra::aws::AwsError::from_sdk("PutObject", &err).detail
        )),
    }
}

/// GETs the object and compares its SHA-256 with `sha256` (what was sent): the bytes read back,
/// verified, or why not. moto 5.2.1 accepts a PUT whose `x-amz-checksum-sha256` or `Content-MD5`
/// is wrong, so a server-side check cannot be proven on the substrate; this read-back can.
pub async fn verify_read_back(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    sha256: &str,
) -> Result<Vec<u8>, String> {
    let body = crate::infra::s3::read_durable(s3, bucket, key)
        .await
        .map_err(|why| format!("read-back failed: {why}"))?;
    let read = sha256_hex(&body);
    if read != sha256 {
        return Err(format!(
            "read-back of s3://{bucket}/{key} differs: sent sha256 {sha256}, read {read}"
        ));
    }
    Ok(body)
}

/// The keys under `prefix`, every page of ListObjectsV2 (1,000 keys each).
pub async fn list_durable(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, String> {
    crate::infra::s3::list_objects(s3, bucket, prefix, usize::MAX)
        .await
        .map(|(objects, _)| objects.into_iter().map(|o| o.key).collect())
        .map_err(|err| err.to_string())
}

/// `s3://BUCKET/KEY` as (bucket, key).
pub fn split_s3_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix("s3://")?.split_once('/')
}

/// The largest artifact read from a local file (an entry artifact is a small JSON document).
pub const MAX_LOCAL_ARTIFACT_BYTES: u64 = 16 * 1024 * 1024;

/// A local artifact's bytes, only from a regular file of bounded size: a FIFO would block the
/// run forever, a device or a folder would mislead (issue #28).
pub fn read_regular(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file (a FIFO, device or folder is not an artifact)".into());
    }
    if meta.len() > MAX_LOCAL_ARTIFACT_BYTES {
        return Err(format!(
            "is {} bytes, more than the {} an artifact may have",
            meta.len(),
            MAX_LOCAL_ARTIFACT_BYTES
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_write_is_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/x.json");
        write_local_once(&path, b"one").unwrap();
        let err = write_local_once(&path, b"two").unwrap_err();
        assert!(err.contains("never overwritten"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file left behind");
    }

    #[test]
    fn names() {
        assert!(valid_artifact_name("m4_a_handle_closure_snapshot"));
        assert!(!valid_artifact_name("../x"));
        assert!(!valid_artifact_name("A"));
        assert!(valid_relative_path("operate/daemons_ready"));
        assert!(!valid_relative_path("operate/../x"));
        assert!(!valid_relative_path("/abs"));
    }
}
