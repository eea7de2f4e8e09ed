//! A private network for a cluster with a node: a network namespace of the test's own with the
//! node address 10.250.0.10 on a port-less bridge (nothing sent there leaves the machine), and
//! a registry on the namespace's loopback serving the test images under their usual names, as
//! ../shared/acceptance/run.sh sets up for s4 and s5.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The node's address inside the namespace.
pub const NODE_IP: &str = "10.250.0.10";
/// The registry's address inside the namespace.
pub const REGISTRY: &str = "127.0.0.1:5000";
/// The busybox test image, by the name pods use.
pub const BUSYBOX: &str = "127.0.0.1:5000/kapi-test/busybox:1.36";

/// A network namespace with a registry in it; removed (with everything running in it) on drop.
pub struct NetNs {
    pub name: String,
    registry: Option<Child>,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a setup command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn acceptance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/acceptance")
}

fn image_cache() -> PathBuf {
    std::env::var_os("KAPI_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/kapi-test-images")
        })
}

/// A registry storage directory holding busybox and the pause image, built once per machine
/// (under a lock, as tests run in parallel) and then only read by each test's registry.
fn seed() -> PathBuf {
    let cache = image_cache();
    let seed = cache.join("registry-seed-v2");
    if seed.join("complete").exists() {
        return seed;
    }
    std::fs::create_dir_all(&cache).expect("image cache dir");
    let lock = std::fs::File::create(cache.join("registry-seed.lock")).expect("lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .expect("lock the image cache");
    if seed.join("complete").exists() {
        return seed;
    }
    let images = acceptance_dir().join("images.sh");
    run(Command::new(&images)
        .arg("build")
        .env("KAPI_TEST_IMAGES", &cache));
    let _ = std::fs::remove_dir_all(&seed);
    let port = free_port();
    let serve_dir = cache.join("registry-seed-serve");
    let pid = Command::new(&images)
        .args(["registry", &port.to_string()])
        .arg(&serve_dir)
        .output()
        .expect("start a seeding registry");
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let registry = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Command::new("curl")
        .args(["-sf", &format!("http://{registry}/v2/")])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "the seeding registry did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let push = |layout: &str, name: &str| {
        run(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}/{layout}", cache.display()),
            &format!("docker://{registry}/{name}"),
        ]));
    };
    push("busybox:1.36", "kapi-test/busybox:1.36");
    push("busybox:1.36", "library/busybox:1.36");
    push("busybox:1.36", "library/busybox:latest");
    push("pause:3.10", "pause:3.10");
    let _ = Command::new("kill").arg(&pid).status();
    std::fs::rename(serve_dir.join("data"), &seed).expect("keep the seeded storage");
    let _ = std::fs::remove_dir_all(&serve_dir);
    std::fs::write(seed.join("complete"), b"").expect("mark the seed complete");
    seed
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl NetNs {
    /// Creates the namespace and starts its registry; `dir` holds the registry's config.
    pub fn create(dir: &Path) -> NetNs {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let seed = seed();
        let name = format!(
            "kapi-e2e-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new("ip").args(["netns", "add", &name]));
        let mut ns = NetNs {
            name: name.clone(),
            registry: None,
        };
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        run(Command::new("ip").args(["-n", &name, "link", "add", "kapi-node0", "type", "bridge"]));
        run(Command::new("ip").args([
            "-n",
            &name,
            "addr",
            "add",
            &format!("{NODE_IP}/24"),
            "dev",
            "kapi-node0",
        ]));
        run(Command::new("ip").args(["-n", &name, "link", "set", "kapi-node0", "up"]));
        run(Command::new("ip").args(["-n", &name, "route", "add", "default", "dev", "kapi-node0"]));
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, maintenance: {{uploadpurging: {{enabled: false}}, readonly: {{enabled: true}}}}}}\nhttp: {{addr: {REGISTRY}}}\n",
                seed.display()
            ),
        )
        .expect("registry config");
        let registry = ns
            .command("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry must be installed (images.sh installs it)");
        ns.registry = Some(registry);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ns
            .command("curl")
            .args(["-sf", &format!("http://{REGISTRY}/v2/")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(Instant::now() < deadline, "the test registry did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        ns
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.name))
            .arg(program);
        cmd
    }

    /// registries.yaml sending pulls of the test registry, docker.io and registry.k8s.io to it.
    pub fn registries_yaml() -> String {
        let mut out = String::from("mirrors:\n");
        for name in [REGISTRY, "docker.io", "registry.k8s.io"] {
            out.push_str(&format!(
                "  \"{name}\":\n    endpoint:\n      - \"http://{REGISTRY}\"\n"
            ));
        }
        out
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Some(mut r) = self.registry.take() {
            let _ = r.kill();
            let _ = r.wait();
        }
        for signal in ["-TERM", "-KILL"] {
            if let Ok(out) = Command::new("ip")
                .args(["netns", "pids", &self.name])
                .output()
            {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args([signal, pid]).status();
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
