//! Routing a request to its handler, after the filters have judged it.

mod body;
mod discovery;
mod negotiate;
mod openapi;
mod resource;
mod reviews;

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

/// Serves one request: request info → authentication → impersonation → authorization →
/// handler, with an audit event written for it when auditing is on.
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
    let Some(auditor) = server.auditor.clone() else {
        return match serve(&server, cert_user, &info, &query, req, &mut None).await {
            Ok(resp) => resp,
            Err(e) => response::error(&e),
        };
    };
    let user_agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let record = filters::audit::Record::start(
        &info,
        &req.uri().to_string(),
        &peer.ip().to_string(),
        user_agent,
    );
    let mut record = Some((auditor.clone(), record));
    let result = serve(&server, cert_user, &info, &query, req, &mut record).await;
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
                return Response::from_parts(parts, response::full(bytes));
            }
            record.finish(&auditor, code, None);
            resp
        }
        Err(e) => {
            record.finish(&auditor, e.code, Some(&e.to_status()));
            response::error(&e)
        }
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
        "/healthz" | "/livez" | "/readyz" => Ok(health(path, query)),
        "/version" => Ok(response::json_value(200, &crate::version::info())),
        "/api" | "/apis" => Ok(discovery::root(server, path, accept)),
        "/openapi/v2" => Err(ApiError::no_route()),
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
            Ok(response::text(200, "ok"))
        }
        _ => discovery::group_or_version(path).ok_or_else(ApiError::no_route),
    }
}

fn health(path: &str, query: &Query) -> Response<Body> {
    if query.get("verbose").is_some() {
        let checks = [
            "ping",
            "log",
            "etcd",
            "poststarthook/start-kapi-controllers",
        ];
        let mut out = String::new();
        for c in checks {
            out.push_str(&format!("[+]{c} ok\n"));
        }
        out.push_str(&format!("{} check passed\n", path.trim_start_matches('/')));
        return response::text(200, out);
    }
    response::text(200, "ok")
}
