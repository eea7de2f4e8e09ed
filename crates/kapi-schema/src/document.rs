//! One OpenAPI v3 document per group-version, shaped as kube-apiserver serves
//! `/openapi/v3/<api/v1|apis/g/v>`: the paths of every served resource and the schemas they
//! reach.

use std::collections::{BTreeMap, BTreeSet};

use kapi_api::resources::{self, ResourceDef};
use serde_json::{json, Map, Value};

use crate::components::{self, DELETE_OPTIONS, PATCH, REF_PREFIX, STATUS, WATCH_EVENT};
use crate::custom_kinds::CustomKind;
use crate::kinds;

/// Whether PATCH operations advertise strategic merge patch. kubectl's client-side apply then
/// computes its patches from these schemas instead of the types compiled into it, so this is
/// on only because the schemas are complete (every field of every built-in type, with the
/// patch strategies and merge keys of kapi-api's table).
const ADVERTISE_STRATEGIC_MERGE_PATCH: bool = true;

/// The document of `group`/`version` (core is `""`); a version nothing is served in gets a
/// document without paths.
pub fn openapi_v3_document(group: &str, version: &str) -> Value {
    document(&components::all(), group, version, &[])
}

/// The documents of several group-versions, in order, from one generation of the schemas
/// (each [`openapi_v3_document`] call alone generates them anew). Custom resources are left
/// out: their documents change with their definitions ([`openapi_v3_custom_documents`]).
pub fn openapi_v3_documents(group_versions: &[(&str, &str)]) -> Vec<Value> {
    openapi_v3_custom_documents(group_versions, &[])
}

/// The documents of several group-versions with the custom resources of `kinds` in them, each
/// described by its definition's schema.
pub fn openapi_v3_custom_documents(
    group_versions: &[(&str, &str)],
    kinds: &[CustomKind<'_>],
) -> Vec<Value> {
    let all = components::all();
    group_versions
        .iter()
        .map(|(group, version)| document(&all, group, version, kinds))
        .collect()
}

fn document(
    all: &BTreeMap<String, Value>,
    group: &str,
    version: &str,
    custom: &[CustomKind<'_>],
) -> Value {
    let mut paths = Map::new();
    let mut extra_schemas: BTreeMap<String, Value> = BTreeMap::new();
    let mut roots: BTreeSet<String> = BTreeSet::new();
    let tag = tag(group, version);
    for r in resources::in_group_version(group, version) {
        let known = kinds::find(r.group, r.version, r.kind);
        let (name, list) = if r.custom {
            let Some(k) = custom.iter().find(|k| same_row(k.def, r)) else {
                continue;
            };
            extra_schemas.insert(k.schema_name(), k.schema());
            extra_schemas.insert(k.list_name(), k.list_schema());
            (k.schema_name(), Some(k.list_name()))
        } else {
            match known {
                Some(k) => ((k.name)().into_owned(), components::list_name(k)),
                None => {
                    let name = skeleton_name(r);
                    extra_schemas.insert(name.clone(), skeleton(r));
                    (name, None)
                }
            }
        };
        roots.insert(name.clone());
        roots.extend(list.clone());
        Ops {
            r,
            tag: &tag,
            schema: &name,
            list: list.as_deref(),
        }
        .add(&mut paths);
        for sub in r.subresources {
            let sub_schema = match kinds::find(sub.group, sub.version, sub.kind) {
                Some(k) => (k.name)().into_owned(),
                // A custom resource's status is the object itself.
                None if r.custom && sub.kind == r.kind => name.clone(),
                None => continue,
            };
            if add_subresource(&mut paths, r, &tag, sub, &sub_schema) {
                roots.insert(sub_schema);
            }
        }
    }
    roots.extend([DELETE_OPTIONS, STATUS, PATCH, WATCH_EVENT].map(String::from));

    let mut schemas = Map::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(s) = all.get(&name).or_else(|| extra_schemas.get(&name)) {
            collect_refs(s, &mut todo);
        }
    }
    let mut sorted: BTreeMap<&str, &Value> = BTreeMap::new();
    for name in &seen {
        if let Some(s) = all.get(name).or_else(|| extra_schemas.get(name)) {
            sorted.insert(name, s);
        }
    }
    for (name, s) in sorted {
        schemas.insert(name.to_string(), s.clone());
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn same_row(a: &ResourceDef, b: &ResourceDef) -> bool {
    (a.group, a.version, a.resource) == (b.group, b.version, b.resource)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
            {
                out.push(r.to_string());
            }
            m.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(items) => items.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// `io.k8s.api.<group's first label>.<version>.<Kind>`, upstream's naming, for a served kind
/// k8s-openapi does not know.
fn skeleton_name(r: &ResourceDef) -> String {
    let group = if r.group.is_empty() {
        "core"
    } else {
        r.group.split('.').next().unwrap_or(r.group)
    };
    format!("io.k8s.api.{group}.{}.{}", r.version, r.kind)
}

/// A permissive schema for a kind without a generated one: enough for kubectl's checks.
fn skeleton(r: &ResourceDef) -> Value {
    json!({
        "description": format!("{} is a {} object.", r.kind, r.api_version()),
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [{"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")}]},
        },
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-group-version-kind": [{"group": r.group, "kind": r.kind, "version": r.version}],
    })
}

/// Upstream's operation tag and operationId infix: `core_v1`/`CoreV1`,
/// `rbacAuthorization_v1`/`RbacAuthorizationV1`.
fn tag(group: &str, version: &str) -> (String, String) {
    let base = if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    let mut camel = String::new();
    let mut pascal = String::new();
    for (i, word) in base.split('.').enumerate() {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            let rest: String = chars.collect();
            let upper = format!("{}{rest}", first.to_ascii_uppercase());
            camel.push_str(if i == 0 { word } else { &upper });
            pascal.push_str(&upper);
        }
    }
    let mut v = version.chars();
    let version_pascal = v
        .next()
        .map(|c| format!("{}{}", c.to_ascii_uppercase(), v.as_str()))
        .unwrap_or_default();
    (
        format!("{camel}_{version}"),
        format!("{pascal}{version_pascal}"),
    )
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

/// A query parameter with kapi's own short description.
fn query(name: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": true}})
}

/// A write operation's parameters, object body and responses: create, replace and the POST
/// subresources share them.
fn with_body(mut op: Map<String, Value>, schema: &str, codes: &[&str]) -> Map<String, Value> {
    op.insert(
        "parameters".into(),
        json!([dry_run(), field_manager(), field_validation()]),
    );
    op.insert(
        "requestBody".into(),
        json!({"content": {"*/*": {"schema": schema_ref(schema)}}, "required": true}),
    );
    op.insert("responses".into(), responses(codes, schema, false));
    op
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "string",
        "When present, modifications are not persisted. Valid value: All (run every stage without persisting).",
    )
}

