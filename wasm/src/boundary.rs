//! The JSON boundary: JSON text in through serde, with an error that names the bad field
//! (serde_path_to_error), and JSON text out through serde. The shapes are the serde
//! derives of stash-core's types, the same that `cargo stash … --json` prints.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use stash_core::layout::Class;
use stash_core::sources::{MtimeAction, MtimePlan};

/// `what`'s JSON text as a `T`, or a message naming `what` and the bad field:
/// `inputs: field `rustc.release`: invalid type: number `1`, expected a string`.
pub fn read<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let place = match e.path().to_string().as_str() {
            "." => String::new(),
            path => format!("field `{path}`: "),
        };
        describe(what, &place, text, e.inner())
    })?;
    de.end().map_err(|e| describe(what, "", text, &e))?;
    Ok(value)
}

/// One message for a serde_json error: a syntax error says where in the text (as a byte
/// offset: these texts are one line), a data error says what was wrong with the field.
fn describe(what: &str, place: &str, text: &str, e: &serde_json::Error) -> String {
    let reason = without_position(e);
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            let at = byte_offset(text, e.line(), e.column());
            format!("{what}: invalid JSON at byte {at}: {reason}")
        }
        Category::Data => format!("{what}: {place}{reason}"),
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// serde_json's 1-based line and column (in bytes) as a 0-based byte offset.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let before: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (before + column.saturating_sub(1)).min(text.len())
}

/// `value` as JSON text. The types written here serialize infallibly (no maps with
/// non-string keys), so a failure is a bug worth a panic message.
pub fn write<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stash-core output types serialize to JSON")
}

/// One path's class, as `classify` returns it: `{path, class, unit?, name?}`.
#[derive(Serialize)]
pub struct Classified<'a> {
    path: &'a str,
    class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

impl<'a> Classified<'a> {
    pub fn new(path: &'a str, class: &'a Class) -> Self {
        let (class, unit, name) = match class {
            Class::Unit { id, name } => ("unit", Some(id.as_str()), Some(name.as_str())),
            Class::Uplifted => ("uplifted", None, None),
            Class::Incremental => ("incremental", None, None),
            Class::DepFile => ("dep-file", None, None),
            Class::Other => ("other", None, None),
            Class::Internal => ("internal", None, None),
        };
        Classified {
            path,
            class,
            unit,
            name,
        }
    }
}

/// A content-gated mtime plan as the GitHub Action applies it:
/// `{restore: [[path, mtime_s, mtime_ns]], touch: [path], restored, touched}`.
#[derive(Serialize)]
pub struct MtimePlanOut<'a> {
    restore: Vec<(&'a str, i64, u32)>,
    touch: Vec<&'a str>,
    restored: u64,
    touched: u64,
}

impl<'a> MtimePlanOut<'a> {
    pub fn new(plan: &'a MtimePlan) -> Self {
        let mut out = MtimePlanOut {
            restore: Vec::new(),
            touch: Vec::new(),
            restored: plan.restored,
            touched: plan.touched,
        };
        for (path, action) in &plan.actions {
            match *action {
                MtimeAction::Restore { mtime_s, mtime_ns } => {
                    out.restore.push((path, mtime_s, mtime_ns))
                }
                MtimeAction::Touch => out.touch.push(path),
            }
        }
        out
    }
}
