//! Who is calling and what they may do: tokens, RBAC, reviews, impersonation, escalation.

use crate::support::{eventually, write_file, Cluster};

fn token_for(c: &Cluster, ns: &str, sa: &str) -> String {
    c.kubectl_ok(&["create", "token", sa, "-n", ns])
        .trim()
        .to_string()
}

#[test]
fn whoami_can_i_and_impersonation() {
    let c = Cluster::start();
    let who = c.kubectl_ok(&["auth", "whoami", "-o", "json"]);
    let who: serde_json::Value = serde_json::from_str(&who).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "kubernetes-admin");
    assert_eq!(
        c.kubectl_ok(&["auth", "can-i", "delete", "nodes"]).trim(),
        "yes"
    );
    c.kubectl_ok(&["create", "namespace", "team"]);
    c.kubectl_ok(&["create", "serviceaccount", "bot", "-n", "team"]);
    c.kubectl_ok(&[
        "create",
        "role",
        "cm-reader",
        "-n",
        "team",
        "--verb=get,list",
        "--resource=configmaps",
    ]);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "bot-reads",
        "-n",
        "team",
        "--role=cm-reader",
        "--serviceaccount=team:bot",
    ]);
    let sa = "system:serviceaccount:team:bot";
    // The RBAC index follows the store; give it a moment to see the new binding.
    eventually("the binding to take effect", 5, || {
        let out = c.kubectl(&[
            "auth",
            "can-i",
            "list",
            "configmaps",
            "-n",
            "team",
            "--as",
            sa,
        ]);
        (out.stdout == b"yes\n").then_some(())
    });
    let no = c.kubectl(&["auth", "can-i", "list", "secrets", "-n", "team", "--as", sa]);
    assert_eq!(String::from_utf8_lossy(&no.stdout).trim(), "no");
    assert!(!no.status.success());
    let list = c.kubectl_ok(&["auth", "can-i", "--list", "-n", "team", "--as", sa]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("configmaps") && l.contains("[get list]")),
        "{list}"
    );
    let err = c.kubectl_err(&["get", "secrets", "-n", "team", "--as", sa]);
    assert!(err.contains("secrets is forbidden: User \"system:serviceaccount:team:bot\" cannot list resource \"secrets\" in API group \"\" in the namespace \"team\""), "{err}");
    let who = c.kubectl_ok(&[
        "auth",
        "whoami",
        "--as",
        sa,
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(who, sa);
}

#[test]
fn bound_tokens_work_until_their_account_goes() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "serviceaccount", "app"]);
    let token = token_for(&c, "default", "app");
    assert_eq!(token.split('.').count(), 3);
    let (code, who) = c.curl_token(
        &token,
        &[
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
        ],
    );
    assert_eq!(code, 201, "{who}");
    assert_eq!(
        who["status"]["userInfo"]["username"],
        "system:serviceaccount:default:app"
    );
    let groups = who["status"]["userInfo"]["groups"].as_array().unwrap();
    for g in [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ] {
        assert!(groups.iter().any(|x| x == g), "{g} missing from {groups:?}");
    }
    assert_eq!(
        c.curl_token(&token, &["/api"]).0,
        200,
        "discovery is allowed to every authenticated user"
    );
    let (code, status) = c.curl_token(&token, &["/api/v1/namespaces/default/pods"]);
    assert_eq!(code, 403);
    assert_eq!(status["message"], "pods is forbidden: User \"system:serviceaccount:default:app\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"");
    // Tampering with the payload breaks the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    let (code, status) = c.curl_token(&forged, &["/api"]);
    assert_eq!(
        (code, status["reason"].as_str()),
        (401, Some("Unauthorized"))
    );
    assert_eq!(c.curl_token("garbage", &["/api"]).0, 401);
    c.kubectl_ok(&["delete", "serviceaccount", "app"]);
    assert_eq!(
        c.curl_token(&token, &["/api"]).0,
        401,
        "a deleted account's token is refused at once"
    );
    c.kubectl_ok(&["create", "serviceaccount", "app"]);
    assert_eq!(
        c.curl_token(&token, &["/api"]).0,
        401,
        "a recreated account has a new UID"
    );
}

