//! The generic REST store: one implementation of get, list, watch, create, update, patch and
//! delete for every resource, with per-resource rules in [`strategy`].
//!
//! Objects are JSON. They are stored with `metadata.resourceVersion` set to the revision of
//! the write (the store stamps it in; see [`stored`]), so reads return the stored bytes
//! verbatim and a list or watch copies bytes without re-encoding.

mod allocator;
pub mod claims;
mod hpa;
pub mod layout;
pub mod list_options;
pub mod namespaces;
pub mod object_meta;
pub mod pods;
pub mod port_range;
mod propagation;
pub mod service_cidrs;
mod stored;
pub mod strategy;
mod update_rules;
mod workload_checks;
mod write;

use bytes::Bytes;
use kapi_api::resources::ResourceDef;
use kapi_api::status::ApiError;
use kapi_store::{Revision, Store, StoreError, WatchStream};
use serde_json::Value;

pub use list_options::ListOptions;
pub use propagation::validate as validate_delete_options;
pub use stored::{stamp_revision, validate_stored};
pub use write::{now, Admit, DeleteOutcome, PatchType, WriteOptions};

/// The registry over one store.
pub struct Registry {
    store: Store,
    allocator: allocator::Allocator,
}

/// One page of a list.
pub struct ListPage {
    /// The objects' bytes, in key order.
    pub items: Vec<Bytes>,
    /// The revision the list is consistent at.
    pub revision: Revision,
    /// The continue token when more objects remain.
    pub continue_token: Option<String>,
}

/// Maps a store failure on `def`/`name` to the Status a client expects.
pub fn store_error(def: &ResourceDef, name: &str, err: StoreError) -> ApiError {
    match err {
        StoreError::AlreadyExists(_) => ApiError::already_exists(def.group, def.resource, name),
        StoreError::NotFound(_) => ApiError::not_found(def.group, def.resource, name),
        StoreError::Conflict { .. } => ApiError::conflict(def.group, def.resource, name),
        StoreError::Compacted { requested, oldest } => {
            ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
        }
        other => ApiError::internal(other),
    }
}

/// Parses stored bytes; stored objects are always valid JSON, so failure is an internal error.
pub fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::internal(format!("stored object: {e}")))
}

/// The most a YAML body may expand to (bytes of compact JSON) through anchors and aliases: the
/// request body limit, since nothing larger could be stored anyway.
pub const MAX_DECODED_YAML_BYTES: usize = 3 * 1024 * 1024;

/// Parses a YAML body (object bodies, apply patches) into JSON, refusing with 413 one whose
/// aliases expand it past [`MAX_DECODED_YAML_BYTES`] while it is being built. `what` names
/// the failure for a malformed body, as upstream's message for that body does.
pub fn decode_yaml(body: &[u8], what: &str) -> Result<Value, ApiError> {
    use kapi_api::bounded::{decode_bounded, BoundedError};
    match decode_bounded(serde_yaml::Deserializer::from_slice(body), MAX_DECODED_YAML_BYTES) {
        Ok(v) => Ok(v),
        Err(BoundedError::TooLarge { budget }) => Err(ApiError::too_large(format!(
            "Request entity too large: the YAML body expands through its aliases beyond {budget} bytes"
        ))),
        Err(BoundedError::Malformed(e)) => Err(ApiError::bad_request(format!("{what}: {e}"))),
    }
}

/// Waits until one of `defs`' objects changes after revision `after` (taken before the caller
/// read the state it acts on, so no change is missed in between), then lets a burst
/// of changes (a `kubectl apply` of many objects) settle for a few milliseconds, so that
/// configuration kept in memory (RBAC, flow control) is rebuilt once per burst.
pub async fn next_change(registry: &Registry, defs: &[&ResourceDef], after: Revision) {
    // One watch per resource, so that only their own changes wake this.
    let mut watches = Vec::new();
    for def in defs {
        match registry.store().watch(&def.key_prefix(), after) {
            Ok(w) => watches.push(w),
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                return;
            }
        }
    }
    if watches.is_empty() {
        return;
    }
    let first = futures_util::future::select_all(watches.iter_mut().map(|w| Box::pin(w.next())));
    if first.await.0.is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        return;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_millis(5), async {
        loop {
            let next =
                futures_util::future::select_all(watches.iter_mut().map(|w| Box::pin(w.next())));
            if next.await.0.is_err() {
                return;
            }
        }
    })
    .await;
}

