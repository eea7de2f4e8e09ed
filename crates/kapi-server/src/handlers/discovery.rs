//! Discovery: `/api`, `/apis`, per-group and per-group-version documents, legacy and
//! aggregated (v2 and v2beta1, chosen by Accept), all derived from the resource table, plus
//! `metrics.k8s.io`, which upstream adds through aggregation and kapi serves itself.

use http::{header, HeaderValue, Response};
use kapi_api::resources::{self, ResourceDef};
use serde_json::{json, Value};

use crate::metrics;
use crate::response::{self, Body};
use crate::Server;

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Which aggregated discovery version the client accepts first, if any.
fn aggregated_version(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

/// `/api` or `/apis`.
pub fn root(server: &Server, path: &str, accept: &str) -> Response<Body> {
    let core = path == "/api";
    if let Some(version) = aggregated_version(accept) {
        let items: Vec<Value> = groups(core)
            .into_iter()
            .map(|(group, versions)| {
                json!({
                    "metadata": {"name": group, "creationTimestamp": null},
                    "versions": versions.iter().map(|v| json!({
                        "version": v,
                        "resources": in_group_version(group, v).map(aggregated_resource).collect::<Vec<_>>(),
                        "freshness": "Current",
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let body = json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{version}"),
            "metadata": {},
            "items": items,
        });
        let mut resp = response::json_value(200, &body);
        let ct = if version == "v2" {
            AGGREGATED_V2
        } else {
            AGGREGATED_V2BETA1
        };
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
        return resp;
    }
    let body = if core {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server.config.advertise_address()}],
        })
    } else {
        json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": groups(false).into_iter().map(|(g, vs)| api_group(g, &vs)).collect::<Vec<_>>(),
        })
    };
    let mut resp = response::json_value(200, &body);
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// Groups in discovery order with their versions (preferred first).
fn groups(core: bool) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for (g, v) in resources::group_versions() {
        if g.is_empty() != core {
            continue;
        }
        match out.iter_mut().find(|(name, _)| *name == g) {
            Some((_, vs)) => vs.push(v),
            None => out.push((g, vec![v])),
        }
    }
    if !core {
        out.push((metrics::GROUP, vec![metrics::VERSION]));
    }
    out
}

/// The table's resources of a group-version, or the metrics group's.
fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceDef> + 'a {
    resources::in_group_version(group, version).chain(
        metrics::RESOURCES
            .iter()
            .filter(move |r| r.group == group && r.version == version),
    )
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    let gv = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": gv(versions.first().copied().unwrap_or("v1")),
    })
}

/// The verbs discovery lists: a custom resource whose definition is being deleted can no longer
/// be created or changed, as upstream lists it.
fn verbs(r: &ResourceDef) -> &'static [&'static str] {
    match crate::crd::served(r) {
        Some(s) if s.terminating => &["delete", "deletecollection", "get", "list", "watch"],
        _ => r.verbs,
    }
}

fn aggregated_resource(r: &ResourceDef) -> Value {
    let mut v = json!({
        "resource": r.resource,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": verbs(r),
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        v["subresources"] = r
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                    "verbs": s.verbs,
                })
            })
            .collect();
    }
    v
}

/// `/apis/<group>` or `/api/v1` / `/apis/<group>/<version>`.
pub fn group_or_version(path: &str) -> Option<Response<Body>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "v1"] => Some(resource_list("", "v1")),
        ["apis", group] => {
            let (g, vs) = groups(false).into_iter().find(|(g, _)| g == group)?;
            let mut body = api_group(g, &vs);
            body["kind"] = json!("APIGroup");
            body["apiVersion"] = json!("v1");
            Some(response::json_value(200, &body))
        }
        ["apis", group, version] => {
            in_group_version(group, version).next()?;
            Some(resource_list(group, version))
        }
        _ => None,
    }
}

fn resource_list(group: &str, version: &str) -> Response<Body> {
    let mut list = Vec::new();
    for r in in_group_version(group, version) {
        let mut v = json!({
            "name": r.resource,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        list.push(v);
        for s in r.subresources {
            let mut sv = json!({
                "name": format!("{}/{}", r.resource, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if s.group != r.group || s.version != r.version {
                sv["group"] = json!(s.group);
                sv["version"] = json!(s.version);
            }
            list.push(sv);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    response::json_value(
        200,
        &json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": list,
        }),
    )
}
