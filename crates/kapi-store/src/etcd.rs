//! The etcd v3 backend, for several API servers sharing one cluster.
//!
//! etcd assigns revisions, so values are stored as the layer above gave them (with an empty
//! resourceVersion, as kube-apiserver stores them) and stamped when they come back: from the
//! range at start, from the answer to a write, and from the watch that feeds the cache. That
//! watch carries every server's writes, this one's included, so each server's cache converges
//! on the same history; a writer waits until its cache has its revision before it answers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity,
    TlsOptions, TxnOp, TxnOpResponse, WatchOptions,
};

use crate::backend::{
    Backend, BoxFuture, Change, Condition, Feed, Loaded, Stamp, Txn, TxnOutcome, Write,
};
use crate::events::EventKind;
use crate::store::KeyValue;
use crate::{Revision, StoreError};

/// How to reach etcd: kube-apiserver's `--etcd-*` flags.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// Client URLs (`https://host:2379`, or `http://` for a cluster without TLS).
    pub endpoints: Vec<String>,
    /// The CA that signed the members' serving certificates.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, for clusters that require one.
    pub cert_file: Option<PathBuf>,
    /// The key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Where kapi's keys live in etcd (`--etcd-prefix`, `/registry` by default).
    pub prefix: String,
    /// How often the history is compacted (kube-apiserver's `--etcd-compaction-interval`);
    /// zero turns compaction off (another server or an operator does it).
    pub compaction_interval: Duration,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            ca_file: None,
            cert_file: None,
            key_file: None,
            prefix: "/registry".into(),
            compaction_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// The part of every kapi key that is replaced by the configured prefix.
const KAPI_ROOT: &str = "/registry";

/// How long a request to etcd may take before it is answered with an error (an election
/// takes a few seconds; a partitioned member never answers).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How many keys one range request reads at start.
const PAGE: i64 = 1_000;

/// The etcd backend's handle.
pub struct EtcdBackend {
    client: Client,
    prefix: String,
    stamp: Stamp,
    no_space: Arc<AtomicBool>,
    compaction_interval: Duration,
    /// The revision the initial range was read at: the watch starts after it.
    loaded_at: Revision,
    /// Asks the watch for a progress report, so that a cache with nothing new under its prefix
    /// still learns that it has caught up with a revision.
    progress: Arc<tokio::sync::Notify>,
    /// Whether etcd answered the last probe (see [`probe_every`]).
    reachable: Arc<AtomicBool>,
    /// Consistent reads of the current revision, shared by concurrent readers.
    reads: Arc<Mutex<Rounds>>,
}

fn unavailable(e: etcd_client::Error) -> StoreError {
    let text = e.to_string();
    if text.contains("database space exceeded") {
        return StoreError::NoSpace;
    }
    StoreError::Unavailable(text)
}

fn read(path: &PathBuf) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.clone(),
        source,
    })
}

/// Whether a failed request certainly never reached etcd's log, so that sending it again
/// cannot apply it twice: no connection could be made (a dead member: the channel picks
/// another the next time), or the member refused it for want of a leader (an election).
fn never_applied(e: &etcd_client::Error) -> bool {
    let text = e.to_string();
    text.contains("tcp connect error") || text.contains("no leader")
}

/// Sends a request, again while it fails in a way that shows it was never applied, for at
/// most [`REQUEST_TIMEOUT`] in all.
async fn within<T, F, Fut>(mut request: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
    let mut pause = Duration::from_millis(10);
    loop {
        match tokio::time::timeout_at(deadline, request()).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) if never_applied(&e) && tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "etcd request not applied; sending it again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Ok(Err(e)) => return Err(unavailable(e)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "etcd did not answer within {}s",
                    REQUEST_TIMEOUT.as_secs()
                )))
            }
        }
    }
}

impl EtcdBackend {
    /// Connects and reads every key under the prefix at one revision.
    pub async fn connect(config: EtcdConfig, stamp: Stamp) -> Result<(Self, Loaded), StoreError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_require_leader(true);
        if config.endpoints.iter().any(|e| e.starts_with("https://")) {
            let mut tls = TlsOptions::new();
            if let Some(ca) = &config.ca_file {
                tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            if let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            options = options.with_tls(tls);
        }
        let client = within(|| Client::connect(&config.endpoints, Some(options.clone()))).await?;
        let prefix = config.prefix.trim_end_matches('/').to_string();
        let mut backend = EtcdBackend {
            client,
            prefix,
            stamp,
            no_space: Arc::new(AtomicBool::new(false)),
            compaction_interval: config.compaction_interval,
            loaded_at: 0,
            progress: Arc::new(tokio::sync::Notify::new()),
            reachable: Arc::new(AtomicBool::new(true)),
            reads: Default::default(),
        };
        let loaded = backend.load().await?;
        backend.loaded_at = loaded.revision;
        Ok((backend, loaded))
    }