#[test]
fn token_requests_validate_and_bind() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "serviceaccount", "app"]);
    let err = c.kubectl_err(&["create", "token", "app", "--duration=5m"]);
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = c.kubectl_err(&["create", "token", "missing"]);
    assert!(
        err.contains("serviceaccounts \"missing\" not found"),
        "{err}"
    );
    c.kubectl_ok(&["create", "secret", "generic", "s1"]);
    let token = c
        .kubectl_ok(&[
            "create",
            "token",
            "app",
            "--bound-object-kind=Secret",
            "--bound-object-name=s1",
        ])
        .trim()
        .to_string();
    assert_eq!(c.curl_token(&token, &["/api"]).0, 200);
    c.kubectl_ok(&["delete", "secret", "s1"]);
    assert_eq!(
        c.curl_token(&token, &["/api"]).0,
        401,
        "deleting the bound Secret revokes the token"
    );
    let (code, review) = c.curl_json(&["/apis/authentication.k8s.io/v1/tokenreviews", "-X", "POST", "-H", "Content-Type: application/json", "-d", &format!(r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":"{}"}}}}"#, token_for(&c, "default", "app"))]);
    assert_eq!(code, 201);
    assert_eq!(review["status"]["authenticated"], true);
    assert_eq!(
        review["status"]["user"]["username"],
        "system:serviceaccount:default:app"
    );
    let (code, jwks) = c.curl_json(&["/openid/v1/jwks"]);
    assert_eq!(code, 200);
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    let (_, oidc) = c.curl_json(&["/.well-known/openid-configuration"]);
    assert_eq!(
        oidc["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
}

#[test]
fn static_tokens_and_anonymous_off() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_file(dir.path(), "tokens.csv", "s3cr3t,alice,u-1,\"devs\"\n");
    let c = Cluster::start_with(&[
        "--token-auth-file",
        tokens.to_str().unwrap(),
        "--anonymous-auth=false",
    ]);
    let (code, who) = c.curl_token(
        "s3cr3t",
        &[
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ],
    );
    assert_eq!(code, 201, "{who}");
    assert_eq!(who["status"]["userInfo"]["username"], "alice");
    assert_eq!(who["status"]["userInfo"]["groups"][0], "devs");
    let out = c.curl_anonymous(&["/version", "-w", "\n%{http_code}"]);
    assert_eq!(
        crate::support::split_code(&out.stdout).0,
        401,
        "no anonymous requests at all"
    );
}

#[test]
fn no_escalation_through_roles_or_bindings() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "serviceaccount", "maker"]);
    c.kubectl_ok(&[
        "create",
        "role",
        "role-admin",
        "--verb=create,get,list",
        "--resource=roles,rolebindings",
    ]);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "maker",
        "--role=role-admin",
        "--serviceaccount=default:maker",
    ]);
    let token = token_for(&c, "default", "maker");
    let post = |path: &str, body: &str| {
        c.curl_token(
            &token,
            &[
                path,
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
            ],
        )
    };
    let roles = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles";
    eventually(
        "a role within what the maker holds to be allowed",
        5,
        || {
            let (code, _) = post(
                roles,
                r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"subset"},"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles"],"verbs":["get"]}]}"#,
            );
            (code == 201).then_some(())
        },
    );
    let (code, s) = post(
        roles,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"steal"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}]}"#,
    );
    assert_eq!(code, 403, "{s}");
    let msg = s["message"].as_str().unwrap();
    assert!(msg.starts_with("roles.rbac.authorization.k8s.io \"steal\" is forbidden: user \"system:serviceaccount:default:maker\""), "{msg}");
    assert!(
        msg.contains("is attempting to grant RBAC permissions not currently held"),
        "{msg}"
    );
    let (code, _) = post(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"grab"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"ServiceAccount","name":"maker","namespace":"default"}]}"#,
    );
    assert_eq!(code, 403);
}

