//! Validation of paths read from snapshots. Nothing the store returns is trusted: every
//! path must stay inside the root it is restored into.

use crate::error::PathError;

/// Checks that `path` is a plain relative path: `/`-separated normal components only.
pub fn check_relative(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(PathError::BadChar(path.to_string()));
    }
    if path.starts_with('/') || path.as_bytes().get(1) == Some(&b':') {
        return Err(PathError::Absolute(path.to_string()));
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(PathError::Escapes(path.to_string()));
    }
    Ok(())
}

/// The permission bits a restored file or directory gets: the stored ones without
/// setuid, setgid, sticky and world-writable (issue 14, item 12). A store could
/// otherwise hand a root CI user a `-rwsrwsrwx` binary.
pub fn restored_mode(mode: u32) -> u32 {
    mode & 0o775
}

/// Checks a symlink at `path` pointing to `target` cannot lead out of the root.
///
/// The target must be relative, made of some leading `..` (no more than the link's
/// depth) followed by normal components only. Together with never writing through a
/// symlinked parent, this keeps every chain of links inside the root, whatever other
/// links exist in the tree.
pub fn check_symlink(path: &str, target: &str) -> Result<(), PathError> {
    check_relative(path)?;
    let escapes = || PathError::SymlinkEscapes {
        path: path.to_string(),
        target: target.to_string(),
    };
    if target.is_empty() || target.starts_with('/') || target.contains('\\') {
        return Err(escapes());
    }
    let depth = path.trim_end_matches('/').split('/').count() - 1;
    let mut ups = 0;
    let mut seen_normal = false;
    for comp in target.trim_end_matches('/').split('/') {
        match comp {
            ".." if !seen_normal => ups += 1,
            "" | "." | ".." => return Err(escapes()),
            _ => seen_normal = true,
        }
    }
    if ups > depth || !seen_normal {
        return Err(escapes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_and_world_writable_bits_are_never_restored() {
        assert_eq!(restored_mode(0o7777), 0o775);
        assert_eq!(restored_mode(0o4755), 0o755);
        assert_eq!(restored_mode(0o100644), 0o644);
        assert_eq!(restored_mode(0o600), 0o600);
    }

    #[test]
    fn relative_paths() {
        assert!(check_relative("debug/deps/libfoo-0123.rlib").is_ok());
        assert!(check_relative("debug/build/x/").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "C:/x",
            "a\\b",
        ] {
            assert!(check_relative(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn symlinks() {
        assert!(check_symlink("debug/foo", "deps/foo-1").is_ok());
        assert!(check_symlink("debug/build/a/out/x", "../../b/out/y").is_ok());
        assert!(check_symlink("debug/foo", "../../etc").is_err());
        assert!(check_symlink("foo", "/etc/passwd").is_err());
        assert!(check_symlink("a/b", "x/../../..").is_err());
        assert!(check_symlink("a/b", "..").is_err());
        assert!(check_symlink("a/b", "../.").is_err());
    }
}
