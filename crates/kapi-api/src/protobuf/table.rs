//! The shape of the generated descriptor table in `schema.rs`.
//!
//! One generic decoder walks these descriptors instead of thousands of lines of generated
//! per-type code, which keeps the crate quick to build and the decoder easy to fuzz.

/// How a message becomes JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An object of its fields.
    Struct,
    /// A Go named slice (`ExtraValue`, `Verbs`): the array of field 1 (`items`).
    Items,
    /// `meta/v1.Time`: RFC 3339 with whole seconds; an empty message is the zero time (`null`).
    Time,
    /// `meta/v1.MicroTime`: RFC 3339 with six fractional digits.
    MicroTime,
    /// `meta/v1.Duration`: Go's duration string, e.g. `1h0m0s`.
    Duration,
    /// `runtime.RawExtension` and `meta/v1.FieldsV1`: embedded JSON (or a nested envelope).
    RawJson,
    /// `intstr.IntOrString`: a JSON number or string.
    IntOrString,
    /// `resource.Quantity`: its canonical string.
    Quantity,
}

/// The type of a field's values (repeated-ness is a flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Bytes,
    Bool,
    I32,
    I64,
    /// A message, by index into `MESSAGES`.
    Msg(u16),
    /// `map<string, string>`.
    MapStr,
    /// `map<string, bytes>`: values become base64.
    MapBytes,
    /// `map<string, message>`.
    MapMsg(u16),
}

/// A `repeated` field: values accumulate into a JSON array.
pub(crate) const REP: u8 = 1;
/// A Go non-pointer `omitempty` field: dropped from JSON when it holds the zero value, because
/// go-to-protobuf writes such fields even when zero while Go's JSON encoder omits them.
pub(crate) const OMIT: u8 = 2;
/// A Go `json:",inline"` field: proto nests a message, JSON merges its fields into the parent.
pub(crate) const INLINE: u8 = 4;

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) num: u32,
    /// The JSON name (empty for inline fields).
    pub(crate) json: &'static str,
    pub(crate) ty: Ty,
    pub(crate) flags: u8,
}

/// One message, with fields in Go declaration (JSON output) order.
#[derive(Debug)]
pub(crate) struct Message {
    /// Full proto name, for error messages.
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) fields: &'static [Field],
}

/// Short constructor so the generated table stays compact.
pub(crate) const fn f(num: u32, json: &'static str, ty: Ty, flags: u8) -> Field {
    Field {
        num,
        json,
        ty,
        flags,
    }
}

/// Short constructor so the generated table stays compact.
pub(crate) const fn m(name: &'static str, kind: Kind, fields: &'static [Field]) -> Message {
    Message { name, kind, fields }
}
