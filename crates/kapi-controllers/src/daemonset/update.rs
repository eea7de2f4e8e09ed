//! Which daemon pods a RollingUpdate replaces now, as upstream decides.
//!
//! With `maxSurge: 0` ([`rolling`]) the old pod goes first: old pods that are unavailable
//! anyway go at once; available old pods go while fewer than `maxUnavailable` eligible nodes
//! lack an available daemon (a node without its pod counts as unavailable). With a surge
//! ([`surge`]) the new pod starts beside the old one, on at most `maxSurge` nodes at a time,
//! and the old pod goes once the new one is available, so a node is never without a daemon.

/// The daemon pod on one node that should run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Made from the current template.
    pub updated: bool,
    /// Ready for `minReadySeconds`.
    pub available: bool,
    /// Being deleted.
    pub terminating: bool,
}

/// The nodes whose daemon pod to delete, from `(node, its pod)` for every node that should
/// run one.
pub fn rolling<'a>(nodes: &[(&'a str, Option<Facts>)], max_unavailable: i32) -> Vec<&'a str> {
    let unavailable = nodes
        .iter()
        .filter(|(_, p)| p.is_none_or(|f| !f.available || f.terminating))
        .count();
    let mut budget = i64::from(max_unavailable.max(1)) - i64::try_from(unavailable).unwrap_or(0);
    let mut out = Vec::new();
    for (node, pod) in nodes {
        if let Some(f) = pod {
            if !f.updated && !f.terminating && !f.available {
                out.push(*node);
            }
        }
    }
    for (node, pod) in nodes {
        if budget <= 0 {
            break;
        }
        if let Some(f) = pod {
            if !f.updated && !f.terminating && f.available {
                out.push(*node);
                budget -= 1;
            }
        }
    }
    out
}

/// The daemon pods on one node during a surge: the oldest of each template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pair {
    /// The oldest pod of an older template, not being deleted.
    pub old: Option<Facts>,
    /// The oldest pod of the current template.
    pub new: Option<Facts>,
}

/// What a surging update does now: the nodes to start a new pod on, and the nodes whose old
/// pod to delete (their new pod is available).
pub fn surge<'a>(nodes: &[(&'a str, Pair)], max_surge: i32) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut surging = 0i64;
    let mut create = Vec::new();
    let mut candidates = Vec::new();
    let mut delete = Vec::new();
    for (node, pair) in nodes {
        match (pair.old, pair.new) {
            (None, _) => {}
            // An old pod that is not serving anyway is replaced at once.
            (Some(old), None) if !old.available => create.push(*node),
            (Some(_), None) => candidates.push(*node),
            (Some(_), Some(new)) => {
                surging += 1;
                if new.available {
                    delete.push(*node);
                }
            }
        }
    }
    let room = usize::try_from((i64::from(max_surge) - surging).max(0)).unwrap_or(0);
    create.extend(candidates.into_iter().take(room));
    (create, delete)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: Facts = Facts {
        updated: false,
        available: true,
        terminating: false,
    };
    const NEW: Facts = Facts {
        updated: true,
        available: true,
        terminating: false,
    };

    #[test]
    fn replaces_up_to_the_budget_and_waits_for_new_pods_to_be_available() {
        let all_old = [("a", Some(OLD)), ("b", Some(OLD)), ("c", Some(OLD))];
        assert_eq!(rolling(&all_old, 1), ["a"]);
        assert_eq!(rolling(&all_old, 2), ["a", "b"]);
        let starting = Facts {
            available: false,
            ..NEW
        };
        let mid = [("a", Some(starting)), ("b", Some(OLD)), ("c", Some(OLD))];
        assert!(rolling(&mid, 1).is_empty());
        let gone = [("a", None), ("b", Some(OLD))];
        assert!(rolling(&gone, 1).is_empty());
        let next = [("a", Some(NEW)), ("b", Some(OLD))];
        assert_eq!(rolling(&next, 1), ["b"]);
        assert!(rolling(&[("a", Some(NEW))], 1).is_empty());
    }

    #[test]
    fn a_surge_starts_new_pods_beside_old_ones_and_retires_the_old_once_new_is_available() {
        let starting = Facts {
            available: false,
            ..NEW
        };
        let old_only = Pair {
            old: Some(OLD),
            new: None,
        };
        let nodes = [("a", old_only), ("b", old_only), ("c", old_only)];
        assert_eq!(surge(&nodes, 1), (vec!["a"], vec![]));
        assert_eq!(surge(&nodes, 2), (vec!["a", "b"], vec![]));
        let mid = [
            (
                "a",
                Pair {
                    old: Some(OLD),
                    new: Some(starting),
                },
            ),
            ("b", old_only),
        ];
        assert_eq!(surge(&mid, 1), (vec![], vec![]));
        let ready = [
            (
                "a",
                Pair {
                    old: Some(OLD),
                    new: Some(NEW),
                },
            ),
            ("b", old_only),
        ];
        assert_eq!(surge(&ready, 1), (vec![], vec!["a"]));
        let broken = Pair {
            old: Some(Facts {
                available: false,
                ..OLD
            }),
            new: None,
        };
        assert_eq!(surge(&[("a", broken)], 0), (vec!["a"], vec![]));
        let done = Pair {
            old: None,
            new: Some(NEW),
        };
        assert_eq!(surge(&[("a", done)], 1), (vec![], vec![]));
    }

    #[test]
    fn unavailable_old_pods_go_regardless_of_the_budget() {
        let broken = Facts {
            available: false,
            ..OLD
        };
        let nodes = [("a", Some(broken)), ("b", Some(broken)), ("c", Some(OLD))];
        assert_eq!(rolling(&nodes, 1), ["a", "b"]);
    }
}
