//! AWS clients built once per run from aws-config's standard chain (profiles, environment,
//! container and instance roles), with the env file's region, an optional endpoint (the env file's
//! `endpoint_url`, else `AWS_ENDPOINT_URL`, which the SDK honours itself), bounded timeouts and
//! retries, and a counter of API calls per service for the run report.

use crate::config::Config;
use crate::sync::Locked;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// API calls made in this run, by service.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn add(&self, service: &str) {
        *self.counts.locked().entry(service.to_owned()).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.locked().clone()
    }

    fn interceptor(&self, service: &'static str) -> CountCalls {
        CountCalls {
            service,
            counter: self.clone(),
        }
    }
}

/// Counts one call per SDK operation execution (retries of the same call are not counted twice).
#[derive(Debug)]
struct CountCalls {
    service: &'static str,
    counter: CallCounter,
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "m4host-call-counter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.counter.add(self.service);
        Ok(())
    }
}

/// The clients this host uses.
#[derive(Debug, Clone)]
pub struct Aws {
    pub sts: aws_sdk_sts::Client,
    pub s3: aws_sdk_s3::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

/// The endpoint override in force, if any: the env file's, else the SDK's environment variables.
pub fn endpoint_override(config: &Config) -> Option<String> {
    config
        .endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|u| !u.is_empty())
}

/// The SDK's default HTTPS client (hyper with rustls and aws-lc, as aws-config builds it).
pub fn default_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
}

impl Aws {
    /// The clients; `http` replaces the SDK's HTTP client (the tape's recording or replaying
    /// one, `infra::tape_http`).
    pub async fn connect(
        config: &Config,
        counter: &CallCounter,
        http: Option<aws_smithy_runtime_api::client::http::SharedHttpClient>,
    ) -> Aws {
        let budgets = &config.budgets;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(budgets.connect_timeout())
                    .read_timeout(budgets.attempt_timeout())
                    .operation_attempt_timeout(budgets.attempt_timeout())
                    .operation_timeout(budgets.call_timeout())
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(budgets.max_attempts));
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }

        // A named profile may assume a role (`role_arn` + `source_profile`): aws-config asks STS
        // for it, at the profile's `endpoint_url` or `AWS_ENDPOINT_URL(_STS)` when one is set.
        // Named in the env file, the profile is the only source: the default chain would prefer
        // keys in the environment and act, silently, as someone else.
        if let Some(profile) = &config.aws_profile {
            // The STS client that assumes a profile's role gets the run's region and budgets.
            let provider_config = aws_config::provider_config::ProviderConfig::default()
                .with_region(Some(Region::new(config.region.clone())))
                .with_timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(budgets.connect_timeout())
                        .operation_attempt_timeout(budgets.attempt_timeout())
                        .operation_timeout(budgets.call_timeout())
                        .build(),
                )
                .with_retry_config(RetryConfig::standard().with_max_attempts(budgets.max_attempts));
            loader = loader.profile_name(profile).credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .configure(&provider_config)
                    .profile_name(profile)
                    .build(),
            );
        }
        let shared = loader.load().await;
        Aws::clients(config, &shared, counter, http)
    }

    /// The clients of a replay: the run's region, placeholder credentials (a replay asks no
    /// credential provider and sends nothing), every answer from `http`, the tape's client.
    pub async fn connect_replay(
        config: &Config,
        counter: &CallCounter,
        http: aws_smithy_runtime_api::client::http::SharedHttpClient,
    ) -> Aws {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "replay",
                "replay",
                None,
                None,
                "m4host-replay",
            ))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .load()
            .await;
        Aws::clients(config, &shared, counter, Some(http))
    }

    fn clients(
        config: &Config,
        shared: &aws_config::SdkConfig,
        counter: &CallCounter,
        http: Option<aws_smithy_runtime_api::client::http::SharedHttpClient>,
    ) -> Aws {
        let path_style = endpoint_override(config).is_some();
        // The tape's client goes to the service clients only: the credential providers (STS
        // AssumeRole, SSO, IMDS) keep the SDK's own, so no credential ever reaches the tape.
        let mut s3 = aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(path_style)
            .interceptor(counter.interceptor("s3"));
        let mut ssm =
            aws_sdk_ssm::config::Builder::from(shared).interceptor(counter.interceptor("ssm"));
        let mut ecs =
            aws_sdk_ecs::config::Builder::from(shared).interceptor(counter.interceptor("ecs"));
        let mut iam =
            aws_sdk_iam::config::Builder::from(shared).interceptor(counter.interceptor("iam"));
        let mut logs = aws_sdk_cloudwatchlogs::config::Builder::from(shared)
            .interceptor(counter.interceptor("logs"));
        let mut sts =
            aws_sdk_sts::config::Builder::from(shared).interceptor(counter.interceptor("sts"));
        if let Some(http) = http {
            s3.set_http_client(Some(http.clone()));
            ssm.set_http_client(Some(http.clone()));
            ecs.set_http_client(Some(http.clone()));
            iam.set_http_client(Some(http.clone()));
            logs.set_http_client(Some(http.clone()));
            sts.set_http_client(Some(http));
        }
        let (s3, ssm, ecs, iam, logs, sts) = (
            s3.build(),
            ssm.build(),
            ecs.build(),
            iam.build(),
            logs.build(),
            sts.build(),
        );
        Aws {
            sts: aws_sdk_sts::Client::from_conf(sts),
            s3: aws_sdk_s3::Client::from_conf(s3),
            ssm: aws_sdk_ssm::Client::from_conf(ssm),
            ecs: aws_sdk_ecs::Client::from_conf(ecs),
            iam: aws_sdk_iam::Client::from_conf(iam),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(logs),
        }
    }
}

