//! Table output for custom resources: the columns a CRD version declares in
//! `additionalPrinterColumns`, as kube-apiserver's apiextensions server prints them.
//!
//! A custom resource's Table always starts with `Name`, then has one column per printer column in
//! the definition's order. A version that declares none (the field absent or an empty list) gets
//! one `Age` column, the time since `.metadata.creationTimestamp`. Each cell is the first value
//! the column's JSONPath finds, typed by the column's `type`; no value, a failed evaluation or a
//! value of the wrong type is a null cell (see [`PrinterColumn::cell`]).
//!
//! A column whose path does not parse cuts the list short: upstream serves the columns before it
//! and drops it and all after it (CRD validation only checks that a path starts with `.`; see
//! [`PrinterColumn::check_crd_version`]). [`PrinterColumnError::into_served_columns`] gives that
//! list.
//!
//! ```
//! use kapi_api::printers::custom::{custom_table, PrinterColumn};
//! use kapi_api::printers::IncludeObject;
//! use serde_json::json;
//! let version = json!({"name": "v1", "additionalPrinterColumns": [
//!     {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
//! ]});
//! let columns = PrinterColumn::from_crd_version(&version).unwrap();
//! let obj = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3}});
//! let table = custom_table(&columns, &[&obj], chrono::Utc::now(), IncludeObject::None, "7", None);
//! assert_eq!(table["columnDefinitions"][1]["name"], "Replicas");
//! assert_eq!(table["rows"][0]["cells"], json!(["web", 3]));
//! ```

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::descriptions::{META_CREATION_TIMESTAMP, META_NAME};
use super::{human_duration, list_metadata, row_object, util, Column, IncludeObject};
use crate::jsonpath::{validate_printer_column_path, JsonPath, JsonPathError, Match};
use crate::status::{go_quote, invalid_value, required, Cause};

/// The `Name` column every custom resource Table starts with.
const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: META_NAME,
    priority: 0,
};

/// The column types CRD validation accepts, in the order its message lists them.
const TYPES: [&str; 5] = ["boolean", "date", "integer", "number", "string"];

/// The column formats CRD validation accepts, in the order its message lists them.
const FORMATS: [&str; 8] = [
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];

/// One printer column of a CRD version, its path parsed once for every row it prints.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    /// The column header.
    pub name: String,
    /// `integer`, `number`, `boolean`, `string` or `date`: how cells are typed.
    pub type_: String,
    /// The OpenAPI format, passed on to clients (empty when unset).
    pub format: String,
    /// The column's description: the definition's, or upstream's stand-in naming the path.
    pub description: String,
    /// 0 for columns shown by default, higher for `-o wide` only.
    pub priority: i32,
    path: JsonPath,
}

/// Why a CRD version's printer columns could not all be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PrinterColumnError {
    /// The version is not a JSON object.
    #[error("version: must be an object")]
    NotAnObject,
    /// `additionalPrinterColumns` is not a list.
    #[error("additionalPrinterColumns: must be a list")]
    NotAList,
    /// A column is not a JSON object.
    #[error("additionalPrinterColumns[{index}]: must be an object")]
    NotAColumn {
        /// The column's position in the list.
        index: usize,
    },
    /// A column field has the wrong JSON type.
    #[error("additionalPrinterColumns[{index}].{field}: must be {expected}")]
    InvalidField {
        /// The column's position in the list.
        index: usize,
        /// The field's name, e.g. `priority`.
        field: &'static str,
        /// What the field must be, e.g. `a string`.
        expected: &'static str,
    },
    /// A column's `jsonPath` does not parse. The message is upstream's; upstream logs it and
    /// serves the columns before this one ([`PrinterColumnError::into_served_columns`]).
    #[error("unrecognized column definition {}", go_quote(.json_path))]
    UnrecognizedColumn {
        /// The column's position in the list.
        index: usize,
        /// The path as written.
        json_path: String,
        /// Why it does not parse.
        source: JsonPathError,
        /// The columns before it, which upstream keeps serving.
        served: Vec<PrinterColumn>,
    },
}

