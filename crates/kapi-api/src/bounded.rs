//! Decoding into a JSON value with a bound on how much it may build.
//!
//! A JSON body cannot decode into more than its own size, but YAML can: an alias (`*a`) repeats
//! its anchor's whole value, so a few kilobytes of `[*a, *a, ...]` over a large anchor expand to
//! gigabytes before anyone sees the result. [`decode_bounded`] counts what it builds as it
//! builds it and stops at the budget, for any serde format (YAML request bodies and apply
//! patches use it).
//!
//! ```
//! let yaml = "a: &x [1, 2, 3]\nb: *x\n";
//! let de = serde_yaml::Deserializer::from_str(yaml);
//! let v = kapi_api::bounded::decode_bounded(de, 1024).unwrap();
//! assert_eq!(v["b"], serde_json::json!([1, 2, 3]));
//! ```

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a bounded decode failed.
#[derive(Debug, thiserror::Error)]
pub enum BoundedError {
    /// The decoded value would be larger than the budget (in bytes of compact JSON).
    #[error("the decoded document is larger than {budget} bytes")]
    TooLarge {
        /// The budget that was exceeded.
        budget: usize,
    },
    /// The input is malformed; the format's own message.
    #[error("{0}")]
    Malformed(String),
}

/// Decodes one value from `de`, failing with [`BoundedError::TooLarge`] as soon as what was
/// built so far exceeds `budget` bytes, counted as its compact JSON size.
pub fn decode_bounded<'de, D>(de: D, budget: usize) -> Result<Value, BoundedError>
where
    D: Deserializer<'de>,
    D::Error: fmt::Display,
{
    let left = Cell::new(budget);
    let exceeded = Cell::new(false);
    let seed = Bounded {
        left: &left,
        exceeded: &exceeded,
    };
    seed.deserialize(de).map_err(|e| {
        if exceeded.get() {
            BoundedError::TooLarge { budget }
        } else {
            BoundedError::Malformed(e.to_string())
        }
    })
}

/// The seed and visitor: `left` is the budget still unspent, `exceeded` records that the
/// failure was ours (the format wraps our error in its own type).
#[derive(Clone, Copy)]
struct Bounded<'a> {
    left: &'a Cell<usize>,
    exceeded: &'a Cell<bool>,
}

impl Bounded<'_> {
    fn charge<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        match self.left.get().checked_sub(bytes) {
            Some(rest) => {
                self.left.set(rest);
                Ok(())
            }
            None => {
                self.exceeded.set(true);
                Err(E::custom("decoded document too large"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.charge(5)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.charge(20)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.charge(20)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.charge(24)?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.charge(v.len() + 2)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.charge(v.len() + 2)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.charge(4)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        self.deserialize(de)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.charge(2)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            self.charge(1)?;
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.charge(2)?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.charge(key.len() + 4)?;
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(s: &str, budget: usize) -> Result<Value, BoundedError> {
        decode_bounded(serde_yaml::Deserializer::from_str(s), budget)
    }

    #[test]
    fn decodes_what_serde_yaml_decodes() {
        let doc = "kind: ConfigMap\nmetadata: {name: a, labels: {x: \"1\"}}\ndata:\n  k: v\nn: [1, -2, 2.5, true, null, ~]\n";
        let want: Value = serde_yaml::from_str(doc).unwrap();
        assert_eq!(yaml(doc, 1 << 20).unwrap(), want);
        let json_doc = br#"{"a": [1, {"b": "c"}], "d": null}"#;
        let mut de = serde_json::Deserializer::from_slice(json_doc);
        assert_eq!(
            decode_bounded(&mut de, 1024).unwrap(),
            json!({"a": [1, {"b": "c"}], "d": null})
        );
    }

    #[test]
    fn alias_expansion_stops_at_the_budget() {
        // 1 KiB anchor, then 10 levels each doubling it through aliases: about 1 GiB expanded.
        let mut doc = format!("l0: &l0 \"{}\"\n", "x".repeat(1024));
        for i in 1..=20 {
            doc.push_str(&format!("l{i}: &l{i} [*l{p}, *l{p}]\n", p = i - 1));
        }
        let err = yaml(&doc, 3 << 20).unwrap_err();
        assert!(
            matches!(err, BoundedError::TooLarge { budget } if budget == 3 << 20),
            "{err}"
        );
    }

    #[test]
    fn many_aliases_of_one_large_anchor_are_refused() {
        let mut doc = format!("a: &a \"{}\"\nb: [", "x".repeat(64 * 1024));
        doc.push_str(&"*a, ".repeat(10_000));
        doc.push_str("*a]\n");
        assert!(matches!(
            yaml(&doc, 3 << 20),
            Err(BoundedError::TooLarge { .. })
        ));
    }

    #[test]
    fn malformed_input_keeps_the_format_message() {
        let err = yaml("a: [1, 2", 1024).unwrap_err();
        assert!(
            matches!(err, BoundedError::Malformed(ref m) if !m.is_empty()),
            "{err}"
        );
    }
}
