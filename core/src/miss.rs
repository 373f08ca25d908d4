//! Why a restore found nothing: the ladder never leaves the job's config (CARGO_HOME,
//! flags, targets, profile, env), so a miss after such a change would look like a cold
//! cache. Comparing with the newest snapshot of the same toolchain names the change.

use crate::key::{ExplainLine, Segment};

/// The key prefix shared by every config of the job's toolchain: the config rung (the
/// ladder's last, `…-<toolchain>-<config>-`) without its config segment.
pub fn toolchain_rung(config_rung: &str) -> Option<&str> {
    let body = config_rung.strip_suffix('-')?;
    let (toolchain, _) = body.rsplit_once('-')?;
    Some(&config_rung[..toolchain.len() + 1])
}

/// The config inputs whose digest differs between a snapshot's explanation and this
/// job's, one phrase each. Only CARGO_HOME shows its values: it is a path, while other
/// inputs (flags, env values) may hold what should not be printed.
pub fn config_changes(saved: &[ExplainLine], now: &[ExplainLine]) -> Vec<String> {
    let config = |lines: &[ExplainLine]| -> Vec<ExplainLine> {
        lines
            .iter()
            .filter(|l| l.segment == Segment::Config)
            .cloned()
            .collect()
    };
    let (saved, now) = (config(saved), config(now));
    let mut changes = Vec::new();
    for line in &now {
        match saved.iter().find(|s| s.input == line.input) {
            Some(s) if s.digest == line.digest => {}
            Some(s) if line.input == "cargo_home" => changes.push(format!(
                "CARGO_HOME was {}, is {} (registry units hash it; keep it at one path)",
                s.value, line.value
            )),
            Some(_) => changes.push(format!("{} differs", line.input)),
            None => changes.push(format!("{} is new", line.input)),
        }
    }
    for line in saved
        .iter()
        .filter(|s| !now.iter().any(|n| n.input == s.input))
    {
        changes.push(format!("{} is gone", line.input));
    }
    changes
}

/// The warning for a miss when the newest snapshot of the same toolchain (`nearest`)
/// was saved with another config.
pub fn explain(nearest: &str, saved: &[ExplainLine], now: &[ExplainLine]) -> Option<String> {
    let changes = config_changes(saved, now);
    (!changes.is_empty()).then(|| {
        format!(
            "no snapshot for this job's config; the newest of this toolchain ({nearest}) \
             differs: {}",
            changes.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(input: &str, segment: Segment, value: &str) -> ExplainLine {
        ExplainLine {
            input: input.into(),
            segment,
            value: value.into(),
            digest: format!("d-{value}"),
        }
    }

    #[test]
    fn the_toolchain_rung_drops_the_config_segment() {
        assert_eq!(
            toolchain_rung("stash1-linux-x64-1.95.0_5980-eb564e911a-"),
            Some("stash1-linux-x64-1.95.0_5980-")
        );
        assert_eq!(toolchain_rung("stash1-linux-x64-1.95.0_5980-eb56"), None);
    }

    #[test]
    fn names_the_config_inputs_that_changed() {
        let saved = [
            line("cargo_home", Segment::Config, "/a/.cargo"),
            line("RUSTFLAGS", Segment::Config, "-Dsecret"),
            line("profile", Segment::Config, "dev"),
            line("lockfile", Segment::Deps, "1"),
        ];
        let now = [
            line("cargo_home", Segment::Config, "/b/.cargo"),
            line("RUSTFLAGS", Segment::Config, "-Dother"),
            line("profile", Segment::Config, "dev"),
            line("lockfile", Segment::Deps, "2"),
            line("CC", Segment::Config, "clang"),
        ];
        let changes = config_changes(&saved, &now);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes[0].contains("/a/.cargo") && changes[0].contains("/b/.cargo"));
        assert_eq!(changes[1], "RUSTFLAGS differs");
        assert_eq!(changes[2], "CC is new");
        let text = explain("k", &saved, &now).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("other"),
            "{text}"
        );
        assert_eq!(explain("k", &saved, &saved), None);
    }
}
