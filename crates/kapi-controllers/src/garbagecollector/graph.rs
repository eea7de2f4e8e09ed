//! The ownership graph: every object the collector watches, by uid, with its owner references,
//! and the reverse index from an owner's uid to its dependents. An owner need not be present:
//! its uid still indexes the dependents that name it, which is how dangling references are
//! found when it is gone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::discovery::ApiResource;

/// Finalizer: remove the object's ownerReferences from its dependents, then let it go.
pub const ORPHAN: &str = "orphan";
/// Finalizer: delete the object's dependents first.
pub const FOREGROUND: &str = "foregroundDeletion";

/// A resource the collector watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    /// Group, version, kind and plural.
    pub ar: ApiResource,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
}

/// What the collector knows of one object.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its resource.
    pub kind: Arc<Kind>,
    /// Its namespace, for namespaced kinds.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// Its resourceVersion when last seen, the precondition of patches.
    pub resource_version: Option<String>,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// Whether it has a deletionTimestamp.
    pub deleting: bool,
    /// Its finalizers.
    pub finalizers: Vec<String>,
}

impl Node {
    /// Whether it carries finalizer `f`.
    pub fn has(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }
}

/// Objects by uid and dependents by owner uid.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    /// The object with `uid`.
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// The objects whose ownerReferences name `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d))
            .collect()
    }

    /// Records an added or changed object; returns the uids to look at because of it:
    /// itself, and when it is being deleted its owners (one may wait for it) and its
    /// dependents (it may wait for them, or orphan them).
    pub fn upsert(&mut self, node: Node) -> Vec<String> {
        let uid = node.uid.clone();
        if let Some(old) = self.nodes.get(&uid) {
            for r in &old.owners {
                if let Some(set) = self.dependents.get_mut(&r.uid) {
                    set.remove(&uid);
                }
            }
        }
        for r in &node.owners {
            self.dependents
                .entry(r.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        let mut wake = vec![uid.clone()];
        // An owner deleting in the foreground waits for this object: wake it when the object
        // stops pointing at it or stops blocking it, or it would wait for an unrelated event.
        if let Some(old) = self.nodes.get(&uid) {
            for r in &old.owners {
                let still_blocks = node
                    .owners
                    .iter()
                    .any(|n| n.uid == r.uid && n.block_owner_deletion == Some(true));
                if r.block_owner_deletion == Some(true) && !still_blocks {
                    wake.push(r.uid.clone());
                }
            }
        }
        if node.deleting {
            wake.extend(node.owners.iter().map(|r| r.uid.clone()));
            wake.extend(self.dependents.get(&uid).into_iter().flatten().cloned());
        }
        self.nodes.insert(uid, node);
        wake
    }

    /// Forgets a deleted object; returns the uids to look at: its dependents (their owner is
    /// gone) and its owners (one may have been waiting for it).
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let mut wake: Vec<String> = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if self.dependents.get(uid).is_some_and(HashSet::is_empty) {
            self.dependents.remove(uid);
        }
        if let Some(old) = self.nodes.remove(uid) {
            for r in &old.owners {
                if let Some(set) = self.dependents.get_mut(&r.uid) {
                    set.remove(uid);
                    if set.is_empty() {
                        self.dependents.remove(&r.uid);
                    }
                }
                wake.push(r.uid.clone());
            }
        }
        wake
    }

    /// The uids of objects of `kind`, for replacing them after a relist.
    pub fn uids_of(&self, kind: &Kind) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.kind.as_ref() == kind)
            .map(|n| n.uid.clone())
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn kind(kind: &str) -> Arc<Kind> {
        Arc::new(Kind {
            ar: ApiResource {
                group: "apps".into(),
                version: "v1".into(),
                api_version: "apps/v1".into(),
                kind: kind.into(),
                plural: format!("{}s", kind.to_lowercase()),
            },
            namespaced: true,
        })
    }

    pub(crate) fn owner(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("name-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    pub(crate) fn node(uid: &str, owners: Vec<OwnerReference>) -> Node {
        Node {
            kind: kind("ReplicaSet"),
            namespace: Some("default".into()),
            name: format!("name-{uid}"),
            uid: uid.into(),
            resource_version: Some("1".into()),
            owners,
            deleting: false,
            finalizers: Vec::new(),
        }
    }

    #[test]
    fn dependents_are_indexed_by_owner_uid_even_without_the_owner() {
        let mut g = Graph::default();
        g.upsert(node("pod", vec![owner("rs", true)]));
        assert_eq!(g.dependents("rs").len(), 1);
        assert!(g.get("rs").is_none());
        // The owner appears, then goes: its dependent is woken.
        g.upsert(node("rs", vec![]));
        assert_eq!(g.remove("rs"), ["pod"]);
        // The reference changes: the index follows.
        g.upsert(node("pod", vec![owner("other", false)]));
        assert!(g.dependents("rs").is_empty());
        assert_eq!(g.dependents("other").len(), 1);
        assert_eq!(g.remove("pod"), ["other"]);
        assert!(g.dependents("other").is_empty());
    }

    #[test]
    fn an_object_being_deleted_wakes_its_owners_and_dependents() {
        let mut g = Graph::default();
        g.upsert(node("pod", vec![owner("rs", true)]));
        let mut rs = node("rs", vec![owner("deploy", true)]);
        rs.deleting = true;
        let mut woken = g.upsert(rs);
        woken.sort();
        assert_eq!(woken, ["deploy", "pod", "rs"]);
    }
}
