//! `components.schemas` for every kind in [`crate::kinds`], generated once.
//!
//! k8s-openapi's schemars impls give upstream's schema names and descriptions but not the
//! patch and list markers (they are Go struct tags upstream). Those come from kapi-api's
//! strategic-merge-patch table, which is keyed by field path from a kind's root; walking each
//! kind's schema tree by path turns them back into per-type property annotations, which is
//! how upstream's OpenAPI carries them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::SchemaGenerator;
use kapi_api::patch::merge_keys::{field_strategy, FieldStrategy};
use serde_json::{json, Map, Value};

use crate::kinds::{KindType, KINDS};

/// The prefix of every `$ref` in the documents.
pub(crate) const REF_PREFIX: &str = "#/components/schemas/";

/// Upstream's names of the machinery types the paths refer to.
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(crate) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// Patch strategies that kapi-api's table leaves out because the server needs nothing for
/// them, but clients computing patches from OpenAPI do: `retainKeys` (component, property,
/// strategy string).
const PATCH_STRATEGY_OVERRIDES: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.PodSpec", "volumes", "merge,retainKeys"),
    (
        "io.k8s.api.core.v1.PodSpec",
        "resourceClaims",
        "merge,retainKeys",
    ),
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        "strategy",
        "retainKeys",
    ),
];

/// List maps keyed by more than their patch merge key (the merge key comes first).
const LIST_MAP_KEYS: &[(&str, &str, &[&str])] = &[
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        &["containerPort", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "ports",
        &["containerPort", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        &["port", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        &["topologyKey", "whenUnsatisfiable"],
    ),
];

/// Kinds that are only ever created (or read whole) and so have no `<Kind>List`.
const NO_LIST: &[&str] = &[
    "Binding",
    "Eviction",
    "LocalSubjectAccessReview",
    "Scale",
    "SelfSubjectAccessReview",
    "SelfSubjectReview",
    "SelfSubjectRulesReview",
    "SubjectAccessReview",
    "TokenRequest",
    "TokenReview",
];

/// Every schema, by upstream name, sorted (upstream serves keys sorted; so do we, which also
/// keeps the documents' hashes stable).
///
/// Built when asked and shared while anyone holds it, then dropped: the validator compiles it
/// once and the server serializes its documents once, after which nothing reads it, and kept
/// it was megabytes of an idle server's heap (BENCHMARKS.md, memory).
pub(crate) fn all() -> Arc<BTreeMap<String, Value>> {
    static SHARED: Mutex<Weak<BTreeMap<String, Value>>> = Mutex::new(Weak::new());
    // Held while building, so that concurrent first callers wait for one build.
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(all) = shared.upgrade() {
        return all;
    }
    let all = Arc::new(build());
    *shared = Arc::downgrade(&all);
    all
}

/// The schema name of a kind's list, `io.k8s.api.core.v1.PodList`, if it has one.
pub(crate) fn list_name(k: &KindType) -> Option<String> {
    (!NO_LIST.contains(&k.kind)).then(|| format!("{}List", (k.name)()))
}

fn build() -> BTreeMap<String, Value> {
    let mut generator: SchemaGenerator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    for k in KINDS {
        (k.add)(&mut generator);
    }
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Patch>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent<Value>>();
    let mut schemas: BTreeMap<String, Value> = generator
        .take_definitions(false)
        .into_iter()
        .map(|(name, mut schema)| {
            wrap_ref_siblings(&mut schema);
            (name, schema)
        })
        .collect();

    for k in KINDS {
        let name = (k.name)().into_owned();
        if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
            // Rust needs `metadata` to be present; Kubernetes does not.
            if let Some(Value::Array(required)) = schema.get_mut("required") {
                required.retain(|r| r != "metadata");
                if required.is_empty() {
                    schema.remove("required");
                }
            }
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": k.group, "kind": k.kind, "version": k.version}]),
            );
        }
        if let Some(list) = list_name(k) {
            schemas.insert(list, list_schema(k, &name));
        }
    }
    if let Some(Value::Object(status)) = schemas.get_mut(STATUS) {
        status.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": "", "kind": "Status", "version": "v1"}]),
        );
    }

    let mut marks = Vec::new();
    for k in KINDS {
        let name = (k.name)().into_owned();
        let mut walk = Walk {
            schemas: &schemas,
            group: k.group,
            kind: k.kind,
            path: Vec::new(),
            stack: Vec::new(),
            marks: &mut marks,
        };
        walk.component(&name);
    }
    marks.sort();
    marks.dedup();
    for (component, property, strategy) in marks {
        if let Some(p) = schemas
            .get_mut(&component)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(&property))
            .and_then(Value::as_object_mut)
        {
            annotate(p, &component, &property, strategy);
        }
    }
    for (component, property, strategy) in PATCH_STRATEGY_OVERRIDES {
        if let Some(p) = schemas
            .get_mut(*component)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(*property))
            .and_then(Value::as_object_mut)
        {
            p.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
        }
    }
    schemas
}

