//! Limits under hostile and heavy load: patch and YAML bombs, slow and idle connections,
//! running out of descriptors, priority and fairness, concurrent LISTs, refused parameters.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};

use crate::support::{eventually, write_file, Cluster};

/// A static token file with one unprivileged user, `tenant`.
const TENANT_TOKEN: &str = "tenant-token-0123456789";

fn start_with_tenant(extra: &[&str]) -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = write_file(
        dir.path(),
        "tokens.csv",
        &format!("{TENANT_TOKEN},tenant,uid-tenant,\"tenants\"\n"),
    );
    let mut args = vec!["--token-auth-file", tokens.to_str().expect("path")];
    args.extend_from_slice(extra);
    let c = Cluster::start_with(&args);
    // The token file lives as long as the cluster's own dir would; keep it around.
    std::mem::forget(dir);
    c.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "tenant-view",
        "--clusterrole=view",
        "--user=tenant",
    ]);
    c
}

/// curl as `tenant`, returning (code, headers, body).
fn tenant_curl(c: &Cluster, path: &str) -> (u16, String, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-i", "--max-time", "30", "--cacert"])
        .arg(c.data().join("ca.crt"))
        .arg("-H")
        .arg(format!("Authorization: Bearer {TENANT_TOKEN}"))
        .arg(format!("{}{path}", c.url))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_ascii_lowercase(), body.to_string())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

/// A TLS connection to the server, with the admin certificate when `admin`.
fn tls(
    c: &Cluster,
    alpn: &[u8],
    admin: bool,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(c.data().join("ca.crt")).expect("ca"))
        .expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let mut config = if admin {
        let cert = CertificateDer::from_pem_file(c.data().join("admin.crt")).expect("cert");
        let key = PrivateKeyDer::from_pem_file(c.data().join("admin.key")).expect("key");
        builder
            .with_client_auth_cert(vec![cert], key)
            .expect("client auth")
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(("127.0.0.1", c.port)).expect("connect");
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    stream
}

/// What one read on a socket with a read timeout gave.
enum Got {
    Closed,
    Bytes(usize),
    Nothing,
}

fn read_once(stream: &mut impl Read, buf: &mut [u8]) -> Got {
    match stream.read(buf) {
        Ok(0) => Got::Closed,
        Ok(n) => Got::Bytes(n),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Got::Nothing
        }
        Err(_) => Got::Closed,
    }
}

/// Reads until the server closes the connection or `limit` passes; how long it took, or None.
fn closed_within(stream: &mut impl Read, sock: &TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    sock.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        if let Got::Closed = read_once(stream, &mut buf) {
            return Some(start.elapsed());
        }
    }
    None
}

/// Runs `n` curls at once, each with `args`; their HTTP status codes.
fn curl_codes_at_once(n: usize, args: &[String]) -> Vec<String> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let args = args.to_vec();
            std::thread::spawn(move || {
                let out = std::process::Command::new("curl")
                    .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
                    .args(args)
                    .output()
                    .expect("curl");
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("curl thread"))
        .collect()
}

fn patch(c: &Cluster, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let file = write_file(c.dir.path(), "patch.body", body);
    c.curl_json(&[
        path,
        "-X",
        "PATCH",
        "-H",
        &format!("Content-Type: {content_type}"),
        "--data-binary",
        &format!("@{}", file.display()),
    ])
}