/// Who the credentials in force are, as STS GetCallerIdentity says (never the keys).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

pub async fn caller_identity(sts: &aws_sdk_sts::Client) -> Result<Identity, AwsError> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetCallerIdentity", &e))?;
    match (out.account(), out.arn()) {
        (Some(account), Some(arn)) => Ok(Identity {
            account: account.to_owned(),
            arn: arn.to_owned(),
            user_id: out.user_id().unwrap_or_default().to_owned(),
        }),
        _ => Err(AwsError::new(
            "GetCallerIdentity",
            AwsErrorKind::Malformed,
            "answered without an account or ARN",
        )),
    }
}

/// What kind of failure an AWS call met, from the error metadata the SDK hands back (the
/// service's error code, the HTTP status, the dispatch failure), so that callers decide on a kind
/// rather than on words in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsErrorKind {
    /// The service is rate-limiting this caller (and the SDK's retries did not outlast it).
    Throttled,
    /// The resource asked about does not exist.
    NotFound,
    /// The caller may not do this.
    AccessDenied,
    /// No credentials, or the service does not accept the ones used.
    Credentials,
    /// The service refused the request as the caller's error (4xx, e.g. ECS ClientException).
    Rejected,
    /// The service failed (5xx).
    ServerError,
    /// No answer within the budget.
    Timeout,
    /// The endpoint could not be reached (refused, reset, no route).
    Unreachable,
    /// An answer that is not what the API returns.
    Malformed,
    Other,
}

impl AwsErrorKind {
    /// How an operator would say it of an endpoint that "kept …" failing this way.
    pub fn said(self) -> &'static str {
        match self {
            AwsErrorKind::Throttled => "throttling this caller past the SDK's retries",
            AwsErrorKind::NotFound => "answering that the resource does not exist",
            AwsErrorKind::AccessDenied => "denying access",
            AwsErrorKind::Credentials => "refusing the credentials",
            AwsErrorKind::Rejected => "rejecting the request",
            AwsErrorKind::ServerError => "answering with server errors",
            AwsErrorKind::Timeout => "timing out",
            AwsErrorKind::Unreachable => "refusing or dropping connections",
            AwsErrorKind::Malformed => "answering with malformed responses",
            AwsErrorKind::Other => "failing",
        }
    }
}

/// Throttling codes as the services and the SDKs' standard retry strategy name them.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "ParameterNotFound",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
];

const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];

const CREDENTIAL_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
];