/// `<Kind>List`, which k8s-openapi models as one generic type without a schema.
fn list_schema(k: &KindType, item: &str) -> Value {
    let plural = if k.kind.ends_with('s') {
        format!("{}es", k.kind)
    } else {
        format!("{}s", k.kind)
    };
    json!({
        "description": format!("{}List is a list of {plural}.", k.kind),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "The versioned schema of this representation of an object.",
                "type": "string",
            },
            "items": {
                "description": format!("The {plural} in the list."),
                "type": "array",
                "items": {"$ref": format!("{REF_PREFIX}{item}")},
            },
            "kind": {
                "description": "The REST resource this object represents, in CamelCase.",
                "type": "string",
            },
            "metadata": {
                "allOf": [{"$ref": format!("{REF_PREFIX}{LIST_META}")}],
                "description": "Standard list metadata.",
            },
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [
            {"group": k.group, "kind": format!("{}List", k.kind), "version": k.version}
        ],
    })
}

/// Upstream writes a reference with siblings (a property's own description) as
/// `allOf: [{$ref}]` plus the siblings; schemars puts them side by side.
fn wrap_ref_siblings(v: &mut Value) {
    match v {
        Value::Object(m) => {
            // A `properties` map may hold a field named `$ref` (JSONSchemaProps does); only a
            // string is a reference.
            if m.len() > 1 && m.get("$ref").is_some_and(Value::is_string) {
                if let Some(r) = m.remove("$ref") {
                    m.insert("allOf".into(), json!([{"$ref": r}]));
                }
            }
            for child in m.values_mut() {
                wrap_ref_siblings(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(wrap_ref_siblings),
        _ => {}
    }
}

/// The component a property (or its list items) refers to.
pub(crate) fn ref_target(schema: &Value) -> Option<&str> {
    direct_ref(schema).or_else(|| schema.get("items").and_then(direct_ref))
}

fn direct_ref(s: &Value) -> Option<&str> {
    s.get("$ref")
        .or_else(|| s.pointer("/allOf/0/$ref"))
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(REF_PREFIX))
}

/// A walk of one kind's schema tree by field path, collecting the strategies kapi-api's
/// table gives each field.
struct Walk<'a> {
    schemas: &'a BTreeMap<String, Value>,
    group: &'static str,
    kind: &'static str,
    path: Vec<&'a str>,
    stack: Vec<&'a str>,
    marks: &'a mut Vec<(String, String, Strategy)>,
}

/// [`FieldStrategy`] made orderable, so marks found from several kinds deduplicate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Strategy {
    MergeByKey(&'static str),
    MergePrimitives,
    Replace,
}

/// Deep enough for a CronJob's container env (`spec.jobTemplate.spec.template.spec.
/// containers.env.valueFrom...`); deeper paths have no strategies.
const MAX_DEPTH: usize = 12;

impl<'a> Walk<'a> {
    fn component(&mut self, name: &'a str) {
        if self.stack.contains(&name) || self.path.len() >= MAX_DEPTH {
            return;
        }
        let Some(props) = self
            .schemas
            .get(name)
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        else {
            return;
        };
        self.stack.push(name);
        for (prop, schema) in props {
            self.path.push(prop);
            let strategy = match field_strategy(self.group, self.kind, &self.path) {
                FieldStrategy::Default => None,
                FieldStrategy::MergeByKey(k) => Some(Strategy::MergeByKey(k)),
                FieldStrategy::MergePrimitives => Some(Strategy::MergePrimitives),
                FieldStrategy::Replace => Some(Strategy::Replace),
            };
            if let Some(s) = strategy {
                self.marks.push((name.to_string(), prop.clone(), s));
            }
            if let Some(target) = ref_target(schema) {
                self.component(target);
            }
            self.path.pop();
        }
        self.stack.pop();
    }
}

fn annotate(p: &mut Map<String, Value>, component: &str, property: &str, s: Strategy) {
    match s {
        Strategy::MergeByKey(key) => {
            let keys = LIST_MAP_KEYS
                .iter()
                .find(|(c, f, _)| *c == component && *f == property)
                .map(|(_, _, keys)| json!(keys))
                .unwrap_or_else(|| json!([key]));
            p.insert("x-kubernetes-list-map-keys".into(), keys);
            p.insert("x-kubernetes-list-type".into(), json!("map"));
            p.insert("x-kubernetes-patch-merge-key".into(), json!(key));
            p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
        }
        Strategy::MergePrimitives => {
            p.insert("x-kubernetes-list-type".into(), json!("set"));
            p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
        }
        Strategy::Replace => {
            p.insert("x-kubernetes-patch-strategy".into(), json!("replace"));
        }
    }
}
