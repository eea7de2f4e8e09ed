//! PersistentVolumeClaims from `volumeClaimTemplates`: each member gets its own claim per
//! template, `<template>-<set>-<ordinal>`, which outlives the pod so that a replacement pod
//! finds its data again. kapi has no provisioner; the claims are created and referenced, and
//! binding them is left to whoever provides volumes.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::ownership;

/// The claim of `ordinal` for the template named `template`.
pub fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{set}-{ordinal}")
}

/// Whether the claims go with the StatefulSet when it is deleted
/// (`persistentVolumeClaimRetentionPolicy.whenDeleted: Delete`); Retain is the default.
fn delete_with_set(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref())
        .and_then(|p| p.when_deleted.as_deref())
        == Some("Delete")
}

/// Whether a removed member's claims go with it
/// (`persistentVolumeClaimRetentionPolicy.whenScaled: Delete`).
pub fn delete_when_scaled(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref())
        .and_then(|p| p.when_scaled.as_deref())
        == Some("Delete")
}

/// The owner references a claim gets when its member is removed by a scale-down and the
/// claims go with it: the pod instead of the set, so that the garbage collector deletes the
/// claim once the pod is gone (upstream's condemned-claim rule); other owners stay.
pub fn condemned_owners(
    claim: &PersistentVolumeClaim,
    set_uid: &str,
    pod: &Pod,
) -> Vec<OwnerReference> {
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut refs: Vec<OwnerReference> = claim
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uid != set_uid && r.uid != pod_uid)
        .collect();
    refs.push(OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod_uid,
        controller: None,
        block_owner_deletion: None,
    });
    refs
}

/// The claims member `ordinal` needs, as they are created: the template's spec, its labels
/// plus the set's `matchLabels`, and the set as owner when the claims go with it (the garbage
/// collector then deletes them).
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let Some(spec) = set.spec.as_ref() else {
        return Vec::new();
    };
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let match_labels = spec.selector.match_labels.clone().unwrap_or_default();
    spec.volume_claim_templates
        .iter()
        .flatten()
        .map(|t| {
            let tname = t.metadata.name.clone().unwrap_or_default();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(match_labels.clone());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&tname, &set_name, ordinal)),
                    namespace: set.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    owner_references: delete_with_set(set).then(|| {
                        vec![ownership::controller_ref(
                            "apps/v1",
                            "StatefulSet",
                            &set.metadata,
                        )]
                    }),
                    ..ObjectMeta::default()
                },
                spec: t.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// Points the pod's volumes named after the templates at member `ordinal`'s claims, adding
/// them where the template has no such volume.
pub fn mount_claims(pod: &mut Pod, set: &StatefulSet, ordinal: i32) {
    let Some(spec) = set.spec.as_ref() else {
        return;
    };
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let pod_spec = pod.spec.get_or_insert_with(Default::default);
    for t in spec.volume_claim_templates.iter().flatten() {
        let tname = t.metadata.name.clone().unwrap_or_default();
        let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
        volumes.retain(|v| v.name != tname);
        volumes.push(Volume {
            name: tname.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&tname, &set_name, ordinal),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(policy: &str) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "serviceName": "web",
                "template": {"spec": {"containers": [{"name": "c"}],
                    "volumes": [{"name": "www", "emptyDir": {}}]}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": policy, "whenScaled": "Retain"},
                "volumeClaimTemplates": [{
                    "metadata": {"name": "www", "labels": {"tier": "data"}},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": "1Gi"}}}
                }]
            }
        }))
        .unwrap()
    }

    #[test]
    fn claims_are_named_per_template_and_ordinal_and_carry_the_selector_labels() {
        let claims = claims_for(&set("Retain"), 2);
        assert_eq!(claims.len(), 1);
        let c = &claims[0];
        assert_eq!(c.metadata.name.as_deref(), Some("www-web-2"));
        assert_eq!(c.metadata.namespace.as_deref(), Some("ns"));
        let labels = c.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app"], "web");
        assert_eq!(labels["tier"], "data");
        assert!(c.metadata.owner_references.is_none());
        let owned = claims_for(&set("Delete"), 0);
        assert_eq!(
            owned[0].metadata.owner_references.as_ref().unwrap()[0].uid,
            "u1"
        );
    }

    #[test]
    fn a_condemned_members_claim_is_handed_from_the_set_to_the_pod() {
        let s = set("Delete");
        let claim = claims_for(&s, 3).remove(0);
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web-3".into()),
                uid: Some("p3".into()),
                ..Default::default()
            },
            ..Pod::default()
        };
        let refs = condemned_owners(&claim, "u1", &pod);
        assert_eq!(refs.len(), 1);
        assert_eq!((refs[0].kind.as_str(), refs[0].uid.as_str()), ("Pod", "p3"));
        assert!(!delete_when_scaled(&s));
    }

    #[test]
    fn the_pod_mounts_its_own_claim_in_place_of_the_templates_volume() {
        let s = set("Retain");
        let mut pod = Pod {
            spec: s.spec.as_ref().unwrap().template.spec.clone(),
            ..Pod::default()
        };
        mount_claims(&mut pod, &s, 1);
        let volumes = pod.spec.unwrap().volumes.unwrap();
        assert_eq!(volumes.len(), 1);
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "www-web-1"
        );
        assert!(volumes[0].empty_dir.is_none());
    }
}
