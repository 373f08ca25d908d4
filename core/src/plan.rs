//! The sanitization plan: which paths of a root are kept, how they are grouped into
//! packs, which are hard links, and what is dropped.
//!
//! One pack per Cargo unit means an unchanged unit yields byte-identical tar and so the
//! same content id, which is what makes saves incremental. Leftover files are batched so
//! a target dir does not become thousands of tiny objects.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::layout::{Category, Class, Entry, EntryKind, Profiles, classify};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanOptions {
    #[serde(default)]
    pub keep_incremental: bool,
    #[serde(default)]
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
    pub paths: Vec<String>,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryStats {
    pub files: u64,
    pub bytes: u64,
    pub kept_files: u64,
    pub kept_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub groups: Vec<Group>,
    /// `(path, target)`: `path` is recreated as a hard link of `target`.
    pub links: Vec<(String, String)>,
    /// Top-most dropped paths: deleting these applies the plan.
    pub dropped: Vec<String>,
    pub categories: BTreeMap<Category, CategoryStats>,
    /// Units left out because this job did not use them.
    pub unused_units: Vec<String>,
}

/// Decides what to keep of a root's listing.
pub fn plan(entries: &[Entry], opts: &PlanOptions) -> Plan {
    let profiles = Profiles::find(entries);
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    // Component order keeps every directory's children right after it.
    sorted.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));

    let mut out = Plan::default();
    let mut units: BTreeMap<String, Group> = BTreeMap::new();
    let mut leftovers: Vec<&Entry> = Vec::new();
    let mut unused = BTreeSet::new();
    let mut kept_files: Vec<(&Entry, bool)> = Vec::new();
    let mut dropped_dirs: Vec<&str> = Vec::new();

    for e in sorted {
        let class = classify(&e.path, &profiles);
        let Some(category) = class.category() else {
            continue;
        };
        let keep = match &class {
            Class::Incremental => opts.keep_incremental,
            Class::DepFile => opts.keep_dep_files,
            Class::Unit { id, .. } => match &opts.used_units {
                Some(used) if !used.contains(id) => {
                    unused.insert(id.clone());
                    false
                }
                _ => true,
            },
            _ => true,
        };
        if e.kind != EntryKind::Dir {
            let stats = out.categories.entry(category).or_default();
            stats.files += 1;
            stats.bytes += e.size;
            if keep {
                stats.kept_files += 1;
                stats.kept_bytes += e.size;
            }
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
                let g = units.entry(id.clone()).or_insert_with(|| Group {
                    name: id,
                    unit: Some(name),
                    paths: Vec::new(),
                    bytes: 0,
                });
                if e.kind != EntryKind::Dir {
                    kept_files.push((e, true));
                }
                g.paths.push(e.path.clone());
                g.bytes += e.size;
            }
            _ if e.kind == EntryKind::Dir => {}
            _ => {
                kept_files.push((e, false));
                leftovers.push(e);
            }
        }
    }

    let links = hard_links(&kept_files);
    let linked: BTreeSet<&str> = links.iter().map(|(p, _)| p.as_str()).collect();
    for g in units.values_mut() {
        g.paths.retain(|p| !linked.contains(p.as_str()));
    }
    leftovers.retain(|e| !linked.contains(e.path.as_str()));

    out.groups = units.into_values().collect();
    out.groups.extend(batches(&leftovers, opts.batch_bytes));
    out.links = links;
    out.unused_units = unused.into_iter().collect();
    out
}

/// Among kept files sharing a `link_id`, the first unit file (else the first path) is
/// stored; the others become links to it.
fn hard_links(files: &[(&Entry, bool)]) -> Vec<(String, String)> {
    let mut by_id: HashMap<u64, Vec<(&Entry, bool)>> = HashMap::new();
    for (e, in_unit) in files {
        if let (Some(id), EntryKind::File) = (e.link_id, e.kind) {
            by_id.entry(id).or_default().push((e, *in_unit));
        }
    }
    let mut links = Vec::new();
    for (_, mut same) in by_id {
        if same.len() < 2 {
            continue;
        }
        same.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.path.cmp(&b.0.path)));
        let primary = &same[0].0.path;
        for (e, _) in &same[1..] {
            links.push((e.path.clone(), primary.clone()));
        }
    }
    links.sort();
    links
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

#[cfg(test)]
mod tests;
