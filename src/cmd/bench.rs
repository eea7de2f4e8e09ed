//! `kapi bench`: load against a kapi server, with throughput and latency percentiles.
//!
//! By default it starts its own `kapi server` (this same binary) in a temporary data dir as a
//! separate process, so the figures include TLS, HTTP/2, the store's fsync and the server's
//! memory as a user would see them; `--kubeconfig` points it at a running server instead.
//! Each client is one TLS connection of its own.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;

use crate::client::{Body, ClientConfig};

mod webhook;

/// Flags of `kapi bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// create | create-custom | create-webhook | get | list | watch | startup
    pub scenario: String,
    /// Concurrent clients (watchers for `watch`).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Objects stored first (pods for `list` and `startup`).
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
    /// Bench a running server instead of starting one.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

/// A `kapi server` child process on a temporary data dir.
struct ServerProcess {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl ServerProcess {
    fn spawn(dir: &Path, port: u16) -> anyhow::Result<(Self, Duration)> {
        let exe = std::env::current_exe()?;
        let started = Instant::now();
        let mut child = Command::new(exe)
            .args(["server", "--disable-node", "--data-dir"])
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().context("server stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(u) = l.strip_prefix("kapi server listening on ") {
                        break u.to_string();
                    }
                }
                _ => bail!("the server exited before listening"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("server port")?;
        let proc = Self {
            child,
            dir: dir.to_path_buf(),
            port,
        };
        Ok((proc, started.elapsed()))
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Resident set size of the server, from /proc.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Conn = hyper::client::conn::http2::SendRequest<Body>;

fn body(bytes: impl Into<Bytes>) -> Body {
    crate::client::full_body(bytes)
}

async fn call(
    conn: &mut Conn,
    cfg: &ClientConfig,
    method: Method,
    path: &str,
    payload: Option<Bytes>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    crate::client::call(conn, cfg, method, path, payload, "application/json").await
}

fn configmap(name: &str) -> Bytes {
    let payload = "x".repeat(1024 - 120);
    Bytes::from(format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"payload":"{payload}"}}}}"#
    ))
}

fn pod(name: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","labels":{{"app":"bench"}}}},"spec":{{"containers":[{{"name":"c","image":"busybox:1.36","command":["sleep","3600"]}}]}}}}"#
    ))
}

/// Latency samples in microseconds and a shared operation counter.
struct Recorder {
    ops: AtomicU64,
    errors: AtomicU64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

/// What a load came to: successful operations per second and latency percentiles (ms).
#[derive(Debug, Clone, Copy)]
struct Figures {
    per_second: f64,
    p50: f64,
    p99: f64,
}

/// Prints a load's figures and answers them.
fn report(name: &str, elapsed: Duration, mut lat: Vec<u64>, errors: u64) -> Figures {
    lat.sort_unstable();
    let n = lat.len();
    let secs = elapsed.as_secs_f64();
    println!(
        "{name}: {n} ok, {errors} errors in {secs:.1}s = {:.0}/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        n as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
    Figures {
        per_second: n as f64 / secs,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
    }
}

fn progress(rec: Arc<Recorder>, stop: Arc<AtomicBool>, started: Instant) {
    std::thread::spawn(move || {
        let mut last = 0;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs(1));
            let now = rec.ops.load(Ordering::Relaxed);
            eprint!(
                "\r[{:>3}s] {now} ops, {}/s, {} errors   ",
                started.elapsed().as_secs(),
                now - last,
                rec.errors.load(Ordering::Relaxed)
            );
            let _ = std::io::stderr().flush();
            last = now;
        }
        eprintln!();
    });
}