fn field_manager() -> Value {
    query(
        "fieldManager",
        "string",
        "The name of the actor making the change, recorded in managedFields.",
    )
}

fn field_validation() -> Value {
    query(
        "fieldValidation",
        "string",
        "How the server treats unknown or duplicate fields in the object: Ignore drops them silently, Warn (the default) drops them and answers with a Warning header for each, Strict fails the request with a BadRequest naming them.",
    )
}

fn list_params() -> Vec<Value> {
    vec![
        query("allowWatchBookmarks", "boolean", "Ask for BOOKMARK events in a watch."),
        query("continue", "string", "The continue token of the previous page of a list."),
        query("fieldSelector", "string", "Restrict the list to objects whose fields match."),
        query("labelSelector", "string", "Restrict the list to objects whose labels match."),
        query("limit", "integer", "The largest number of objects to return; more are fetched with the continue token."),
        query("resourceVersion", "string", "The resource version the list must be at least as new as (see resourceVersionMatch)."),
        query("resourceVersionMatch", "string", "How resourceVersion applies to a list: NotOlderThan or Exact."),
        query("sendInitialEvents", "boolean", "Start a watch with synthetic ADDED events for the current state, ended by an annotated BOOKMARK."),
        query("timeoutSeconds", "integer", "End the list or watch after this many seconds."),
        query("watch", "boolean", "Stream changes (ADDED, MODIFIED, DELETED) instead of returning a list."),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        dry_run(),
        query(
            "gracePeriodSeconds",
            "integer",
            "Seconds to wait before deleting; 0 deletes at once.",
        ),
        query(
            "orphanDependents",
            "boolean",
            "Deprecated: use propagationPolicy.",
        ),
        query(
            "propagationPolicy",
            "string",
            "How dependents are garbage collected: Orphan, Background or Foreground.",
        ),
    ]
}

fn path_param(name: &str, description: String) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn pretty() -> Value {
    query("pretty", "string", "If 'true', the output is indented.")
}

const RESPONSE_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

