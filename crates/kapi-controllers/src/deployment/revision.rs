//! Revisions: each ReplicaSet a Deployment has rolled out to carries
//! `deployment.kubernetes.io/revision`, the newest being the highest, and the Deployment
//! carries its current one. Rolling back (`kubectl rollout undo` puts an old template back)
//! makes the old ReplicaSet the newest again: it gets the next number, and the numbers it had
//! are kept in `deployment.kubernetes.io/revision-history`, as upstream keeps them.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;

use super::view::{DESIRED_REPLICAS, MAX_REPLICAS};

/// Annotation: the revision number.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Annotation: the revisions a reused ReplicaSet had before, comma-separated.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// Upstream's limit on the history annotation's length.
const HISTORY_LIMIT_CHARS: usize = 2000;

/// Deployment annotations that are not copied to its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// The revision of `rs`, 0 if it has none.
pub fn of(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The highest revision among `sets`.
pub fn max(sets: &[&ReplicaSet]) -> i64 {
    sets.iter().map(|rs| of(rs)).max().unwrap_or(0)
}

/// Whether an annotation of the Deployment is copied to its ReplicaSets.
pub fn copied(key: &str) -> bool {
    !NOT_COPIED.contains(&key)
}

/// The annotations of the new ReplicaSet: the Deployment's (those that are copied), the
/// revision `next` unless it already has a higher one, and the history of a reused one.
/// Returns whether anything changed.
pub fn annotate_new(
    annotations: &mut BTreeMap<String, String>,
    deployment: &BTreeMap<String, String>,
    next: i64,
) -> bool {
    let mut changed = false;
    for (k, v) in deployment.iter().filter(|(k, _)| copied(k)) {
        if annotations.get(k) != Some(v) {
            annotations.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    let old = annotations.get(REVISION).cloned();
    let old_n: i64 = old.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
    if old_n < next {
        annotations.insert(REVISION.into(), next.to_string());
        changed = true;
        if let Some(old) = old {
            push_history(annotations, &old);
        }
    }
    changed
}

fn push_history(annotations: &mut BTreeMap<String, String>, old: &str) {
    let history = annotations
        .get(REVISION_HISTORY)
        .cloned()
        .unwrap_or_default();
    if history.is_empty() {
        annotations.insert(REVISION_HISTORY.into(), old.to_string());
        return;
    }
    let mut revisions: Vec<&str> = history.split(',').collect();
    let mut total = history.len() + old.len() + 1;
    let mut start = 0;
    while total > HISTORY_LIMIT_CHARS && start < revisions.len() {
        total -= revisions[start].len() + 1;
        start += 1;
    }
    if total <= HISTORY_LIMIT_CHARS {
        revisions.drain(..start);
        revisions.push(old);
        annotations.insert(REVISION_HISTORY.into(), revisions.join(","));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_new_set_gets_the_next_revision_and_the_deployment_annotations() {
        let mut a = BTreeMap::new();
        let d = map(&[
            ("team", "x"),
            (REVISION, "4"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
        ]);
        assert!(annotate_new(&mut a, &d, 3));
        assert_eq!(a, map(&[("team", "x"), (REVISION, "3")]));
        assert!(!annotate_new(&mut a, &d, 3));
    }

    #[test]
    fn a_reused_set_keeps_its_old_revisions() {
        let mut a = map(&[(REVISION, "1")]);
        assert!(annotate_new(&mut a, &BTreeMap::new(), 3));
        assert_eq!(a[REVISION], "3");
        assert_eq!(a[REVISION_HISTORY], "1");
        assert!(annotate_new(&mut a, &BTreeMap::new(), 5));
        assert_eq!(a[REVISION_HISTORY], "1,3");
        // A higher revision than asked is left alone.
        assert!(!annotate_new(&mut a, &BTreeMap::new(), 4));
        assert_eq!(a[REVISION], "5");
    }
}
