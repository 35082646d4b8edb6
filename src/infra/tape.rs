//! The tape (issue #25): the world's answers to one run, recorded where they enter — every AWS
//! HTTP exchange at the SDK's HTTP connector (so every adapter, rule and script above runs for
//! real when the tape is replayed), every Kafka and PostgreSQL probe's report, and the clock
//! readings the waits judged by — one JSON line each, in `world.tape.jsonl` beside the
//! execution's local evidence.
//!
//! Non-secret by construction, as evidence is: no request header is kept but the operation's
//! (`X-Amz-Target`, content type), so SigV4 signatures, keys and session tokens never reach it; a
//! SecureString's value in an SSM answer is replaced by `<redacted:NAME>` where it enters, and
//! every line passes the run's vault (each secret it knows, by value) before it is written. Lines
//! are held in memory and written at each phase's end (after the host has learnt the secrets the
//! phase's answers could hold) into `.world.tape.jsonl.partial`, linked to the final name when the
//! run ends: a SIGKILL leaves a usable prefix, whole phases, under the partial name.
//!
//! Matching on replay is by operation and identifying request, not by position: repeated
//! identical requests (a wait's polls) get their recorded answers in order, then the last one
//! again, counted as extrapolated.

use crate::sync::Locked;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub const TAPE_FILE: &str = "world.tape.jsonl";
/// The largest tape a replay reads (a dev_min M4 run's is about 1.4 MB).
pub const MAX_TAPE_BYTES: u64 = 512 * 1024 * 1024;
/// The tape format this m4host writes and reads.
pub const TAPE_VERSION: u32 = 1;

/// The tape's first line: what it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub tape: u32,
    pub m4host_version: String,
    pub execution_id: String,
    /// The run's instant (`M4HOST_RUN_STAMP` form): a replay runs as the same execution.
    pub run_stamp: String,
    pub script: String,
    /// The script's path and the environment file's, as the run was given them (what a replay
    /// runs by default).
    #[serde(default)]
    pub script_path: String,
    #[serde(default)]
    pub env_file: Option<String>,
    /// The runbook's files as loaded (path -> SHA-256), for provenance.
    pub sources: BTreeMap<String, String>,
    /// The `--set` arguments (secrets are never given as arguments: `arg()` values are plain).
    pub args: BTreeMap<String, String>,
}

/// One answer of the world.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// One AWS HTTP exchange: the identifying request and the answer as it came.
    Http {
        seq: u64,
        key: HttpKey,
        status: u16,
        /// The answer's headers that the SDK reads to parse it (content type, request id, S3's
        /// object metadata); never a credential.
        headers: BTreeMap<String, String>,
        body: String,
        /// The body as hex when it is not UTF-8.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        body_hex: bool,
        ms: u64,
    },
    /// A probe's report (Kafka, PostgreSQL), by what it asked.
    Probe {
        seq: u64,
        key: String,
        answer: serde_json::Value,
    },
    /// A clock reading a decision used, by what read it.
    Clock {
        seq: u64,
        key: String,
        at: DateTime<Utc>,
        elapsed_ms: i64,
    },
}

impl Entry {
    /// Answers that may carry a plaintext the vault learns only from the run's own reads: a
    /// task definition (its values), log lines, an object read from S3.
    pub fn may_hold_secrets(&self) -> bool {
        match self {
            Entry::Http { key, .. } => matches!(
                (key.service.as_str(), key.operation.as_str()),
                ("ecs", "DescribeTaskDefinition")
                    | ("ecs", "RegisterTaskDefinition")
                    | ("logs", "GetLogEvents")
                    | ("logs", "FilterLogEvents")
                    | ("s3", "GET")
            ),
            Entry::Probe { .. } | Entry::Clock { .. } => false,
        }
    }

    fn withhold(&mut self, why: &str) {
        if let Entry::Http { body, body_hex, .. } = self {
            *body = format!("withheld: {why}");
            *body_hex = false;
        }
    }

