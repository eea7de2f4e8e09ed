//! The vocabulary of authorization decisions, shared by the RBAC authorizer ([`crate::rbac`])
//! and the server's filters.

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The request is refused.
    Deny,
    /// This authorizer does not decide; the next one may (RBAC never denies, it only allows or
    /// has no opinion, and the server refuses what nobody allowed).
    NoOpinion,
}

/// The group whose members are allowed everything, decided before RBAC as upstream does.
pub const SYSTEM_MASTERS: &str = "system:masters";
