//! Everything the user reads: results on stdout (human or `--json`), warnings and
//! progress on stderr. Progress bars only on a terminal outside CI.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::store::scrub;

#[derive(Clone, Debug)]
pub struct Reporter {
    pub json: bool,
    pub quiet: bool,
    pub progress: bool,
    /// The result, held until the command runner knows the command succeeded: under
    /// `--strict` a cache problem prints the error instead.
    result: Arc<Mutex<Option<String>>>,
}

/// Whether to draw a progress bar: a terminal, not CI, not machine output.
pub fn progress_enabled(stderr_is_tty: bool, ci: Option<&str>, json: bool, quiet: bool) -> bool {
    let in_ci = ci.is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    stderr_is_tty && !in_ci && !json && !quiet
}

impl Reporter {
    pub fn new(json: bool, quiet: bool) -> Reporter {
        let ci = std::env::var("CI").ok();
        Reporter {
            json,
            quiet,
            progress: progress_enabled(std::io::stderr().is_terminal(), ci.as_deref(), json, quiet),
            result: Arc::default(),
        }
    }

    /// Warnings and results pass through [`scrub`]: whatever error text they quote, no
    /// credential reaches the output.
    pub fn warn(&self, msg: &str) {
        eprintln!("warning: {}", scrub(msg));
    }

    /// The command's result: JSON document or human lines, printed by [`Reporter::flush`].
    pub fn result<T: Serialize>(&self, value: &T, human: &str) {
        let text = if self.json {
            serde_json::to_string_pretty(value).expect("output serializes")
        } else if !self.quiet {
            human.to_string()
        } else {
            return;
        };
        *self.result.lock().expect("not poisoned") = Some(scrub(&text));
    }

    /// Prints the result, once the command is known to have succeeded.
    pub fn flush(&self) {
        if let Some(text) = self.result.lock().expect("not poisoned").take() {
            println!("{text}");
        }
    }

    pub fn bar(&self, total: u64, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total).with_message(what.to_string());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_only_on_a_terminal_outside_ci() {
        assert!(progress_enabled(true, None, false, false));
        assert!(progress_enabled(true, Some("false"), false, false));
        assert!(!progress_enabled(true, Some("true"), false, false));
        assert!(!progress_enabled(false, None, false, false));
        assert!(!progress_enabled(true, None, true, false));
        assert!(!progress_enabled(true, None, false, true));
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }
}