    fn key(&self) -> String {
        match self {
            Entry::Http { key, .. } => key.joined(),
            Entry::Probe { key, .. } | Entry::Clock { key, .. } => key.clone(),
        }
    }
}

/// What identifies an AWS request: the service (from the request's signing scope), the
/// operation, and the request's own parameters in a canonical form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct HttpKey {
    pub service: String,
    pub operation: String,
    pub request: String,
}

impl HttpKey {
    pub fn joined(&self) -> String {
        format!("aws {} {} {}", self.service, self.operation, self.request)
    }

    /// The key of a request as the SDK sends it: the service from SigV4's credential scope
    /// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`), the operation from `X-Amz-Target`
    /// (JSON protocols), the query's `Action` (IAM, STS) or the method and path (S3), and the
    /// parameters: a JSON body with its keys sorted, a query body sorted, S3's path and query.
    pub fn of(
        method: &str,
        uri: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> HttpKey {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let service = header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("unknown")
            .to_owned();
        let (path, query) = split_uri(uri);
        let text = body.map(String::from_utf8_lossy).unwrap_or_default();
        if let Some(target) = header("x-amz-target") {
            let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
            let request = serde_json::from_str::<serde_json::Value>(&text)
                .map(|v| canonical_json(&v))
                .unwrap_or_else(|_| text.to_string());
            return HttpKey {
                service,
                operation,
                request,
            };
        }
        let form = header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if form {
            let mut pairs: Vec<&str> = text.split('&').filter(|p| !p.is_empty()).collect();
            pairs.sort_unstable();
            let operation = pairs
                .iter()
                .find_map(|p| p.strip_prefix("Action="))
                .unwrap_or("unknown")
                .to_owned();
            return HttpKey {
                service,
                operation,
                request: pairs.join("&"),
            };
        }
        // S3 (REST): the method and path name the operation; the query refines it. The SDK's
        // `x-id` query names the operation too; kept.
        let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        params.sort_unstable();
        HttpKey {
            service,
            operation: method.to_owned(),
            request: format!("{path}?{}", params.join("&")),
        }
    }
}

fn split_uri(uri: &str) -> (&str, &str) {
    let without_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path_and_query = without_scheme
        .find('/')
        .map_or("/", |i| &without_scheme[i..]);
    path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""))
}

/// A JSON value as text with every object's keys sorted.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                serde_json::Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// SSM answers hold SecureString values in the clear (`WithDecryption`): replaced by
/// `<redacted:NAME>` before anything else sees the line. The same marker stands for the value
/// wherever the run's vault later finds it, so a replay's vault learns the marker and judges by
/// it exactly as the run judged by the value.
pub fn redact_ssm_answer(service: &str, body: &str) -> Option<String> {
    if service != "ssm" {
        return None;
    }
    let mut v: serde_json::Value = serde_json::from_str(body).ok()?;
    let mut changed = false;
    let mut scrub = |p: &mut serde_json::Value| {
        if p.get("Type").and_then(|t| t.as_str()) == Some("SecureString") {
            let name = p
                .get("Name")
                .and_then(|n| n.as_str())
                .unwrap_or("unknown")
                .to_owned();
            p["Value"] = serde_json::Value::String(marker(&name));
            changed = true;
        }
    };
    if let Some(list) = v.get_mut("Parameters").and_then(|p| p.as_array_mut()) {
        list.iter_mut().for_each(&mut scrub);
    }
    if let Some(p) = v.get_mut("Parameter") {
        scrub(p);
    }
    changed.then(|| v.to_string())
}

/// How a secret's place reads on the tape.
pub fn marker(name: &str) -> String {
    format!("<redacted:{name}>")
}