#[test]
fn json_patch_copy_bomb_is_refused_before_the_memory_is_spent() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "configmap", "target"]);
    // The probe's 2.8 KB request: 1 KiB, then twenty copies that each double it (1 GiB).
    let mut ops = vec![
        json!({"op": "add", "path": "/metadata/annotations", "value": {"x": "y".repeat(1024)}}),
    ];
    for i in 0..20 {
        ops.push(json!({"op": "copy", "from": "/metadata/annotations", "path": format!("/metadata/annotations/a{i}")}));
    }
    let body = Value::Array(ops).to_string();
    for query in ["", "?dryRun=All"] {
        let (code, s) = patch(
            &c,
            &format!("/api/v1/namespaces/default/configmaps/target{query}"),
            "application/json-patch+json",
            &body,
        );
        assert_eq!(code, 422, "{query}: {s}");
        assert!(
            s["message"]
                .as_str()
                .unwrap_or("")
                .contains("the accumulated size increase of copy is"),
            "{s}"
        );
    }
    // Forty at once, as the probe sent them.
    let data = c.data();
    let args = [
        "-X".into(),
        "PATCH".into(),
        "-H".into(),
        "Content-Type: application/json-patch+json".into(),
        "--data-binary".into(),
        body,
        "--cacert".into(),
        data.join("ca.crt").display().to_string(),
        "--cert".into(),
        data.join("admin.crt").display().to_string(),
        "--key".into(),
        data.join("admin.key").display().to_string(),
        format!("{}/api/v1/namespaces/default/configmaps/target", c.url),
    ];
    for code in curl_codes_at_once(40, &args) {
        assert_eq!(code, "422");
    }
    let peak = c.peak_rss_mib();
    eprintln!("peak RSS after 42 JSON patch bombs: {peak} MiB");
    assert!(peak < 300, "peak RSS {peak} MiB");
    let cm = c.kubectl_ok(&["get", "configmap", "target", "-o", "json"]);
    let cm: Value = serde_json::from_str(&cm).expect("json");
    assert!(cm["metadata"].get("annotations").is_none(), "{cm}");
}

#[test]
fn merge_strategic_and_apply_patches_cannot_grow_past_the_limits() {
    let c = Cluster::start();
    let path = "/api/v1/namespaces/default/configmaps";
    // Merge and strategic merge: each patch doubles the annotations it sends; the object or
    // the body limit refuses them long before memory matters.
    for (name, ct) in [
        ("merge", "application/merge-patch+json"),
        ("strategic", "application/strategic-merge-patch+json"),
    ] {
        c.kubectl_ok(&["create", "configmap", name]);
        let mut entries = 1usize;
        let refused = loop {
            let annotations: serde_json::Map<String, Value> = (0..entries)
                .map(|i| (format!("a{i}"), json!("y".repeat(1024))))
                .collect();
            let body = json!({"metadata": {"annotations": annotations}}).to_string();
            let (code, s) = patch(&c, &format!("{path}/{name}"), ct, &body);
            if code != 200 {
                break (code, s);
            }
            entries *= 2;
            assert!(entries <= 4096, "{name}: never refused");
        };
        assert!(matches!(refused.0, 413 | 422), "{name}: {refused:?}");
        let stored = c.kubectl_ok(&["get", "configmap", name, "-o", "json"]);
        assert!(
            stored.len() < 3 << 20,
            "{name}: stored {} bytes",
            stored.len()
        );
    }
    // Apply and YAML create: an anchor of 64 KiB and ten thousand aliases of it (640 MiB).
    let mut bomb = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\n  annotations:\n    a: &a \"{}\"\ndata:\n",
        "x".repeat(64 * 1024)
    );
    for i in 0..10_000 {
        bomb.push_str(&format!("  k{i}: *a\n"));
    }
    let (code, s) = patch(
        &c,
        &format!("{path}/bomb?fieldManager=bomber"),
        "application/apply-patch+yaml",
        &bomb,
    );
    assert_eq!(code, 413, "{s}");
    let file = write_file(c.dir.path(), "bomb.yaml", &bomb);
    let (code, s) = c.curl_json(&[
        path,
        "-X",
        "POST",
        "-H",
        "Content-Type: application/yaml",
        "--data-binary",
        &format!("@{}", file.display()),
    ]);
    assert_eq!(code, 413, "{s}");
    let peak = c.peak_rss_mib();
    eprintln!("peak RSS after merge, strategic and YAML alias bombs: {peak} MiB");
    assert!(peak < 300, "peak RSS {peak} MiB");
    assert_eq!(c.curl(&["/readyz"]).stdout, b"ok");
}

