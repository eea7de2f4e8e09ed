//! Crash safety: SIGKILL the server in the middle of a stream of concurrent writes, restart
//! it, and find every acknowledged write; a second server on the same data dir is refused; a
//! full disk refuses writes but takes the deletes that make room.

use crate::support::Cluster;

/// Eight threads create ConfigMaps as fast as the server acknowledges them and print the name
/// of each one acknowledged (201), flushing at once, until the server goes away.
const WRITERS: &str = r#"
import http.client, json, os, ssl, sys, threading
url = os.environ["KAPI_URL"].removeprefix("https://")
host, port = url.rsplit(":", 1)
ctx = ssl.create_default_context(cafile=os.environ["KAPI_CA"])
ctx.load_cert_chain(os.environ["KAPI_CERT"], os.environ["KAPI_KEY"])
lock = threading.Lock()
def writer(w):
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=5)
    i = 0
    while True:
        name = f"w{w}-{i}"
        body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v" * 512}})
        try:
            conn.request("POST", "/api/v1/namespaces/default/configmaps", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
        except Exception:
            return
        if resp.status == 201:
            with lock:
                print(name, flush=True)
        i += 1
threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
for t in threads: t.start()
for t in threads: t.join()
"#;

#[test]
fn sigkill_during_writes_loses_no_acknowledged_write() {
    let mut c = Cluster::start();
    let data = c.data();
    let script_env = (
        c.url.clone(),
        data.join("ca.crt"),
        data.join("admin.crt"),
        data.join("admin.key"),
    );
    let writers = std::process::Command::new("python3")
        .arg("-c")
        .arg(WRITERS)
        .env("KAPI_URL", &script_env.0)
        .env("KAPI_CA", &script_env.1)
        .env("KAPI_CERT", &script_env.2)
        .env("KAPI_KEY", &script_env.3)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    c.kill();
    let out = writers
        .wait_with_output()
        .expect("writers end when the server dies");
    let acknowledged: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        acknowledged.len() > 50,
        "the writers made progress before the kill: {}",
        acknowledged.len()
    );
    c.restart();
    let (code, list) = c.curl_json(&["/api/v1/namespaces/default/configmaps"]);
    assert_eq!(code, 200);
    let stored: std::collections::HashSet<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !stored.contains(n.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    // Watches resume across the restart from the durable event log: the newest three
    // acknowledged ConfigMaps replay (controllers may write other objects meanwhile).
    let mut revs: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with('w'))
        })
        .map(|i| {
            i["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    revs.sort_unstable();
    let from = revs[revs.len() - 3] - 1;
    let out = c.curl(&[&format!(
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={from}&timeoutSeconds=1"
    )]);
    let replayed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"name\":\"w"))
        .count();
    assert_eq!(replayed, 3, "the last three writes replay after a restart");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused_and_the_first_keeps_its_store() {
    use std::os::unix::fs::PermissionsExt;
    let c = Cluster::start();
    c.kubectl_ok(&["create", "configmap", "before"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "server",
            "--disable-node",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(c.data())
        .output()
        .expect("run a second server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second server started: {stderr}");
    assert!(
        stderr.contains("is in use by another kapi server")
            && stderr.contains(&c.pid().to_string()),
        "{stderr}"
    );
    c.kubectl_ok(&["create", "configmap", "after"]);
    assert!(c
        .kubectl_ok(&["get", "configmaps", "-o", "name"])
        .contains("configmap/before"));
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("mode").permissions().mode() & 0o777;
    assert_eq!(mode(&c.data()), 0o700, "the data dir is its owner's alone");
    assert_eq!(mode(&c.data().join("kapi.db")), 0o600);
}

#[test]
fn a_full_disk_refuses_writes_but_takes_deletes_and_recovers_when_they_free_space() {
    let c = Cluster::start_on_small_disk(40);
    let body = |name: &str| {
        let data = "x".repeat(900 << 10);
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"d":"{data}"}}}}"#
        )
    };
    let create = |name: &str| {
        let path = crate::support::write_file(c.dir.path(), "body.json", &body(name));
        c.curl_json(&[
            "/api/v1/namespaces/default/configmaps",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", path.display()),
        ])
    };
    let mut created = Vec::new();
    let refusal = loop {
        assert!(created.len() < 80, "40 MiB never filled up");
        let name = format!("big-{}", created.len());
        let (code, status) = create(&name);
        if code != 201 {
            break (code, status);
        }
        created.push(name);
    };
    assert_eq!(refusal.0, 500, "{}", refusal.1);
    assert!(
        refusal.1["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disk is full: only deletes are accepted"),
        "{}",
        refusal.1
    );
    let readyz = String::from_utf8_lossy(&c.curl(&["/readyz?verbose"]).stdout).to_string();
    assert!(readyz.contains("[-]store-space failed"), "{readyz}");
    assert_eq!(create("refused-too").0, 500, "writes stay refused");
    // Deletes go through on the space held back, and free enough for writes again.
    for name in &created[..created.len() / 2] {
        let (code, status) = c.curl_json(&[
            &format!("/api/v1/namespaces/default/configmaps/{name}"),
            "-X",
            "DELETE",
        ]);
        assert_eq!(code, 200, "deleting {name} on a full disk: {status}");
    }
    crate::support::eventually("writes accepted again", 30, || {
        (create("after").0 == 201).then_some(())
    });
    assert_eq!(c.curl(&["/readyz"]).stdout, b"ok");
    assert!(c
        .kubectl_ok(&["get", "configmaps", "-o", "name"])
        .contains("configmap/after"));
}

