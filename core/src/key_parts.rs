//! A stored key read back into its segments: the inverse of [`crate::key::compute`].
//!
//! `gc --keep` counts snapshots per restore rung, so it must find a key's rung exactly
//! as `compute` built it. Every segment `compute` writes is sanitized to `[A-Za-z0-9._]`,
//! so `-` only ever separates segments and a key splits without ambiguity once the
//! `stash<schema>` head is found: at the start, or after the one-segment user prefix.

/// The layer-specific segments of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyLayer<'a> {
    /// `<os>-<arch>-<toolchain>-<config>`.
    Target {
        /// Platform: `linux`, `macos`, `windows`.
        os: &'a str,
        /// Architecture, e.g. `x64`.
        arch: &'a str,
        /// rustc release and commit, e.g. `1.95.0_59807616`.
        toolchain: &'a str,
        /// Digest of the config inputs (flags, targets, profile, env, CARGO_HOME).
        config: &'a str,
    },
    /// The literal `registry`.
    Registry,
}

/// A key as `[prefix-]stash<schema>-<layer segments>-<deps>[-suffix]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyParts<'a> {
    /// The user's `--prefix`, if any.
    pub prefix: Option<&'a str>,
    /// Key schema version, the `N` of `stashN`.
    pub schema: u32,
    /// Which layer the key names, with the target layer's own segments.
    pub layer: KeyLayer<'a>,
    /// Digest of the lockfile inputs.
    pub deps: &'a str,
    /// The user's `--suffix`, if any.
    pub suffix: Option<&'a str>,
}

/// Length of the digest segments (config, deps) `compute` writes.
const DIGEST_LEN: usize = 10;

impl<'a> KeyParts<'a> {
    /// Reads a key `compute` wrote (of any schema); `None` for anything else.
    pub fn parse(key: &'a str) -> Option<KeyParts<'a>> {
        let parts: Vec<&str> = key.split('-').collect();
        // Without a prefix first: a prefix such as `stash2` also looks like a head, and
        // only one of the two readings has digests where they belong.
        (0..=1).find_map(|head| Self::at(&parts, head))
    }

    /// The reading with the `stash<schema>` head at `parts[head]`.
    fn at(parts: &[&'a str], head: usize) -> Option<KeyParts<'a>> {
        let prefix = match head {
            0 => None,
            _ => Some(*parts.first()?).filter(|p| !p.is_empty()),
        };
        if head > 0 && prefix.is_none() {
            return None;
        }
        let schema = parts
            .get(head)?
            .strip_prefix("stash")
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))?
            .parse()
            .ok()?;
        let rest = &parts[head + 1..];
        let (layer, deps, tail) = match rest {
            ["registry", deps, tail @ ..] => (KeyLayer::Registry, *deps, tail),
            [os, arch, toolchain, config, deps, tail @ ..]
                if !os.is_empty() && !arch.is_empty() && is_digest(config) =>
            {
                let layer = KeyLayer::Target {
                    os,
                    arch,
                    toolchain,
                    config,
                };
                (layer, *deps, tail)
            }
            _ => return None,
        };
        let suffix = match tail {
            [] => None,
            [s] if !s.is_empty() => Some(*s),
            _ => return None,
        };
        if !is_digest(deps) {
            return None;
        }
        Some(KeyParts {
            prefix,
            schema,
            layer,
            deps,
            suffix,
        })
    }

    /// The last rung of the key's restore ladder, which every key of one config (target)
    /// or of the registry shares across dependency changes:
    /// `[prefix-]stashN-os-arch-toolchain-config-` or `[prefix-]stashN-registry-`.
    pub fn rung(&self) -> String {
        let mut out = String::new();
        if let Some(p) = self.prefix {
            out.push_str(p);
            out.push('-');
        }
        out.push_str(&format!("stash{}-", self.schema));
        match &self.layer {
            KeyLayer::Target {
                os,
                arch,
                toolchain,
                config,
            } => out.push_str(&format!("{os}-{arch}-{toolchain}-{config}-")),
            KeyLayer::Registry => out.push_str("registry-"),
        }
        out
    }
}

/// The rung `gc --keep` counts `key` under: [`KeyParts::rung`], or the key itself when
/// it is not one `compute` wrote (it then ranks alone).
pub fn rung_of(key: &str) -> String {
    KeyParts::parse(key).map_or_else(|| key.to_string(), |p| p.rung())
}

fn is_digest(s: &str) -> bool {
    s.len() == DIGEST_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KEY_SCHEMA, KeyInputs, RustcInfo, compute};

