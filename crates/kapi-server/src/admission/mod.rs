//! Admission: checks that need the caller's identity and run on the final object, just before
//! it is stored. One file per plugin.

pub mod certificates;
pub mod default_tolerations;
pub mod node_restriction;
pub mod rbac_escalation;
pub mod service_account;
pub mod webhooks;