    /// The etcd key of a kapi key.
    fn etcd_key(&self, key: &str) -> String {
        etcd_key(&self.prefix, key)
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        load(&self.client, &self.prefix, self.stamp).await
    }
}

fn etcd_key(prefix: &str, key: &str) -> String {
    match key.strip_prefix(KAPI_ROOT) {
        Some(rest) => format!("{prefix}{rest}"),
        None => format!("{prefix}{key}"),
    }
}

/// The kapi key of an etcd key under `prefix`.
fn kapi_key(prefix: &str, key: &[u8]) -> Option<String> {
    let key = std::str::from_utf8(key).ok()?;
    let rest = key.strip_prefix(prefix)?;
    rest.starts_with('/').then(|| format!("{KAPI_ROOT}{rest}"))
}

/// The range end for every key under `prefix/` (etcd's prefix end: the last byte plus one).
fn range_of(prefix: &str) -> (String, Vec<u8>) {
    let start = format!("{prefix}/");
    let mut end = start.clone().into_bytes();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (start, end)
}

/// Every key under the prefix, read page by page at the revision of the first page.
async fn load(client: &Client, prefix: &str, stamp: Stamp) -> Result<Loaded, StoreError> {
    let kv = client.kv_client();
    let (start, end) = range_of(prefix);
    let mut from = start.clone().into_bytes();
    let mut revision = 0;
    let mut kvs = Vec::new();
    loop {
        let mut options = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let resp = within(|| {
            let mut kv = kv.clone();
            let (from, options) = (from.clone(), options.clone());
            async move { kv.get(from, Some(options)).await }
        })
        .await?;
        if revision == 0 {
            revision = resp.header().map(|h| h.revision()).unwrap_or_default();
        }
        for item in resp.kvs() {
            let Some(key) = kapi_key(prefix, item.key()) else {
                continue;
            };
            let value = Bytes::copy_from_slice(item.value());
            kvs.push((
                key,
                KeyValue {
                    value: stamp(&value, item.mod_revision()),
                    create_revision: item.create_revision(),
                    mod_revision: item.mod_revision(),
                },
            ));
        }
        match resp.kvs().last() {
            Some(last) if resp.more() => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => break,
        }
    }
    kvs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Loaded {
        kvs,
        events: Vec::new(),
        revision,
        oldest: revision,
    })
}

impl Backend for EtcdBackend {
    fn start(&self, feed: Arc<dyn Feed>) -> Result<(), StoreError> {
        let client = self.client.clone();
        let prefix = self.prefix.clone();
        let stamp = self.stamp;
        let follower = Follower {
            client: client.clone(),
            prefix,
            stamp,
            feed,
            progress: self.progress.clone(),
        };
        tokio::spawn(follower.run(self.loaded_at));
        if !self.compaction_interval.is_zero() {
            tokio::spawn(compact_every(client.clone(), self.compaction_interval));
        }
        tokio::spawn(probe_every(client, self.reachable.clone()));
        Ok(())
    }

    fn txn(&self, txn: Txn) -> BoxFuture<Result<TxnOutcome, StoreError>> {
        let kv = self.client.kv_client();
        let key = self.etcd_key(&txn.key);
        let stamp = self.stamp;
        let no_space = self.no_space.clone();
        Box::pin(async move {
            let compare = match txn.condition {
                Condition::Absent => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                Condition::Present(None) => {
                    Compare::create_revision(key.clone(), CompareOp::Greater, 0)
                }
                Condition::Present(Some(rev)) => {
                    Compare::mod_revision(key.clone(), CompareOp::Equal, rev)
                }
            };
            let (op, value) = match txn.write {
                Write::Put(value) => (TxnOp::put(key.clone(), value.to_vec(), None), value),
                // What the caller gets back; watchers get etcd's previous value instead (see
                // `Follower::change`).
                Write::Delete(value) => (TxnOp::delete(key.clone(), None), value),
            };
            let request = etcd_client::Txn::new()
                .when([compare])
                .and_then([op])
                .or_else([TxnOp::get(key.clone(), None)]);
            let resp = match within(|| {
                let mut kv = kv.clone();
                let request = request.clone();
                async move { kv.txn(request).await }
            })
            .await
            {
                Err(StoreError::NoSpace) => {
                    no_space.store(true, Ordering::Release);
                    return Err(StoreError::NoSpace);
                }
                other => other?,
            };
            no_space.store(false, Ordering::Release);
            if resp.succeeded() {
                let revision = resp.header().map(|h| h.revision()).unwrap_or_default();
                return Ok(TxnOutcome::Applied {
                    revision,
                    value: stamp(&value, revision),
                });
            }
            let current = resp.op_responses().into_iter().find_map(|r| match r {
                TxnOpResponse::Get(get) => Some(get.kvs().first().map(|kv| kv.mod_revision())),
                _ => None,
            });
            Ok(TxnOutcome::Failed {
                current: current.flatten(),
            })
        })
    }