enum Mode {
    Recording {
        /// The final name; the partial one beside it until `finish`.
        path: PathBuf,
        file: Mutex<Option<std::fs::File>>,
        /// Entries not yet written (unredacted: the host redacts them as it writes them).
        pending: Mutex<Vec<Entry>>,
    },
    Replaying {
        header: Box<Header>,
        /// By key: the recorded answers in order, and how many were given.
        answers: Mutex<HashMap<String, (Vec<Entry>, usize)>>,
        keys: Vec<String>,
    },
}

/// One run's tape, recording or replaying.
pub struct Tape {
    mode: Mode,
    seq: AtomicU64,
    /// Answers given again past the recording (a replay that needed more polls than were made).
    extrapolated: AtomicU64,
    /// Every question a replay asked that the tape does not hold, in the order asked.
    misses: Mutex<Vec<NotOnTape>>,
    /// Time the recording spent on the run's path (writing, redacting, learning secrets for
    /// it), in microseconds: what the tape costs a run.
    spent_us: AtomicU64,
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.mode {
            Mode::Recording { .. } => "Tape(recording)",
            Mode::Replaying { .. } => "Tape(replaying)",
        })
    }
}

/// Why a replay could not answer: the call is not on the tape.
#[derive(Debug, Clone, PartialEq)]
pub struct NotOnTape {
    pub asked: String,
    pub nearest: Option<String>,
}

impl std::fmt::Display for NotOnTape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not on the tape: {}", self.asked)?;
        if let Some(n) = &self.nearest {
            write!(f, " (nearest recorded: {n})")?;
        }
        Ok(())
    }
}

impl Tape {
    /// A tape recording into `dir` (created) under the first free name (`world.tape.jsonl`, then
    /// `world.tape.2.jsonl` …: a tape, like evidence, is never overwritten), its header first.
    pub fn record(dir: &Path, header: &Header) -> std::io::Result<Tape> {
        std::fs::create_dir_all(dir)?;
        let line = serde_json::to_string(header).map_err(std::io::Error::other)?;
        for n in 1..1000 {
            let path = if n == 1 {
                dir.join(TAPE_FILE)
            } else {
                dir.join(format!("world.tape.{n}.jsonl"))
            };
            if path.exists() {
                continue;
            }
            let partial = partial_of(&path);
            let mut file = match std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .open(&partial)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            writeln!(file, "{line}")?;
            file.flush()?;
            return Ok(Tape {
                mode: Mode::Recording {
                    path,
                    file: Mutex::new(Some(file)),
                    pending: Mutex::new(Vec::new()),
                },
                seq: AtomicU64::new(0),
                extrapolated: AtomicU64::new(0),
                misses: Mutex::new(Vec::new()),
                spent_us: AtomicU64::new(0),
            });
        }
        Err(std::io::Error::other(
            "no free tape name in the execution's folder",
        ))
    }

