//! Limits on how much the server does at once, between authentication and authorization:
//! API Priority and Fairness (the default), or kube-apiserver's older max-in-flight limits when
//! `--enable-priority-and-fairness=false`.
//!
//! With APF each request is classified by the FlowSchemas into a priority level, whose share of
//! the server's concurrency (`--max-requests-inflight` + `--max-mutating-requests-inflight`)
//! is divided fairly between flows (users or namespaces) by [`queueset`]. A request holds its
//! seats until its response body has been sent, so the memory of large LISTs in flight is
//! bounded by the seats, not by the number of clients. Exempt requests (system:masters, health
//! probes) and long-running ones other than watches (exec, attach, port-forward, proxy, logs)
//! pass without seats; a watch holds one only until its handler returns.

pub mod bootstrap;
pub mod config;
pub mod queueset;
pub mod retry_after;
pub mod sync;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Response};
use kapi_auth::UserInfo;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::config::{Config, LevelKind};
use self::queueset::{Permit, QueueSet};
use crate::request_info::RequestInfo;
use crate::response::{self, Body};

/// How long a request may wait in a queue: a quarter of the default request timeout (60 s).
pub const WAIT_LIMIT: Duration = Duration::from_secs(15);

/// The most seats one request may take, before the level's own cap (upstream's list maximum).
const MAX_SEATS: usize = 10;

/// Objects per seat a LIST is charged: a LIST of 10,000 objects takes the maximum.
const OBJECTS_PER_SEAT: usize = 100;

/// The flags that size the limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--max-requests-inflight` (0: no limit on reads without APF).
    pub max_requests_inflight: usize,
    /// `--max-mutating-requests-inflight` (0: no limit on writes without APF).
    pub max_mutating_requests_inflight: usize,
    /// `--enable-priority-and-fairness`.
    pub priority_and_fairness: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_requests_inflight: 400,
            max_mutating_requests_inflight: 200,
            priority_and_fairness: true,
        }
    }
}

/// What a request was given: seats to hold, and the APF headers to answer with.
#[derive(Debug, Default)]
pub struct Admitted {
    seats: Option<Seats>,
    headers: Option<(HeaderValue, HeaderValue)>,
}

