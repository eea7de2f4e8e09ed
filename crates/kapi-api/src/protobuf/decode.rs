//! The generic, table-driven decoder from protobuf messages to the JSON model.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::schema::MESSAGES;
use super::table::{Field, Kind, Message, Ty, INLINE, OMIT, REP};
use super::wire::{Reader, WireValue};
use super::ProtobufError;

/// Deepest message nesting accepted; real objects stay far below it, hostile input does not.
pub(crate) const MAX_DEPTH: usize = 64;

fn message(index: u16) -> Result<&'static Message, ProtobufError> {
    MESSAGES
        .get(usize::from(index))
        .ok_or_else(|| ProtobufError::Malformed {
            message: "schema",
            reason: format!("message index {index} out of range"),
        })
}

fn malformed(msg: &Message, reason: impl Into<String>) -> ProtobufError {
    ProtobufError::Malformed {
        message: msg.name,
        reason: reason.into(),
    }
}

fn invalid(msg: &Message, reason: impl Into<String>) -> ProtobufError {
    ProtobufError::InvalidValue {
        message: msg.name,
        reason: reason.into(),
    }
}

/// Decodes `buf` as message `index` of the table into its JSON form.
pub(crate) fn decode_message(index: u16, buf: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let msg = message(index)?;
    match msg.kind {
        Kind::Struct => decode_struct(msg, buf, depth).map(Value::Object),
        Kind::Items => decode_items(msg, buf),
        Kind::Time | Kind::MicroTime => decode_time(msg, buf),
        Kind::Duration => decode_duration(msg, buf),
        Kind::RawJson => decode_raw_json(msg, buf, depth),
        Kind::IntOrString => decode_int_or_string(msg, buf),
        Kind::Quantity => decode_quantity(msg, buf),
    }
}

/// Decodes a plain message: values collect per field, then come out in declaration order.
/// Repeated fields and maps accumulate; for a singular field the last occurrence wins.
fn decode_struct(
    msg: &Message,
    buf: &[u8],
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    let mut slots: Vec<Option<Value>> = msg.fields.iter().map(|_| None).collect();
    let mut reader = Reader::new(buf);
    while let Some((num, wire)) = reader.next_field().map_err(|e| malformed(msg, e))? {
        let found = msg
            .fields
            .iter()
            .zip(slots.iter_mut())
            .find(|(field, _)| field.num == num);
        if let Some((field, slot)) = found {
            decode_field(msg, field, wire, slot, depth)?;
        }
        // Unknown fields are skipped, as Go's decoder does.
    }
    let mut out = Map::new();
    for (field, slot) in msg.fields.iter().zip(slots) {
        let Some(value) = slot else { continue };
        if field.flags & OMIT != 0 && is_zero(&value) {
            continue;
        }
        if field.flags & INLINE != 0 {
            if let Value::Object(inner) = value {
                out.extend(inner);
            }
            continue;
        }
        out.insert(field.json.to_owned(), value);
    }
    Ok(out)
}

/// The zero value of Go's JSON `omitempty`, plus the zero time and empty struct of `omitzero`.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0) || n.as_u64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn decode_field(
    msg: &Message,
    field: &Field,
    wire: WireValue<'_>,
    slot: &mut Option<Value>,
    depth: usize,
) -> Result<(), ProtobufError> {
    let repeated = field.flags & REP != 0;
    match field.ty {
        Ty::MapStr | Ty::MapBytes | Ty::MapMsg(_) => {
            let WireValue::Bytes(entry) = wire else {
                return Err(wrong_wire_type(msg, field, wire));
            };
            let (key, value) = decode_map_entry(msg, field, entry, depth)?;
            match slot {
                Some(Value::Object(map)) => {
                    map.insert(key, value);
                }
                _ => {
                    let mut map = Map::new();
                    map.insert(key, value);
                    *slot = Some(Value::Object(map));
                }
            }
        }
        Ty::Bool | Ty::I32 | Ty::I64 if repeated => match wire {
            // Packed encoding: a run of varints in one length-delimited payload.
            WireValue::Bytes(packed) => {
                let mut reader = Reader::new(packed);
                while !reader.is_empty() {
                    let v = reader.varint().map_err(|e| malformed(msg, e))?;
                    push(slot, varint_value(field.ty, v));
                }
            }
            WireValue::Varint(v) => push(slot, varint_value(field.ty, v)),
            _ => return Err(wrong_wire_type(msg, field, wire)),
        },
        _ => {
            let value = decode_value(msg, field, field.ty, wire, depth)?;
            if repeated {
                push(slot, value);
            } else {
                *slot = Some(value);
            }
        }
    }
    Ok(())
}

