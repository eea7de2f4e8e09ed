//! The ServiceCIDR controller, as upstream's: every ServiceCIDR gets the
//! `networking.k8s.io/service-cidr-finalizer` and the condition Ready=True; one being deleted
//! keeps its finalizer (and says why, Ready=False, reason `Terminating`) while a Service
//! address allocated from it lies in no other ServiceCIDR, so deleting a range never strands
//! the Services using it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::networking::v1::{IPAddress, ServiceCIDR};
use k8s_openapi::chrono::{TimeDelta, Utc};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::shared::{log_result, Context, ReconcileError, Task};

const CONTROLLER: &str = crate::SERVICE_CIDR;
/// The finalizer that holds a ServiceCIDR while addresses depend on it.
pub const FINALIZER: &str = "networking.k8s.io/service-cidr-finalizer";
/// The label the allocator puts on the IPAddresses it manages.
const MANAGED: &str = "ipaddress.kubernetes.io/managed-by=ipallocator.k8s.io";
const READY_MESSAGE: &str = "Kubernetes Service CIDR is ready";
const TERMINATING_MESSAGE: &str =
    "There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR";
/// How long after its deletion a ServiceCIDR's finalizer stays, as upstream waits, so that an
/// allocation racing the deletion has landed and is seen.
const DELETION_GRACE: Duration = Duration::from_secs(10);

/// An IP block of either family, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    v6: bool,
    base: u128,
    prefix: u8,
}

impl Block {
    /// Parses `a.b.c.d/n` or an IPv6 CIDR; `None` for anything else.
    pub fn parse(cidr: &str) -> Option<Block> {
        let (ip, len) = cidr.split_once('/')?;
        let prefix: u8 = len.parse().ok()?;
        let (v6, base, bits) = match ip.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (true, u128::from(a), 128),
        };
        (prefix <= bits).then_some(Block {
            v6,
            base: base & mask(bits, prefix),
            prefix,
        })
    }

    fn bits(&self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    fn covers(&self, other: &Block) -> bool {
        self.v6 == other.v6
            && self.prefix <= other.prefix
            && other.base & mask(self.bits(), self.prefix) == self.base
    }

    /// Whether `ip` is an address of this block a Service could hold: not the network
    /// address, nor the broadcast address of an IPv4 block.
    pub fn holds(&self, ip: IpAddr) -> bool {
        let (v6, n) = match ip {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        if v6 != self.v6 || n & mask(self.bits(), self.prefix) != self.base || n == self.base {
            return false;
        }
        let last = self.base | (mask(self.bits(), self.bits()) & !mask(self.bits(), self.prefix));
        v6 || n != last
    }
}

/// The netmask of a `prefix` within `bits` bits, as a u128 holding only those bits.
fn mask(bits: u8, prefix: u8) -> u128 {
    let ones = |n: u32| {
        if n >= 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        }
    };
    ones(u32::from(bits)) & !ones(u32::from(bits.saturating_sub(prefix)))
}

fn blocks(cidr: &ServiceCIDR) -> Vec<Block> {
    cidr.spec
        .iter()
        .flat_map(|s| s.cidrs.iter().flatten())
        .filter_map(|c| Block::parse(c))
        .collect()
}

/// Starts the controller.
pub fn run(ctx: Arc<Context>) -> Task {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<ServiceCIDR>::all(client.clone()),
        watcher::Config::default(),
    );
    let cidrs = controller.store();
    let by_address = cidrs.clone();
    Box::pin(
        controller
            .watches(
                Api::<IPAddress>::all(client),
                watcher::Config::default().labels(MANAGED),
                move |ip: IPAddress| {
                    let addr = ip.name_any().parse::<IpAddr>().ok();
                    by_address
                        .state()
                        .iter()
                        .filter(|c| addr.is_some_and(|a| blocks(c).iter().any(|b| b.holds(a))))
                        .map(|c| ObjectRef::from_obj(c.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
            .with_config(controller::Config::default().debounce(Duration::from_millis(50)))
            .run(
                move |cidr, ctx| reconcile(cidr, ctx, cidrs.clone()),
                error_policy,
                ctx,
            )
            .for_each(|r| log_result(CONTROLLER, r)),
    )
}

fn error_policy(cidr: Arc<ServiceCIDR>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.failed(CONTROLLER, cidr.as_ref(), error)
}

fn ready_condition(cidr: &ServiceCIDR) -> Option<(&str, &str, &str)> {
    cidr.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.as_str(), c.reason.as_str(), c.message.as_str()))
}

async fn set_ready(
    api: &Api<ServiceCIDR>,
    cidr: &ServiceCIDR,
    status: &str,
    reason: &str,
    message: &str,
) -> Result<(), ReconcileError> {
    if ready_condition(cidr) == Some((status, reason, message)) {
        return Ok(());
    }
    let body = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
        "metadata": {"name": cidr.name_any()},
        "status": {"conditions": [{
            "type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }]},
    });
    api.patch_status(
        &cidr.name_any(),
        &PatchParams::apply(CONTROLLER).force(),
        &Patch::Apply(body),
    )
    .await?;
    Ok(())
}

async fn set_finalizers(
    api: &Api<ServiceCIDR>,
    cidr: &ServiceCIDR,
    finalizers: Vec<String>,
) -> Result<(), ReconcileError> {
    let body = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": cidr.resource_version(),
    }});
    api.patch(
        &cidr.name_any(),
        &PatchParams::default(),
        &Patch::Merge(body),
    )
    .await?;
    Ok(())
}

