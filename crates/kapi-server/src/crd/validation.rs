//! Defaults and validation of CustomResourceDefinition objects, with upstream's field paths
//! and messages, so that a definition kapi accepts is one kube-apiserver would accept.

use kapi_api::meta::{string_list, validate_name, NameRule};
use kapi_api::printers::custom::PrinterColumn;
use kapi_api::status::{go_quote, invalid_value, required, Cause};
use kapi_schema::structural::CustomSchema;
use serde_json::{json, Value};

use super::definition::Definition;

/// Upstream's defaults: the singular and list kind from the kind, the `None` conversion, and the
/// storage version recorded in `status.storedVersions` (the status is the stored one on
/// update, empty on create).
pub fn defaults(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").filter(|n| n.is_object()) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let unset = |n: &Value, k: &str| n.get(k).and_then(Value::as_str).is_none_or(str::is_empty);
        if unset(names, "singular") {
            names["singular"] = json!(kind.to_lowercase());
        }
        if unset(names, "listKind") && !kind.is_empty() {
            names["listKind"] = json!(format!("{kind}List"));
        }
    }
    if spec.get("conversion").is_none_or(Value::is_null) {
        spec["conversion"] = json!({"strategy": "None"});
    }
    let storage = Definition::read(crd)
        .storage_version()
        .map(|v| v.name.clone());
    if let Some(storage) = storage {
        if !crd.get("status").is_some_and(Value::is_object) {
            crd["status"] = json!({});
        }
        let stored = string_list(crd.pointer("/status/storedVersions"));
        if !stored.contains(&storage) {
            let mut all = stored;
            all.push(storage);
            crd["status"]["storedVersions"] = json!(all);
        }
        let status = &mut crd["status"];
        for key in ["acceptedNames", "conditions"] {
            if status.get(key).is_none() {
                status[key] = if key == "conditions" {
                    json!([])
                } else {
                    json!({"plural": "", "kind": ""})
                };
            }
        }
    }
}

/// Upstream's DNS-1035 label messages for `s` (empty when it is one).
fn dns1035_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    let shaped = s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !shaped {
        out.push(DNS1035_MESSAGE.to_string());
    }
    out
}

const DNS1035_MESSAGE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// A name that must be a DNS-1035 label; kinds (with `prefix` in their message) are checked in
/// lower case, since they may have mixed case.
fn check_label(path: String, value: &str, prefix: &str, causes: &mut Vec<Cause>) {
    let checked = if prefix.is_empty() {
        value.to_string()
    } else {
        value.to_lowercase()
    };
    let errors = dns1035_errors(&checked);
    if !errors.is_empty() {
        causes.push(invalid_value(
            path,
            value,
            &format!("{prefix}{}", errors.join(",")),
        ));
    }
}

/// The groups whose APIs the Kubernetes project owns: a definition there needs the approval
/// annotation.
fn protected(group: &str) -> bool {
    ["k8s.io", "kubernetes.io"]
        .iter()
        .any(|d| group == *d || group.ends_with(&format!(".{d}")))
}

const APPROVAL: &str = "api-approved.kubernetes.io";

fn check_approval(crd: &Value, group: &str, causes: &mut Vec<Cause>) {
    if !protected(group) {
        return;
    }
    let path = format!("metadata.annotations[{APPROVAL}]");
    match crd
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(APPROVAL))
        .and_then(Value::as_str)
    {
        None => causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: format!("Required value: protected groups must have approval annotation {}, see https://github.com/kubernetes/enhancements/pull/1111", go_quote(APPROVAL)),
            field: path,
        }),
        Some(v) if v.starts_with("unapproved") || is_url(v) => {}
        Some(v) => causes.push(invalid_value(
            path,
            v,
            &format!("protected groups must have approval annotation {} with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111", go_quote(APPROVAL)),
        )),
    }
}

/// A URL with a scheme and a host.
fn is_url(v: &str) -> bool {
    v.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty() && !rest.is_empty() && !rest.starts_with('/')
    })
}

/// Validates a definition being stored; the causes carry upstream's paths and messages.
pub fn validate(crd: &Value, causes: &mut Vec<Cause>) {
    let d = Definition::read(crd);
    let spec = crd.get("spec");
    let expected = format!("{}.{}", d.names.plural, d.group);
    if !d.name.is_empty() && d.name != expected {
        causes.push(invalid_value(
            "metadata.name",
            &d.name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if d.group.is_empty() {
        causes.push(required("spec.group"));
    } else {
        let errors = validate_name(&d.group, NameRule::Subdomain);
        if !errors.is_empty() {
            causes.push(invalid_value("spec.group", &d.group, &errors.join(",")));
        }
        if d.group.split('.').count() < 2 {
            causes.push(invalid_value(
                "spec.group",
                &d.group,
                "should be a domain with at least one dot",
            ));
        }
    }
    match spec.and_then(|s| s.get("scope")).and_then(Value::as_str) {
        None | Some("") => causes.push(required("spec.scope")),
        Some("Cluster" | "Namespaced") => {}
        Some(other) => causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: \"Cluster\", \"Namespaced\"",
                go_quote(other)
            ),
            field: "spec.scope".into(),
        }),
    }
    validate_versions(spec, &d, causes);
    validate_names(spec.and_then(|s| s.get("names")), &d, causes);
    validate_conversion(spec, causes);
    if spec
        .and_then(|s| s.get("preserveUnknownFields"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: "Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead".into(),
            field: "spec.preserveUnknownFields".into(),
        });
    }
    check_approval(crd, &d.group, causes);
}