    /// A tape read back for replay: its header and answers. Only a regular file of bounded size
    /// is read (a FIFO would block, a folder or device mislead), as UTF-8 JSON lines.
    pub fn open(path: &Path) -> Result<Tape, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!(
                "{}: not a regular file (a tape is the world.tape.jsonl a run left)",
                path.display()
            ));
        }
        if meta.len() > MAX_TAPE_BYTES {
            return Err(format!(
                "{}: {} bytes, more than the {MAX_TAPE_BYTES} a tape may have",
                path.display(),
                meta.len()
            ));
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{}: not UTF-8 text, so not a tape", path.display()))?;
        let mut lines = text.lines();
        let header: Header = lines
            .next()
            .ok_or_else(|| format!("{}: empty, not a tape", path.display()))
            .and_then(|l| {
                serde_json::from_str(l)
                    .map_err(|e| format!("{}: line 1 is not a tape header ({e})", path.display()))
            })?;
        if header.tape != TAPE_VERSION {
            return Err(format!(
                "{}: tape format {} (this m4host reads {TAPE_VERSION})",
                path.display(),
                header.tape
            ));
        }
        let mut answers: HashMap<String, (Vec<Entry>, usize)> = HashMap::new();
        let mut keys = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let entry: Entry = serde_json::from_str(line).map_err(|e| {
                format!(
                    "{}: line {} is not a tape entry ({e})",
                    path.display(),
                    i + 2
                )
            })?;
            let key = entry.key();
            if !answers.contains_key(&key) {
                keys.push(key.clone());
            }
            answers.entry(key).or_default().0.push(entry);
        }
        Ok(Tape {
            mode: Mode::Replaying {
                header: Box::new(header),
                answers: Mutex::new(answers),
                keys,
            },
            seq: AtomicU64::new(0),
            extrapolated: AtomicU64::new(0),
            misses: Mutex::new(Vec::new()),
            spent_us: AtomicU64::new(0),
        })
    }

    pub fn replaying(&self) -> bool {
        matches!(self.mode, Mode::Replaying { .. })
    }

    /// The recorded run's header (replay only).
    pub fn header(&self) -> Option<&Header> {
        match &self.mode {
            Mode::Replaying { header, .. } => Some(header),
            Mode::Recording { .. } => None,
        }
    }

    /// How many answers a replay gave again past the recording.
    pub fn extrapolated(&self) -> u64 {
        self.extrapolated.load(Ordering::SeqCst)
    }

    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }

    /// Appends one entry (recording), held until the host writes it.
    /// Counts time the recording spent on the run's path.
    pub fn add_spent(&self, spent: std::time::Duration) {
        self.spent_us
            .fetch_add(spent.as_micros() as u64, Ordering::SeqCst);
    }

    /// Time the recording has spent on the run's path so far.
    pub fn spent(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.spent_us.load(Ordering::SeqCst))
    }

    pub fn append(&self, entry: Entry) {
        if let Mode::Recording { pending, .. } = &self.mode {
            pending.locked().push(entry);
        }
    }

    /// Whether an entry held now may carry a secret's plaintext that only the host can learn
    /// (a task definition's values, log lines, an object read from S3).
    pub fn pending_may_hold_secrets(&self) -> bool {
        let Mode::Recording { pending, .. } = &self.mode else {
            return false;
        };
        pending.locked().iter().any(Entry::may_hold_secrets)
    }

    /// Writes the held entries, each line through `redact`, and flushes them; `withhold` entries
    /// that may hold a secret the host could not learn keep their request and lose their answer.
    pub fn write_pending(&self, redact: impl Fn(&str) -> String, withhold: Option<&str>) {
        let Mode::Recording { file, pending, .. } = &self.mode else {
            return;
        };
        let entries = std::mem::take(&mut *pending.locked());
        if let Some(f) = file.locked().as_mut() {
            // A tape that cannot be written loses its tail, never the run: best effort, as a
            // log is (the run's own evidence is what decides).
            for mut entry in entries {
                if let (Some(why), true) = (withhold, entry.may_hold_secrets()) {
                    entry.withhold(why);
                }
                let Ok(line) = serde_json::to_string(&entry) else {
                    continue;
                };
                if writeln!(f, "{}", redact(&line)).is_err() {
                    return;
                }
            }
            let _ = f.flush();
        }
    }

    /// The recorded answer to `key` (replay): in recorded order, then the last one again.
    pub fn answer(&self, key: &str) -> Result<Entry, NotOnTape> {
        let Mode::Replaying { answers, keys, .. } = &self.mode else {
            return Err(NotOnTape {
                asked: key.to_owned(),
                nearest: None,
            });
        };
        let mut answers = answers.locked();
        match answers.get_mut(key) {
            Some((list, given)) if !list.is_empty() => {
                let i = (*given).min(list.len() - 1);
                if *given >= list.len() {
                    self.extrapolated.fetch_add(1, Ordering::SeqCst);
                }
                *given += 1;
                Ok(list[i].clone())
            }
            _ => {
                let missing = NotOnTape {
                    asked: key.to_owned(),
                    nearest: nearest(key, keys),
                };
                self.misses.locked().push(missing.clone());
                Err(missing)
            }
        }
    }

    /// How many questions the replay asked that the tape does not hold, so far.
    pub fn miss_count(&self) -> usize {
        self.misses.locked().len()
    }

    /// The questions not on the tape from the `from`-th on.
    pub fn misses_from(&self, from: usize) -> Vec<NotOnTape> {
        self.misses
            .locked()
            .get(from..)
            .unwrap_or_default()
            .to_vec()
    }

    /// The next recorded answer to `key` not given yet (replay); none once they are all given.
    pub fn fresh_answer(&self, key: &str) -> Option<Entry> {
        let Mode::Replaying { answers, .. } = &self.mode else {
            return None;
        };
        let mut answers = answers.locked();
        let (list, given) = answers.get_mut(key)?;
        let entry = list.get(*given).cloned()?;
        *given += 1;
        Some(entry)
    }

    /// Counts an answer a replay had to make up past the recording.
    pub fn count_extrapolated(&self) {
        self.extrapolated.fetch_add(1, Ordering::SeqCst);
    }

    /// Ends the recording (after `write_pending`): the partial tape linked to its final name,
    /// never over another; its path.
    pub fn finish(&self) -> Option<PathBuf> {
        let Mode::Recording { path, file, .. } = &self.mode else {
            return None;
        };
        let f = file.locked().take()?;
        let _ = f.sync_all();
        drop(f);
        let partial = partial_of(path);
        std::fs::hard_link(&partial, path).ok()?;
        let _ = std::fs::remove_file(&partial);
        Some(path.clone())
    }
}

