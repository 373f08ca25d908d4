//! `cargo stash key`: the key, its ladder and, with `--explain`, every input.

use anyhow::Result;
use stash_core::key;
use stash_core::output::{KeyOutput, OUTPUT_VERSION};

use super::{Ctx, Done};
use crate::cli::KeyArgs;
use crate::inputs;

pub fn run(ctx: &Ctx, args: &KeyArgs, explain: bool) -> Result<Done> {
    let (_, inputs) = inputs::discover(ctx.global.manifest_path.as_deref(), args)?;
    let keys = key::compute(&inputs)?;
    let mut human = format!(
        "target   {}\nregistry {}\nladder   {}",
        keys.target.key,
        keys.registry.key,
        keys.target.ladder.join("\n         ")
    );
    if explain {
        human.push_str("\n\ninputs (segment, digest, value):");
        for line in &keys.explain {
            human.push_str(&format!(
                "\n  {:<28} {:<9} {} {}",
                line.input,
                format!("{:?}", line.segment).to_lowercase(),
                line.digest,
                line.value
            ));
        }
        human.push_str(
            "\n\ncargo_home is keyed: registry units hash the absolute path of their sources \
             under it, so another CARGO_HOME path rebuilds them all. The checkout's path is \
             not: a restore at another path rebuilds only the units whose artifacts embed it \
             (docs/format.md, \"Path-bound units\").",
        );
    }
    let out = KeyOutput {
        version: OUTPUT_VERSION,
        target: keys.target,
        registry: keys.registry,
        explain: if explain { keys.explain } else { Vec::new() },
    };
    ctx.report.result(&out, &human);
    Ok(Done::Ok)
}
