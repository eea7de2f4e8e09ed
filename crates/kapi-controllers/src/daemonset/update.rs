//! Which daemon pods a RollingUpdate replaces now: old pods that are unavailable anyway go at
//! once; available old pods go while fewer than `maxUnavailable` eligible nodes lack an
//! available daemon (a node without its pod counts as unavailable), as upstream's rolling
//! update with `maxSurge: 0` decides.

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
    fn unavailable_old_pods_go_regardless_of_the_budget() {
        let broken = Facts {
            available: false,
            ..OLD
        };
        let nodes = [("a", Some(broken)), ("b", Some(broken)), ("c", Some(OLD))];
        assert_eq!(rolling(&nodes, 1), ["a", "b"]);
    }
}
