//! The OpenAPI schemas of custom resources, as kube-apiserver publishes them from their
//! definitions: the version's `openAPIV3Schema` with `apiVersion`, `kind` and `metadata` added,
//! named after the reversed group (`com.example.stable.v1.CronTab`), and a list schema beside
//! it. kubectl's `explain` reads them, and its `apply` finds the `fieldValidation` parameter on
//! the PATCH operation of the kind and leaves validation to the server.

use kapi_api::resources::ResourceDef;
use serde_json::{json, Map, Value};

use crate::components::REF_PREFIX;

/// One served version of a custom resource, as its definition gives it.
#[derive(Debug, Clone, Copy)]
pub struct CustomKind<'a> {
    /// The row serving it.
    pub def: &'static ResourceDef,
    /// `spec.names.listKind`.
    pub list_kind: &'a str,
    /// The version's `schema.openAPIV3Schema`; without one, any object.
    pub schema: Option<&'a Value>,
}

impl CustomKind<'_> {
    /// `com.example.stable.v1.CronTab` for `stable.example.com/v1`, upstream's naming.
    pub(crate) fn schema_name(&self) -> String {
        self.name_of(self.def.kind)
    }

    pub(crate) fn list_name(&self) -> String {
        self.name_of(self.list_kind)
    }

    fn name_of(&self, kind: &str) -> String {
        let reversed: Vec<&str> = self.def.group.rsplit('.').collect();
        format!("{}.{}.{kind}", reversed.join("."), self.def.version)
    }

    /// The kind's schema: the definition's, with the fields every object has.
    pub(crate) fn schema(&self) -> Value {
        let mut schema = match self.schema {
            Some(Value::Object(s)) => s.clone(),
            _ => {
                let mut any = Map::new();
                any.insert("type".into(), json!("object"));
                any.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
                any
            }
        };
        let properties = schema
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(properties) = properties {
            properties.insert("apiVersion".into(), type_meta("apiVersion"));
            properties.insert("kind".into(), type_meta("kind"));
            properties.insert(
                "metadata".into(),
                json!({
                    "description": "Standard object's metadata.",
                    "allOf": [{"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")}],
                }),
            );
        }
        schema.insert("type".into(), json!("object"));
        schema.insert(
            "x-kubernetes-group-version-kind".into(),
            self.gvk(self.def.kind),
        );
        Value::Object(schema)
    }

    /// The list's schema: `items` of the kind, with list metadata.
    pub(crate) fn list_schema(&self) -> Value {
        json!({
            "description": format!("{} is a list of {}", self.list_kind, self.def.kind),
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": type_meta("apiVersion"),
                "items": {
                    "description": format!("List of {}. More info: https://kubernetes.io/docs/reference/using-api/api-concepts/#collections", self.def.resource),
                    "type": "array",
                    "items": {"$ref": format!("{REF_PREFIX}{}", self.schema_name())},
                },
                "kind": type_meta("kind"),
                "metadata": {
                    "description": "Standard list metadata.",
                    "allOf": [{"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")}],
                },
            },
            "x-kubernetes-group-version-kind": self.gvk(self.list_kind),
        })
    }

    fn gvk(&self, kind: &str) -> Value {
        json!([{"group": self.def.group, "kind": kind, "version": self.def.version}])
    }
}

fn type_meta(field: &str) -> Value {
    let description = match field {
        "apiVersion" => "The versioned schema of this representation of an object: group/version.",
        _ => "The REST resource this object represents, in CamelCase.",
    };
    json!({"description": description, "type": "string"})
}
