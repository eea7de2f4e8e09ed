//! Protobuf request bodies, decoded into the JSON model.
//!
//! kubectl 1.32+ (client-go typed clients) sends `application/vnd.kubernetes.protobuf` bodies for
//! built-in kinds and never retries with JSON, so the server must read them. A body is the magic
//! `k8s\0` followed by a `runtime.Unknown` {typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2,
//! contentEncoding = 3, contentType = 4}; `raw` is the typed message from `generated.proto`.
//!
//! [`decode_request`] turns it into the `serde_json::Value` a JSON client would have sent, using
//! one generic decoder and a generated table of messages (`schema.rs`, produced by
//! `tools/gen_proto_schema.py`). The Go conventions it reproduces: JSON names from the Go struct
//! tags, `json:",inline"` messages merged into their parent, non-pointer `omitempty` zero values
//! dropped (go-to-protobuf always writes them), bytes as base64, `Time` as RFC 3339,
//! `IntOrString` as number or string, `Quantity` as its string, `RawExtension` as embedded JSON.
//!
//! ```
//! // k8s\0 + Unknown{typeMeta{apiVersion "v1", kind "Namespace"}, raw Namespace{metadata{name "demo"}}}
//! let mut body = b"k8s\0".to_vec();
//! body.extend_from_slice(b"\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x08\x0a\x06\x0a\x04demo");
//! let json = kapi_api::protobuf::decode_request(&body).unwrap();
//! assert_eq!(json, serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}));
//! ```

use serde_json::{Map, Value};

mod decode;
#[rustfmt::skip]
mod schema;
mod table;
#[cfg(test)]
mod tests;
mod wire;

use wire::{Reader, WireValue};

/// The Content-Type of Kubernetes protobuf bodies, so the server can route them here.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes that open every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be turned into JSON.
///
/// [`ProtobufError::is_unsupported`] separates "well-formed but not for us" (415) from
/// malformed input (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("protobuf body does not start with the Kubernetes magic prefix \"k8s\\x00\"")]
    BadMagic,
    /// The envelope names a kind this server cannot decode from protobuf.
    #[error("protobuf request bodies of kind {kind:?} in {api_version:?} are not supported; send JSON instead")]
    UnsupportedKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// The envelope declares a content encoding (e.g. gzip) that is not implemented.
    #[error("protobuf content encoding {0:?} is not supported")]
    UnsupportedEncoding(String),
    /// The bytes are not valid protobuf for the expected message.
    #[error("malformed protobuf in {message}: {reason}")]
    Malformed {
        /// Proto name of the message being decoded.
        message: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Valid protobuf whose value has no JSON form (e.g. a time outside years 0-9999).
    #[error("invalid value in {message}: {reason}")]
    InvalidValue {
        /// Proto name of the message being decoded.
        message: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Messages nested deeper than any real object, which hostile input could use to exhaust the stack.
    #[error("protobuf messages nested deeper than {} levels", decode::MAX_DEPTH)]
    TooDeep,
}

impl ProtobufError {
    /// True when the body is well-formed but names a kind or encoding we do not decode, which the
    /// server answers with 415 Unsupported Media Type rather than 400 Bad Request.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            ProtobufError::UnsupportedKind { .. } | ProtobufError::UnsupportedEncoding(_)
        )
    }
}

/// Whether a Content-Type header value is the Kubernetes protobuf media type (parameters
/// ignored), so callers need not repeat the parsing rules.
pub fn is_media_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// Whether bodies of this apiVersion and kind can be decoded, e.g. to answer 415 before reading
/// a large body.
pub fn supported(api_version: &str, kind: &str) -> bool {
    lookup(api_version, kind).is_some()
}

fn lookup(api_version: &str, kind: &str) -> Option<u16> {
    // DeleteOptions is registered in every group version; clients send it under any of them.
    if kind == "DeleteOptions" && !api_version.is_empty() {
        return Some(schema::DELETE_OPTIONS);
    }
    schema::KINDS
        .binary_search_by(|(v, k, _)| (*v, *k).cmp(&(api_version, kind)))
        .ok()
        .and_then(|i| schema::KINDS.get(i))
        .map(|(_, _, index)| *index)
}

/// Decodes a protobuf request body into the JSON object a JSON client would have sent:
/// `apiVersion` and `kind` first, then the fields in their API order.
///
/// Never panics; malformed input, unknown kinds and excessive nesting are errors.
pub fn decode_request(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_envelope(body, 0)
}

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";

fn malformed(reason: &str) -> ProtobufError {
    ProtobufError::Malformed {
        message: UNKNOWN,
        reason: reason.to_owned(),
    }
}

/// Reads a string field of the envelope; strings are always length-delimited.
fn envelope_string(wire: WireValue<'_>) -> Result<String, ProtobufError> {
    match wire {
        WireValue::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        _ => Err(malformed(
            "string field with a non-length-delimited wire type",
        )),
    }
}

/// Decodes `k8s\0` + `runtime.Unknown`; `depth` counts enclosing messages for nested envelopes.
fn decode_envelope(body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::BadMagic)?;
    let (mut api_version, mut kind) = (String::new(), String::new());
    let (mut raw, mut encoding): (&[u8], String) = (&[], String::new());
    let mut reader = Reader::new(rest);
    while let Some((num, wire)) = reader.next_field().map_err(malformed)? {
        match (num, wire) {
            (1, WireValue::Bytes(type_meta)) => {
                let mut tm = Reader::new(type_meta);
                while let Some((num, wire)) = tm.next_field().map_err(malformed)? {
                    match num {
                        1 => api_version = envelope_string(wire)?,
                        2 => kind = envelope_string(wire)?,
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(b)) => raw = b,
            (3, wire) => encoding = envelope_string(wire)?,
            (1 | 2, _) => {
                return Err(malformed(
                    "typeMeta or raw with a non-length-delimited wire type",
                ))
            }
            _ => {} // contentType (4) and unknown fields carry nothing we need.
        }
    }
    if kind.is_empty() {
        return Err(malformed("typeMeta has no kind"));
    }
    if !encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(truncate(encoding)));
    }
    let Some(index) = lookup(&api_version, &kind) else {
        return Err(ProtobufError::UnsupportedKind {
            api_version: truncate(api_version),
            kind: truncate(kind),
        });
    };
    let fields = decode::decode_message(index, raw, depth + 1)?;
    let mut out = Map::new();
    out.insert("apiVersion".to_owned(), Value::String(api_version));
    out.insert("kind".to_owned(), Value::String(kind));
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    Ok(Value::Object(out))
}

/// Keeps client-controlled strings in error messages short.
fn truncate(mut s: String) -> String {
    const MAX: usize = 200;
    if s.len() > MAX {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}
