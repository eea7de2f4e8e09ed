//! Reading and decoding request bodies: JSON, YAML and protobuf, within the size limit.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use kapi_api::status::ApiError;
use serde_json::Value;

/// Upstream's limit on a request body.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The accepted body media types, for 415 messages.
pub const ACCEPTED: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// How much of an oversized body is read and discarded before answering 413, so that HTTP/2
/// clients see the answer instead of a reset stream; beyond this the stream is dropped.
const DRAIN_LIMIT: usize = 8 * MAX_BODY_BYTES;

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with 413.
pub async fn read(mut body: super::ReqBody) -> Result<Bytes, ApiError> {
    let mut out = BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= MAX_BODY_BYTES {
                out.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::too_large(format!(
            "Request entity too large: limit is {MAX_BODY_BYTES}"
        )));
    }
    Ok(out.freeze())
}

/// The media type of a Content-Type header, without parameters.
pub fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Decodes an object body by its Content-Type.
pub fn decode_object(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let media = media_type(content_type);
    let value = match media {
        "" | "application/json" | "*/*" => serde_json::from_slice::<Value>(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            crate::registry::decode_yaml(body, "error converting YAML to JSON")?
        }
        _ if kapi_api::protobuf::is_media_type(media) => kapi_api::protobuf::decode_request(body)
            .map_err(|e| {
            if e.is_unsupported() {
                ApiError::unsupported_media_type(media, ACCEPTED)
            } else {
                ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
            }
        })?,
        other => return Err(ApiError::unsupported_media_type(other, ACCEPTED)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: the body is not a JSON object",
        ));
    }
    Ok(value)
}
