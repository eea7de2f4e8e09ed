//! The `scale` subresource of a custom resource: an `autoscaling/v1` Scale read from, and
//! written to, the paths its definition names, so that `kubectl scale` and the
//! HorizontalPodAutoscaler work on custom resources as on Deployments.

use serde_json::{json, Map, Value};

use super::ScalePaths;

/// The fields of a dotted path (`.spec.replicas` → `["spec", "replicas"]`).
fn fields(path: &str) -> impl Iterator<Item = &str> {
    path.split('.').filter(|f| !f.is_empty())
}

fn read<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    fields(path).try_fold(obj, |v, f| v.get(f))
}

/// The Scale of `obj`: replicas missing from the object read as 0, as upstream reads them.
pub fn to_scale(paths: &ScalePaths, obj: &Value) -> Value {
    let replicas = |path: &str| read(obj, path).and_then(Value::as_i64).unwrap_or(0);
    let selector = paths
        .label_selector
        .as_deref()
        .and_then(|p| read(obj, p))
        .and_then(Value::as_str)
        .unwrap_or_default();
    scale(
        obj,
        json!(replicas(&paths.spec_replicas)),
        json!(replicas(&paths.status_replicas)),
        selector,
    )
}

/// An `autoscaling/v1` Scale of `obj`, built-in or custom: its identity, the desired and
/// observed replicas, the selector in string form.
pub fn scale(obj: &Value, spec_replicas: Value, status_replicas: Value, selector: &str) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": spec_replicas},
        "status": {"replicas": status_replicas, "selector": selector},
    })
}

/// A merge patch setting the desired replicas at their path.
pub fn replicas_patch(paths: &ScalePaths, replicas: Value) -> Value {
    let names: Vec<&str> = fields(&paths.spec_replicas).collect();
    names.iter().rev().fold(replicas, |inner, name| {
        let mut m = Map::new();
        m.insert((*name).to_string(), inner);
        Value::Object(m)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> ScalePaths {
        ScalePaths {
            spec_replicas: ".spec.size".into(),
            status_replicas: ".status.ready".into(),
            label_selector: Some(".status.selector".into()),
        }
    }

    #[test]
    fn scale_reads_the_definitions_paths() {
        let obj = json!({"metadata": {"name": "db", "namespace": "a", "uid": "u"},
            "spec": {"size": 3}, "status": {"ready": 2, "selector": "app=db"}});
        let scale = to_scale(&paths(), &obj);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(
            scale["status"],
            json!({"replicas": 2, "selector": "app=db"})
        );
        assert_eq!(scale["metadata"]["uid"], "u");
    }

    #[test]
    fn missing_replicas_read_as_zero() {
        let scale = to_scale(&paths(), &json!({"metadata": {"name": "db"}}));
        assert_eq!(scale["spec"]["replicas"], 0);
        assert_eq!(scale["status"]["replicas"], 0);
        assert_eq!(scale["status"]["selector"], "");
    }

    #[test]
    fn the_patch_nests_replicas_at_the_spec_path() {
        assert_eq!(
            replicas_patch(&paths(), json!(5)),
            json!({"spec": {"size": 5}})
        );
    }
}
