//! Which pack of the previous snapshot a new pack may be stored as a patch against.
//!
//! A dependency bump or an edit rebuilds a unit and relinks the binary: new bytes, but
//! mostly the old ones moved around. Stored as a patch against the same unit's pack in
//! the snapshot this job restored, such a pack costs a fraction of its compressed size.
//! Bases are always whole packs, so a restore fetches at most one extra object per pack.

use crate::manifest::PackRef;

/// Packs smaller than this are stored whole: a patch would save little, and each one
/// costs a restore an extra download.
pub const PATCH_MIN_BYTES: u64 = 1 << 20;

/// Larger bases are not used: save and restore hold a base's tar in memory.
pub const BASE_MAX_BYTES: u64 = 256 << 20;

/// A new pack, as the base choice sees it.
pub struct NewPack<'a> {
    /// The root of its paths.
    pub root: &'a str,
    /// Unit id (`<profile>/<hash>`) or `batch-<n>`.
    pub group: &'a str,
    /// The package name of a unit; `None` for a batch.
    pub unit: Option<&'a str>,
    /// Bytes of file content.
    pub bytes: u64,
}

/// The base for `new` among `previous` (the restored snapshot's packs): the pack of the
/// same package in the same root and profile dir that is closest in size (a library and
/// a binary of one package are distinct units), or its base when it is itself a patch.
/// `None` for batches, packs under 1 MiB or over 256 MiB, and units the previous
/// snapshot did not have.
pub fn pick<'a>(new: &NewPack<'_>, previous: &'a [PackRef]) -> Option<&'a str> {
    let unit = new.unit?;
    if !(PATCH_MIN_BYTES..=BASE_MAX_BYTES).contains(&new.bytes) {
        return None;
    }
    let profile = profile_of(new.group)?;
    previous
        .iter()
        .filter(|p| {
            p.root == new.root
                && p.unit.as_deref() == Some(unit)
                && profile_of(&p.group) == Some(profile)
                && p.bytes <= BASE_MAX_BYTES
        })
        .min_by_key(|p| p.bytes.abs_diff(new.bytes))
        .map(|p| p.base.as_deref().unwrap_or(&p.id))
}

/// `debug` of `debug/0a1b2c3d4e5f6789` (and `debug/build/pkg` of the new build-dir
/// layout's `debug/build/pkg/<hash>`).
fn profile_of(group: &str) -> Option<&str> {
    group.rsplit_once('/').map(|(profile, _)| profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(id: char, group: &str, unit: &str, bytes: u64, base: Option<char>) -> PackRef {
        PackRef {
            id: id.to_string().repeat(64),
            root: "target".into(),
            group: group.into(),
            unit: Some(unit.into()),
            files: 3,
            bytes,
            stored: bytes / 4,
            base: base.map(|b| b.to_string().repeat(64)),
            path_bound: None,
        }
    }

    fn new<'a>(group: &'a str, unit: Option<&'a str>, bytes: u64) -> NewPack<'a> {
        NewPack {
            root: "target",
            group,
            unit,
            bytes,
        }
    }

    #[test]
    fn picks_the_same_unit_closest_in_size_in_the_same_profile() {
        let previous = [
            old('a', "debug/1111", "app", 70 << 20, None),
            old('b', "debug/2222", "app", 20 << 20, None),
            old('c', "release/3333", "app", 21 << 20, None),
            old('d', "debug/4444", "serde", 21 << 20, None),
        ];
        let lib = new("debug/5555", Some("app"), 21 << 20);
        assert_eq!(pick(&lib, &previous), Some(&*"b".repeat(64)));
        let bin = new("debug/6666", Some("app"), 69 << 20);
        assert_eq!(pick(&bin, &previous), Some(&*"a".repeat(64)));
        let rel = new("release/7777", Some("app"), 60 << 20);
        assert_eq!(pick(&rel, &previous), Some(&*"c".repeat(64)));
    }

    #[test]
    fn a_patch_is_never_a_base_its_base_is() {
        let previous = [old('a', "debug/1111", "app", 70 << 20, Some('z'))];
        let bin = new("debug/1111", Some("app"), 70 << 20);
        assert_eq!(pick(&bin, &previous), Some(&*"z".repeat(64)));
    }

    #[test]
    fn batches_small_packs_and_new_units_get_none() {
        let previous = [old('a', "debug/1111", "app", 70 << 20, None)];
        assert_eq!(pick(&new("batch-0", None, 70 << 20), &previous), None);
        assert_eq!(pick(&new("debug/1111", Some("app"), 1000), &previous), None);
        assert_eq!(
            pick(&new("debug/1111", Some("app"), 300 << 20), &previous),
            None
        );
        assert_eq!(
            pick(&new("debug/9999", Some("other"), 70 << 20), &previous),
            None
        );
        let mut elsewhere = new("debug/1111", Some("app"), 70 << 20);
        elsewhere.root = "build";
        assert_eq!(pick(&elsewhere, &previous), None);
    }
}
