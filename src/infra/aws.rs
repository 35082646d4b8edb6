//! AWS clients built once per run from aws-config's standard chain (profiles, environment,
//! container and instance roles), with the env file's region, an optional endpoint (the env file's
//! `endpoint_url`, else `AWS_ENDPOINT_URL`, which the SDK honours itself), bounded timeouts and
//! retries, and a counter of API calls per service for the run report.

use crate::config::Config;
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
        *self
            .counts
            .lock()
            .expect("counter lock")
            .entry(service.to_owned())
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("counter lock").clone()
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

impl Aws {
    pub async fn connect(config: &Config, counter: &CallCounter) -> Aws {
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
        let path_style = endpoint_override(config).is_some();
        let s3 = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .interceptor(counter.interceptor("s3"))
            .build();
        let ssm = aws_sdk_ssm::config::Builder::from(&shared)
            .interceptor(counter.interceptor("ssm"))
            .build();
        let ecs = aws_sdk_ecs::config::Builder::from(&shared)
            .interceptor(counter.interceptor("ecs"))
            .build();
        let iam = aws_sdk_iam::config::Builder::from(&shared)
            .interceptor(counter.interceptor("iam"))
            .build();
        let logs = aws_sdk_cloudwatchlogs::config::Builder::from(&shared)
            .interceptor(counter.interceptor("logs"))
            .build();
        let sts = aws_sdk_sts::config::Builder::from(&shared)
            .interceptor(counter.interceptor("sts"))
            .build();
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

pub async fn caller_identity(sts: &aws_sdk_sts::Client) -> Result<Identity, String> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("GetCallerIdentity: {}", describe_sdk_error(&e)))?;
    match (out.account(), out.arn()) {
        (Some(account), Some(arn)) => Ok(Identity {
            account: account.to_owned(),
            arn: arn.to_owned(),
            user_id: out.user_id().unwrap_or_default().to_owned(),
        }),
        _ => Err("GetCallerIdentity answered without an account or ARN".to_owned()),
    }
}

/// One line that says what went wrong with an SDK call, with the service's code when it sent one.
pub fn describe_sdk_error<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
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
                _ => aws_smithy_types::error::display::DisplayErrorContext(inner).to_string(),
            }
        }
        SdkError::TimeoutError(_) => "timed out (budget in [budgets] spent)".to_owned(),
        SdkError::DispatchFailure(e) => {
            let detail = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
            if detail.contains("credentials") {
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
            } else if e.is_timeout() {
                "timed out connecting to the endpoint".to_owned()
            } else if e.is_io() {
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

/// How many AWS calls one primitive keeps in flight at once: enough to turn a wave, a role list
/// or a phase's snapshots into one or two round trips, few enough to stay inside the per-account
/// API rate limits (ECS and IAM throttle bursts of a few dozen), with the SDK's retries behind it.
pub const AWS_CONCURRENCY: usize = 8;

/// Runs the futures with at most AWS_CONCURRENCY in flight; results in input order.
pub async fn bounded<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    use futures::stream::StreamExt;
    futures::stream::iter(futures)
        .buffered(AWS_CONCURRENCY)
        .collect()
        .await
}
