//! Admission webhooks as an operator registers them: a real HTTPS webhook server (Python's
//! http.server with a certificate from the test's own CA) is called for the resources its
//! configuration's rules, namespace selector and object selector pick; it denies with its own
//! message and code, mutates with JSON patches, warns, and when it is gone `failurePolicy`
//! decides.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine;

use crate::support::{write_file, Cluster};

/// The webhook: `/validate` refuses objects labelled `deny: "yes"` (403 with a message) and
/// warns about the rest; `/mutate` adds `data.mutated` naming the operation.
const SERVER: &str = r#"
import base64, json, ssl, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        req = review['request']
        obj = req['object'] or req['oldObject']
        resp = {'uid': req['uid'], 'allowed': True}
        if self.path.startswith('/validate'):
            labels = obj.get('metadata', {}).get('labels') or {}
            if obj.get('metadata', {}).get('namespace') != req.get('namespace'):
                resp = {'uid': req['uid'], 'allowed': False,
                        'status': {'code': 400, 'message': 'the object is not in the namespace of the request'}}
            elif labels.get('deny') == 'yes':
                resp = {'uid': req['uid'], 'allowed': False,
                        'status': {'code': 403, 'message': 'labelled deny=yes by ' + req['userInfo']['username']}}
            else:
                resp['warnings'] = ['checked by the test webhook']
        elif self.path.startswith('/mutate'):
            if 'data' in obj:
                patch = [{'op': 'add', 'path': '/data/mutated', 'value': req['operation']}]
            else:
                patch = [{'op': 'add', 'path': '/data', 'value': {'mutated': req['operation']}}]
            resp['patch'] = base64.b64encode(json.dumps(patch).encode()).decode()
            resp['patchType'] = 'JSONPatch'
        out = json.dumps({'apiVersion': 'admission.k8s.io/v1', 'kind': 'AdmissionReview', 'response': resp}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass

server = HTTPServer(('127.0.0.1', 0), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

struct Webhook {
    child: Child,
    port: u16,
    ca_bundle: String,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, a serving certificate for 127.0.0.1 signed by it, and the webhook serving with it.
fn start_webhook(dir: &Path) -> Webhook {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "1",
                "-subj",
                "/CN=webhook-ca",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "tls.key",
                "-out",
                "tls.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    write_file(dir, "san.ext", "subjectAltName=IP:127.0.0.1\n");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tls.crt",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
    let script = write_file(dir, "webhook.py", SERVER);
    let mut child = Command::new("python3")
        .arg(script)
        .arg(dir.join("tls.crt"))
        .arg(dir.join("tls.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out).read_line(&mut line).expect("port");
    }
    let port = line.trim().parse().expect("the webhook prints its port");
    let ca = std::fs::read(dir.join("ca.crt")).expect("ca.crt");
    Webhook {
        child,
        port,
        ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca),
    }
}

fn configurations(hook: &Webhook, failure_policy: &str) -> String {
    let webhook = |name: &str, path: &str| {
        format!(
            "- name: {name}
  clientConfig:
    url: https://127.0.0.1:{port}/{path}
    caBundle: {ca}
  rules:
  - {{operations: [CREATE, UPDATE, DELETE], apiGroups: [\"\"], apiVersions: [v1], resources: [configmaps]}}
  namespaceSelector: {{matchLabels: {{webhooks: \"on\"}}}}
  objectSelector: {{matchExpressions: [{{key: test, operator: Exists}}]}}
  failurePolicy: {failure_policy}
  sideEffects: None
  admissionReviewVersions: [v1]
",
            port = hook.port,
            ca = hook.ca_bundle,
        )
    };
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: deny-labelled
webhooks:
{}---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mark-operation
webhooks:
{}",
        webhook("deny.kapi.test", "validate"),
        webhook("mark.kapi.test", "mutate"),
    )
}

/// Applies webhook configurations.
fn register(c: &Cluster, dir: &Path, configurations: &str) {
    let path = write_file(dir, "configurations.yaml", configurations);
    c.kubectl_ok(&["apply", "-f", path.to_str().unwrap_or_default()]);
}

fn configmap(dir: &Path, ns: &str, name: &str, deny: &str) -> String {
    let path = write_file(
        dir,
        &format!("{ns}-{name}.yaml"),
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{test: \"1\", deny: \"{deny}\"}}\ndata:\n  a: \"1\"\n"
        ),
    );
    path.to_string_lossy().into_owned()
}

#[test]
fn webhooks_deny_mutate_and_warn_for_what_their_rules_select() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = start_webhook(dir.path());
    register(&c, dir.path(), &configurations(&hook, "Fail"));
    let stored = c.kubectl_ok(&[
        "get",
        "validatingwebhookconfiguration",
        "deny-labelled",
        "-o",
        "jsonpath={.webhooks[0].timeoutSeconds} {.webhooks[0].rules[0].scope}",
    ]);
    assert_eq!(stored, "10 *", "upstream's defaults");
    c.kubectl_ok(&["create", "namespace", "guarded"]);
    // Made before the namespace is selected, so no webhook has seen it yet.
    c.kubectl_ok(&[
        "apply",
        "-f",
        &configmap(dir.path(), "guarded", "protected", "yes"),
    ]);
    c.kubectl_ok(&["label", "namespace", "guarded", "webhooks=on"]);

    // Outside the selected namespace nothing is called.
    c.kubectl_ok(&[
        "apply",
        "-f",
        &configmap(dir.path(), "default", "free", "yes"),
    ]);

    // Inside it: denied with the webhook's code and message (naming the caller).
    let out = c.kubectl(&[
        "apply",
        "-f",
        &configmap(dir.path(), "guarded", "refused", "yes"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(r#"Error from server (Forbidden)"#)
            && err.contains(r#"admission webhook "deny.kapi.test" denied the request: labelled deny=yes by kubernetes-admin"#),
        "{err}"
    );

    // Allowed: mutated by the mutating webhook, with the validating one's warning.
    let out = c.kubectl(&[
        "apply",
        "-f",
        &configmap(dir.path(), "guarded", "kept", "no"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(
        warned.contains("Warning: checked by the test webhook"),
        "{warned}"
    );
    let mutated = c.kubectl_ok(&[
        "get",
        "cm",
        "kept",
        "-n",
        "guarded",
        "-o",
        "jsonpath={.data.mutated}",
    ]);
    assert_eq!(mutated, "CREATE");
    c.kubectl_ok(&["label", "cm", "kept", "-n", "guarded", "again=1"]);
    let mutated = c.kubectl_ok(&[
        "get",
        "cm",
        "kept",
        "-n",
        "guarded",
        "-o",
        "jsonpath={.data.mutated}",
    ]);
    assert_eq!(mutated, "UPDATE");

    // A body without a namespace reaches the webhooks with the request's.
    let (code, created) = c.curl_json(&[
        "/api/v1/namespaces/guarded/configmaps",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bare", "labels": {"test": "1"}}}"#,
    ]);
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["data"]["mutated"], "CREATE");

    // Deletes are validated too, the stored object as oldObject.
    let err = c.kubectl_err(&["delete", "cm", "protected", "-n", "guarded"]);
    assert!(
        err.contains(r#"admission webhook "deny.kapi.test" denied the request: labelled deny=yes"#),
        "{err}"
    );
    c.kubectl_ok(&["delete", "cm", "kept", "-n", "guarded"]);

    // The webhook gone: failurePolicy Fail refuses, Ignore lets through.
    drop(hook);
    let err = c.kubectl_err(&[
        "apply",
        "-f",
        &configmap(dir.path(), "guarded", "unchecked", "no"),
    ]);
    assert!(
        err.contains(r#"failed calling webhook "mark.kapi.test": failed to call webhook: Post "https://127.0.0.1:"#),
        "{err}"
    );
    let dead = Webhook {
        child: Command::new("true").spawn().expect("true"),
        port: 1,
        ca_bundle: base64::engine::general_purpose::STANDARD.encode(b"-"),
    };
    let ignoring = configurations(&dead, "Ignore").replace("caBundle: LQ==", "caBundle: \"\"");
    register(&c, dir.path(), &ignoring);
    c.kubectl_ok(&[
        "apply",
        "-f",
        &configmap(dir.path(), "guarded", "unchecked", "yes"),
    ]);
}

#[test]
fn a_webhook_configuration_is_checked_before_it_is_stored() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: bad
webhooks:
- name: bad.kapi.test
  clientConfig:
    url: http://127.0.0.1:1/validate
  admissionReviewVersions: [v1]
";
    let path = write_file(dir.path(), "bad.yaml", bad);
    let err = c.kubectl_err(&["apply", "-f", path.to_str().unwrap_or_default()]);
    for expected in [
        r#"The ValidatingWebhookConfiguration "bad" is invalid"#,
        "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
        r#"webhooks[0].clientConfig.url: Invalid value: "http://127.0.0.1:1/validate": 'https' is the only allowed URL scheme"#,
    ] {
        assert!(err.contains(expected), "{expected} missing: {err}");
    }
}

#[test]
fn match_conditions_in_cel_decide_whether_a_webhook_is_called() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = start_webhook(dir.path());
    register(&c, dir.path(), &configurations(&hook, "Fail"));
    c.kubectl_ok(&["create", "namespace", "guarded"]);
    c.kubectl_ok(&["label", "namespace", "guarded", "webhooks=on"]);
    c.kubectl_ok(&[
        "patch",
        "validatingwebhookconfiguration",
        "deny-labelled",
        "--type=json",
        "-p",
        r#"[{"op": "add", "path": "/webhooks/0/matchConditions", "value": [{"name": "not-exempt", "expression": "object.metadata.name != 'exempt' && request.operation == 'CREATE'"}]}]"#,
    ]);
    c.kubectl_ok(&[
        "apply",
        "-f",
        &configmap(dir.path(), "guarded", "exempt", "yes"),
    ]);
    let err = c.kubectl_err(&[
        "apply",
        "-f",
        &configmap(dir.path(), "guarded", "other", "yes"),
    ]);
    assert!(
        err.contains(r#"admission webhook "deny.kapi.test" denied the request"#),
        "{err}"
    );

    let err = c.kubectl_err(&[
        "patch",
        "validatingwebhookconfiguration",
        "deny-labelled",
        "--type=json",
        "-p",
        r#"[{"op": "replace", "path": "/webhooks/0/matchConditions/0/expression", "value": "object.metadata.name !="}]"#,
    ]);
    assert!(
        err.contains("webhooks[0].matchConditions[0].expression: Invalid value: \"object.metadata.name !=\": compilation failed"),
        "{err}"
    );
}
