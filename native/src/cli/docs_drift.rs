//! The CLI docs are checked against clap, the one source of the command line: every
//! option of every command is listed in docs/cli.md ("Commands"), every command in the
//! README's table, and neither lists an option or command that does not exist.

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
