//! Moving objects stored under kapi's earlier key layout (`/registry/<group-or-core>/<resource>/`)
//! to kube-apiserver's (`/registry/<resource>/`, see [`ResourceDef::key_prefix`]), once, at
//! start and before anything else writes, so that a data dir or etcd prefix written by an older
//! kapi keeps every object.
//!
//! Each object is created at its new key first and only then deleted at its old one (with the
//! revision it was read at), so a crash in between leaves a copy that the next start finishes
//! moving, and servers starting together on one etcd never lose or duplicate an object.
//! `events.k8s.io` Events, kept apart then, are converted to the core Events they are stored as.

use std::collections::HashSet;

use kapi_api::conversion;
use kapi_api::resources::{self, ResourceDef, RESOURCES};
use kapi_api::status::ApiError;
use kapi_store::StoreError;

use super::{decode, store_error, stored, Registry};

/// Moves every object found under an old prefix; answers how many moved.
pub async fn move_legacy_keys(registry: &Registry) -> Result<usize, ApiError> {
    let mut seen = HashSet::new();
    let mut moved = 0;
    for def in RESOURCES.iter().filter(|d| d.is_stored()) {
        let old = def.legacy_key_prefix();
        // Upstream keeps some groups under their group's name too (APIServices, CRDs): the
        // old key is the new one, and nothing moves.
        if old == def.key_prefix() || !seen.insert(old.clone()) {
            continue;
        }
        let (items, _, _) = registry.store().list(&old, None, 0, |_, _| true);
        for (key, kv) in items {
            let rest = &key[old.len()..];
            let new_key = format!("{}{rest}", def.key_prefix());
            let value = match decode(&kv.value) {
                Ok(obj) => {
                    let target = resources::storage(def);
                    let obj = conversion::convert(obj, target).map_err(ApiError::internal)?;
                    stored::encode(obj)?
                }
                // Damaged bytes move as they are and stay reported as corrupt.
                Err(_) => kv.value.clone(),
            };
            match registry.store().create(&new_key, value).await {
                Ok(_) => {}
                Err(StoreError::AlreadyExists(_)) => {
                    tracing::warn!(old = %key, new = %new_key, "both the old and the new key hold an object; keeping the new one")
                }
                Err(e) => return Err(store_error(def, rest, e)),
            }
            match registry
                .store()
                .delete(&key, Some(kv.mod_revision), kv.value.clone())
                .await
            {
                Ok(_) | Err(StoreError::NotFound(_)) => moved += 1,
                Err(e) => return Err(store_error(def, rest, e)),
            }
        }
    }
    if moved > 0 {
        tracing::info!(
            objects = moved,
            "moved objects from kapi's earlier key layout to kube-apiserver's"
        );
    }
    Ok(moved)
}

/// Where `def`'s objects were kept before, for tests that write an old store.
pub fn legacy_key(def: &ResourceDef, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if def.namespaced => format!("{}{ns}/{name}", def.legacy_key_prefix()),
        _ => format!("{}{name}", def.legacy_key_prefix()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;

    fn def(group: &str, resource: &str) -> &'static ResourceDef {
        resources::find(group, "v1", resource).unwrap()
    }

    #[tokio::test]
    async fn an_old_layouts_objects_move_to_upstreams_keys_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let options = kapi_store::StoreOptions {
            stamp: crate::registry::stamp_revision,
            ..Default::default()
        };
        let store = kapi_store::Store::open(&dir.path().join("kapi.db"), options).unwrap();
        let registry = Registry::new(store);
        let put = |key: String, obj: serde_json::Value| {
            let store = registry.store();
            async move {
                store
                    .create(&key, stored::encode(obj).unwrap())
                    .await
                    .unwrap();
            }
        };
        let svc = def("", "services");
        put(
            legacy_key(svc, Some("shop"), "web"),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "shop", "uid": "u1"}, "spec": {"clusterIP": "10.96.0.9"}}),
        )
        .await;
        let events = def("events.k8s.io", "events");
        put(
            legacy_key(events, Some("shop"), "e1"),
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": "e1", "namespace": "shop"}, "note": "hello", "regarding": {"kind": "Pod", "name": "web"}}),
        )
        .await;
        put(
            legacy_key(def("", "nodes"), None, "n1"),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        )
        .await;
        // A damaged value moves too, as it is.
        let junk = Bytes::from_static(b"\x00junk");
        registry
            .store()
            .create(
                &legacy_key(def("", "configmaps"), Some("shop"), "bad"),
                junk.clone(),
            )
            .await
            .unwrap();

        // Upstream's key for APIServices is the old layout's: the object stays where it is.
        let apiservices = def("apiregistration.k8s.io", "apiservices");
        put(
            legacy_key(apiservices, None, "v1.shop.example.com"),
            json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                "metadata": {"name": "v1.shop.example.com"}}),
        )
        .await;

        assert_eq!(move_legacy_keys(&registry).await.unwrap(), 4);
        assert!(registry
            .get_value(apiservices, None, "v1.shop.example.com")
            .is_ok());

        let (moved, _) = registry.get_value(svc, Some("shop"), "web").unwrap();
        assert_eq!(moved["metadata"]["uid"], "u1");
        assert!(registry
            .store()
            .get("/registry/services/specs/shop/web")
            .is_some());
        let core_events = def("", "events");
        let (event, _) = registry.get_value(core_events, Some("shop"), "e1").unwrap();
        assert_eq!(event["apiVersion"], "v1");
        assert_eq!(event["message"], "hello");
        assert_eq!(event["involvedObject"]["name"], "web");
        assert!(registry.store().get("/registry/minions/n1").is_some());
        assert_eq!(
            registry
                .store()
                .get("/registry/configmaps/shop/bad")
                .map(|kv| kv.value),
            Some(junk)
        );
        for def in RESOURCES
            .iter()
            .filter(|d| d.is_stored() && d.legacy_key_prefix() != d.key_prefix())
        {
            assert_eq!(
                registry.store().count(&def.legacy_key_prefix(), 1),
                0,
                "{} left behind",
                def.legacy_key_prefix()
            );
        }
        assert_eq!(
            move_legacy_keys(&registry).await.unwrap(),
            0,
            "a second start moves nothing"
        );
    }
}
