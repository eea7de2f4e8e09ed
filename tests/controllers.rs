//! kapi's controllers, observed through the API as a user sees them: default service accounts,
//! the root CA ConfigMap, token Secrets, CSR signing, leader election, `--controllers`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::support::{eventually, write_file, Cluster};

/// GET `path` as admin; the object if it exists.
fn get(c: &Cluster, path: &str) -> Option<Value> {
    let (code, body) = c.curl_json(&[path]);
    (code == 200).then_some(body)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(v: &Value) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_default())
        .expect("base64 field");
    String::from_utf8(raw).expect("utf-8 field")
}

fn ca_pem(c: &Cluster) -> String {
    std::fs::read_to_string(c.data().join("ca.crt")).expect("ca.crt")
}

#[test]
fn every_namespace_gets_a_default_account_and_the_root_ca() {
    let c = Cluster::start();
    let ca = ca_pem(&c);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        eventually(&format!("default account in {ns}"), 10, || {
            get(
                &c,
                &format!("/api/v1/namespaces/{ns}/serviceaccounts/default"),
            )
        });
    }
    c.kubectl_ok(&["create", "namespace", "fresh"]);
    let started = Instant::now();
    let sa = eventually("default account in a new namespace", 5, || {
        get(&c, "/api/v1/namespaces/fresh/serviceaccounts/default")
    });
    let cm_path = "/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt";
    let cm = eventually("kube-root-ca.crt in a new namespace", 5, || {
        get(&c, cm_path)
    });
    eprintln!(
        "namespace → default account and root CA in {:?}",
        started.elapsed()
    );
    assert_eq!(cm["data"]["ca.crt"], ca.as_str());
    assert!(
        cm["metadata"]["annotations"]["kubernetes.io/description"].is_string(),
        "{cm}"
    );

    // Deleted: recreated, as a new object.
    c.kubectl_ok(&["delete", "serviceaccount", "default", "-n", "fresh"]);
    let old_uid = sa["metadata"]["uid"].clone();
    eventually("the default account to come back", 5, || {
        get(&c, "/api/v1/namespaces/fresh/serviceaccounts/default")
            .filter(|sa| sa["metadata"]["uid"] != old_uid)
    });

    // Edited: restored, extra keys dropped. Deleted: recreated.
    c.kubectl_ok(&[
        "patch",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "fresh",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"ca.crt":"not a CA","extra":"x"}}"#,
    ]);
    eventually("kube-root-ca.crt to be restored", 5, || {
        get(&c, cm_path).filter(|cm| cm["data"] == serde_json::json!({"ca.crt": ca}))
    });
    c.kubectl_ok(&["delete", "configmap", "kube-root-ca.crt", "-n", "fresh"]);
    eventually("kube-root-ca.crt to be recreated", 5, || {
        get(&c, cm_path).filter(|cm| cm["data"]["ca.crt"] == ca.as_str())
    });

    // Legacy token Secrets are opt-in: none for the default account.
    let (_, secrets) = c.curl_json(&["/api/v1/namespaces/fresh/secrets"]);
    assert_eq!(secrets["items"], serde_json::json!([]), "{secrets}");

    // The controllers lead through a Lease.
    let lease = eventually("the controller-manager lease", 5, || {
        get(
            &c,
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kapi-controller-manager",
        )
    });
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{lease}"
    );
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
    assert!(c.data().join("controller-manager.kubeconfig").exists());
}

const TOKEN_SECRET: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: NAME
  namespace: team
  annotations:
    kubernetes.io/service-account.name: ACCOUNT
type: kubernetes.io/service-account-token
"#;

fn token_secret(c: &Cluster, name: &str, account: &str) {
    let yaml = TOKEN_SECRET
        .replace("NAME", name)
        .replace("ACCOUNT", account);
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&raw).expect("JSON claims")
}

