//! Never stuck: which stored snapshot a restore may use, and whether a save creates,
//! replaces or leaves alone the snapshot stored at its key. One bad object (an
//! unreadable manifest, a missing or corrupt pack, an empty snapshot) must not disable
//! the cache until someone runs `gc`. The rule is documented in docs/format.md.

use std::collections::BTreeSet;

use crate::Manifest;
use crate::output::{HitKind, SaveOutcome};
use crate::usage::RestoreSeen;

/// What a save found at its own key.
#[derive(Clone, Debug)]
pub enum Stored<'a> {
    /// Nothing there.
    Absent,
    /// There, but not a manifest this version reads (bad JSON, bad fields).
    Unreadable,
    /// A manifest of a newer schema: a newer cargo-stash owns it.
    Newer,
    /// A readable manifest, and which of the objects it names are missing from the store
    /// or were found corrupt by this job's restore.
    Readable {
        /// The stored snapshot.
        manifest: &'a Manifest,
        /// Objects (`<id>` or `<id>.<base>`) it names that are missing or corrupt.
        bad_objects: &'a BTreeSet<String>,
    },
}

/// What a save does at its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Publish {
    /// This job built nothing worth a snapshot: publish nothing.
    Nothing,
    /// No snapshot yet: create it (create-if-absent; a concurrent save may win).
    Create,
    /// The stored snapshot cannot serve this job's build: overwrite it with a complete one.
    Replace(Why),
    /// The stored snapshot is as good as this one: "already saved".
    Keep,
}

/// Why a stored snapshot is replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// It could not be read: bad JSON, bad fields, an older schema.
    Unreadable,
    /// Objects it names are missing or corrupt (how many).
    BadPacks(usize),
    /// Units this job built that it lacks (how many).
    MissingUnits(usize),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Unreadable => f.write_str("the stored snapshot is unreadable"),
            Why::BadPacks(n) => {
                write!(f, "{n} packs of the stored snapshot are missing or corrupt")
            }
            Why::MissingUnits(n) => {
                write!(f, "the stored snapshot lacks {n} units this job built")
            }
        }
    }
}

/// Whether a pack group counts as built content: a unit or a registry crate, not a
/// batch of loose files (`.rustc_info.json`, `CACHEDIR.TAG`) that every target dir has.
pub fn is_content(group: &str) -> bool {
    !group.starts_with("batch-")
}

/// The save's decision. `built` holds `(root, group)` of every content group this job
/// would publish.
pub fn decide(stored: &Stored<'_>, built: &BTreeSet<(String, String)>) -> Publish {
    if built.is_empty() {
        return Publish::Nothing;
    }
    match stored {
        Stored::Absent => Publish::Create,
        Stored::Unreadable => Publish::Replace(Why::Unreadable),
        Stored::Newer => Publish::Keep,
        Stored::Readable {
            manifest,
            bad_objects,
        } => {
            let bad = manifest
                .packs
                .iter()
                .filter(|p| p.needs_any(bad_objects))
                .count();
            if bad > 0 {
                return Publish::Replace(Why::BadPacks(bad));
            }
            let have: BTreeSet<(&str, &str)> = manifest
                .packs
                .iter()
                .map(|p| (p.root.as_str(), p.group.as_str()))
                .collect();
            let lacking = built
                .iter()
                .filter(|(r, g)| !have.contains(&(r.as_str(), g.as_str())))
                .count();
            if lacking > 0 {
                Publish::Replace(Why::MissingUnits(lacking))
            } else {
                Publish::Keep
            }
        }
    }
}

/// The packs of a stored snapshot that a replacing save keeps: those of units this job
/// did not build (another job on the same key, or units this one did not use), when
/// none of their objects is missing or corrupt. Two jobs that share a key but build
/// different units thus converge on a snapshot holding both, instead of replacing each
/// other's units on every save.
pub fn carried_over(
    stored: &Manifest,
    bad_objects: &BTreeSet<String>,
    built: &BTreeSet<(String, String)>,
) -> Vec<crate::PackRef> {
    stored
        .packs
        .iter()
        .filter(|p| is_content(&p.group))
        .filter(|p| !built.contains(&(p.root.clone(), p.group.clone())))
        .filter(|p| !p.needs_any(bad_objects))
        .cloned()
        .collect()
}

/// Whether a save after an exact hit may skip itself: every content group this job would
/// publish came from the restored snapshot (`restored`, or left out there as path-bound:
/// same unit ids, `path_bound`). A unit this job built that the snapshot lacks means the
/// snapshot is partial, and the save must go on and replace it.
pub fn exact_hit_covers(
    restored: &BTreeSet<(String, String)>,
    path_bound: &BTreeSet<String>,
    built: &BTreeSet<(String, String)>,
) -> bool {
    built.iter().all(|(root, group)| {
        restored.contains(&(root.clone(), group.clone())) || path_bound.contains(group)
    })
}

