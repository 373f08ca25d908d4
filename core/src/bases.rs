//! Which pack a new pack may be stored as a patch against, and how a restore fetches
//! patches and their bases.
//!
//! A dependency bump or an edit rebuilds a unit and relinks the binary: new bytes, but
//! mostly the old ones moved around. Stored as a patch against the same unit's pack in
//! the snapshot this job restored, such a pack costs a fraction of its compressed size.
//! A package built twice in one job (two feature sets) is the same case within one
//! save: see [`siblings`]. Bases are always whole packs, and a restore downloads each
//! base once, however many patches need it ([`fetches`]).

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

/// About how many bytes a new pack of `new_bytes` would take stored whole, judged by the
/// base `base` it would be patched against: that pack's compression ratio, when it is
/// stored whole in `previous`. A delta save then makes the patch first, straight from
/// the files, and compresses the whole pack only when the patch would not pay
/// ([`patch_pays`]) against this estimate: a rebuilt unit compresses like its previous
/// build.
pub fn whole_estimate(previous: &[PackRef], base: &str, new_bytes: u64) -> Option<u64> {
    let whole = previous
        .iter()
        .find(|p| p.id == base && p.base.is_none() && p.bytes > 0)?;
    let estimate = u128::from(whole.stored) * u128::from(new_bytes) / u128::from(whole.bytes);
    Some(u64::try_from(estimate).unwrap_or(u64::MAX))
}

/// What a patch being encoded holds beyond its window of the base, in MiB: the
/// encoder's block buffers and index, and the buffers of the thread that decodes it
/// again as it is written (about 40 MB for bat's binary).
pub const PATCH_OVERHEAD_MIB: u32 = 40;

/// The MiB that the patches a save encodes at once may hold, each its window plus
/// [`PATCH_OVERHEAD_MIB`] ([`patch_cost_mib`]). A save that packs little (after a
/// restore, the units a commit changed: at most 256 MiB of them) holds few upload
/// buffers, so a binary's patch and a library's run side by side; one that packs much
/// makes one patch at a time (two at once put bat's target at twice its size over
/// 200 MB).
pub fn patch_budget_mib(to_pack: u64) -> u32 {
    if packs_little(to_pack) { 192 } else { 100 }
}

/// Whether a new patch is decoded and checked by a second thread while it is written,
/// rather than after: only in a save that packs little. A save that packs much has its
/// cores taken already, and the checker's buffers (about 18 MB) beside the encoder's
/// put twice bat's target over 200 MB.
pub fn check_while_writing(to_pack: u64) -> bool {
    packs_little(to_pack)
}

/// A save of the units a commit changed, not of a whole target.
fn packs_little(to_pack: u64) -> bool {
    to_pack <= 256 << 20
}

/// The MiB a patch holding `window` bytes of its base takes out of `budget`.
pub fn patch_cost_mib(window: u64, budget: u32) -> u32 {
    let mib = u32::try_from(window.div_ceil(1 << 20)).unwrap_or(u32::MAX);
    mib.saturating_add(PATCH_OVERHEAD_MIB).min(budget)
}

/// The whole packs of a restored snapshot that a restore keeps (compressed, as
/// downloaded) for the next save's patches: those [`pick`] would choose for a new build
/// of a workspace member (`members`, package names), the units a commit most often
/// changes. A save then patches them without downloading their bases again.
pub fn kept_for_patches(
    packs: &[PackRef],
    members: &std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<String> {
    packs
        .iter()
        .filter(|p| p.bytes >= PATCH_MIN_BYTES)
        .filter(|p| p.unit.as_ref().is_some_and(|u| members.contains(u)))
        .map(|p| p.base.clone().unwrap_or_else(|| p.id.clone()))
        .collect()
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
/// when this save stores patches at all (`patches`: not with `--no-patches`, nor for
/// the registry layer). The store must still show it young enough to reference.
pub fn reusable_known<'a>(
    object: &'a str,
    patches: bool,
    distrust: &std::collections::BTreeSet<String>,
) -> Option<(&'a str, Option<&'a str>)> {
    let (id, base) = crate::manifest::parse_object_name(object)?;
    (!distrust.contains(object) && (base.is_none() || patches)).then_some((id, base))
}

/// A group of this save before it is packed, as the sibling choice sees it.
pub struct Candidate<'a> {
    /// The root of its paths.
    pub root: &'a str,
    /// Unit id (`<profile>/<hash>`) or `batch-<n>`.
    pub group: &'a str,
    /// The package name of a unit; `None` for a batch.
    pub unit: Option<&'a str>,
    /// Bytes of file content.
    pub bytes: u64,
}

