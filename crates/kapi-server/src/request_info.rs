//! Method + URL → what the request is about, as Kubernetes' RequestInfo.
//!
//! Everything after this stage (authorization, audit, routing) judges these attributes rather
//! than re-parsing the URL, so the rules live here once.

/// What a request is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Whether the URL names an API resource (else a plain path like `/healthz`).
    pub is_resource: bool,
    /// The URL path.
    pub path: String,
    /// The Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection
    /// (or the lower-case HTTP method for non-resource requests).
    pub verb: String,
    /// `api` or `apis`.
    pub api_prefix: String,
    /// API group, empty for core.
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace, empty for cluster scope.
    pub namespace: String,
    /// Resource plural.
    pub resource: String,
    /// Subresource, e.g. `status`.
    pub subresource: String,
    /// Object name, empty for collections.
    pub name: String,
    /// Path segments after the subresource (proxy paths).
    pub rest: Vec<String>,
}

/// Subresources of a namespace that must not be read as resources inside it.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses `method` and `path`; `watch_param` is whether `?watch=true|1` was given.
pub fn parse(method: &str, path: &str, watch_param: bool) -> RequestInfo {
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: method.to_ascii_lowercase(),
        ..Default::default()
    };
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let mut rest: &[&str] = &parts;
    match rest.first() {
        Some(&"api") => {
            info.api_prefix = "api".into();
            rest = &rest[1..];
        }
        Some(&"apis") => {
            info.api_prefix = "apis".into();
            rest = &rest[1..];
            match rest.first() {
                Some(g) => {
                    info.group = (*g).to_string();
                    rest = &rest[1..];
                }
                None => return info,
            }
        }
        _ => return info,
    }
    match rest.first() {
        Some(v) => {
            info.version = (*v).to_string();
            rest = &rest[1..];
        }
        None => return info,
    }
    if rest.is_empty() {
        return info;
    }
    info.is_resource = true;
    let mut watch_prefix = false;
    if rest.first() == Some(&"watch") {
        watch_prefix = true;
        rest = &rest[1..];
    }
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        info.namespace = rest[1].to_string();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    if let Some(r) = rest.first() {
        info.resource = (*r).to_string();
    }
    if let Some(n) = rest.get(1) {
        info.name = (*n).to_string();
    }
    if let Some(s) = rest.get(2) {
        info.subresource = (*s).to_string();
    }
    info.rest = rest.iter().skip(3).map(|s| (*s).to_string()).collect();
    // A namespace object is cluster-scoped; upstream still reports its name as the namespace.
    if info.resource == "namespaces" && info.name.is_empty() {
        info.namespace.clear();
    }
    info.verb = match method {
        "GET" | "HEAD" if watch_prefix || (watch_param && info.name.is_empty()) => "watch",
        "GET" | "HEAD" if info.name.is_empty() => "list",
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if info.name.is_empty() => "deletecollection",
        "DELETE" => "delete",
        other => {
            return RequestInfo {
                verb: other.to_ascii_lowercase(),
                ..info
            }
        }
    }
    .to_string();
    if watch_param && !info.name.is_empty() && info.verb == "get" && info.subresource.is_empty() {
        info.verb = "watch".into();
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(method: &str, path: &str) -> RequestInfo {
        parse(method, path, false)
    }

    #[test]
    fn resource_urls() {
        let i = p("GET", "/api/v1/namespaces/default/pods/web/log");
        assert!(i.is_resource);
        assert_eq!(
            (
                i.verb.as_str(),
                i.group.as_str(),
                i.namespace.as_str(),
                i.resource.as_str(),
                i.name.as_str(),
                i.subresource.as_str()
            ),
            ("get", "", "default", "pods", "web", "log")
        );
        let i = p("GET", "/apis/apps/v1/deployments");
        assert_eq!(
            (i.verb.as_str(), i.group.as_str(), i.resource.as_str()),
            ("list", "apps", "deployments")
        );
        let i = parse("GET", "/api/v1/namespaces/default/configmaps", true);
        assert_eq!(i.verb, "watch");
        let i = p("GET", "/api/v1/watch/namespaces/default/configmaps");
        assert_eq!(
            (i.verb.as_str(), i.resource.as_str(), i.namespace.as_str()),
            ("watch", "configmaps", "default")
        );
        let i = p("DELETE", "/api/v1/namespaces/default/configmaps");
        assert_eq!(i.verb, "deletecollection");
    }

    #[test]
    fn namespaces_and_their_subresources() {
        let i = p("GET", "/api/v1/namespaces");
        assert_eq!(
            (i.resource.as_str(), i.namespace.as_str(), i.verb.as_str()),
            ("namespaces", "", "list")
        );
        let i = p("GET", "/api/v1/namespaces/kube-system");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str()),
            ("namespaces", "kube-system")
        );
        let i = p("PUT", "/api/v1/namespaces/x/finalize");
        assert_eq!(
            (
                i.resource.as_str(),
                i.name.as_str(),
                i.subresource.as_str(),
                i.verb.as_str()
            ),
            ("namespaces", "x", "finalize", "update")
        );
    }

    #[test]
    fn non_resource_urls() {
        for path in [
            "/healthz",
            "/api",
            "/apis",
            "/apis/apps",
            "/api/v1",
            "/apis/apps/v1",
            "/version",
        ] {
            let i = p("GET", path);
            assert!(!i.is_resource, "{path}");
            assert_eq!(i.verb, "get");
        }
    }
}
