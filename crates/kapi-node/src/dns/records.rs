//! The answer for one question in the cluster zone, as CoreDNS's `kubernetes` plugin gives it
//! (in its default "pods insecure" mode):
//!
//! | name                                   | answers                                          |
//! |----------------------------------------|--------------------------------------------------|
//! | `svc.ns.svc.ZONE`                      | A/AAAA of the cluster IPs; headless: of the ready endpoints; ExternalName: CNAME |
//! | `_port._proto.svc.ns.svc.ZONE`         | SRV to the Service name (headless: to each endpoint name), addresses as additionals |
//! | `endpoint.svc.ns.svc.ZONE`             | A/AAAA of the endpoint with that hostname (or dashed address) |
//! | `1-2-3-4.ns.pod.ZONE`                  | A 1.2.3.4                                        |
//! | `ZONE`                                 | SOA, NS                                          |
//! | `1.0.96.10.in-addr.arpa` (a cluster IP or endpoint address) | PTR to its Service or endpoint name |
//!
//! A name that does not exist is NXDOMAIN, one that exists without records of the asked type
//! is NOERROR with no answers; both carry the zone's SOA in the authority section so that
//! resolvers cache the negative answer for its minimum TTL. A headless Service without
//! endpoints is NXDOMAIN, as kube-dns and CoreDNS answer (the DNS specification was changed to
//! match them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::index::{Index, Kind, Port, ServiceEntry};

/// Kubernetes' own DNS deployment sets `ttl 30` on the kubernetes plugin (the plugin's default
/// is 5 s); the same value is the negative-caching TTL in the SOA.
pub const DEFAULT_TTL: u32 = 30;

/// The cluster zone being served.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: Name,
    labels: usize,
    ttl: u32,
    nameserver: Name,
    hostmaster: Name,
    nameserver_ips: Vec<IpAddr>,
}

/// Why a zone cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("invalid cluster domain {domain:?}: {source}")]
pub struct ZoneError {
    domain: String,
    source: hickory_proto::ProtoError,
}

impl Zone {
    /// The zone `domain` (e.g. `cluster.local`); `nameserver_ips` answer for `ns.dns.DOMAIN`
    /// (the cluster DNS Service's addresses, as CoreDNS answers).
    pub fn new(domain: &str, ttl: u32, nameserver_ips: Vec<IpAddr>) -> Result<Zone, ZoneError> {
        let err = |source| ZoneError {
            domain: domain.into(),
            source,
        };
        let mut origin = Name::from_ascii(domain.trim_end_matches('.'))
            .map_err(err)?
            .to_lowercase();
        origin.set_fqdn(true);
        let nameserver = Name::from_ascii("ns.dns").map_err(err)?;
        let nameserver = nameserver.append_domain(&origin).map_err(err)?;
        let hostmaster = Name::from_ascii("hostmaster").map_err(err)?;
        let hostmaster = hostmaster.append_domain(&origin).map_err(err)?;
        Ok(Zone {
            labels: usize::from(origin.num_labels()),
            origin,
            ttl,
            nameserver,
            hostmaster,
            nameserver_ips,
        })
    }

    /// Whether `name` is in this zone (otherwise it is forwarded).
    pub fn contains(&self, name: &Name) -> bool {
        self.origin.zone_of(name)
    }

    /// The zone's SOA record; `serial` changes whenever the index does.
    pub fn soa(&self, serial: u32) -> Record {
        Record::from_rdata(
            self.origin.clone(),
            self.ttl,
            RData::SOA(SOA::new(
                self.nameserver.clone(),
                self.hostmaster.clone(),
                serial,
                7200,
                1800,
                86400,
                self.ttl,
            )),
        )
    }
}

/// The outcome of a lookup in the zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// NOERROR or NXDOMAIN.
    pub code: ResponseCode,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The additional section (SRV targets' addresses).
    pub additionals: Vec<Record>,
    /// Whether the zone's SOA goes in the authority section (negative answers).
    pub negative: bool,
    /// An ExternalName target the server should resolve and append (A/AAAA questions).
    pub chase: Option<Name>,
}

impl Answer {
    fn records(answers: Vec<Record>, additionals: Vec<Record>) -> Answer {
        let negative = answers.is_empty();
        Answer {
            code: ResponseCode::NoError,
            answers,
            additionals,
            negative,
            chase: None,
        }
    }

