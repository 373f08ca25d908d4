//! Short, stable digests used in keys. Every field is length-prefixed so that moving
//! bytes between two fields can never produce the same digest.

use sha2::{Digest, Sha256};

#[derive(Default)]
pub(crate) struct Hasher(Sha256);

impl Hasher {
    pub(crate) fn field(&mut self, name: &str, value: &str) -> &mut Self {
        for part in [name, value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part.as_bytes());
        }
        self
    }

    /// The first `len` hex characters of the digest.
    pub(crate) fn short(self, len: usize) -> String {
        let full = self.0.finalize();
        let mut hex = String::with_capacity(64);
        for byte in full.iter() {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex.truncate(len);
        hex
    }
}

/// Digest of a single value, for `--explain`.
pub(crate) fn short_of(name: &str, value: &str) -> String {
    let mut h = Hasher::default();
    h.field(name, value);
    h.short(8)
}