impl PrinterColumnError {
    /// The columns to serve despite the error: for an unparsable path, the columns before it,
    /// as upstream does; for a malformed definition (which upstream's typed API could not hold),
    /// none, so the Table has its `Name` column only.
    pub fn into_served_columns(self) -> Vec<PrinterColumn> {
        match self {
            Self::UnrecognizedColumn { served, .. } => served,
            _ => Vec::new(),
        }
    }
}

impl PrinterColumn {
    /// The printer columns of a CRD's `spec.versions[i]`, `Name` not included.
    ///
    /// Without columns (the field absent, null or an empty list) the version gets upstream's
    /// logical default, one `Age` column of type `date` over `.metadata.creationTimestamp`. A
    /// column without a description gets `Custom resource definition column (in JSONPath
    /// format): <path>`, as upstream describes it. Missing fields read as empty, as Go's decoder
    /// leaves them.
    pub fn from_crd_version(version: &Value) -> Result<Vec<PrinterColumn>, PrinterColumnError> {
        let fields = version.as_object().ok_or(PrinterColumnError::NotAnObject)?;
        let definitions: &[Value] = match fields.get("additionalPrinterColumns") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(definitions)) => definitions,
            Some(_) => return Err(PrinterColumnError::NotAList),
        };
        if definitions.is_empty() {
            return Ok(vec![Self::age()]);
        }
        let mut columns = Vec::with_capacity(definitions.len());
        for (index, definition) in definitions.iter().enumerate() {
            let definition = definition
                .as_object()
                .ok_or(PrinterColumnError::NotAColumn { index })?;
            let text = |field: &'static str| match definition.get(field) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(PrinterColumnError::InvalidField {
                    index,
                    field,
                    expected: "a string",
                }),
            };
            let name = text("name")?;
            let type_ = text("type")?;
            let format = text("format")?;
            let description = text("description")?;
            let json_path = text("jsonPath")?;
            let priority = match definition.get("priority") {
                None | Some(Value::Null) => 0,
                Some(p) => p.as_i64().and_then(|p| i32::try_from(p).ok()).ok_or(
                    PrinterColumnError::InvalidField {
                        index,
                        field: "priority",
                        expected: "a 32-bit integer",
                    },
                )?,
            };
            let path = match JsonPath::parse(&json_path) {
                Ok(path) => path,
                Err(source) => {
                    return Err(PrinterColumnError::UnrecognizedColumn {
                        index,
                        json_path,
                        source,
                        served: columns,
                    })
                }
            };
            let description = if description.is_empty() {
                format!("Custom resource definition column (in JSONPath format): {json_path}")
            } else {
                description
            };
            columns.push(PrinterColumn {
                name,
                type_,
                format,
                description,
                priority,
                path,
            });
        }
        Ok(columns)
    }

    /// Upstream's column for versions that declare none: the age of the object.
    fn age() -> Self {
        Self {
            name: "Age".to_string(),
            type_: "date".to_string(),
            format: String::new(),
            description: META_CREATION_TIMESTAMP.to_string(),
            priority: 0,
            path: JsonPath::from_fields(&["metadata", "creationTimestamp"]),
        }
    }

    /// The column's path as the definition wrote it.
    pub fn json_path(&self) -> &str {
        self.path.as_str()
    }

    /// The column definition: `{"name","type","format","description","priority"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }

    /// This column's cell for `obj`; ages are measured against `now`.
    ///
    /// Only the first value the path finds counts. No value, or a failed evaluation, is null.
    /// Then, by type:
    ///
    /// - `string`: any value, as text (`kubectl -o jsonpath` text: numbers as Go prints them,
    ///   lists and objects as JSON; a null value reads `<no value>`);
    /// - `integer`: a JSON number, a float truncated toward zero;
    /// - `number`: a JSON number;
    /// - `boolean`: a JSON boolean;
    /// - `date`: a string holding an RFC 3339 time, as the time since then (`5m`); `<invalid>`
    ///   when it does not parse, `<unknown>` for an empty string, `null` or Go's zero time;
    ///
    /// and null for a value of another type, or a column of another type. Literals in the path
    /// follow upstream's Go types: an integer literal is no JSON integer, a quoted one a string.
    pub fn cell(&self, obj: &Value, now: DateTime<Utc>) -> Value {
        let Ok(found) = self.path.evaluate(obj) else {
            return Value::Null;
        };
        let Some(&first) = found.first() else {
            return Value::Null;
        };
        match (self.type_.as_str(), first) {
            // Upstream prints the bare value again, and a bare nil prints as "<no value>".
            ("string", Match::Json(Value::Null)) => Value::String("<no value>".to_string()),
            ("string", m) => Value::String(m.to_text()),
            ("integer", Match::Json(Value::Number(n))) => match n.as_i64() {
                Some(i) => Value::from(i),
                None => Value::from(go_float_to_int(n.as_f64().unwrap_or_default())),
            },
            ("integer", Match::Float(f)) => Value::from(go_float_to_int(f)),
            ("number", Match::Json(Value::Number(n))) => number(n.as_f64().unwrap_or_default()),
            ("number", Match::Float(f)) => number(f),
            ("boolean", Match::Json(Value::Bool(b))) => Value::Bool(*b),
            ("boolean", Match::Bool(b)) => Value::Bool(b),
            ("date", Match::Json(Value::String(s))) => Value::String(age(s, now)),
            ("date", Match::Text(s)) => Value::String(age(s, now)),
            _ => Value::Null,
        }
    }
}

