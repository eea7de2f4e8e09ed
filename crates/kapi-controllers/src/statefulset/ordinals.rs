//! A StatefulSet pod's identity: its name `<set>-<ordinal>` and the labels and hostname that
//! go with it, so that pods keep a stable name (and DNS entry under the governing Service)
//! across rescheduling.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

/// The pod-name label, so a Service can select exactly one member.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The ordinal as a label.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The revision a pod was made from (its ControllerRevision's name, for a StatefulSet).
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The name of the pod with `ordinal`.
pub fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// The ordinal of a member pod of `set`; `None` for a name that is not `<set>-<ordinal>` in
/// the canonical spelling (which a stray pod could otherwise use to shadow a member).
pub fn ordinal_of(set: &str, pod: &str) -> Option<i32> {
    let digits = pod.strip_prefix(set)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i32 = digits.parse().ok()?;
    (pod_name(set, n) == pod).then_some(n)
}

/// Gives `pod` the identity of member `ordinal`: name, labels, hostname and subdomain (the
/// governing Service), as upstream's `updateIdentity`.
pub fn set_identity(pod: &mut Pod, set: &str, service: Option<&str>, ordinal: i32) {
    let name = pod_name(set, ordinal);
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    pod.metadata.name = Some(name.clone());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name);
    spec.subdomain = service.filter(|s| !s.is_empty()).map(str::to_string);
}

/// The identity labels member `ordinal` lacks or has wrong, as a label map to merge in; `None`
/// when they are right. Only labels are repaired: an adopted pod's hostname and subdomain
/// cannot change once it exists.
pub fn missing_labels(pod: &Pod, set: &str, ordinal: i32) -> Option<BTreeMap<String, String>> {
    let want: BTreeMap<String, String> = [
        (POD_NAME_LABEL.to_string(), pod_name(set, ordinal)),
        (POD_INDEX_LABEL.to_string(), ordinal.to_string()),
    ]
    .into();
    let have = pod.metadata.labels.clone().unwrap_or_default();
    let wrong: BTreeMap<String, String> = want
        .into_iter()
        .filter(|(k, v)| have.get(k) != Some(v))
        .collect();
    (!wrong.is_empty()).then_some(wrong)
}

/// The revision label of a pod, if any.
pub fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_LABEL)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ordinals_round_trip_and_strays_are_refused() {
        assert_eq!(pod_name("web", 3), "web-3");
        assert_eq!(ordinal_of("web", "web-3"), Some(3));
        assert_eq!(ordinal_of("web", "web-10"), Some(10));
        assert_eq!(ordinal_of("web", "web-03"), None);
        assert_eq!(ordinal_of("web", "web-"), None);
        assert_eq!(ordinal_of("web", "web-x"), None);
        assert_eq!(ordinal_of("web", "webby-1"), None);
        assert_eq!(ordinal_of("web", "web-1-2"), None);
        assert_eq!(ordinal_of("web-1", "web-1-2"), Some(2));
        assert_eq!(ordinal_of("web", "web-99999999999"), None);
    }

    #[test]
    fn identity_sets_labels_hostname_and_subdomain() {
        let mut pod = Pod::default();
        set_identity(&mut pod, "web", Some("nginx"), 2);
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-2");
        assert_eq!(labels[POD_INDEX_LABEL], "2");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        assert_eq!(missing_labels(&pod, "web", 2), None);
        pod.metadata.labels = Some([(POD_INDEX_LABEL.to_string(), "7".to_string())].into());
        let wrong = missing_labels(&pod, "web", 2).unwrap();
        assert_eq!(wrong[POD_INDEX_LABEL], "2");
        assert_eq!(wrong[POD_NAME_LABEL], "web-2");
    }
}