    fn current_revision(&self) -> BoxFuture<Result<Revision, StoreError>> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let start = {
            let mut rounds = self.reads.lock().unwrap_or_else(|p| p.into_inner());
            rounds.next.push(answer);
            !std::mem::replace(&mut rounds.reading, true)
        };
        if start {
            let (key, _) = range_of(&self.prefix);
            tokio::spawn(read_rounds(
                self.reads.clone(),
                self.client.kv_client(),
                key,
            ));
        }
        Box::pin(async move {
            match answered.await {
                Ok(Ok(revision)) => Ok(revision),
                Ok(Err(e)) => Err(StoreError::Unavailable(e)),
                Err(_) => Err(StoreError::Closed),
            }
        })
    }

    fn out_of_space(&self) -> bool {
        self.no_space.load(Ordering::Acquire)
    }

    fn request_progress(&self) {
        self.progress.notify_one();
    }

    fn reachable(&self) -> Option<(&'static str, bool)> {
        Some(("etcd", self.reachable.load(Ordering::Acquire)))
    }
}

/// Consistent reads in flight. Concurrent readers share etcd round trips: each joins the
/// next read that starts after it arrived (never one already on its way, whose answer could
/// predate a write the reader has seen acknowledged), so under load one read answers everyone
/// who arrived while the previous one was out.
#[derive(Default)]
struct Rounds {
    /// A read is on its way.
    reading: bool,
    /// Those waiting for the next read.
    next: Vec<tokio::sync::oneshot::Sender<Result<Revision, String>>>,
}

/// Reads etcd's revision for everyone waiting, round after round, until no one waits.
async fn read_rounds(rounds: Arc<Mutex<Rounds>>, kv: etcd_client::KvClient, key: String) {
    loop {
        let waiters = {
            let mut r = rounds.lock().unwrap_or_else(|p| p.into_inner());
            if r.next.is_empty() {
                r.reading = false;
                return;
            }
            std::mem::take(&mut r.next)
        };
        let read = within(|| {
            let mut kv = kv.clone();
            let key = key.clone();
            async move { kv.get(key, Some(GetOptions::new().with_count_only())).await }
        })
        .await
        .map(|resp| resp.header().map(|h| h.revision()).unwrap_or_default())
        .map_err(|e| e.to_string());
        for waiter in waiters {
            let _ = waiter.send(read.clone());
        }
    }
}

/// How often etcd's health is probed for `/healthz/etcd`, and how long a probe may take.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Probes etcd with a linearizable read (it needs a leader and a quorum, as a write does)
/// every [`PROBE_EVERY`], so that the health check reads a recent answer without waiting.
async fn probe_every(client: Client, reachable: Arc<AtomicBool>) {
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    loop {
        ticks.tick().await;
        let mut kv = client.kv_client();
        let probe = kv.get("health", Some(GetOptions::new().with_count_only()));
        let ok = matches!(tokio::time::timeout(PROBE_EVERY, probe).await, Ok(Ok(_)));
        if reachable.swap(ok, Ordering::AcqRel) != ok {
            if ok {
                tracing::info!("etcd answers again");
            } else {
                tracing::warn!("etcd does not answer");
            }
        }
    }
}

/// What feeds the cache: a watch of the prefix with previous values.
struct Follower {
    client: Client,
    prefix: String,
    stamp: Stamp,
    feed: Arc<dyn Feed>,
    progress: Arc<tokio::sync::Notify>,
}

enum Resume {
    /// The stream ended after delivering everything up to this revision.
    From(Revision),
    /// The history the stream needed is gone.
    Relist,
}

