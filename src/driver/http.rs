//! An [`Upstream`] over real HTTP: the driver's calls sent to `keypool serve` (or any server
//! that speaks the chosen API), with the policy's first-byte and idle timeouts applied while the
//! reply is read.

use super::{Call, TransportError, Upstream};
use crate::dialect::{self, Dialect, Form};
use crate::engine::NoReply;
use crate::reply::Reply;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use tokio::time::timeout;

/// Calls an HTTP upstream in one API and framing, one connection pool for all calls.
///
/// ```no_run
/// use keypool::driver::http::HttpUpstream;
/// use keypool::dialect::{Dialect, Form};
/// let up = HttpUpstream::new("http://127.0.0.1:8080", Form::new(Dialect::Chat, false));
/// ```
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    base: String,
    form: Form,
    model: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpUpstream {
    /// An upstream at `base` (`http://host:port`, no trailing `/v1`), called in `form`.
    pub fn new(base: &str, form: Form) -> HttpUpstream {
        HttpUpstream {
            base: base.trim_end_matches('/').to_owned(),
            form,
            model: "mock-model".to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// The model name put in each call (default `mock-model`).
    pub fn model(mut self, model: &str) -> HttpUpstream {
        self.model = model.to_owned();
        self
    }
}

fn limit(ms: Option<u64>) -> Duration {
    ms.map_or(Duration::MAX, Duration::from_millis)
}

impl Upstream for HttpUpstream {
    async fn call(&self, call: Call) -> Result<Reply, TransportError> {
        self.call_in(self.form, call).await
    }
}

impl HttpUpstream {
    /// One call in `form` instead of the upstream's own.
    pub async fn call_in(&self, form: Form, call: Call) -> Result<Reply, TransportError> {
        // The request's marker: the host's tag (a gateway's client request), else the
        // engine's request number.
        let marker = call.tag.unwrap_or(u64::from(call.req));
        let c = dialect::call(form, &self.model, marker);
        let mut req = Request::post(format!("{}{}", self.base, c.path))
            .header("content-type", "application/json")
            .header("x-keypool-request", format!("kp-req-{marker}"));
        if let Some(secret) = &call.secret {
            let name = dialect::key_header(form.dialect);
            req = if name == "authorization" {
                req.header(name, format!("Bearer {secret}"))
            } else {
                req.header(name, &**secret)
            };
        }
        if form.dialect == Dialect::Anthropic {
            req = req.header("anthropic-version", "2023-06-01");
        }
        let req = req
            .body(Full::new(Bytes::from(c.body)))
            .map_err(|e| TransportError::new(NoReply::Connect, e.to_string()))?;
        let t = call.timeouts;
        let resp = match timeout(limit(t.first_byte_ms), self.client.request(req)).await {
            Err(_) => return Err(TransportError::new(NoReply::Timeout, "no headers in time")),
            Ok(Err(e)) if e.is_connect() => {
                return Err(TransportError::new(NoReply::Connect, e.to_string()))
            }
            Ok(Err(e)) => return Err(TransportError::new(NoReply::Reset, e.to_string())),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let headers = header_pairs(resp.headers());
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        loop {
            match timeout(limit(t.idle_ms), body.frame()).await {
                Err(_) => return Err(TransportError::new(NoReply::Timeout, "the body went idle")),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(TransportError::new(NoReply::Cut, e.to_string())),
                Ok(Some(Ok(f))) => {
                    if let Some(d) = f.data_ref() {
                        bytes.extend_from_slice(d);
                    }
                }
            }
        }
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            transport: None,
        })
    }
}

/// A response's headers as a [`Reply`] holds them: lower-case names and text values.
pub fn header_pairs(h: &hyper::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
