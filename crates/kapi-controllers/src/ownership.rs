//! Controller references and label selectors as the workload controllers use them: which
//! object controls which, and how adoption and release are written.
//!
//! Upstream's `ControllerRefManager` is the model: a controller claims objects that match its
//! selector and have no controller, and releases the ones it controls that stopped matching.
//! Patches carry the object's `resourceVersion`, so a claim never overwrites a concurrent one.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kapi_api::selectors::LabelSelector as Selector;
use serde_json::{json, Value};

/// The reference that makes `owner` the controller of a new object.
pub fn controller_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A `metav1.LabelSelector` as a matcher. A selector that cannot be parsed selects nothing:
/// validation refuses such selectors, and selecting nothing never adopts by mistake.
pub fn selector(sel: Option<&LabelSelector>) -> Selector {
    sel.and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| Selector::from_label_selector_json(&v).ok())
        .unwrap_or_else(Selector::nothing)
}

/// Whether `labels` are selected; an empty selector selects nothing here, as upstream's
/// workload controllers treat it.
pub fn selects(sel: &Selector, labels: Option<&BTreeMap<String, String>>) -> bool {
    if sel.is_empty() {
        return false;
    }
    let empty = BTreeMap::new();
    sel.matches(labels.unwrap_or(&empty))
}

/// The owners of kind `K` an event on a dependent concerns: its controller when that is a `K`
/// (matched by group and kind), or, for an orphan, every `K` in its namespace whose
/// selector takes it (a candidate for adoption). The mapper of every workload controller's
/// `watches`.
pub fn interested<K>(
    owners: &kube::runtime::reflector::Store<K>,
    dependent: &ObjectMeta,
    selector: impl Fn(&K) -> Selector,
) -> Vec<kube::runtime::reflector::ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    use kube::runtime::reflector::ObjectRef;
    let ns = dependent.namespace.clone().unwrap_or_default();
    match controller_of(dependent) {
        // Matched by group and kind, as upstream: a reference written under another
        // version of the group names the same owner.
        Some(r)
            if r.kind == K::kind(&())
                && r.api_version.rsplit_once('/').map_or("", |(g, _)| g) == K::group(&()) =>
        {
            vec![ObjectRef::new(&r.name).within(&ns)]
        }
        Some(_) => Vec::new(),
        None => owners
            .state()
            .iter()
            .filter(|o| o.meta().namespace.as_deref() == Some(ns.as_str()))
            .filter(|o| selects(&selector(o), dependent.labels.as_ref()))
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect(),
    }
}

/// What a controller does with one candidate object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by us and selected: ours.
    Owned,
    /// Selected, without a controller: ours once the adoption patch lands.
    Adopt,
    /// Controlled by us but no longer selected: give it up.
    Release,
    /// Someone else's, or not selected.
    Ignore,
}

/// Decides the claim of a controller with `owner_uid` (being deleted: `owner_deleting`) over
/// an object, as upstream's `ClaimObject` does. Objects being deleted are neither adopted nor
/// released.
pub fn claim(owner_uid: &str, owner_deleting: bool, sel: &Selector, meta: &ObjectMeta) -> Claim {
    let matches = selects(sel, meta.labels.as_ref());
    let deleting = meta.deletion_timestamp.is_some();
    match controller_of(meta) {
        Some(r) if r.uid == owner_uid => {
            if matches || deleting || owner_deleting {
                Claim::Owned
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None if matches && !deleting && !owner_deleting => Claim::Adopt,
        None => Claim::Ignore,
    }
}

/// The merge patch that adds `owner` as controller to `meta`'s references.
pub fn adopt_patch(meta: &ObjectMeta, owner: &OwnerReference) -> Value {
    let mut refs: Vec<OwnerReference> = meta.owner_references.clone().unwrap_or_default();
    refs.retain(|r| r.uid != owner.uid);
    refs.push(owner.clone());
    json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": meta.resource_version,
    }})
}

/// The merge patch that removes the references to `owner_uid` from `meta`.
pub fn release_patch(meta: &ObjectMeta, owner_uid: &str) -> Value {
    let refs: Vec<&OwnerReference> = meta
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|r| r.uid != owner_uid)
        .collect();
    json!({"metadata": {
        "ownerReferences": if refs.is_empty() { Value::Null } else { json!(refs) },
        "resourceVersion": meta.resource_version,
    }})
}

/// Adopts the objects `sel` takes that have no controller, releases those `owner` controls
/// that it no longer takes, and returns the objects `owner` controls (adopted ones included):
/// pods, and ControllerRevisions left behind by an orphaning delete of their owner.
pub async fn claim_objects<K>(
    api: &kube::Api<K>,
    owner: &OwnerReference,
    owner_deleting: bool,
    sel: &Selector,
    objects: Vec<K>,
) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    use kube::api::{Patch, PatchParams};
    let mut owned = Vec::new();
    for obj in objects {
        let meta = obj.meta();
        let name = meta.name.clone().unwrap_or_default();
        let (patch, keep) = match claim(&owner.uid, owner_deleting, sel, meta) {
            Claim::Owned => {
                owned.push(obj);
                continue;
            }
            Claim::Ignore => continue,
            Claim::Adopt => (adopt_patch(meta, owner), true),
            Claim::Release => (release_patch(meta, &owner.uid), false),
        };
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(p) if keep => owned.push(p),
            Ok(_) => {}
            Err(kube::Error::Api(resp)) if resp.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)], controller: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            owner_references: controller.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    fn app_web() -> Selector {
        selector(Some(&LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        }))
    }

    #[test]
    fn orphans_are_adopted_and_strays_released() {
        let sel = app_web();
        assert_eq!(
            claim("me", false, &sel, &meta(&[("app", "web")], None)),
            Claim::Adopt
        );
        assert_eq!(
            claim("me", true, &sel, &meta(&[("app", "web")], None)),
            Claim::Ignore
        );
        assert_eq!(
            claim("me", false, &sel, &meta(&[("app", "web")], Some("me"))),
            Claim::Owned
        );
        assert_eq!(
            claim("me", false, &sel, &meta(&[("app", "db")], Some("me"))),
            Claim::Release
        );
        assert_eq!(
            claim("me", false, &sel, &meta(&[("app", "web")], Some("other"))),
            Claim::Ignore
        );
        assert_eq!(
            claim("me", false, &sel, &meta(&[("app", "db")], None)),
            Claim::Ignore
        );
    }

    #[test]
    fn an_empty_selector_selects_nothing() {
        let sel = selector(Some(&LabelSelector::default()));
        assert!(!selects(&sel, None));
        assert_eq!(
            claim("me", false, &sel, &meta(&[("app", "web")], None)),
            Claim::Ignore
        );
    }

    #[test]
    fn release_drops_only_our_reference() {
        let mut m = meta(&[], Some("me"));
        m.owner_references
            .get_or_insert_with(Vec::new)
            .push(OwnerReference {
                uid: "other".into(),
                ..Default::default()
            });
        let p = release_patch(&m, "me");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "other");
        assert_eq!(
            p["metadata"]["ownerReferences"].as_array().map(Vec::len),
            Some(1)
        );
        assert!(
            release_patch(&meta(&[], Some("me")), "me")["metadata"]["ownerReferences"].is_null()
        );
    }
}