impl PrinterColumn {
    /// Upstream's checks of a CRD version's printer columns on create and update: `name` and
    /// `type` required, `type` and `format` from upstream's lists, `jsonPath` required and
    /// starting with `.` ([`validate_printer_column_path`]). Whether the path parses is not
    /// checked, as upstream does not check it.
    ///
    /// `columns_field` is where upstream reports the list:
    /// `spec.versions[i].additionalPrinterColumns`, or `spec.additionalPrinterColumns` when all
    /// versions declare the same columns (upstream's internal form then holds them once, at the
    /// top). The causes name fields as upstream does,
    /// the path as `JSONPath`: `spec.additionalPrinterColumns[1].JSONPath`.
    pub fn check_crd_version(version: &Value, columns_field: &str) -> Vec<Cause> {
        let mut causes = Vec::new();
        let definitions = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (i, definition) in definitions.iter().enumerate() {
            let field = format!("{columns_field}[{i}]");
            let text = |name: &str| definition.get(name).and_then(Value::as_str).unwrap_or("");
            if text("name").is_empty() {
                causes.push(required(format!("{field}.name")));
            }
            let type_ = text("type");
            let types = format!("must be one of {}", TYPES.join(","));
            if type_.is_empty() {
                let mut cause = required(format!("{field}.type"));
                cause.message = format!("{}: {types}", cause.message);
                causes.push(cause);
            } else if !TYPES.contains(&type_) {
                causes.push(invalid_value(format!("{field}.type"), type_, &types));
            }
            let format = text("format");
            if !format.is_empty() && !FORMATS.contains(&format) {
                let formats = format!("must be one of {}", FORMATS.join(","));
                causes.push(invalid_value(format!("{field}.format"), format, &formats));
            }
            causes.extend(validate_printer_column_path(
                &format!("{field}.JSONPath"),
                text("jsonPath"),
            ));
        }
        causes
    }
}

/// The column definitions of a custom resource Table: `Name`, then each printer column.
pub fn custom_column_definitions(columns: &[PrinterColumn]) -> Vec<Value> {
    std::iter::once(NAME.to_json())
        .chain(columns.iter().map(PrinterColumn::to_json))
        .collect()
}

