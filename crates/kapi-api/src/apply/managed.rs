//! `metadata.managedFields` entries and the per-manager bookkeeping behind them.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::fieldset::{FieldSet, FieldsError};

/// How a manager came to own its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply: the fields of the manager's applied configuration.
    Apply,
    /// Any other write: the fields the manager changed.
    Update,
}

impl Operation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `metadata.managedFields` entry; `fieldsType` is always `FieldsV1`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    /// The field manager (`kubectl`, `kubectl-client-side-apply`, ...).
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: Operation,
    /// The API version the fields were written in.
    pub api_version: String,
    /// When the manager last changed the object (RFC 3339); upstream leaves it out when an
    /// apply changed nothing for a new manager.
    pub time: Option<String>,
    /// The owned fields.
    pub fields: FieldSet,
    /// `status` (or another subresource) when written through one, else empty.
    pub subresource: String,
}

impl ManagedFieldsEntry {
    /// Reads one entry.
    pub fn from_json(v: &Value) -> Result<Self, FieldsError> {
        let Value::Object(m) = v else {
            return Err(FieldsError(
                "a managedFields entry must be an object".into(),
            ));
        };
        let text = |key: &str| -> Result<String, FieldsError> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(FieldsError(format!("{key} must be a string"))),
            }
        };
        let operation = match text("operation")?.as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            other => {
                return Err(FieldsError(format!(
                    "operation must be Apply or Update, not {other:?}"
                )))
            }
        };
        match text("fieldsType")?.as_str() {
            "FieldsV1" | "" => {}
            other => return Err(FieldsError(format!("unsupported fieldsType {other:?}"))),
        }
        let fields = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(f) => FieldSet::from_fields_v1(f)?,
        };
        let time = Some(text("time")?).filter(|t| !t.is_empty());
        Ok(ManagedFieldsEntry {
            manager: text("manager")?,
            operation,
            api_version: text("apiVersion")?,
            time,
            fields,
            subresource: text("subresource")?,
        })
    }

    /// The entry as the API serves it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation.as_str()));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    /// The entries of an object's `metadata.managedFields` (none when absent).
    pub fn list_from_object(obj: &Value) -> Result<Vec<Self>, FieldsError> {
        match obj.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(Self::from_json).collect(),
            Some(_) => Err(FieldsError("managedFields must be a list".into())),
        }
    }

    /// Writes `entries` as the object's `metadata.managedFields` (removing it when empty).
    pub fn set_on_object(obj: &mut Value, entries: &[Self]) {
        let Some(obj) = obj.as_object_mut() else {
            return;
        };
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(meta) = meta.as_object_mut() else {
            return;
        };
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert(
                "managedFields".into(),
                Value::Array(entries.iter().map(Self::to_json).collect()),
            );
        }
    }
}

/// What makes two entries the same manager: upstream encodes it as a JSON document, leaving
/// out the API version of appliers so that they keep their entry across versions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Identity {
    pub manager: String,
    pub operation: Operation,
    /// Empty for `Apply`.
    pub api_version: String,
    pub subresource: String,
}

impl Identity {
    pub(crate) fn apply(manager: &str, subresource: &str) -> Self {
        Identity {
            manager: manager.into(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: subresource.into(),
        }
    }

    pub(crate) fn update(manager: &str, api_version: &str, subresource: &str) -> Self {
        Identity {
            manager: manager.into(),
            operation: Operation::Update,
            api_version: api_version.into(),
            subresource: subresource.into(),
        }
    }

    /// Upstream's identifier document; conflict messages group managers in its order.
    pub(crate) fn json(&self) -> String {
        let mut m = Map::new();
        if !self.manager.is_empty() {
            m.insert("manager".into(), json!(self.manager));
        }
        m.insert("operation".into(), json!(self.operation.as_str()));
        if !self.api_version.is_empty() {
            m.insert("apiVersion".into(), json!(self.api_version));
        }
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m).to_string()
    }
}

/// A manager's fields, the version it wrote them in, and when it last changed the object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Owned {
    pub set: FieldSet,
    pub api_version: String,
    pub time: Option<String>,
}

/// Every manager of an object.
pub(crate) type Managers = BTreeMap<Identity, Owned>;

/// Upstream keeps at most this many `Update` entries, folding the oldest together.
const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager the oldest `Update` entries are folded into.
const ANCIENT_CHANGES: &str = "ancient-changes";

pub(crate) fn managers_from(entries: &[ManagedFieldsEntry]) -> Managers {
    let mut out = Managers::new();
    for e in entries {
        let id = match e.operation {
            Operation::Apply => Identity::apply(&e.manager, &e.subresource),
            Operation::Update => Identity::update(&e.manager, &e.api_version, &e.subresource),
        };
        out.insert(
            id,
            Owned {
                set: e.fields.clone(),
                api_version: e.api_version.clone(),
                time: e.time.clone(),
            },
        );
    }
    out
}

