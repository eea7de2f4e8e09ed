//! OpenAPI v3: the index and one document per group-version.
//!
//! The documents are kapi-schema's: upstream's schemas (from k8s-openapi) with descriptions,
//! patch strategies and list markers, and per kind the operations kube-apiserver lists. kubectl
//! relies on them three ways: `explain` reads the schemas; `apply` and `create -f` find the
//! `fieldValidation` parameter on the kind's PATCH operation and leave validation to the
//! server; and client-side apply computes strategic merge patches from the schemas because
//! the PATCH operation lists `application/strategic-merge-patch+json`. All documents are built
//! on the first request (the index needs every hash) and then served from memory.

use std::sync::OnceLock;

use http::{header, HeaderValue, Request, Response, StatusCode};
use kapi_api::resources;
use kapi_api::status::ApiError;
use serde_json::json;

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
        let group_versions = resources::group_versions();
        let documents = kapi_schema::openapi_v3_documents(&group_versions);
        group_versions
            .into_iter()
            .zip(documents)
            .map(|((g, v), mut doc)| {
                doc["info"]["version"] = json!(crate::version::GIT_VERSION);
                let body = serde_json::to_vec(&doc).unwrap_or_default();
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