fn validate_names(names: Option<&Value>, d: &Definition, causes: &mut Vec<Cause>) {
    let given = |k: &str| {
        names
            .and_then(|n| n.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    for (key, value, prefix) in [
        ("plural", given("plural"), ""),
        ("singular", d.names.singular.clone(), ""),
        (
            "kind",
            given("kind"),
            "may have mixed case, but should otherwise match: ",
        ),
        (
            "listKind",
            d.names.list_kind.clone(),
            "may have mixed case, but should otherwise match: ",
        ),
    ] {
        let path = format!("spec.names.{key}");
        if value.is_empty() {
            causes.push(required(path));
        } else {
            check_label(path, &value, prefix, causes);
        }
    }
    if !d.names.kind.is_empty() && d.names.kind == d.names.list_kind {
        causes.push(invalid_value(
            "spec.names.listKind",
            &d.names.list_kind,
            "kind and listKind may not be the same",
        ));
    }
    for (i, short) in d.names.short_names.iter().enumerate() {
        check_label(format!("spec.names.shortNames[{i}]"), short, "", causes);
    }
    for (i, category) in d.names.categories.iter().enumerate() {
        check_label(format!("spec.names.categories[{i}]"), category, "", causes);
    }
}

fn validate_conversion(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    let conversion = spec.and_then(|s| s.get("conversion"));
    match conversion
        .and_then(|c| c.get("strategy"))
        .and_then(Value::as_str)
    {
        None | Some("") => causes.push(required("spec.conversion.strategy")),
        Some("None") => {
            if conversion
                .and_then(|c| c.get("webhook"))
                .is_some_and(|w| !w.is_null())
            {
                causes.push(Cause {
                    reason: "FieldValueForbidden".into(),
                    message: "Forbidden: should not be set when strategy is not set to Webhook"
                        .into(),
                    field: "spec.conversion.webhookClientConfig".into(),
                });
            }
        }
        // Accepted and stored; kapi does not call conversion webhooks yet (README).
        Some("Webhook") => {}
        Some(other) => causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: \"None\", \"Webhook\"",
                go_quote(other)
            ),
            field: "spec.conversion.strategy".into(),
        }),
    }
}

/// The path of a per-version field: upstream's internal form lifts a field that is the same in
/// every version to the top of the spec, and reports its errors there.
fn version_path(
    d: &Definition,
    i: usize,
    field: &str,
    top: &str,
    of: impl Fn(&Value) -> Option<&Value>,
) -> String {
    let first = d.versions.first().and_then(|v| of(&v.raw));
    if d.versions.iter().all(|v| of(&v.raw) == first) {
        top.to_string()
    } else {
        format!("spec.versions[{i}].{field}")
    }
}

