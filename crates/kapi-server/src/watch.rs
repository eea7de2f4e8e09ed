//! Watch streams: one JSON event per line, with bookmarks and the initial-events marker.
//!
//! A watch from resourceVersion unset or "0" first replays the current objects as ADDED (what
//! the Python client's `watch.stream()` expects); `sendInitialEvents=true` does the same and then
//! sends the BOOKMARK annotated `k8s.io/initial-events-end`. Events come from the store as the
//! stored bytes and are framed without re-encoding unless a selector or a Table needs the object.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::Response;
use http_body_util::StreamBody;
use hyper::body::Frame;
use kapi_api::printers::IncludeObject;
use kapi_api::resources::ResourceDef;
use kapi_api::status::ApiError;
use kapi_store::{EventKind, StoreError};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::handlers::Shape;
use crate::registry::{self, ListOptions};
use crate::response::Body;
use crate::Server;

/// The longest a watch stays open when the client names no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

/// Starts a watch and returns the streaming response.
pub fn serve(
    server: &Server,
    def: &'static ResourceDef,
    ns: Option<&str>,
    opts: ListOptions,
    shape: Shape,
) -> Result<Response<Body>, ApiError> {
    let registry = server.registry.clone();
    let initial = opts.send_initial_events == Some(true)
        || matches!(opts.resource_version, None | Some(0))
            && opts.send_initial_events != Some(false);
    opts.check_initial_events(true)?;
    let (initial_items, start) = if initial {
        let (items, rev, _) =
            registry
                .store()
                .list(&registry::Registry::prefix(def, ns), None, 0, |key, kv| {
                    opts.matches_stored(key, &kv.value)
                });
        (
            items
                .into_iter()
                .map(|(_, kv)| kv.value)
                .collect::<Vec<_>>(),
            rev,
        )
    } else {
        (Vec::new(), opts.resource_version.unwrap_or(0))
    };
    let mut stream = registry.watch(def, ns, start)?;
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let timeout = opts
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let view = crate::handlers::versions::is_view(def);
    let framer = Framer {
        def,
        shape,
        opts,
        view,
    };
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        for item in initial_items {
            if tx.send(framer.frame("ADDED", &item, None)).await.is_err() {
                return;
            }
        }
        if framer.opts.send_initial_events == Some(true) {
            let _ = tx.send(framer.bookmark(start, true)).await;
        }
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                ev = stream.next() => match ev {
                    Ok(ev) => {
                        if let Some(frame) = framer.event(&ev) {
                            if tx.send(frame).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(StoreError::Compacted { requested, oldest }) => {
                        let err = ApiError::expired(format!("too old resource version: {requested} ({oldest})"));
                        let _ = tx.send(framer.raw("ERROR", &serde_json::to_vec(&err.to_status()).unwrap_or_default())).await;
                        return;
                    }
                    Err(_) => return,
                },
                _ = tokio::time::sleep(BOOKMARK_EVERY), if framer.opts.bookmarks => {
                    if tx.send(framer.bookmark(stream.revision(), false)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
    }));
    let mut resp = Response::new(http_body_util::BodyExt::boxed(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

struct Framer {
    def: &'static ResourceDef,
    shape: Shape,
    opts: ListOptions,
    /// `def` is served by conversion: every object is converted, none shares framing.
    view: bool,
}

impl Framer {
    fn raw(&self, kind: &str, object: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(object.len() + 32);
        out.put_slice(b"{\"type\":\"");
        out.put_slice(kind.as_bytes());
        out.put_slice(b"\",\"object\":");
        out.put_slice(object);
        out.put_slice(b"}\n");
        out.freeze()
    }

    fn frame(&self, kind: &str, bytes: &[u8], parsed: Option<&Value>) -> Bytes {
        match self.shape {
            Shape::Object if self.view => {
                match crate::handlers::versions::shown(
                    self.def,
                    self.shape,
                    Bytes::copy_from_slice(bytes),
                ) {
                    Ok(converted) => self.raw(kind, &converted),
                    Err(e) => {
                        tracing::warn!(error = %e.message, "watch: object not converted");
                        self.raw(kind, bytes)
                    }
                }
            }
            Shape::Object => self.raw(kind, bytes),
            Shape::Table | Shape::Metadata => {
                let owned;
                let obj = match parsed {
                    Some(v) => v,
                    None => {
                        owned = serde_json::from_slice::<Value>(bytes).unwrap_or(Value::Null);
                        &owned
                    }
                };
                let out = if self.shape == Shape::Table {
                    let rv = obj
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    crate::crd::table(
                        self.def,
                        &[obj],
                        chrono::Utc::now(),
                        IncludeObject::Metadata,
                        rv,
                        None,
                    )
                } else {
                    crate::handlers::partial_metadata(obj)
                };
                self.raw(kind, &serde_json::to_vec(&out).unwrap_or_default())
            }
        }
    }

    fn event(&self, ev: &kapi_store::Event) -> Option<Bytes> {
        let (kind, key, value, prev) = (ev.kind, &*ev.key, &ev.value[..], ev.prev_value.as_deref());
        let name = match kind {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        };
        // Every watcher that passes the event on unchanged sends the same line: frame it once
        // per event and share it.
        let unchanged = || match self.shape {
            Shape::Object if !self.view => ev.wire.get_or_init(|| self.raw(name, value)).clone(),
            _ => self.frame(name, value, None),
        };
        if !self.opts.filters() {
            return Some(unchanged());
        }
        // A name or namespace never changes, so such a selector decides once, by key.
        if let Some(matches) = self.opts.matches_key(key) {
            return matches.then(unchanged);
        }
        let obj: Value = serde_json::from_slice(value).ok()?;
        let now = self.opts.matches(&obj);
        let before = prev
            .and_then(|p| serde_json::from_slice::<Value>(p).ok())
            .is_some_and(|p| self.opts.matches(&p));
        let name = match (kind, before, now) {
            (EventKind::Deleted, true, _) | (EventKind::Deleted, _, true) => "DELETED",
            (EventKind::Deleted, false, false) => return None,
            (_, false, true) => "ADDED",
            (_, true, true) => "MODIFIED",
            (_, true, false) => "DELETED",
            (_, false, false) => return None,
        };
        Some(self.frame(name, value, Some(&obj)))
    }

    fn bookmark(&self, revision: i64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": metadata});
        self.raw("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
    }
}
