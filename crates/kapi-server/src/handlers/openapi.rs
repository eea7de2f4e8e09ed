//! OpenAPI v3: the index and one document per group-version.
//!
//! kubectl needs these to `apply` and `create -f` with its default validation: each document
//! declares, per kind, a PATCH operation carrying `x-kubernetes-group-version-kind` and the
//! `fieldValidation` parameter, so kubectl leaves validation to the server. Strategic merge
//! patch is deliberately not advertised, so kubectl computes apply patches from the types
//! compiled into it. Schemas here are skeletons (kind, apiVersion, metadata, spec, status).

use std::sync::OnceLock;

use http::{header, HeaderValue, Request, Response, StatusCode};
use kapi_api::resources::{self, ResourceDef};
use kapi_api::status::ApiError;
use serde_json::{json, Value};

use crate::response::{self, Body};

struct Doc {
    body: bytes::Bytes,
    etag: String,
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn docs() -> &'static Vec<(String, Doc)> {
    static DOCS: OnceLock<Vec<(String, Doc)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        resources::group_versions()
            .into_iter()
            .map(|(g, v)| {
                let body = serde_json::to_vec(&build_document(g, v)).unwrap_or_default();
                let etag = format!("{:016X}", fnv(&body));
                (
                    gv_path(g, v),
                    Doc {
                        body: body.into(),
                        etag,
                    },
                )
            })
            .collect()
    })
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// `GET /openapi/v3`.
pub fn index() -> Response<Body> {
    let mut paths = serde_json::Map::new();
    for (path, doc) in docs() {
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.etag)}),
        );
    }
    response::json_value(200, &json!({"paths": paths}))
}

/// `GET /openapi/v3/<gv path>`, with ETag and 304.
pub fn document<B>(path: &str, req: &Request<B>) -> Result<Response<Body>, ApiError> {
    let (_, doc) = docs()
        .iter()
        .find(|(p, _)| p == path)
        .ok_or_else(ApiError::no_route)?;
    let etag = format!("\"{}\"", doc.etag);
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut resp = Response::new(response::full(bytes::Bytes::new()));
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(resp);
    }
    let mut resp = response::json(200, doc.body.clone());
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, immutable"),
    );
    Ok(resp)
}

fn schema_name(r: &ResourceDef) -> String {
    let group = if r.group.is_empty() {
        "core"
    } else {
        r.group.split('.').next().unwrap_or(r.group)
    };
    format!("io.k8s.api.{group}.{}.{}", r.version, r.kind)
}

fn build_document(group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let field_validation = json!({
        "name": "fieldValidation", "in": "query", "uniqueItems": true,
        "description": "how the server treats unknown or duplicate fields: Ignore, Warn or Strict",
        "schema": {"type": "string"}
    });
    for r in resources::in_group_version(group, version) {
        let name = schema_name(r);
        let gvk = json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
        schemas.insert(name.clone(), json!({
            "description": format!("{} is a Kubernetes {} object.", r.kind, r.api_version()),
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                "metadata": {"type": "object", "description": "Standard object's metadata."},
                "spec": {"type": "object", "description": "The desired state.", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "description": "The observed state.", "x-kubernetes-preserve-unknown-fields": true},
            },
            "x-kubernetes-preserve-unknown-fields": true,
            "x-kubernetes-group-version-kind": gvk,
        }));
        let base = format!("/{}", gv_path(group, version));
        let item = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.resource)
        } else {
            format!("{base}/{}/{{name}}", r.resource)
        };
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        let op = |verb: &str| {
            json!({
                "description": format!("{verb} the specified {}", r.kind),
                "operationId": format!("{verb}{}", r.kind),
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
                "parameters": [field_validation.clone()],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference.clone()}}}},
            })
        };
        let mut patch = op("patch");
        patch["requestBody"] = json!({"content": {
            "application/json-patch+json": {"schema": {"type": "object"}},
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/apply-patch+yaml": {"schema": {"type": "object"}},
        }});
        let mut put = op("put");
        put["requestBody"] = json!({"content": {"*/*": {"schema": reference.clone()}}});
        paths.insert(
            item,
            json!({"get": op("get"), "put": put, "patch": patch, "delete": op("delete")}),
        );
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.resource)
        } else {
            format!("{base}/{}", r.resource)
        };
        let mut post = op("post");
        post["requestBody"] = json!({"content": {"*/*": {"schema": reference}}});
        paths.insert(collection, json!({"get": op("list"), "post": post}));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::version::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
