//! The structural module against upstream's expected messages: most expectations are copied
//! from kube-apiserver 1.34's own tests (apiextensions-apiserver `test/integration/
//! validation_test.go`, `pkg/apiserver/validation/validation_test.go`); the others follow
//! its code and say so.

mod cel;
mod check;
mod defaults;
mod embedded;
mod lists;
mod prune;
mod selectable;
mod validate;

use kapi_api::status::Cause;
use serde_json::Value;

use super::CustomSchema;

/// Where the schema sits in a CRD, as in upstream's tests.
const P: &str = "spec.versions[0].schema.openAPIV3Schema";

/// `field: message`, as upstream's tests print a field error.
fn line(c: &Cause) -> String {
    format!("{}: {}", c.field, c.message)
}

fn lines(causes: &[Cause]) -> Vec<String> {
    causes.iter().map(line).collect()
}

/// The compile errors of `schema`, as lines; empty when it compiles.
fn compile_errors(schema: Value) -> Vec<String> {
    match CustomSchema::compile(&schema, P) {
        Ok(_) => Vec::new(),
        Err(causes) => lines(&causes),
    }
}

/// `schema`, compiled; a test failure when it does not compile.
fn compiled(schema: Value) -> CustomSchema {
    match CustomSchema::compile(&schema, P) {
        Ok(s) => s,
        Err(causes) => panic!("schema does not compile: {:#?}", lines(&causes)),
    }
}

/// The validation errors of `obj` against `schema`, as lines.
fn errors(schema: Value, obj: Value) -> Vec<String> {
    lines(&compiled(schema).validate(&obj))
}

/// `s` with the word `P.` (at the start or after a space) spelled out as the schema path.
fn expand(s: &str) -> String {
    let full = format!("{P}.");
    let mut out = String::new();
    for (i, word) in s.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match word.strip_prefix("P.") {
            Some(rest) => {
                out.push_str(&full);
                out.push_str(rest);
            }
            None => out.push_str(word),
        }
    }
    out
}

/// `list` expanded, sorted as upstream sorts structural errors.
fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| expand(s)).collect();
    v.sort();
    v
}

/// `list` expanded, in the given order.
fn expanded(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| expand(s)).collect()
}
