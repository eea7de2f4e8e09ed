//! The token controller: Secret-based (legacy) service-account tokens.
//!
//! A Secret of type `kubernetes.io/service-account-token` annotated with an account's name gets
//! `data.token` (a never-expiring JWT naming the Secret and the account), `data.ca.crt`,
//! `data.namespace`, and the account's UID as an annotation. As upstream does, such a Secret is
//! deleted when its account does not exist (or exists with another UID), and an account's token
//! Secrets are deleted with it; when a token Secret goes away, the account's `.secrets` stops
//! listing it. With `legacy_token_secrets`, every account also gets a `<name>-token-<random>`
//! Secret listed in its `.secrets`, as clusters before 1.24 did.
//!
//! Two kube-runtime controllers share the work: one keyed by Secret (fill or delete), one keyed
//! by ServiceAccount (`.secrets` bookkeeping and the legacy Secret).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Secret, ServiceAccount};
use k8s_openapi::ByteString;
use kapi_auth::serviceaccount::Issuer;
use kube::api::{DeleteParams, ObjectMeta, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::shared::{
    is_namespace_terminating, is_status, log_result, Context, ReconcileError, Task,
};

/// The Secret type of service-account tokens.
pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// Annotation naming the account a token Secret belongs to.
pub const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
/// Annotation holding that account's UID, set by this controller.
pub const SA_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
/// `data` key of the token.
pub const TOKEN_KEY: &str = "token";
/// `data` key of the cluster CA.
pub const CA_KEY: &str = "ca.crt";
/// `data` key of the namespace.
pub const NAMESPACE_KEY: &str = "namespace";

/// Name of the account reconciler, for logs and backoff keys.
const ACCOUNTS: &str = "serviceaccount-token/accounts";

/// Token Secrets seen per account since its last reconcile: the only `.secrets` entries the
/// account reconciler may drop (if they are gone), so that references to other Secrets stay.
#[derive(Default)]
struct Seen(Mutex<HashMap<(String, String), HashSet<String>>>);

impl Seen {
    /// Records `secret` for its account if `known` says the account exists (so that nothing is
    /// kept for accounts that will never be reconciled), and names the account to wake.
    fn note(
        &self,
        secret: &Secret,
        known: impl Fn(&ObjectRef<ServiceAccount>) -> bool,
    ) -> Option<ObjectRef<ServiceAccount>> {
        let ns = secret.namespace()?;
        let account = secret.annotations().get(SA_NAME_ANNOTATION)?.clone();
        let target = ObjectRef::new(&account).within(&ns);
        if !known(&target) {
            return None;
        }
        if let Ok(mut seen) = self.0.lock() {
            seen.entry((ns.clone(), account.clone()))
                .or_default()
                .insert(secret.name_any());
        }
        Some(target)
    }

    fn snapshot(&self, ns: &str, account: &str) -> HashSet<String> {
        self.0
            .lock()
            .ok()
            .and_then(|seen| seen.get(&(ns.to_string(), account.to_string())).cloned())
            .unwrap_or_default()
    }

    fn forget(&self, ns: &str, account: &str, names: &HashSet<String>) {
        if let Ok(mut seen) = self.0.lock() {
            let key = (ns.to_string(), account.to_string());
            if let Some(set) = seen.get_mut(&key) {
                set.retain(|n| !names.contains(n));
                if set.is_empty() {
                    seen.remove(&key);
                }
            }
        }
    }
}

/// Both reconcilers' state.
struct TokenContext {
    shared: Arc<Context>,
    seen: Seen,
}

/// Runs the Secret reconciler and the ServiceAccount reconciler side by side.
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let tctx = Arc::new(TokenContext {
        shared: ctx,
        seen: Seen::default(),
    });
    let tokens_only = || watcher::Config::default().fields(&format!("type={TOKEN_TYPE}"));

    let secrets = Controller::new(Api::<Secret>::all(client.clone()), tokens_only());
    let store = secrets.store();
    let secrets = secrets
        // An account changing or going wakes every token Secret that names it.
        .watches(
            Api::<ServiceAccount>::all(client.clone()),
            watcher::Config::default(),
            move |sa| {
                let (ns, name) = (sa.namespace(), sa.name_any());
                store
                    .state()
                    .into_iter()
                    .filter(|s| {
                        s.namespace() == ns
                            && s.annotations().get(SA_NAME_ANNOTATION) == Some(&name)
                    })
                    .map(|s| ObjectRef::from_obj(s.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .run(reconcile_secret, secret_error_policy, tctx.clone())
        .for_each(|r| log_result(crate::SERVICEACCOUNT_TOKEN, r));

    let seen_ctx = tctx.clone();
    let accounts = Controller::new(
        Api::<ServiceAccount>::all(client.clone()),
        watcher::Config::default(),
    );
    let known = accounts.store();
    let accounts = accounts
        .watches(Api::<Secret>::all(client), tokens_only(), move |secret| {
            seen_ctx.seen.note(&secret, |r| known.get(r).is_some())
        })
        .run(reconcile_account, account_error_policy, tctx)
        .for_each(|r| log_result(ACCOUNTS, r));

    Box::pin(async move {
        futures_util::future::join(secrets, accounts).await;
    })
}

/// Whether `secret` is a token Secret of `sa` (by name, and by UID once it carries one).
fn is_token_of(secret: &Secret, sa: &ServiceAccount) -> bool {
    if secret.type_.as_deref() != Some(TOKEN_TYPE) || secret.namespace() != sa.namespace() {
        return false;
    }
    let annotations = secret.annotations();
    if annotations.get(SA_NAME_ANNOTATION) != Some(&sa.name_any()) {
        return false;
    }
    match annotations.get(SA_UID_ANNOTATION) {
        Some(uid) if !uid.is_empty() => sa.uid().as_ref() == Some(uid),
        _ => true,
    }
}

async fn reconcile_secret(
    secret: Arc<Secret>,
    ctx: Arc<TokenContext>,
) -> Result<Action, ReconcileError> {
    let shared = &ctx.shared;
    let Some(ns) = secret.namespace() else {
        return Ok(Action::await_change());
    };
    let Some(account) = secret.annotations().get(SA_NAME_ANNOTATION).cloned() else {
        return Ok(Action::await_change());
    };
    if secret.type_.as_deref() != Some(TOKEN_TYPE)
        || secret.metadata.deletion_timestamp.is_some()
        || account.is_empty()
    {
        return Ok(Action::await_change());
    }
    let client = shared.client.clone();
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    // A live read, not a cache: an account created just before its Secret must be found.
    let sa = Api::<ServiceAccount>::namespaced(client, &ns)
        .get_opt(&account)
        .await?
        .filter(|sa| is_token_of(&secret, sa));
    let Some(sa) = sa else {
        // No such account (or a new one that merely shares the name): the token must not
        // outlive the account it was made for.
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: secret.uid(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match secrets.delete(&secret.name_any(), &params).await {
            Ok(_) => tracing::info!(
                namespace = ns,
                secret = secret.name_any(),
                account,
                "deleted token secret of a missing service account"
            ),
            Err(e) if is_status(&e, 404) || is_status(&e, 409) => {}
            Err(e) => return Err(e.into()),
        }
        shared.succeeded(crate::SERVICEACCOUNT_TOKEN, secret.as_ref());
        return Ok(Action::await_change());
    };

    let sa_uid = sa.uid().unwrap_or_default();
    let data = secret.data.clone().unwrap_or_default();
    let has = |key: &str, want: &[u8]| data.get(key).is_some_and(|v| v.0 == want);
    let needs_token = data.get(TOKEN_KEY).is_none_or(|v| v.0.is_empty());
    let up_to_date = !needs_token
        && has(CA_KEY, shared.ca_pem.as_bytes())
        && has(NAMESPACE_KEY, ns.as_bytes())
        && secret.annotations().get(SA_UID_ANNOTATION) == Some(&sa_uid);
    if !up_to_date {
        let mut next = secret.as_ref().clone();
        let data = next.data.get_or_insert_with(BTreeMap::new);
        if needs_token {
            let keys = shared
                .token_keys
                .as_ref()
                .ok_or(ReconcileError::NotLoaded("service-account signing key"))?;
            let token =
                Issuer::default().issue_legacy(keys, &ns, &account, &sa_uid, &secret.name_any())?;
            data.insert(TOKEN_KEY.into(), ByteString(token.into_bytes()));
        }
        data.insert(
            CA_KEY.into(),
            ByteString(shared.ca_pem.clone().into_bytes()),
        );
        data.insert(NAMESPACE_KEY.into(), ByteString(ns.clone().into_bytes()));
        next.annotations_mut()
            .insert(SA_UID_ANNOTATION.into(), sa_uid.clone());
        // Replaces at the resourceVersion we read: a 409 retries from the newer object.
        secrets
            .replace(&secret.name_any(), &PostParams::default(), &next)
            .await?;
        tracing::info!(
            namespace = ns,
            secret = secret.name_any(),
            account,
            "filled token secret"
        );
    }
    shared.succeeded(crate::SERVICEACCOUNT_TOKEN, secret.as_ref());
    Ok(Action::await_change())
}

fn secret_error_policy(
    secret: Arc<Secret>,
    error: &ReconcileError,
    ctx: Arc<TokenContext>,
) -> Action {
    ctx.shared
        .failed(crate::SERVICEACCOUNT_TOKEN, secret.as_ref(), error)
}

async fn reconcile_account(
    cached: Arc<ServiceAccount>,
    ctx: Arc<TokenContext>,
) -> Result<Action, ReconcileError> {
    let shared = &ctx.shared;
    let Some(ns) = cached.namespace() else {
        return Ok(Action::await_change());
    };
    let name = cached.name_any();
    let seen = ctx.seen.snapshot(&ns, &name);
    if seen.is_empty() && !shared.legacy_token_secrets {
        return Ok(Action::await_change());
    }
    let client = shared.client.clone();
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), &ns);
    let secrets = Api::<Secret>::namespaced(client, &ns);
    // Decide on the live object: the cache may not show a Secret we listed a moment ago, and
    // acting on it would create a second one.
    let Some(mut sa) = accounts.get_opt(&name).await? else {
        ctx.seen.forget(&ns, &name, &seen);
        return Ok(Action::await_change());
    };
    if sa.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let listed: Vec<String> = sa
        .secrets
        .iter()
        .flatten()
        .filter_map(|r| r.name.clone())
        .collect();
    let mut keep = Vec::new();
    let mut has_token = false;
    for secret_name in &listed {
        let found = secrets.get_opt(secret_name).await?;
        if found.is_none() && seen.contains(secret_name) {
            continue; // a token Secret of this account that is gone
        }
        has_token |= found.as_ref().is_some_and(|s| is_token_of(s, &sa));
        keep.push(secret_name.clone());
    }
    let mut created = None;
    if shared.legacy_token_secrets && !has_token {
        let secret = Secret {
            metadata: ObjectMeta {
                generate_name: Some(format!("{name}-token-")),
                annotations: Some(BTreeMap::from([
                    (SA_NAME_ANNOTATION.to_string(), name.clone()),
                    (SA_UID_ANNOTATION.to_string(), sa.uid().unwrap_or_default()),
                ])),
                ..Default::default()
            },
            type_: Some(TOKEN_TYPE.into()),
            ..Default::default()
        };
        let made = match secrets.create(&PostParams::default(), &secret).await {
            Ok(made) => made,
            Err(e) if is_namespace_terminating(&e) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        };
        keep.push(made.name_any());
        created = Some(made);
    }
    if keep != listed {
        let previous: HashSet<&String> = listed.iter().collect();
        let mut refs: Vec<ObjectReference> = sa
            .secrets
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.name.as_ref().is_some_and(|n| keep.contains(n)))
            .collect();
        refs.extend(
            keep.iter()
                .filter(|n| !previous.contains(n))
                .map(|n| ObjectReference {
                    name: Some(n.clone()),
                    ..Default::default()
                }),
        );
        sa.secrets = Some(refs);
        if let Err(e) = accounts.replace(&name, &PostParams::default(), &sa).await {
            // Do not leave a Secret the account does not list; the retry makes a new one.
            if let Some(made) = created {
                let _ = secrets
                    .delete(&made.name_any(), &DeleteParams::default())
                    .await;
            }
            return Err(e.into());
        }
        if let Some(made) = created {
            tracing::info!(
                namespace = ns,
                account = name,
                secret = made.name_any(),
                "created legacy token secret"
            );
        }
    }
    ctx.seen.forget(&ns, &name, &seen);
    shared.succeeded(ACCOUNTS, cached.as_ref());
    Ok(Action::await_change())
}

fn account_error_policy(
    sa: Arc<ServiceAccount>,
    error: &ReconcileError,
    ctx: Arc<TokenContext>,
) -> Action {
    ctx.shared.failed(ACCOUNTS, sa.as_ref(), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(uid: &str) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                name: Some("app".into()),
                namespace: Some("ns".into()),
                uid: Some(uid.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn token(annotations: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("app-token".into()),
                namespace: Some("ns".into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            type_: Some(TOKEN_TYPE.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_token_belongs_by_name_then_by_uid() {
        let sa = account("u1");
        assert!(is_token_of(&token(&[(SA_NAME_ANNOTATION, "app")]), &sa));
        assert!(is_token_of(
            &token(&[(SA_NAME_ANNOTATION, "app"), (SA_UID_ANNOTATION, "u1")]),
            &sa
        ));
        assert!(!is_token_of(
            &token(&[(SA_NAME_ANNOTATION, "app"), (SA_UID_ANNOTATION, "u0")]),
            &sa
        ));
        assert!(!is_token_of(&token(&[(SA_NAME_ANNOTATION, "other")]), &sa));
        let mut opaque = token(&[(SA_NAME_ANNOTATION, "app")]);
        opaque.type_ = Some("Opaque".into());
        assert!(!is_token_of(&opaque, &sa));
    }

    #[test]
    fn seen_secrets_are_forgotten_once_handled() {
        let seen = Seen::default();
        let secret = token(&[(SA_NAME_ANNOTATION, "app")]);
        assert!(seen.note(&secret, |_| false).is_none());
        assert!(seen.snapshot("ns", "app").is_empty());
        let r = seen.note(&secret, |_| true).unwrap();
        assert_eq!(r.name, "app");
        assert_eq!(r.namespace.as_deref(), Some("ns"));
        let names = seen.snapshot("ns", "app");
        assert!(names.contains("app-token"));
        seen.forget("ns", "app", &names);
        assert!(seen.snapshot("ns", "app").is_empty());
        assert!(seen.note(&token(&[]), |_| true).is_none());
    }
}
