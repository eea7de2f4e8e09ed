//! The NodePorts in use as one `RangeAllocation` object at `/registry/ranges/servicenodeports`,
//! as kube-apiserver keeps them, so that servers sharing a store (kapi's or kube-apiserver's)
//! never hand out the same port: a bitmap (bit `i` for port `start + i`, stored as the
//! big-endian bytes of that number, as Go's `big.Int` gives them) changed only by a write at the
//! revision it was read at, retried when another server wrote in between.

use std::collections::HashSet;

use base64::Engine;
use kapi_api::status::ApiError;
use kapi_store::StoreError;
use serde_json::{json, Value};

use super::claims::ClaimError;
use super::{stored, Registry};

/// Where the bitmap lives.
pub const KEY: &str = "/registry/ranges/servicenodeports";
/// The range kapi serves NodePorts from.
pub const RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;
/// How often a write that lost a race is tried again before giving up.
const ATTEMPTS: usize = 64;
/// Writes of this process take turns, so that they never race each other for the one key
/// (only another server's writes can come between a read and its write).
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The ports set in a bitmap whose bit 0 is port `start`.
fn ports_of(data: &[u8], start: u16) -> HashSet<u16> {
    let mut out = HashSet::new();
    for (byte_at, byte) in data.iter().rev().enumerate() {
        for bit in 0..8 {
            if byte >> bit & 1 == 1 {
                let offset = byte_at * 8 + bit;
                if let Some(port) = u16::try_from(offset)
                    .ok()
                    .and_then(|o| start.checked_add(o))
                {
                    out.insert(port);
                }
            }
        }
    }
    out
}

/// The bitmap of `ports` from `start`, with no leading zero bytes.
fn bitmap(ports: &HashSet<u16>, start: u16) -> Vec<u8> {
    let offsets: Vec<usize> = ports
        .iter()
        .filter(|p| **p >= start)
        .map(|p| usize::from(*p - start))
        .collect();
    let Some(top) = offsets.iter().max() else {
        return Vec::new();
    };
    let mut out = vec![0u8; top / 8 + 1];
    let last = out.len() - 1;
    for o in offsets {
        out[last - o / 8] |= 1 << (o % 8);
    }
    out
}

/// The range's first port as the object names it (`"30000-32767"`).
fn start_of(obj: &Value) -> u16 {
    obj.get("range")
        .and_then(Value::as_str)
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(*RANGE.start())
}

/// The stored allocation object and the revision it was written at.
type Stored = Option<(i64, Value)>;

/// The stored allocation, if any yet, and its ports.
fn read(registry: &Registry) -> Result<(Stored, HashSet<u16>), ApiError> {
    let Some(kv) = registry.store().get(KEY) else {
        return Ok((None, HashSet::new()));
    };
    let obj = super::decode(&kv.value)?;
    let data = obj
        .get("data")
        .and_then(Value::as_str)
        .map(|d| base64::engine::general_purpose::STANDARD.decode(d))
        .transpose()
        .map_err(|e| ApiError::internal(format!("{KEY}: {e}")))?
        .unwrap_or_default();
    let ports = ports_of(&data, start_of(&obj));
    Ok((Some((kv.mod_revision, obj)), ports))
}

/// Every port in use.
pub fn in_use(registry: &Registry) -> HashSet<u16> {
    read(registry).map(|(_, ports)| ports).unwrap_or_default()
}

/// Changes the set of ports with `change` (which answers whether it changed anything) and
/// writes it back at the revision it was read at, again from a fresh read when another
/// writer came first.
async fn update(
    registry: &Registry,
    change: impl Fn(&mut HashSet<u16>) -> Result<bool, ClaimError>,
) -> Result<(), ClaimError> {
    let _turn = TURN.lock().await;
    for _ in 0..ATTEMPTS {
        let (current, mut ports) = read(registry).map_err(ClaimError::Failed)?;
        if !change(&mut ports)? {
            return Ok(());
        }
        let (revision, mut obj) = current.unwrap_or_else(|| {
            (
                0,
                json!({
                    "apiVersion": "v1", "kind": "RangeAllocation",
                    "metadata": {"creationTimestamp": super::write::now()},
                    "range": format!("{}-{}", RANGE.start(), RANGE.end()),
                }),
            )
        });
        let data = bitmap(&ports, start_of(&obj));
        obj["data"] = json!(base64::engine::general_purpose::STANDARD.encode(data));
        let value = stored::encode(obj).map_err(ClaimError::Failed)?;
        let store = registry.store();
        let written = if revision == 0 {
            store.create(KEY, value).await
        } else {
            store.update(KEY, Some(revision), value).await
        };
        match written {
            Ok(_) => return Ok(()),
            Err(StoreError::AlreadyExists(_) | StoreError::Conflict { .. }) => {
                // Another server wrote first: read what it wrote.
                registry.sync().await.map_err(ClaimError::Failed)?;
            }
            Err(e) => return Err(ClaimError::Failed(ApiError::internal(e))),
        }
    }
    Err(ClaimError::Failed(ApiError::internal(
        "failed to allocate a nodePort: too many concurrent allocations",
    )))
}

/// Marks `port` in use; [`ClaimError::Taken`] if it is.
pub async fn claim(registry: &Registry, port: u16) -> Result<(), ClaimError> {
    update(registry, |ports| {
        if ports.insert(port) {
            Ok(true)
        } else {
            Err(ClaimError::Taken)
        }
    })
    .await
}

/// Marks every one of `ports` in use, whether or not it already was (repair).
pub async fn mark(registry: &Registry, ports: &[u16]) -> Result<(), ClaimError> {
    update(registry, |set| {
        let before = set.len();
        set.extend(ports.iter().copied());
        Ok(set.len() != before)
    })
    .await
}

/// Frees `ports`.
pub async fn release(registry: &Registry, ports: &[u16]) -> Result<(), ClaimError> {
    if ports.is_empty() {
        return Ok(());
    }
    update(registry, |set| {
        let before = set.len();
        set.retain(|p| !ports.contains(p));
        Ok(set.len() != before)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bitmap_is_a_big_endian_number_with_bit_i_for_port_start_plus_i() {
        let ports: HashSet<u16> = [30000, 30009, 30086].into_iter().collect();
        let bytes = bitmap(&ports, 30000);
        // Bits 0, 9 and 86: eleven bytes, the highest first.
        assert_eq!(bytes.len(), 11);
        assert_eq!(
            bytes[0], 0b0100_0000,
            "bit 86 = byte 10 from the end, bit 6"
        );
        assert_eq!(bytes[9], 0b10, "bit 9");
        assert_eq!(bytes[10], 0b1, "bit 0");
        assert_eq!(ports_of(&bytes, 30000), ports);
        assert!(bitmap(&HashSet::new(), 30000).is_empty());
        assert!(ports_of(&[], 30000).is_empty());
        assert_eq!(
            start_of(&json!({"range": "31000-31999"})),
            31000,
            "another server's range is read as it says"
        );
    }
}