/// Whether a restore may use a readable snapshot: one without a single pack (what a
/// save with no target dir used to publish) restores nothing and would only hide an
/// older, useful one.
pub fn restorable(manifest: &Manifest) -> bool {
    !manifest.packs.is_empty()
}

/// Why a restore of `layer` passes over a readable snapshot, or `None` when it may use
/// it. One that would write outside the layer's directories is passed over like an
/// unreadable one, so an older good snapshot, and the other layer, still restore.
pub fn unusable(manifest: &Manifest, layer: crate::Layer) -> Option<String> {
    if manifest.check_layer(layer).is_err() {
        return Some(format!(
            "it would write outside the {layer} layer's directories; the manifest was not \
             written by cargo-stash, check who may write this store"
        ));
    }
    (!restorable(manifest)).then(|| "it holds no pack".to_string())
}

/// Whether a save at `key` may skip itself after this job's restore (when
/// [`exact_hit_covers`] too): only after an exact hit on this very key whose every pack
/// restored. The key may have changed since the restore (a file edited in between).
pub fn skip_after_exact_hit(key: &str, restore: Option<&RestoreSeen<'_>>) -> bool {
    restore.is_some_and(|r| {
        r.hit == HitKind::Exact && r.restored_key == Some(key) && r.packs_failed == 0
    })
}

/// This job's packs plus, when the decision replaces the stored snapshot, the packs it
/// keeps of it ([`carried_over`]).
pub fn snapshot_packs(
    mut packs: Vec<crate::PackRef>,
    carried: Vec<crate::PackRef>,
    decision: &Publish,
) -> Vec<crate::PackRef> {
    if matches!(decision, Publish::Replace(_)) {
        packs.extend(carried);
    }
    packs
}

/// Whether a snapshot with these packs is worth publishing: one without a content pack
/// would restore nothing and, at a key, would only hide a better one.
pub fn worth_publishing(packs: &[crate::PackRef]) -> bool {
    packs.iter().any(|p| is_content(&p.group))
}