/// The kind of a service error from its code, else its HTTP status.
pub fn kind_of_service_error(code: Option<&str>, status: Option<u16>) -> AwsErrorKind {
    let is = |list: &[&str]| code.is_some_and(|c| list.contains(&c));
    if is(THROTTLING_CODES) || status == Some(429) {
        AwsErrorKind::Throttled
    } else if is(NOT_FOUND_CODES) || status == Some(404) {
        AwsErrorKind::NotFound
    } else if is(CREDENTIAL_CODES) {
        AwsErrorKind::Credentials
    } else if is(ACCESS_CODES) || status == Some(403) {
        AwsErrorKind::AccessDenied
    } else if status.is_some_and(|s| s >= 500) {
        AwsErrorKind::ServerError
    } else if status.is_some_and(|s| (400..500).contains(&s)) {
        AwsErrorKind::Rejected
    } else {
        AwsErrorKind::Other
    }
}

/// An AWS call that did not succeed: which operation, what kind of failure, the service's code
/// and HTTP status when it answered, and one line for the operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {detail}")]
pub struct AwsError {
    pub operation: String,
    pub kind: AwsErrorKind,
    pub code: Option<String>,
    pub status: Option<u16>,
    pub detail: String,
}

impl AwsError {
    /// What a probe that met this error found: a refusal by the service (denied, missing,
    /// rejected) is a finding about the resource; throttling, timeouts, dead endpoints, server
    /// errors and malformed answers only say the probe could not ask.
    pub fn outcome(&self) -> crate::rules::outcome::ProbeOutcome {
        use crate::rules::outcome::ProbeOutcome;
        match self.kind {
            AwsErrorKind::AccessDenied | AwsErrorKind::NotFound | AwsErrorKind::Rejected => {
                ProbeOutcome::Fail
            }
            _ => ProbeOutcome::Error,
        }
    }
}

/// Shown to an operator, an AWS error is its one line.
impl From<AwsError> for String {
    fn from(e: AwsError) -> String {
        e.to_string()
    }
}

impl AwsError {
    pub fn from_sdk<E>(
        operation: impl Into<String>,
        err: &aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::http::Response,
        >,
    ) -> AwsError
    where
        E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    {
        use aws_sdk_s3::error::SdkError;
        let status = err.raw_response().map(|r| r.status().as_u16());
        let (kind, code) = match err {
            SdkError::ServiceError(e) => {
                let code = e.err().code().map(str::to_owned);
                (kind_of_service_error(code.as_deref(), status), code)
            }
            SdkError::TimeoutError(_) => (AwsErrorKind::Timeout, None),
            SdkError::DispatchFailure(e) => {
                let detail = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
                (dispatch_kind(e, &detail), None)
            }
            SdkError::ResponseError(_) => (AwsErrorKind::Malformed, None),
            _ => (AwsErrorKind::Other, None),
        };
        AwsError {
            operation: operation.into(),
            kind,
            code,
            status,
            detail: describe_sdk_error(err, status),
        }
    }

    /// A failure the SDK did not raise: an answer without what the API promises, say.
    pub fn new(
        operation: impl Into<String>,
        kind: AwsErrorKind,
        detail: impl Into<String>,
    ) -> AwsError {
        AwsError {
            operation: operation.into(),
            kind,
            code: None,
            status: None,
            detail: detail.into(),
        }
    }

    /// The same failure said of a longer operation name.
    pub fn within(mut self, operation: impl Into<String>) -> AwsError {
        self.operation = operation.into();
        self
    }
}

/// What kind of failure a request that never got an answer met: no credentials (the chain's error
/// travels as a dispatch failure), a timeout, or a connection refused or dropped.
fn dispatch_kind(
    e: &aws_smithy_runtime_api::client::result::DispatchFailure,
    detail: &str,
) -> AwsErrorKind {
    if detail.contains("credentials") {
        AwsErrorKind::Credentials
    } else if e.is_timeout() {
        AwsErrorKind::Timeout
    } else if e.is_io() {
        AwsErrorKind::Unreachable
    } else {
        AwsErrorKind::Other
    }
}