    fn nodata() -> Answer {
        Answer::records(Vec::new(), Vec::new())
    }

    fn nxdomain() -> Answer {
        Answer {
            code: ResponseCode::NXDomain,
            answers: Vec::new(),
            additionals: Vec::new(),
            negative: true,
            chase: None,
        }
    }
}

/// A question's name, split into the parts of the cluster zone it can address.
#[derive(Debug, PartialEq)]
enum Parsed<'a> {
    Apex,
    Nameserver,
    /// `svc.ZONE`, `pod.ZONE`, `dns.ZONE`: exist, hold nothing.
    Empty,
    Namespace(&'a str),
    Service {
        ns: &'a str,
        name: &'a str,
    },
    Endpoint {
        ns: &'a str,
        service: &'a str,
        endpoint: &'a str,
    },
    Port {
        ns: &'a str,
        service: &'a str,
        protocol: &'a str,
        port: &'a str,
    },
    Pod {
        ns: &'a str,
        ip: &'a str,
    },
    Missing,
}

/// Splits `labels` (lower case, the zone removed, leftmost first).
fn parse<'a>(labels: &[&'a str]) -> Parsed<'a> {
    match labels {
        [] => Parsed::Apex,
        ["ns", "dns"] => Parsed::Nameserver,
        ["svc"] | ["pod"] | ["dns"] => Parsed::Empty,
        [ns, "svc"] | [ns, "pod"] => Parsed::Namespace(ns),
        [name, ns, "svc"] => Parsed::Service { ns, name },
        [endpoint, service, ns, "svc"] => Parsed::Endpoint {
            ns,
            service,
            endpoint,
        },
        [port, protocol, service, ns, "svc"] => Parsed::Port {
            ns,
            service,
            protocol: protocol.strip_prefix('_').unwrap_or(protocol),
            port: port.strip_prefix('_').unwrap_or(port),
        },
        [ip, ns, "pod"] => Parsed::Pod { ns, ip },
        _ => Parsed::Missing,
    }
}

/// The answer for `qname`/`qtype`, or `None` when the name is not the cluster's (outside the
/// zone, or a reverse name of an address the cluster does not know: CoreDNS's `fallthrough
/// in-addr.arpa ip6.arpa`).
pub fn lookup(zone: &Zone, index: &Index, qname: &Name, qtype: RecordType) -> Option<Answer> {
    if !zone.contains(qname) {
        return reverse(zone, index, qname, qtype);
    }
    let lower = qname.to_lowercase();
    let inside = usize::from(lower.num_labels()).saturating_sub(zone.labels);
    let mut labels: Vec<&str> = Vec::with_capacity(inside);
    for label in lower.iter().take(inside) {
        match std::str::from_utf8(label) {
            Ok(l) => labels.push(l),
            Err(_) => return Some(Answer::nxdomain()),
        }
    }
    let answer = match parse(&labels) {
        Parsed::Apex => apex(zone, index, qtype),
        Parsed::Nameserver => addresses(qname, zone.ttl, qtype, &zone.nameserver_ips),
        Parsed::Empty => Answer::nodata(),
        Parsed::Namespace(ns) if index.has_namespace(ns) => Answer::nodata(),
        Parsed::Service { ns, name } => match index.service(ns, name) {
            Some(svc) => service(zone, qname, qtype, ns, name, svc, None),
            None => Answer::nxdomain(),
        },
        Parsed::Port {
            ns,
            service: name,
            protocol,
            port,
        } => match index.service(ns, name) {
            Some(svc) => service(zone, qname, qtype, ns, name, svc, Some((port, protocol))),
            None => Answer::nxdomain(),
        },
        Parsed::Endpoint {
            ns,
            service,
            endpoint,
        } => {
            let ips: Vec<IpAddr> = index
                .service(ns, service)
                .filter(|s| !matches!(s.kind, Kind::ExternalName(_)))
                .map(|s| {
                    s.endpoints
                        .iter()
                        .filter(|e| e.name == endpoint)
                        .map(|e| e.ip)
                        .collect()
                })
                .unwrap_or_default();
            if ips.is_empty() {
                Answer::nxdomain()
            } else {
                addresses(qname, zone.ttl, qtype, &ips)
            }
        }
        Parsed::Pod { ip, .. } => match pod_ip(ip) {
            Some(ip) => addresses(qname, zone.ttl, qtype, &[ip]),
            None => Answer::nxdomain(),
        },
        Parsed::Namespace(_) | Parsed::Missing => Answer::nxdomain(),
    };
    Some(answer)
}