    fn inputs(prefix: &str, suffix: &str, rustflags: &str) -> KeyInputs {
        KeyInputs {
            schema: KEY_SCHEMA,
            prefix: prefix.into(),
            suffix: suffix.into(),
            os: "linux".into(),
            arch: "x64".into(),
            rustc: RustcInfo {
                release: "1.95.0".into(),
                commit_hash: "59807616e1".into(),
                host: "x86_64-unknown-linux-gnu".into(),
            },
            profile: "dev".into(),
            env: [("RUSTFLAGS".to_string(), rustflags.to_string())].into(),
            cargo_home: "/home/ci/.cargo".into(),
            lockfile: Some("version = 4\n".into()),
            ..Default::default()
        }
    }

    /// Whatever the prefix and suffix, the rung read back from a key is the last rung of
    /// the ladder `compute` gave it.
    #[test]
    fn the_rung_read_back_is_the_ladders_last_rung() {
        let names = [
            "", "stash2", "stash1", "job-a", "registry", "x", "a b", "stash", "stash2x",
        ];
        for prefix in names {
            for suffix in names {
                let keys = compute(&inputs(prefix, suffix, "")).unwrap();
                for k in [&keys.target, &keys.registry] {
                    let parts = KeyParts::parse(&k.key)
                        .unwrap_or_else(|| panic!("{} did not parse", k.key));
                    assert_eq!(&parts.rung(), k.ladder.last().unwrap(), "{}", k.key);
                    assert_eq!(parts.prefix.is_some(), !prefix.is_empty(), "{}", k.key);
                    assert_eq!(parts.suffix.is_some(), !suffix.is_empty(), "{}", k.key);
                }
            }
        }
    }

    /// Issue 15: with `--prefix stash2`, gc read the prefix as the head and dropped the
    /// config segment, so `--keep` ranked snapshots of two configs together.
    #[test]
    fn a_prefix_like_a_head_keeps_the_config_segment() {
        let a = compute(&inputs("stash2", "", "")).unwrap().target.key;
        let b = compute(&inputs("stash2", "", "-Copt-level=1"))
            .unwrap()
            .target
            .key;
        assert_ne!(rung_of(&a), rung_of(&b), "{a} / {b}");
        assert!(rung_of(&a).starts_with("stash2-stash1-linux-x64-1.95.0_59807616-"));
        assert_eq!(rung_of(&a).split('-').count(), 7, "{}", rung_of(&a));
        assert_eq!(
            rung_of("stash2-stash1-linux-x64-1.95.0_59807616-eb564e911a-a1acae545a"),
            "stash2-stash1-linux-x64-1.95.0_59807616-eb564e911a-"
        );
    }

    #[test]
    fn known_keys_and_strangers() {
        assert_eq!(
            rung_of("stash1-linux-x64-1.95.0_59807616-eb564e911a-a1acae545a"),
            "stash1-linux-x64-1.95.0_59807616-eb564e911a-"
        );
        assert_eq!(
            rung_of("job_a-stash1-linux-x64-1.95.0_59807616-eb564e911a-a1acae545a-abc123"),
            "job_a-stash1-linux-x64-1.95.0_59807616-eb564e911a-"
        );
        assert_eq!(rung_of("stash1-registry-a1acae545a"), "stash1-registry-");
        assert_eq!(
            rung_of("stash2-stash1-registry-a1acae545a-abc"),
            "stash2-stash1-registry-"
        );
        for stranger in [
            "not-a-stash-key",
            "stash1-registry-short",
            "stash1-linux-x64-1.95.0_59807616-eb564e911a-a1acae545a-s-t",
            "a-b-stash1-registry-a1acae545a",
            "-stash1-registry-a1acae545a",
        ] {
            assert_eq!(KeyParts::parse(stranger), None, "{stranger}");
            assert_eq!(rung_of(stranger), stranger);
        }
    }
}
