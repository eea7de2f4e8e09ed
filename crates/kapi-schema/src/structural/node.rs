//! The compiled schema: one [`Node`] per schema of the CRD, built once when the CRD is
//! accepted and shared by every request. Everything a request needs is precomputed here:
//! property lookup, the formats that survive upstream's format stripping, compiled
//! patterns, the list-type keys. Value validations (`allOf`, ...) compile into the same type.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use super::cel::{compile_rules, Rule};
use super::formats::StrFormat;
use super::props::{Additional, Items, Props};

/// Objects with more properties than this get a hash index; below it a scan is faster.
const INDEX_FROM: usize = 8;

/// `additionalProperties` of a compiled node.
#[derive(Debug, Clone)]
pub(crate) enum Extra {
    /// Not specified.
    Unspecified,
    /// `true` or `false`.
    Allows(bool),
    /// A schema for the values of any other key.
    Schema(Box<Node>),
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListType {
    /// `atomic` or unspecified: nothing to enforce.
    Atomic,
    /// `set`: no two equal items.
    Set,
    /// `map`: no two items with equal key fields.
    Map(Vec<Box<str>>),
}

/// A `format` kept by upstream's stripping for the node's type.
#[derive(Debug, Clone)]
pub(crate) struct Format {
    /// As written in the schema; messages print it (`date-time`).
    pub(crate) name: Box<str>,
    /// Its validator, for string formats.
    pub(crate) check: Option<StrFormat>,
}

/// A compiled `pattern`.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// As written; messages print it.
    pub(crate) source: Box<str>,
    pub(crate) regex: Regex,
}

/// Value validations: boxed because most nodes have none.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checks {
    pub(crate) maximum: Option<(f64, bool)>,
    pub(crate) minimum: Option<(f64, bool)>,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) max_length: Option<i64>,
    pub(crate) min_length: Option<i64>,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) max_items: Option<i64>,
    pub(crate) min_items: Option<i64>,
    pub(crate) enum_values: Vec<Value>,
    pub(crate) max_properties: Option<i64>,
    pub(crate) min_properties: Option<i64>,
    pub(crate) required: Vec<Box<str>>,
    pub(crate) all_of: Vec<Node>,
    pub(crate) any_of: Vec<Node>,
    pub(crate) one_of: Vec<Node>,
    pub(crate) not: Option<Box<Node>>,
}

/// One compiled schema.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The JSON types allowed: one, `integer,string` for `x-kubernetes-int-or-string`, or
    /// none (anything).
    pub(crate) types: Vec<&'static str>,
    pub(crate) nullable: bool,
    pub(crate) format: Option<Format>,
    pub(crate) properties: Vec<(Box<str>, Node)>,
    index: Option<HashMap<Box<str>, usize>>,
    pub(crate) items: Option<Box<Node>>,
    pub(crate) extra: Extra,
    pub(crate) preserve_unknown: bool,
    pub(crate) embedded: bool,
    pub(crate) default: Option<Value>,
    pub(crate) list: ListType,
    /// `x-kubernetes-map-type: atomic`: server-side apply owns the object as a whole.
    pub(crate) atomic_map: bool,
    pub(crate) checks: Option<Box<Checks>>,
    /// The node's own `x-kubernetes-validations`.
    pub(crate) rules: Arc<[Rule]>,
    /// Whether the node or anything under it has rules: the rules' walk skips the rest.
    pub(crate) has_rules: bool,
}

