//! A container's environment, as kubelet builds it: the Service variables (per
//! `enableServiceLinks`, the `kubernetes` Service's always), then `envFrom`, then `env`, each
//! later one overriding, with `$(VAR)` expansion against what came before.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, Service};

/// ConfigMap or Secret data by name, already fetched (Secret values decoded).
pub type DataByName = BTreeMap<String, BTreeMap<String, String>>;

/// What the variables may refer to.
pub struct EnvSources<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// The node's name and address.
    pub node_name: &'a str,
    /// `status.hostIP`.
    pub host_ip: &'a str,
    /// `status.podIP`.
    pub pod_ip: &'a str,
    /// Services whose variables the container gets (the pod's namespace's, and `kubernetes`
    /// from `default`).
    pub services: &'a [Service],
    /// ConfigMaps the pod names that exist.
    pub config_maps: &'a DataByName,
    /// Secrets the pod names that exist.
    pub secrets: &'a DataByName,
    /// The node's allocatable CPU (milli) and memory (bytes), the default for limits.
    pub allocatable: (i128, i128),
}

/// Why a container's environment cannot be built (kubelet's CreateContainerConfigError).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvError {
    /// A referenced ConfigMap or Secret does not exist.
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        /// `configmap` or `secret`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A referenced key is missing.
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    MissingKey {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The key.
        key: String,
    },
    /// A fieldRef or resourceFieldRef this node does not support.
    #[error("unsupported {0}")]
    Unsupported(String),
}

/// The container's variables, in order, names unique.
pub fn container_env(
    c: &Container,
    src: &EnvSources<'_>,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| {
        if let Some(slot) = vars.iter_mut().find(|(name, _)| *name == k) {
            slot.1 = v;
        } else {
            vars.push((k, v));
        }
    };
    let links = src
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let namespace = src.pod.metadata.namespace.as_deref().unwrap_or("default");
    for svc in src.services {
        let svc_ns = svc.metadata.namespace.as_deref().unwrap_or("");
        let is_master = svc_ns == "default" && svc.metadata.name.as_deref() == Some("kubernetes");
        if (links && svc_ns == namespace) || is_master {
            for (k, v) in service_vars(svc) {
                set(&mut vars, k, v);
            }
        }
    }
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (data, kind, name, optional) = if let Some(r) = &from.config_map_ref {
            (
                src.config_maps.get(&r.name),
                "configmap",
                &r.name,
                r.optional,
            )
        } else if let Some(r) = &from.secret_ref {
            (src.secrets.get(&r.name), "secret", &r.name, r.optional)
        } else {
            continue;
        };
        match data {
            Some(data) => {
                for (k, v) in data {
                    set(&mut vars, format!("{prefix}{k}"), v.clone());
                }
            }
            None if optional == Some(true) => {}
            None => {
                return Err(EnvError::NotFound {
                    kind,
                    name: name.clone(),
                })
            }
        }
    }
    for var in c.env.iter().flatten() {
        if let Some(value) = env_value(var, c, src, namespace, &vars)? {
            set(&mut vars, var.name.clone(), value);
        }
    }
    Ok(vars)
}