fn responses(codes: &[&str], schema: &str, streams: bool) -> Value {
    let mut content = Map::new();
    for t in RESPONSE_TYPES {
        content.insert(t.to_string(), json!({"schema": schema_ref(schema)}));
    }
    if streams {
        for t in [
            "application/json;stream=watch",
            "application/vnd.kubernetes.protobuf;stream=watch",
        ] {
            content.insert(t.to_string(), json!({"schema": schema_ref(schema)}));
        }
    }
    let mut out = Map::new();
    for code in codes {
        let description = match *code {
            "201" => "Created",
            "202" => "Accepted",
            _ => "OK",
        };
        out.insert(
            code.to_string(),
            json!({"description": description, "content": content.clone()}),
        );
    }
    out.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(out)
}

/// The operations of one resource.
struct Ops<'a> {
    r: &'static ResourceDef,
    tag: &'a (String, String),
    schema: &'a str,
    list: Option<&'a str>,
}

impl Ops<'_> {
    fn gvk(&self) -> Value {
        json!({"group": self.r.group, "kind": self.r.kind, "version": self.r.version})
    }

    fn op(&self, action: &str, id: String, description: String) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("tags".into(), json!([self.tag.0]));
        m.insert("description".into(), json!(description));
        m.insert("operationId".into(), json!(id));
        m.insert("x-kubernetes-action".into(), json!(action));
        m.insert("x-kubernetes-group-version-kind".into(), self.gvk());
        m
    }

    fn add(&self, paths: &mut Map<String, Value>) {
        let r = self.r;
        let has = |verb: &str| r.verbs.contains(&verb);
        let scope = if r.namespaced { "Namespaced" } else { "" };
        let id =
            |verb: &str, suffix: &str| format!("{verb}{}{scope}{}{suffix}", self.tag.1, r.kind);
        let base = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let ns = if r.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let mut common = vec![];
        if r.namespaced {
            common.push(path_param(
                "namespace",
                "object name and auth scope, such as for teams and projects".into(),
            ));
        }
        common.push(pretty());

        let mut collection = Map::new();
        if has("list") {
            if let Some(list) = self.list {
                let mut op = self.op(
                    "list",
                    id("list", ""),
                    format!("list or watch objects of kind {}", r.kind),
                );
                op.insert("parameters".into(), json!(list_params()));
                op.insert("responses".into(), responses(&["200"], list, true));
                collection.insert("get".into(), Value::Object(op));
            }
        }
        if has("create") {
            let op = self.op("post", id("create", ""), format!("create a {}", r.kind));
            let op = with_body(op, self.schema, &["200", "201", "202"]);
            collection.insert("post".into(), Value::Object(op));
        }
        if has("deletecollection") {
            let mut op = self.op(
                "deletecollection",
                format!("delete{}Collection{scope}{}", self.tag.1, r.kind),
                format!("delete collection of {}", r.kind),
            );
            let mut params = delete_params();
            params.extend(list_params());
            op.insert("parameters".into(), json!(params));
            op.insert(
                "requestBody".into(),
                json!({"content": {"*/*": {"schema": schema_ref(DELETE_OPTIONS)}}}),
            );
            op.insert("responses".into(), responses(&["200"], STATUS, false));
            collection.insert("delete".into(), Value::Object(op));
        }
        if !collection.is_empty() {
            collection.insert("parameters".into(), json!(common));
            paths.insert(
                format!("{base}{ns}/{}", r.resource),
                Value::Object(collection),
            );
        }
        if r.namespaced && has("list") {
            if let Some(list) = self.list {
                let mut op = self.op(
                    "list",
                    format!("list{}{}ForAllNamespaces", self.tag.1, r.kind),
                    format!("list or watch objects of kind {}", r.kind),
                );
                op.insert("responses".into(), responses(&["200"], list, true));
                let mut params = list_params();
                params.push(pretty());
                paths.insert(
                    format!("{base}/{}", r.resource),
                    json!({"get": op, "parameters": params}),
                );
            }
        }

        let mut item = Map::new();
        if has("get") {
            let mut op = self.op(
                "get",
                id("read", ""),
                format!("read the specified {}", r.kind),
            );
            op.insert("responses".into(), responses(&["200"], self.schema, false));
            item.insert("get".into(), Value::Object(op));
        }
        if has("update") {
            let op = self.op(
                "put",
                id("replace", ""),
                format!("replace the specified {}", r.kind),
            );
            let op = with_body(op, self.schema, &["200", "201"]);
            item.insert("put".into(), Value::Object(op));
        }
        if has("delete") {
            let mut op = self.op("delete", id("delete", ""), format!("delete a {}", r.kind));
            op.insert("parameters".into(), json!(delete_params()));
            op.insert(
                "requestBody".into(),
                json!({"content": {"*/*": {"schema": schema_ref(DELETE_OPTIONS)}}}),
            );
            op.insert(
                "responses".into(),
                responses(&["200", "202"], STATUS, false),
            );
            item.insert("delete".into(), Value::Object(op));
        }
        if has("patch") {
            let op = patch_op(
                self.op(
                    "patch",
                    id("patch", ""),
                    format!("partially update the specified {}", r.kind),
                ),
                self.schema,
                kinds::find(r.group, r.version, r.kind).is_some(),
            );
            item.insert("patch".into(), Value::Object(op));
        }
        if !item.is_empty() {
            let mut params = vec![path_param("name", format!("name of the {}", r.kind))];
            params.extend(common);
            item.insert("parameters".into(), json!(params));
            paths.insert(
                format!("{base}{ns}/{}/{{name}}", r.resource),
                Value::Object(item),
            );
        }
    }
}

