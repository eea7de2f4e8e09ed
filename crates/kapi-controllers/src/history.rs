//! ControllerRevisions: the template history of StatefulSets and DaemonSets, as upstream's
//! `controller/history` package keeps it.
//!
//! One revision per distinct pod template, named `<owner>-<hash>`. Its `data` is what kubectl
//! needs for `rollout undo`: kubectl applies it to the object as a strategic-merge patch, so it
//! is `{"spec": {"template": {..., "$patch": "replace"}}}`, upstream's format. When a template
//! comes back (a rollback), its old revision is renumbered to the newest instead of being
//! copied, so the numbers always tell the order in which templates were last rolled out.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{json, Value};

use crate::deployment::hash;
use crate::shared::{is_status, ReconcileError};

/// The label StatefulSet revisions carry their hash in (upstream's
/// `ControllerRevisionHashLabel`).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// Upstream keeps this many characters of the owner's name, so that name and hash fit.
const MAX_PREFIX: usize = 223;

/// How often a create may collide before the sync gives up and retries later.
const MAX_COLLISIONS: i32 = 16;

/// The revision data for `template`: the strategic-merge patch that restores it.
pub fn patch_data(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(obj) = t.as_object_mut() {
        obj.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The pod template a revision restores; `None` if its data is not in [`patch_data`]'s form.
pub fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.as_ref()?.0.pointer("/spec/template")?.clone();
    t.as_object_mut()?.remove("$patch");
    serde_json::from_value(t).ok()
}

/// The hash of revision data with the owner's collision count.
pub fn hash_of(data: &Value, collision_count: i32) -> String {
    hash::compute_value(data, Some(collision_count))
}

/// `<owner>-<hash>`, the owner's name cut to upstream's length first.
pub fn name(owner: &str, hash: &str) -> String {
    let mut end = owner.len().min(MAX_PREFIX);
    while !owner.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &owner[..end])
}

/// The number the next revision gets: one past the highest.
pub fn next_number(revs: &[ControllerRevision]) -> i64 {
    revs.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// How to make `data` the newest revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The revision at this index already is the newest with this data.
    Latest(usize),
    /// An older revision has this data (a rollback): give it this number.
    Renumber(usize, i64),
    /// No revision has this data: create one with this number.
    Create(i64),
}

/// Decides, as upstream's `FindEqualRevisions` and the StatefulSet controller do, whether the
/// template's revision exists, and whether it is the newest.
pub fn plan(revs: &[ControllerRevision], data: &Value) -> Plan {
    let newest = revs.iter().map(|r| r.revision).max();
    let equal = revs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.data.as_ref().map(|d| &d.0) == Some(data))
        .max_by_key(|(_, r)| r.revision);
    match equal {
        Some((i, r)) if Some(r.revision) == newest => Plan::Latest(i),
        Some((i, _)) => Plan::Renumber(i, next_number(revs)),
        None => Plan::Create(next_number(revs)),
    }
}

/// The revisions to delete so that at most `limit` remain besides those in `live` (the
/// current and update revisions and those pods still run), oldest first.
pub fn to_trim<'a>(
    revs: &'a [ControllerRevision],
    live: &BTreeSet<String>,
    limit: i32,
) -> Vec<&'a ControllerRevision> {
    let mut old: Vec<&ControllerRevision> = revs
        .iter()
        .filter(|r| !live.contains(&r.name_any()))
        .collect();
    old.sort_by_key(|r| r.revision);
    let excess = old
        .len()
        .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
    old.truncate(excess);
    old
}

/// The owner a revision is written for.
pub struct Owner<'a> {
    /// The StatefulSet's or DaemonSet's metadata.
    pub meta: &'a ObjectMeta,
    /// Its reference as controller.
    pub reference: OwnerReference,
    /// The label the hash goes in.
    pub hash_label: &'a str,
    /// The template's labels, so that the owner's selector finds its revisions (kubectl lists
    /// them by the selector).
    pub labels: BTreeMap<String, String>,
}