/// A tape file found beside an execution's local evidence, as `m4host report` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TapeFile {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// Still under its recording name: the run never ended (killed), a usable prefix.
    pub partial: bool,
    /// The execution its header names (none when the first line is not a tape header).
    pub execution_id: Option<String>,
}

/// The tapes in an execution's local evidence folder (final and partial), each hashed as it is
/// on disk, read in bounded chunks; in name order. A folder that cannot be read has none.
pub fn tapes_in(dir: &Path) -> Vec<TapeFile> {
    use sha2::Digest;
    use std::io::{BufRead, Read};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<TapeFile> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let partial = name.starts_with(".world.tape.") && name.ends_with(".jsonl.partial");
            let tape = name.starts_with("world.tape.") && name.ends_with(".jsonl");
            if !(partial || tape) {
                return None;
            }
            let path = e.path();
            let file = std::fs::File::open(&path).ok()?;
            let mut reader = std::io::BufReader::new(file.take(MAX_TAPE_BYTES));
            let mut first = String::new();
            let _ = (&mut reader).take(1024 * 1024).read_line(&mut first);
            let execution_id = serde_json::from_str::<Header>(first.trim_end())
                .ok()
                .map(|h| h.execution_id);
            let mut hasher = sha2::Sha256::new();
            hasher.update(first.as_bytes());
            let mut bytes = first.len() as u64;
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        hasher.update(&chunk[..n]);
                        bytes += n as u64;
                    }
                    Err(_) => return None,
                }
            }
            Some(TapeFile {
                path,
                sha256: hex::encode(hasher.finalize()),
                bytes,
                partial,
                execution_id,
            })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// While recording, the tape is `.world.tape.jsonl.partial`: like every temp file of the
/// evidence folder, a name starting with a dot is never a final one.
fn partial_of(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".partial");
    path.with_file_name(name)
}

/// The recorded key sharing the longest prefix with `key` (same service and operation first).
fn nearest(key: &str, keys: &[String]) -> Option<String> {
    keys.iter()
        .max_by_key(|k| {
            k.chars()
                .zip(key.chars())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .map(|k| k.chars().take(240).collect())
}

#[cfg(test)]
mod tests;