#[test]
fn bootstrap_roles_aggregate() {
    let c = Cluster::start();
    let rules = c.kubectl_ok(&["get", "clusterrole", "view", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let text = v["rules"].to_string();
    assert!(
        text.contains("pods") && !text.contains("\"secrets\""),
        "view reads pods, not secrets: {text}"
    );
    c.kubectl_stdin(&["apply", "-f", "-"], Some("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widgets-view\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\nrules:\n- apiGroups: [example.com]\n  resources: [widgets]\n  verbs: [get]\n"));
    eventually("view to aggregate widgets-view", 5, || {
        c.kubectl_ok(&["get", "clusterrole", "view", "-o", "json"])
            .contains("widgets")
            .then_some(())
    });
}

#[test]
fn audit_log_records_who_did_what() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_file(dir.path(), "policy.yaml", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: [\"/readyz\", \"/healthz\", \"/livez\"]\n- level: RequestResponse\n  resources:\n  - group: \"\"\n    resources: [configmaps]\n- level: Metadata\n");
    let log = dir.path().join("audit.log");
    let c = Cluster::start_with(&[
        "--audit-log-path",
        log.to_str().unwrap(),
        "--audit-policy-file",
        policy.to_str().unwrap(),
    ]);
    c.kubectl_ok(&["create", "configmap", "audited", "--from-literal=k=v"]);
    let out = c.curl_anonymous(&["/api/v1/namespaces/default/secrets"]);
    assert!(!out.stdout.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let events = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON lines"))
            // The in-process controllers are audited too; this test follows the admin and anonymous.
            .filter(|e| e["user"]["username"] != "system:kapi:controller-manager")
            .collect();
        let done = events.iter().any(|e| {
            e["objectRef"]["resource"] == "secrets" && e["user"]["username"] == "system:anonymous"
        });
        if done || std::time::Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(events
        .iter()
        .all(|e| e["kind"] == "Event" && e["apiVersion"] == "audit.k8s.io/v1"));
    assert!(
        !events.iter().any(|e| e["requestURI"]
            .as_str()
            .unwrap_or("")
            .starts_with("/readyz")),
        "None level is not written"
    );
    let create = events
        .iter()
        .find(|e| {
            e["verb"] == "create"
                && e["objectRef"]["name"].is_null()
                && e["objectRef"]["resource"] == "configmaps"
        })
        .expect("the create is audited");
    assert_eq!(create["level"], "RequestResponse");
    assert_eq!(create["user"]["username"], "kubernetes-admin");
    assert_eq!(create["responseStatus"]["code"], 201);
    assert_eq!(create["requestObject"]["metadata"]["name"], "audited");
    assert_eq!(create["responseObject"]["metadata"]["name"], "audited");
    assert_eq!(
        create["annotations"]["authorization.k8s.io/decision"],
        "allow"
    );
    // Controllers also read secrets; the anonymous request is the one refused.
    let refused = events
        .iter()
        .find(|e| {
            e["objectRef"]["resource"] == "secrets" && e["user"]["username"] == "system:anonymous"
        })
        .expect("the refusal is audited");
    assert_eq!(refused["level"], "Metadata");
    assert_eq!(refused["user"]["username"], "system:anonymous");
    assert_eq!(refused["responseStatus"]["code"], 403);
    assert_eq!(
        refused["annotations"]["authorization.k8s.io/decision"],
        "forbid"
    );
    assert!(refused.get("requestObject").is_none());
}

#[test]
fn csr_records_its_requester_and_approval_needs_the_signer_verb() {
    let c = Cluster::start();
    let key = c.dir.path().join("k.key");
    let csr_path = c.dir.path().join("k.csr");
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl ecparam -name prime256v1 -genkey -noout -out {k} && openssl req -new -key {k} -subj /CN=kim -out {r}",
            k = key.display(),
            r = csr_path.display()
        ))
        .status()
        .unwrap();
    assert!(ok.success());
    use base64::Engine;
    let request =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr_path).unwrap());
    let manifest = format!("apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: kim\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n  usages: [client auth]\n  username: someone-else\n");
    c.kubectl_stdin(&["apply", "-f", "-"], Some(&manifest));
    // The approval subresource reads as the request itself, as upstream.
    let (code, read) =
        c.curl_json(&["/apis/certificates.k8s.io/v1/certificatesigningrequests/kim/approval"]);
    assert_eq!(
        (
            code,
            read["kind"].as_str(),
            read["metadata"]["name"].as_str()
        ),
        (200, Some("CertificateSigningRequest"), Some("kim"))
    );
    let who = c.kubectl_ok(&[
        "get",
        "csr",
        "kim",
        "-o",
        "jsonpath={.spec.username} {.spec.groups}",
    ]);
    assert!(
        who.starts_with("kubernetes-admin ") && who.contains("system:masters"),
        "the server records who asked: {who}"
    );
    // A user who may update approvals but holds no `approve` on the signer is refused.
    c.kubectl_ok(&["create", "serviceaccount", "clerk"]);
    c.kubectl_ok(&[
        "create",
        "clusterrole",
        "csr-clerk",
        "--verb=get,list,update",
        "--resource=certificatesigningrequests,certificatesigningrequests/approval",
    ]);
    c.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "clerk",
        "--clusterrole=csr-clerk",
        "--serviceaccount=default:clerk",
    ]);
    let token = c
        .kubectl_ok(&["create", "token", "clerk"])
        .trim()
        .to_string();
    let (_, csr) = c.curl_json(&["/apis/certificates.k8s.io/v1/certificatesigningrequests/kim"]);
    let mut approved = csr.clone();
    approved["status"]["conditions"] = serde_json::json!([{"type": "Approved", "status": "True", "reason": "Clerk", "message": "x"}]);
    let body = approved.to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (code, status) = loop {
        let (code, status) = c.curl_token(
            &token,
            &[
                "/apis/certificates.k8s.io/v1/certificatesigningrequests/kim/approval",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/json",
                "-d",
                &body,
            ],
        );
        // Until the binding reaches the RBAC index the clerk may not even update approvals.
        if status["message"]
            .as_str()
            .is_some_and(|m| m.contains("signerName"))
            || std::time::Instant::now() > deadline
        {
            break (code, status);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(code, 403, "{status}");
    assert_eq!(status["message"], "certificatesigningrequests.certificates.k8s.io \"kim\" is forbidden: user not permitted to approve requests with signerName \"kubernetes.io/kube-apiserver-client\"");
    c.kubectl_ok(&["certificate", "approve", "kim"]);
}

#[test]
fn a_node_writes_only_its_own_node_lease_and_the_pods_bound_to_it() {
    let c = Cluster::start();
    let kubeconfig = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "kubeconfig",
            "user",
            "system:node:n1",
            "--group",
            "system:nodes",
        ])
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .output()
        .expect("kapi kubeconfig");
    assert!(
        kubeconfig.status.success(),
        "{}",
        String::from_utf8_lossy(&kubeconfig.stderr)
    );
    let n1 = write_file(
        c.dir.path(),
        "n1.kubeconfig",
        &String::from_utf8_lossy(&kubeconfig.stdout),
    );
    let as_n1 = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&n1)
            .args(args)
            .output()
            .expect("kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    for node in ["n1", "n2"] {
        c.kubectl_stdin(
            &["apply", "-f", "-"],
            Some(&format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{name: {node}}}\n"
            )),
        );
        c.kubectl_stdin(
            &["apply", "-f", "-"],
            Some(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: on-{node}}}\nspec:\n  nodeName: {node}\n  containers: [{{name: c, image: busybox}}]\n")),
        );
    }
    // kubectl reads pods/status before patching it, which upstream's system:node role does not
    // allow (kubelet patches without reading); grant the read, NodeRestriction still decides.
    c.kubectl_ok(&[
        "create",
        "clusterrole",
        "status-reader",
        "--verb=get",
        "--resource=pods/status",
    ]);
    c.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "n1-status-reader",
        "--clusterrole=status-reader",
        "--user=system:node:n1",
    ]);
    let status = r#"{"status":{"message":"seen"}}"#;
    // The binding reaches the authorizer's index asynchronously.
    eventually("a node writes the status of its own pod", 10, || {
        as_n1(&[
            "patch",
            "pod",
            "on-n1",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ])
        .0
        .then_some(())
    });
    let (ok, err) = as_n1(&[
        "patch",
        "pod",
        "on-n2",
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    ]);
    assert!(!ok);
    assert!(
        err.contains(
            "node \"n1\" can only update pod status for pods with spec.nodeName set to itself"
        ),
        "{err}"
    );
    let (ok, err) = as_n1(&["delete", "pod", "on-n2", "--grace-period=0", "--force"]);
    assert!(
        !ok && err.contains("can only delete pods with spec.nodeName set to itself"),
        "{err}"
    );
    let labels = r#"{"metadata":{"labels":{"x":"y"}}}"#;
    let (ok, err) = as_n1(&["patch", "node", "n1", "--type=merge", "-p", labels]);
    assert!(ok, "a node writes its own Node: {err}");
    let (ok, err) = as_n1(&["label", "node", "n1", "node-role.kubernetes.io/worker="]);
    assert!(
        !ok && err.contains(
            "node \"n1\" is not allowed to modify labels: node-role.kubernetes.io/worker"
        ),
        "a node may not give itself a role: {err}"
    );
    let (ok, err) = as_n1(&["patch", "node", "n2", "--type=merge", "-p", labels]);
    assert!(
        !ok && err.contains("node \"n1\" is not allowed to modify node \"n2\""),
        "{err}"
    );
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: n2, namespace: kube-node-lease}\n"),
    );
    let (ok, err) = as_n1(&[
        "patch",
        "lease",
        "n2",
        "-n",
        "kube-node-lease",
        "--type=merge",
        "-p",
        labels,
    ]);
    assert!(
        !ok && err.contains("can only access node lease with the same name as the requesting node"),
        "{err}"
    );
    assert!(
        c.kubectl_ok(&["get", "pod", "on-n2", "-o", "jsonpath={.status.message}"])
            .is_empty(),
        "the other node's pod is untouched"
    );
}
