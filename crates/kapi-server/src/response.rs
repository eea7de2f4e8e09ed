//! Building HTTP responses: JSON bodies, Status errors, gzip when asked.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use kapi_api::status::ApiError;

/// The response body type of every handler: whole bodies and streams alike.
pub type Body = BoxBody<Bytes, Infallible>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response with `code`.
pub fn json(code: u16, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON response from a value.
pub fn json_value(code: u16, value: &serde_json::Value) -> Response<Body> {
    json(code, serde_json::to_vec(value).unwrap_or_default())
}

/// A plain-text response.
pub fn text(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The Status response for an error.
pub fn error(err: &ApiError) -> Response<Body> {
    let mut resp = json_value(err.code, &err.to_status());
    if err.code == 429 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// The largest slice [`hold_until_sent`] hands the connection at a time.
const SEND_CHUNK: usize = 64 * 1024;

/// A body that yields its data in slices of at most 64 KiB and keeps `guard` until the last
/// slice has been taken. Connections pull the next slice only when they have room to send it
/// (HTTP/2 flow control, HTTP/1's write buffer), so the guard lives as long as the response's
/// bytes are held by this server, not just until the handler returned them whole.
pub fn hold_until_sent<G: Send + Sync + Unpin + 'static>(body: Body, guard: G) -> Body {
    Held {
        inner: body,
        pending: Bytes::new(),
        guard: Some(guard),
    }
    .boxed()
}

struct Held<G> {
    inner: Body,
    pending: Bytes,
    guard: Option<G>,
}

impl<G: Unpin> hyper::body::Body for Held<G> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(SEND_CHUNK);
                return Poll::Ready(Some(Ok(hyper::body::Frame::data(this.pending.split_to(n)))));
            }
            match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.pending = data,
                    Err(other) => return Poll::Ready(Some(Ok(other))),
                },
                Poll::Ready(None) => {
                    this.guard = None;
                    return Poll::Ready(None);
                }
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let mut hint = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        hint.set_lower(hint.lower() + pending);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

/// Bodies at least this large are gzipped when the client accepts it, as kube-apiserver does.
const GZIP_THRESHOLD: usize = 128 * 1024;

/// Compresses a whole JSON body when it is large and the client said `Accept-Encoding: gzip`.
pub fn maybe_gzip(accept_encoding: Option<&HeaderValue>, body: Bytes) -> (Bytes, bool) {
    let wants = accept_encoding
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if !wants || body.len() < GZIP_THRESHOLD {
        return (body, false);
    }
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if enc.write_all(&body).is_err() {
        return (body, false);
    }
    match enc.finish() {
        Ok(z) => (Bytes::from(z), true),
        Err(_) => (body, false),
    }
}
