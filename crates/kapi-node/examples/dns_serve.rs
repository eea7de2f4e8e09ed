//! Serves cluster DNS for a synthetic cluster (1,000 Services in 10 namespaces, no upstream) on
//! the address given, for load generators such as dnsperf:
//!
//! ```sh
//! cargo run --release -p kapi-node --example dns_serve -- 127.0.0.1:5353 > names.txt
//! dnsperf -s 127.0.0.1 -p 5353 -d names.txt -l 10
//! ```
//!
//! It prints dnsperf's query file (one `name A` line per Service) on stdout.

use std::sync::{Arc, RwLock};

use kapi_node::dns::forward::Forwarder;
use kapi_node::dns::index::{Index, Kind, Port, ServiceEntry};
use kapi_node::dns::records::{Zone, DEFAULT_TTL};
use kapi_node::dns::server::{serve, Handler};

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:5353".parse().expect("default address"));
    let mut index = Index::default();
    for i in 0..1000u32 {
        let ns = format!("ns{}", i % 10);
        let name = format!("svc{i}");
        index.insert(
            &ns,
            &name,
            ServiceEntry {
                kind: Kind::ClusterIp(vec![std::net::Ipv4Addr::from(0x0a60_0000 + i).into()]),
                ports: vec![Port {
                    name: "http".into(),
                    protocol: "tcp".into(),
                    port: 80,
                }],
                endpoints: Vec::new(),
            },
        );
        println!("{name}.{ns}.svc.cluster.local A");
    }
    let zone = match Zone::new("cluster.local", DEFAULT_TTL, Vec::new()) {
        Ok(z) => z,
        Err(e) => return eprintln!("{e}"),
    };
    let handler = Handler::new(
        zone,
        Arc::new(RwLock::new(Arc::new(index))),
        Forwarder::new(&[]),
    );
    match serve(addr, handler).await {
        Ok((mut server, bound)) => {
            eprintln!("serving on {bound}");
            let _ = server.block_until_done().await;
        }
        Err(e) => eprintln!("{e}"),
    }
}
