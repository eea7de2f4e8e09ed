//! What the collector does with one object given what it knows of its owners, as upstream's
//! `attemptToDeleteItem` decides:
//! - an owner that exists keeps the object; references to owners that are gone, or that are
//!   being deleted in the foreground, are removed from it so they stop blocking;
//! - with no existing owner, the object is deleted: in the foreground when an owner waits
//!   for its dependents and it has dependents of its own, otherwise by its own finalizer's
//!   policy (Background by default);
//! - an owner that cannot be looked up (unknown kind, API error) postpones the decision.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::graph::{Node, FOREGROUND, ORPHAN};

/// What is known of one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// It exists with the referenced uid.
    Present,
    /// It exists and is being deleted in the foreground, waiting for its dependents.
    WaitingForDependents,
    /// No object with the referenced uid exists.
    Absent,
    /// Could not be found out.
    Unknown,
}

/// The propagation policy of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents after the object.
    Background,
    /// Dependents before the object.
    Foreground,
    /// Dependents are kept, their references removed.
    Orphan,
}

impl Propagation {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// The collector's conclusion about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it.
    Keep,
    /// Delete it with this policy.
    Delete(Propagation),
    /// Remove its references to these owner uids.
    Unlink(Vec<String>),
    /// Look again later.
    Retry,
}

/// Decides for `node`, whose owner references have been resolved to `owners` (same order),
/// and which has dependents of its own when `has_dependents`.
pub fn verdict(node: &Node, owners: &[(OwnerReference, Owner)], has_dependents: bool) -> Verdict {
    if owners.is_empty() || (node.deleting && !node.has(FOREGROUND)) {
        return Verdict::Keep;
    }
    if owners.iter().any(|(_, s)| *s == Owner::Unknown) {
        return Verdict::Retry;
    }
    let uids = |want: &[Owner]| -> Vec<String> {
        owners
            .iter()
            .filter(|(_, s)| want.contains(s))
            .map(|(r, _)| r.uid.clone())
            .collect()
    };
    let present = uids(&[Owner::Present]);
    let gone_or_waiting = uids(&[Owner::Absent, Owner::WaitingForDependents]);
    if !present.is_empty() {
        return if gone_or_waiting.is_empty() {
            Verdict::Keep
        } else {
            Verdict::Unlink(gone_or_waiting)
        };
    }
    if node.deleting {
        // Already on its way out in the foreground; its own dependents are being handled.
        return Verdict::Keep;
    }
    let waiting = !uids(&[Owner::WaitingForDependents]).is_empty();
    if waiting && has_dependents {
        return Verdict::Delete(Propagation::Foreground);
    }
    Verdict::Delete(if node.has(ORPHAN) {
        Propagation::Orphan
    } else if node.has(FOREGROUND) {
        Propagation::Foreground
    } else {
        Propagation::Background
    })
}

#[cfg(test)]
mod tests {
    use super::super::graph::tests::{node, owner};
    use super::*;

    #[test]
    fn objects_whose_owners_are_all_gone_are_deleted() {
        let n = node("pod", vec![owner("rs", true)]);
        let o = [(owner("rs", true), Owner::Absent)];
        assert_eq!(
            verdict(&n, &o, false),
            Verdict::Delete(Propagation::Background)
        );
        let o = [(owner("rs", true), Owner::Present)];
        assert_eq!(verdict(&n, &o, false), Verdict::Keep);
        let o = [(owner("rs", true), Owner::Unknown)];
        assert_eq!(verdict(&n, &o, false), Verdict::Retry);
        // No owners at all: nothing to collect.
        assert_eq!(verdict(&node("x", vec![]), &[], false), Verdict::Keep);
    }

    #[test]
    fn a_remaining_owner_keeps_the_object_and_dangling_references_go() {
        let n = node("pod", vec![owner("a", false), owner("b", false)]);
        let o = [
            (owner("a", false), Owner::Present),
            (owner("b", false), Owner::Absent),
        ];
        assert_eq!(verdict(&n, &o, false), Verdict::Unlink(vec!["b".into()]));
        let o = [
            (owner("a", false), Owner::Present),
            (owner("b", false), Owner::WaitingForDependents),
        ];
        assert_eq!(verdict(&n, &o, false), Verdict::Unlink(vec!["b".into()]));
    }

    #[test]
    fn foreground_owners_cascade_in_the_foreground() {
        let n = node("rs", vec![owner("deploy", true)]);
        let o = [(owner("deploy", true), Owner::WaitingForDependents)];
        assert_eq!(
            verdict(&n, &o, true),
            Verdict::Delete(Propagation::Foreground)
        );
        assert_eq!(
            verdict(&n, &o, false),
            Verdict::Delete(Propagation::Background)
        );
        // Already being deleted (not in the foreground): left alone.
        let mut gone = n.clone();
        gone.deleting = true;
        assert_eq!(verdict(&gone, &o, true), Verdict::Keep);
    }
}