#[test]
fn token_secrets_are_filled_and_go_with_their_account() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "team"]);
    c.kubectl_ok(&["create", "serviceaccount", "app", "-n", "team"]);
    token_secret(&c, "app-token", "app");
    let path = "/api/v1/namespaces/team/secrets/app-token";
    let secret = eventually("the token Secret to be filled", 5, || {
        get(&c, path).filter(|s| s["data"]["token"].is_string())
    });
    let sa = get(&c, "/api/v1/namespaces/team/serviceaccounts/app").expect("account");
    let uid = sa["metadata"]["uid"].as_str().expect("uid");
    assert_eq!(unb64(&secret["data"]["ca.crt"]), ca_pem(&c));
    assert_eq!(unb64(&secret["data"]["namespace"]), "team");
    assert_eq!(
        secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"],
        uid
    );

    let token = unb64(&secret["data"]["token"]);
    let claims = jwt_claims(&token);
    assert_eq!(claims["iss"], "kubernetes/serviceaccount");
    assert_eq!(claims["sub"], "system:serviceaccount:team:app");
    assert_eq!(claims["kubernetes.io/serviceaccount/namespace"], "team");
    assert_eq!(
        claims["kubernetes.io/serviceaccount/secret.name"],
        "app-token"
    );
    assert_eq!(
        claims["kubernetes.io/serviceaccount/service-account.name"],
        "app"
    );
    assert_eq!(
        claims["kubernetes.io/serviceaccount/service-account.uid"],
        uid
    );
    let review = [
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
    ];
    let (code, who) = c.curl_token(&token, &review);
    assert_eq!(code, 201, "{who}");
    assert_eq!(
        who["status"]["userInfo"]["username"],
        "system:serviceaccount:team:app"
    );

    // A token Secret for an account that does not exist is removed, as upstream does.
    token_secret(&c, "ghost-token", "ghost");
    eventually("the Secret of a missing account to be deleted", 5, || {
        get(&c, "/api/v1/namespaces/team/secrets/ghost-token")
            .is_none()
            .then_some(())
    });

    // The account goes: so does its Secret, and its token stops working.
    c.kubectl_ok(&["delete", "serviceaccount", "app", "-n", "team"]);
    eventually("the token Secret to follow its account", 5, || {
        get(&c, path).is_none().then_some(())
    });
    eventually("the token to be refused", 5, || {
        (c.curl_token(&token, &review).0 == 401).then_some(())
    });
}

#[test]
fn legacy_token_secrets_are_created_on_request() {
    let c = Cluster::start_with(&["--legacy-token-secrets"]);
    let sa_path = "/api/v1/namespaces/default/serviceaccounts/default";
    let listed = |c: &Cluster| -> Option<String> {
        let sa = get(c, sa_path)?;
        let name = sa["secrets"][0]["name"].as_str()?.to_string();
        let secret = get(c, &format!("/api/v1/namespaces/default/secrets/{name}"))?;
        secret["data"]["token"].is_string().then_some(name)
    };
    let first = eventually(
        "a filled default-token Secret listed by the account",
        10,
        || listed(&c),
    );
    assert!(
        first.starts_with("default-token-") && first.len() == "default-token-".len() + 5,
        "{first}"
    );
    let shown = c.kubectl_ok(&["get", "secrets", "-n", "default", "-o", "name"]);
    assert!(shown.contains(&format!("secret/{first}")), "{shown}");

    // Deleted: the account stops listing it and gets a new one.
    c.kubectl_ok(&["delete", "secret", &first, "-n", "default"]);
    let second = eventually("a replacement token Secret", 10, || {
        listed(&c).filter(|n| *n != first)
    });
    let sa = get(&c, sa_path).expect("account");
    assert_eq!(sa["secrets"], serde_json::json!([{"name": second}]), "{sa}");
}

/// A key and a PEM CSR made by openssl, as a user following the Kubernetes docs would.
fn openssl_csr(dir: &std::path::Path, name: &str, subject: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .args(["-subj", subject])
        .arg("-out")
        .arg(&csr)
        .stderr(Stdio::piped())
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (key, std::fs::read_to_string(csr).expect("csr"))
}

