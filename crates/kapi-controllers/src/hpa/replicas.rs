//! The replica calculator: from pods, their requests and their measured usage, how many
//! replicas would bring a resource metric to its target — upstream's arithmetic, including its
//! caution with pods that are not ready or have no sample yet.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::chrono::{DateTime, TimeDelta, Utc};

/// Upstream's `--horizontal-pod-autoscaler-tolerance`: ratios within 10% of 1 change nothing.
pub const TOLERANCE: f64 = 0.1;
/// A pod this young may still be warming up; its CPU samples are trusted only once it is ready
/// and a whole metric window has passed since (`--horizontal-pod-autoscaler-cpu-initialization-period`).
const CPU_INITIALIZATION_PERIOD: TimeDelta = TimeDelta::minutes(5);
/// A pod that turned unready within this long of starting is taken as never ready yet
/// (`--horizontal-pod-autoscaler-initial-readiness-delay`).
const INITIAL_READINESS_DELAY: TimeDelta = TimeDelta::seconds(30);

/// Why no replica count could be computed; messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    /// The selector matched no pod.
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    /// Every pod with a sample was unready or ignored.
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoReadyMetrics,
    /// A container of a selected pod has no request for the resource, so utilization has no
    /// denominator.
    #[error("missing request for {resource} in container {container} of Pod {pod}")]
    MissingRequest {
        /// `cpu` or `memory`.
        resource: String,
        /// The container.
        container: String,
        /// The pod.
        pod: String,
    },
    /// No sample belonged to a pod with known requests.
    #[error("no metrics returned matched known pods")]
    NoMatchingMetrics,
}

/// A pod's `Ready` condition.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    /// Whether the condition is `True`.
    pub ready: bool,
    /// When it last changed.
    pub since: DateTime<Utc>,
}

/// What the calculator needs of one selected pod.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod's name, which keys the samples.
    pub name: String,
    /// `status.phase`.
    pub phase: String,
    /// Whether it is being deleted.
    pub deleting: bool,
    /// The `Ready` condition, if reported.
    pub readiness: Option<Readiness>,
    /// `status.startTime`.
    pub start_time: Option<DateTime<Utc>>,
    /// Per container (and restartable init container): its name and its request for the
    /// resource in milli-units, if any.
    pub requests: Vec<(String, Option<i64>)>,
}

/// One pod's usage of the resource, summed over its containers, in milli-units.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// The usage.
    pub value: i64,
    /// When the sample's window ended.
    pub timestamp: DateTime<Utc>,
    /// How long the sample's window was.
    pub window: Duration,
}

/// The pods sorted as upstream sorts them before trusting their samples.
#[derive(Debug, Default)]
struct Groups {
    ready: usize,
    unready: HashSet<String>,
    missing: HashSet<String>,
    ignored: HashSet<String>,
}

fn group(
    pods: &[PodInfo],
    samples: &HashMap<String, Sample>,
    cpu: bool,
    now: DateTime<Utc>,
) -> Groups {
    let mut g = Groups::default();
    for pod in pods {
        if pod.deleting || pod.phase == "Failed" {
            g.ignored.insert(pod.name.clone());
            continue;
        }
        if pod.phase == "Pending" {
            g.unready.insert(pod.name.clone());
            continue;
        }
        let Some(sample) = samples.get(&pod.name) else {
            g.missing.insert(pod.name.clone());
            continue;
        };
        if cpu && cpu_unready(pod, sample, now) {
            g.unready.insert(pod.name.clone());
            continue;
        }
        g.ready += 1;
    }
    g
}

/// Whether a CPU sample of `pod` may be skewed by start-up (upstream's rule).
fn cpu_unready(pod: &PodInfo, sample: &Sample, now: DateTime<Utc>) -> bool {
    let (Some(readiness), Some(start)) = (pod.readiness, pod.start_time) else {
        return true;
    };
    if start + CPU_INITIALIZATION_PERIOD > now {
        let window = TimeDelta::from_std(sample.window).unwrap_or_default();
        !readiness.ready || sample.timestamp < readiness.since + window
    } else {
        !readiness.ready && start + INITIAL_READINESS_DELAY > readiness.since
    }
}