#[derive(Debug)]
enum Seats {
    Apf(#[allow(dead_code)] Permit),
    Inflight(#[allow(dead_code)] OwnedSemaphorePermit),
}

impl Admitted {
    /// Puts the APF headers on `resp` and keeps the seats until its body has been sent (a
    /// watch gives them back now: it is counted only while it starts).
    pub fn finish(self, mut resp: Response<Body>, watch: bool) -> Response<Body> {
        if let Some((fs, pl)) = self.headers {
            let h = resp.headers_mut();
            h.insert(FS_HEADER, fs);
            h.insert(PL_HEADER, pl);
        }
        match self.seats {
            Some(seats) if !watch => resp.map(|body| response::hold_until_sent(body, seats)),
            _ => resp,
        }
    }
}

/// A request that was not admitted, with the APF headers of its classification.
#[derive(Debug)]
pub struct Refused {
    headers: Option<(HeaderValue, HeaderValue)>,
    retry_after: u64,
}

impl Refused {
    /// Upstream's answer: 429 in plain text, with when to retry.
    pub fn response(self) -> Response<Body> {
        too_many_requests(self.headers, self.retry_after)
    }
}

fn too_many_requests(
    headers: Option<(HeaderValue, HeaderValue)>,
    retry_after: u64,
) -> Response<Body> {
    let mut resp = response::text(429, "Too many requests, please try again later.\n");
    let h = resp.headers_mut();
    h.insert(http::header::RETRY_AFTER, HeaderValue::from(retry_after));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Some((fs, pl)) = headers {
        h.insert(FS_HEADER, fs);
        h.insert(PL_HEADER, pl);
    }
    resp
}

/// Requests that run for as long as the client wants and so never hold seats (watches are
/// handled apart: they hold seats while they start).
pub fn is_long_running(info: &RequestInfo) -> bool {
    if !info.is_resource {
        return info.path.starts_with("/debug/pprof/");
    }
    info.verb == "proxy"
        || matches!(
            info.subresource.as_str(),
            "attach" | "exec" | "proxy" | "log" | "portforward"
        )
}

/// Where a schema's requests go, worked out once per configuration so that a request costs
/// one match and a few reference-count increments.
struct Route {
    /// `X-Kubernetes-PF-FlowSchema-UID` and `-PriorityLevel-UID`.
    headers: (HeaderValue, HeaderValue),
    /// The level's seats; `None` when exempt.
    set: Option<Arc<QueueSet>>,
    /// The most seats one request may take on that level.
    max_seats: usize,
}

struct Compiled {
    config: Config,
    /// Each level's seats and queues, by level name (kept across reloads).
    sets: HashMap<String, Arc<QueueSet>>,
    /// One per schema, in the order of `config.schemas`.
    routes: Vec<Route>,
}

const FS_HEADER: HeaderName = HeaderName::from_static("x-kubernetes-pf-flowschema-uid");
const PL_HEADER: HeaderName = HeaderName::from_static("x-kubernetes-pf-prioritylevel-uid");

/// The limits of a running server.
pub struct FlowControl {
    limits: Limits,
    apf: RwLock<Arc<Compiled>>,
    reads: Arc<Semaphore>,
    writes: Arc<Semaphore>,
}

impl FlowControl {
    /// Limits sized by `limits`, with only the mandatory `exempt` and `catch-all` objects until
    /// [`Self::reload`] brings the stored configuration.
    pub fn new(limits: Limits) -> Self {
        let fc = Self {
            limits,
            apf: RwLock::new(Arc::new(Compiled {
                config: Config::default(),
                sets: HashMap::new(),
                routes: Vec::new(),
            })),
            reads: Arc::new(Semaphore::new(limits.max_requests_inflight)),
            writes: Arc::new(Semaphore::new(limits.max_mutating_requests_inflight)),
        };
        fc.reload(Config::build(&[], &[]));
        fc
    }

    /// The server's total concurrency under APF.
    fn server_limit(&self) -> usize {
        (self.limits.max_requests_inflight + self.limits.max_mutating_requests_inflight).max(1)
    }

    /// Switches to a new configuration; levels keep their queues (and who waits in them).
    pub fn reload(&self, config: Config) {
        let mut guard = self.apf.write().unwrap_or_else(|e| e.into_inner());
        let nominal: HashMap<String, usize> = config
            .nominal_limits(self.server_limit())
            .into_iter()
            .collect();
        // Per limited level: its seats and queues, and the most seats one request may take.
        let mut levels: HashMap<&str, (Arc<QueueSet>, usize)> = HashMap::new();
        for level in &config.levels {
            let LevelKind::Limited { queuing, .. } = level.kind else {
                continue;
            };
            let limit = nominal.get(&level.name).copied().unwrap_or(1).max(1);
            let set = match guard.sets.get(&level.name) {
                Some(set) => {
                    set.reconfigure(limit, queuing);
                    set.clone()
                }
                None => QueueSet::new(limit, queuing, WAIT_LIMIT),
            };
            // Upstream: max(1, min(ceil(0.15 × limit), limit / handSize)) for queuing levels.
            let cap = match queuing {
                Some(q) => (limit * 15)
                    .div_ceil(100)
                    .min(limit / q.hand_size.max(1))
                    .max(1),
                None => limit,
            };
            levels.insert(&level.name, (set, cap.min(MAX_SEATS)));
        }
        let header = |uid: &str| HeaderValue::from_str(uid).unwrap_or(HeaderValue::from_static(""));
        let routes = config
            .schemas
            .iter()
            .map(|schema| {
                let level = config.levels.iter().find(|l| l.name == schema.level);
                let seats = levels.get(schema.level.as_str());
                Route {
                    headers: (
                        header(&schema.uid),
                        header(level.map_or("", |l| l.uid.as_str())),
                    ),
                    set: seats.map(|(set, _)| set.clone()),
                    max_seats: seats.map_or(1, |(_, cap)| *cap),
                }
            })
            .collect();
        let sets = levels
            .into_iter()
            .map(|(name, (set, _))| (name.to_string(), set))
            .collect();
        *guard = Arc::new(Compiled {
            config,
            sets,
            routes,
        });
    }

    /// Admits a request or answers 429. `list_size` estimates how many objects a LIST will
    /// return; it is asked only when the request is limited.
    pub async fn admit(
        &self,
        user: &UserInfo,
        info: &RequestInfo,
        list_size: impl FnOnce() -> usize,
    ) -> Result<Admitted, Refused> {
        if !self.limits.priority_and_fairness {
            return self.admit_inflight(user, info);
        }
        if is_long_running(info) {
            return Ok(Admitted::default());
        }
        let (headers, set, max_seats, flow) = {
            let compiled = self.apf.read().unwrap_or_else(|e| e.into_inner());
            let Some(i) = compiled.config.classify_index(user, info) else {
                return Ok(Admitted::default());
            };
            let route = &compiled.routes[i];
            let Some(set) = &route.set else {
                return Ok(Admitted {
                    seats: None,
                    headers: Some(route.headers.clone()),
                });
            };
            let schema = &compiled.config.schemas[i];
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            schema.name.hash(&mut hasher);
            schema.flow_distinguisher(user, info).hash(&mut hasher);
            (
                route.headers.clone(),
                set.clone(),
                route.max_seats,
                hasher.finish(),
            )
        };
        let seats = if info.verb == "list" {
            list_size().div_ceil(OBJECTS_PER_SEAT).clamp(1, max_seats)
        } else {
            1
        };
        match set.acquire(flow, seats).await {
            Ok(permit) => Ok(Admitted {
                seats: Some(Seats::Apf(permit)),
                headers: Some(headers),
            }),
            Err(why) => {
                tracing::debug!(user = %user.name, ?why, "request refused by priority and fairness");
                Err(Refused {
                    headers: Some(headers),
                    retry_after: set.retry_after(),
                })
            }
        }
    }

    /// kube-apiserver's max-in-flight filter: reads and writes limited apart, no queuing,
    /// system:masters let through when full.
    fn admit_inflight(&self, user: &UserInfo, info: &RequestInfo) -> Result<Admitted, Refused> {
        if is_long_running(info) || info.verb == "watch" {
            return Ok(Admitted::default());
        }
        let read_only = matches!(info.verb.as_str(), "get" | "list");
        let (sem, limit) = if read_only {
            (&self.reads, self.limits.max_requests_inflight)
        } else {
            (&self.writes, self.limits.max_mutating_requests_inflight)
        };
        if limit == 0 {
            return Ok(Admitted::default());
        }
        match sem.clone().try_acquire_owned() {
            Ok(permit) => Ok(Admitted {
                seats: Some(Seats::Inflight(permit)),
                headers: None,
            }),
            Err(_) if user.groups.iter().any(|g| g == "system:masters") => Ok(Admitted::default()),
            Err(_) => Err(Refused {
                headers: None,
                retry_after: 1,
            }),
        }
    }
}
