//! The cluster DNS server on loopback, asked with hickory's client over UDP and TCP: cluster
//! names answered from a hand-built index, other names relayed to a fake upstream (a second
//! server started here), SERVFAIL when the upstream is gone.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::Protocol;
use hickory_proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use kapi_node::dns::forward::Forwarder;
use kapi_node::dns::index::{Index, Kind, Port, ServiceEntry};
use kapi_node::dns::records::{Zone, DEFAULT_TTL};
use kapi_node::dns::server::{serve, Handler};

/// An upstream that answers every A question with 192.0.2.7.
struct FakeUpstream;

#[async_trait::async_trait]
impl RequestHandler for FakeUpstream {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let answers: Vec<Record> = request
            .queries
            .queries()
            .iter()
            .map(|q| {
                Record::from_rdata(
                    Name::from(q.name().clone()),
                    60,
                    RData::A(A::new(192, 0, 2, 7)),
                )
            })
            .collect();
        let response = MessageResponseBuilder::new(&request.queries, None).build(
            metadata,
            answers.iter(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        );
        response_handle
            .send_response(response)
            .await
            .unwrap_or_else(|_| {
                ResponseInfo::from(Header {
                    metadata: Metadata::response_from_request(&request.metadata),
                    counts: HeaderCounts::default(),
                })
            })
    }
}

fn index() -> Index {
    let mut index = Index::default();
    index.insert(
        "default",
        "kubernetes",
        ServiceEntry {
            kind: Kind::ClusterIp(vec!["10.96.0.1".parse().expect("ip")]),
            ports: vec![Port {
                name: "https".into(),
                protocol: "tcp".into(),
                port: 443,
            }],
            endpoints: Vec::new(),
        },
    );
    index
}

async fn start(upstreams: &[SocketAddr]) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let zone = Zone::new("cluster.local", DEFAULT_TTL, Vec::new()).expect("zone");
    let shared = Arc::new(RwLock::new(Arc::new(index())));
    let handler = Handler::new(zone, shared, Forwarder::new(upstreams));
    let (mut server, addr) = serve("127.0.0.1:0".parse().expect("addr"), handler)
        .await
        .expect("bind");
    let task = tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    (addr, task)
}

async fn start_upstream() -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = socket.local_addr().expect("addr");
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind upstream tcp");
    let mut server = hickory_server::Server::new(FakeUpstream);
    server.register_socket(socket);
    server.register_listener(tcp, std::time::Duration::from_secs(5), 16);
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    addr
}

async fn client(addr: SocketAddr, protocol: Protocol) -> Client<TokioRuntimeProvider> {
    match protocol {
        Protocol::Tcp => {
            let (connect, handle) =
                TcpClientStream::new(addr, None, None, TokioRuntimeProvider::default());
            let stream = connect.await.expect("connect");
            let (client, bg) = Client::<TokioRuntimeProvider>::new(stream, handle);
            tokio::spawn(bg);
            client
        }
        _ => {
            let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default()).build();
            let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(bg);
            client
        }
    }
}

fn addresses(records: &[Record]) -> Vec<IpAddr> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn cluster_names_over_udp_and_tcp_and_the_rest_forwarded() {
    let upstream = start_upstream().await;
    let (addr, _server) = start(&[upstream]).await;
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let mut c = client(addr, protocol).await;
        let name = Name::from_ascii("kubernetes.default.svc.cluster.local.").expect("name");
        let r = c
            .query(name, DNSClass::IN, RecordType::A)
            .await
            .expect("answer");
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::NoError,
            "{protocol}"
        );
        assert!(r.metadata.authoritative && r.metadata.recursion_available);
        assert_eq!(
            addresses(&r.answers),
            ["10.96.0.1".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(r.answers[0].ttl, 30);

        let srv = c
            .query(
                Name::from_ascii("_https._tcp.kubernetes.default.svc.cluster.local.")
                    .expect("name"),
                DNSClass::IN,
                RecordType::SRV,
            )
            .await
            .expect("answer");
        assert_eq!(srv.answers.len(), 1);
        assert_eq!(addresses(&srv.additionals).len(), 1);

        let missing = c
            .query(
                Name::from_ascii("nope.default.svc.cluster.local.").expect("name"),
                DNSClass::IN,
                RecordType::A,
            )
            .await
            .expect("answer");
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(
            missing.authorities.first().map(Record::record_type),
            Some(RecordType::SOA)
        );

        let outside = c
            .query(
                Name::from_ascii("www.example.org.").expect("name"),
                DNSClass::IN,
                RecordType::A,
            )
            .await
            .expect("answer");
        assert_eq!(outside.metadata.response_code, ResponseCode::NoError);
        assert!(!outside.metadata.authoritative);
        assert_eq!(
            addresses(&outside.answers),
            ["192.0.2.7".parse::<IpAddr>().expect("ip")]
        );
    }
}

#[tokio::test]
async fn unreachable_upstream_is_servfail() {
    // A port nothing listens on (bound, then closed).
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    let (addr, _server) = start(&[dead]).await;
    let mut c = client(addr, Protocol::Udp).await;
    let r = c
        .query(
            Name::from_ascii("www.example.org.").expect("name"),
            DNSClass::IN,
            RecordType::A,
        )
        .await
        .expect("answer");
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn malformed_packets_do_not_stop_the_server() {
    let (addr, _server) = start(&[]).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    for junk in [
        &b""[..],
        &b"\x00"[..],
        &[0xff; 40][..],
        &b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f"[..],
    ] {
        socket.send_to(junk, addr).await.expect("send");
    }
    let mut c = client(addr, Protocol::Udp).await;
    let r = c
        .query(
            Name::from_ascii("kubernetes.default.svc.cluster.local.").expect("name"),
            DNSClass::IN,
            RecordType::A,
        )
        .await
        .expect("answer");
    assert_eq!(addresses(&r.answers).len(), 1);
}