/// A PATCH operation: the patch formats kapi accepts, with the write parameters kubectl looks
/// for (`fieldValidation` decides whether kubectl validates itself or leaves it to us).
fn patch_op(mut op: Map<String, Value>, schema: &str, built_in: bool) -> Map<String, Value> {
    op.insert(
        "parameters".into(),
        json!([
            dry_run(),
            field_manager(),
            field_validation(),
            query("force", "boolean", "Take ownership of conflicting fields in a server-side apply; only valid for apply patches."),
        ]),
    );
    let mut content = Map::new();
    let mut types = vec![
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if ADVERTISE_STRATEGIC_MERGE_PATCH && built_in {
        types.push("application/strategic-merge-patch+json");
    }
    for t in types {
        content.insert(t.into(), json!({"schema": schema_ref(PATCH)}));
    }
    op.insert(
        "requestBody".into(),
        json!({"content": content, "required": true}),
    );
    op.insert(
        "responses".into(),
        responses(&["200", "201"], schema, false),
    );
    op
}

/// Paths of a subresource with a schema: `status` and `scale` (get, put, patch) and the
/// create-only ones (`eviction`, `token`, `binding`). Returns whether a path was added.
fn add_subresource(
    paths: &mut Map<String, Value>,
    r: &'static ResourceDef,
    tag: &(String, String),
    sub: &kapi_api::resources::Subresource,
    schema: &str,
) -> bool {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let ns = if r.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let mut pascal = String::new();
    let mut chars = sub.name.chars();
    if let Some(c) = chars.next() {
        pascal.push(c.to_ascii_uppercase());
        pascal.push_str(chars.as_str());
    }
    let gvk = json!({"group": sub.group, "kind": sub.kind, "version": sub.version});
    let op = |action: &str, verb: &str, description: String| {
        let mut m = Map::new();
        m.insert("tags".into(), json!([tag.0]));
        m.insert("description".into(), json!(description));
        m.insert(
            "operationId".into(),
            json!(format!("{verb}{}{scope}{}{pascal}", tag.1, r.kind)),
        );
        m.insert("x-kubernetes-action".into(), json!(action));
        m.insert("x-kubernetes-group-version-kind".into(), gvk.clone());
        m
    };
    let mut item = Map::new();
    let has = |v: &str| sub.verbs.contains(&v);
    if matches!(sub.name, "status" | "scale") {
        if has("get") {
            let mut o = op(
                "get",
                "read",
                format!("read {} of the specified {}", sub.name, r.kind),
            );
            o.insert("responses".into(), responses(&["200"], schema, false));
            item.insert("get".into(), Value::Object(o));
        }
        if has("update") {
            let o = op(
                "put",
                "replace",
                format!("replace {} of the specified {}", sub.name, r.kind),
            );
            let o = with_body(o, schema, &["200", "201"]);
            item.insert("put".into(), Value::Object(o));
        }
        if has("patch") {
            let o = patch_op(
                op(
                    "patch",
                    "patch",
                    format!("partially update {} of the specified {}", sub.name, r.kind),
                ),
                schema,
                !r.custom,
            );
            item.insert("patch".into(), Value::Object(o));
        }
    } else if has("create") && matches!(sub.name, "eviction" | "token" | "binding") {
        let o = op(
            "post",
            "create",
            format!("create {} of a {}", sub.name, r.kind),
        );
        let o = with_body(o, schema, &["200", "201", "202"]);
        item.insert("post".into(), Value::Object(o));
    }
    if item.is_empty() {
        return false;
    }
    let mut params = vec![path_param("name", format!("name of the {}", sub.kind))];
    if r.namespaced {
        params.push(path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects".into(),
        ));
    }
    params.push(pretty());
    item.insert("parameters".into(), json!(params));
    paths.insert(
        format!("{base}{ns}/{}/{{name}}/{}", r.resource, sub.name),
        Value::Object(item),
    );
    true
}
