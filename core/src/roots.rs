//! The layers a snapshot belongs to and the roots its packs and links are relative to.
//! Manifests and store paths spell them as strings (`target`, `registry`; `target`,
//! `build`, `cargo-home`); code names them by these types, so a typo does not compile.

use std::fmt;

/// Which snapshot: the target layer (the target and build dirs) or the registry layer
/// (downloads in CARGO_HOME). Saved and restored apart, under keys of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// The target and build dirs.
    Target,
    /// CARGO_HOME's downloads.
    Registry,
}

impl Layer {
    /// Every layer, in the order `ls` lists them.
    pub const ALL: [Layer; 2] = [Layer::Target, Layer::Registry];

    /// The name in manifests and store paths (`v2/manifests/<layer>/<key>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Target => "target",
            Layer::Registry => "registry",
        }
    }

    /// The layer a manifest or store path names; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// The roots this layer's packs and links may name.
    pub fn roots(self) -> &'static [Root] {
        match self {
            Layer::Target => &[Root::Target, Root::Build],
            Layer::Registry => &[Root::CargoHome],
        }
    }
}

/// Where a pack's paths are relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Root {
    /// Cargo's target dir.
    Target,
    /// Cargo's build dir, when it is set apart from the target dir.
    Build,
    /// CARGO_HOME (only where Cargo keeps downloads, see [`crate::registry::ALLOWED`]).
    CargoHome,
}

impl Root {
    /// Every root.
    pub const ALL: [Root; 3] = [Root::Target, Root::Build, Root::CargoHome];

    /// The name in manifests (`packs[].root`, `links[].root`) and in the memo.
    pub fn as_str(self) -> &'static str {
        match self {
            Root::Target => "target",
            Root::Build => "build",
            Root::CargoHome => "cargo-home",
        }
    }

    /// The root a manifest names; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Root> {
        Root::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for l in Layer::ALL {
            assert_eq!(Layer::parse(l.as_str()), Some(l));
        }
        for r in Root::ALL {
            assert_eq!(Root::parse(r.as_str()), Some(r));
        }
        assert_eq!(Layer::parse("build"), None);
        assert_eq!(Root::parse("registry"), None);
        assert_eq!(Root::parse("cargo_home"), None);
    }

    #[test]
    fn each_root_belongs_to_one_layer() {
        for r in Root::ALL {
            let owners: Vec<_> = Layer::ALL
                .into_iter()
                .filter(|l| l.roots().contains(&r))
                .collect();
            assert_eq!(owners.len(), 1, "{r}: {owners:?}");
        }
    }
}
