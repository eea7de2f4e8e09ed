//! Resizing a Deployment's ReplicaSets when `spec.replicas` changes, as upstream's `scale`
//! does: one active ReplicaSet (or none) takes the whole count; a saturated new ReplicaSet
//! lets the old ones go to zero; mid-rollout, a rolling Deployment spreads the change over its
//! ReplicaSets in proportion to their sizes ("proportional scaling"), so a scale during a
//! rollout neither loses the rollout's progress nor breaks the surge limit.

use super::view::{oldest_first, SetView};

/// The sizes to write, by ReplicaSet name.
pub fn plan(
    want: i32,
    surge: i32,
    status_replicas: i32,
    new: Option<&SetView>,
    old: &[SetView],
    rolling: bool,
) -> Vec<(String, i32)> {
    let mut olds = old.to_vec();
    oldest_first(&mut olds);
    olds.reverse();
    let active: Vec<SetView> = olds
        .iter()
        .chain(new)
        .filter(|s| s.replicas > 0)
        .cloned()
        .collect();
    match active.len() {
        0 => {
            return new
                .or(olds.first())
                .map(|s| vec![(s.name.clone(), want)])
                .unwrap_or_default()
        }
        1 => return vec![(active[0].name.clone(), want)],
        _ => {}
    }
    if let Some(n) = new {
        if n.replicas == want && n.desired == Some(want) && n.available == want {
            return active
                .iter()
                .filter(|s| s.name != n.name)
                .map(|s| (s.name.clone(), 0))
                .collect();
        }
    }
    if !rolling {
        return Vec::new();
    }
    let mut sets = active;
    let total: i32 = sets.iter().map(|s| s.replicas).sum();
    let allowed = if want > 0 { want + surge } else { 0 };
    let to_add = allowed - total;
    // Largest first; among equals the newest gains first and the oldest loses first.
    oldest_first(&mut sets);
    if to_add > 0 {
        sets.reverse();
    }
    sets.sort_by_key(|s| std::cmp::Reverse(s.replicas));
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = Vec::with_capacity(sets.len());
    for s in &sets {
        let p = if to_add != 0 {
            proportion(s, want, surge, status_replicas, to_add, added)
        } else {
            0
        };
        added += p;
        sizes.push((s.name.clone(), s.replicas + p));
    }
    if to_add != 0 {
        if let Some(first) = sizes.first_mut() {
            first.1 = (first.1 + to_add - added).max(0);
        }
    }
    sizes
}

/// How many of `to_add` (negative: remove) this ReplicaSet takes: its share of the new size,
/// from the size it was given for (`max-replicas`), bounded by what is left to hand out.
fn proportion(
    s: &SetView,
    want: i32,
    surge: i32,
    status_replicas: i32,
    to_add: i32,
    added: i32,
) -> i32 {
    if s.replicas == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let left = to_add - added;
    let fraction = if want == 0 {
        -s.replicas
    } else {
        let annotated = s.max.unwrap_or(status_replicas);
        if annotated == 0 {
            return left;
        }
        let size = f64::from(s.replicas) * f64::from(want + surge) / f64::from(annotated);
        round(size) - s.replicas
    };
    if to_add > 0 {
        fraction.min(left)
    } else {
        fraction.max(left)
    }
}

/// Go's `integer.RoundToInt32`: halves away from zero.
fn round(a: f64) -> i32 {
    if a < 0.0 {
        (a - 0.5) as i32
    } else {
        (a + 0.5) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::super::view::view;
    use super::*;

    fn with_max(mut v: SetView, max: i32) -> SetView {
        v.max = Some(max);
        v
    }

    #[test]
    fn one_active_set_takes_the_whole_count() {
        let new = view("new", 3, 3, 0);
        assert_eq!(
            plan(5, 1, 3, Some(&new), &[view("old", 0, 0, 10)], true),
            [("new".to_string(), 5)]
        );
        // Nothing active: the new set.
        let new = view("new", 0, 0, 0);
        assert_eq!(
            plan(2, 1, 0, Some(&new), &[], true),
            [("new".to_string(), 2)]
        );
    }

    #[test]
    fn mid_rollout_scaling_is_proportional() {
        // 10 wanted, surge 3 (max 13): old 8, new 5, both sized for 13. Scale to 20 (surge 5,
        // allowed 25): +12 spread 8:5.
        let old = with_max(view("old", 8, 8, 10), 13);
        let new = with_max(view("new", 5, 0, 0), 13);
        let mut got = plan(20, 5, 13, Some(&new), std::slice::from_ref(&old), true);
        got.sort();
        assert_eq!(got, [("new".to_string(), 10), ("old".to_string(), 15)]);
        // Scaling down to 0 empties both.
        let mut got = plan(0, 0, 13, Some(&new), &[old], true);
        got.sort();
        assert_eq!(got, [("new".to_string(), 0), ("old".to_string(), 0)]);
    }

    #[test]
    fn a_saturated_new_set_retires_the_old_ones() {
        let mut new = view("new", 3, 3, 0);
        new.desired = Some(3);
        let got = plan(3, 1, 4, Some(&new), &[view("old", 1, 1, 10)], true);
        assert_eq!(got, [("old".to_string(), 0)]);
    }
}