fn env_value(
    var: &EnvVar,
    c: &Container,
    src: &EnvSources<'_>,
    namespace: &str,
    vars: &[(String, String)],
) -> Result<Option<String>, EnvError> {
    let Some(from) = &var.value_from else {
        return Ok(Some(expand(var.value.as_deref().unwrap_or(""), vars)));
    };
    let lookup = |data: &DataByName,
                  kind: &'static str,
                  lower: &'static str,
                  name: &str,
                  key: &str,
                  optional: Option<bool>| {
        match data.get(name) {
            None if optional == Some(true) => Ok(None),
            None => Err(EnvError::NotFound {
                kind: lower,
                name: name.to_string(),
            }),
            Some(d) => match d.get(key) {
                Some(v) => Ok(Some(v.clone())),
                None if optional == Some(true) => Ok(None),
                None => Err(EnvError::MissingKey {
                    kind,
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    key: key.to_string(),
                }),
            },
        }
    };
    if let Some(r) = &from.config_map_key_ref {
        return lookup(
            src.config_maps,
            "ConfigMap",
            "configmap",
            &r.name,
            &r.key,
            r.optional,
        );
    }
    if let Some(r) = &from.secret_key_ref {
        return lookup(src.secrets, "Secret", "secret", &r.name, &r.key, r.optional);
    }
    if let Some(f) = &from.field_ref {
        return field_value(&f.field_path, src).map(Some);
    }
    if let Some(r) = &from.resource_field_ref {
        let res = c.resources.as_ref();
        let pick = |which: &str| {
            let map = if which == "limits" {
                res.and_then(|r| r.limits.as_ref())
            } else {
                res.and_then(|r| r.requests.as_ref())
            };
            map.and_then(|m| m.get(r.resource.split_once('.').map_or("", |x| x.1)))
                .and_then(|q| kapi_api::quantity::parse_milli(&q.0))
        };
        let divisor = r
            .divisor
            .as_ref()
            .and_then(|d| kapi_api::quantity::parse_milli(&d.0))
            .filter(|d| *d > 0);
        let (milli, default_divisor) = match r.resource.as_str() {
            "limits.cpu" => (pick("limits").unwrap_or(src.allocatable.0), 1000),
            "requests.cpu" => (pick("requests").unwrap_or(0), 1000),
            "limits.memory" => (pick("limits").unwrap_or(src.allocatable.1 * 1000), 1000),
            "requests.memory" => (pick("requests").unwrap_or(0), 1000),
            other => return Err(EnvError::Unsupported(format!("resourceFieldRef {other}"))),
        };
        let divisor = divisor.unwrap_or(default_divisor);
        return Ok(Some(((milli + divisor - 1) / divisor).to_string()));
    }
    Ok(None)
}

/// A downward-API field of the pod (env `fieldRef` and downwardAPI volumes share these).
pub fn field_value(path: &str, src: &EnvSources<'_>) -> Result<String, EnvError> {
    let meta = &src.pod.metadata;
    let spec = src.pod.spec.as_ref();
    let from_map = |m: Option<&BTreeMap<String, String>>, key: &str| {
        m.and_then(|m| m.get(key)).cloned().unwrap_or_default()
    };
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => src.node_name.to_string(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => src.host_ip.to_string(),
        "status.podIP" | "status.podIPs" => src.pod_ip.to_string(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        p => {
            if let Some(key) = label_key(p, "metadata.labels") {
                from_map(meta.labels.as_ref(), &key)
            } else if let Some(key) = label_key(p, "metadata.annotations") {
                from_map(meta.annotations.as_ref(), &key)
            } else {
                return Err(EnvError::Unsupported(format!("fieldPath {p}")));
            }
        }
    })
}

/// `metadata.labels['key']` → `key`.
fn label_key(path: &str, prefix: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix)?.strip_prefix("['")?;
    rest.strip_suffix("']").map(str::to_string)
}

/// Labels or annotations as the downward API writes them: `key="value"` lines, sorted.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Docker-links-style variables of one Service with a cluster IP.
pub fn service_vars(svc: &Service) -> Vec<(String, String)> {
    let Some(spec) = &svc.spec else {
        return vec![];
    };
    let Some(ip) = spec
        .cluster_ip
        .as_deref()
        .filter(|ip| !ip.is_empty() && *ip != "None")
    else {
        return vec![];
    };
    let name = svc
        .metadata
        .name
        .as_deref()
        .unwrap_or_default()
        .to_ascii_uppercase()
        .replace('-', "_");
    let ports = spec.ports.as_deref().unwrap_or_default();
    let Some(first) = ports.first() else {
        return vec![];
    };
    let mut out = vec![
        (format!("{name}_SERVICE_HOST"), ip.to_string()),
        (format!("{name}_SERVICE_PORT"), first.port.to_string()),
    ];
    for p in ports {
        if let Some(pname) = p.name.as_deref().filter(|n| !n.is_empty()) {
            out.push((
                format!(
                    "{name}_SERVICE_PORT_{}",
                    pname.to_ascii_uppercase().replace('-', "_")
                ),
                p.port.to_string(),
            ));
        }
    }
    let proto = |p: &k8s_openapi::api::core::v1::ServicePort| {
        p.protocol.clone().unwrap_or_else(|| "TCP".into())
    };
    out.push((
        format!("{name}_PORT"),
        format!(
            "{}://{ip}:{}",
            proto(first).to_ascii_lowercase(),
            first.port
        ),
    ));
    for p in ports {
        let proto = proto(p);
        let prefix = format!("{name}_PORT_{}_{}", p.port, proto.to_ascii_uppercase());
        out.push((
            prefix.clone(),
            format!("{}://{ip}:{}", proto.to_ascii_lowercase(), p.port),
        ));
        out.push((format!("{prefix}_PROTO"), proto.to_ascii_lowercase()));
        out.push((format!("{prefix}_PORT"), p.port.to_string()));
        out.push((format!("{prefix}_ADDR"), ip.to_string()));
    }
    out
}

