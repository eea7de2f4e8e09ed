//! The filters every request passes, in this order: authentication → impersonation →
//! flow control → authorization. Each stage is a module with a small typed interface:
//! authentication returns a [`kapi_auth::UserInfo`], flow control seats or a 429,
//! authorization a yes or a 403.

pub mod audit;
pub mod authn;
pub mod authz;
pub mod flowcontrol;
pub mod impersonate;
pub mod node_authz;
