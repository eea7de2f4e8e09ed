//! A custom object on its way in: pruned and defaulted by its version's schema as upstream
//! decodes it, then validated against the schema.

use kapi_api::resources::ResourceDef;
use kapi_api::status::{go_quote, ApiError};
use serde_json::Value;

use super::Served;

/// Drops what the schema does not declare and fills in its defaults; returns the dropped
/// fields as upstream's strict decoding names them (`unknown field "spec.foo"`).
pub fn check_unknown(served: &Served, obj: &mut Value) -> Vec<String> {
    let pruned = served.schema.prune_unknown_fields(obj);
    served.schema.apply_defaults(obj);
    pruned
        .iter()
        .map(|path| format!("unknown field {}", go_quote(path)))
        .collect()
}

/// A new object: refused while the definition is being deleted (403, as upstream's admission
/// answers), else validated.
pub fn admit_create(def: &ResourceDef, served: &Served, obj: &Value) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if served.terminating {
        let mut refused = ApiError::forbidden(def.group, def.resource, "", name, "", "", "create");
        refused.message = format!(
            "{} {} is forbidden: create not allowed while custom resource definition is terminating",
            def.group_resource(),
            go_quote(name)
        );
        return Err(refused);
    }
    validate_object(def, served, obj, None)
}

/// 422 Invalid with every cause when `obj` breaks its schema or its validation rules (which
/// see `old`, on an update, as `oldSelf`).
pub fn validate_object(
    def: &ResourceDef,
    served: &Served,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let causes = served.schema.validate_update(obj, old);
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(ApiError::invalid(def.group, def.kind, name, causes))
}