/// One row of a custom resource Table: `{"cells":[name, ...],"object":...}`, `object` as
/// [`super::table_row`] gives it.
pub fn custom_table_row(
    columns: &[PrinterColumn],
    obj: &Value,
    now: DateTime<Utc>,
    include_object: IncludeObject,
) -> Value {
    let mut cells = Vec::with_capacity(columns.len() + 1);
    cells.push(Value::String(util::name(obj).to_string()));
    cells.extend(columns.iter().map(|column| column.cell(obj, now)));
    let mut row = Map::new();
    row.insert("cells".to_string(), Value::Array(cells));
    row.insert("object".to_string(), row_object(obj, include_object));
    Value::Object(row)
}

/// A whole `meta.k8s.io/v1` Table of custom resources, shaped as [`super::table`] shapes the
/// built-in ones: `resource_version` to `metadata.resourceVersion` (left out when empty),
/// `continue_token` (when given and non-empty) to `metadata.continue`.
pub fn custom_table(
    columns: &[PrinterColumn],
    objs: &[&Value],
    now: DateTime<Utc>,
    include_object: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let rows: Vec<Value> = objs
        .iter()
        .map(|obj| custom_table_row(columns, obj, now, include_object))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata(resource_version, continue_token),
        "columnDefinitions": custom_column_definitions(columns),
        "rows": rows,
    })
}

/// A `number` cell. Upstream's encoder writes a whole float64 without a fraction (`3`, not
/// `3.0`); a JSON integer gives the same text where it fits.
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e18 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// Go's `int64(f)` as kube-apiserver's usual platform (amd64) computes it: truncation toward
/// zero, and the minimum int64 for values out of range.
fn go_float_to_int(f: f64) -> i64 {
    // -2^63 and 2^63, both exact as f64.
    let (min, max) = (i64::MIN as f64, -(i64::MIN as f64));
    if f.is_nan() || !(min..max).contains(&f) {
        i64::MIN
    } else {
        f.trunc() as i64
    }
}

/// A `date` cell: the time since `text`, as upstream reads a date given as a query parameter.
fn age(text: &str, now: DateTime<Utc>) -> String {
    if text.is_empty() || text == "null" {
        return "<unknown>".to_string();
    }
    match parse_rfc3339(text) {
        None => "<invalid>".to_string(),
        Some(t) if t == go_zero_time() => "<unknown>".to_string(),
        Some(t) => human_duration(go_since(t, now)),
    }
}

/// Go's zero time, 0001-01-01T00:00:00Z, which upstream treats as unset.
fn go_zero_time() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

/// `now - t` as Go's `time.Since` gives it: saturated at the range of a Go duration (about 292
/// years), so a very old date prints as `292y`.
fn go_since(t: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    let d = now.signed_duration_since(t);
    match d.num_nanoseconds() {
        Some(_) => d,
        None if d < Duration::zero() => Duration::nanoseconds(i64::MIN),
        None => Duration::nanoseconds(i64::MAX),
    }
}