fn push(slot: &mut Option<Value>, value: Value) {
    match slot {
        Some(Value::Array(items)) => items.push(value),
        _ => *slot = Some(Value::Array(vec![value])),
    }
}

fn wrong_wire_type(msg: &Message, field: &Field, wire: WireValue<'_>) -> ProtobufError {
    malformed(
        msg,
        format!(
            "field {} ({}) has wire type {}",
            field.num,
            field_name(field),
            wire.wire_type()
        ),
    )
}

fn field_name(field: &Field) -> &'static str {
    if field.json.is_empty() {
        "inline"
    } else {
        field.json
    }
}

/// Converts a varint as Go's generated code does: int32 truncates, bool is non-zero.
fn varint_value(ty: Ty, v: u64) -> Value {
    match ty {
        Ty::Bool => Value::Bool(v != 0),
        Ty::I32 => Value::from(v as i32),
        _ => Value::from(v as i64),
    }
}

/// Decodes one non-map value of type `ty`.
fn decode_value(
    msg: &Message,
    field: &Field,
    ty: Ty,
    wire: WireValue<'_>,
    depth: usize,
) -> Result<Value, ProtobufError> {
    match (ty, wire) {
        (Ty::Str, WireValue::Bytes(b)) => {
            Ok(Value::String(String::from_utf8_lossy(b).into_owned()))
        }
        (Ty::Bytes, WireValue::Bytes(b)) => Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(b),
        )),
        (Ty::Bool | Ty::I32 | Ty::I64, WireValue::Varint(v)) => Ok(varint_value(ty, v)),
        (Ty::Msg(index), WireValue::Bytes(b)) => decode_message(index, b, depth + 1),
        _ => Err(wrong_wire_type(msg, field, wire)),
    }
}

/// Decodes a map entry message {key = 1, value = 2}; absent parts take their zero value.
fn decode_map_entry(
    msg: &Message,
    field: &Field,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let value_ty = match field.ty {
        Ty::MapStr => Ty::Str,
        Ty::MapBytes => Ty::Bytes,
        Ty::MapMsg(index) => Ty::Msg(index),
        other => other,
    };
    let mut key = String::new();
    let mut value = None;
    let mut reader = Reader::new(entry);
    while let Some((num, wire)) = reader.next_field().map_err(|e| malformed(msg, e))? {
        match num {
            1 => {
                let WireValue::Bytes(b) = wire else {
                    return Err(wrong_wire_type(msg, field, wire));
                };
                key = String::from_utf8_lossy(b).into_owned();
            }
            2 => value = Some(decode_value(msg, field, value_ty, wire, depth)?),
            _ => {}
        }
    }
    let value = match value {
        Some(v) => v,
        None => match value_ty {
            Ty::Msg(index) => decode_message(index, &[], depth + 1)?,
            _ => Value::String(String::new()),
        },
    };
    Ok((key, value))
}

/// Reads the varint and length-delimited fields of a small fixed-layout message.
fn scan<'a>(
    msg: &Message,
    buf: &'a [u8],
    mut each: impl FnMut(u32, WireValue<'a>) -> Result<(), ProtobufError>,
) -> Result<(), ProtobufError> {
    let mut reader = Reader::new(buf);
    while let Some((num, wire)) = reader.next_field().map_err(|e| malformed(msg, e))? {
        each(num, wire)?;
    }
    Ok(())
}

fn expect_varint(msg: &Message, num: u32, wire: WireValue<'_>) -> Result<u64, ProtobufError> {
    match wire {
        WireValue::Varint(v) => Ok(v),
        other => Err(malformed(
            msg,
            format!("field {num} has wire type {}", other.wire_type()),
        )),
    }
}

fn expect_bytes<'a>(
    msg: &Message,
    num: u32,
    wire: WireValue<'a>,
) -> Result<&'a [u8], ProtobufError> {
    match wire {
        WireValue::Bytes(b) => Ok(b),
        other => Err(malformed(
            msg,
            format!("field {num} has wire type {}", other.wire_type()),
        )),
    }
}

/// `Items`: field 1 holds the strings of a Go named slice.
fn decode_items(msg: &Message, buf: &[u8]) -> Result<Value, ProtobufError> {
    let mut items = Vec::new();
    scan(msg, buf, |num, wire| {
        if num == 1 {
            let b = expect_bytes(msg, num, wire)?;
            items.push(Value::String(String::from_utf8_lossy(b).into_owned()));
        }
        Ok(())
    })?;
    Ok(Value::Array(items))
}