fn seconds(time: Option<&str>) -> i64 {
    time.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// The entries in upstream's order: appliers first, then by time, manager, version and
/// subresource.
pub(crate) fn entries_from(managers: &Managers) -> Vec<ManagedFieldsEntry> {
    let mut out: Vec<ManagedFieldsEntry> = managers
        .iter()
        .map(|(id, o)| ManagedFieldsEntry {
            manager: id.manager.clone(),
            operation: id.operation,
            api_version: o.api_version.clone(),
            time: o.time.clone(),
            fields: o.set.clone(),
            subresource: id.subresource.clone(),
        })
        .collect();
    out.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| seconds(p.time.as_deref()).cmp(&seconds(q.time.as_deref())))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    out
}

/// Folds the oldest `Update` entries into per-version `ancient-changes` buckets until at
/// most [`MAX_UPDATE_MANAGERS`] remain.
pub(crate) fn cap_update_managers(managers: &mut Managers) {
    let mut updaters: Vec<Identity> = managers
        .keys()
        .filter(|id| id.operation == Operation::Update)
        .cloned()
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by_cached_key(|id| {
        let time = managers.get(id).and_then(|o| o.time.clone());
        (seconds(time.as_deref()), id.json())
    });
    let mut first_of_version: BTreeMap<String, Identity> = BTreeMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(owned) = managers.get(&id).cloned() else {
            continue;
        };
        let version = owned.api_version.clone();
        let bucket = Identity::update(ANCIENT_CHANGES, &version, "");
        match first_of_version.get(&version) {
            Some(first) => {
                if !managers.contains_key(&bucket) {
                    if let Some(s) = managers.remove(first) {
                        managers.insert(bucket.clone(), s);
                    }
                }
                if let Some(b) = managers.get_mut(&bucket) {
                    b.set = owned.set.union(&b.set);
                    b.time = owned.time.clone();
                    b.api_version = version;
                }
                if id != bucket {
                    managers.remove(&id);
                }
                length -= 1;
            }
            None => {
                first_of_version.insert(version, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_sort() {
        let raw = json!([
            {"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1",
             "time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1",
             "fieldsV1":{"f:data":{".":{},"f:a":{}}}},
            {"manager":"kubectl","operation":"Apply","apiVersion":"v1",
             "time":"2024-05-02T10:00:00Z","fieldsType":"FieldsV1",
             "fieldsV1":{"f:data":{"f:b":{}}}},
            {"manager":"ctl","operation":"Update","apiVersion":"v1",
             "time":"2024-05-02T10:00:00Z","fieldsType":"FieldsV1",
             "fieldsV1":{"f:status":{"f:phase":{}}},"subresource":"status"}
        ]);
        let obj = json!({"metadata": {"managedFields": raw}});
        let entries = ManagedFieldsEntry::list_from_object(&obj).unwrap();
        for (e, want) in entries.iter().zip(raw.as_array().unwrap()) {
            assert_eq!(&e.to_json(), want);
        }
        let sorted = entries_from(&managers_from(&entries));
        let names: Vec<&str> = sorted.iter().map(|e| e.manager.as_str()).collect();
        assert_eq!(names, ["kubectl", "kubectl-client-side-apply", "ctl"]);
        assert!(ManagedFieldsEntry::from_json(&json!({"operation": "Patch"})).is_err());
        assert!(ManagedFieldsEntry::from_json(
            &json!({"operation": "Apply", "fieldsType": "FieldsV2"})
        )
        .is_err());
    }

    #[test]
    fn identities_print_like_upstream() {
        assert_eq!(
            Identity::update("m", "v1", "status").json(),
            r#"{"manager":"m","operation":"Update","apiVersion":"v1","subresource":"status"}"#
        );
        assert_eq!(
            Identity::apply("kubectl", "").json(),
            r#"{"manager":"kubectl","operation":"Apply"}"#
        );
    }

    #[test]
    fn update_managers_are_capped() {
        let mut managers = Managers::new();
        for i in 0..12 {
            let mut set = FieldSet::new();
            set.insert(&[super::super::fieldset::PathElement::Field(format!("f{i}"))]);
            managers.insert(
                Identity::update(&format!("m{i:02}"), "v1", ""),
                Owned {
                    set,
                    api_version: "v1".into(),
                    time: Some(format!("2024-01-01T00:00:{i:02}Z")),
                },
            );
        }
        cap_update_managers(&mut managers);
        assert_eq!(managers.len(), 10);
        let bucket = &managers[&Identity::update(ANCIENT_CHANGES, "v1", "")];
        assert_eq!(bucket.set.paths().len(), 3);
        assert!(!managers.contains_key(&Identity::update("m00", "v1", "")));
        assert!(managers.contains_key(&Identity::update("m03", "v1", "")));
    }
}
