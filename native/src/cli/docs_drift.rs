//! The CLI docs are checked against clap, the one source of the command line: every
//! option of every command is listed in docs/cli.md ("Commands"), every command in the
//! README's table, and neither lists an option or command that does not exist. The
//! `--json` documents of docs/cli.md ("JSON output") are checked against the output
//! types in stash-core the same way, field by field.

use std::collections::BTreeSet;

use clap::CommandFactory;

use super::Cli;

const CLI_MD: &str = include_str!("../../../docs/cli.md");
const README: &str = include_str!("../../../README.md");

/// How the docs write an option: `--long`, or `-s` for one with only a short name.
fn spelled(arg: &clap::Arg) -> Option<String> {
    match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => Some(format!("--{long}")),
        (None, Some(short)) => Some(format!("-{short}")),
        (None, None) => None,
    }
}

/// clap's options that every command takes (`global = true`).
fn global_options() -> BTreeSet<String> {
    Cli::command()
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(spelled)
        .collect()
}

/// Each command and its own options (global ones aside).
fn commands() -> Vec<(String, BTreeSet<String>)> {
    Cli::command()
        .get_subcommands()
        .map(|c| {
            let options = c
                .get_arguments()
                .filter(|a| !a.is_global_set())
                .filter_map(spelled)
                .collect();
            (c.get_name().to_string(), options)
        })
        .collect()
}

/// The options a piece of Markdown names: the first word of each code span that starts
/// with `-` (`--store URL` names `--store`), a short name (`-q`) read as its long one.
fn options_in(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.starts_with('-'))
        .filter_map(|span| span.split([' ', '=', ',']).next())
        .map(long_name)
        .collect()
}

/// `-q` as `--quiet`: the spelling [`spelled`] gives the option with that short name.
fn long_name(option: &str) -> String {
    let short = option.strip_prefix('-').filter(|s| s.len() == 1);
    let Some(c) = short.and_then(|s| s.chars().next()) else {
        return option.to_string();
    };
    let cli = Cli::command();
    let mut args = cli
        .get_arguments()
        .chain(cli.get_subcommands().flat_map(|c| c.get_arguments()));
    args.find(|a| a.get_short() == Some(c))
        .and_then(spelled)
        .unwrap_or_else(|| option.to_string())
}

/// The lines of the section under `heading`, up to the next heading of its level.
fn section<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let level = heading.split(' ').next().unwrap_or("#");
    doc.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !(l.starts_with(level) && l[level.len()..].starts_with(' ')))
        .collect()
}

/// Table rows of `lines` keyed by the first word of their first cell's code span:
/// `| \`gc [--keep N]\` | ... |` is the row of `gc`.
fn rows<'a>(lines: &[&'a str]) -> Vec<(String, &'a str)> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("| `")?;
            let name = rest.split(['`', ' ']).next()?;
            Some((name.to_string(), *l))
        })
        .collect()
}

/// The sentence of `lines` that begins at `marker`, up to its full stop.
fn sentence(lines: &[&str], marker: &str) -> String {
    let text = lines.join(" ");
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no sentence with `{marker}`"));
    let rest = &text[start..];
    rest[..rest.find(". ").unwrap_or(rest.len())].to_string()
}

fn compare(what: &str, documented: &BTreeSet<String>, real: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for o in real.difference(documented) {
        problems.push(format!("{what}: `{o}` exists but is not documented"));
    }
    for o in documented.difference(real) {
        problems.push(format!("{what}: `{o}` is documented but does not exist"));
    }
    problems
}

