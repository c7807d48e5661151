//! BQE CORE (specs/partners/NOTES.md §4 and §0): GUID ids; refused bodies answered 400 (an
//! ASP.NET Web API); every record carries a `version` that each write replaces, and a PUT
//! whose `version` is not the stored one is refused with 409 `OutDatedModel`; the company
//! has one employee (the user who connected) before anything is made.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{Quirks, Refusal};
use crate::rest::{now, Record, Rest};

pub struct BqeCore {
    /// The last version given, as SQL Server's `rowversion` counts.
    versions: AtomicU64,
}

/// BQE CORE's quirks (every sandbox of the app counts versions on one counter).
pub static BQE_CORE: BqeCore = BqeCore { versions: AtomicU64::new(0) };

impl BqeCore {
    /// The next version: an 8-byte counter in base64 (`AAAAAAAAB9E=`).
    fn next_version(&self) -> String {
        let version = self.versions.fetch_add(1, Ordering::Relaxed) + 2001;
        STANDARD.encode(version.to_be_bytes())
    }
}

/// A GUID (`3f2504e0-4f89-41d3-9a0c-0305e82c3301`) from the sandbox's seeded generator.
fn guid(rng: &mut dyn RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

impl Quirks for BqeCore {
    fn new_id(&self, rng: &mut ChaCha8Rng) -> String {
        guid(rng)
    }

    fn seed(&self, rest: &Rest, rng: &mut ChaCha8Rng) {
        let stamp = now();
        let employee = json!({
            "id": guid(rng),
            "firstName": "Ada",
            "lastName": "Lovelace",
            "displayName": "Lovelace, Ada",
            "email": "ada@firm.example",
            "isActive": true,
            "createdOn": stamp,
            "lastUpdated": stamp,
            "version": self.next_version(),
        });
        if let Value::Object(record) = employee {
            rest.insert("/employee", record);
        }
    }

    fn invalid_status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn check_update(&self, stored: &Record, changes: &Record) -> Result<(), Refusal> {
        let given = changes.get("version").and_then(Value::as_str);
        let current = stored.get("version").and_then(Value::as_str);
        if given.is_some() && given == current {
            return Ok(());
        }
        Err(Refusal {
            status: StatusCode::CONFLICT,
            code: "OutDatedModel",
            message: format!(
                "OutDatedModel: the record was changed since version {} was read (it is at {}); read it again and send its current version",
                given.unwrap_or("(none)"),
                current.unwrap_or("(none)")
            ),
        })
    }

    fn created(&self, _resource: &str, _records: &[Record], record: &mut Record, _account: &str) {
        record.insert("version".into(), Value::String(self.next_version()));
    }

    fn updated(&self, _resource: &str, record: &mut Record) {
        record.insert("version".into(), Value::String(self.next_version()));
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::guid;

    #[test]
    fn ids_are_version_4_guids() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let id = guid(&mut rng);
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{id}");
    }
}
