//! The tape at the AWS SDK's HTTP connector: while recording, every exchange goes to the real
//! client and its answer is written to the tape before the SDK parses it; while replaying, the
//! answer comes from the tape and nothing is sent anywhere.

use crate::infra::tape::{redact_ssm_answer, Entry, HttpKey, Tape};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::retry::ErrorKind;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The answer headers the SDK reads to parse an answer (and S3 its object's metadata).
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-amzn-errortype",
    "x-amzn-query-error",
    "etag",
    "last-modified",
    "content-length",
];

fn request_key(request: &HttpRequest) -> HttpKey {
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    HttpKey::of(
        request.method(),
        request.uri(),
        &headers,
        request.body().bytes(),
    )
}

/// The SDK's default HTTPS client, every exchange recorded on `tape`.
pub fn recording(inner: SharedHttpClient, tape: Arc<Tape>) -> SharedHttpClient {
    SharedHttpClient::new(RecordingClient { inner, tape })
}

/// A client that answers from `tape` and opens no connection.
pub fn replaying(tape: Arc<Tape>) -> SharedHttpClient {
    SharedHttpClient::new(ReplayClient { tape })
}

#[derive(Debug)]
struct RecordingClient {
    inner: SharedHttpClient,
    tape: Arc<Tape>,
}

impl HttpClient for RecordingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Recording {
            inner: self.inner.http_connector(settings, components),
            tape: Arc::clone(&self.tape),
        })
    }
}

#[derive(Debug)]
struct Recording {
    inner: SharedHttpConnector,
    tape: Arc<Tape>,
}

impl HttpConnector for Recording {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let key = request_key(&request);
        let (inner, tape) = (self.inner.clone(), Arc::clone(&self.tape));
        HttpConnectorFuture::new(async move {
            let started = Instant::now();
            let mut response = inner.call(request).await?;
            // The whole answer is read here, as the SDK would read it (our answers are small:
            // JSON and XML documents, evidence objects).
            let bytes = ByteStream::new(response.take_body())
                .collect()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?
                .into_bytes();
            let copying = Instant::now();
            let headers: BTreeMap<String, String> = response
                .headers()
                .iter()
                .filter(|(k, _)| KEPT_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect();
            let (body, body_hex) = match std::str::from_utf8(&bytes) {
                Ok(text) => (
                    redact_ssm_answer(&key.service, text).unwrap_or_else(|| text.to_owned()),
                    false,
                ),
                Err(_) => (hex::encode(&bytes), true),
            };
            tape.append(Entry::Http {
                seq: tape.next_seq(),
                key,
                status: response.status().as_u16(),
                headers,
                body,
                body_hex,
                ms: started.elapsed().as_millis() as u64,
            });
            tape.add_spent(copying.elapsed());
            *response.body_mut() = SdkBody::from(bytes);
            Ok(response)
        })
    }
}

#[derive(Debug)]
struct ReplayClient {
    tape: Arc<Tape>,
}

impl HttpClient for ReplayClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Replay {
            tape: Arc::clone(&self.tape),
        })
    }
}

#[derive(Debug)]
struct Replay {
    tape: Arc<Tape>,
}

impl HttpConnector for Replay {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let key = request_key(&request);
        let answer = match self.tape.answer(&key.joined()) {
            Ok(Entry::Http {
                status,
                headers,
                body,
                body_hex,
                ..
            }) => response(status, &headers, &body, body_hex),
            Ok(other) => Err(format!(
                "the tape holds {other:?} where an HTTP answer was expected"
            )),
            Err(missing) => Err(missing.to_string()),
        };
        // A call the tape does not hold is the client's error (never retried): the adapter says
        // which call, and the replay's summary counts it.
        HttpConnectorFuture::ready(
            answer.map_err(|why| ConnectorError::other(why.into(), Some(ErrorKind::ClientError))),
        )
    }
}

fn response(
    status: u16,
    headers: &BTreeMap<String, String>,
    body: &str,
    body_hex: bool,
) -> Result<HttpResponse, String> {
    let bytes = if body_hex {
        hex::decode(body).map_err(|e| format!("a recorded body is not hex: {e}"))?
    } else {
        body.as_bytes().to_vec()
    };
    let status = StatusCode::try_from(status).map_err(|e| format!("recorded status: {e}"))?;
    let mut response = HttpResponse::new(status, SdkBody::from(bytes));
    for (k, v) in headers {
        response.headers_mut().insert(k.clone(), v.clone());
    }
    Ok(response)
}