#[test]
fn a_corrupt_stored_object_is_reported_by_key_and_deleted_only_with_the_unsafe_option_and_verb() {
    let mut c = Cluster::start();
    c.kubectl_ok(&["create", "configmap", "good"]);
    c.kubectl_ok(&["create", "configmap", "bad"]);
    c.kubectl_ok(&["create", "serviceaccount", "editor"]);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "editor",
        "--clusterrole=edit",
        "--serviceaccount=default:editor",
    ]);
    c.kill();
    // Damage the stored bytes as a disk or a careless hand would.
    on_store(
        &c,
        "import sqlite3, sys\n\
         db = sqlite3.connect(sys.argv[1])\n\
         n = db.execute(\"UPDATE log SET value = CAST('{\\\"broken' AS BLOB) WHERE rev = (SELECT max(rev) FROM log WHERE key = '/registry/configmaps/default/bad')\").rowcount\n\
         db.commit()\n\
         assert n == 1, n\n",
    );
    c.restart();

    let (code, status) = c.curl_json(&["/api/v1/namespaces/default/configmaps"]);
    assert_eq!(
        (code, status["reason"].as_str()),
        (500, Some("StorageReadError")),
        "{status}"
    );
    assert_eq!(
        status["message"],
        "failed to read one or more configmaps from the storage"
    );
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "/registry/configmaps/default/bad"
    );
    let (code, status) = c.curl_json(&["/api/v1/namespaces/default/configmaps/bad"]);
    assert_eq!(code, 500);
    assert!(
        status["message"].as_str().unwrap_or_default().contains(
            "StorageError: corrupt object, Code: 1, Key: /registry/configmaps/default/bad"
        ),
        "{status}"
    );
    assert_eq!(
        c.curl_json(&["/api/v1/namespaces/default/configmaps/good"])
            .0,
        200
    );
    let (code, _) = c.curl_json(&["/api/v1/namespaces/default/configmaps/bad", "-X", "DELETE"]);
    assert_eq!(code, 500, "an ordinary delete needs to read the object");

    let unsafe_delete = [
        "/api/v1/namespaces/default/configmaps/bad",
        "-X",
        "DELETE",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"ignoreStoreReadErrorWithClusterBreakingPotential":true}"#,
    ];
    let token = c.kubectl_ok(&["create", "token", "editor"]);
    let (code, status) = c.curl_token(token.trim(), &unsafe_delete);
    assert_eq!(
        code, 403,
        "edit may delete but not delete-ignore-read-errors: {status}"
    );
    assert!(status["message"]
        .as_str()
        .unwrap_or_default()
        .contains("cannot delete-ignore-read-errors resource \"configmaps\""));
    let (code, status) = c.curl_json(&unsafe_delete);
    assert_eq!(code, 200, "{status}");
    let names = c.kubectl_ok(&["get", "configmaps", "-o", "name"]);
    assert!(
        names.contains("configmap/good") && !names.contains("configmap/bad"),
        "{names}"
    );
}

