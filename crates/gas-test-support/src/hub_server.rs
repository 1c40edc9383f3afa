//! A fake Hugging Face hub on 127.0.0.1 for download tests: paginated tree listing, `resolve`
//! downloads with `Range` support, and an optional one-time connection drop mid-file.
//! Stops when the returned guard is dropped.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub range: Option<String>,
    pub auth: Option<String>,
}

#[derive(Default)]
pub struct Hub {
    /// repo file path → content
    pub files: BTreeMap<String, Vec<u8>>,
    /// files whose first full (non-Range) download is cut after this many bytes
    pub drop_once: HashMap<String, usize>,
    pub log: Vec<Request>,
}

type Shared = Arc<Mutex<Hub>>;

pub struct Server {
    pub endpoint: String,
    pub hub: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Server {
    pub fn requests(&self) -> Vec<Request> {
        self.hub.lock().unwrap().log.clone()
    }
    pub fn downloads_of(&self, file: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with(&format!("/resolve/main/{file}")))
            .collect()
    }
}

async fn tree(
    State(hub): State<Shared>,
    Path((org, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut h = hub.lock().unwrap();
    h.log.push(Request {
        path: format!("/api/datasets/{org}/{name}/tree/main"),
        range: None,
        auth: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
    });
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let mut entries = vec![serde_json::json!({"type": "directory", "path": "data", "oid": "0"})];
    for (p, b) in &h.files {
        entries.push(serde_json::json!({
            "type": "file", "path": p, "size": b.len(), "oid": "x",
            "lfs": {"oid": "y", "size": b.len(), "pointerSize": 134}
        }));
    }
    // Two pages: first half, then the rest (exercises Link: rel="next").
    let half = entries.len() / 2;
    let (page, next) = if q.get("cursor").map(String::as_str) == Some("p2") {
        (entries[half..].to_vec(), None)
    } else {
        (
            entries[..half].to_vec(),
            Some(format!(
                "<http://{host}/api/datasets/{org}/{name}/tree/main?recursive=1&cursor=p2>; rel=\"next\""
            )),
        )
    };
    let mut r = Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(n) = next {
        r = r.header(header::LINK, n);
    }
    r.body(Body::from(serde_json::to_vec(&page).unwrap()))
        .unwrap()
}

async fn resolve(
    State(hub): State<Shared>,
    Path((org, name, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let mut h = hub.lock().unwrap();
    h.log.push(Request {
        path: format!("/datasets/{org}/{name}/resolve/main/{file}"),
        range: range.clone(),
        auth: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
    });
    let Some(data) = h.files.get(&file).cloned() else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("Entry not found"))
            .unwrap();
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok());
    if let Some(start) = start {
        if start >= data.len() {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .body(Body::empty())
                .unwrap();
        }
        return Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_LENGTH, data.len() - start)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{}", data.len() - 1, data.len()),
            )
            .body(Body::from(data[start..].to_vec()))
            .unwrap();
    }
    if let Some(cut) = h.drop_once.remove(&file) {
        // Announce the full length, send `cut` bytes, then fail the stream: the connection drops.
        let first = bytes::Bytes::copy_from_slice(&data[..cut]);
        // The pause lets the first bytes reach the client before the failure aborts the
        // connection.
        use futures::StreamExt;
        let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(first)]).chain(
            futures::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                Err(std::io::Error::other("simulated connection drop"))
            }),
        );
        return Response::builder()
            .status(200)
            .header(header::CONTENT_LENGTH, data.len())
            .body(Body::from_stream(stream))
            .unwrap();
    }
    Response::builder()
        .status(200)
        .header(header::CONTENT_LENGTH, data.len())
        .body(Body::from(data))
        .unwrap()
}

pub fn start(hub: Hub) -> Server {
    let hub: Shared = Arc::new(Mutex::new(hub));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = hub.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/api/datasets/{org}/{name}/tree/main", get(tree))
                .route("/datasets/{org}/{name}/resolve/main/{*file}", get(resolve))
                .with_state(state);
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
    });
    Server {
        endpoint: format!("http://{addr}"),
        hub,
        stop: Some(tx),
        thread: Some(thread),
    }
}