/// PTR answers for the cluster's addresses: a cluster IP names its Service, an endpoint
/// address its endpoint name.
fn reverse(zone: &Zone, index: &Index, qname: &Name, qtype: RecordType) -> Option<Answer> {
    let net = qname.parse_arpa_name().ok()?;
    if net.prefix_len() != net.max_prefix_len() {
        return None;
    }
    let names = index.reverse(net.addr());
    if names.is_empty() {
        return None;
    }
    if !matches!(qtype, RecordType::PTR | RecordType::ANY) {
        return Some(Answer::nodata());
    }
    let records = names
        .iter()
        .filter_map(|n| Name::from_ascii(n).ok()?.append_domain(&zone.origin).ok())
        .map(|target| Record::from_rdata(qname.clone(), zone.ttl, RData::PTR(PTR(target))))
        .collect();
    Some(Answer::records(records, Vec::new()))
}

fn apex(zone: &Zone, index: &Index, qtype: RecordType) -> Answer {
    match qtype {
        RecordType::SOA => Answer::records(vec![zone.soa(index.serial)], Vec::new()),
        RecordType::NS => {
            let ns = Record::from_rdata(
                zone.origin.clone(),
                zone.ttl,
                RData::NS(NS(zone.nameserver.clone())),
            );
            let glue = addresses(
                &zone.nameserver,
                zone.ttl,
                RecordType::A,
                &zone.nameserver_ips,
            )
            .answers
            .into_iter()
            .chain(
                addresses(
                    &zone.nameserver,
                    zone.ttl,
                    RecordType::AAAA,
                    &zone.nameserver_ips,
                )
                .answers,
            )
            .collect();
            Answer::records(vec![ns], glue)
        }
        _ => Answer::nodata(),
    }
}

/// A/AAAA records of `ips` for `name`: those of the asked family (NODATA for other types).
fn addresses(name: &Name, ttl: u32, qtype: RecordType, ips: &[IpAddr]) -> Answer {
    let records = ips
        .iter()
        .filter_map(|ip| address_record(name, ttl, qtype, *ip))
        .collect();
    Answer::records(records, Vec::new())
}

