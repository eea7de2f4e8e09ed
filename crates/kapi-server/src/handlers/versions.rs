//! Requests in a version other than the one a resource is stored in (`autoscaling/v1`
//! HorizontalPodAutoscalers, stored as `autoscaling/v2`).
//!
//! Both versions share one storage key, so reads go to the store as they are and only the
//! objects change shape on the way out; writes are converted to the stored version first, so
//! validation, defaulting and field management all see the stored version. Tables print from
//! the stored version, as upstream's printers work on the internal version.

use bytes::Bytes;
use kapi_api::conversion::{self, ConversionError};
use kapi_api::patch;
use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use serde_json::Value;

use super::negotiate::Shape;
use crate::registry::{self, PatchType};

/// Whether `def` is served by conversion from another version.
pub fn is_view(def: &'static ResourceDef) -> bool {
    !std::ptr::eq(resources::storage(def), def)
}

/// Stored bytes as a client of `def` sees them.
pub fn shown(def: &'static ResourceDef, shape: Shape, bytes: Bytes) -> Result<Bytes, ApiError> {
    if !is_view(def) || shape == Shape::Table {
        return Ok(bytes);
    }
    let obj = conversion::convert(registry::decode(&bytes)?, def).map_err(ApiError::internal)?;
    serde_json::to_vec(&obj)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

/// A client's object of `def` in the stored version, with the row that stores it.
pub fn to_storage(
    def: &'static ResourceDef,
    obj: Value,
) -> Result<(&'static ResourceDef, Value), ApiError> {
    let stored = resources::storage(def);
    if std::ptr::eq(stored, def) {
        return Ok((def, obj));
    }
    let obj = conversion::convert(obj, stored).map_err(invalid)?;
    Ok((stored, obj))
}

fn invalid(e: ConversionError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// A patch written against `def`'s version applied to the stored object `current`: the result,
/// in the stored version, for an update guarded by the current resourceVersion. Server-side
/// apply takes [`apply_configuration`] instead.
pub fn patched(
    def: &'static ResourceDef,
    current: Value,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, ApiError> {
    let current = conversion::convert(current, def).map_err(ApiError::internal)?;
    let out =
        match patch_type {
            PatchType::Json => patch::apply_json_patch(&current, body),
            PatchType::Merge => patch::apply_merge_patch(&current, body),
            PatchType::Strategic => {
                let p: Value = serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                patch::apply_strategic_merge_patch(&current, &p, def.group, def.kind)
            }
            PatchType::Apply { .. } => return Err(ApiError::internal(
                "server-side apply through a converted version takes its configuration converted",
            )),
        }
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    to_storage(def, out).map(|(_, v)| v)
}

/// A server-side apply configuration written against `def`'s version, as the stored version's
/// configuration (JSON, which the apply path reads as YAML). Only the fields it names are
/// converted, so it claims no more fields than the client set; managed fields are recorded in
/// the stored version's paths.
pub fn apply_configuration(def: &'static ResourceDef, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let config = registry::decode_yaml(body, "error decoding YAML")?;
    let (_, config) = to_storage(def, config)?;
    serde_json::to_vec(&config).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v1() -> &'static ResourceDef {
        resources::find("autoscaling", "v1", "horizontalpodautoscalers").unwrap()
    }

    fn stored() -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "resourceVersion": "7"},
            "spec": {"maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}]}})
    }

    #[test]
    fn only_the_non_stored_version_is_a_view() {
        assert!(is_view(v1()));
        assert!(!is_view(resources::storage(v1())));
        assert!(!is_view(
            resources::find("apps", "v1", "deployments").unwrap()
        ));
    }

    #[test]
    fn a_v1_patch_or_apply_configuration_lands_in_v2() {
        let body = br#"{"spec":{"targetCPUUtilizationPercentage":70}}"#;
        let out = patched(v1(), stored(), PatchType::Merge, body).unwrap();
        assert_eq!(out["apiVersion"], "autoscaling/v2");
        assert_eq!(
            out["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            70
        );
        assert_eq!(
            out["metadata"]["resourceVersion"], "7",
            "the update stays guarded"
        );
        let config = br#"{"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"}, "spec": {"maxReplicas": 5}}"#;
        let v2: Value =
            serde_json::from_slice(&apply_configuration(v1(), config).unwrap()).unwrap();
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(
            v2["spec"],
            json!({"maxReplicas": 5}),
            "no field it did not name"
        );
    }

    #[test]
    fn tables_print_from_the_stored_version() {
        let bytes = Bytes::from(stored().to_string());
        assert_eq!(shown(v1(), Shape::Table, bytes.clone()).unwrap(), bytes);
        let v: Value = serde_json::from_slice(&shown(v1(), Shape::Object, bytes).unwrap()).unwrap();
        assert_eq!(v["spec"]["targetCPUUtilizationPercentage"], 50);
    }
}
