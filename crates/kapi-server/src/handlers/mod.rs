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

/// Serves one request: request info → authentication → authorization → handler.
pub async fn handle(
    server: Arc<Server>,
    cert_user: Option<UserInfo>,
    _peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let watch = query.flag("watch");
    let info = request_info::parse(req.method().as_str(), req.uri().path(), watch);
    let user = match server.authn.authenticate(cert_user, req.headers()) {
        Ok(user) => user,
        Err(e) => return response::error(&e),
    };
    let user = match filters::impersonate::impersonate(user, req.headers(), &server.authz) {
        Ok(user) => user,
        Err(e) => return response::error(&e),
    };
    if let Err(e) = server.authz.authorize(&user, &info) {
        return response::error(&e);
    }
    let result = if info.is_resource {
        resource::serve(&server, &user, &info, &query, req).await
    } else {
        non_resource(&server, &info, &query, req).await
    };
    match result {
        Ok(resp) => resp,
        Err(e) => response::error(&e),
    }
}

async fn non_resource(
    server: &Server,
    info: &request_info::RequestInfo,
    query: &Query,
    req: Request<Incoming>,
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
                &format!("https://{}/openid/v1/jwks", server.config.advertise_address()),
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
