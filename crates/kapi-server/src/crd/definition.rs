//! A CustomResourceDefinition read into what serving its resource needs: names, scope, and per
//! version whether it is served or stored, its schema, subresources and printer columns.
//!
//! Reading is lenient (a stored definition is served as well as it can be); what a client may
//! store is decided by [`super::validation`] first.

use kapi_api::meta::string_list;
use serde_json::Value;

/// The names a definition serves its resource under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// URL plural (`crontabs`).
    pub plural: String,
    /// Singular (`crontab`).
    pub singular: String,
    /// Kind (`CronTab`).
    pub kind: String,
    /// Kind of lists (`CronTabList`).
    pub list_kind: String,
    /// Short names (`ct`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
}

impl Names {
    /// The names at `v` (`spec.names` or `status.acceptedNames`), with upstream's defaults for
    /// the singular (the lower-case kind) and the list kind (the kind and `List`).
    pub fn read(v: Option<&Value>) -> Names {
        let s = |k: &str| {
            v.and_then(|n| n.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let kind = s("kind");
        let singular = Some(s("singular"))
            .filter(|x| !x.is_empty())
            .unwrap_or_else(|| kind.to_lowercase());
        let list_kind = Some(s("listKind"))
            .filter(|x| !x.is_empty())
            .unwrap_or_else(|| format!("{kind}List"));
        Names {
            plural: s("plural"),
            singular,
            kind,
            list_kind,
            short_names: string_list(v.and_then(|n| n.get("shortNames"))),
            categories: string_list(v.and_then(|n| n.get("categories"))),
        }
    }
}

/// Where the scale subresource finds replicas and the selector in a custom object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    /// `.spec.replicas`-like path of the desired replicas.
    pub spec_replicas: String,
    /// `.status.replicas`-like path of the observed replicas.
    pub status_replicas: String,
    /// `.status.selector`-like path of the label selector in string form, if any.
    pub label_selector: Option<String>,
}

/// One entry of `spec.versions`.
#[derive(Debug, Clone)]
pub struct Version {
    /// The version's name (`v1`).
    pub name: String,
    /// Whether requests to it are answered.
    pub served: bool,
    /// Whether objects are stored in it.
    pub storage: bool,
    /// `schema.openAPIV3Schema`.
    pub schema: Option<Value>,
    /// Whether it has the status subresource.
    pub status: bool,
    /// The scale subresource's paths, when it has one.
    pub scale: Option<ScalePaths>,
    /// `selectableFields[].jsonPath`, as written (`.spec.color`).
    pub selectable_fields: Vec<String>,
    /// The whole entry, for what reads it directly (printer columns).
    pub raw: Value,
}

/// A CustomResourceDefinition as served.
#[derive(Debug, Clone)]
pub struct Definition {
    /// `metadata.name` (`crontabs.stable.example.com`).
    pub name: String,
    /// `spec.group`.
    pub group: String,
    /// `spec.names`.
    pub names: Names,
    /// Whether `spec.scope` is `Namespaced`.
    pub namespaced: bool,
    /// `spec.versions`, in the order given.
    pub versions: Vec<Version>,
}

impl Definition {
    /// Reads a stored or submitted definition.
    pub fn read(crd: &Value) -> Definition {
        let spec = crd.get("spec");
        let text = |v: Option<&Value>, k: &str| {
            v.and_then(|x| x.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let versions = spec
            .and_then(|s| s.get("versions"))
            .and_then(Value::as_array)
            .map(|vs| vs.iter().map(read_version).collect())
            .unwrap_or_default();
        Definition {
            name: text(crd.get("metadata"), "name"),
            group: text(spec, "group"),
            names: Names::read(spec.and_then(|s| s.get("names"))),
            namespaced: text(spec, "scope") == "Namespaced",
            versions,
        }
    }

    /// The version objects are stored in.
    pub fn storage_version(&self) -> Option<&Version> {
        self.versions.iter().find(|v| v.storage)
    }
}

fn read_version(v: &Value) -> Version {
    let subresources = v.get("subresources");
    let path = |scale: &Value, k: &str| {
        scale
            .get(k)
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
    };
    let scale = subresources
        .and_then(|s| s.get("scale"))
        .filter(|s| s.is_object())
        .map(|s| ScalePaths {
            spec_replicas: path(s, "specReplicasPath").unwrap_or_default(),
            status_replicas: path(s, "statusReplicasPath").unwrap_or_default(),
            label_selector: path(s, "labelSelectorPath"),
        });
    Version {
        name: v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
        storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
        schema: v.pointer("/schema/openAPIV3Schema").cloned(),
        status: subresources
            .and_then(|s| s.get("status"))
            .is_some_and(Value::is_object),
        scale,
        selectable_fields: v
            .get("selectableFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|f| {
                f.get("jsonPath")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect(),
        raw: v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_definition_reads_with_upstreams_name_defaults() {
        let d = Definition::read(&json!({
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas"}}},
                ]},
        }));
        assert_eq!(d.names.singular, "crontab");
        assert_eq!(d.names.list_kind, "CronTabList");
        assert!(d.namespaced);
        let v1 = d.storage_version().unwrap();
        assert_eq!(v1.name, "v1");
        assert!(v1.status);
        assert_eq!(
            v1.scale.as_ref().map(|s| s.label_selector.clone()),
            Some(None)
        );
        assert!(!d.versions[0].status && d.versions[0].scale.is_none());
    }
}