/// Whether a managed address of `cidr` lies in no other ServiceCIDR (those being deleted
/// count as cover, as upstream's).
async fn strands_addresses(
    ctx: &Context,
    cidr: &ServiceCIDR,
    all: &Store<ServiceCIDR>,
) -> Result<bool, ReconcileError> {
    let own = blocks(cidr);
    let others: Vec<Block> = all
        .state()
        .iter()
        .filter(|c| c.name_any() != cidr.name_any())
        .flat_map(|c| blocks(c))
        .collect();
    if own.iter().all(|b| others.iter().any(|o| o.covers(b))) {
        return Ok(false);
    }
    let ips = Api::<IPAddress>::all(ctx.client.clone())
        .list(&kube::api::ListParams::default().labels(MANAGED))
        .await?;
    Ok(ips.items.iter().any(|ip| {
        ip.name_any()
            .parse::<IpAddr>()
            .is_ok_and(|a| own.iter().any(|b| b.holds(a)) && !others.iter().any(|o| o.holds(a)))
    }))
}

async fn reconcile(
    cidr: Arc<ServiceCIDR>,
    ctx: Arc<Context>,
    all: Store<ServiceCIDR>,
) -> Result<Action, ReconcileError> {
    let api = Api::<ServiceCIDR>::all(ctx.client.clone());
    let finalizers = cidr.finalizers().to_vec();
    let held = finalizers.iter().any(|f| f == FINALIZER);
    let Some(deleted) = cidr.metadata.deletion_timestamp.as_ref() else {
        if !held {
            let mut with = finalizers.clone();
            with.push(FINALIZER.to_string());
            set_finalizers(&api, &cidr, with).await?;
            // The patch's event brings the object back with the finalizer.
            return Ok(Action::await_change());
        }
        set_ready(&api, &cidr, "True", "", READY_MESSAGE).await?;
        ctx.succeeded(CONTROLLER, cidr.as_ref());
        return Ok(Action::await_change());
    };
    if !held {
        return Ok(Action::await_change());
    }
    if strands_addresses(&ctx, &cidr, &all).await? {
        set_ready(&api, &cidr, "False", "Terminating", TERMINATING_MESSAGE).await?;
        // Released addresses and new covering ServiceCIDRs bring it back.
        return Ok(Action::await_change());
    }
    let release_at = deleted.0 + TimeDelta::from_std(DELETION_GRACE).unwrap_or_default();
    let now = Utc::now();
    if release_at > now {
        let wait = (release_at - now).to_std().unwrap_or_default();
        return Ok(Action::requeue(wait + Duration::from_millis(100)));
    }
    let rest = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
    set_finalizers(&api, &cidr, rest).await?;
    ctx.succeeded(CONTROLLER, cidr.as_ref());
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_hold_their_addresses_but_network_and_v4_broadcast() {
        let b = Block::parse("10.96.0.0/28").unwrap();
        assert!(!b.holds(ip("10.96.0.0")));
        assert!(b.holds(ip("10.96.0.1")));
        assert!(b.holds(ip("10.96.0.14")));
        assert!(!b.holds(ip("10.96.0.15")));
        assert!(!b.holds(ip("10.96.0.16")));
        let v6 = Block::parse("fd00::/120").unwrap();
        assert!(v6.holds(ip("fd00::ff")), "no broadcast in IPv6");
        assert!(!v6.holds(ip("fd00::")));
        assert!(!v6.holds(ip("10.96.0.1")));
    }

    #[test]
    fn a_wider_block_covers_a_narrower_one_of_its_family() {
        let wide = Block::parse("10.96.0.0/12").unwrap();
        let narrow = Block::parse("10.96.4.0/24").unwrap();
        assert!(wide.covers(&narrow));
        assert!(!narrow.covers(&wide));
        assert!(wide.covers(&wide));
        assert!(!wide.covers(&Block::parse("10.112.0.0/24").unwrap()));
        assert!(!wide.covers(&Block::parse("fd00::/64").unwrap()));
    }
}
