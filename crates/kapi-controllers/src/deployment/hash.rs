//! The `pod-template-hash`: the name suffix of a Deployment's ReplicaSets and the label that
//! keeps their pods apart.
//!
//! As upstream's `ComputeHash`: FNV-32a over the pod template, then the collision count as
//! eight bytes (a little-endian u32 and four zeros), and the decimal digits of the sum mapped
//! onto the alphabet of `rand.SafeEncodeString` (no vowels, no look-alikes). Upstream feeds
//! the hasher a Go-specific dump of its struct; kapi feeds it the template's JSON with keys
//! sorted, which is as stable but not byte-identical, so the suffixes differ from those a real
//! cluster would pick for the same template. Nothing depends on the two agreeing: the
//! controller finds a Deployment's ReplicaSets by template, not by name.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label (and ReplicaSet name suffix) that tells a Deployment's revisions apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// `rand.SafeEncodeString`'s alphabet.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The hash of `template` with `collision_count`, rendered as upstream renders it.
pub fn compute(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    match serde_json::to_value(template) {
        Ok(v) => compute_value(&v, collision_count),
        Err(_) => compute_value(&Value::Null, collision_count),
    }
}

/// The same hash over any JSON document (a ControllerRevision's data).
pub fn compute_value(v: &Value, collision_count: Option<i32>) -> String {
    let mut bytes = Vec::new();
    canonical(v, &mut bytes);
    let mut h = Fnv32a::new();
    h.write(&bytes);
    if let Some(c) = collision_count {
        let mut extra = [0u8; 8];
        extra[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h.write(&extra);
    }
    safe_encode(&h.0.to_string())
}

/// `rand.SafeEncodeString`: each byte picks a letter of the alphabet.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// JSON with object keys sorted, so the bytes do not depend on field order.
fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(v, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// 32-bit FNV-1a.
struct Fnv32a(u32);

impl Fnv32a {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    fn new() -> Self {
        Self(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
}

/// Whether two templates are the same apart from the `pod-template-hash` label (upstream's
/// `EqualIgnoreHash`): how a Deployment recognises the ReplicaSet of its current template,
/// including an old one that `kubectl rollout undo` brought back.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    strip(a) == strip(b)
}

fn strip(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    let meta = t.metadata.get_or_insert_with(Default::default);
    if let Some(labels) = meta.labels.as_mut() {
        labels.remove(POD_TEMPLATE_HASH);
        if labels.is_empty() {
            meta.labels = None;
        }
    }
    if meta == &Default::default() {
        t.metadata = None;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let mut h = Fnv32a::new();
        assert_eq!(h.0, 0x811c_9dc5);
        h.write(b"a");
        assert_eq!(h.0, 0xe40c_292c);
        let mut h = Fnv32a::new();
        h.write(b"foobar");
        assert_eq!(h.0, 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_like_upstream() {
        // '0' is byte 48: 48 % 27 = 21 -> '4'; '6' is 54 % 27 = 0 -> 'b'; '9' -> 'f'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    fn template(image: &str, labels: &[(&str, &str)]) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            }),
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                containers: vec![k8s_openapi::api::core::v1::Container {
                    name: "c".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn the_hash_follows_the_template_and_the_collision_count() {
        let a = template("nginx:1", &[("app", "web")]);
        let b = template("nginx:2", &[("app", "web")]);
        assert_eq!(compute(&a, None), compute(&a.clone(), None));
        assert_ne!(compute(&a, None), compute(&b, None));
        assert_ne!(compute(&a, None), compute(&a, Some(1)));
        // Upstream writes nothing for a nil count, eight bytes for zero.
        assert_ne!(compute(&a, None), compute(&a, Some(0)));
        let h = compute(&a, None);
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(h.bytes().all(|c| ALPHANUMS.contains(&c)), "{h}");
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let d = template("nginx:1", &[("app", "web")]);
        let rs = template("nginx:1", &[("app", "web"), (POD_TEMPLATE_HASH, "abc")]);
        assert!(equal_ignore_hash(&d, &rs));
        assert!(!equal_ignore_hash(
            &template("nginx:2", &[("app", "web")]),
            &rs
        ));
    }
}