#[test]
fn silent_and_slowloris_connections_are_closed_after_the_header_timeout() {
    let c = Cluster::start();
    // A TCP connection that never starts TLS.
    let silent = std::thread::spawn({
        let port = c.port;
        move || {
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let sock = tcp.try_clone().expect("clone");
            closed_within(&mut tcp, &sock, Duration::from_secs(45))
        }
    });
    // TLS, then request headers trickled in one line a second.
    let mut slow = tls(&c, b"http/1.1", true);
    slow.write_all(b"GET /readyz HTTP/1.1\r\nHost: kapi\r\n")
        .expect("write");
    let start = Instant::now();
    let mut answered = Vec::new();
    let closed = loop {
        if start.elapsed() > Duration::from_secs(45) {
            break None;
        }
        if slow
            .write_all(b"X-Slow: 1\r\n")
            .and_then(|_| slow.flush())
            .is_err()
        {
            break Some(start.elapsed());
        }
        let sock = slow.sock.try_clone().expect("clone");
        sock.set_read_timeout(Some(Duration::from_secs(1))).ok();
        let mut buf = [0u8; 1024];
        match read_once(&mut slow, &mut buf) {
            Got::Closed => break Some(start.elapsed()),
            Got::Bytes(n) => answered.extend_from_slice(&buf[..n]),
            Got::Nothing => {}
        }
    };
    let closed = closed.expect("the slowloris connection was never closed");
    assert!(closed >= Duration::from_secs(25), "closed after {closed:?}");
    let answered = String::from_utf8_lossy(&answered);
    assert!(!answered.contains("200 OK"), "{answered}");
    let silent = silent
        .join()
        .expect("thread")
        .expect("the silent connection was never closed");
    assert!(silent >= Duration::from_secs(25), "closed after {silent:?}");
    assert_eq!(c.curl(&["/readyz"]).stdout, b"ok");
}

#[test]
fn idle_http2_connections_are_closed_with_goaway() {
    let c = Cluster::start();
    let mut h2 = tls(&c, b"h2", true);
    // The client preface and an empty SETTINGS frame; then nothing.
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .expect("preface");
    h2.flush().expect("flush");
    let start = Instant::now();
    let sock = h2.sock.try_clone().expect("clone");
    sock.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let mut seen = Vec::new();
    let mut frames = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        if start.elapsed() > Duration::from_secs(110) {
            break None;
        }
        match read_once(&mut h2, &mut buf) {
            Got::Closed => break Some(start.elapsed()),
            Got::Bytes(n) => seen.extend_from_slice(&buf[..n]),
            Got::Nothing => {}
        }
        // Answer as a client does: acknowledge SETTINGS and PINGs (a graceful GOAWAY waits
        // for the PING it sends to come back).
        while seen.len() >= 9 {
            let len = u32::from_be_bytes([0, seen[0], seen[1], seen[2]]) as usize;
            if seen.len() < 9 + len {
                break;
            }
            let frame: Vec<u8> = seen.drain(..9 + len).collect();
            let (kind, flags) = (frame[3], frame[4]);
            frames.push(kind);
            let reply: Option<Vec<u8>> = match kind {
                4 if flags & 1 == 0 => Some(vec![0, 0, 0, 4, 1, 0, 0, 0, 0]),
                6 if flags & 1 == 0 => {
                    let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                    ack.extend_from_slice(&frame[9..]);
                    Some(ack)
                }
                _ => None,
            };
            if let Some(reply) = reply {
                let _ = h2.write_all(&reply).and_then(|_| h2.flush());
            }
        }
    };
    let closed = closed.expect("the idle HTTP/2 connection was never closed");
    assert!(
        closed >= Duration::from_secs(85) && closed < Duration::from_secs(100),
        "closed after {closed:?}"
    );
    assert!(frames.contains(&7), "frame types {frames:?}");
}

