//! The pod a Job creates from its template.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::{indexed, TRACKING_FINALIZER};
use crate::ownership;

/// A new pod: the template, the tracking finalizer, this Job as controller; in Indexed mode
/// the index as annotation, label, hostname and `JOB_COMPLETION_INDEX`, as upstream sets them.
pub fn pod_from_template(job: &Job, index: Option<i32>) -> Pod {
    let name = job.name_any();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut finalizers = tmeta.finalizers.unwrap_or_default();
    finalizers.push(TRACKING_FINALIZER.into());
    let mut labels = tmeta.labels.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    let generate_name = match index {
        Some(i) => {
            labels.insert(indexed::INDEX_KEY.into(), i.to_string());
            annotations.insert(indexed::INDEX_KEY.into(), i.to_string());
            spec.hostname = Some(format!("{name}-{i}"));
            let env = EnvVar {
                name: "JOB_COMPLETION_INDEX".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: format!("metadata.annotations['{}']", indexed::INDEX_KEY),
                    }),
                    ..Default::default()
                }),
            };
            let containers = spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten());
            for c in containers {
                let vars = c.env.get_or_insert_with(Vec::new);
                if !vars.iter().any(|v| v.name == env.name) {
                    vars.push(env.clone());
                }
            }
            format!("{name}-{i}-")
        }
        None => format!("{name}-"),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.namespace(),
            labels: (!labels.is_empty()).then_some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            finalizers: Some(finalizers),
            owner_references: Some(vec![ownership::controller_ref(
                &Job::api_version(&()),
                &Job::kind(&()),
                &job.metadata,
            )]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_pods_carry_their_index_and_the_tracking_finalizer() {
        let mut job = Job::default();
        job.metadata.name = Some("idx".into());
        job.metadata.uid = Some("u1".into());
        let mut spec = k8s_openapi::api::batch::v1::JobSpec::default();
        spec.template.spec = Some(k8s_openapi::api::core::v1::PodSpec {
            containers: vec![Default::default()],
            ..Default::default()
        });
        job.spec = Some(spec);
        let pod = pod_from_template(&job, Some(2));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("idx-2-"));
        assert_eq!(
            pod.metadata.finalizers,
            Some(vec![TRACKING_FINALIZER.to_string()])
        );
        let index = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(indexed::INDEX_KEY));
        assert_eq!(index.map(String::as_str), Some("2"));
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.hostname.as_deref(), Some("idx-2"));
        let env = spec.containers[0].env.as_deref().unwrap_or_default();
        assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
        let owner = &pod.metadata.owner_references.expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
        let plain = pod_from_template(&job, None);
        assert_eq!(plain.metadata.generate_name.as_deref(), Some("idx-"));
        assert!(plain.metadata.annotations.is_none());
    }
}