fn address_record(name: &Name, ttl: u32, qtype: RecordType, ip: IpAddr) -> Option<Record> {
    let rdata = match (qtype, ip) {
        (RecordType::A | RecordType::ANY, IpAddr::V4(v4)) => RData::A(A(v4)),
        (RecordType::AAAA | RecordType::ANY, IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
        _ => return None,
    };
    Some(Record::from_rdata(name.clone(), ttl, rdata))
}

/// `name.ns.svc.ZONE.` (the SRV target and additional owner of a Service).
fn service_name(zone: &Zone, ns: &str, name: &str) -> Option<Name> {
    Name::from_ascii(format!("{name}.{ns}.svc"))
        .ok()?
        .append_domain(&zone.origin)
        .ok()
}

fn matches(p: &Port, wanted: Option<(&str, &str)>) -> bool {
    match wanted {
        None => true,
        Some((port, protocol)) => p.name == port && p.protocol == protocol,
    }
}

/// The records of a Service name, or (with `port`) of one of its `_port._proto` names.
fn service(
    zone: &Zone,
    qname: &Name,
    qtype: RecordType,
    ns: &str,
    name: &str,
    svc: &ServiceEntry,
    port: Option<(&str, &str)>,
) -> Answer {
    if port.is_some() && !svc.ports.iter().any(|p| matches(p, port)) {
        return Answer::nxdomain();
    }
    match &svc.kind {
        Kind::ExternalName(target) => {
            let Some(target) = Name::from_ascii(target).ok().map(|mut n| {
                n.set_fqdn(true);
                n
            }) else {
                return Answer::nxdomain();
            };
            match qtype {
                RecordType::SRV => {
                    let wanted: Vec<&Port> =
                        svc.ports.iter().filter(|p| matches(p, port)).collect();
                    let weight = srv_weight(wanted.len());
                    let srvs = wanted
                        .iter()
                        .map(|p| {
                            Record::from_rdata(
                                qname.clone(),
                                zone.ttl,
                                RData::SRV(SRV::new(0, weight, p.port, target.clone())),
                            )
                        })
                        .collect();
                    Answer::records(srvs, Vec::new())
                }
                RecordType::A | RecordType::AAAA | RecordType::CNAME | RecordType::ANY => {
                    let cname = Record::from_rdata(
                        qname.clone(),
                        zone.ttl,
                        RData::CNAME(CNAME(target.clone())),
                    );
                    let mut answer = Answer::records(vec![cname], Vec::new());
                    if matches!(qtype, RecordType::A | RecordType::AAAA) {
                        answer.chase = Some(target);
                    }
                    answer
                }
                _ => Answer::nodata(),
            }
        }
        Kind::ClusterIp(ips) => match qtype {
            RecordType::SRV => {
                let Some(target) = service_name(zone, ns, name) else {
                    return Answer::nxdomain();
                };
                let wanted: Vec<&Port> = svc.ports.iter().filter(|p| matches(p, port)).collect();
                let weight = srv_weight(wanted.len());
                let srvs = wanted
                    .iter()
                    .map(|p| {
                        Record::from_rdata(
                            qname.clone(),
                            zone.ttl,
                            RData::SRV(SRV::new(0, weight, p.port, target.clone())),
                        )
                    })
                    .collect();
                let extra = ips
                    .iter()
                    .filter_map(|ip| address_record(&target, zone.ttl, RecordType::ANY, *ip))
                    .collect();
                Answer::records(srvs, extra)
            }
            _ => addresses(qname, zone.ttl, qtype, ips),
        },
        Kind::Headless => {
            if svc.endpoints.is_empty() {
                return Answer::nxdomain();
            }
            match qtype {
                RecordType::SRV => {
                    let mut targets: Vec<(Name, u16, IpAddr)> = Vec::new();
                    for ep in &svc.endpoints {
                        let Some(target) = service_name(zone, ns, name).and_then(|svc_name| {
                            Name::from_ascii(&ep.name)
                                .ok()?
                                .append_domain(&svc_name)
                                .ok()
                        }) else {
                            continue;
                        };
                        for p in ep.ports.iter().filter(|p| matches(p, port)) {
                            targets.push((target.clone(), p.port, ep.ip));
                        }
                    }
                    let weight = srv_weight(targets.len());
                    let srvs = targets
                        .iter()
                        .map(|(target, port, _)| {
                            Record::from_rdata(
                                qname.clone(),
                                zone.ttl,
                                RData::SRV(SRV::new(0, weight, *port, target.clone())),
                            )
                        })
                        .collect();
                    let mut extra: Vec<Record> = Vec::new();
                    for (target, _, ip) in &targets {
                        if let Some(r) = address_record(target, zone.ttl, RecordType::ANY, *ip) {
                            if !extra.contains(&r) {
                                extra.push(r);
                            }
                        }
                    }
                    Answer::records(srvs, extra)
                }
                _ => {
                    let records = svc
                        .endpoints
                        .iter()
                        .filter_map(|e| address_record(qname, zone.ttl, qtype, e.ip))
                        .collect();
                    Answer::records(records, Vec::new())
                }
            }
        }
    }
}

/// CoreDNS spreads a weight of 100 over the SRV records of one priority.
fn srv_weight(records: usize) -> u16 {
    u16::try_from(100 / records.max(1)).unwrap_or(0)
}

/// `1-2-3-4` as 1.2.3.4; an IPv6 address with its colons as dashes.
fn pod_ip(label: &str) -> Option<IpAddr> {
    if let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::index::Endpoint;
    use super::*;

    fn zone() -> Zone {
        Zone::new(
            "cluster.local",
            DEFAULT_TTL,
            vec!["10.96.0.10".parse().expect("ip")],
        )
        .expect("zone")
    }

    fn port(name: &str, protocol: &str, port: u16) -> Port {
        Port {
            name: name.into(),
            protocol: protocol.into(),
            port,
        }
    }

    pub(crate) fn sample_index() -> Index {
        let mut index = Index::default();
        index.insert(
            "default",
            "kubernetes",
            ServiceEntry {
                kind: Kind::ClusterIp(vec!["10.96.0.1".parse().expect("ip")]),
                ports: vec![port("https", "tcp", 443)],
                endpoints: Vec::new(),
            },
        );
        index.insert(
            "default",
            "v6",
            ServiceEntry {
                kind: Kind::ClusterIp(vec!["fd00::1".parse().expect("ip")]),
                ports: vec![],
                endpoints: Vec::new(),
            },
        );
        let pg = Arc::new(vec![port("pg", "tcp", 5432)]);
        index.insert(
            "apps",
            "db",
            ServiceEntry {
                kind: Kind::Headless,
                ports: vec![port("pg", "tcp", 5432)],
                endpoints: vec![
                    Endpoint {
                        ip: "10.244.0.5".parse().expect("ip"),
                        name: "db-0".into(),
                        ports: pg.clone(),
                    },
                    Endpoint {
                        ip: "10.244.0.6".parse().expect("ip"),
                        name: "10-244-0-6".into(),
                        ports: pg,
                    },
                ],
            },
        );
        index.insert(
            "apps",
            "empty",
            ServiceEntry {
                kind: Kind::Headless,
                ports: vec![],
                endpoints: vec![],
            },
        );
        index.insert(
            "apps",
            "ext",
            ServiceEntry {
                kind: Kind::ExternalName("example.org".into()),
                ports: vec![port("http", "tcp", 80)],
                endpoints: vec![],
            },
        );
        index
    }

    fn ask(name: &str, qtype: RecordType) -> Option<Answer> {
        lookup(
            &zone(),
            &sample_index(),
            &Name::from_ascii(name).expect("name"),
            qtype,
        )
    }

    fn rdata(answer: &Answer) -> Vec<String> {
        answer.answers.iter().map(|r| r.data.to_string()).collect()
    }

    #[test]
    fn cluster_ip_service_answers_its_address_in_its_family() {
        let a = ask("Kubernetes.Default.svc.cluster.local.", RecordType::A).expect("in zone");
        assert_eq!(a.code, ResponseCode::NoError);
        assert_eq!(rdata(&a), ["10.96.0.1"]);
        assert_eq!(a.answers[0].ttl, 30);
        let aaaa = ask("kubernetes.default.svc.cluster.local.", RecordType::AAAA).expect("in zone");
        assert!(aaaa.answers.is_empty() && aaaa.negative);
        assert_eq!(aaaa.code, ResponseCode::NoError);
        let v6 = ask("v6.default.svc.cluster.local.", RecordType::AAAA).expect("in zone");
        assert_eq!(rdata(&v6), ["fd00::1"]);
    }

    #[test]
    fn unknown_names_are_nxdomain_and_outside_names_are_not_ours() {
        for name in [
            "nope.default.svc.cluster.local.",
            "x.y.z.w.v.u.svc.cluster.local.",
            "nons.svc.cluster.local.",
            "other.cluster.local.",
            "a.b.kubernetes.default.svc.cluster.local.",
        ] {
            let a = ask(name, RecordType::A).expect("in zone");
            assert_eq!(a.code, ResponseCode::NXDomain, "{name}");
            assert!(a.negative);
        }
        assert_eq!(
            ask("default.svc.cluster.local.", RecordType::A)
                .expect("in zone")
                .code,
            ResponseCode::NoError
        );
        assert!(ask("example.org.", RecordType::A).is_none());
        assert!(ask("cluster.localhost.", RecordType::A).is_none());
    }

    #[test]
    fn named_port_srv_points_at_the_service_with_its_address_as_additional() {
        let a = ask(
            "_https._tcp.kubernetes.default.svc.cluster.local.",
            RecordType::SRV,
        )
        .expect("in zone");
        assert_eq!(
            rdata(&a),
            ["0 100 443 kubernetes.default.svc.cluster.local."]
        );
        assert_eq!(a.additionals[0].data.to_string(), "10.96.0.1");
        let wrong = ask(
            "_http._udp.kubernetes.default.svc.cluster.local.",
            RecordType::SRV,
        )
        .expect("in zone");
        assert_eq!(wrong.code, ResponseCode::NXDomain);
    }

    #[test]
    fn headless_service_answers_each_endpoint_and_srv_names_them() {
        let a = ask("db.apps.svc.cluster.local.", RecordType::A).expect("in zone");
        assert_eq!(rdata(&a), ["10.244.0.5", "10.244.0.6"]);
        let srv = ask("_pg._tcp.db.apps.svc.cluster.local.", RecordType::SRV).expect("in zone");
        assert_eq!(
            rdata(&srv),
            [
                "0 50 5432 db-0.db.apps.svc.cluster.local.",
                "0 50 5432 10-244-0-6.db.apps.svc.cluster.local."
            ]
        );
        assert_eq!(srv.additionals.len(), 2);
        let host = ask("db-0.db.apps.svc.cluster.local.", RecordType::A).expect("in zone");
        assert_eq!(rdata(&host), ["10.244.0.5"]);
        let none = ask("empty.apps.svc.cluster.local.", RecordType::A).expect("in zone");
        assert_eq!(none.code, ResponseCode::NXDomain);
    }

    #[test]
    fn external_name_is_a_cname_to_chase() {
        let a = ask("ext.apps.svc.cluster.local.", RecordType::A).expect("in zone");
        assert_eq!(rdata(&a), ["example.org."]);
        assert_eq!(a.answers[0].record_type(), RecordType::CNAME);
        assert_eq!(
            a.chase,
            Some(Name::from_ascii("example.org.").expect("name"))
        );
        let txt = ask("ext.apps.svc.cluster.local.", RecordType::TXT).expect("in zone");
        assert!(txt.answers.is_empty() && txt.code == ResponseCode::NoError);
    }

    #[test]
    fn pod_names_are_their_dashed_addresses() {
        let a = ask("10-244-1-7.apps.pod.cluster.local.", RecordType::A).expect("in zone");
        assert_eq!(rdata(&a), ["10.244.1.7"]);
        let bad = ask("10-244-1-999.apps.pod.cluster.local.", RecordType::A).expect("in zone");
        assert_eq!(bad.code, ResponseCode::NXDomain);
        let v6 = ask("fd00--7.apps.pod.cluster.local.", RecordType::AAAA).expect("in zone");
        assert_eq!(rdata(&v6), ["fd00::7"]);
    }

    #[test]
    fn cluster_addresses_have_reverse_names_and_others_fall_through() {
        let svc = ask("1.0.96.10.in-addr.arpa.", RecordType::PTR).expect("known address");
        assert_eq!(rdata(&svc), ["kubernetes.default.svc.cluster.local."]);
        let ep = ask("5.0.244.10.in-addr.arpa.", RecordType::PTR).expect("known address");
        assert_eq!(rdata(&ep), ["db-0.db.apps.svc.cluster.local."]);
        assert!(ask("9.9.9.9.in-addr.arpa.", RecordType::PTR).is_none());
        assert!(ask("96.10.in-addr.arpa.", RecordType::PTR).is_none());
    }

    #[test]
    fn apex_has_soa_and_ns() {
        let soa = ask("cluster.local.", RecordType::SOA).expect("in zone");
        assert_eq!(
            rdata(&soa),
            ["ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 30"]
        );
        let ns = ask("cluster.local.", RecordType::NS).expect("in zone");
        assert_eq!(rdata(&ns), ["ns.dns.cluster.local."]);
        let a = ask("ns.dns.cluster.local.", RecordType::A).expect("in zone");
        assert_eq!(rdata(&a), ["10.96.0.10"]);
    }

    #[test]
    fn arbitrary_names_never_panic() {
        use rand::{Rng, SeedableRng};
        let zone = zone();
        let index = sample_index();
        let alphabet: &[u8] = b"ab-_0129.:*\xff\x00";
        let suffix = Name::from_ascii("cluster.local.").expect("zone");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let count = rng.gen_range(0..7);
            let labels: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    let len = rng.gen_range(1..12);
                    (0..len)
                        .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                        .collect()
                })
                .collect();
            let Ok(prefix) = Name::from_labels(labels.iter().map(|l| l.as_slice())) else {
                continue;
            };
            let Ok(name) = prefix.append_domain(&suffix) else {
                continue;
            };
            for qtype in [
                RecordType::A,
                RecordType::AAAA,
                RecordType::SRV,
                RecordType::ANY,
                RecordType::SOA,
                RecordType::TXT,
            ] {
                let _ = lookup(&zone, &index, &name, qtype);
            }
        }
    }
}