/// One line that says what went wrong with an SDK call, with the service's code when it sent one
/// (`AwsError`'s detail; adapters build an `AwsError`, never this line alone).
fn describe_sdk_error<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>, status: Option<u16>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            match (inner.code(), inner.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_owned(),
                // An answer whose body the SDK could not read a code from: its status is what
                // the operator can act on (the SDK's own text is a debug dump of the response).
                _ => match status {
                    Some(403) => {
                        "HTTP 403 (access denied) without an error code in the answer".to_owned()
                    }
                    Some(status) => format!("HTTP {status} without an error code in the answer"),
                    None => {
                        aws_smithy_types::error::display::DisplayErrorContext(inner).to_string()
                    }
                },
            }
        }
        SdkError::TimeoutError(_) => "timed out (budget in [budgets] spent)".to_owned(),
        SdkError::DispatchFailure(e) => {
            let detail = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
            let kind = dispatch_kind(e, &detail);
            if kind == AwsErrorKind::Credentials {
                // The chain's own words name the profile or file at fault; they carry no keys.
                let cause = detail
                    .rsplit(": ")
                    .find(|part| part.contains("profile") || part.contains("role"))
                    .map(|c| format!(" ({})", c.trim()))
                    .unwrap_or_default();
                format!(
                    "no usable AWS credentials{cause} (standard chain: environment, profile/SSO, \
                     container or instance role); set [aws] profile or AWS_PROFILE, or \
                     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                )
            } else if kind == AwsErrorKind::Timeout {
                "timed out connecting to the endpoint".to_owned()
            } else if kind == AwsErrorKind::Unreachable {
                format!(
                    "could not connect to the endpoint ({})",
                    aws_smithy_types::error::display::DisplayErrorContext(err)
                )
            } else {
                format!(
                    "dispatch failure ({})",
                    aws_smithy_types::error::display::DisplayErrorContext(err)
                )
            }
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

/// How many AWS calls this process keeps in flight at once, across every primitive: enough to
/// turn a wave, a task-definition list, a phase's log groups (13 in M4) or every role's
/// simulations beside the roles' own reads (28 in M4.C) into one round trip, inside the burst
/// the services allow (ECS: a token bucket of 50 for cluster reads, "Request throttling for the
/// Amazon ECS API"), with the SDK's standard retries (backoff on ThrottlingException) behind it.
pub const AWS_CONCURRENCY: usize = 32;

/// The permits `bounded` hands out: one semaphore for the process, so pools nested in one
/// another's results (a role's simulations beside other roles') share one bound.
static AWS_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(AWS_CONCURRENCY);

/// Runs the futures together, each holding one of the AWS_CONCURRENCY permits while it runs;
/// results in input order. A future run here must not itself run `bounded` (it would hold a
/// permit while it waits for more): compose pools of pools with `join_all` above them.
pub async fn bounded<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    futures::future::join_all(futures.into_iter().map(|f| async move {
        // Never closed, so acquire cannot fail; a closed semaphore would only mean unbounded.
        let _permit = AWS_PERMITS.acquire().await.ok();
        f.await
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes and statuses as the services answer them (ECS ThrottlingException and
    /// ClientException, S3 SlowDown and NoSuchKey, IAM NoSuchEntity, STS ExpiredToken).
    #[test]
    fn service_errors_are_classified_by_code_then_status() {
        use AwsErrorKind::*;
        for (code, status, kind) in [
            (Some("ThrottlingException"), Some(400), Throttled),
            (Some("SlowDown"), Some(503), Throttled),
            (None, Some(429), Throttled),
            (Some("NoSuchKey"), Some(404), NotFound),
            (Some("NoSuchEntity"), Some(404), NotFound),
            (Some("ResourceNotFoundException"), Some(400), NotFound),
            (Some("AccessDeniedException"), Some(400), AccessDenied),
            (None, Some(403), AccessDenied),
            (Some("ExpiredToken"), Some(403), Credentials),
            (Some("ClientException"), Some(400), Rejected),
            (Some("ServerException"), Some(500), ServerError),
            (None, Some(502), ServerError),
            (None, None, Other),
        ] {
            assert_eq!(
                kind_of_service_error(code, status),
                kind,
                "{code:?} {status:?}"
            );
        }
    }
}