impl Node {
    /// Compiles `p`; `Err` carries the pattern that does not compile and Go's reason.
    pub(crate) fn compile(p: &Props) -> Result<Node, (String, String)> {
        let types = match (p.int_or_string, p.type_.as_str()) {
            (true, _) => vec!["integer", "string"],
            (false, t) => static_type(t).into_iter().collect(),
        };
        let format = strip_format(&types, &p.format);
        let properties = p
            .properties
            .iter()
            .map(|(k, s)| Node::compile(s).map(|n| (Box::<str>::from(k.as_str()), n)))
            .collect::<Result<Vec<(Box<str>, Node)>, _>>()?;
        let index = (properties.len() > INDEX_FROM).then(|| {
            properties
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect()
        });
        let items = match &p.items {
            Some(Items::One(s)) => Some(Box::new(Node::compile(s)?)),
            _ => None,
        };
        let extra = match &p.additional_properties {
            None => Extra::Unspecified,
            Some(Additional::Allows(b)) => Extra::Allows(*b),
            Some(Additional::Schema(s)) => Extra::Schema(Box::new(Node::compile(s)?)),
        };
        let list = match p.list_type.as_deref() {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                p.list_map_keys
                    .iter()
                    .flatten()
                    .map(|k| k.as_str().into())
                    .collect(),
            ),
            _ => ListType::Atomic,
        };
        let rules: Arc<[Rule]> = compile_rules(&p.rules).into();
        let has_rules = !rules.is_empty()
            || properties.iter().any(|(_, n)| n.has_rules)
            || items.as_deref().is_some_and(|n| n.has_rules)
            || matches!(&extra, Extra::Schema(n) if n.has_rules);
        Ok(Node {
            types,
            nullable: p.nullable,
            format,
            properties,
            index,
            items,
            extra,
            preserve_unknown: p.preserve_unknown_fields == Some(true),
            embedded: p.embedded_resource,
            default: p.default.clone(),
            list,
            atomic_map: p.map_type.as_deref() == Some("atomic"),
            checks: compile_checks(p)?,
            rules,
            has_rules,
        })
    }

    /// The schema of property `name`.
    pub(crate) fn property(&self, name: &str) -> Option<&Node> {
        match &self.index {
            Some(index) => index.get(name).map(|&i| &self.properties[i].1),
            None => self
                .properties
                .iter()
                .find(|(k, _)| &**k == name)
                .map(|(_, n)| n),
        }
    }

    /// The schema of `additionalProperties`, when it is one.
    pub(crate) fn extra_schema(&self) -> Option<&Node> {
        match &self.extra {
            Extra::Schema(s) => Some(s),
            _ => None,
        }
    }

    /// The schema a member `name` of an object falls under: its property, else
    /// `additionalProperties`.
    pub(crate) fn member(&self, name: &str) -> Option<&Node> {
        self.property(name).or_else(|| self.extra_schema())
    }
}

fn static_type(t: &str) -> Option<&'static str> {
    ["object", "array", "string", "integer", "number", "boolean"]
        .into_iter()
        .find(|known| *known == t)
}

/// Upstream strips formats its type does not support before validating: string formats it
/// knows on strings (or untyped/int-or-string nodes), `int32`/`int64` on integers,
/// `float`/`double` on numbers, nothing on other types.
fn strip_format(types: &[&'static str], format: &str) -> Option<Format> {
    if format.is_empty() {
        return None;
    }
    let single = if types.len() == 1 { types[0] } else { "" };
    let check = match single {
        "" | "string" => Some(StrFormat::named(format)?),
        "integer" if format == "int32" || format == "int64" => None,
        "number" if format == "float" || format == "double" => None,
        _ => return None,
    };
    Some(Format {
        name: format.into(),
        check,
    })
}

fn compile_checks(p: &Props) -> Result<Option<Box<Checks>>, (String, String)> {
    let nested = |list: &[Props]| {
        list.iter()
            .map(Node::compile)
            .collect::<Result<Vec<_>, _>>()
    };
    let pattern = if p.pattern.is_empty() {
        None
    } else {
        let regex = super::gore::compile(&p.pattern).map_err(|e| (p.pattern.clone(), e))?;
        Some(Pattern {
            source: p.pattern.as_str().into(),
            regex,
        })
    };
    let checks = Checks {
        maximum: p.maximum.map(|m| (m, p.exclusive_maximum)),
        minimum: p.minimum.map(|m| (m, p.exclusive_minimum)),
        multiple_of: p.multiple_of,
        max_length: p.max_length,
        min_length: p.min_length,
        pattern,
        max_items: p.max_items,
        min_items: p.min_items,
        enum_values: p.enum_values.clone(),
        max_properties: p.max_properties,
        min_properties: p.min_properties,
        required: p
            .required
            .iter()
            .flatten()
            .map(|r| r.as_str().into())
            .collect(),
        all_of: nested(&p.all_of)?,
        any_of: nested(&p.any_of)?,
        one_of: nested(&p.one_of)?,
        not: p
            .not
            .as_deref()
            .map(Node::compile)
            .transpose()?
            .map(Box::new),
    };
    let empty = checks.maximum.is_none()
        && checks.minimum.is_none()
        && checks.multiple_of.is_none()
        && checks.max_length.is_none()
        && checks.min_length.is_none()
        && checks.pattern.is_none()
        && checks.max_items.is_none()
        && checks.min_items.is_none()
        && checks.enum_values.is_empty()
        && checks.max_properties.is_none()
        && checks.min_properties.is_none()
        && checks.required.is_empty()
        && checks.all_of.is_empty()
        && checks.any_of.is_empty()
        && checks.one_of.is_empty()
        && checks.not.is_none();
    Ok((!empty).then(|| Box::new(checks)))
}