/// Makes `data` the newest of `revs` (the owner's revisions, updated in place), creating or
/// renumbering as [`plan`] says. A name taken by a revision with other data bumps
/// `collision_count` and tries the next name. Returns the index of the revision in `revs`.
pub async fn sync(
    api: &Api<ControllerRevision>,
    owner: &Owner<'_>,
    revs: &mut Vec<ControllerRevision>,
    data: Value,
    collision_count: &mut i32,
) -> Result<usize, ReconcileError> {
    match plan(revs, &data) {
        Plan::Latest(i) => Ok(i),
        Plan::Renumber(i, number) => {
            let patch = json!({"revision": number});
            let updated = api
                .patch(
                    &revs[i].name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            revs[i] = updated;
            Ok(i)
        }
        Plan::Create(number) => {
            for _ in 0..MAX_COLLISIONS {
                let hash = hash_of(&data, *collision_count);
                let mut labels = owner.labels.clone();
                labels.insert(owner.hash_label.to_string(), hash.clone());
                let rev = ControllerRevision {
                    metadata: ObjectMeta {
                        name: Some(name(&owner.meta.name.clone().unwrap_or_default(), &hash)),
                        namespace: owner.meta.namespace.clone(),
                        labels: Some(labels),
                        annotations: owner.meta.annotations.clone(),
                        owner_references: Some(vec![owner.reference.clone()]),
                        ..ObjectMeta::default()
                    },
                    data: Some(RawExtension(data.clone())),
                    revision: number,
                };
                match api.create(&PostParams::default(), &rev).await {
                    Ok(created) => {
                        revs.push(created);
                        return Ok(revs.len() - 1);
                    }
                    Err(e) if is_status(&e, 409) => {
                        let existing = api.get(&rev.name_any()).await?;
                        let ours = crate::ownership::controller_of(&existing.metadata)
                            .is_some_and(|r| r.uid == owner.reference.uid);
                        if ours && existing.data.as_ref().map(|d| &d.0) == Some(&data) {
                            revs.push(existing);
                            return Ok(revs.len() - 1);
                        }
                        *collision_count = collision_count.saturating_add(1);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(ReconcileError::Collision(format!(
                "{} ControllerRevision names of {} were taken",
                MAX_COLLISIONS,
                owner.meta.name.as_deref().unwrap_or("")
            )))
        }
    }
}

/// Deletes what [`to_trim`] picks; a revision already gone is fine.
pub async fn trim(
    api: &Api<ControllerRevision>,
    revs: &[ControllerRevision],
    live: &BTreeSet<String>,
    limit: i32,
) -> Result<(), ReconcileError> {
    for rev in to_trim(revs, live, limit) {
        match api.delete(&rev.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    fn rev(name: &str, image: &str, number: i64) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(RawExtension(patch_data(&template(image)))),
            revision: number,
        }
    }

    #[test]
    fn data_is_a_replacing_patch_of_the_template_and_reads_back() {
        let data = patch_data(&template("a:1"));
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            data["spec"]["template"]["spec"]["containers"][0]["image"],
            "a:1"
        );
        let r = rev("x", "a:1", 1);
        assert_eq!(template_of(&r), Some(template("a:1")));
    }

    #[test]
    fn a_new_template_gets_the_next_number_and_a_returning_one_is_renumbered() {
        let revs = vec![rev("w-1", "a:1", 1), rev("w-2", "a:2", 2)];
        assert_eq!(plan(&revs, &patch_data(&template("a:2"))), Plan::Latest(1));
        assert_eq!(
            plan(&revs, &patch_data(&template("a:1"))),
            Plan::Renumber(0, 3)
        );
        assert_eq!(plan(&revs, &patch_data(&template("a:3"))), Plan::Create(3));
        assert_eq!(plan(&[], &patch_data(&template("a:3"))), Plan::Create(1));
    }

    #[test]
    fn trimming_keeps_live_revisions_and_the_newest_up_to_the_limit() {
        let revs: Vec<ControllerRevision> = (1..=5)
            .map(|n| rev(&format!("w-{n}"), &format!("a:{n}"), n))
            .collect();
        let live: BTreeSet<String> = ["w-1".to_string(), "w-5".to_string()].into();
        let names = |v: Vec<&ControllerRevision>| -> Vec<String> {
            v.into_iter().map(|r| r.name_any()).collect()
        };
        assert_eq!(names(to_trim(&revs, &live, 2)), ["w-2"]);
        assert_eq!(names(to_trim(&revs, &live, 0)), ["w-2", "w-3", "w-4"]);
        assert!(to_trim(&revs, &live, 10).is_empty());
    }

    #[test]
    fn names_are_the_owner_and_the_hash_and_the_hash_follows_the_collision_count() {
        let data = patch_data(&template("a:1"));
        let h = hash_of(&data, 0);
        assert_ne!(h, hash_of(&data, 1));
        assert_eq!(h, hash_of(&data, 0));
        assert_eq!(name("web", &h), format!("web-{h}"));
        let long = "x".repeat(300);
        assert_eq!(name(&long, "h").len(), MAX_PREFIX + 2);
    }
}
