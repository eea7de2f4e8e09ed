//! The filters every request passes, in this order: authentication → impersonation →
//! authorization. Each stage is a module with a small typed interface: authentication returns
//! a [`kapi_auth::UserInfo`], authorization a yes or a 403.

pub mod audit;
pub mod authn;
pub mod authz;
pub mod impersonate;
