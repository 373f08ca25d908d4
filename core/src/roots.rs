//! The layers a snapshot belongs to and the roots its packs and links are relative to.
//! Manifests and store paths spell them as strings (`target`, `registry`; `target`,
//! `build`, `cargo-home`); code names them by these types, so a typo does not compile.

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// A unit of a target snapshot: the root it is in and its group (`<profile dir>/<hash>`,
/// see [`crate::Group`]). State files spell it `<root>:<group>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct UnitId {
    /// The root its files are in.
    pub root: Root,
    /// Its group's name.
    pub group: String,
}

impl UnitId {
    /// The unit `group` of `root`.
    pub fn new(root: Root, group: impl Into<String>) -> UnitId {
        UnitId {
            root,
            group: group.into(),
        }
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.root, self.group)
    }
}

impl From<UnitId> for String {
    fn from(id: UnitId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for UnitId {
    type Error = String;

    fn try_from(s: String) -> Result<UnitId, String> {
        s.split_once(':')
            .and_then(|(root, group)| Some(UnitId::new(Root::parse(root)?, group)))
            .ok_or_else(|| format!("not a <root>:<group> unit id: {s}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_ids_round_trip_through_their_spelling() {
        let id = UnitId::new(Root::Build, "debug/0a1b2c3d4e5f6789");
        assert_eq!(id.to_string(), "build:debug/0a1b2c3d4e5f6789");
        assert_eq!(UnitId::try_from(id.to_string()), Ok(id.clone()));
        let json = serde_json::to_string(
            &[(id.clone(), 1)]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
        .unwrap();
        assert_eq!(json, r#"{"build:debug/0a1b2c3d4e5f6789":1}"#);
        assert!(UnitId::try_from("registry:debug/x".to_string()).is_err());
        assert!(UnitId::try_from("debug/x".to_string()).is_err());
    }

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
