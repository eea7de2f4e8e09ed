//! The steps of a rolling update, as upstream's `rolloutRolling` takes them: grow the new
//! ReplicaSet while the total stays within `replicas + maxSurge`, then shrink old ones while
//! at least `replicas - maxUnavailable` pods stay available (unhealthy old pods first).
//! Each function returns sizes; the caller writes them and syncs again.

use super::view::{oldest_first, SetView};

/// The new ReplicaSet's next size: as close to `want` as the surge allows.
/// `total` is the sum of every ReplicaSet's `spec.replicas`, the new one included.
pub fn new_replicas(want: i32, surge: i32, total: i32, new: i32) -> i32 {
    let max_total = want + surge;
    if total >= max_total {
        return new;
    }
    new + (max_total - total).min(want - new).max(0)
}

/// The old ReplicaSets to shrink and their new sizes, as upstream's
/// `reconcileOldReplicaSets` decides.
pub fn scale_down_old(
    want: i32,
    max_unavailable: i32,
    new: &SetView,
    old: &[SetView],
) -> Vec<(String, i32)> {
    let old_total: i32 = old.iter().map(|s| s.replicas).sum();
    if old_total == 0 {
        return Vec::new();
    }
    let all_total = old_total + new.replicas;
    let min_available = want - max_unavailable;
    let new_unavailable = new.replicas - new.available;
    let max_scaled_down = all_total - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }
    let mut sets = old.to_vec();
    oldest_first(&mut sets);
    let before: Vec<i32> = sets.iter().map(|s| s.replicas).collect();

    // Unhealthy old pods go first: removing them costs no availability.
    let mut cleaned = 0;
    for s in sets.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = s.replicas - s.available;
        if s.replicas == 0 || unhealthy <= 0 {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(unhealthy);
        s.replicas -= n;
        cleaned += n;
    }

    // Then available ones, as far as availability allows.
    let available: i32 = sets.iter().map(|s| s.available).sum::<i32>() + new.available;
    if available > min_available {
        let budget = available - min_available;
        let mut scaled = 0;
        for s in sets.iter_mut() {
            if scaled >= budget {
                break;
            }
            if s.replicas == 0 {
                continue;
            }
            let n = s.replicas.min(budget - scaled);
            s.replicas -= n;
            scaled += n;
        }
    }
    sets.into_iter()
        .zip(before)
        .filter(|(s, b)| s.replicas != *b)
        .map(|(s, _)| (s.name, s.replicas))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::view::view;
    use super::*;

    #[test]
    fn the_new_set_grows_within_the_surge() {
        // 3 wanted, surge 1: old at 3, new at 0 -> new may go to 1.
        assert_eq!(new_replicas(3, 1, 3, 0), 1);
        // Already at 4 pods in total: wait.
        assert_eq!(new_replicas(3, 1, 4, 1), 1);
        // Old shrank to 1: new goes to 3 but no further than wanted.
        assert_eq!(new_replicas(3, 1, 2, 1), 3);
        assert_eq!(new_replicas(3, 5, 0, 0), 3);
        // Surge 0: only as old ones go.
        assert_eq!(new_replicas(3, 0, 3, 0), 0);
        assert_eq!(new_replicas(3, 0, 2, 0), 1);
    }

    #[test]
    fn old_sets_shrink_only_as_availability_allows() {
        // 3 wanted, maxUnavailable 0: new has 1 not yet available -> nothing to remove.
        let new = view("new", 1, 0, 0);
        let old = [view("old", 3, 3, 10)];
        assert!(scale_down_old(3, 0, &new, &old).is_empty());
        // Once the new pod is available, one old pod may go.
        let new = view("new", 1, 1, 0);
        assert_eq!(scale_down_old(3, 0, &new, &old), [("old".to_string(), 2)]);
        // maxUnavailable 1 with nothing new available yet: one may go at once.
        let new = view("new", 1, 0, 0);
        assert_eq!(scale_down_old(3, 1, &new, &old), [("old".to_string(), 2)]);
    }

    #[test]
    fn unhealthy_old_pods_go_first_and_oldest_sets_first() {
        let new = view("new", 0, 0, 0);
        // Two old sets; the older one has two unavailable pods.
        let old = [view("older", 2, 0, 20), view("old", 2, 2, 10)];
        // 2 wanted, 0 unavailable allowed: the unhealthy pods are removed, nothing else.
        assert_eq!(scale_down_old(2, 0, &new, &old), [("older".to_string(), 0)]);
        // Nothing old left: nothing to do.
        assert!(scale_down_old(2, 0, &new, &[view("older", 0, 0, 20)]).is_empty());
    }
}