impl Publish {
    /// The save's outcome when the decision publishes nothing; `None` when it goes on.
    pub fn outcome_without_publishing(&self) -> Option<SaveOutcome> {
        match self {
            Publish::Nothing => Some(SaveOutcome::NothingToSave),
            Publish::Keep => Some(SaveOutcome::AlreadySaved),
            Publish::Create | Publish::Replace(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PackRef;
    use crate::manifest::MANIFEST_SCHEMA;

    fn pack(id: char, group: &str) -> PackRef {
        PackRef {
            id: id.to_string().repeat(64),
            root: "target".into(),
            group: group.into(),
            unit: None,
            files: 1,
            bytes: 1,
            stored: 1,
            base: None,
            path_bound: None,
        }
    }

    fn manifest(packs: Vec<PackRef>) -> Manifest {
        Manifest {
            schema: MANIFEST_SCHEMA,
            layer: "target".into(),
            key: "k".into(),
            created: 0,
            tool: "t".into(),
            roots: Default::default(),
            packs,
            links: Vec::new(),
            inputs: Vec::new(),
            sources: None,
            anchors: None,
        }
    }

    fn built(groups: &[&str]) -> BTreeSet<(String, String)> {
        groups
            .iter()
            .map(|g| ("target".to_string(), g.to_string()))
            .collect()
    }

    #[test]
    fn nothing_built_publishes_nothing() {
        assert_eq!(decide(&Stored::Absent, &built(&[])), Publish::Nothing);
        assert_eq!(decide(&Stored::Unreadable, &built(&[])), Publish::Nothing);
    }

    #[test]
    fn absent_creates_and_unreadable_is_replaced() {
        let b = built(&["debug/1"]);
        assert_eq!(decide(&Stored::Absent, &b), Publish::Create);
        assert_eq!(
            decide(&Stored::Unreadable, &b),
            Publish::Replace(Why::Unreadable)
        );
        assert_eq!(decide(&Stored::Newer, &b), Publish::Keep);
    }

    #[test]
    fn bad_packs_are_replaced_even_when_units_match() {
        let m = manifest(vec![pack('a', "debug/1"), pack('b', "debug/2")]);
        let mut bad = BTreeSet::new();
        bad.insert("b".repeat(64));
        let stored = Stored::Readable {
            manifest: &m,
            bad_objects: &bad,
        };
        assert_eq!(
            decide(&stored, &built(&["debug/1", "debug/2"])),
            Publish::Replace(Why::BadPacks(1))
        );
        // A patch whose base is bad is bad too.
        let mut patched = pack('c', "debug/3");
        patched.base = Some("b".repeat(64));
        let m = manifest(vec![patched]);
        let stored = Stored::Readable {
            manifest: &m,
            bad_objects: &bad,
        };
        assert_eq!(
            decide(&stored, &built(&["debug/3"])),
            Publish::Replace(Why::BadPacks(1))
        );
    }

    #[test]
    fn fewer_units_are_replaced_more_are_kept() {
        let none = BTreeSet::new();
        let m = manifest(vec![pack('a', "debug/1"), pack('b', "debug/2")]);
        let stored = Stored::Readable {
            manifest: &m,
            bad_objects: &none,
        };
        assert_eq!(decide(&stored, &built(&["debug/1"])), Publish::Keep);
        assert_eq!(
            decide(&stored, &built(&["debug/1", "debug/2"])),
            Publish::Keep
        );
        assert_eq!(
            decide(&stored, &built(&["debug/1", "debug/3", "debug/4"])),
            Publish::Replace(Why::MissingUnits(2))
        );
        // An empty snapshot (what an older version published for a save with no target/)
        // is replaced by the first real save.
        let empty = manifest(Vec::new());
        let stored = Stored::Readable {
            manifest: &empty,
            bad_objects: &none,
        };
        assert_eq!(
            decide(&stored, &built(&["debug/1"])),
            Publish::Replace(Why::MissingUnits(1))
        );
    }

    #[test]
    fn only_snapshots_with_packs_restore() {
        assert!(!restorable(&manifest(Vec::new())));
        assert!(restorable(&manifest(vec![pack('a', "batch-0")])));
        assert_eq!(
            unusable(&manifest(Vec::new()), crate::Layer::Target).as_deref(),
            Some("it holds no pack")
        );
        assert_eq!(
            unusable(&manifest(vec![pack('a', "batch-0")]), crate::Layer::Target),
            None
        );
        // Target packs in a registry snapshot would write outside CARGO_HOME's parts.
        let outside = unusable(
            &manifest(vec![pack('a', "batch-0")]),
            crate::Layer::Registry,
        )
        .unwrap();
        assert!(outside.contains("outside the registry layer"), "{outside}");
    }

    #[test]
    fn a_replacing_save_keeps_the_good_units_it_did_not_build() {
        let mut stored = manifest(vec![
            pack('a', "debug/a"),
            pack('b', "debug/b"),
            pack('c', "debug/c"),
        ]);
        stored.packs.push(pack('d', "batch-0"));
        let bad: BTreeSet<String> = ["c".repeat(64)].into();
        let kept = carried_over(&stored, &bad, &built(&["debug/a", "debug/x"]));
        let groups: Vec<&str> = kept.iter().map(|p| p.group.as_str()).collect();
        // a: rebuilt by this job; c: corrupt; batch: never carried.
        assert_eq!(groups, ["debug/b"]);
    }

    #[test]
    fn an_exact_hit_covers_only_what_the_snapshot_held() {
        let restored = built(&["debug/a", "debug/b"]);
        let bound: BTreeSet<String> = ["debug/p".to_string()].into();
        assert!(exact_hit_covers(
            &restored,
            &bound,
            &built(&["debug/a", "debug/p"])
        ));
        assert!(!exact_hit_covers(
            &restored,
            &bound,
            &built(&["debug/a", "debug/new"])
        ));
    }

    #[test]
    fn exact_hit_skips_only_when_complete_and_on_this_key() {
        let seen = |hit, key, failed| RestoreSeen {
            hit,
            restored_key: Some(key),
            atime_works: true,
            packs_failed: failed,
        };
        assert!(skip_after_exact_hit(
            "k",
            Some(&seen(HitKind::Exact, "k", 0))
        ));
        assert!(!skip_after_exact_hit(
            "k",
            Some(&seen(HitKind::Exact, "k", 1))
        ));
        // The key changed since the restore.
        assert!(!skip_after_exact_hit(
            "k2",
            Some(&seen(HitKind::Exact, "k", 0))
        ));
        assert!(!skip_after_exact_hit(
            "k",
            Some(&seen(HitKind::Fallback, "k", 0))
        ));
        assert!(!skip_after_exact_hit("k", None));
    }

    #[test]
    fn a_replacement_carries_packs_and_empty_snapshots_are_not_published() {
        let carried = vec![pack('b', "debug/b")];
        let mine = || vec![pack('a', "debug/a")];
        let replace = Publish::Replace(Why::MissingUnits(1));
        assert_eq!(snapshot_packs(mine(), carried.clone(), &replace).len(), 2);
        assert_eq!(snapshot_packs(mine(), carried, &Publish::Create).len(), 1);
        assert!(worth_publishing(&mine()));
        assert!(!worth_publishing(&[pack('c', "batch-0")]));
        assert_eq!(
            Publish::Keep.outcome_without_publishing(),
            Some(SaveOutcome::AlreadySaved)
        );
        assert_eq!(
            Publish::Nothing.outcome_without_publishing(),
            Some(SaveOutcome::NothingToSave)
        );
        assert_eq!(Publish::Create.outcome_without_publishing(), None);
        assert_eq!(replace.outcome_without_publishing(), None);
    }
}