impl Registry {
    /// A registry over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            allocator: allocator::Allocator::new(),
            store,
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every stored object of `def`, decoded (for configuration kept in memory: RBAC, flow
    /// control); objects that do not decode are skipped.
    pub fn list_values(&self, def: &ResourceDef) -> Vec<Value> {
        let (items, _, _) = self.store.list(&def.key_prefix(), None, 0, |_, _| true);
        items
            .into_iter()
            .filter_map(|(_, kv)| serde_json::from_slice(&kv.value).ok())
            .collect()
    }

    /// One object's stored bytes.
    pub fn get(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> Result<Bytes, ApiError> {
        let key = def.key(ns, name);
        self.readable(&key)?;
        self.store
            .get(&key)
            .map(|kv| kv.value)
            .ok_or_else(|| ApiError::not_found(def.group, def.resource, name))
    }

    /// Refuses a key whose stored value is corrupt, as upstream's StorageError does.
    fn readable(&self, key: &str) -> Result<(), ApiError> {
        match self.store.corruption(key) {
            Some(why) => Err(ApiError::corrupt_object(key, &why)),
            None => Ok(()),
        }
    }

    /// Whether an object's stored value is corrupt.
    pub fn is_corrupt(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> bool {
        self.store.corruption(&def.key(ns, name)).is_some()
    }

    /// One object, decoded, with its revision.
    pub fn get_value(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<(Value, Revision), ApiError> {
        let key = def.key(ns, name);
        self.readable(&key)?;
        let kv = self
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(def.group, def.resource, name))?;
        Ok((decode(&kv.value)?, kv.mod_revision))
    }

    /// The key prefix of a collection: one namespace, or all of them.
    pub fn prefix(def: &ResourceDef, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if def.namespaced => format!("{}{ns}/", def.key_prefix()),
            _ => def.key_prefix(),
        }
    }

    /// A page of a collection, filtered by the options' selectors.
    pub async fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        match (opts.resource_version, opts.continue_revision) {
            // The most recent state: a consistent read.
            (None, None) => self.sync().await?,
            (rv, _) => self.wait_for_revision(rv).await?,
        }
        let prefix = Self::prefix(def, ns);
        let corrupt = self.store.corrupt_under(&prefix, 101);
        if !corrupt.is_empty() {
            return Err(ApiError::store_read_error(def.resource, &prefix, &corrupt));
        }
        // A page of a list goes on at the revision its first page was read at, and a list at
        // an exact version is read there, as etcd's MVCC reads are.
        let pinned = match (opts.continue_revision, opts.rv_match, opts.resource_version) {
            (Some(rv), _, _) if rv > 0 => Some(rv),
            (None, list_options::RvMatch::Exact, Some(rv)) => Some(rv),
            _ => None,
        };
        let current = self.store.revision();
        let (items, revision, more) = match pinned {
            Some(at) if at < current => {
                let read = self.store.list_at(
                    &prefix,
                    opts.continue_after.as_deref(),
                    opts.limit,
                    at,
                    |key, kv| opts.matches_stored(key, &kv.value),
                );
                match read {
                    Ok((items, more)) => (items, at, more),
                    Err(kapi_store::StoreError::Compacted { oldest, .. }) => {
                        return Err(match (&opts.continue_after, opts.continue_revision) {
                            (Some(start), Some(_)) => {
                                ApiError::continue_expired(list_options::encode_continue(start, 0))
                            }
                            _ => ApiError::expired(format!(
                                "too old resource version: {at} ({oldest})"
                            )),
                        });
                    }
                    Err(e) => return Err(store_error(def, "", e)),
                }
            }
            _ => self.store.list(
                &prefix,
                opts.continue_after.as_deref(),
                opts.limit,
                |key, kv| opts.matches_stored(key, &kv.value),
            ),
        };
        let continue_token = if more {
            items
                .last()
                .map(|(k, _)| list_options::encode_continue(k, revision))
        } else {
            None
        };
        Ok(ListPage {
            items: items.into_iter().map(|(_, kv)| kv.value).collect(),
            revision,
            continue_token,
        })
    }

    /// A store watch on a collection from `after`.
    pub fn watch(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        after: Revision,
    ) -> Result<WatchStream, ApiError> {
        self.store
            .watch(&Self::prefix(def, ns), after)
            .map_err(|e| store_error(def, "", e))
    }

    /// A request for a revision the store has not reached waits briefly, then fails as
    /// upstream does ("Too large resource version").
    /// Waits until the cache holds every write the store had committed when this was called
    /// (on etcd, other servers' too), so that a read after it is consistent.
    pub async fn sync(&self) -> Result<(), ApiError> {
        self.store.sync().await.map_err(|e| {
            let mut e = ApiError::internal(e);
            e.code = 504;
            e.reason = "Timeout";
            e
        })
    }

    async fn wait_for_revision(&self, rv: Option<Revision>) -> Result<(), ApiError> {
        let Some(rv) = rv else { return Ok(()) };
        let wait = std::time::Duration::from_secs(3);
        self.store.wait_for_revision(rv, wait).await.map_err(|current| {
            let mut e = ApiError::internal("");
            e.code = 504;
            e.reason = "Timeout";
            e.message = format!("Timeout: Too large resource version: {rv}, current: {current}");
            e.details = Some(Box::new(
                serde_json::json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
            ));
            e
        })
    }
}