/// Each pod's total request; an error names the first container without one.
fn requests(pods: &[PodInfo], resource: &str) -> Result<HashMap<String, i64>, CalcError> {
    let mut out = HashMap::new();
    for pod in pods {
        let mut sum = 0i64;
        for (container, request) in &pod.requests {
            match request {
                Some(r) => sum = sum.saturating_add(*r),
                None => {
                    return Err(CalcError::MissingRequest {
                        resource: resource.to_string(),
                        container: container.clone(),
                        pod: pod.name.clone(),
                    })
                }
            }
        }
        out.insert(pod.name.clone(), sum);
    }
    Ok(out)
}

/// Utilization of the samples against the requests: (usage ratio to target, utilization
/// percent, average usage per pod).
fn utilization_ratio(
    samples: &HashMap<String, i64>,
    requests: &HashMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), CalcError> {
    let (mut used, mut requested, mut n) = (0i64, 0i64, 0i64);
    for (pod, value) in samples {
        let Some(request) = requests.get(pod) else {
            continue;
        };
        used = used.saturating_add(*value);
        requested = requested.saturating_add(*request);
        n += 1;
    }
    if requested == 0 {
        return Err(CalcError::NoMatchingMetrics);
    }
    let utilization = i32::try_from(used.saturating_mul(100) / requested).unwrap_or(i32::MAX);
    Ok((
        f64::from(utilization) / f64::from(target),
        utilization,
        used / n,
    ))
}

fn within_tolerance(ratio: f64) -> bool {
    (1.0 - ratio).abs() <= TOLERANCE
}

fn ceil_replicas(x: f64) -> i32 {
    // Replica counts are far below i32::MAX; `as` saturates if not.
    x.ceil() as i32
}

/// The outcome of a Utilization target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utilization {
    /// The proposed replica count.
    pub replicas: i32,
    /// The current average utilization, in percent of requests.
    pub percent: i32,
    /// The current average usage per pod, in milli-units.
    pub average: i64,
}

/// The samples of the pods that count at first: neither ignored nor unready.
fn ready_values(
    pods: &[PodInfo],
    samples: &HashMap<String, Sample>,
    g: &Groups,
) -> Result<HashMap<String, i64>, CalcError> {
    let values: HashMap<String, i64> = samples
        .iter()
        .filter(|(p, _)| !g.ignored.contains(*p) && !g.unready.contains(*p))
        .filter(|(p, _)| pods.iter().any(|pod| &pod.name == *p))
        .map(|(p, s)| (p.clone(), s.value))
        .collect();
    if values.is_empty() {
        return Err(CalcError::NoReadyMetrics);
    }
    Ok(values)
}

/// Upstream's replica count from a first usage `ratio` over the ready samples in `values`,
/// shared by both target types: without unready pods to scale up past and without missing
/// samples, the ratio decides; otherwise pods without a sample are assumed at `down_value` on
/// the way down (0 on the way up), unready pods at 0 on the way up, and the count is kept
/// when that assumption would reverse or cancel the change.
fn corrected_replicas(
    current: i32,
    g: &Groups,
    ratio: f64,
    mut values: HashMap<String, i64>,
    ratio_of: impl Fn(&HashMap<String, i64>) -> Result<f64, CalcError>,
    down_value: impl Fn(&str) -> i64,
) -> Result<i32, CalcError> {
    let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && g.missing.is_empty() {
        if within_tolerance(ratio) {
            return Ok(current);
        }
        return Ok(ceil_replicas(ratio * g.ready as f64));
    }
    if ratio != 1.0 {
        for pod in &g.missing {
            let value = if ratio < 1.0 { down_value(pod) } else { 0 };
            values.insert(pod.clone(), value);
        }
    }
    if scale_up_with_unready {
        for pod in &g.unready {
            values.insert(pod.clone(), 0);
        }
    }
    let new_ratio = ratio_of(&values)?;
    if within_tolerance(new_ratio)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(current);
    }
    let replicas = ceil_replicas(new_ratio * values.len() as f64);
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(current);
    }
    Ok(replicas)
}

