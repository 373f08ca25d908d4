//! The sanitization plan: which paths of a root are kept, how they are grouped into
//! packs, which are hard links, and what is dropped.
//!
//! One pack per Cargo unit means an unchanged unit yields byte-identical tar and so the
//! same content id, which is what makes saves incremental. Leftover files are batched so
//! a target dir does not become thousands of tiny objects.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::layout::{Category, Class, Entry, EntryKind, Profiles, classify};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// What the sanitization plan keeps.
pub struct PlanOptions {
    #[serde(default)]
    /// Keep `incremental/`.
    pub keep_incremental: bool,
    #[serde(default)]
    /// Keep `*.d` dep files.
    pub keep_dep_files: bool,
    /// When set, units not in this set (ids `<profile>/<hash>`) are dropped as unused.
    #[serde(default)]
    pub used_units: Option<BTreeSet<String>>,
    /// Upper bound of a batch of leftover files, in bytes.
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: u64,
}

fn default_batch_bytes() -> u64 {
    32 << 20
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            keep_incremental: false,
            keep_dep_files: false,
            used_units: None,
            batch_bytes: default_batch_bytes(),
        }
    }
}

/// Paths that go into one pack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Unit id (`<profile>/<hash>`) or `batch-<n>`.
    pub name: String,
    /// Package name of a unit; `None` for a batch.
    pub unit: Option<String>,
    /// Its paths, relative to the root.
    pub paths: Vec<String>,
    /// Bytes of file content.
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
/// Files and bytes of one category, and how many of them the plan keeps.
pub struct CategoryStats {
    /// Files listed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files kept.
    pub kept_files: u64,
    /// Their bytes.
    pub kept_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
/// What a save packs from one root, and what it leaves out.
pub struct Plan {
    /// The packs to make, one per unit plus batches of leftovers.
    pub groups: Vec<Group>,
    /// `(path, target)`: `path` is recreated as a hard link of `target`.
    pub links: Vec<(String, String)>,
    /// Top-most dropped paths: deleting these applies the plan.
    pub dropped: Vec<String>,
    /// Files and bytes per category.
    pub categories: BTreeMap<Category, CategoryStats>,
    /// Units left out because this job did not use them.
    pub unused_units: Vec<String>,
}

/// Decides what to keep of a root's listing.
pub fn plan(entries: &[Entry], opts: &PlanOptions) -> Plan {
    let profiles = Profiles::find(entries);
    // Component order keeps every directory's children right after it.
    let path = |i: usize| entries[i].path.split('/');
    let sorted = sort::order(entries.len(), &|a, b| path(a).cmp(path(b)));

    let mut out = Plan::default();
    let mut stats: [Option<CategoryStats>; CATEGORIES] = Default::default();
    // Kept unit paths as `(unit id, package name, entry)`, grouped after the walk.
    let mut unit_files: Vec<(String, String, &Entry)> = Vec::new();
    let mut leftovers: Vec<&Entry> = Vec::new();
    let mut unused = Vec::new();
    let mut kept_files: Vec<(&Entry, bool)> = Vec::new();
    let mut dropped_dirs: Vec<&str> = Vec::new();

    for e in sorted.into_iter().map(|i| &entries[i]) {
        let class = classify(&e.path, &profiles);
        let Some(category) = class.category() else {
            continue;
        };
        let keep = match &class {
            Class::Incremental => opts.keep_incremental,
            Class::DepFile => opts.keep_dep_files,
            Class::Unit { id, .. } => match &opts.used_units {
                Some(used) if !used.contains(id) => {
                    unused.push(id.clone());
                    false
                }
                _ => true,
            },
            _ => true,
        };
        if e.kind != EntryKind::Dir {
            count(&mut stats[category as usize], e.size, keep);
        }
        if !keep {
            let under_dropped = dropped_dirs.last().is_some_and(|d| {
                e.path.starts_with(d) && e.path.as_bytes().get(d.len()) == Some(&b'/')
            });
            if !under_dropped {
                out.dropped.push(e.path.clone());
                if e.kind == EntryKind::Dir {
                    dropped_dirs.push(&e.path);
                }
            }
            continue;
        }
        match class {
            Class::Unit { id, name } => {
                if e.kind != EntryKind::Dir {
                    kept_files.push((e, true));
                }
                unit_files.push((id, name, e));
            }
            _ if e.kind == EntryKind::Dir => {}
            _ => {
                kept_files.push((e, false));
                leftovers.push(e);
            }
        }
    }

    let links = hard_links(&kept_files);
    // `links` is sorted by path, and a path is linked at most once.
    let linked = |p: &str| links.binary_search_by(|(l, _)| l.as_str().cmp(p)).is_ok();
    // A unit's bytes still count its linked files: they are restored, as links.
    out.groups = unit_groups(&unit_files);
    for g in &mut out.groups {
        g.paths.retain(|p| !linked(p));
    }
    leftovers.retain(|e| !linked(&e.path));

    out.groups.extend(batches(&leftovers, opts.batch_bytes));
    out.links = links;
    out.unused_units = sort::sorted_unique(unused);
    // Inserted, not collected: `collect` into a map would bring its own sort routine.
    for (c, s) in ALL_CATEGORIES.into_iter().zip(stats) {
        if let Some(s) = s {
            out.categories.insert(c, s);
        }
    }
    out
}

/// Every [`Category`], in its order as a map key.
const ALL_CATEGORIES: [Category; 5] = [
    Category::Unit,
    Category::Uplifted,
    Category::Incremental,
    Category::DepFile,
    Category::Other,
];
const CATEGORIES: usize = ALL_CATEGORIES.len();

/// Counts one file of a category: present in the plan from its first file on.
fn count(stats: &mut Option<CategoryStats>, size: u64, keep: bool) {
    let s = stats.get_or_insert_with(CategoryStats::default);
    s.files += 1;
    s.bytes += size;
    if keep {
        s.kept_files += 1;
        s.kept_bytes += size;
    }
}

/// One group per unit id, in id order, its paths in walk order; the package name is
/// that of the unit's first path.
fn unit_groups(files: &[(String, String, &Entry)]) -> Vec<Group> {
    let order = sort::order(files.len(), &|a, b| files[a].0.cmp(&files[b].0));
    let mut groups: Vec<Group> = Vec::new();
    for (id, name, e) in order.into_iter().map(|i| &files[i]) {
        if groups.last().is_none_or(|g| g.name != *id) {
            groups.push(Group {
                name: id.clone(),
                unit: Some(name.clone()),
                paths: Vec::new(),
                bytes: 0,
            });
        }
        let g = groups.last_mut().expect("pushed above");
        g.paths.push(e.path.clone());
        g.bytes += e.size;
    }
    groups
}

/// Among kept files sharing a `link_id`, the first unit file (else the first path) is
/// stored; the others become links to it. Sorted by `(path, target)`.
fn hard_links(files: &[(&Entry, bool)]) -> Vec<(String, String)> {
    let candidates: Vec<(u64, bool, &str)> = files
        .iter()
        .filter(|(e, _)| e.kind == EntryKind::File)
        .filter_map(|(e, in_unit)| Some((e.link_id?, *in_unit, e.path.as_str())))
        .collect();
    // By id, then unit files first, then path: each id's primary leads its run.
    let candidates = sort::sorted_by(candidates, |a, b| (a.0, !a.1, a.2).cmp(&(b.0, !b.1, b.2)));
    let mut links = Vec::new();
    let mut primary: Option<(u64, &str)> = None;
    for (id, _, path) in candidates {
        match primary {
            Some((pid, target)) if pid == id => links.push((path.to_string(), target.to_string())),
            _ => primary = Some((id, path)),
        }
    }
    sort::sorted_by(links, Ord::cmp)
}

pub(crate) fn batches(files: &[&Entry], limit: u64) -> Vec<Group> {
    const MAX_FILES: usize = 2000;
    let mut out: Vec<Group> = Vec::new();
    for e in files {
        let full = out.last().is_none_or(|g| {
            g.bytes + e.size > limit && !g.paths.is_empty() || g.paths.len() >= MAX_FILES
        });
        if full {
            out.push(Group {
                name: format!("batch-{}", out.len()),
                unit: None,
                paths: Vec::new(),
                bytes: 0,
            });
        }
        let g = out.last_mut().expect("pushed above");
        g.paths.push(e.path.clone());
        g.bytes += e.size;
    }
    out
}

pub(crate) mod sort;

#[cfg(test)]
mod tests;
