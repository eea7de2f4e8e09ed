//! Query strings and content negotiation.

use kapi_api::status::ApiError;

/// A decoded query string, in order, repeated keys kept.
#[derive(Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    /// Parses `a=b&c=d`.
    pub fn parse(raw: &str) -> Self {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order (exec's repeated `command`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `key` is true, spelled as Go's `strconv.ParseBool` accepts it (`true`, `True`,
    /// `1`, ...); values that are not booleans are refused where the parameter is parsed.
    pub fn flag(&self, key: &str) -> bool {
        matches!(
            crate::registry::list_options::parse_bool(key, self.get(key)),
            Ok(Some(true))
        )
    }
}

/// The response shape a client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The object or list itself.
    Object,
    /// A `meta.k8s.io/v1` Table.
    Table,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
}

/// Picks the response shape from `Accept`; 406 when nothing offered can be produced.
pub fn shape(accept: &str) -> Result<Shape, ApiError> {
    if accept.trim().is_empty() {
        return Ok(Shape::Object);
    }
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        let params: Vec<&str> = params.collect();
        let has = |k: &str, v: &str| {
            params.iter().any(|p| {
                p.split_once('=')
                    .is_some_and(|(a, b)| a.trim() == k && b.trim() == v)
            })
        };
        let json_like = matches!(
            media,
            "application/json" | "*/*" | "application/*" | "application/yaml"
        );
        if !json_like {
            continue;
        }
        if has("as", "Table") {
            if has("v", "v1") || has("v", "v1beta1") {
                return Ok(Shape::Table);
            }
            continue;
        }
        if has("as", "PartialObjectMetadataList") || has("as", "PartialObjectMetadata") {
            return Ok(Shape::Metadata);
        }
        if params.iter().any(|p| p.starts_with("as=")) {
            continue;
        }
        return Ok(Shape::Object);
    }
    Err(ApiError::not_acceptable(
        "application/json, application/yaml, application/vnd.kubernetes.protobuf",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(shape(accept).unwrap(), Shape::Table);
        assert_eq!(
            shape("application/vnd.kubernetes.protobuf,application/json").unwrap(),
            Shape::Object
        );
        assert_eq!(
            shape("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io").unwrap(),
            Shape::Metadata
        );
        assert!(shape("application/vnd.kubernetes.protobuf").is_err());
    }

    #[test]
    fn queries_decode() {
        let q = Query::parse("labelSelector=app%3Dfoo%2Ctier+in+%28a%2Cb%29&watch=1&bad=%zz&end=%");
        assert_eq!(q.get("labelSelector"), Some("app=foo,tier in (a,b)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("end"), Some("%"));
    }
}