/// `Time` {seconds = 1, nanos = 2} and `MicroTime`. Go keeps only whole seconds of a `Time`
/// and microseconds of a `MicroTime`; an empty message is the zero time, which is JSON null.
fn decode_time(msg: &Message, buf: &[u8]) -> Result<Value, ProtobufError> {
    if buf.is_empty() {
        return Ok(Value::Null);
    }
    let (mut seconds, mut nanos) = (0i64, 0i64);
    scan(msg, buf, |num, wire| {
        match num {
            1 => seconds = expect_varint(msg, num, wire)? as i64,
            2 => nanos = i64::from(expect_varint(msg, num, wire)? as i32),
            _ => {}
        }
        Ok(())
    })?;
    let micro = msg.kind == Kind::MicroTime;
    let nanos = if micro { nanos - nanos % 1000 } else { 0 };
    let seconds = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or_else(|| invalid(msg, "time out of range"))?;
    let subsec = nanos.rem_euclid(1_000_000_000) as u32;
    let time = chrono::DateTime::from_timestamp(seconds, subsec)
        .ok_or_else(|| invalid(msg, "time out of range"))?;
    // Go refuses to marshal times outside years 0..=9999 as RFC 3339.
    let year = chrono::Datelike::year(&time);
    if !(0..=9999).contains(&year) {
        return Err(invalid(
            msg,
            format!("year {year} outside of range [0,9999]"),
        ));
    }
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(time.format(format).to_string()))
}

/// `Duration` {duration = 1 (nanoseconds)} as Go's `time.Duration.String()`.
fn decode_duration(msg: &Message, buf: &[u8]) -> Result<Value, ProtobufError> {
    let mut ns = 0i64;
    scan(msg, buf, |num, wire| {
        if num == 1 {
            ns = expect_varint(msg, num, wire)? as i64;
        }
        Ok(())
    })?;
    Ok(Value::String(go_duration(ns)))
}

/// Formats nanoseconds the way Go prints a `time.Duration`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) fn go_duration(ns: i64) -> String {
    fn fraction(value: u64, digits: usize) -> String {
        if value == 0 {
            return String::new();
        }
        let text = format!("{value:0digits$}");
        format!(".{}", text.trim_end_matches('0'))
    }
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let u = ns.unsigned_abs();
    if u == 0 {
        return "0s".to_owned();
    }
    if u < 1_000_000_000 {
        let (unit, digits, scale) = if u < 1_000 {
            ("ns", 0, 1)
        } else if u < 1_000_000 {
            ("µs", 3, 1_000)
        } else {
            ("ms", 6, 1_000_000)
        };
        out.push_str(&format!(
            "{}{}{unit}",
            u / scale,
            fraction(u % scale, digits)
        ));
        return out;
    }
    let secs = u / 1_000_000_000;
    let (hours, minutes) = (secs / 3600, secs / 60 % 60);
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}{}s", secs % 60, fraction(u % 1_000_000_000, 9)));
    out
}

/// `RawExtension` and `FieldsV1` {raw = 1}: the bytes are JSON, or (from protobuf clients) a
/// nested `k8s\0` envelope. Empty is JSON null, as Go marshals a nil raw message.
fn decode_raw_json(msg: &Message, buf: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    let mut raw: &[u8] = &[];
    scan(msg, buf, |num, wire| {
        if num == 1 {
            raw = expect_bytes(msg, num, wire)?;
        }
        Ok(())
    })?;
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(super::MAGIC) {
        return super::decode_envelope(raw, depth + 1);
    }
    serde_json::from_slice(raw)
        .map_err(|e| invalid(msg, format!("embedded object is not JSON: {e}")))
}

/// `IntOrString` {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}.
fn decode_int_or_string(msg: &Message, buf: &[u8]) -> Result<Value, ProtobufError> {
    let (mut kind, mut int_val, mut str_val) = (0i64, 0i32, String::new());
    scan(msg, buf, |num, wire| {
        match num {
            1 => kind = expect_varint(msg, num, wire)? as i64,
            2 => int_val = expect_varint(msg, num, wire)? as i32,
            3 => str_val = String::from_utf8_lossy(expect_bytes(msg, num, wire)?).into_owned(),
            _ => {}
        }
        Ok(())
    })?;
    match kind {
        0 => Ok(Value::Number(Number::from(int_val))),
        1 => Ok(Value::String(str_val)),
        other => Err(invalid(msg, format!("unknown IntOrString type {other}"))),
    }
}

/// `Quantity` {string = 1}; an absent string is the zero quantity.
fn decode_quantity(msg: &Message, buf: &[u8]) -> Result<Value, ProtobufError> {
    let mut text = None;
    scan(msg, buf, |num, wire| {
        if num == 1 {
            text = Some(String::from_utf8_lossy(expect_bytes(msg, num, wire)?).into_owned());
        }
        Ok(())
    })?;
    Ok(Value::String(text.unwrap_or_else(|| "0".to_owned())))
}
