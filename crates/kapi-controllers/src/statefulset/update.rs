//! What one sync of a StatefulSet does to its pods, decided from facts about them: which
//! ordinals to create, which to delete to scale down, which to replace in a rolling update.
//!
//! OrderedReady makes one change at a time and only over healthy predecessors (create in
//! order, each Running and Ready before the next; remove the highest first). Parallel makes
//! every change at once. Rolling updates go from the highest ordinal down to `partition`,
//! with at most `maxUnavailable` members unavailable at a time.

use std::collections::BTreeMap;

/// What the decisions need to know about the pod at an ordinal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// Being deleted.
    pub terminating: bool,
    /// Phase Failed or Succeeded: it will not run again, so it is replaced.
    pub finished: bool,
    /// Running, Ready and available for `minReadySeconds`.
    pub healthy: bool,
    /// Made from the update revision.
    pub updated: bool,
}

/// A change to one ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Create the missing pod.
    Create(i32),
    /// Delete the pod (finished, or beyond `replicas`).
    Delete(i32),
}

/// The creations and deletions that bring the members to `replicas`. Members are keyed by
/// index (ordinal minus `spec.ordinals.start`): those outside `0..replicas` are removed,
/// highest first.
pub fn scale(replicas: i32, pods: &BTreeMap<i32, Facts>, ordered: bool) -> Vec<Change> {
    let mut out = Vec::new();
    for ord in 0..replicas.max(0) {
        match pods.get(&ord) {
            None => {
                out.push(Change::Create(ord));
                if ordered {
                    return out;
                }
            }
            Some(f) if f.terminating || !f.healthy => {
                if f.finished && !f.terminating {
                    out.push(Change::Delete(ord));
                }
                if ordered {
                    return out;
                }
            }
            Some(_) => {}
        }
    }
    let condemned = pods
        .iter()
        .rev()
        .filter(|(i, _)| !(0..replicas.max(0)).contains(*i));
    for (&ord, f) in condemned {
        if f.terminating {
            if ordered {
                return out;
            }
            continue;
        }
        out.push(Change::Delete(ord));
        if ordered {
            return out;
        }
    }
    out
}

/// The ordinals to delete so that they come back from the update revision: from the highest
/// down to `partition`, old pods only, while fewer than `max_unavailable` members of
/// `0..replicas` are unavailable. Old pods that are unavailable anyway cost nothing.
pub fn rolling(
    replicas: i32,
    pods: &BTreeMap<i32, Facts>,
    partition: i32,
    max_unavailable: i32,
) -> Vec<i32> {
    let unavailable = (0..replicas.max(0))
        .filter(|o| pods.get(o).is_none_or(|f| f.terminating || !f.healthy))
        .count();
    let mut budget = i64::from(max_unavailable.max(1)) - i64::try_from(unavailable).unwrap_or(0);
    let mut out = Vec::new();
    for ord in (partition.max(0)..replicas.max(0)).rev() {
        let Some(f) = pods.get(&ord) else { continue };
        if f.updated || f.terminating {
            continue;
        }
        if !f.healthy {
            out.push(ord);
            continue;
        }
        if budget <= 0 {
            break;
        }
        out.push(ord);
        budget -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy(updated: bool) -> Facts {
        Facts {
            healthy: true,
            updated,
            ..Facts::default()
        }
    }

    fn pods(list: &[(i32, Facts)]) -> BTreeMap<i32, Facts> {
        list.iter().copied().collect()
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time_after_healthy_predecessors() {
        assert_eq!(scale(3, &pods(&[]), true), [Change::Create(0)]);
        let starting = Facts::default();
        assert!(scale(3, &pods(&[(0, starting)]), true).is_empty());
        assert_eq!(
            scale(3, &pods(&[(0, healthy(true))]), true),
            [Change::Create(1)]
        );
        assert_eq!(
            scale(3, &pods(&[]), false),
            [Change::Create(0), Change::Create(1), Change::Create(2)]
        );
    }

    #[test]
    fn scale_down_removes_the_highest_first_and_waits_for_it() {
        let all = pods(&[(0, healthy(true)), (1, healthy(true)), (2, healthy(true))]);
        assert_eq!(scale(1, &all, true), [Change::Delete(2)]);
        assert_eq!(
            scale(1, &all, false),
            [Change::Delete(2), Change::Delete(1)]
        );
        let dying = Facts {
            terminating: true,
            ..healthy(true)
        };
        let mid = pods(&[(0, healthy(true)), (1, healthy(true)), (2, dying)]);
        assert!(scale(1, &mid, true).is_empty());
        assert_eq!(scale(1, &mid, false), [Change::Delete(1)]);
    }

    #[test]
    fn members_below_a_raised_start_are_removed_after_those_above() {
        // Index -1: the start ordinal moved past this member.
        let p = pods(&[(-1, healthy(true)), (0, healthy(true)), (1, healthy(true))]);
        assert_eq!(scale(1, &p, true), [Change::Delete(1)]);
        assert_eq!(scale(1, &p, false), [Change::Delete(1), Change::Delete(-1)]);
        let rest = pods(&[(-1, healthy(true)), (0, healthy(true))]);
        assert_eq!(scale(1, &rest, true), [Change::Delete(-1)]);
    }

    #[test]
    fn finished_pods_are_replaced() {
        let failed = Facts {
            finished: true,
            ..Facts::default()
        };
        assert_eq!(
            scale(2, &pods(&[(0, failed), (1, healthy(true))]), true),
            [Change::Delete(0)]
        );
    }

    #[test]
    fn rolling_update_goes_down_from_the_top_to_the_partition() {
        let old = pods(&[
            (0, healthy(false)),
            (1, healthy(false)),
            (2, healthy(false)),
        ]);
        assert_eq!(rolling(3, &old, 0, 1), [2]);
        assert_eq!(rolling(3, &old, 0, 2), [2, 1]);
        assert_eq!(rolling(3, &old, 2, 3), [2]);
        assert!(rolling(3, &old, 3, 1).is_empty());
        // The replaced top pod is not ready yet: the budget of one is spent.
        let recreating = pods(&[
            (0, healthy(false)),
            (1, healthy(false)),
            (
                2,
                Facts {
                    updated: true,
                    ..Facts::default()
                },
            ),
        ]);
        assert!(rolling(3, &recreating, 0, 1).is_empty());
        let done = pods(&[(0, healthy(false)), (1, healthy(true)), (2, healthy(true))]);
        assert_eq!(rolling(3, &done, 0, 1), [0]);
        assert!(rolling(3, &done, 1, 1).is_empty());
    }

    #[test]
    fn an_unavailable_old_pod_is_replaced_without_spending_the_budget() {
        let p = pods(&[
            (0, healthy(false)),
            (1, Facts::default()),
            (2, healthy(true)),
        ]);
        assert_eq!(rolling(3, &p, 0, 1), [1]);
    }
}
