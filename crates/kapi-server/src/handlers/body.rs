//! Reading and decoding request bodies: JSON, YAML and protobuf, within the size limit.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
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

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with 413.
pub async fn read(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large(format!(
            "Request entity too large: limit is {MAX_BODY_BYTES}"
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body: {e}"
        ))),
    }
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
            serde_yaml::from_slice::<Value>(body)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?
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
