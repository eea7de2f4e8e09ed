//! Who is calling and what they may do.
//!
//! This crate owns the cluster's PKI (CA, serving and client certificates), the identities that
//! requests are proven to carry ([`UserInfo`]), and the decisions made about them. It has no
//! HTTP server: the request path in `kapi-server` calls into it.
//!
//! ```no_run
//! let pki = kapi_auth::pki::Pki::load_or_create(std::path::Path::new("kapi-data"), &[]).unwrap();
//! let tls = pki.server_tls_config().unwrap();
//! # drop(tls);
//! ```

pub mod authz;
pub mod bootstrap_token;
pub mod kubeconfig;
pub mod pki;
pub mod rbac;
pub mod serviceaccount;
mod user;

pub use user::UserInfo;
