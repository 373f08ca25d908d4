//! stash-core's output types -> JSON text, in the shape their serde derives give (field
//! names and order, lower/kebab-case enums), which `cargo stash ... --json` also prints.

use std::collections::BTreeMap;

use stash_core::key::{ExplainLine, Segment};
use stash_core::layout::Class;
use stash_core::plan::CategoryStats;
use stash_core::sources::{MtimeAction, MtimePlan};
use stash_core::{Category, Key, KeySet, Plan, RustcInfo};

use crate::json::Writer;

pub fn key_set(k: &KeySet) -> String {
    let mut w = Writer::default();
    w.open('{').key("target");
    key(&mut w, &k.target);
    w.key("registry");
    key(&mut w, &k.registry);
    w.key("explain");
    explain_lines(&mut w, &k.explain);
    w.close('}');
    w.out
}

fn key(w: &mut Writer, k: &Key) {
    w.open('{')
        .key("key")
        .str(&k.key)
        .key("ladder")
        .str_array(&k.ladder);
    w.close('}');
}

/// `{restore: [[path, mtime_s, mtime_ns]], touch: [path], restored, touched}`.
pub fn mtime_plan(p: &MtimePlan) -> String {
    let mut w = Writer::default();
    w.open('{').key("restore").open('[');
    for (path, action) in &p.actions {
        if let MtimeAction::Restore { mtime_s, mtime_ns } = action {
            w.open('[')
                .str(path)
                .uint(*mtime_s as u64)
                .uint(u64::from(*mtime_ns));
            w.close(']');
        }
    }
    w.close(']').key("touch").open('[');
    for (path, action) in &p.actions {
        if matches!(action, MtimeAction::Touch) {
            w.str(path);
        }
    }
    w.close(']')
        .key("restored")
        .uint(p.restored)
        .key("touched")
        .uint(p.touched);
    w.close('}');
    w.out
}

/// A JSON array of strings.
pub fn strings(items: &[String]) -> String {
    let mut w = Writer::default();
    w.str_array(items);
    w.out
}

pub fn explain(lines: &[ExplainLine]) -> String {
    let mut w = Writer::default();
    explain_lines(&mut w, lines);
    w.out
}

fn explain_lines(w: &mut Writer, lines: &[ExplainLine]) {
    w.open('[');
    for l in lines {
        w.open('{').str_fields(&[
            ("input", &l.input),
            ("segment", segment(l.segment)),
            ("value", &l.value),
            ("digest", &l.digest),
        ]);
        w.close('}');
    }
    w.close(']');
}

fn segment(s: Segment) -> &'static str {
    match s {
        Segment::Prefix => "prefix",
        Segment::Toolchain => "toolchain",
        Segment::Config => "config",
        Segment::Deps => "deps",
        Segment::Suffix => "suffix",
    }
}

pub fn rustc_info(r: &RustcInfo) -> String {
    let mut w = Writer::default();
    w.open('{').str_fields(&[
        ("release", &r.release),
        ("commit_hash", &r.commit_hash),
        ("host", &r.host),
    ]);
    w.close('}');
    w.out
}

pub fn string_map(map: &BTreeMap<String, String>) -> String {
    let mut w = Writer::default();
    w.open('{');
    for (k, v) in map {
        w.key(k).str(v);
    }
    w.close('}');
    w.out
}

/// `[{path, class, unit?, name?}]`, one per path.
pub fn classified<'a>(items: impl Iterator<Item = (&'a str, Class)>) -> String {
    let mut w = Writer::default();
    w.open('[');
    for (path, class) in items {
        w.open('{').key("path").str(path).key("class");
        match class {
            Class::Unit { id, name } => {
                w.str("unit").str_fields(&[("unit", &id), ("name", &name)]);
            }
            other => {
                w.str(class_name(&other));
            }
        }
        w.close('}');
    }
    w.close(']');
    w.out
}

fn class_name(c: &Class) -> &'static str {
    match c {
        Class::Unit { .. } => "unit",
        Class::Uplifted => "uplifted",
        Class::Incremental => "incremental",
        Class::DepFile => "dep-file",
        Class::Other => "other",
        Class::Internal => "internal",
    }
}

pub fn plan(p: &Plan) -> String {
    let mut w = Writer::default();
    w.open('{').key("groups").open('[');
    for g in &p.groups {
        w.open('{').key("name").str(&g.name);
        w.key("unit").opt_str(g.unit.as_deref());
        w.key("paths").str_array(&g.paths);
        w.key("bytes").uint(g.bytes).close('}');
    }
    w.close(']').key("links").open('[');
    for (path, target) in &p.links {
        w.open('[').str(path).str(target).close(']');
    }
    w.close(']').key("dropped").str_array(&p.dropped);
    w.key("categories").open('{');
    for (c, stats) in &p.categories {
        w.key(category(*c));
        category_stats(&mut w, stats);
    }
    w.close('}').key("unused_units").str_array(&p.unused_units);
    w.close('}');
    w.out
}

fn category(c: Category) -> &'static str {
    match c {
        Category::Unit => "unit",
        Category::Uplifted => "uplifted",
        Category::Incremental => "incremental",
        Category::DepFile => "dep-file",
        Category::Other => "other",
    }
}

fn category_stats(w: &mut Writer, s: &CategoryStats) {
    w.open('{');
    w.key("files").uint(s.files).key("bytes").uint(s.bytes);
    w.key("kept_files").uint(s.kept_files);
    w.key("kept_bytes").uint(s.kept_bytes);
    w.close('}');
}
