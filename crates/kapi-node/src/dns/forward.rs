//! Names outside the cluster zone go to the node's own nameservers (those of its
//! `/etc/resolv.conf`, as CoreDNS's `forward . /etc/resolv.conf`). The node runs in the host's
//! network, so a local stub such as systemd-resolved's 127.0.0.53 works as an upstream.
//!
//! Questions are relayed with the protocol they came in on: a UDP answer too large for the
//! client comes back truncated and the client retries over TCP, which is then relayed over TCP.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_net::client::Client;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::DnsHandle;
use hickory_net::NetError;
use hickory_proto::op::{DnsRequest, DnsRequestOptions, Message, Query};

/// How long one upstream may take before the next is asked.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// There is no nameserver to forward to.
    #[error("no upstream nameserver is configured")]
    NoUpstream,
    /// Every upstream failed; the last failure.
    #[error("upstream {upstream}: {source}")]
    Upstream {
        /// The last upstream tried.
        upstream: SocketAddr,
        /// Why it failed.
        source: NetError,
    },
}

/// The upstream nameservers, with one long-lived UDP client each.
#[derive(Clone)]
pub struct Forwarder {
    upstreams: Vec<(SocketAddr, Client<TokioRuntimeProvider>)>,
}

impl Forwarder {
    /// Clients for `upstreams`; their background tasks run on the current runtime.
    pub fn new(upstreams: &[SocketAddr]) -> Forwarder {
        let upstreams = upstreams
            .iter()
            .map(|addr| {
                let stream = UdpClientStream::builder(*addr, TokioRuntimeProvider::default())
                    .with_timeout(Some(UPSTREAM_TIMEOUT))
                    .build();
                let (client, background) = Client::from_sender(stream);
                tokio::spawn(background);
                (*addr, client)
            })
            .collect();
        Forwarder { upstreams }
    }

    /// The upstreams.
    pub fn upstreams(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.upstreams.iter().map(|(a, _)| *a)
    }

    /// Asks each upstream in turn until one answers (any response code is an answer).
    pub async fn forward(
        &self,
        query: Query,
        edns: bool,
        tcp: bool,
    ) -> Result<Message, ForwardError> {
        let mut last = Err(ForwardError::NoUpstream);
        for (addr, udp) in &self.upstreams {
            let mut options = DnsRequestOptions::default();
            options.use_edns = edns;
            options.recursion_desired = true;
            let request = DnsRequest::from_query(query.clone(), options);
            let response = if tcp {
                ask_tcp(*addr, request).await
            } else {
                first(udp.send(request)).await
            };
            match response {
                Ok(message) => return Ok(message),
                Err(source) => {
                    tracing::debug!(upstream = %addr, error = %source, "upstream nameserver failed");
                    last = Err(ForwardError::Upstream {
                        upstream: *addr,
                        source,
                    });
                }
            }
        }
        last
    }
}

async fn first<S>(mut responses: S) -> Result<Message, NetError>
where
    S: futures_util::Stream<Item = Result<hickory_proto::op::DnsResponse, NetError>> + Unpin,
{
    use futures_util::StreamExt;
    match responses.next().await {
        Some(Ok(response)) => Ok(response.into_message()),
        Some(Err(e)) => Err(e),
        None => Err(NetError::Timeout),
    }
}

/// One TCP connection per relayed TCP question: they are rare (retries of truncated answers).
async fn ask_tcp(addr: SocketAddr, request: DnsRequest) -> Result<Message, NetError> {
    let (connect, handle) = TcpClientStream::new(
        addr,
        None,
        Some(UPSTREAM_TIMEOUT),
        TokioRuntimeProvider::default(),
    );
    let stream = tokio::time::timeout(UPSTREAM_TIMEOUT, connect)
        .await
        .map_err(|_| NetError::Timeout)??;
    let (client, background) =
        Client::<TokioRuntimeProvider>::with_timeout(stream, handle, UPSTREAM_TIMEOUT);
    let task = tokio::spawn(background);
    let out = first(client.send(request)).await;
    task.abort();
    out
}

/// The nameservers of a resolv.conf (port 53); unreadable or empty gives none.
pub fn nameservers(resolv_conf: &Path) -> Vec<SocketAddr> {
    let Ok(text) = std::fs::read_to_string(resolv_conf) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            let ip: IpAddr = words.next()?.split('%').next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_come_from_resolv_conf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("resolv.conf");
        std::fs::write(
            &path,
            "# comment\nnameserver 127.0.0.53\nsearch example.org\nnameserver fe80::1%eth0\nnameserver bogus\n",
        )
        .expect("write");
        assert_eq!(
            nameservers(&path),
            [
                "127.0.0.53:53".parse::<SocketAddr>().expect("addr"),
                "[fe80::1]:53".parse().expect("addr")
            ]
        );
        assert!(nameservers(&dir.path().join("missing")).is_empty());
    }
}
