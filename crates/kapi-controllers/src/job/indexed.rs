//! Indexed completion mode: which indexes are done, which to start next, and the compact
//! interval form (`1,3-5,7`) upstream writes to `status.completedIndexes`.

use std::collections::BTreeSet;

/// The label and annotation that carry a pod's completion index.
pub const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// Parses `status.completedIndexes`; entries outside `0..completions` or unreadable are
/// dropped, as upstream drops them.
pub fn parse(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        if let (Ok(lo), Ok(hi)) = (lo, hi) {
            out.extend((lo.max(0)..=hi.min(completions - 1)).filter(|i| *i >= lo));
        }
    }
    out
}

/// Writes indexes as sorted intervals: `0-2,5`.
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for &i in indexes {
        run = match run {
            Some((lo, hi)) if i == hi + 1 => Some((lo, i)),
            Some(r) => {
                parts.push(interval(r));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some(r) = run {
        parts.push(interval(r));
    }
    parts.join(",")
}

fn interval((lo, hi): (i32, i32)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// The lowest `n` indexes that are neither completed nor held by an active pod.
pub fn next_pending(
    completions: i32,
    completed: &BTreeSet<i32>,
    active: &BTreeSet<i32>,
    n: usize,
) -> Vec<i32> {
    (0..completions)
        .filter(|i| !completed.contains(i) && !active.contains(i))
        .take(n)
        .collect()
}

/// A pod's completion index, from its annotation (upstream reads the annotation first).
pub fn of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<i32> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_KEY))
        .or_else(|| meta.labels.as_ref().and_then(|l| l.get(INDEX_KEY)))
        .and_then(|v| v.parse().ok())
        .filter(|i| *i >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_trip() {
        let set: BTreeSet<i32> = [0, 1, 2, 5, 7, 8].into();
        assert_eq!(format(&set), "0-2,5,7-8");
        assert_eq!(parse("0-2,5,7-8", 10), set);
        assert_eq!(format(&BTreeSet::new()), "");
    }

    #[test]
    fn out_of_range_and_garbage_are_dropped() {
        assert_eq!(parse("1,x,3-9", 5), [1, 3, 4].into());
        assert_eq!(parse("", 5), BTreeSet::new());
    }

    #[test]
    fn pending_indexes_skip_completed_and_running_ones() {
        let completed: BTreeSet<i32> = [0, 2].into();
        let active: BTreeSet<i32> = [1].into();
        assert_eq!(next_pending(5, &completed, &active, 2), vec![3, 4]);
        assert_eq!(next_pending(3, &completed, &active, 2), Vec::<i32>::new());
    }
}
