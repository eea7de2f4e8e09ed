//! Defaults must be valid values of their schema (upstream's `ValidateDefaults`): already
//! pruned (`must not have unknown fields`), embedded resources in them well-formed, and
//! passing value validation, with errors under `<schema path>.default`.
//!
//! Defaults under `additionalProperties` are not followed, as upstream does not. Defaults
//! inside the `apiVersion`/`kind`/`metadata` of an embedded resource are validated against
//! their own schema only (upstream also validates the surrounding object they would land in).

use super::fielderr::{child, key, FieldError};
use super::finding::Finding;
use super::gofmt::{json, Bad};
use super::node::Node;
use super::props::Props;
use super::{objectmeta, prune, validate};

const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];

/// The errors of every default in the schema at `path`.
pub(crate) fn check_defaults(p: &Props, node: &Node, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    walk(p, node, path, true, false, &mut out);
    out
}

fn walk(
    p: &Props,
    node: &Node,
    path: &str,
    root: bool,
    inside_meta: bool,
    out: &mut Vec<FieldError>,
) {
    // The root is checked as an embedded resource, as upstream forces it to be.
    let resource = root || node.embedded;
    let inside_meta = inside_meta && !resource;
    if let Some(default) = &p.default {
        let at = child(path, "default");
        if !inside_meta && prune::would_prune(node, default, resource) {
            out.push(FieldError::invalid(
                &at,
                Bad::Json(json(default)),
                "must not have unknown fields",
            ));
        }
        // Malformed embedded resources stop the check before value validation, as upstream's
        // chain of checks does.
        let mut meta = Vec::new();
        if !inside_meta {
            if let (true, Some(map)) = (resource, default.as_object()) {
                objectmeta::embedded(map, &at, &mut meta);
            }
            objectmeta::check_members(node, default, &at, &mut meta);
        }
        if meta.is_empty() {
            let findings = validate::validate(node, default);
            out.extend(
                findings
                    .iter()
                    .map(|f: &Finding| f.to_field_error(Some(&at))),
            );
        } else {
            out.extend(meta);
        }
    }
    if let (Some(items), Some(item_node)) = (p.items_schema(), node.items.as_deref()) {
        walk(
            items,
            item_node,
            &child(path, "items"),
            false,
            inside_meta,
            out,
        );
    }
    for ((k, sp), (_, sn)) in p.properties.iter().zip(&node.properties) {
        let meta = inside_meta || (resource && META_FIELDS.contains(&k.as_str()));
        walk(
            sp,
            sn,
            &key(&child(path, "properties"), k),
            false,
            meta,
            out,
        );
    }
}