/// Go's `time.Parse(time.RFC3339, text)`: `2006-01-02T15:04:05Z` or with an offset
/// (`+01:00`), optional fractional seconds (extra digits beyond nanoseconds ignored). Like Go's
/// general parser it also takes a one-digit hour, a comma before the fraction, and offsets up to
/// `24:60`. Letters are upper case only.
fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *i;
        while *i - start < max && b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        if *i - start < min {
            return None;
        }
        text.get(start..*i)?.parse().ok()
    };
    let literal = |i: &mut usize, c: u8| -> Option<()> { (b.get(*i) == Some(&c)).then(|| *i += 1) };
    let year = digits(&mut i, 4, 4)?;
    literal(&mut i, b'-')?;
    let month = digits(&mut i, 2, 2)?;
    literal(&mut i, b'-')?;
    let day = digits(&mut i, 2, 2)?;
    literal(&mut i, b'T')?;
    let hour = digits(&mut i, 1, 2)?;
    literal(&mut i, b':')?;
    let minute = digits(&mut i, 2, 2)?;
    literal(&mut i, b':')?;
    let second = digits(&mut i, 2, 2)?;
    let mut nanos = 0;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let fraction = text.get(start..i.min(start + 9))?;
        nanos = fraction.parse::<u32>().ok()? * 10u32.pow(9 - fraction.len() as u32);
    }
    let offset_seconds = match b.get(i..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (h, m) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if h > 24 || m > 60 {
                return None;
            }
            let seconds = (h * 60 + m) * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    Some(local.and_utc() - Duration::seconds(offset_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed "now" of every test.
    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-06-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// A timestamp `d` before [`now`].
    fn ago(d: Duration) -> String {
        (now() - d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn columns(definitions: Value) -> Vec<PrinterColumn> {
        let version = json!({"name": "v1", "additionalPrinterColumns": definitions});
        PrinterColumn::from_crd_version(&version).unwrap_or_else(|e| panic!("{e}"))
    }

    /// One column of `type_` over `path`.
    fn column(type_: &str, path: &str) -> PrinterColumn {
        let mut cols = columns(json!([{"name": "C", "type": type_, "jsonPath": path}]));
        cols.pop().unwrap_or_else(|| panic!("no column"))
    }

    fn widget() -> Value {
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {
                "name": "w",
                "namespace": "default",
                "creationTimestamp": ago(Duration::minutes(17))
            },
            "spec": {
                "replicas": 3,
                "ratio": 0.5,
                "whole": 2.0,
                "negative": -2.7,
                "positive": 2.7,
                "huge": 10000000000000000000u64,
                "big": 1e21,
                "million": 1e6,
                "paused": false,
                "text": "3",
                "nothing": null,
                "selector": {"app": "web", "<": "&"},
                "ports": [80, 443],
                "started": ago(Duration::minutes(5)),
                "later": (now() + Duration::hours(1)).to_rfc3339(),
                "offset": "2024-06-01T13:58:00+02:00",
                "fraction": "2024-06-01T11:59:58.987654321987Z",
                "shortHour": "2024-06-01T9:00:00Z",
                "comma": "2024-06-01T11:00:00,5Z",
                "lower": "2024-06-01t11:00:00z",
                "hour24": "2024-06-01T24:00:00Z",
                "feb30": "2024-02-30T00:00:00Z",
                "zero": "0001-01-01T00:00:00Z",
                "zeroElsewhere": "0001-01-01T01:00:00+01:00",
                "ancient": "0001-01-01T00:00:01Z",
                "empty": "",
                "null": "null",
                "garbage": "yesterday"
            },
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "False"}
            ]}
        })
    }

    /// The cell of a `type_` column over `path` for [`widget`].
    fn cell(type_: &str, path: &str) -> Value {
        column(type_, path).cell(&widget(), now())
    }

    #[test]
    fn a_version_without_columns_gets_the_age_column() {
        for version in [
            json!({"name": "v1"}),
            json!({"name": "v1", "additionalPrinterColumns": null}),
            json!({"name": "v1", "additionalPrinterColumns": []}),
        ] {
            let cols = PrinterColumn::from_crd_version(&version).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cols.len(), 1, "{version}");
            assert_eq!(
                cols[0].to_json(),
                json!({
                    "name": "Age",
                    "type": "date",
                    "format": "",
                    "description": META_CREATION_TIMESTAMP,
                    "priority": 0,
                })
            );
            assert_eq!(cols[0].json_path(), ".metadata.creationTimestamp");
            assert_eq!(cols[0].cell(&widget(), now()), json!("17m"));
        }
        assert!(META_CREATION_TIMESTAMP.starts_with("CreationTimestamp is a timestamp"));
    }

    #[test]
    fn columns_carry_their_definition() {
        let cols = columns(json!([
            {"name": "Replicas", "type": "integer", "format": "int32",
             "description": "Desired pods", "priority": 1, "jsonPath": ".spec.replicas"},
            {"name": "Ready", "type": "string",
             "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        ]));
        let defs: Vec<Value> = cols.iter().map(PrinterColumn::to_json).collect();
        assert_eq!(
            defs,
            vec![
                json!({"name": "Replicas", "type": "integer", "format": "int32",
                       "description": "Desired pods", "priority": 1}),
                json!({"name": "Ready", "type": "string", "format": "",
                       "description": "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Ready\")].status",
                       "priority": 0}),
            ]
        );
        assert_eq!(cols[1].cell(&widget(), now()), json!("True"));
    }

    #[test]
    fn an_unparsable_path_keeps_the_columns_before_it() {
        let version = json!({"additionalPrinterColumns": [
            {"name": "A", "type": "string", "jsonPath": ".spec.text"},
            {"name": "B", "type": "string", "jsonPath": ".spec["},
            {"name": "C", "type": "string", "jsonPath": ".spec.text"},
        ]});
        let err = match PrinterColumn::from_crd_version(&version) {
            Ok(cols) => panic!("parsed: {cols:?}"),
            Err(e) => e,
        };
        assert_eq!(
            err.to_string(),
            r#"unrecognized column definition ".spec[""#
        );
        assert!(matches!(
            &err,
            PrinterColumnError::UnrecognizedColumn {
                index: 1,
                source: JsonPathError::UnterminatedArray,
                ..
            }
        ));
        let served = err.into_served_columns();
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].name, "A");
        let table = custom_table(&served, &[&widget()], now(), IncludeObject::None, "", None);
        assert_eq!(table["rows"][0]["cells"], json!(["w", "3"]));
    }

    #[test]
    fn malformed_versions_are_typed_errors() {
        let cases = [
            (json!("v1"), "version: must be an object"),
            (
                json!({"additionalPrinterColumns": {}}),
                "additionalPrinterColumns: must be a list",
            ),
            (
                json!({"additionalPrinterColumns": [7]}),
                "additionalPrinterColumns[0]: must be an object",
            ),
            (
                json!({"additionalPrinterColumns": [{"name": 5, "jsonPath": ".a"}]}),
                "additionalPrinterColumns[0].name: must be a string",
            ),
            (
                json!({"additionalPrinterColumns": [
                    {"name": "a", "jsonPath": ".a", "priority": 1.5}
                ]}),
                "additionalPrinterColumns[0].priority: must be a 32-bit integer",
            ),
            (
                json!({"additionalPrinterColumns": [{"jsonPath": ".a", "priority": 1u64 << 40}]}),
                "additionalPrinterColumns[0].priority: must be a 32-bit integer",
            ),
        ];
        for (version, want) in cases {
            match PrinterColumn::from_crd_version(&version) {
                Ok(cols) => panic!("{version}: parsed {cols:?}"),
                Err(e) => {
                    assert_eq!(e.to_string(), want, "{version}");
                    assert!(e.into_served_columns().is_empty());
                }
            }
        }
        // Missing fields read as empty, as Go's decoder leaves them.
        let cols = columns(json!([{"jsonPath": ".spec.replicas"}]));
        assert_eq!((cols[0].name.as_str(), cols[0].type_.as_str()), ("", ""));
        assert_eq!(cols[0].cell(&widget(), now()), Value::Null);
    }

    #[test]
    fn integer_cells() {
        let cases = [
            (".spec.replicas", json!(3)),
            (".spec.whole", json!(2)),
            (".spec.positive", json!(2)),
            (".spec.negative", json!(-2)),
            (".spec.huge", json!(i64::MIN)),
            (".spec.text", Value::Null),
            (".spec.paused", Value::Null),
            (".spec.nothing", Value::Null),
            (".spec.missing", Value::Null),
            (".spec.ports", Value::Null),
            (".spec.ports[*]", json!(80)),
            (".spec.ports[5]", Value::Null),
            // An integer literal is a Go int, not the int64 of a JSON number; a decimal one is
            // a float64.
            (".spec.replicas 5", Value::Null),
            (".spec.replicas 2.5", json!(2)),
        ];
        for (path, want) in cases {
            assert_eq!(cell("integer", path), want, "{path}");
        }
    }

    #[test]
    fn number_cells() {
        let cases = [
            (".spec.replicas", json!(3)),
            (".spec.ratio", json!(0.5)),
            (".spec.whole", json!(2)),
            (".spec.big", json!(1e21)),
            (".spec.huge", json!(1e19)),
            (".spec.text", Value::Null),
            (".spec.nothing", Value::Null),
            (".spec.replicas 5", Value::Null),
            (".spec.replicas 2.5", json!(2.5)),
        ];
        for (path, want) in cases {
            assert_eq!(cell("number", path), want, "{path}");
        }
        // A whole float64 is written as upstream writes it, without a fraction.
        assert_eq!(cell("number", ".spec.whole").to_string(), "2");
    }

    #[test]
    fn boolean_cells() {
        assert_eq!(cell("boolean", ".spec.paused"), json!(false));
        assert_eq!(cell("boolean", ".spec.replicas true"), json!(true));
        assert_eq!(cell("boolean", ".spec.text"), Value::Null);
        assert_eq!(cell("boolean", ".spec.missing"), Value::Null);
    }

    #[test]
    fn string_cells() {
        let cases = [
            (".spec.text", json!("3")),
            (".spec.replicas", json!("3")),
            (".spec.ratio", json!("0.5")),
            (".spec.million", json!("1e+06")),
            (".spec.huge", json!("1e+19")),
            (".spec.paused", json!("false")),
            (
                ".spec.selector",
                json!(r#"{"\u003c":"\u0026","app":"web"}"#),
            ),
            (".spec.ports", json!("[80,443]")),
            (".spec.nothing", json!("<no value>")),
            (".spec.missing", Value::Null),
            (".status.conditions[*].type", json!("Ready")),
            (".spec.ports[7]", Value::Null),
            (".spec.selector.*", json!("web")),
            (r#".spec "lit""#, json!("lit")),
            (".metadata.name.*", json!("119")),
        ];
        for (path, want) in cases {
            assert_eq!(cell("string", path), want, "{path}");
        }
    }

    #[test]
    fn date_cells_are_ages_against_now() {
        let cases = [
            (".metadata.creationTimestamp", "17m"),
            (".spec.started", "5m"),
            (".spec.offset", "2m"),
            (".spec.fraction", "1s"),
            (".spec.shortHour", "3h"),
            (".spec.comma", "59m"),
            (".spec.later", "<invalid>"),
            (".spec.lower", "<invalid>"),
            (".spec.hour24", "<invalid>"),
            (".spec.feb30", "<invalid>"),
            (".spec.garbage", "<invalid>"),
            (".spec.zero", "<unknown>"),
            (".spec.zeroElsewhere", "<unknown>"),
            (".spec.empty", "<unknown>"),
            (".spec.null", "<unknown>"),
            // Go's durations end at about 292 years.
            (".spec.ancient", "292y"),
        ];
        for (path, want) in cases {
            assert_eq!(cell("date", path), json!(want), "{path}");
        }
        for path in [
            ".spec.replicas",
            ".spec.nothing",
            ".spec.missing",
            ".spec.ports",
        ] {
            assert_eq!(cell("date", path), Value::Null, "{path}");
        }
        assert_eq!(
            cell("date", r#".spec "2024-06-01T10:00:00Z""#),
            json!("120m")
        );
    }

    #[test]
    fn unknown_types_print_null() {
        assert_eq!(cell("object", ".spec.replicas"), Value::Null);
        assert_eq!(cell("", ".spec.replicas"), Value::Null);
    }

    #[test]
    fn tables_have_the_built_in_shape() {
        let cols = columns(json!([
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]));
        let w = widget();
        let sparse = json!({"spec": {"replicas": "many"}});
        let table = custom_table(
            &cols,
            &[&w, &sparse],
            now(),
            IncludeObject::Metadata,
            "42",
            Some("token"),
        );
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            table["metadata"],
            json!({"resourceVersion": "42", "continue": "token"})
        );
        assert_eq!(
            table["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name",
                   "description": META_NAME, "priority": 0})
        );
        assert_eq!(table["columnDefinitions"][1]["name"], "Replicas");
        assert_eq!(table["columnDefinitions"].as_array().map(Vec::len), Some(3));
        assert_eq!(table["rows"][0]["cells"], json!(["w", 3, "17m"]));
        assert_eq!(table["rows"][1]["cells"], json!(["", null, null]));
        assert_eq!(
            table["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": w["metadata"]})
        );
        assert_eq!(
            table["rows"][1]["object"]["metadata"],
            json!({}),
            "an object without metadata"
        );
        let keys: Vec<&String> = table["rows"][0]
            .as_object()
            .map(|row| row.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["cells", "object"]);

        let bare = custom_table(&cols, &[&w], now(), IncludeObject::None, "", Some(""));
        assert_eq!(bare["metadata"], json!({}));
        assert_eq!(bare["rows"][0]["object"], Value::Null);
        let whole = custom_table_row(&cols, &w, now(), IncludeObject::Object);
        assert_eq!(whole["object"], w);
        assert_eq!(custom_column_definitions(&[]), vec![NAME.to_json()]);
    }

    #[test]
    fn columns_validate_as_upstream() {
        let version = json!({"additionalPrinterColumns": [
            {"name": "A", "type": "integer", "jsonPath": ".spec.a"},
            {"type": "int", "format": "uuid", "jsonPath": "spec.a"},
            {"name": "C", "format": "date-time"},
            {"name": "D", "type": "date", "jsonPath": ".spec["},
        ]});
        let p = "spec.versions[0].additionalPrinterColumns";
        let causes: Vec<String> = PrinterColumn::check_crd_version(&version, p)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            causes,
            vec![
                format!("{p}[1].name: Required value"),
                format!("{p}[1].type: Invalid value: \"int\": must be one of boolean,date,integer,number,string"),
                format!("{p}[1].format: Invalid value: \"uuid\": must be one of byte,date,date-time,double,float,int32,int64,password"),
                format!("{p}[1].JSONPath: Invalid value: \"spec.a\": must be a simple json path starting with ."),
                format!("{p}[2].type: Required value: must be one of boolean,date,integer,number,string"),
                format!("{p}[2].JSONPath: Required value"),
            ]
        );
        assert!(PrinterColumn::check_crd_version(&json!({"name": "v1"}), p).is_empty());
        let top = PrinterColumn::check_crd_version(&version, "spec.additionalPrinterColumns");
        assert_eq!(top[0].field, "spec.additionalPrinterColumns[1].name");
    }

    #[test]
    fn parsed_times_follow_go() {
        let t = |s: &str| parse_rfc3339(s).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2024-06-01T12:00:00Z"),
            Some("2024-06-01T12:00:00+00:00".into())
        );
        assert_eq!(
            t("2024-06-01T12:00:00-01:30"),
            Some("2024-06-01T13:30:00+00:00".into())
        );
        assert_eq!(
            t("2024-06-01T12:00:00.5Z"),
            Some("2024-06-01T12:00:00.500+00:00".into())
        );
        assert_eq!(
            t("2024-02-29T00:00:00Z"),
            Some("2024-02-29T00:00:00+00:00".into())
        );
        assert_eq!(
            t("2024-06-01T12:00:00+24:00"),
            Some("2024-05-31T12:00:00+00:00".into())
        );
        for bad in [
            "2024-06-01",
            "2024-06-01T12:00Z",
            "2024-06-01T12:00:00",
            "2024-06-01 12:00:00Z",
            "2024-06-01T12:00:00.Z",
            "2024-06-01T12:00:60Z",
            "2024-13-01T12:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-06-01T12:00:00+0100",
            "2024-06-01T12:00:00+01:61",
            "24-06-01T12:00:00Z",
            "2024-06-01T12:00:00Zjunk",
            "２024-06-01T12:00:00Z",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
