//! The stored form of an object: compact JSON with `metadata.resourceVersion` first in
//! metadata, left empty by the writer and filled with the write's revision by the store's
//! stamp. Reads serve the stamped bytes verbatim, so a list or watch copies bytes and never
//! re-encodes.

use bytes::Bytes;
use kapi_api::status::ApiError;
use kapi_store::Revision;
use serde_json::Value;

use super::strategy;

/// Where the digits go in an object [`encode`] wrote. apiVersion and kind come first and are
/// fixed by the resource, so the first occurrence is the object's own metadata.
const EMPTY_VERSION: &[u8] = br#""metadata":{"resourceVersion":"""#;

/// Serializes an object for storage, outside the store's writer, with an empty
/// `metadata.resourceVersion` as the first field of metadata. Objects over upstream's size
/// limit are refused here, where their size is known exactly.
pub fn encode(mut obj: Value) -> Result<Bytes, ApiError> {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.shift_insert(0, "resourceVersion".into(), Value::String(String::new()));
    }
    let bytes = serde_json::to_vec(&obj).map_err(ApiError::internal)?;
    if bytes.len() > strategy::MAX_OBJECT_BYTES {
        return Err(ApiError::too_large(format!(
            "Request entity too large: limit is {}",
            strategy::MAX_OBJECT_BYTES
        )));
    }
    Ok(Bytes::from(bytes))
}

/// The store's stamp: sets the revision as `metadata.resourceVersion`. Objects [`encode`]
/// wrote only get the digits spliced in; anything else that is a JSON object with metadata
/// (written by another server on a shared backend, say) is re-encoded with it; other bytes
/// stay as they are.
pub fn stamp_revision(value: &Bytes, revision: Revision) -> Bytes {
    let digits = revision.to_string();
    if let Some(at) = value
        .windows(EMPTY_VERSION.len())
        .position(|w| w == EMPTY_VERSION)
        .map(|p| p + EMPTY_VERSION.len() - 1)
    {
        let mut buf = Vec::with_capacity(value.len() + digits.len());
        buf.extend_from_slice(&value[..at]);
        buf.extend_from_slice(digits.as_bytes());
        buf.extend_from_slice(&value[at..]);
        return Bytes::from(buf);
    }
    let Ok(mut obj) = serde_json::from_slice::<Value>(value) else {
        return value.clone();
    };
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return value.clone();
    };
    meta.remove("resourceVersion");
    meta.shift_insert(0, "resourceVersion".into(), Value::String(digits));
    serde_json::to_vec(&obj)
        .map(Bytes::from)
        .unwrap_or_else(|_| value.clone())
}

/// The store's check at open: every stored value is a JSON object (anything else was damaged
/// outside kapi, and is reported and served as corrupt).
pub fn validate_stored(bytes: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(e) => Err(format!("data from the storage is not valid JSON: {e}")),
        Ok(_) if bytes.first() != Some(&b'{') => {
            Err("data from the storage is not a JSON object".to_string())
        }
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_encoded_object_gets_its_revision_spliced_in_first_in_metadata() {
        let bytes = encode(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "resourceVersion": "7"}, "data": {"x": "y"}
        }))
        .unwrap();
        let stamped = stamp_revision(&bytes, 42);
        assert_eq!(
            std::str::from_utf8(&stamped).unwrap(),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"resourceVersion":"42","name":"a"},"data":{"x":"y"}}"#
        );
    }

    #[test]
    fn objects_written_elsewhere_are_stamped_too_and_other_bytes_stay() {
        let foreign = Bytes::from_static(
            br#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","uid":"u"}}"#,
        );
        let stamped: Value = serde_json::from_slice(&stamp_revision(&foreign, 9)).unwrap();
        assert_eq!(stamped["metadata"]["resourceVersion"], "9");
        assert_eq!(stamped["metadata"]["uid"], "u");
        let stamped_again: Value =
            serde_json::from_slice(&stamp_revision(&Bytes::from(stamped.to_string()), 10)).unwrap();
        assert_eq!(stamped_again["metadata"]["resourceVersion"], "10");
        let junk = Bytes::from_static(b"\x00not json");
        assert_eq!(stamp_revision(&junk, 3), junk);
    }

    #[test]
    fn objects_over_the_size_limit_are_refused() {
        let big = "x".repeat(strategy::MAX_OBJECT_BYTES);
        let err = encode(json!({"metadata": {"name": "a"}, "data": {"x": big}})).unwrap_err();
        assert_eq!(err.code, 413);
    }
}
