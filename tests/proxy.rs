//! `kapi proxy` and `kapi kubeconfig`: the client-side commands, against a real server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::Cluster;

struct Proxy {
    child: Child,
    addr: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proxy(c: &Cluster, extra: &[&str]) -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args(["proxy", "--port", "0", "--kubeconfig"])
        .arg(c.kubeconfig())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kapi proxy");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a line")
        .expect("utf-8");
    let addr = line
        .strip_prefix("Starting to serve on ")
        .expect("kubectl proxy's first line")
        .to_string();
    Proxy { child, addr }
}

fn get(url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn proxy_forwards_with_credentials_and_filters_like_kubectl() {
    let c = Cluster::start();
    let p = proxy(&c, &[]);
    let (code, body) = get(&format!("http://{}/api/v1/namespaces", p.addr), &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"kind\":\"NamespaceList\""));
    let (code, body) = get(
        &format!("http://{}/api/v1/namespaces/default/configmaps", p.addr),
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"via-proxy"}}"#,
        ],
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = get(
        &format!(
            "http://{}/api/v1/namespaces/default/pods/x/exec?command=ls",
            p.addr
        ),
        &["-X", "POST"],
    );
    assert_eq!((code, body.as_str()), (403, "Forbidden"));
    let (code, _) = get(
        &format!("http://{}/api", p.addr),
        &["-H", "Host: evil.example.com"],
    );
    assert_eq!(code, 403, "hosts outside --accept-hosts are refused");
    // A watch streams through the proxy.
    let (code, body) = get(
        &format!(
            "http://{}/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
            p.addr
        ),
        &[],
    );
    assert_eq!(code, 200);
    assert!(body.contains("via-proxy"), "{body}");
}

#[test]
fn proxy_prefix_reject_methods_and_unix_socket() {
    let c = Cluster::start();
    let p = proxy(&c, &["--api-prefix", "/k8s/", "--reject-methods", "^POST$"]);
    assert_eq!(get(&format!("http://{}/k8s/api", p.addr), &[]).0, 200);
    assert_eq!(get(&format!("http://{}/api", p.addr), &[]).0, 404);
    assert_eq!(
        get(
            &format!("http://{}/k8s/api/v1/namespaces/default/configmaps", p.addr),
            &["-X", "POST", "-d", "{}"]
        )
        .0,
        403
    );
    let sock = c.dir.path().join("proxy.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args(["proxy", "--unix-socket"])
        .arg(&sock)
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(line.starts_with("Starting to serve on"));
    let (code, body) = get(
        "http://localhost/version",
        &["--unix-socket", sock.to_str().unwrap()],
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("gitVersion"));
}

#[test]
fn kubeconfigs_for_users_and_service_accounts() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "serviceaccount", "ci"]);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kapi"))
            .args(["kubeconfig"])
            .args(args)
            .arg("--kubeconfig")
            .arg(c.kubeconfig())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let whoami = |kubeconfig: &str| {
        let path = crate::support::write_file(c.dir.path(), "k.yaml", kubeconfig);
        let out = Command::new("kubectl")
            .args([
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
            ])
            .env("KUBECONFIG", &path)
            .env("HOME", c.dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let sa = run(&["serviceaccount", "default/ci", "--duration", "1h"]);
    assert!(sa.contains("certificate-authority-data:") && sa.contains("token:"));
    assert!(whoami(&sa).starts_with("system:serviceaccount:default:ci "));
    let user = run(&["user", "jane", "--group", "dev-team"]);
    assert!(user.contains("client-certificate-data:"));
    let who = whoami(&user);
    assert!(
        who.starts_with("jane ") && who.contains("dev-team"),
        "{who}"
    );
    let admin = Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args(["kubeconfig", "admin", "--data-dir"])
        .arg(c.data())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&admin.stdout),
        std::fs::read_to_string(c.kubeconfig()).unwrap()
    );
}