#[test]
fn two_thousand_idle_connections_beside_a_working_client() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
    let c = Cluster::start();
    let idle: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(("127.0.0.1", c.port)).expect("connect"))
        .collect();
    assert_eq!(c.curl(&["/readyz"]).stdout, b"ok");
    let out = c.kubectl_ok(&["get", "namespaces"]);
    assert!(out.contains("kube-system"), "{out}");
    c.kubectl_ok(&["create", "configmap", "still-working"]);
    drop(idle);
}

#[test]
fn accept_backs_off_when_descriptors_run_out_and_open_clients_keep_working() {
    let c = Cluster::start_limited(Some(256), &[]);
    let mut client = tls(&c, b"http/1.1", true);
    let get_readyz = |client: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>| {
        client
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: kapi\r\n\r\n")
            .expect("write");
        client.flush().expect("flush");
        let mut buf = [0u8; 1024];
        let n = client.read(&mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(get_readyz(&mut client).starts_with("HTTP/1.1 200"));
    // More connections than the server has descriptors for.
    // (Connecting stops once the listen backlog is full too.)
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], c.port));
    let mut flood = Vec::new();
    let mut refused = 0;
    while flood.len() < 400 && refused < 3 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(tcp) => flood.push(tcp),
            Err(_) => refused += 1,
        }
    }
    assert!(flood.len() > 256, "only {} connections", flood.len());
    eventually("the server to run out of descriptors", 10, || {
        c.log_lines()
            .iter()
            .any(|l| l.contains("accepting connections failed"))
            .then_some(())
    });
    // The open connection keeps being served for the next three seconds.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let answer = get_readyz(&mut client);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let complaints = c
        .log_lines()
        .iter()
        .filter(|l| l.contains("accepting connections failed"))
        .count();
    assert!(
        complaints <= 2,
        "{complaints} log lines in about three seconds"
    );
    drop(flood);
    eventually("new connections to be accepted again", 40, || {
        (c.curl(&["/readyz"]).stdout == b"ok").then_some(())
    });
}

#[test]
fn flow_control_objects_are_served_with_the_bootstrap_configuration() {
    let c = start_with_tenant(&[]);
    let out = c.kubectl_ok(&["get", "flowschemas"]);
    for want in [
        "PRIORITYLEVEL",
        "MATCHINGPRECEDENCE",
        "exempt",
        "global-default",
        "catch-all",
        "service-accounts",
    ] {
        assert!(out.contains(want), "{want} missing from\n{out}");
    }
    // In the order they are matched: precedence, then name.
    let at = |name: &str| {
        out.lines()
            .position(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from\n{out}"))
    };
    assert!(at("exempt") < at("probes") && at("probes") < at("global-default"));
    assert!(at("global-default") < at("catch-all"), "{out}");
    let out = c.kubectl_ok(&["get", "prioritylevelconfigurations"]);
    for want in [
        "NOMINALCONCURRENCYSHARES",
        "workload-low",
        "Limited",
        "Exempt",
    ] {
        assert!(out.contains(want), "{want} missing from\n{out}");
    }
    let uid = |kind: &str, name: &str| {
        c.kubectl_ok(&["get", kind, name, "-o", "jsonpath={.metadata.uid}"])
    };
    // The admin is exempt; the tenant lands in global-default; both are told so.
    let out = c.curl(&["/api/v1/namespaces", "-o", "/dev/null", "-D", "-"]);
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert_eq!(
        header(&head, "x-kubernetes-pf-flowschema-uid"),
        Some(uid("flowschema", "exempt").as_str())
    );
    assert_eq!(
        header(&head, "x-kubernetes-pf-prioritylevel-uid"),
        Some(uid("prioritylevelconfiguration", "exempt").as_str())
    );
    let (code, head, _) = tenant_curl(&c, "/api/v1/namespaces/default/configmaps");
    assert_eq!(code, 200);
    assert_eq!(
        header(&head, "x-kubernetes-pf-flowschema-uid"),
        Some(uid("flowschema", "global-default").as_str())
    );
    // Each schema says whether its level exists.
    eventually("Dangling=False on global-default", 10, || {
        let s = c.kubectl_ok(&[
            "get",
            "flowschema",
            "global-default",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Dangling\")].status}",
        ]);
        (s == "False").then_some(())
    });
    let fs = r#"{"apiVersion":"flowcontrol.apiserver.k8s.io/v1","kind":"FlowSchema","metadata":{"name":"orphan"},
        "spec":{"matchingPrecedence":600,"priorityLevelConfiguration":{"name":"nowhere"},
        "rules":[{"subjects":[{"kind":"User","user":{"name":"nobody"}}],"nonResourceRules":[{"verbs":["*"],"nonResourceURLs":["*"]}]}]}}"#;
    c.kubectl_stdin(&["create", "-f", "-"], Some(fs));
    eventually(
        "Dangling=True on a schema naming a missing level",
        10,
        || {
            let s = c.kubectl_ok(&[
                "get",
                "flowschema",
                "orphan",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Dangling\")].reason}",
            ]);
            (s == "NotFound").then_some(())
        },
    );
}

