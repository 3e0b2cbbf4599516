/*!
Target paths from what the user typed: a relative PATH never leaves the output directory,
paths are compared after lexical normalization, and the output directory and the `.part`
beside each target are named here.
*/

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// Resolve a user-given relative PATH under `root` (the output directory, already
/// [`normalize`]d), refusing any path that would leave it. Absolute paths are the user's
/// explicit choice and are kept as they are.
pub(crate) fn resolve_user_path(root: &Path, path: &Path) -> Result<PathBuf, Error> {
    if path.is_absolute() {
        return Ok(normalize(path));
    }
    let unsafe_path = || Error::UnsafePath {
        path: path.to_path_buf(),
    };
    let bytes = path.as_os_str().as_bytes();
    if !bytes.is_empty() && !bytes.contains(&b'/') && bytes != b"." && bytes != b".." {
        // A plain file name, the usual PATH (and every name taken from a URL).
        let mut out = PathBuf::with_capacity(root.as_os_str().len() + 1 + bytes.len());
        out.push(root);
        out.push(path);
        return Ok(out);
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop().ok_or_else(unsafe_path)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_path()),
        }
    }
    if parts.is_empty() {
        return Err(unsafe_path());
    }
    let len = root.as_os_str().len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut out = PathBuf::with_capacity(len);
    out.push(root);
    out.extend(parts);
    Ok(out)
}

/// Lexical normalization: drop `.`, fold `..` into its parent. Used to compare targets.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The temporary file a job writes to before the rename: `<path>.part`, or a shortened,
/// hashed name beside it when that would pass the file-name limit.
pub fn part_path(path: &Path) -> PathBuf {
    crate::fetch::partial::part_path(path)
}

/// `path`'s directory and name, as `parent()` and `file_name()` give them; for the paths a
/// plan makes (a name after the last slash) found by that slash alone, without the walk over
/// components those take (the planner and every update-mode question split each target).
pub(crate) fn split_name(path: &Path) -> Option<(&Path, &OsStr)> {
    let bytes = path.as_os_str().as_bytes();
    if let Some(slash) = bytes.iter().rposition(|&b| b == b'/') {
        let (dir, name) = (&bytes[..slash], &bytes[slash + 1..]);
        let plain = |b: &[u8]| !b.is_empty() && b != b"." && b != b"..";
        if plain(name) && plain(dir) && !dir.ends_with(b"/") && !dir.ends_with(b"/.") {
            return Some((Path::new(OsStr::from_bytes(dir)), OsStr::from_bytes(name)));
        }
    }
    Some((path.parent()?, path.file_name()?))
}

/// Create the output directory when missing.
///
/// # Errors
/// [`Error::Io`] naming `dir` when it cannot be created or is not a directory.
pub fn ensure_dir(dir: &Path) -> Result<(), Error> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        )),
        Err(_) => std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_as_the_standard_library_splits_them() {
        let mut paths: Vec<PathBuf> = [
            "/o/a",
            "o/a",
            "a",
            "/a",
            "/",
            "",
            ".",
            "..",
            "a/",
            "a/.",
            "a/..",
            "./a",
            "../a",
            "a/./b",
            "a/../b",
            "a/./x/b",
            "./../b",
            "/../b",
            "a//b",
            "//a",
            "//x/b",
            "/o/.a",
            "/o/a.",
            "/o/..a",
            "x/y/z.part",
        ]
        .map(PathBuf::from)
        .into();
        paths.push(PathBuf::from(OsStr::from_bytes(b"/o/\xff\xfe/n\x80.bin")));
        paths.push(Path::new("/o").join("n".repeat(246)));
        // Compared byte for byte: `Path`'s own equality ignores how a directory is spelled,
        // and the partials are looked up by that spelling.
        let bytes = |split: Option<(&Path, &OsStr)>| {
            split.map(|(dir, name)| {
                (
                    dir.as_os_str().as_bytes().to_vec(),
                    name.as_bytes().to_vec(),
                )
            })
        };
        for p in &paths {
            let std = p.parent().zip(p.file_name());
            assert_eq!(bytes(split_name(p)), bytes(std), "{}", p.display());
        }
    }

    #[test]
    fn user_paths_never_leave_the_output_dir() {
        let d = Path::new("/out");
        assert_eq!(
            resolve_user_path(&normalize(Path::new("./o")), Path::new("./a")).unwrap(),
            Path::new("o/a")
        );
        assert_eq!(
            resolve_user_path(d, Path::new("a/../b")).unwrap(),
            Path::new("/out/b")
        );
        assert!(resolve_user_path(d, Path::new("../x")).is_err());
        assert!(resolve_user_path(d, Path::new("a/../../x")).is_err());
        assert!(resolve_user_path(d, Path::new(".")).is_err());
        assert_eq!(
            resolve_user_path(d, Path::new("/abs/x")).unwrap(),
            Path::new("/abs/x")
        );
    }
}
