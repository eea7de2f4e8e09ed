//! Routing a request to its handler, after the filters have judged it.

pub mod backend_proxy;
mod body;
mod discovery;
mod negotiate;
mod openapi;
pub mod pod_stream;
mod resource;
mod reviews;
pub(crate) mod versions;

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use kapi_api::status::ApiError;
use kapi_auth::UserInfo;

use crate::filters;
use crate::request_info;
use crate::response::{self, Body};
use crate::Server;

pub use negotiate::{Query, Shape};
pub use resource::partial_metadata;

/// The request body type every handler takes (a hyper body, or one re-read for the audit log).
pub type ReqBody = http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>;

/// Serves one request: request info → authentication → impersonation → flow control →
/// authorization → handler, with an audit event written for it when auditing is on. The
/// request's seats (flow control) are kept until its response has been sent.
pub async fn handle(
    server: Arc<Server>,
    cert_user: Option<UserInfo>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    use http_body_util::BodyExt;
    let req = req.map(|b| b.boxed());
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let watch = query.flag("watch");
    let info = request_info::parse(req.method().as_str(), req.uri().path(), watch);
    let mut admitted = None;
    let resp = audited(&server, cert_user, peer, &info, &query, req, &mut admitted).await;
    match admitted {
        Some(a) => a.finish(resp, info.verb == "watch"),
        None => resp,
    }
}

/// The response, with an audit event written when auditing is on.
async fn audited(
    server: &Server,
    cert_user: Option<UserInfo>,
    peer: SocketAddr,
    info: &request_info::RequestInfo,
    query: &Query,
    req: Request<ReqBody>,
    admitted: &mut Option<filters::flowcontrol::Admitted>,
) -> Response<Body> {
    use http_body_util::BodyExt;
    let Some(auditor) = server.auditor.clone() else {
        return serve(server, cert_user, info, query, req, &mut None, admitted)
            .await
            .unwrap_or_else(|e| response::error(&e));
    };
    let user_agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let record = filters::audit::Record::start(
        info,
        &req.uri().to_string(),
        &peer.ip().to_string(),
        user_agent,
    );
    let mut record = Some((auditor.clone(), record));
    let result = serve(server, cert_user, info, query, req, &mut record, admitted).await;
    let Some((_, mut record)) = record else {
        return result.unwrap_or_else(|e| response::error(&e));
    };
    match result {
        Ok(resp) => {
            let code = resp.status().as_u16();
            if record.wants_response() && info.verb != "watch" {
                let (parts, body) = resp.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                record.response_object(&bytes);
                record.finish(&auditor, code, None);
                Response::from_parts(parts, response::full(bytes))
            } else {
                record.finish(&auditor, code, None);
                resp
            }
        }
        Err(e) => {
            record.finish(&auditor, e.code, Some(&e.to_status()));
            response::error(&e)
        }
    }
}

/// How many objects a LIST will return at most, for its seat count: the objects stored under
/// the listed prefix, or the page size when smaller and no selector makes the server look at
/// every object anyway.
fn list_size(server: &Server, info: &request_info::RequestInfo, query: &Query) -> usize {
    /// Enough to reach the most seats a request may take.
    const AT_MOST: usize = 1_000;
    let Some(def) = kapi_api::resources::find(&info.group, &info.version, &info.resource) else {
        return 1;
    };
    let mut prefix = def.key_prefix();
    if def.namespaced && !info.namespace.is_empty() {
        prefix.push_str(&info.namespace);
        prefix.push('/');
    }
    let stored = server.registry.store().count(&prefix, AT_MOST);
    let selective = query.get("labelSelector").is_some_and(|s| !s.is_empty())
        || query.get("fieldSelector").is_some_and(|s| !s.is_empty());
    match query.get("limit").and_then(|l| l.parse::<usize>().ok()) {
        Some(limit) if limit > 0 && !selective => stored.min(limit),
        _ => stored,
    }
}

type Audit = Option<(Arc<filters::audit::Auditor>, filters::audit::Record)>;

