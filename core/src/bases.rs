//! Which pack of the previous snapshot a new pack may be stored as a patch against.
//!
//! A dependency bump or an edit rebuilds a unit and relinks the binary: new bytes, but
//! mostly the old ones moved around. Stored as a patch against the same unit's pack in
//! the snapshot this job restored, such a pack costs a fraction of its compressed size.
//! Bases are always whole packs, so a restore fetches at most one extra object per pack.

use crate::manifest::{ExpansionCap, PackRef};

/// Packs smaller than this are stored whole: a patch would save little, and each one
/// costs a restore an extra download.
pub const PATCH_MIN_BYTES: u64 = 1 << 20;

/// The most tar a restore reads of the base of a pack that may expand to `cap`: twice
/// that, plus 1 MiB. A base is about the size of the pack patched against it, and this
/// bounds the disk a forged manifest can make a restore fill. A save reads a base no
/// further, so it never writes a patch that a restore would refuse.
pub fn base_tar_limit(cap: ExpansionCap) -> u64 {
    cap.tar.saturating_mul(2).saturating_add(1 << 20)
}

/// Whether a patch of `patch_bytes` is stored instead of the whole pack
/// (`whole_bytes`, compressed): only at most half its size, since restoring a patch
/// costs a second download (the base) and a base tar in memory.
pub fn patch_pays(patch_bytes: u64, whole_bytes: u64) -> bool {
    patch_bytes.saturating_mul(2) <= whole_bytes
}

/// A new pack, as the base choice sees it.
pub struct NewPack<'a> {
    /// Its content id: a pack is never a patch against itself.
    pub id: &'a str,
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
/// `None` for batches, packs under 1 MiB, and units the previous snapshot did not have.
/// A base more than twice the pack's size is not used (see [`base_tar_limit`]). There is
/// no upper bound: bases are read from a file, never held in memory.
pub fn pick<'a>(new: &NewPack<'_>, previous: &'a [PackRef]) -> Option<&'a str> {
    let unit = new.unit?;
    if new.bytes < PATCH_MIN_BYTES {
        return None;
    }
    let profile = profile_of(new.group)?;
    previous
        .iter()
        .filter(|p| {
            p.root == new.root
                && p.unit.as_deref() == Some(unit)
                && profile_of(&p.group) == Some(profile)
                && p.bytes <= new.bytes.saturating_mul(2)
        })
        .min_by_key(|p| p.bytes.abs_diff(new.bytes))
        .map(|p| p.base.as_deref().unwrap_or(&p.id))
        .filter(|base| *base != new.id)
}

/// The stored object a save may reference for a group whose bytes it already knows
/// were stored as `object` (a pack id, or a patch's `<id>.<base>`), split as
/// `(id, base)`: never one this job's restore found bad (`distrust`), and a patch only
/// when this save stores patches at all (`patches`: a restored snapshot, no
/// `--no-patches`). The store must still show it young enough to reference.
pub fn reusable_known<'a>(
    object: &'a str,
    patches: bool,
    distrust: &std::collections::BTreeSet<String>,
) -> Option<(&'a str, Option<&'a str>)> {
    let (id, base) = crate::manifest::parse_object_name(object)?;
    (!distrust.contains(object) && (base.is_none() || patches)).then_some((id, base))
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
            id: "n",
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
    fn a_pack_is_never_its_own_base() {
        let previous = [old('a', "debug/1111", "app", 70 << 20, None)];
        let same = "a".repeat(64);
        let mut unchanged = new("debug/1111", Some("app"), 70 << 20);
        unchanged.id = &same;
        assert_eq!(pick(&unchanged, &previous), None);
    }

    #[test]
    fn known_objects_are_reused_unless_bad_and_patches_only_with_patches_on() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let patch = format!("{a}.{b}");
        let none = std::collections::BTreeSet::new();
        assert_eq!(reusable_known(&a, false, &none), Some((a.as_str(), None)));
        assert_eq!(
            reusable_known(&patch, true, &none),
            Some((a.as_str(), Some(b.as_str())))
        );
        assert_eq!(reusable_known(&patch, false, &none), None);
        assert_eq!(reusable_known(&a, true, &[a.clone()].into()), None);
        assert_eq!(reusable_known("not-an-object", true, &none), None);
    }

    #[test]
    fn a_patch_pays_at_half_the_pack_or_less() {
        assert!(patch_pays(50, 100));
        assert!(!patch_pays(51, 100));
        assert!(patch_pays(0, 0));
        assert!(!patch_pays(u64::MAX / 2 + 1, u64::MAX - 1));
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
        // A base more than twice the pack's size, whatever their size.
        assert_eq!(
            pick(&new("debug/1111", Some("app"), 34 << 20), &previous),
            None
        );
        assert_eq!(
            pick(&new("debug/1111", Some("app"), 3 << 30), &previous),
            Some(&*"a".repeat(64))
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
