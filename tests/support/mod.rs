//! `Cluster::start()`: a fresh server in a temp dir on a free port, and runners for the
//! clients that talk to it.

#![allow(dead_code)]

pub mod netns;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `kapi server` and what a client needs to reach it.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub port: u16,
    child: Option<Child>,
    extra: Vec<String>,
    /// Runs the server under `prlimit --nofile=N:N` when set.
    nofile: Option<u64>,
    /// What the server has written to stderr so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The private network of a cluster that runs a node; `None`: a pure API server on
    /// loopback (`--disable-node`).
    pub netns: Option<netns::NetNs>,
    /// The data dir is a tmpfs of its own, unmounted when the cluster goes.
    small_disk: bool,
}

impl Cluster {
    /// Starts a server in a new temp dir.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `kapi server` flags; `{dir}` in a flag is the temp dir.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_limited(None, extra)
    }

    /// Starts a server whose open-file limit (soft and hard) is `nofile`.
    pub fn start_limited(nofile: Option<u64>, extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), nofile, extra)
    }

    /// Starts a server on `dir`/data as it is (prepared by the test, or empty).
    pub fn start_in(dir: tempfile::TempDir, nofile: Option<u64>, extra: &[&str]) -> Self {
        let extra = extra
            .iter()
            .map(|a| a.replace("{dir}", &dir.path().display().to_string()))
            .collect();
        let mut c = Cluster {
            dir,
            url: String::new(),
            port: 0,
            child: None,
            extra,
            nofile,
            log: Default::default(),
            netns: None,
            small_disk: false,
        };
        c.launch("127.0.0.1:0");
        c
    }

    /// Starts a server whose data dir is a filesystem of `mib` MiB (a tmpfs), to be filled up.
    /// Needs root.
    pub fn start_on_small_disk(mib: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "kapi-test",
            ])
            .arg(&data)
            .status()
            .expect("mount");
        assert!(mounted.success(), "mounting a tmpfs needs root");
        let mut c = Cluster {
            dir,
            url: String::new(),
            port: 0,
            child: None,
            extra: Vec::new(),
            nofile: None,
            log: Default::default(),
            netns: None,
            small_disk: true,
        };
        c.launch("127.0.0.1:0");
        c
    }

    /// Starts a second server of the cluster `first` serves (on a shared etcd, given in
    /// `extra`): with `first`'s CA, service-account key and admin credentials copied into its
    /// data dir, as an operator copies them, listening on `ip` at `first`'s port (API servers
    /// of one cluster share a port).
    pub fn start_beside(first: &Cluster, ip: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        for file in [
            "ca.crt",
            "ca.key",
            "sa.key",
            "sa.pub",
            "admin.crt",
            "admin.key",
        ] {
            std::fs::copy(first.data().join(file), data.join(file)).expect("copy the PKI");
        }
        let mut c = Cluster {
            dir,
            url: String::new(),
            port: 0,
            child: None,
            extra: extra.iter().map(|a| a.to_string()).collect(),
            nofile: None,
            log: Default::default(),
            netns: None,
            small_disk: false,
        };
        c.launch(&format!("{ip}:{}", first.port));
        c
    }

    /// Starts a server that runs this machine as a node (its own containerd, pods through
    /// CRI), inside a network namespace of its own with a registry of test images. Needs root.
    pub fn start_with_node(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ns = netns::NetNs::create(dir.path());
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        std::fs::write(
            dir.path().join("data/registries.yaml"),
            netns::NetNs::registries_yaml(),
        )
        .expect("registries.yaml");
        let extra = extra
            .iter()
            .map(|a| a.replace("{dir}", &dir.path().display().to_string()))
            .collect();
        let mut c = Cluster {
            dir,
            url: String::new(),
            port: 0,
            child: None,
            extra,
            nofile: None,
            log: Default::default(),
            netns: Some(ns),
            small_disk: false,
        };
        c.launch("0.0.0.0:0");
        c
    }

    /// A command run where the server is reachable (inside its namespace, when it has one).
    pub fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => ns.command(program),
            None => Command::new(program),
        }
    }

    /// The data dir.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn launch(&mut self, listen: &str) {
        let mut cmd = match self.nofile {
            Some(n) => {
                let mut cmd = Command::new("prlimit");
                cmd.arg(format!("--nofile={n}:{n}"))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_kapi"));
                cmd
            }
            None => self.command(env!("CARGO_BIN_EXE_kapi")),
        };
        cmd.arg("server");
        if self.netns.is_none() {
            cmd.arg("--disable-node");
        }
        let mut child = cmd
            .arg("--data-dir")
            .arg(self.data())
            .args(["--listen", listen])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kapi server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("kapi server listening on ") {
                        break rest.trim().to_string();
                    }
                }
                _ => panic!("kapi server exited before listening"),
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe, keeping the lines.
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        // A server on all addresses is reached on loopback, as its admin kubeconfig does.
        self.url = url.replace("0.0.0.0", "127.0.0.1");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.curl(&["/readyz"]).stdout == b"ok" {
                self.await_default_account(deadline);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server never became ready");
    }

    /// Waits for the `default` account of namespace `default`, as a user of a fresh cluster
    /// does (upstream's ServiceAccount admission refuses pods with 403 until the controller has
    /// made it). Skipped when the test picks controllers without the one that makes it (all,
    /// `*`, less `-serviceaccount`), and so owns that timing.
    fn await_default_account(&self, deadline: Instant) {
        let picked = self.extra.iter().enumerate().find_map(|(i, a)| {
            match a.strip_prefix("--controllers") {
                Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
                Some("") => self.extra.get(i + 1).cloned(),
                _ => None,
            }
        });
        if let Some(list) = picked {
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            let runs = (names.contains(&"*") || names.contains(&"serviceaccount"))
                && !names.contains(&"-serviceaccount");
            if !runs {
                return;
            }
        }
        while Instant::now() < deadline {
            let (code, _) = self.curl_json(&["/api/v1/namespaces/default/serviceaccounts/default"]);
            if code == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the default service account never appeared");
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// The server's peak resident memory so far, in MiB (VmHWM).
    pub fn peak_rss_mib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("server status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib / 1024
    }

    /// The lines the server has written to stderr so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Kills the server with SIGKILL (no chance to flush anything).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data dir and port.
    pub fn restart(&mut self) {
        self.kill();
        let host = if self.netns.is_some() {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        };
        let listen = format!("{host}:{}", self.port);
        self.launch(&listen);
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data().join("admin.kubeconfig")
    }

    /// Runs kubectl with the admin kubeconfig and an empty discovery cache of this cluster's own.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    /// Runs kubectl feeding `stdin`.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl must be installed (see README)");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("kubectl")
    }

    /// kubectl that must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl that must fail; returns stderr.
    pub fn kubectl_err(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// curl with the admin client certificate, verifying the cluster CA. `args[0]` is the path.
    pub fn curl(&self, args: &[&str]) -> Output {
        let data = self.data();
        let mut cmd = self.command("curl");
        cmd.arg("-sS")
            .arg("--cacert")
            .arg(data.join("ca.crt"))
            .arg("--cert")
            .arg(data.join("admin.crt"))
            .arg("--key")
            .arg(data.join("admin.key"))
            .arg(format!("{}{}", self.url, args[0]))
            .args(&args[1..]);
        cmd.output().expect("curl")
    }

    /// curl without credentials (anonymous), verifying the cluster CA.
    pub fn curl_anonymous(&self, args: &[&str]) -> Output {
        let mut cmd = self.command("curl");
        cmd.arg("-sS")
            .arg("--cacert")
            .arg(self.data().join("ca.crt"))
            .arg(format!("{}{}", self.url, args[0]))
            .args(&args[1..]);
        cmd.output().expect("curl")
    }

    /// curl with a bearer token, verifying the cluster CA.
    pub fn curl_token(&self, token: &str, args: &[&str]) -> (u16, serde_json::Value) {
        let out = self
            .command("curl")
            .arg("-sS")
            .arg("--cacert")
            .arg(self.data().join("ca.crt"))
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("{}{}", self.url, args[0]))
            .args(&args[1..])
            .args(["-w", "\n%{http_code}"])
            .output()
            .expect("curl");
        split_code(&out.stdout)
    }

    /// curl returning (HTTP status, body as JSON or Null).
    pub fn curl_json(&self, args: &[&str]) -> (u16, serde_json::Value) {
        let mut full: Vec<&str> = args.to_vec();
        full.extend_from_slice(&["-w", "\n%{http_code}"]);
        let out = self.curl(&full);
        split_code(&out.stdout)
    }

    /// Runs a Python script with the cluster's URL and credential paths in the environment.
    pub fn python(&self, script: &str, args: &[&str]) -> Output {
        let data = self.data();
        self.command("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .env("KAPI_URL", &self.url)
            .env("KAPI_CA", data.join("ca.crt"))
            .env("KAPI_CERT", data.join("admin.crt"))
            .env("KAPI_KEY", data.join("admin.key"))
            .env("KUBECONFIG", self.kubeconfig())
            .output()
            .expect("python3")
    }
}

/// Polls `probe` until it yields, failing after `secs` seconds: for effects that follow a write
/// asynchronously (controllers, the RBAC index), without fixed sleeps that could pass by luck.
pub fn eventually<T>(what: &str, secs: u64, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Splits curl output ending in `\n<code>` into the code and the parsed body.
pub fn split_code(stdout: &[u8]) -> (u16, serde_json::Value) {
    let text = String::from_utf8_lossy(stdout);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code.trim().parse().unwrap_or(0);
    (
        code,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.netns.is_some() && self.child.is_some() {
            // Pods outlive the server (as with kubelet); stop them first, then whatever the
            // runtime still runs, so no test leaves processes behind.
            let _ = self.kubectl(&[
                "delete",
                "pods",
                "--all",
                "-A",
                "--grace-period=1",
                "--timeout=30s",
            ]);
            let socket = self.data().join("containerd/containerd.sock");
            let ctr = |args: &[&str]| {
                Command::new("ctr")
                    .arg("-a")
                    .arg(&socket)
                    .args(["-n", "k8s.io"])
                    .args(args)
                    .output()
            };
            if let Ok(out) = ctr(&["tasks", "ls", "-q"]) {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
                }
            }
        }
        self.kill();
        if self.small_disk {
            let _ = Command::new("umount").arg(self.data()).status();
        }
        // kapi's own components must never write what validation refuses: such a write fails
        // only in a log line, so every test checks the log for one.
        if !std::thread::panicking() {
            let refused: Vec<String> = self
                .log_lines()
                .into_iter()
                .filter(|l| {
                    l.contains("is invalid")
                        && (l.contains("kapi_controllers") || l.contains("kapi_node"))
                })
                .collect();
            assert!(
                refused.is_empty(),
                "validation refused kapi's own writes:\n{}",
                refused.join("\n")
            );
        }
    }
}

/// Writes `contents` to a file in `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}