#[test]
fn a_snapshot_saved_while_serving_restores_into_a_new_data_dir_as_the_cluster_was_then() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "configmap", "before", "--from-literal=k=v"]);
    let backup = c.dir.path().join("backup.db");
    let kapi = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
            .args(args)
            .output()
            .expect("kapi")
    };
    let data = c.data().display().to_string();
    let saved = kapi(&[
        "snapshot",
        "save",
        &backup.display().to_string(),
        "--data-dir",
        &data,
    ]);
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "a snapshot holds every Secret");
    c.kubectl_ok(&["create", "configmap", "after"]);

    let new = tempfile::tempdir().unwrap();
    let restored_dir = new.path().join("data");
    let restored = kapi(&[
        "snapshot",
        "restore",
        &backup.display().to_string(),
        "--data-dir",
        &restored_dir.display().to_string(),
    ]);
    let said = String::from_utf8_lossy(&restored.stdout).into_owned();
    assert!(
        restored.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(said.contains("ca.key"), "it says what else to copy: {said}");
    let again = kapi(&[
        "snapshot",
        "restore",
        &backup.display().to_string(),
        "--data-dir",
        &restored_dir.display().to_string(),
    ]);
    assert!(
        !again.status.success(),
        "a store already there is never overwritten"
    );
    for file in [
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "admin.crt",
        "admin.key",
    ] {
        std::fs::copy(c.data().join(file), restored_dir.join(file)).unwrap();
    }
    let r = Cluster::start_in(new, None, &[]);
    assert_eq!(
        r.kubectl_ok(&["get", "configmap", "before", "-o", "jsonpath={.data.k}"]),
        "v"
    );
    let after = r.kubectl(&["get", "configmap", "after"]);
    assert!(
        !after.status.success(),
        "what was written after the snapshot is not in it"
    );
}

/// Runs a Python `script` on a stopped server's SQLite store (its path is `sys.argv[1]`), as a
/// damaged disk or an older kapi would have left it.
fn on_store(c: &Cluster, script: &str) {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(c.data().join("kapi.db"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rewrites a stopped server's store to kapi's earlier key layout.
const OLD_LAYOUT: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
old = {'configmaps': 'core/configmaps', 'namespaces': 'core/namespaces',
       'deployments': 'apps/deployments', 'services/specs': 'core/services',
       'clusterroles': 'rbac.authorization.k8s.io/clusterroles',
       'ipaddresses': 'networking.k8s.io/ipaddresses'}
n = 0
for new, legacy in old.items():
    n += db.execute('UPDATE log SET key = ? || substr(key, ?) WHERE key LIKE ?',
        ('/registry/' + legacy + '/', len('/registry/' + new + '/') + 1, '/registry/' + new + '/%')).rowcount
db.commit()
assert n > 0, n
"#;

/// A data dir written by a kapi that kept objects under its own key layout
/// (`/registry/<group-or-core>/<resource>/...`) starts with every object, moved to
/// kube-apiserver's keys.
#[test]
fn a_store_written_under_kapis_earlier_key_layout_keeps_every_object() {
    let mut c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "shop"]);
    c.kubectl_ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "shop",
        "--from-literal=k=v",
    ]);
    c.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "shop",
        "--image=nginx:1.27",
    ]);
    c.kubectl_ok(&[
        "create",
        "service",
        "clusterip",
        "web",
        "-n",
        "shop",
        "--tcp=80:80",
    ]);
    c.kubectl_ok(&[
        "create",
        "clusterrole",
        "reader",
        "--verb=get",
        "--resource=pods",
    ]);
    let ip = c.kubectl_ok(&[
        "get",
        "service",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    c.kill();
    // Put every key back where the earlier layout kept it.
    on_store(&c, OLD_LAYOUT);
    c.restart();
    assert_eq!(
        c.kubectl_ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.k}"
        ]),
        "v"
    );
    c.kubectl_ok(&["get", "deployment", "web", "-n", "shop"]);
    c.kubectl_ok(&["get", "clusterrole", "reader"]);
    assert_eq!(
        c.kubectl_ok(&[
            "get",
            "service",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.clusterIP}"
        ]),
        ip
    );
    c.kubectl_ok(&["get", "ipaddress", &ip]);
    // Nothing is listed twice and the namespace is one object.
    let namespaces = c.kubectl_ok(&["get", "namespaces", "-o", "name"]);
    assert_eq!(
        namespaces.matches("namespace/shop\n").count(),
        1,
        "{namespaces}"
    );
}
