//! Throwaway etcd clusters, for tests of the etcd backend and of servers on it (here and in
//! kapi's end-to-end tests): Debian's `etcd` binary on loopback ports picked free, each
//! member's data in a fresh temporary directory, killed and removed when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One member: its process (None once killed), client port and data.
struct Member {
    child: Option<Child>,
    client_port: u16,
    dir: PathBuf,
}

/// A running etcd cluster of one or more members.
pub struct EtcdCluster {
    members: Vec<Member>,
}

/// A single-member cluster (most tests need no more).
pub type EtcdProcess = EtcdCluster;

impl EtcdCluster {
    /// Starts a single member and waits until it listens.
    pub fn start() -> EtcdCluster {
        EtcdCluster::start_members(1)
    }

    /// Starts `n` members forming one cluster and waits until each listens.
    pub fn start_members(n: usize) -> EtcdCluster {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let initial = initial.join(",");
        let members = ports
            .iter()
            .enumerate()
            .map(|(i, (client_port, peer_port))| {
                let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let dir =
                    std::env::temp_dir().join(format!("kapi-etcd-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let client = format!("http://127.0.0.1:{client_port}");
                let peer = format!("http://127.0.0.1:{peer_port}");
                let child = Command::new("etcd")
                    .args(["--name", &format!("m{i}"), "--data-dir"])
                    .arg(dir.join("data"))
                    .args(["--listen-client-urls", &client])
                    .args(["--advertise-client-urls", &client])
                    .args(["--listen-peer-urls", &peer])
                    .args(["--initial-advertise-peer-urls", &peer])
                    .args(["--initial-cluster", &initial])
                    .args(["--initial-cluster-state", "new"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("etcd (Debian's etcd-server package) must be installed to test the etcd backend");
                Member {
                    child: Some(child),
                    client_port: *client_port,
                    dir,
                }
            })
            .collect();
        let cluster = EtcdCluster { members };
        let deadline = Instant::now() + Duration::from_secs(30);
        for m in &cluster.members {
            while std::net::TcpStream::connect(("127.0.0.1", m.client_port)).is_err() {
                assert!(Instant::now() < deadline, "etcd did not start listening");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// The first member's client URL.
    pub fn url(&self) -> String {
        self.member_url(0)
    }

    /// Member `i`'s client URL.
    pub fn member_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.members[i].client_port)
    }

    /// Every member's client URL.
    pub fn urls(&self) -> Vec<String> {
        (0..self.members.len())
            .map(|i| self.member_url(i))
            .collect()
    }

    /// Which member leads, as the live members report it.
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for (i, m) in self.members.iter().enumerate() {
                if m.child.is_none() {
                    continue;
                }
                let Ok(client) = etcd_client::Client::connect([self.member_url(i)], None).await
                else {
                    continue;
                };
                let Ok(status) = client.maintenance_client().status().await else {
                    continue;
                };
                let me = status.header().map(|h| h.member_id());
                if status.leader() != 0 && me == Some(status.leader()) {
                    return i;
                }
            }
            assert!(Instant::now() < deadline, "no etcd member leads");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills member `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
            let _ = std::fs::remove_dir_all(&self.members[i].dir);
        }
    }
}