#[test]
fn docs_cli_md_lists_every_option_of_every_command() {
    let lines = section(CLI_MD, "## Commands");
    assert!(
        !lines.is_empty(),
        "docs/cli.md has no `## Commands` section"
    );
    let mut problems = compare(
        "docs/cli.md, options every command takes",
        &options_in(&sentence(&lines, "Every command takes")),
        &global_options(),
    );
    let documented = rows(&lines);
    let real = commands();
    for (name, options) in &real {
        match documented.iter().find(|(n, _)| n == name) {
            Some((_, row)) => problems.extend(compare(
                &format!("docs/cli.md, `{name}`"),
                &options_in(row),
                options,
            )),
            None => problems.push(format!("docs/cli.md, Commands: no row for `{name}`")),
        }
    }
    for (name, _) in &documented {
        if !real.iter().any(|(n, _)| n == name) {
            problems.push(format!("docs/cli.md: `{name}` is not a command"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn readme_command_table_matches_the_commands() {
    let lines = section(README, "## CLI reference");
    let documented = rows(&lines);
    let real = commands();
    let mut problems = Vec::new();
    for (name, options) in &real {
        match documented.iter().find(|(n, _)| n == name) {
            // The README's table is a summary: the options it names must exist.
            Some((_, row)) => {
                for o in options_in(row).difference(options) {
                    problems.push(format!("README, `{name}`: `{o}` does not exist"));
                }
            }
            None => problems.push(format!("README, CLI reference: no row for `{name}`")),
        }
    }
    for (name, _) in &documented {
        if !real.iter().any(|(n, _)| n == name) {
            problems.push(format!("README: `{name}` is not a command"));
        }
    }
    for o in options_in(&sentence(&lines, "every command takes")).difference(&global_options()) {
        problems.push(format!(
            "README: `{o}` is not an option every command takes"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checks themselves: a missing or an invented option is caught.
#[test]
fn the_drift_check_sees_both_directions() {
    let real: BTreeSet<String> = ["--exact", "--no-mtime"].map(String::from).into();
    let doc = options_in("| `restore` | `--exact`, `--bogus X` |");
    let problems = compare("t", &doc, &real);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("--no-mtime") && problems[1].contains("--bogus"));
}

/// The field names serde gives a derived struct, read from its `Deserialize` impl: a
/// deserializer that records the names `deserialize_struct` is handed and stops there.
fn fields_of<T: for<'de> serde::Deserialize<'de>>() -> BTreeSet<String> {
    struct Recorder(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Stop {
            Stop
        }
    }
    impl<'de> serde::Deserializer<'de> for &mut Recorder {
        type Error = Stop;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    let mut r = Recorder(None);
    let _ = T::deserialize(&mut r);
    r.0.expect("a struct with named fields")
        .iter()
        .map(|f| f.to_string())
        .collect()
}

/// The top-level field names of the JSON document docs/cli.md gives for `command`: the
/// code span after `` `command`: `` (`{version, layer, mtime?: {..}, ..}`), nested braces
/// and brackets skipped, `?` (optional) dropped.
fn documented_fields(doc: &str, command: &str) -> BTreeSet<String> {
    let text = section(doc, "## JSON output").join(" ");
    let marker = format!("`{command}`: `{{");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/cli.md, JSON output: no document for `{command}`"))
        + marker.len();
    let (mut depth, mut field, mut out) = (0, String::new(), BTreeSet::new());
    for c in text[start..].chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' if depth > 0 => depth -= 1,
            '}' => break,
            ',' if depth == 0 => {
                out.insert(std::mem::take(&mut field));
            }
            _ if depth == 0 => field.push(c),
            _ => {}
        }
    }
    out.insert(field);
    out.into_iter()
        .map(|f| {
            let name = f.split([':', '?']).next().unwrap_or_default();
            name.trim().to_string()
        })
        .filter(|f| !f.is_empty())
        .collect()
}

#[test]
fn docs_cli_md_json_documents_match_the_output_types() {
    use stash_core::output::*;
    let real = [
        ("key", fields_of::<KeyOutput>()),
        ("restore", fields_of::<RestoreOutput>()),
        ("save", fields_of::<SaveOutput>()),
        ("stats", fields_of::<StatsOutput>()),
        ("clean", fields_of::<CleanOutput>()),
        ("ls", fields_of::<LsOutput>()),
    ];
    let mut problems = Vec::new();
    for (command, fields) in &real {
        problems.extend(compare(
            &format!("docs/cli.md, JSON of `{command}`"),
            &documented_fields(CLI_MD, command),
            fields,
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The JSON check sees a field that is missing and one that is invented.
#[test]
fn the_json_check_sees_both_directions() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        version: u32,
        #[serde(rename = "bytes_total")]
        total: u64,
        warnings: Vec<String>,
    }
    let doc = "## JSON output\n\n`x`: `{version, nested?: {a, b}, warnings: [..]}`.";
    let problems = compare("t", &documented_fields(doc, "x"), &fields_of::<Doc>());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("bytes_total") && problems[1].contains("nested"));
}