/// For each of `groups`, the group of the same save it may be stored as a patch against
/// (its index), if any. One package is often built twice in one job: `cargo build` and
/// `cargo test` unify features apart, a build dependency differs from a normal one. The
/// two units are mostly the same bytes, and a patch against the other costs a restore
/// nothing extra, since it downloads that pack anyway.
///
/// Biggest first, a unit becomes a base (whole, never patched against a sibling) unless
/// a base of the same package, root and profile dir is alike in size (within 1/16);
/// then it is patched against the closest in size. Batches and units under
/// [`PATCH_MIN_BYTES`] take no part.
pub fn siblings(groups: &[Candidate<'_>]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(groups[i].bytes));
    let mut out = vec![None; groups.len()];
    let mut bases: Vec<usize> = Vec::new();
    for i in order {
        let g = &groups[i];
        let (Some(unit), Some(profile)) = (g.unit, profile_of(g.group)) else {
            continue;
        };
        if g.bytes < PATCH_MIN_BYTES {
            continue;
        }
        let kin = |b: &&usize| {
            let b = &groups[**b];
            b.root == g.root
                && b.unit == Some(unit)
                && profile_of(b.group) == Some(profile)
                && b.group != g.group
                && alike_in_size(b.bytes, g.bytes)
        };
        // Bases come biggest first: the last that fits is the closest in size.
        match bases.iter().rfind(kin) {
            Some(&b) => out[i] = Some(b),
            None => bases.push(i),
        }
    }
    out
}

/// Whether two units of one package are close enough in size to be two builds of the
/// same code: at most 1/16 apart. Units further apart were built from other code (a build
/// script's compile and run, a library with other features) and their patches do not
/// pay: bat's two regex-syntax builds, 8 % apart, give a patch of 79 % of the pack, its
/// two binaries (same size) one of 21 %. Not trying saves a save the encode.
fn alike_in_size(a: u64, b: u64) -> bool {
    let (small, large) = (a.min(b), a.max(b));
    large - small <= small / 16
}

/// How a restore fetches the packs of a snapshot (indexes into its packs).
#[derive(Debug, PartialEq, Eq)]
pub enum Fetch {
    /// A whole pack that no other pack is a patch against: streamed in.
    Whole(usize),
    /// Patches against one base, which is downloaded once for all of them; `whole` is
    /// the base's own pack when the snapshot holds it whole, restored from that same
    /// download.
    Shared {
        /// The base pack's id.
        base: String,
        /// The snapshot's whole pack of that id, if any.
        whole: Option<usize>,
        /// The packs stored as patches against it.
        patches: Vec<usize>,
    },
}

/// Groups `packs` so that each base is downloaded once: patches by their base, with the
/// base's own whole pack when the snapshot holds it.
pub fn fetches(packs: &[PackRef]) -> Vec<Fetch> {
    let mut shared: std::collections::BTreeMap<&str, (Option<usize>, Vec<usize>)> =
        Default::default();
    for (i, p) in packs.iter().enumerate() {
        if let Some(base) = &p.base {
            shared.entry(base).or_default().1.push(i);
        }
    }
    let mut out = Vec::new();
    for (i, p) in packs.iter().enumerate() {
        if p.base.is_some() {
            continue;
        }
        match shared.get_mut(p.id.as_str()) {
            Some((whole @ None, _)) => *whole = Some(i),
            _ => out.push(Fetch::Whole(i)),
        }
    }
    out.extend(
        shared
            .into_iter()
            .map(|(base, (whole, patches))| Fetch::Shared {
                base: base.to_string(),
                whole,
                patches,
            }),
    );
    out
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
    fn patches_run_side_by_side_only_when_a_save_packs_little() {
        let mib = |n: u64| n << 20;
        // bat's delta save: its binary's patch (67 MiB of base) beside its library's.
        let calm = patch_budget_mib(mib(95));
        assert!(patch_cost_mib(mib(67), calm) + patch_cost_mib(mib(19), calm) <= calm);
        assert!(2 * patch_cost_mib(mib(67), calm) > calm);
        // A first save: sibling patches (16 MiB windows) one at a time.
        let busy = patch_budget_mib(mib(600));
        assert!(2 * patch_cost_mib(mib(16), busy) > busy);
        // A window larger than the budget still gets it all, alone.
        assert_eq!(patch_cost_mib(mib(1024), busy), busy);
        assert!(check_while_writing(mib(95)) && !check_while_writing(mib(600)));
    }

    #[test]
    fn a_restore_keeps_the_bases_of_its_members_units() {
        let previous = [
            old('a', "debug/1111", "app", 64 << 20, None),
            old('b', "debug/2222", "app", 64 << 20, Some('c')),
            old('d', "debug/3333", "serde", 64 << 20, None),
            old('e', "debug/4444", "app", 1000, None),
        ];
        let members = ["app".to_string()].into();
        let kept: Vec<String> = kept_for_patches(&previous, &members).into_iter().collect();
        // A patch's base, not the patch; not a dependency, nor a pack too small to patch.
        assert_eq!(kept, ["a".repeat(64), "c".repeat(64)]);
    }

    #[test]
    fn a_whole_estimate_follows_the_base_packs_own_ratio() {
        // Stored at a quarter of their bytes (see `old`).
        let previous = [
            old('a', "debug/1111", "app", 64 << 20, None),
            old('b', "debug/2222", "app", 64 << 20, Some('a')),
        ];
        let a = "a".repeat(64);
        assert_eq!(whole_estimate(&previous, &a, 80 << 20), Some(20 << 20));
        // A patch is no base, and a base outside the snapshot gives no estimate.
        assert_eq!(whole_estimate(&previous, &"b".repeat(64), 80 << 20), None);
        assert_eq!(whole_estimate(&previous, &"c".repeat(64), 80 << 20), None);
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

    fn cand<'a>(group: &'a str, unit: Option<&'a str>, bytes: u64) -> Candidate<'a> {
        Candidate {
            root: "target",
            group,
            unit,
            bytes,
        }
    }

    #[test]
    fn a_unit_built_twice_in_one_save_is_patched_against_its_sibling() {
        let groups = [
            cand("debug/aaaa", Some("bat"), 20 << 20),
            cand("debug/bbbb", Some("bat"), 70 << 20),
            cand("debug/cccc", Some("bat"), 70 << 20),
            cand("debug/dddd", Some("bat"), 19 << 20),
            cand("debug/eeee", Some("serde"), 19 << 20),
            cand("release/ffff", Some("bat"), 69 << 20),
            cand("batch-0", None, 70 << 20),
            cand("debug/gggg", Some("bat"), 1000),
        ];
        let got = siblings(&groups);
        // The biggest of a kind is whole; the lib pair is too far from the binaries.
        assert_eq!(got[1], None);
        assert_eq!(got[2], Some(1));
        assert_eq!(got[0], None);
        assert_eq!(got[3], Some(0));
        // Another package, another profile, a batch and a small unit: whole.
        assert_eq!(&got[4..], &[None, None, None, None]);
    }

    #[test]
    fn a_sibling_base_is_closest_in_size_and_never_another_root() {
        let mut groups = vec![
            cand("debug/aaaa", Some("app"), 32 << 20),
            cand("debug/bbbb", Some("app"), 31 << 20),
            cand("debug/cccc", Some("app"), 29 << 20),
            cand("debug/dddd", Some("app"), 30 << 20),
            cand("debug/eeee", Some("app"), 28 << 20),
        ];
        // 31 MiB is within 1/16 of 32; 30 is not and starts a base of its own, which 29
        // takes; 28 is too far from 30 and becomes a base too.
        assert_eq!(siblings(&groups), vec![None, Some(0), Some(3), None, None]);
        groups[1].root = "build";
        assert_eq!(siblings(&groups), vec![None, None, Some(3), None, None]);
    }

    #[test]
    fn units_far_apart_in_size_are_never_siblings() {
        assert!(alike_in_size(16, 17) && alike_in_size(17, 16));
        assert!(!alike_in_size(16, 18));
        assert!(alike_in_size(0, 0) && !alike_in_size(0, 1));
        assert!(alike_in_size(u64::MAX, u64::MAX));
    }

    fn pack(id: char, base: Option<char>) -> PackRef {
        let mut p = old(id, "debug/1111", "app", 1 << 20, base);
        p.group = format!("debug/{id}");
        p
    }

    #[test]
    fn a_shared_base_is_fetched_once_with_its_own_pack() {
        let packs = [
            pack('a', None),
            pack('b', Some('a')),
            pack('c', Some('z')),
            pack('d', None),
            pack('e', Some('a')),
            pack('f', Some('z')),
        ];
        let z = "z".repeat(64);
        assert_eq!(
            fetches(&packs),
            vec![
                Fetch::Whole(3),
                Fetch::Shared {
                    base: "a".repeat(64),
                    whole: Some(0),
                    patches: vec![1, 4]
                },
                Fetch::Shared {
                    base: z,
                    whole: None,
                    patches: vec![2, 5]
                },
            ]
        );
    }

    #[test]
    fn every_pack_is_fetched_exactly_once() {
        let packs = [pack('a', None), pack('a', None), pack('b', Some('a'))];
        let fetched = fetches(&packs);
        let mut seen: Vec<usize> = fetched
            .iter()
            .flat_map(|f| match f {
                Fetch::Whole(i) => vec![*i],
                Fetch::Shared { whole, patches, .. } => {
                    whole.iter().chain(patches).copied().collect()
                }
            })
            .collect();
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2]);
    }
}