/// Runs `op` from `concurrency` clients for `duration`; each client has its own connection.
async fn run_load<F, Fut>(
    cfg: &ClientConfig,
    concurrency: usize,
    duration: Duration,
    name: &str,
    op: F,
) -> anyhow::Result<Figures>
where
    F: Fn(usize, u64, Conn, ClientConfig) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = (Conn, anyhow::Result<bool>)> + Send,
{
    let rec = Arc::new(Recorder {
        ops: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut conns = Vec::new();
    for _ in 0..concurrency {
        conns.push(cfg.connect_h2().await?);
    }
    let started = Instant::now();
    progress(rec.clone(), stop.clone(), started);
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (w, conn) in conns.into_iter().enumerate() {
        let op = op.clone();
        let rec = rec.clone();
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut conn = conn;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let (c, result) = op(w, i, conn, cfg.clone()).await;
                conn = c;
                match result {
                    Ok(true) => {
                        lat.push(t.elapsed().as_micros() as u64);
                        rec.ops.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        rec.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1100));
    Ok(report(
        name,
        elapsed,
        all,
        rec.errors.load(Ordering::Relaxed),
    ))
}

async fn create_many(
    cfg: &ClientConfig,
    path: &str,
    count: usize,
    make: fn(&str) -> Bytes,
    prefix: &str,
) -> anyhow::Result<()> {
    let workers = 32.min(count.max(1));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut conn = cfg.connect_h2().await?;
        let cfg = cfg.clone();
        let path = path.to_string();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < count {
                let (status, body) = call(
                    &mut conn,
                    &cfg,
                    Method::POST,
                    &path,
                    Some(make(&format!("{prefix}{i}"))),
                )
                .await?;
                if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
                    bail!("create failed: {status} {}", String::from_utf8_lossy(&body));
                }
                i += workers;
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Runs a scenario.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: BenchArgs) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("kapi-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let duration = Duration::from_secs(args.duration);
    if args.scenario == "startup" {
        return startup(&tmp, args.objects).await;
    }
    let (server, cfg) = match &args.kubeconfig {
        Some(k) => (None, ClientConfig::load(Some(k))?),
        None => {
            let (s, _) = ServerProcess::spawn(&tmp, 0)?;
            let cfg = ClientConfig::load(Some(&s.kubeconfig()))?;
            wait_ready(&cfg).await?;
            (Some(s), cfg)
        }
    };
    if let Some(s) = &server {
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "server idle RSS: {:.1} MiB",
            s.rss_kib().unwrap_or(0) as f64 / 1024.0
        );
    }
    let ns = "default";
    match args.scenario.as_str() {
        "create" => {
            create_configmaps(
                &cfg,
                args.concurrency,
                duration,
                "create 1 KiB ConfigMaps",
                "b",
            )
            .await?;
        }
        "create-custom" => create_custom(&cfg, args.concurrency, duration).await?,
        "create-webhook" => create_webhook(&cfg, &tmp, args.concurrency, duration).await?,
        "get" => {
            create_many(
                &cfg,
                &format!("/api/v1/namespaces/{ns}/configmaps"),
                args.concurrency,
                configmap,
                "get-",
            )
            .await?;
            run_load(
                &cfg,
                args.concurrency,
                duration,
                "GET ConfigMap by name",
                move |w, _, mut conn, cfg| async move {
                    let r = call(
                        &mut conn,
                        &cfg,
                        Method::GET,
                        &format!("/api/v1/namespaces/default/configmaps/get-{w}"),
                        None,
                    )
                    .await;
                    (conn, r.map(|(s, _)| s == StatusCode::OK))
                },
            )
            .await?;
        }
        "list" => {
            let started = Instant::now();
            create_many(
                &cfg,
                &format!("/api/v1/namespaces/{ns}/pods"),
                args.objects,
                pod,
                "pod-",
            )
            .await?;
            println!(
                "stored {} pods in {:.1}s",
                args.objects,
                started.elapsed().as_secs_f64()
            );
            if let Some(s) = &server {
                tokio::time::sleep(Duration::from_millis(500)).await;
                println!(
                    "server RSS with {} pods: {:.1} MiB",
                    args.objects,
                    s.rss_kib().unwrap_or(0) as f64 / 1024.0
                );
            }
            let n = args.objects;
            run_load(
                &cfg,
                args.concurrency,
                duration,
                &format!("LIST {n} pods"),
                move |_, _, mut conn, cfg| async move {
                    let r = call(
                        &mut conn,
                        &cfg,
                        Method::GET,
                        "/api/v1/namespaces/default/pods",
                        None,
                    )
                    .await;
                    (
                        conn,
                        r.map(|(s, b)| s == StatusCode::OK && b.len() > n * 100),
                    )
                },
            )
            .await?;
        }
        "watch" => watch(&cfg, args.concurrency, duration).await?,
        other => {
            bail!("unknown scenario {other:?}: create, create-custom, get, list, watch or startup")
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Creates of 1 KiB ConfigMaps named `<prefix><run>-<client>-<n>`, under load.
async fn create_configmaps(
    cfg: &ClientConfig,
    concurrency: usize,
    duration: Duration,
    name: &str,
    prefix: &'static str,
) -> anyhow::Result<Figures> {
    let run_id = std::process::id();
    run_load(
        cfg,
        concurrency,
        duration,
        name,
        move |w, i, mut conn, cfg| async move {
            let r = call(
                &mut conn,
                &cfg,
                Method::POST,
                "/api/v1/namespaces/default/configmaps",
                Some(configmap(&format!("{prefix}{run_id}-{w}-{i}"))),
            )
            .await;
            (conn, r.map(|(s, _)| s == StatusCode::CREATED))
        },
    )
    .await
}

/// A definition whose objects are validated by three CEL rules besides their schema.
const WIDGET_CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
"metadata":{"name":"widgets.bench.kapi.dev"},
"spec":{"group":"bench.kapi.dev","scope":"Namespaced",
"names":{"plural":"widgets","singular":"widget","kind":"Widget"},
"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object",
"properties":{"spec":{"type":"object","required":["replicas","maxReplicas","payload"],
"x-kubernetes-validations":[
{"rule":"self.replicas <= self.maxReplicas","message":"replicas above maxReplicas"},
{"rule":"self.replicas >= 0"},
{"rule":"size(self.payload) < 4096"}],
"properties":{"replicas":{"type":"integer"},"maxReplicas":{"type":"integer"},
"payload":{"type":"string"}}}}}}}]}}"#;