fn submit_csr(c: &Cluster, name: &str, csr_pem: &str, usages: &str) {
    let yaml = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {}\n  signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 86400\n  usages: {usages}\n",
        b64(csr_pem)
    );
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn approved_csrs_become_client_certificates() {
    let c = Cluster::start();
    let dir = c.dir.path();
    let (key, csr) = openssl_csr(dir, "jane", "/CN=jane/O=dev/O=ops");
    submit_csr(
        &c,
        "jane",
        &csr,
        r#"["digital signature", "key encipherment", "client auth"]"#,
    );
    let (_, pending) = openssl_csr(dir, "later", "/CN=later");
    submit_csr(&c, "later", &pending, r#"["client auth"]"#);
    c.kubectl_ok(&["certificate", "approve", "jane"]);
    let path = "/apis/certificates.k8s.io/v1/certificatesigningrequests/jane";
    let signed = eventually("the approved request to be signed", 10, || {
        get(&c, path).filter(|r| r["status"]["certificate"].is_string())
    });
    let cert = write_file(dir, "jane.crt", &unb64(&signed["status"]["certificate"]));
    let shown = c.kubectl_ok(&["get", "csr", "jane"]);
    assert!(shown.contains("Approved,Issued"), "{shown}");

    // The certificate gets through TLS and names jane in her groups; RBAC grants her nothing.
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .arg("-sS")
            .arg("--cacert")
            .arg(c.data().join("ca.crt"))
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(["-w", "\n%{http_code}"])
            .arg(format!("{}{}", c.url, args[0]))
            .args(&args[1..])
            .output()
            .expect("curl");
        crate::support::split_code(&out.stdout)
    };
    let (code, status) = curl(&["/api/v1/namespaces/default/pods"]);
    assert_eq!(code, 403, "{status}");
    assert_eq!(
        status["message"],
        "pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    let (code, who) = curl(&[
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
    ]);
    assert_eq!(code, 201, "{who}");
    assert_eq!(who["status"]["userInfo"]["username"], "jane");
    let groups = &who["status"]["userInfo"]["groups"];
    for g in ["dev", "ops", "system:authenticated"] {
        assert!(
            groups.as_array().is_some_and(|a| a.iter().any(|x| x == g)),
            "{g} not in {groups}"
        );
    }

    // Never approved: never signed.
    let later = get(
        &c,
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/later",
    )
    .expect("csr");
    assert!(later["status"]["certificate"].is_null(), "{later}");

    // Asking for server auth from the client signer fails instead of being signed.
    let (_, server) = openssl_csr(dir, "web", "/CN=web");
    submit_csr(&c, "web", &server, r#"["client auth", "server auth"]"#);
    c.kubectl_ok(&["certificate", "approve", "web"]);
    let failed = eventually("a Failed condition", 10, || {
        get(
            &c,
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/web",
        )
        .filter(|r| {
            r["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Failed"))
        })
    });
    assert!(failed["status"]["certificate"].is_null(), "{failed}");
    let conditions = failed["status"]["conditions"]
        .as_array()
        .expect("conditions");
    let cond = conditions
        .iter()
        .find(|c| c["type"] == "Failed")
        .expect("Failed");
    assert_eq!(cond["status"], "True");
    assert_eq!(cond["reason"], "SignerValidationFailure");
    assert!(
        cond["message"]
            .as_str()
            .is_some_and(|m| m.contains("server auth")),
        "{cond}"
    );
}

#[test]
fn controllers_can_be_turned_off_one_by_one() {
    let c = Cluster::start_with(&["--controllers=*,-serviceaccount"]);
    c.kubectl_ok(&["create", "namespace", "quiet"]);
    // The root CA publisher runs ...
    eventually("kube-root-ca.crt", 5, || {
        get(&c, "/api/v1/namespaces/quiet/configmaps/kube-root-ca.crt")
    });
    // ... and had time to act, as had the disabled ServiceAccount controller, had it run.
    std::thread::sleep(Duration::from_millis(500));
    assert!(get(&c, "/api/v1/namespaces/quiet/serviceaccounts/default").is_none());

    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--controllers",
            "*,-nope",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("kapi");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown controller \"-nope\""), "{err}");
}

#[test]
fn only_the_lease_holder_runs_controllers() {
    let c = Cluster::start();
    let lease_path =
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kapi-controller-manager";
    let lease = eventually("the controller-manager lease", 5, || get(&c, lease_path));
    let server = lease["spec"]["holderIdentity"]
        .as_str()
        .expect("holder")
        .to_string();
    // Another candidate takes the Lease and keeps renewing it (short lease, so the server
    // takes it back soon after the renewals stop).
    let renew = |i: u32| {
        let patch = format!(
            r#"{{"spec":{{"holderIdentity":"intruder","leaseDurationSeconds":3,"renewTime":"2000-01-01T00:{:02}:{:02}.000000Z"}}}}"#,
            i / 60,
            i % 60
        );
        let (code, body) = c.curl_json(&[
            lease_path,
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/merge-patch+json",
            "-d",
            &patch,
        ]);
        assert_eq!(code, 200, "{body}");
    };
    let mut i = 0;
    let mut hold_for = |c: &Cluster, d: Duration| {
        let until = Instant::now() + d;
        while Instant::now() < until {
            i += 1;
            renew(i);
            assert_eq!(
                get(c, lease_path).expect("lease")["spec"]["holderIdentity"],
                "intruder"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    // The server notices at its next renewal (every 2s) and stops its controllers.
    hold_for(&c, Duration::from_secs(3));
    c.kubectl_ok(&["create", "namespace", "led"]);
    hold_for(&c, Duration::from_secs(2));
    assert!(
        get(&c, "/api/v1/namespaces/led/serviceaccounts/default").is_none(),
        "a follower ran controllers"
    );
    // Renewals stop: after the lease duration the server takes over and catches up.
    eventually(
        "the server to lead again and create the default account",
        15,
        || get(&c, "/api/v1/namespaces/led/serviceaccounts/default"),
    );
    let lease = get(&c, lease_path).expect("lease");
    assert_eq!(lease["spec"]["holderIdentity"], server.as_str());
    assert!(
        lease["spec"]["leaseTransitions"]
            .as_i64()
            .is_some_and(|t| t >= 1),
        "{lease}"
    );
}
