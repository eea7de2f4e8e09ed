//! What every controller shares: the client, the loaded keys, per-object retry backoff, and
//! the error type reconcilers return.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kapi_auth::pki::CertKey;
use kapi_auth::serviceaccount::{TokenError, TokenKeys};
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::ObjectRef;
use kube::Resource;

use crate::{ControllerError, ControllerOptions};

/// A controller's main loop, as [`crate::run`] spawns it.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What each controller module exports to be started with.
pub type Start = fn(Arc<Context>) -> Task;

/// First retry delay after a failed reconcile; doubles per failure up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between retries of one object.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Inputs loaded once and shared by every controller.
pub struct Context {
    /// The API client, with the controller manager's identity.
    pub client: kube::Client,
    /// The cluster CA certificate (PEM), published to namespaces and token Secrets.
    pub ca_pem: String,
    /// The service-account signing key; present when the token controller runs.
    pub token_keys: Option<TokenKeys>,
    /// The cluster CA with its key; present when the CSR signer runs.
    pub ca: Option<CertKey>,
    /// Create a token Secret per ServiceAccount (pre-1.24 behaviour).
    pub legacy_token_secrets: bool,
    /// How long a node may be silent before it is Unknown.
    pub node_monitor_grace_period: std::time::Duration,
    /// The built-in load balancer's address pool.
    pub service_lb_pool: Option<kapi_node::proxy::LbPool>,
    /// How often each HorizontalPodAutoscaler is reconciled.
    pub hpa_sync_period: std::time::Duration,
    /// Consecutive failures per object, for backoff. Key: controller/namespace/name.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// Reads the CA and, for the controllers that need them, the signing keys.
    pub fn load(
        client: kube::Client,
        options: &ControllerOptions,
    ) -> Result<Self, ControllerError> {
        let ca_path = options.data_dir.join("ca.crt");
        let ca_pem = std::fs::read_to_string(&ca_path).map_err(|source| ControllerError::Io {
            path: ca_path,
            source,
        })?;
        let token_keys = if options.is_enabled(crate::SERVICEACCOUNT_TOKEN) {
            Some(TokenKeys::load_or_create(&options.data_dir)?)
        } else {
            None
        };
        let ca = if options.is_enabled(crate::CSR_SIGNING) {
            Some(kapi_auth::pki::load_ca(&options.data_dir)?)
        } else {
            None
        };
        Ok(Self {
            client,
            ca_pem,
            token_keys,
            ca,
            legacy_token_secrets: options.legacy_token_secrets,
            node_monitor_grace_period: options.node_monitor_grace_period,
            service_lb_pool: options.service_lb_pool.clone(),
            hpa_sync_period: options.hpa_sync_period,
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// Forgets past failures of an object that reconciled.
    pub fn succeeded<K: Resource>(&self, controller: &str, obj: &K) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&key(controller, obj));
        }
    }

    /// Records a failure and returns when to try the object again.
    pub fn failed<K: Resource>(&self, controller: &str, obj: &K, error: &ReconcileError) -> Action {
        let n = match self.failures.lock() {
            Ok(mut failures) => {
                let n = failures.entry(key(controller, obj)).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        let delay = BASE_BACKOFF
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        let object = key(controller, obj);
        if matches!(error, ReconcileError::Api(e) if is_status(e, 409)) {
            // Someone wrote the object since we read it: routine, the retry reads it anew.
            tracing::debug!(controller, object, attempt = n, "conflict; retrying");
        } else {
            tracing::warn!(
                controller,
                object,
                attempt = n,
                retry_in = ?delay,
                error = %error,
                "reconcile failed"
            );
        }
        Action::requeue(delay)
    }
}

fn key<K: Resource>(controller: &str, obj: &K) -> String {
    let meta = obj.meta();
    format!(
        "{controller}/{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

/// Why one reconcile failed; the object is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The API server refused or could not be reached.
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// A token could not be signed.
    #[error("issuing a token: {0}")]
    Token(#[from] TokenError),
    /// A certificate could not be signed for a reason that may pass (e.g. the CA files).
    #[error("signing: {0}")]
    Pki(#[from] kapi_auth::pki::PkiError),
    /// An input this controller needs was not loaded.
    #[error("{0} not loaded")]
    NotLoaded(&'static str),
    /// The object asks for something that cannot be done (e.g. an unparsable `maxSurge`);
    /// retried with backoff, as upstream does, in case validation let it through.
    #[error("invalid spec: {0}")]
    Invalid(String),
    /// Another object holds a name this controller derived (a pod-template hash collision);
    /// the next attempt derives another.
    #[error("{0}")]
    Collision(String),
}

/// Drops what no controller reads from a cached Node (its image list is the bulk of it).
pub fn trim_node(node: &mut k8s_openapi::api::core::v1::Node) {
    node.metadata.managed_fields = None;
    node.metadata.annotations = None;
    if let Some(status) = node.status.as_mut() {
        status.images = None;
    }
}

/// Whether an API error is `code`.
pub fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(resp) if resp.code == code)
}

/// Whether a create was refused because its namespace is being deleted: nothing to retry, the
/// namespace and everything in it are going away.
pub fn is_namespace_terminating(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(resp)
        if resp.code == 403 && resp.message.contains("because it is being terminated"))
}

/// Logs what a controller's stream yields: reconcile failures are already logged (with their
/// backoff) by [`Context::failed`]; objects deleted before their turn are normal.
pub async fn log_result<K, E, W>(
    controller: &'static str,
    result: Result<(ObjectRef<K>, Action), controller::Error<E, W>>,
) where
    K: Resource,
    E: std::error::Error,
    W: std::error::Error,
{
    match result {
        Ok((obj, _)) => tracing::debug!(controller, %obj, "reconciled"),
        Err(controller::Error::ReconcilerFailed(..)) => {}
        Err(controller::Error::ObjectNotFound(obj)) => {
            tracing::debug!(controller, %obj, "gone before reconcile")
        }
        Err(e) => tracing::warn!(controller, error = %e, "controller stream"),
    }
}