async fn serve(
    server: &Server,
    cert_user: Option<UserInfo>,
    info: &request_info::RequestInfo,
    query: &Query,
    req: Request<ReqBody>,
    audit: &mut Audit,
    admitted: &mut Option<filters::flowcontrol::Admitted>,
) -> Result<Response<Body>, ApiError> {
    let authenticated = server.authn.authenticate(cert_user, req.headers())?;
    let user =
        filters::impersonate::impersonate(authenticated.clone(), req.headers(), &server.authz);
    let user = match user {
        Ok(user) => user,
        Err(e) => {
            if let Some((a, r)) = audit.as_mut() {
                r.user(a, &authenticated, info, None);
                r.decision(false, "");
            }
            return Err(e);
        }
    };
    let impersonator = (user != authenticated).then_some(&authenticated);
    match server
        .flow
        .admit(&user, info, || list_size(server, info, query))
        .await
    {
        Ok(a) => *admitted = Some(a),
        Err(refused) => {
            if let Some((a, r)) = audit.as_mut() {
                r.user(a, &user, info, impersonator);
            }
            return Ok(refused.response());
        }
    }
    let verdict = server.authz.authorize(&user, info);
    let mut req = req;
    if let Some((a, r)) = audit.as_mut() {
        r.user(a, &user, info, impersonator);
        r.decision(verdict.is_ok(), "");
        if r.wants_request()
            && verdict.is_ok()
            && matches!(info.verb.as_str(), "create" | "update" | "patch")
        {
            let (parts, body) = req.into_parts();
            let bytes = body::read(body).await?;
            let content_type = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if let Ok(obj) = body::decode_object(content_type, &bytes) {
                r.request_object(obj);
            }
            use http_body_util::BodyExt;
            req = Request::from_parts(
                parts,
                http_body_util::Full::new(bytes)
                    .map_err(|never| match never {})
                    .boxed(),
            );
        }
    }
    verdict?;
    if info.is_resource {
        resource::serve(server, &user, info, query, req).await
    } else {
        non_resource(server, info, query, req).await
    }
}

async fn non_resource(
    server: &Server,
    info: &request_info::RequestInfo,
    query: &Query,
    req: Request<ReqBody>,
) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::no_route());
    }
    let path = info.path.trim_end_matches('/');
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match path {
        "/healthz" | "/livez" | "/readyz" => Ok(health(server, path, query)),
        "/version" => Ok(response::json_value(200, &crate::version::info())),
        "/api" | "/apis" => Ok(discovery::root(server, path, accept)),
        "/openapi/v2" => Ok(openapi::v2(accept)),
        "/.well-known/openid-configuration" => Ok(response::json_value(
            200,
            &kapi_auth::serviceaccount::openid_configuration(
                &server.authn.issuer.issuer,
                &format!(
                    "https://{}/openid/v1/jwks",
                    server.config.advertise_address()
                ),
            ),
        )),
        "/openid/v1/jwks" => {
            let mut resp = response::json_value(200, &server.authn.keys.jwks());
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/jwk-set+json"),
            );
            Ok(resp)
        }
        "/openapi/v3" => Ok(openapi::index()),
        _ if path.starts_with("/openapi/v3/") => {
            openapi::document(&path["/openapi/v3/".len()..], &req)
        }
        _ if path.starts_with("/healthz/")
            || path.starts_with("/livez/")
            || path.starts_with("/readyz/") =>
        {
            health_check(server, path).ok_or_else(ApiError::no_route)
        }
        _ => discovery::group_or_version(path).ok_or_else(ApiError::no_route),
    }
}

/// The checks kapi really makes: it answers (`ping`), its store has loaded (`store`), its
/// storage has room for writes (`store-space`; when full, only deletes are accepted), and, on
/// etcd, etcd answers (`etcd`, as upstream's check of that name).
fn health_checks(server: &Server) -> Vec<(&'static str, bool)> {
    let store = server.registry.store();
    let mut checks = vec![
        ("ping", true),
        ("store", store.revision() > 0),
        ("store-space", !store.out_of_space()),
    ];
    checks.extend(store.backend_check());
    checks
}

/// One check by name (`/readyz/ping`); `None` for a check kapi does not make, which upstream
/// answers with 404 too.
fn health_check(server: &Server, path: &str) -> Option<Response<Body>> {
    let (_, name) = path.trim_start_matches('/').split_once('/')?;
    let (_, ok) = health_checks(server)
        .into_iter()
        .find(|(check, _)| *check == name)?;
    Some(if ok {
        response::text(200, "ok")
    } else {
        response::text(500, format!("internal server error: {name} check failed"))
    })
}

/// Health endpoints. `?verbose` lists the checks; `?exclude=NAME` leaves one out, as upstream.
fn health(server: &Server, path: &str, query: &Query) -> Response<Body> {
    let excluded = query.all("exclude");
    let checks: Vec<(&str, bool)> = health_checks(server)
        .into_iter()
        .filter(|(name, _)| !excluded.contains(name))
        .collect();
    let ok = checks.iter().all(|(_, ok)| *ok);
    let code = if ok { 200 } else { 500 };
    if query.get("verbose").is_some() {
        let mut out = String::new();
        for &(name, ok) in &checks {
            let (mark, word) = if ok { ('+', "ok") } else { ('-', "failed") };
            out.push_str(&format!("[{mark}]{name} {word}\n"));
        }
        let verdict = if ok { "passed" } else { "failed" };
        out.push_str(&format!(
            "{} check {verdict}\n",
            path.trim_start_matches('/')
        ));
        return response::text(code, out);
    }
    response::text(code, if ok { "ok" } else { "store not loaded" })
}