fn widget(name: &str) -> Bytes {
    let payload = "x".repeat(1024 - 160);
    Bytes::from(format!(
        r#"{{"apiVersion":"bench.kapi.dev/v1","kind":"Widget","metadata":{{"name":"{name}"}},"spec":{{"replicas":1,"maxReplicas":3,"payload":"{payload}"}}}}"#
    ))
}

/// Creates of 1 KiB custom resources with three CEL rules beside creates of 1 KiB
/// ConfigMaps in the same run; first, how long a new definition takes to be served.
async fn create_custom(
    cfg: &ClientConfig,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let mut conn = cfg.connect_h2().await?;
    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let widgets = "/apis/bench.kapi.dev/v1/namespaces/default/widgets";
    let started = Instant::now();
    let (status, body) = call(
        &mut conn,
        cfg,
        Method::POST,
        crds,
        Some(Bytes::from(WIDGET_CRD)),
    )
    .await?;
    if status != StatusCode::CREATED {
        bail!(
            "creating the definition: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    loop {
        let (status, _) = call(&mut conn, cfg, Method::GET, widgets, None).await?;
        if status == StatusCode::OK {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the definition was not served within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "definition created → its resource listed: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let configmaps =
        create_configmaps(cfg, concurrency, duration, "create 1 KiB ConfigMaps", "c").await?;
    let run_id = std::process::id();
    let custom = run_load(
        cfg,
        concurrency,
        duration,
        "create 1 KiB custom resources (3 CEL rules)",
        move |w, i, mut conn, cfg| async move {
            let r = call(
                &mut conn,
                &cfg,
                Method::POST,
                widgets,
                Some(widget(&format!("w{run_id}-{w}-{i}"))),
            )
            .await;
            (conn, r.map(|(s, _)| s == StatusCode::CREATED))
        },
    )
    .await?;
    println!(
        "custom resources / ConfigMaps: {:.2}×",
        custom.per_second / configmaps.per_second.max(f64::MIN_POSITIVE)
    );
    Ok(())
}

/// ConfigMap creates without, then with, a validating webhook that allows everything: the
/// latency the webhook adds, over the webhook's own time (which the bench's webhook reports).
async fn create_webhook(
    cfg: &ClientConfig,
    tmp: &Path,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let (port, ca_pem, served) = webhook::start(&tmp.join("webhook-pki")).await?;
    let load = |name: &'static str, prefix: &'static str| {
        create_configmaps(cfg, concurrency, duration, name, prefix)
    };
    let without = load("create 1 KiB ConfigMaps, no webhook", "n").await?;
    let config = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "bench-allow"},
        "webhooks": [{
            "name": "allow.bench.kapi.dev",
            "clientConfig": {
                "url": format!("https://127.0.0.1:{port}/validate"),
                "caBundle": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, ca_pem),
            },
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }],
    });
    let mut conn = cfg.connect_h2().await?;
    let (status, body) = call(
        &mut conn,
        cfg,
        Method::POST,
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
        Some(Bytes::from(config.to_string())),
    )
    .await?;
    if status != StatusCode::CREATED {
        bail!(
            "registering the webhook: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let with = load("create 1 KiB ConfigMaps, validating webhook", "h").await?;
    let calls = served.calls.load(Ordering::Relaxed).max(1);
    let own_ms = served.micros.load(Ordering::Relaxed) as f64 / calls as f64 / 1000.0;
    println!(
        "webhook called {calls} times, {own_ms:.3} ms of its own per call; added latency p50 {:.2} ms, p99 {:.2} ms",
        with.p50 - without.p50,
        with.p99 - without.p99,
    );
    Ok(())
}

async fn wait_ready(cfg: &ClientConfig) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if let Ok(mut conn) = cfg.connect_h2().await {
            if let Ok((StatusCode::OK, b)) =
                call(&mut conn, cfg, Method::GET, "/readyz", None).await
            {
                if &b[..] == b"ok" {
                    return Ok(started.elapsed());
                }
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Watch fan-out: `watchers` watches on one collection while writers create objects.
async fn watch(cfg: &ClientConfig, watchers: usize, duration: Duration) -> anyhow::Result<()> {
    let delivered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut conn = cfg.connect_h2().await?;
    let (_, list) = call(
        &mut conn,
        cfg,
        Method::GET,
        "/api/v1/namespaces/default/configmaps?limit=1",
        None,
    )
    .await?;
    let rv = serde_json::from_slice::<serde_json::Value>(&list)?["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let mut tasks = Vec::new();
    for w in 0..watchers {
        // Eight watches share each connection, as informers in one process would.
        if w % 8 == 0 {
            conn = cfg.connect_h2().await?;
        }
        let mut c = conn.clone();
        let cfg = cfg.clone();
        let delivered = delivered.clone();
        let stop = stop.clone();
        let rv = rv.clone();
        tasks.push(tokio::spawn(async move {
            let mut req = Request::builder().uri(format!(
                "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"
            ));
            if let Some(a) = &cfg.authorization {
                req = req.header("authorization", a.as_str());
            }
            let Ok(req) = req.body(body(Bytes::new())) else {
                return;
            };
            if c.ready().await.is_err() {
                return;
            }
            let Ok(resp) = c.send_request(req).await else {
                return;
            };
            let mut b = resp.into_body();
            while !stop.load(Ordering::Relaxed) {
                match b.frame().await {
                    Some(Ok(f)) => {
                        if let Ok(d) = f.into_data() {
                            let lines = d.iter().filter(|c| **c == b'\n').count() as u64;
                            delivered.fetch_add(lines, Ordering::Relaxed);
                        }
                    }
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let writes = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for w in 0..16 {
        let mut c = cfg.connect_h2().await?;
        let cfg = cfg.clone();
        let writes = writes.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while started.elapsed() < duration {
                if let Ok((StatusCode::CREATED, _)) = call(
                    &mut c,
                    &cfg,
                    Method::POST,
                    "/api/v1/namespaces/default/configmaps",
                    Some(configmap(&format!("watch-{w}-{i}"))),
                )
                .await
                {
                    writes.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    let mut last = 0;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let d = delivered.load(Ordering::Relaxed);
        eprint!(
            "\r[{:>3}s] {} writes, {} deliveries, {}/s   ",
            started.elapsed().as_secs(),
            writes.load(Ordering::Relaxed),
            d,
            d - last
        );
        last = d;
    }
    for w in writers {
        let _ = w.await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    eprintln!();
    let d = delivered.load(Ordering::Relaxed);
    let w = writes.load(Ordering::Relaxed);
    println!(
        "watch fan-out: {watchers} watchers, {w} writes, {d} deliveries in {secs:.1}s = {:.0} deliveries/s (expected {})",
        d as f64 / secs,
        w * watchers as u64
    );
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// Start-up time to /readyz, empty and with `objects` pods stored.
async fn startup(tmp: &Path, objects: usize) -> anyhow::Result<()> {
    let (s, _) = ServerProcess::spawn(tmp, 0)?;
    let cfg = ClientConfig::load(Some(&s.kubeconfig()))?;
    wait_ready(&cfg).await?;
    let port = s.port;
    drop(s);
    // Empty store, certificates already made (the steady state of a restart).
    let (s, to_listen) = ServerProcess::spawn(tmp, port)?;
    let ready = wait_ready(&cfg).await?;
    println!(
        "start to /readyz, empty: {:.1} ms (process start to listening {:.1} ms)",
        (to_listen + ready).as_secs_f64() * 1000.0,
        to_listen.as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!(
        "idle RSS, empty: {:.1} MiB",
        s.rss_kib().unwrap_or(0) as f64 / 1024.0
    );
    create_many(
        &cfg,
        "/api/v1/namespaces/default/pods",
        objects,
        pod,
        "pod-",
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_full = s.rss_kib().unwrap_or(0);
    drop(s);
    let (s, to_listen) = ServerProcess::spawn(tmp, port)?;
    let ready = wait_ready(&cfg).await?;
    println!(
        "start to /readyz, {objects} pods: {:.1} ms",
        (to_listen + ready).as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_restarted = s.rss_kib().unwrap_or(0);
    println!(
        "RSS with {objects} pods: {:.1} MiB after creating them, {:.1} MiB after a restart",
        rss_full as f64 / 1024.0,
        rss_restarted as f64 / 1024.0
    );
    drop(s);
    let _ = std::fs::remove_dir_all(tmp);
    Ok(())
}
