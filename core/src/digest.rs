//! Short, stable digests used in keys. Every field is length-prefixed so that moving
//! bytes between two fields can never produce the same digest.
//!
//! SHA-256 is `sha2`'s, unless the host registered its own with [`use_host_sha256`]: the
//! wasm module hands the bytes to Node's (native, SHA-NI) implementation, which hashes a
//! large Cargo.lock many times faster than SHA-256 compiled to wasm. Same function, same
//! digests. In wasm the host's is the only one (`sha2` stays out of the module).

use std::sync::OnceLock;

#[cfg(not(target_arch = "wasm32"))]
use sha2::{Digest, Sha256};

/// A host's SHA-256: the digest of the whole message.
pub type HostSha256 = fn(&[u8]) -> [u8; 32];

static HOST_SHA256: OnceLock<HostSha256> = OnceLock::new();

/// Makes every later digest use `sha256`, which must compute SHA-256. The first call wins.
pub fn use_host_sha256(sha256: HostSha256) {
    let _ = HOST_SHA256.set(sha256);
}

pub(crate) enum Hasher {
    #[cfg(not(target_arch = "wasm32"))]
    Own(Sha256),
    /// The message, hashed at once by the host's function.
    Host(Vec<u8>, HostSha256),
}

impl Default for Hasher {
    fn default() -> Self {
        match HOST_SHA256.get() {
            Some(&f) => Hasher::Host(Vec::new(), f),
            #[cfg(not(target_arch = "wasm32"))]
            None => Hasher::Own(Sha256::default()),
            #[cfg(target_arch = "wasm32")]
            None => panic!("stash-core in wasm needs the host's SHA-256: call use_host_sha256"),
        }
    }
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            #[cfg(not(target_arch = "wasm32"))]
            Hasher::Own(h) => h.update(bytes),
            Hasher::Host(buf, _) => buf.extend_from_slice(bytes),
        }
    }

    pub(crate) fn field(&mut self, name: &str, value: &str) -> &mut Self {
        for part in [name, value] {
            self.update(&(part.len() as u64).to_le_bytes());
            self.update(part.as_bytes());
        }
        self
    }

    /// The first `len` hex characters of the digest.
    pub(crate) fn short(self, len: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let full: [u8; 32] = match self {
            #[cfg(not(target_arch = "wasm32"))]
            Hasher::Own(h) => h.finalize().into(),
            Hasher::Host(buf, f) => f(&buf),
        };
        let mut hex = String::with_capacity(64);
        for &byte in full.iter() {
            hex.push(HEX[usize::from(byte >> 4)] as char);
            hex.push(HEX[usize::from(byte & 0xf)] as char);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_own_sha256_give_the_same_digests() {
        let own = |parts: &[(&str, &str)]| {
            let mut h = Hasher::Own(Sha256::default());
            for (n, v) in parts {
                h.field(n, v);
            }
            h.short(64)
        };
        let host = |parts: &[(&str, &str)]| {
            let mut h = Hasher::Host(Vec::new(), |m| Sha256::digest(m).into());
            for (n, v) in parts {
                h.field(n, v);
            }
            h.short(64)
        };
        let big = "x".repeat(100_000);
        for parts in [
            &[][..],
            &[("a", "")],
            &[("schema", "1"), ("Cargo.lock", &big)],
        ] {
            assert_eq!(own(parts), host(parts));
        }
        // SHA-256 of the empty message.
        assert!(own(&[]).starts_with("e3b0c44298fc1c149afbf4c8996fb924"));
        assert_eq!(own(&[("a", "b")]).len(), 64);
    }
}
