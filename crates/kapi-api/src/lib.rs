//! Kubernetes API machinery for kapi, free of I/O.
//!
//! Everything here is a pure function of its input, so it compiles fast, fuzzes easily and is
//! shared by the server, the CLI and clients: the resource table, Status errors, object metadata
//! rules, label and field selectors, patches, Table printers (with the JSONPath dialect of custom
//! resources' printer columns) and the protobuf request envelope.
//!
//! ```
//! let sel = kapi_api::selectors::LabelSelector::parse("app=web,tier in (a,b)").unwrap();
//! let labels = [("app".to_string(), "web".to_string()), ("tier".to_string(), "a".to_string())];
//! assert!(sel.matches(&labels.into_iter().collect()));
//! ```

pub mod apply;
pub mod bounded;
pub mod conversion;
pub mod jsonpath;
pub mod meta;
pub mod patch;
pub mod printers;
pub mod protobuf;
pub mod quantity;
pub mod resources;
pub mod selectors;
pub mod status;
