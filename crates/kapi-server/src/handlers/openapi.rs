//! OpenAPI v3: the index and one document per group-version.
//!
//! The documents are kapi-schema's: upstream's schemas (from k8s-openapi) with descriptions,
//! patch strategies and list markers, and per kind the operations kube-apiserver lists. kubectl
//! relies on them three ways: `explain` reads the schemas; `apply` and `create -f` find the
//! `fieldValidation` parameter on the kind's PATCH operation and leave validation to the
//! server; and client-side apply computes strategic merge patches from the schemas because
//! the PATCH operation lists `application/strategic-merge-patch+json`. The built-in documents
//! are built on the first request (the index needs every hash) and then served from memory;
//! those of custom resources' group-versions are built from their definitions' schemas, again
//! whenever a definition changes what it publishes.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

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

fn serialize(
    group_versions: &[(&str, &str)],
    documents: Vec<serde_json::Value>,
) -> Vec<(String, Doc)> {
    group_versions
        .iter()
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
}

/// The documents of the built-in group-versions, which never change.
fn built_in() -> &'static Vec<(String, Doc)> {
    static DOCS: OnceLock<Vec<(String, Doc)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let group_versions: Vec<_> = resources::group_versions()
            .into_iter()
            .filter(|(g, v)| resources::in_group_version(g, v).any(|r| !r.custom))
            .collect();
        let documents = kapi_schema::openapi_v3_documents(&group_versions);
        serialize(&group_versions, documents)
    })
}

type CustomDocs = Arc<Vec<(String, Doc)>>;

/// The documents of custom resources' group-versions, rebuilt when their definitions change.
fn custom() -> CustomDocs {
    static DOCS: Mutex<Option<(u64, CustomDocs)>> = Mutex::new(None);
    let mut cached = DOCS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((generation, docs)) = cached.as_ref() {
        if *generation == crate::crd::generation() {
            return docs.clone();
        }
    }
    let (generation, served) = crate::crd::served_versions();
    let kinds: Vec<kapi_schema::CustomKind<'_>> = served
        .iter()
        .map(|(def, s)| kapi_schema::CustomKind {
            def,
            list_kind: &s.list_kind,
            schema: s.openapi_schema.as_ref(),
        })
        .collect();
    let mut group_versions: Vec<(&str, &str)> = Vec::new();
    for k in &kinds {
        let gv = (k.def.group, k.def.version);
        let built_in = resources::in_group_version(gv.0, gv.1).any(|r| !r.custom);
        if !built_in && !group_versions.contains(&gv) {
            group_versions.push(gv);
        }
    }
    let documents = kapi_schema::openapi_v3_custom_documents(&group_versions, &kinds);
    let docs = Arc::new(serialize(&group_versions, documents));
    *cached = Some((generation, docs.clone()));
    docs
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// `GET /openapi/v2`: a Swagger 2.0 document without definitions or paths.
///
/// kubectl reads v3; it falls back to v2 only for a kind the v3 documents do not hold (a
/// mistyped kind, or a custom resource applied before its definition), to validate it on the
/// client. Upstream's v2 has no schema for such a kind either, so kubectl lets it through and
/// answers what upstream's users see (`no matches for kind "Foo" in version ... ensure CRDs
/// are installed first`) instead of failing to download the document. Clients that read
/// built-in schemas from v2 (kubectl before 1.27's `explain`) find none here.
pub fn v2(accept: &str) -> Response<Body> {
    let version = crate::version::GIT_VERSION;
    if accept.contains("protobuf") {
        // Document { swagger = 1: "2.0", info = 2: Info { title = 1, version = 2 } }
        let mut info = Vec::new();
        proto_string(&mut info, 1, "Kubernetes");
        proto_string(&mut info, 2, version);
        let mut doc = Vec::new();
        proto_string(&mut doc, 1, "2.0");
        proto_bytes(&mut doc, 2, &info);
        let mut resp = Response::new(response::full(bytes::Bytes::from(doc)));
        // kubectl asks for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
        // (gnostic's `openapi_v2.Document`); the answer is typed as upstream types it, a type
        // Go's MIME parser accepts.
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        return resp;
    }
    response::json_value(
        200,
        &json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}}),
    )
}

fn proto_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field << 3 | 2);
    let mut len = bytes.len();
    loop {
        let low = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
    out.extend_from_slice(bytes);
}

fn proto_string(out: &mut Vec<u8>, field: u8, s: &str) {
    proto_bytes(out, field, s.as_bytes());
}

/// `GET /openapi/v3`.
pub fn index() -> Response<Body> {
    let mut paths = serde_json::Map::new();
    let custom = custom();
    for (path, doc) in built_in().iter().chain(custom.iter()) {
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.etag)}),
        );
    }
    response::json_value(200, &json!({"paths": paths}))
}

/// `GET /openapi/v3/<gv path>`, with ETag and 304.
pub fn document<B>(path: &str, req: &Request<B>) -> Result<Response<Body>, ApiError> {
    let custom = custom();
    let (_, doc) = built_in()
        .iter()
        .chain(custom.iter())
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
