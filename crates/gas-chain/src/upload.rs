//! Signed client for the network's upload API: `POST {base}/presigned` → `PUT {presigned_url}`
//! (streamed from disk) → `POST {base}/confirm`, plus signed GETs for the status API.
//! Transient failures (timeouts, connection errors, 5xx other than "uploads disabled") are
//! retried with exponential backoff; every step is idempotent by file hash.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::epistula;
use crate::wallet::Hotkey;

/// The network's upload service.
pub const DEFAULT_UPLOAD_URL: &str = "https://upload.bitmind.ai/upload";
/// The network's status API.
pub const DEFAULT_API_URL: &str = "https://gas.bitmind.ai/api/v1";

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{step}: this file (sha256 {hash}) was already uploaded{}; change the model to upload a \
         new version",
        existing_note(.model_id.as_deref(), .detail)
    )]
    AlreadyUploaded {
        step: &'static str,
        hash: String,
        /// The server's message.
        detail: String,
        /// The existing model, when the server named it (`model_id` in the answer or its text).
        model_id: Option<String>,
    },
    #[error(
        "{step}: uploads are disabled right now ({detail}); this happens between competition \
         rounds, try again when the next round opens"
    )]
    Disabled { step: &'static str, detail: String },
    /// HTTP 429 without `Retry-After`: a limit that waiting will not lift (the registry's
    /// per-modality submission quota), not rate limiting; never retried.
    #[error(
        "{step}: refused: {detail} (HTTP 429); waiting will not help: check your models with \
         `gascli d perf`"
    )]
    LimitReached { step: &'static str, detail: String },
    #[error("{step}: HTTP {status}: {detail}")]
    Http {
        step: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{step}: {detail} (after {attempts} attempts)")]
    Transport {
        step: &'static str,
        detail: String,
        attempts: u32,
    },
    #[error("{step}: unexpected response: {detail}")]
    BadResponse { step: &'static str, detail: String },
}

impl UploadError {
    fn transient(&self) -> bool {
        match self {
            UploadError::Transport { .. } => true,
            UploadError::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

/// Retry policy for transient failures: `attempts` tries in all, waiting
/// `base_delay * 2^n` between them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_secs(2),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Body of `POST /presigned`; field order is the wire order.
#[derive(Debug, Clone, Serialize)]
pub struct PresignedRequest {
    pub filename: String,
    pub file_size: u64,
    pub expected_hash: String,
    pub content_type: String,
    pub modality: String,
    pub vertical: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Presigned {
    pub model_id: String,
    pub presigned_url: String,
    pub r2_key: String,
    #[serde(default)]
    pub submissions_used: Option<u64>,
    #[serde(default)]
    pub submissions_max: Option<u64>,
}

/// Streams a file through SHA-256; returns (lowercase hex, size).
pub fn sha256_file(path: &Path) -> Result<(String, u64), UploadError> {
    use std::io::Read;
    let io = |source| UploadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n_total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        n_total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), n_total))
}

/// Error text from a JSON body: `detail`, else `error`, else `message`, else the raw text.
pub fn error_detail(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        for k in ["detail", "error", "message"] {
            match v.get(k) {
                Some(serde_json::Value::String(s)) => return s.clone(),
                Some(other) if !other.is_null() => return other.to_string(),
                _ => {}
            }
        }
    }
    let t = body.trim();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t.chars().take(300).collect()
    }
}

/// ` as model X`, or the server's words when it named no model.
fn existing_note(model_id: Option<&str>, detail: &str) -> String {
    match model_id {
        Some(id) => format!(" as model {id}"),
        None => format!(" (the server said: {detail})"),
    }
}

/// The existing model named by a 409 answer: a `model_id` field (top level or under `data`), else
/// the word after `model_id` in its message.
pub fn existing_model_id(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    for id in [&v["model_id"], &v["data"]["model_id"]] {
        match id {
            serde_json::Value::String(s) if !s.is_empty() => return Some(s.clone()),
            serde_json::Value::Number(n) => return Some(n.to_string()),
            _ => {}
        }
    }
    let text = error_detail(body);
    let after = text.split("model_id").nth(1)?;
    let id: String = after
        .trim_start_matches([' ', ':', '='])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Callback before each retry: (step, attempt, error, delay).
pub type RetryHook = Box<dyn Fn(&str, u32, &UploadError, Duration) + Send + Sync>;

pub struct UploadClient {
    http: reqwest::Client,
    base: String,
    hotkey: Hotkey,
    retry: RetryPolicy,
    /// Called before each retry with (step, attempt, error, delay); for visible progress.
    on_retry: Option<RetryHook>,
}

/// Installs rustls' ring crypto provider as the process default, once (later calls do nothing):
/// reqwest is built without a provider of its own (the workspace's Cargo.toml), so every HTTP
/// client in this crate — and the registry's object-store client — needs it first.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl UploadClient {
    pub fn new(base: &str, hotkey: Hotkey, retry: RetryPolicy) -> Result<Self, UploadError> {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            // No total timeout on the PUT (large files); a stalled connection times out instead.
            .read_timeout(retry.request_timeout)
            .user_agent(concat!("gascli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UploadError::Transport {
                step: "http client",
                detail: e.to_string(),
                attempts: 0,
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            hotkey,
            retry,
            on_retry: None,
        })
    }

    pub fn on_retry(
        mut self,
        f: impl Fn(&str, u32, &UploadError, Duration) + Send + Sync + 'static,
    ) -> Self {
        self.on_retry = Some(Box::new(f));
        self
    }

    pub fn hotkey(&self) -> &Hotkey {
        &self.hotkey
    }

    async fn with_retry<T, F, Fut>(&self, step: &'static str, mut f: F) -> Result<T, UploadError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, UploadError>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if e.transient() && attempt < self.retry.attempts => {
                    let delay = self.retry.base_delay * 2u32.saturating_pow(attempt - 1);
                    if let Some(cb) = &self.on_retry {
                        cb(step, attempt, &e, delay);
                    }
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(UploadError::Transport { step, detail, .. }) => {
                    return Err(UploadError::Transport {
                        step,
                        detail,
                        attempts: attempt,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn transport(step: &'static str, e: reqwest::Error) -> UploadError {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        let mut detail = format!("{kind}: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            detail.push_str(&format!(": {s}"));
            src = s.source();
        }
        UploadError::Transport {
            step,
            detail,
            attempts: 1,
        }
    }

    async fn read_response(
        step: &'static str,
        resp: reqwest::Response,
        hash: &str,
    ) -> Result<String, UploadError> {
        let status = resp.status();
        let retry_after = resp.headers().contains_key(reqwest::header::RETRY_AFTER);
        let text = resp.text().await.map_err(|e| Self::transport(step, e))?;
        if status.is_success() {
            return Ok(text);
        }
        let detail = error_detail(&text);
        if status == StatusCode::CONFLICT {
            return Err(UploadError::AlreadyUploaded {
                step,
                hash: hash.to_string(),
                model_id: existing_model_id(&text),
                detail,
            });
        }
        if status == StatusCode::SERVICE_UNAVAILABLE && detail.to_lowercase().contains("disabled") {
            return Err(UploadError::Disabled { step, detail });
        }
        if status == StatusCode::TOO_MANY_REQUESTS && !retry_after {
            return Err(UploadError::LimitReached { step, detail });
        }
        Err(UploadError::Http {
            step,
            status: status.as_u16(),
            detail,
        })
    }

    /// Signed POST of a JSON body (serialized once, signed fresh on every attempt).
    async fn post_signed(
        &self,
        step: &'static str,
        url: &str,
        body: Vec<u8>,
        hash: &str,
    ) -> Result<String, UploadError> {
        self.with_retry(step, || async {
            let mut req = self
                .http
                .post(url)
                .timeout(self.retry.request_timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            for (k, v) in epistula::sign_request(&self.hotkey, &body, "") {
                req = req.header(k, v);
            }
            let resp = req.send().await.map_err(|e| Self::transport(step, e))?;
            Self::read_response(step, resp, hash).await
        })
        .await
    }

    /// Step 1: `POST {base}/presigned`.
    pub async fn presigned(&self, req: &PresignedRequest) -> Result<Presigned, UploadError> {
        const STEP: &str = "presigned URL";
        let body = serde_json::to_vec(req).expect("serializable");
        let text = self
            .post_signed(
                STEP,
                &format!("{}/presigned", self.base),
                body,
                &req.expected_hash,
            )
            .await?;
        #[derive(Deserialize)]
        struct Wrap {
            data: Presigned,
        }
        serde_json::from_str::<Wrap>(&text)
            .map(|w| w.data)
            .map_err(|e| UploadError::BadResponse {
                step: STEP,
                detail: format!("expected {{\"data\": {{model_id, presigned_url, r2_key}}}}: {e}"),
            })
    }

    /// Step 2: `PUT {presigned_url}` streaming the file from disk (unsigned). `sent`, when
    /// given, counts the bytes handed to the connection (reset to 0 on each attempt), for the
    /// caller's progress display.
    pub async fn put_file(
        &self,
        presigned_url: &str,
        path: &Path,
        size: u64,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<(), UploadError> {
        const STEP: &str = "upload (PUT)";
        self.with_retry(STEP, || async {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|source| UploadError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            if let Some(c) = &sent {
                c.store(0, Ordering::Relaxed);
            }
            let counter = sent.clone();
            let stream = futures::stream::unfold(file, move |mut f| {
                let counter = counter.clone();
                async move {
                    let mut buf = vec![0u8; 256 * 1024];
                    match f.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            if let Some(c) = &counter {
                                c.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
                        }
                        Err(e) => Some((Err(e), f)),
                    }
                }
            });
            let resp = self
                .http
                .put(presigned_url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .map_err(|e| Self::transport(STEP, e))?;
            Self::read_response(STEP, resp, "").await.map(|_| ())
        })
        .await
    }

    /// Step 3: `POST {base}/confirm`.
    pub async fn confirm(
        &self,
        model_id: &str,
        file_hash: &str,
    ) -> Result<serde_json::Value, UploadError> {
        const STEP: &str = "confirm";
        let body =
            serde_json::to_vec(&serde_json::json!({"model_id": model_id, "file_hash": file_hash}))
                .expect("serializable");
        let text = self
            .post_signed(STEP, &format!("{}/confirm", self.base), body, file_hash)
            .await?;
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// Signed GET (empty body) returning JSON, for the status API.
    pub async fn get_signed_json(&self, url: &str) -> Result<serde_json::Value, UploadError> {
        const STEP: &str = "status";
        let text = self
            .with_retry(STEP, || async {
                let mut req = self.http.get(url).timeout(self.retry.request_timeout);
                for (k, v) in epistula::sign_request(&self.hotkey, b"", "") {
                    req = req.header(k, v);
                }
                let resp = req.send().await.map_err(|e| Self::transport(STEP, e))?;
                Self::read_response(STEP, resp, "").await
            })
            .await?;
        serde_json::from_str(&text).map_err(|e| UploadError::BadResponse {
            step: STEP,
            detail: format!("not JSON: {e}"),
        })
    }
}
