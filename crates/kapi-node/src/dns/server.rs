//! The DNS server proper: hickory-server's UDP and TCP loops with a request handler that answers
//! the cluster zone from the index and relays every other question upstream.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_net::runtime::Time;
use hickory_net::xfer::Protocol;
use hickory_proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::{Name, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

use super::forward::Forwarder;
use super::index::Index;
use super::records::{lookup, Zone};

/// The current index, replaced whole on every change (readers clone the `Arc` and let go of
/// the lock at once).
pub type SharedIndex = Arc<RwLock<Arc<Index>>>;

/// An idle TCP client is dropped after this long.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("binding the DNS server to {addr}: {source}")]
pub struct BindError {
    addr: SocketAddr,
    source: std::io::Error,
}

/// Answers one question at a time.
pub struct Handler {
    zone: Zone,
    index: SharedIndex,
    forwarder: Forwarder,
}

impl Handler {
    /// A handler for `zone` over `index`, relaying the rest through `forwarder`.
    pub fn new(zone: Zone, index: SharedIndex, forwarder: Forwarder) -> Handler {
        Handler {
            zone,
            index,
            forwarder,
        }
    }

    fn index(&self) -> Arc<Index> {
        match self.index.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The server on `addr`, UDP and TCP (and the address bound, for port 0); it runs until dropped.
pub async fn serve(
    addr: SocketAddr,
    handler: Handler,
) -> Result<(Server<Handler>, SocketAddr), BindError> {
    let (udp, tcp, bound) = bind_pair(addr).await?;
    let mut server = Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE, 64);
    Ok((server, bound))
}

/// How often a free port is tried again when the one UDP got is taken for TCP.
const PORT_ATTEMPTS: usize = 16;

/// UDP and TCP sockets on one port. For port 0 the kernel picks a free UDP port, which a TCP
/// socket (an outgoing connection, say) may already hold; then another port is tried.
async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), BindError> {
    let err = |source| BindError { addr, source };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let udp = UdpSocket::bind(addr).await.map_err(err)?;
        let bound = udp.local_addr().map_err(err)?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp, bound)),
            Err(e)
                if addr.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempts < PORT_ATTEMPTS => {}
            Err(e) => return Err(err(e)),
        }
    }
}

fn failed(request: &Request, code: ResponseCode) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = code;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let response_edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512));
            edns
        });
        let builder = MessageResponseBuilder::new(&request.queries, response_edns.as_ref());
        let query = match request.queries.queries() {
            [q] if request.metadata.message_type == MessageType::Query
                && request.metadata.op_code == OpCode::Query =>
            {
                q
            }
            _ => {
                let code = if request.metadata.op_code == OpCode::Query {
                    ResponseCode::FormErr
                } else {
                    ResponseCode::NotImp
                };
                let response = builder.error_msg(&request.metadata, code);
                return response_handle
                    .send_response(response)
                    .await
                    .unwrap_or_else(|_| failed(request, code));
            }
        };
        let qname: &Name = query.name();
        let qtype = query.query_type();
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let index = self.index();
        let tcp = request.protocol() == Protocol::Tcp;
        let sent = match lookup(&self.zone, &index, qname, qtype) {
            Some(mut answer) => {
                metadata.authoritative = true;
                // Pods use this server as their recursive resolver (CoreDNS also answers
                // `qr,aa,rd,ra`); stub resolvers may treat an answer without RA as lame.
                metadata.recursion_available = true;
                metadata.response_code = answer.code;
                if let Some(target) = answer.chase.take() {
                    let mut q = Query::query(target, qtype);
                    q.set_query_class(query.query_class());
                    if let Ok(m) = self.forwarder.forward(q, request.edns.is_some(), tcp).await {
                        answer.answers.extend(m.answers);
                    }
                }
                let soa: Option<Record> = answer.negative.then(|| self.zone.soa(index.serial));
                let response = builder.build(
                    metadata,
                    answer.answers.iter(),
                    std::iter::empty(),
                    soa.iter(),
                    answer.additionals.iter(),
                );
                response_handle.send_response(response).await
            }
            None => {
                let mut q = Query::query(qname.clone(), qtype);
                q.set_query_class(query.query_class());
                match self.forwarder.forward(q, request.edns.is_some(), tcp).await {
                    Ok(upstream) => {
                        metadata.response_code = upstream.metadata.response_code;
                        metadata.recursion_available = upstream.metadata.recursion_available;
                        metadata.truncation = upstream.metadata.truncation;
                        let response = builder.build(
                            metadata,
                            upstream.answers.iter(),
                            upstream.authorities.iter(),
                            std::iter::empty(),
                            upstream.additionals.iter(),
                        );
                        response_handle.send_response(response).await
                    }
                    Err(e) => {
                        tracing::debug!(name = %qname, error = %e, "forwarding failed");
                        let response = builder.error_msg(&request.metadata, ResponseCode::ServFail);
                        response_handle.send_response(response).await
                    }
                }
            }
        };
        sent.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "could not send a DNS response");
            failed(request, ResponseCode::ServFail)
        })
    }
}