/// Creates `count` ConfigMaps of 20 KiB, so that a LIST of them is ~`count` × 20 KiB.
fn many_configmaps(c: &Cluster, count: usize) {
    let items: Vec<Value> = (0..count)
        .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")}, "data": {"x": "z".repeat(20 * 1024)}}))
        .collect();
    let docs: Vec<String> = items.iter().map(Value::to_string).collect();
    let file = write_file(c.dir.path(), "many.json", &docs.join("\n"));
    c.kubectl_ok(&["create", "-f", file.to_str().expect("path"), "-o", "name"]);
}

/// Sends a LIST as the tenant over its own connection and reads only the status line, so the
/// request keeps its seats until the connection is dropped. Retries while refused (another
/// client may hold the seat for a moment).
fn slow_reader(c: &Cluster) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    eventually("a slow LIST to be admitted", 20, || {
        let mut s = tls(c, b"http/1.1", false);
        let req = format!("GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: kapi\r\nAuthorization: Bearer {TENANT_TOKEN}\r\n\r\n");
        s.write_all(req.as_bytes()).expect("write");
        s.flush().expect("flush");
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n])
            .starts_with("HTTP/1.1 200")
            .then_some(s)
    })
}

#[test]
fn a_full_priority_level_refuses_with_429_and_retry_after() {
    let c = start_with_tenant(&[]);
    many_configmaps(&c, 600);
    let objects = r#"{"apiVersion":"flowcontrol.apiserver.k8s.io/v1","kind":"PriorityLevelConfiguration","metadata":{"name":"tenants"},
       "spec":{"type":"Limited","limited":{"nominalConcurrencyShares":1,"limitResponse":{"type":"Reject"}}}}
      {"apiVersion":"flowcontrol.apiserver.k8s.io/v1","kind":"FlowSchema","metadata":{"name":"tenants"},
       "spec":{"matchingPrecedence":500,"priorityLevelConfiguration":{"name":"tenants"},"distinguisherMethod":{"type":"ByUser"},
        "rules":[{"subjects":[{"kind":"Group","group":{"name":"tenants"}}],
                  "resourceRules":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"],"namespaces":["*"],"clusterScope":true}]}]}}"#;
    let out = c.kubectl_stdin(&["create", "-f", "-"], Some(objects));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fs_uid = c.kubectl_ok(&[
        "get",
        "flowschema",
        "tenants",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    eventually("the tenant to be classified as `tenants`", 10, || {
        let (_, head, _) = tenant_curl(&c, "/api/v1/namespaces/default/configmaps/cm-0");
        (header(&head, "x-kubernetes-pf-flowschema-uid") == Some(fs_uid.as_str())).then_some(())
    });
    // A LIST of 600 objects takes every seat of the level (3) while its 12 MB are unread.
    let held = slow_reader(&c);
    // Other levels are not affected.
    refused_while_held(&c, held, Some(&fs_uid));
}

/// With the tenant's seats `held`: the tenant is refused (429, Retry-After, upstream's text, the
/// PF schema header when given), the admin is still served, and the tenant again once `held`
/// is dropped.
fn refused_while_held<T>(c: &Cluster, held: T, schema_uid: Option<&str>) {
    let (code, head, body) = tenant_curl(c, "/api/v1/namespaces/default/configmaps/cm-1");
    assert_eq!(code, 429, "{head}{body}");
    assert_eq!(header(&head, "retry-after"), Some("1"));
    assert_eq!(body, "Too many requests, please try again later.\n");
    assert_eq!(header(&head, "x-kubernetes-pf-flowschema-uid"), schema_uid);
    assert!(c
        .kubectl_ok(&["get", "configmap", "cm-1", "-o", "name"])
        .contains("cm-1"));
    drop(held);
    eventually("the seats to come back", 10, || {
        (tenant_curl(c, "/api/v1/namespaces/default/configmaps/cm-1").0 == 200).then_some(())
    });
}

#[test]
fn max_inflight_limits_without_priority_and_fairness() {
    let c = start_with_tenant(&[
        "--enable-priority-and-fairness=false",
        "--max-requests-inflight=2",
    ]);
    many_configmaps(&c, 300);
    let held = [slow_reader(&c), slow_reader(&c)];
    // No PF headers without APF; system:masters are let through a full limit.
    refused_while_held(&c, held, None);
}

#[test]
fn concurrent_lists_of_ten_thousand_pods_stay_within_memory() {
    // The API server's own memory: the scheduler (a separate process upstream) would cache the
    // 10,000 pods and mark each Unschedulable, as there is no node.
    let c = start_with_tenant(&["--controllers=*,-scheduler"]);
    let seeded = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "bench",
            "list",
            "--objects",
            "10000",
            "--concurrency",
            "1",
            "--duration",
            "1",
            "--kubeconfig",
        ])
        .arg(c.kubeconfig())
        .output()
        .expect("kapi bench");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let before = c.peak_rss_mib();
    let args = [
        "--max-time".into(),
        "120".into(),
        "--cacert".into(),
        c.data().join("ca.crt").display().to_string(),
        "-H".into(),
        format!("Authorization: Bearer {TENANT_TOKEN}"),
        format!("{}/api/v1/namespaces/default/pods", c.url),
    ];
    let codes = curl_codes_at_once(120, &args);
    let ok = codes.iter().filter(|c| *c == "200").count();
    let refused = codes.iter().filter(|c| *c == "429").count();
    assert_eq!(
        ok + refused,
        120,
        "every client gets an answer or a 429: {codes:?}"
    );
    assert!(ok > 0, "{codes:?}");
    let peak = c.peak_rss_mib();
    eprintln!("120 concurrent LISTs of 10,000 pods: {ok} answered, {refused} refused; peak RSS {before} MiB before, {peak} MiB after");
    // Unbounded, 120 responses of ~15 MB each would be 1.8 GB at once; the server holds at
    // most a score of them. Measured from the server's own start (its store of 10,000 pods
    // takes ~240 MiB), since on a loaded machine the lists overlap more than alone.
    assert!(
        peak.saturating_sub(before) < 350,
        "peak RSS {peak} MiB, {before} MiB before the lists"
    );
}

#[test]
fn bad_request_parameters_are_refused_with_upstreams_messages() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "configmap", "p"]);
    let cm = "/api/v1/namespaces/default/configmaps";
    let cases: &[(&str, u16, &str)] = &[
        (
            "?timeoutSeconds=-5",
            400,
            "timeoutSeconds: Invalid value: \"-5\": must be greater than or equal to 0",
        ),
        (
            "?timeoutSeconds=abc",
            400,
            "strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
        (
            "?timeoutSeconds=99999999999999999999",
            400,
            "value out of range",
        ),
        (
            "?watch=true&timeoutSeconds=9999999999999",
            400,
            "must be no more than 9223372036",
        ),
        ("?watch=garbage", 400, "watch: Invalid value: \"garbage\""),
        (
            "?sendInitialEvents=garbage&watch=true",
            400,
            "sendInitialEvents: Invalid value: \"garbage\"",
        ),
        (
            "?sendInitialEvents=true",
            422,
            "sendInitialEvents is forbidden for list",
        ),
        (
            "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true",
            422,
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ),
        ("/p?resourceVersion=abc", 400, "invalid resource version"),
        ("?resourceVersion=abc", 400, "invalid resource version"),
    ];
    for (query, code, message) in cases {
        let (got, s) = c.curl_json(&[&format!("{cm}{query}"), "--max-time", "10"]);
        assert_eq!(got, *code, "{query}: {s}");
        assert!(
            s["message"].as_str().unwrap_or("").contains(message),
            "{query}: {s}"
        );
    }
    // fieldManager: printable and at most 128 bytes, on every write verb.
    let (code, s) = c.curl_json(&[
        &format!("{cm}?fieldManager=a%01b"),
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"q"}}"#,
    ]);
    assert_eq!(code, 422, "{s}");
    assert!(s["message"].as_str().unwrap_or("").starts_with("CreateOptions.meta.k8s.io \"\" is invalid: fieldManager: Invalid value: \"a\\x01b\": invalid character U+0001 (at position 1)"), "{s}");
    let long = "m".repeat(129);
    let (code, s) = patch(
        &c,
        &format!("{cm}/p?fieldManager={long}"),
        "application/merge-patch+json",
        "{}",
    );
    assert_eq!(code, 422, "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap_or("")
            .contains("Too long: may not be more than 128 bytes"),
        "{s}"
    );
    // JSON patches may not rename, move or re-identify an object.
    let uid = c.kubectl_ok(&["get", "configmap", "p", "-o", "jsonpath={.metadata.uid}"]);
    let identity_cases = [
        ("name", "other", 400, "the name of the object (other) does not match the name on the URL (p)".to_string()),
        ("namespace", "kube-system", 400, "the namespace of the provided object does not match the namespace sent on the request".to_string()),
        ("uid", "00000000-0000-0000-0000-000000000000", 422, "ConfigMap \"p\" is invalid: metadata.uid: Invalid value: \"00000000-0000-0000-0000-000000000000\": field is immutable".to_string()),
    ];
    for (field, value, code, message) in identity_cases {
        let body = json!([{"op": "replace", "path": format!("/metadata/{field}"), "value": value}])
            .to_string();
        let (got, s) = patch(&c, &format!("{cm}/p"), "application/json-patch+json", &body);
        assert_eq!(
            (got, s["message"].as_str()),
            (code, Some(message.as_str())),
            "{field}: {s}"
        );
    }
    let after = c.kubectl_ok(&["get", "configmap", "p", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(after, uid);
}

#[test]
fn a_token_listed_twice_stops_the_server_with_both_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = write_file(
        dir.path(),
        "tokens.csv",
        "t1,alice,u1\nt2,bob,u2\nt1,mallory,u3\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--token-auth-file")
        .arg(&tokens)
        .output()
        .expect("kapi server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tokens.csv:3: the token on this line is also on line 1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("t1,"),
        "the token must not be printed: {stderr}"
    );
}