fn validate_versions(spec: Option<&Value>, d: &Definition, causes: &mut Vec<Cause>) {
    let all = spec
        .and_then(|s| s.get("versions"))
        .map_or_else(|| "null".to_string(), Value::to_string);
    let whole = |why: &str| Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {all}: {why}"),
        field: "spec.versions".into(),
    };
    if d.versions.iter().filter(|v| v.storage).count() != 1 {
        causes.push(whole(
            "must have exactly one version marked as storage version",
        ));
    }
    if d.versions
        .iter()
        .enumerate()
        .any(|(i, v)| d.versions[..i].iter().any(|o| o.name == v.name))
    {
        causes.push(whole("must contain unique version names"));
    }
    for (i, v) in d.versions.iter().enumerate() {
        let path = format!("spec.versions[{i}]");
        if v.name.is_empty() {
            causes.push(required(format!("{path}.name")));
        } else {
            check_label(format!("{path}.name"), &v.name, "", causes);
        }
        let schema_path = format!(
            "{}.openAPIV3Schema",
            version_path(d, i, "schema", "spec.validation", |r| r.get("schema"))
        );
        match &v.schema {
            None => causes.push(required(schema_path)),
            Some(schema) => {
                match CustomSchema::compile(schema, &schema_path) {
                    Ok(compiled) => check_selectable_fields(
                        &compiled,
                        &v.selectable_fields,
                        &format!("{path}.selectableFields"),
                        causes,
                    ),
                    Err(errors) => causes.extend(errors),
                }
                let root_type = schema.get("type").and_then(Value::as_str);
                if v.status && root_type.is_some_and(|t| t != "object") {
                    causes.push(invalid_value(
                        format!("{schema_path}.type"),
                        root_type.unwrap_or_default(),
                        "only \"object\" is allowed as the type at the root of the schema if the status subresource is enabled",
                    ));
                }
            }
        }
        if let Some(scale) = &v.scale {
            let scale_path = format!(
                "{}.scale",
                version_path(d, i, "subresources", "spec.subresources", |r| r
                    .get("subresources"))
            );
            check_path(
                &format!("{scale_path}.specReplicasPath"),
                &scale.spec_replicas,
                &[".spec."],
                "should be a json path under .spec",
                causes,
            );
            check_path(
                &format!("{scale_path}.statusReplicasPath"),
                &scale.status_replicas,
                &[".status."],
                "should be a json path under .status",
                causes,
            );
            if let Some(selector) = &scale.label_selector {
                check_path(
                    &format!("{scale_path}.labelSelectorPath"),
                    selector,
                    &[".spec.", ".status."],
                    "should be a json path under either .spec or .status",
                    causes,
                );
            }
        }
        let columns_path = version_path(
            d,
            i,
            "additionalPrinterColumns",
            "spec.additionalPrinterColumns",
            |r| r.get("additionalPrinterColumns"),
        );
        causes.extend(PrinterColumn::check_crd_version(&v.raw, &columns_path));
    }
}

/// How many fields a version may make selectable.
const MAX_SELECTABLE_FIELDS: usize = 8;

/// A version's `selectableFields`: each a path to a string, boolean or integer field of the
/// schema outside `metadata`, none twice, at most eight.
fn check_selectable_fields(
    schema: &CustomSchema,
    fields: &[String],
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let mut unique: Vec<String> = Vec::new();
    for (i, json_path) in fields.iter().enumerate() {
        let at = format!("{path}[{i}].jsonPath");
        if json_path.is_empty() {
            causes.push(required(at));
            continue;
        }
        let (field, type_name) = match schema.selectable_field(json_path) {
            Ok(found) => found,
            Err(why) => {
                causes.push(invalid_value(
                    at,
                    json_path,
                    &format!("is an invalid path: {why}"),
                ));
                continue;
            }
        };
        if field == "metadata" || field.starts_with("metadata.") || field.starts_with("metadata[") {
            causes.push(invalid_value(
                &at,
                json_path,
                "must not point to fields in metadata",
            ));
        }
        if !matches!(type_name, "string" | "boolean" | "integer") {
            causes.push(invalid_value(
                &at,
                json_path,
                "must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
            ));
        }
        if unique.contains(&field) {
            causes.push(Cause {
                reason: "FieldValueDuplicate".into(),
                message: format!("Duplicate value: {}", go_quote(json_path)),
                field: at,
            });
        } else {
            unique.push(field);
        }
    }
    if unique.len() > MAX_SELECTABLE_FIELDS {
        causes.push(Cause {
            reason: "FieldValueTooMany".into(),
            message: format!(
                "Too many: {}: must have at most {MAX_SELECTABLE_FIELDS} items",
                unique.len()
            ),
            field: path.to_string(),
        });
    }
}

/// A scale path: required, and under one of `prefixes`.
fn check_path(path: &str, value: &str, prefixes: &[&str], why: &str, causes: &mut Vec<Cause>) {
    if value.is_empty() {
        causes.push(required(path));
    } else if !value.starts_with('.') {
        causes.push(invalid_value(
            path,
            value,
            "must be a simple json path starting with .",
        ));
    } else if !prefixes.iter().any(|p| value.starts_with(p)) {
        causes.push(invalid_value(path, value, why));
    }
}

/// What may not change once stored: the group and plural always, the scope and kind once the
/// definition is established; and every stored version must stay listed.
pub fn validate_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    let text = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let established = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
    for (pointer, path, always) in [
        ("/spec/group", "spec.group", true),
        ("/spec/names/plural", "spec.names.plural", true),
        ("/spec/scope", "spec.scope", false),
        ("/spec/names/kind", "spec.names.kind", false),
    ] {
        if (always || established) && text(old, pointer) != text(new, pointer) {
            causes.push(invalid_value(
                path,
                &text(new, pointer),
                "field is immutable",
            ));
        }
    }
    let stored = string_list(new.pointer("/status/storedVersions"));
    let d = Definition::read(new);
    for (i, name) in stored.iter().enumerate() {
        if !d.versions.iter().any(|v| &v.name == name) {
            causes.push(invalid_value(
                format!("status.storedVersions[{i}]"),
                name,
                &format!("missing from spec.versions; {name} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {name} and removes {name} from status.storedVersions"),
            ));
        }
    }
}