/// `$(VAR)` expansion as kubelet does it: defined names are replaced, `$$` is a literal `$`,
/// anything else is left as written.
pub fn expand(input: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match vars.iter().rev().find(|(k, _)| k == name) {
                        Some((_, v)) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "team", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c"}], "serviceAccountName": "sa"}
        }))
        .unwrap()
    }

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}
        }))
        .unwrap()
    }

    fn sources<'a>(
        pod: &'a Pod,
        services: &'a [Service],
        cms: &'a DataByName,
        secrets: &'a DataByName,
    ) -> EnvSources<'a> {
        EnvSources {
            pod,
            node_name: "n1",
            host_ip: "10.0.0.5",
            pod_ip: "10.244.0.7",
            services,
            config_maps: cms,
            secrets,
            allocatable: (2000, 1 << 30),
        }
    }

    #[test]
    fn kubernetes_service_variables_are_always_there() {
        let p = pod();
        let services = [
            svc(
                "default",
                "kubernetes",
                "10.96.0.1",
                json!([{"name": "https", "port": 443}]),
            ),
            svc("default", "other", "10.96.0.9", json!([{"port": 80}])),
            svc(
                "team",
                "web-api",
                "10.96.0.20",
                json!([{"port": 8080, "protocol": "TCP"}]),
            ),
        ];
        let empty = DataByName::new();
        let c: Container = serde_json::from_value(json!({"name": "c"})).unwrap();
        let env: BTreeMap<_, _> = container_env(&c, &sources(&p, &services, &empty, &empty))
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "10.96.0.1");
        assert_eq!(env["KUBERNETES_SERVICE_PORT"], "443");
        assert_eq!(env["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
        assert_eq!(env["KUBERNETES_PORT"], "tcp://10.96.0.1:443");
        assert_eq!(env["KUBERNETES_PORT_443_TCP_ADDR"], "10.96.0.1");
        assert_eq!(env["WEB_API_SERVICE_HOST"], "10.96.0.20");
        assert!(
            !env.contains_key("OTHER_SERVICE_HOST"),
            "other namespaces' services are not linked"
        );
    }

    #[test]
    fn env_sources_refs_and_expansion() {
        let p = pod();
        let cms = DataByName::from([(
            "cfg".into(),
            BTreeMap::from([("mode".into(), "fast".into())]),
        )]);
        let secrets = DataByName::from([(
            "s".into(),
            BTreeMap::from([("pw".into(), "hunter2".into())]),
        )]);
        let c: Container = serde_json::from_value(json!({"name": "c",
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
            "env": [
                {"name": "A", "value": "x"},
                {"name": "B", "value": "$(A)-$(NOPE)-$$(A)"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "none", "key": "k", "optional": true}}},
            ]})).unwrap();
        let env: BTreeMap<_, _> = container_env(&c, &sources(&p, &[], &cms, &secrets))
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(env["CFG_mode"], "fast");
        assert_eq!(env["B"], "x-$(NOPE)-$(A)");
        assert_eq!(env["POD"], "p");
        assert_eq!(env["APP"], "web");
        assert_eq!(env["PW"], "hunter2");
        assert_eq!(env["CPU"], "2");
        assert!(!env.contains_key("OPT"));
        let missing: Container = serde_json::from_value(json!({"name": "c",
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "absent"}}}]})).unwrap();
        assert_eq!(
            container_env(&missing, &sources(&p, &[], &cms, &secrets))
                .unwrap_err()
                .to_string(),
            "couldn't find key absent in ConfigMap team/cfg"
        );
    }
}