/// Replicas for an average-utilization target (`target` percent of requests).
pub fn utilization_replicas(
    current: i32,
    target: i32,
    resource: &str,
    pods: &[PodInfo],
    samples: &HashMap<String, Sample>,
    now: DateTime<Utc>,
) -> Result<Utilization, CalcError> {
    if pods.is_empty() {
        return Err(CalcError::NoPods);
    }
    let g = group(pods, samples, resource == "cpu", now);
    let values = ready_values(pods, samples, &g)?;
    let requests = requests(pods, resource)?;
    let (ratio, percent, average) = utilization_ratio(&values, &requests, target)?;
    // On the way down, a pod without a sample uses its whole request (or the target, if
    // above 100%).
    let fallback = i64::from(target.max(100));
    let replicas = corrected_replicas(
        current,
        &g,
        ratio,
        values,
        |values| utilization_ratio(values, &requests, target).map(|(r, _, _)| r),
        |pod| requests.get(pod).copied().unwrap_or(0) * fallback / 100,
    )?;
    Ok(Utilization {
        replicas,
        percent,
        average,
    })
}

/// Replicas for an average-value target (`target` milli-units per pod): (replicas, current
/// average usage per pod in milli-units).
pub fn average_value_replicas(
    current: i32,
    target: i64,
    resource: &str,
    pods: &[PodInfo],
    samples: &HashMap<String, Sample>,
    now: DateTime<Utc>,
) -> Result<(i32, i64), CalcError> {
    if pods.is_empty() {
        return Err(CalcError::NoPods);
    }
    let g = group(pods, samples, resource == "cpu", now);
    let values = ready_values(pods, samples, &g)?;
    let ratio_of = |values: &HashMap<String, i64>| {
        let total: i64 = values.values().sum();
        total as f64 / values.len().max(1) as f64 / target.max(1) as f64
    };
    let average = values.values().sum::<i64>() / values.len().max(1) as i64;
    let ratio = ratio_of(&values);
    // On the way down, a pod without a sample is assumed at the target.
    let replicas = corrected_replicas(
        current,
        &g,
        ratio,
        values,
        |values| Ok(ratio_of(values)),
        |_| target,
    )?;
    Ok((replicas, average))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// A running pod, ready for an hour, started long ago, requesting `request` milli-CPU.
    fn pod(name: &str, request: Option<i64>) -> PodInfo {
        PodInfo {
            name: name.into(),
            phase: "Running".into(),
            deleting: false,
            readiness: Some(Readiness {
                ready: true,
                since: now() - TimeDelta::hours(1),
            }),
            start_time: Some(now() - TimeDelta::hours(2)),
            requests: vec![("main".into(), request)],
        }
    }

    fn samples(values: &[(&str, i64)]) -> HashMap<String, Sample> {
        values
            .iter()
            .map(|(p, v)| {
                (
                    p.to_string(),
                    Sample {
                        value: *v,
                        timestamp: now() - TimeDelta::seconds(10),
                        window: Duration::from_secs(15),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn utilization_scales_by_the_ratio_to_the_target() {
        let pods = [pod("a", Some(100)), pod("b", Some(100))];
        // 90% average against 50%: 1.8 × 2 pods → 4.
        let u = utilization_replicas(
            2,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 80), ("b", 100)]),
            now(),
        )
        .unwrap();
        assert_eq!(
            u,
            Utilization {
                replicas: 4,
                percent: 90,
                average: 90
            }
        );
        // 20% against 50%: 0.4 × 2 → 1.
        let u = utilization_replicas(
            2,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 20), ("b", 20)]),
            now(),
        )
        .unwrap();
        assert_eq!(u.replicas, 1);
    }

    #[test]
    fn a_ratio_within_the_tolerance_keeps_the_count() {
        let pods = [pod("a", Some(100)), pod("b", Some(100))];
        // 54% against 50% is a ratio of 1.08: within 10%.
        let u = utilization_replicas(
            2,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 54), ("b", 54)]),
            now(),
        )
        .unwrap();
        assert_eq!((u.replicas, u.percent), (2, 54));
        // 56% is 1.12: outside, so 1.12 × 2 → 3.
        let u = utilization_replicas(
            2,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 56), ("b", 56)]),
            now(),
        )
        .unwrap();
        assert_eq!(u.replicas, 3);
    }

    #[test]
    fn missing_samples_count_against_the_direction_of_scaling() {
        let pods = [
            pod("a", Some(100)),
            pod("b", Some(100)),
            pod("c", Some(100)),
        ];
        // Up: a and b at 100% vs 50%; c has no sample and counts as 0% → 200/300 = 66% → ratio
        // 1.32 over 3 pods → 4.
        let u = utilization_replicas(
            3,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 100), ("b", 100)]),
            now(),
        )
        .unwrap();
        assert_eq!(u.replicas, 4);
        assert_eq!(u.percent, 100, "status reports the measured pods only");
        // Down: a and b at 10%; c counts as using its whole request → 120/300 = 40% → 0.8 × 3
        // → 3: no scale-down on a guess.
        let u = utilization_replicas(
            3,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 10), ("b", 10)]),
            now(),
        )
        .unwrap();
        assert_eq!(u.replicas, 3);
    }

    #[test]
    fn unready_pods_count_as_idle_on_the_way_up() {
        let mut starting = pod("c", Some(100));
        starting.phase = "Pending".into();
        let pods = [pod("a", Some(100)), pod("b", Some(100)), starting];
        // a, b at 60% vs 50% (1.2); with c at 0: 120/300 = 40% → ratio 0.8, the other way: keep.
        let u = utilization_replicas(
            3,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 60), ("b", 60)]),
            now(),
        )
        .unwrap();
        assert_eq!(u.replicas, 3);
        // At 150% (3.0) even with c idle it is 100% (2.0) → 2.0 × 3 → 6.
        let u = utilization_replicas(
            3,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 150), ("b", 150)]),
            now(),
        )
        .unwrap();
        assert_eq!(u.replicas, 6);
    }

    #[test]
    fn a_cpu_sample_taken_before_the_pod_was_ready_for_a_window_is_skipped() {
        let mut fresh = pod("a", Some(100));
        fresh.start_time = Some(now() - TimeDelta::seconds(60));
        fresh.readiness = Some(Readiness {
            ready: true,
            since: now() - TimeDelta::seconds(20),
        });
        let err = utilization_replicas(
            1,
            50,
            "cpu",
            &[fresh.clone()],
            &samples(&[("a", 90)]),
            now(),
        )
        .unwrap_err();
        assert_eq!(err, CalcError::NoReadyMetrics);
        // Memory samples are trusted regardless.
        assert!(
            utilization_replicas(1, 50, "memory", &[fresh], &samples(&[("a", 90)]), now()).is_ok()
        );
    }

    #[test]
    fn a_container_without_a_request_fails_with_upstreams_message() {
        let pods = [pod("a", Some(100)), pod("b", None)];
        let err = utilization_replicas(
            2,
            50,
            "cpu",
            &pods,
            &samples(&[("a", 80), ("b", 80)]),
            now(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing request for cpu in container main of Pod b"
        );
        assert_eq!(
            utilization_replicas(1, 50, "cpu", &[], &samples(&[]), now()).unwrap_err(),
            CalcError::NoPods
        );
    }

    #[test]
    fn average_value_scales_by_usage_per_pod() {
        let pods = [pod("a", None), pod("b", None)];
        // 300m average against 100m: 3 × 2 → 6, requests are not needed.
        let (replicas, average) = average_value_replicas(
            2,
            100,
            "cpu",
            &pods,
            &samples(&[("a", 200), ("b", 400)]),
            now(),
        )
        .unwrap();
        assert_eq!((replicas, average), (6, 300));
        let (replicas, _) = average_value_replicas(
            2,
            100,
            "cpu",
            &pods,
            &samples(&[("a", 105), ("b", 105)]),
            now(),
        )
        .unwrap();
        assert_eq!(replicas, 2, "within tolerance");
    }
}
