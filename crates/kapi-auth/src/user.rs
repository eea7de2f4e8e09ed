use std::collections::BTreeMap;

/// The identity a request was proven to carry, as Kubernetes' `user.Info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, e.g. `kubernetes-admin` or `system:serviceaccount:default:app`.
    pub name: String,
    /// A stable identifier, empty when the authenticator has none.
    pub uid: String,
    /// Groups, always including `system:authenticated` for authenticated users.
    pub groups: Vec<String>,
    /// Extra attributes (e.g. the pod a token is bound to).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The user of requests that proved nothing.
    pub fn anonymous() -> Self {
        Self {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            ..Default::default()
        }
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}