impl Follower {
    /// Feeds the cache from `after` on for as long as the process runs: a broken stream is
    /// watched again from the last revision delivered; a history compacted past it makes the
    /// cache start over from a fresh range.
    async fn run(self, mut after: Revision) {
        let mut retry = Duration::from_millis(100);
        loop {
            let started = after;
            match self.watch_from(after).await {
                Ok(Resume::From(revision)) => after = revision,
                Ok(Resume::Relist) => match load(&self.client, &self.prefix, self.stamp).await {
                    Ok(loaded) => {
                        tracing::warn!(
                            revision = loaded.revision,
                            "the etcd history was compacted past the cache; it starts over from a fresh list"
                        );
                        after = loaded.revision;
                        self.feed.replace(loaded);
                    }
                    Err(e) => tracing::warn!(error = %e, "listing etcd failed; retrying"),
                },
                Err(e) => tracing::warn!(error = %e, "the etcd watch failed; resuming"),
            }
            if after > started {
                retry = Duration::from_millis(100);
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(Duration::from_secs(5));
        }
    }

    async fn watch_from(&self, after: Revision) -> Result<Resume, StoreError> {
        let (start, end) = range_of(&self.prefix);
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(after + 1)
            .with_prev_key();
        let watch = self.client.watch_client();
        let mut stream = within(|| {
            let mut watch = watch.clone();
            let (start, options) = (start.clone(), options.clone());
            async move { watch.watch(start, Some(options)).await }
        })
        .await?;
        let mut last = after;
        loop {
            let message = tokio::select! {
                message = stream.message() => message.map_err(unavailable)?,
                () = self.progress.notified() => {
                    stream.request_progress().await.map_err(unavailable)?;
                    continue;
                }
            };
            let Some(resp) = message else {
                return Ok(Resume::From(last));
            };
            if resp.compact_revision() > 0 {
                return Ok(Resume::Relist);
            }
            if resp.canceled() {
                return Ok(Resume::From(last));
            }
            if resp.created() {
                // Its revision is etcd's when the watch was made: changes up to it may still
                // be on their way, so it says nothing about what has been delivered.
                continue;
            }
            if resp.events().is_empty() {
                // A progress report: every change up to its revision has been delivered.
                if let Some(revision) = resp.header().map(|h| h.revision()) {
                    last = last.max(revision);
                    self.feed.progress(revision);
                }
                continue;
            }
            let changes: Vec<Change> = resp
                .events()
                .iter()
                .filter_map(|event| self.change(event))
                .collect();
            if let Some(change) = changes.last() {
                last = last.max(change.revision);
            }
            if !changes.is_empty() {
                self.feed.apply(changes);
            }
        }
    }

    /// One watch event as a change under kapi's keys, values stamped.
    fn change(&self, event: &etcd_client::Event) -> Option<Change> {
        let kv = event.kv()?;
        let key = kapi_key(&self.prefix, kv.key())?;
        let stamp = self.stamp;
        let revision = kv.mod_revision();
        let prev = event.prev_kv();
        let prev_value = prev.map(|p| stamp(&Bytes::copy_from_slice(p.value()), p.mod_revision()));
        let (kind, value, create_revision) = match event.event_type() {
            // The DELETED event carries the last stored state, stamped with the deletion's
            // revision, as kube-apiserver's does.
            EventType::Delete => (
                EventKind::Deleted,
                prev.map(|p| stamp(&Bytes::copy_from_slice(p.value()), revision))
                    .unwrap_or_default(),
                prev.map(|p| p.create_revision()).unwrap_or(revision),
            ),
            EventType::Put => (
                if kv.create_revision() == revision {
                    EventKind::Added
                } else {
                    EventKind::Modified
                },
                stamp(&Bytes::copy_from_slice(kv.value()), revision),
                kv.create_revision(),
            ),
        };
        Some(Change {
            kind,
            key,
            value,
            prev_value,
            create_revision,
            revision,
        })
    }
}

/// Compacts the history every `interval` up to the revision seen one interval before, as
/// kube-apiserver does: watches and paged lists from before it get 410 and relist.
async fn compact_every(client: Client, interval: Duration) {
    let kv = client.kv_client();
    let mut previous: Option<Revision> = None;
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Some(revision) = previous {
            match within(|| {
                let mut kv = kv.clone();
                async move { kv.compact(revision, None).await }
            })
            .await
            {
                Ok(_) => tracing::info!(revision, "compacted the etcd history"),
                // Another server compacted to it or further already.
                Err(e) if e.to_string().contains("compacted") => {}
                Err(e) => tracing::warn!(error = %e, "compacting etcd failed"),
            }
        }
        let current = within(|| {
            let mut kv = kv.clone();
            async move {
                kv.get("compact_rev_key", Some(GetOptions::new().with_count_only()))
                    .await
            }
        })
        .await;
        match current {
            Ok(resp) => previous = resp.header().map(|h| h.revision()),
            Err(e) => tracing::warn!(error = %e, "reading the etcd revision failed"),
        }
    }
}
