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
