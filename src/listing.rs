/*!
One reading of a directory instead of a system call per name. The planner asks, of every
target, whether it is a symbolic link; update mode asks, of every file present, whether a
partial sits beside it. A list of thousands of files in one directory would cost as many
`statx` calls (on tmpfs, a name that does not exist takes the slow lookup every time: no
negative dentry is kept). Past [`LIST_AFTER`] names asked about in one directory it is read
once, and the answers come from the names kept then.

A reading may go through at most [`LIST_PER_NAME`] entries per name asked about so far; a
bigger directory is tried again once twice as many were asked. So a reading never costs more
than a constant times the calls it saves, and a short list into a big directory never reads
all of it. What it answers is as of when the directory was read.
*/

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::DirEntry;
use std::path::Path;

/// A directory is read once more than this many of its names were asked about one by one.
pub(crate) const LIST_AFTER: usize = 16;

/// Entries a reading may go through per name asked about so far.
pub(crate) const LIST_PER_NAME: usize = 64;

/// Directories remembered at most: a list spread over more costs a few more system calls, not
/// memory.
const DIRS_KEPT: usize = 4096;

/// Something known of each directory, by the spelling of its path (bytes, which hash faster
/// than a path's components: two spellings of one directory are two entries that resolve
/// alike), for at most [`DIRS_KEPT`] directories.
pub(crate) struct Dirs<T> {
    /// Where each directory's entry is in `known`.
    index: HashMap<OsString, usize>,
    known: Vec<(OsString, T)>,
    /// The entry asked for last: the next target is usually in the same directory, which is
    /// then found by comparing its spelling, without hashing it.
    last: usize,
}

impl<T> Default for Dirs<T> {
    fn default() -> Self {
        Dirs {
            index: HashMap::new(),
            known: Vec::new(),
            last: 0,
        }
    }
}

impl<T> Dirs<T> {
    /// What is known of `dir`, made with `make` when it was not seen before. Looked up by
    /// reference: a key is allocated only for a directory not seen before.
    pub(crate) fn of(&mut self, dir: &Path, make: impl FnOnce(&Path) -> T) -> &mut T {
        let key = dir.as_os_str();
        let same = self.known.get(self.last).is_some_and(|(k, _)| k == key);
        if !same {
            self.last = match self.index.get(key) {
                Some(&i) => i,
                None => {
                    if self.known.len() >= DIRS_KEPT {
                        self.index.clear();
                        self.known.clear();
                    }
                    self.index.insert(key.to_os_string(), self.known.len());
                    self.known.push((key.to_os_string(), make(dir)));
                    self.known.len() - 1
                }
            };
        }
        &mut self.known[self.last].1
    }

    #[cfg(test)]
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.known.iter().map(|(_, v)| v)
    }
}

/// What is known of the names of one directory that a `pick` selects (see [`Listing::look`]).
#[derive(Debug)]
pub(crate) enum Listing {
    /// Not read: each name is asked about; the directory is read once more than `next` were.
    Asked { asked: usize, next: usize },
    /// Read once: the names picked then.
    Read(HashSet<OsString>),
}

impl Default for Listing {
    fn default() -> Self {
        Listing::Asked {
            asked: 0,
            next: LIST_AFTER,
        }
    }
}

/// What a [`Listing`] says of a name, before any reading: see [`Listing::consult`].
pub(crate) enum Consulted {
    /// From the reading made earlier.
    Known(bool),
    /// Not known: ask the file system about this name.
    Ask,
    /// A reading is due: read the directory (at most this many entries), then
    /// [`Listing::store`] what was read.
    Read(usize),
}

impl Listing {
    /// Whether `name` in `dir` is one that `pick` selects, from the directory's reading
    /// (made now when it is due); `None` when the caller must ask the file system itself.
    /// `pick` says of an entry whether to keep it, or `None` when it cannot tell (the
    /// reading is then given up, and asked for again later).
    pub(crate) fn look(
        &mut self,
        dir: &Path,
        name: &OsStr,
        pick: impl Fn(&DirEntry) -> Option<bool>,
    ) -> Option<bool> {
        match self.consult(name) {
            Consulted::Known(found) => Some(found),
            Consulted::Ask => None,
            Consulted::Read(at_most) => {
                let names = read(dir, at_most, pick)?;
                Some(self.store(names, name))
            }
        }
    }

    /// The first half of [`Listing::look`], for a caller that reads the directory without
    /// holding the listing (other threads may consult it meanwhile).
    pub(crate) fn consult(&mut self, name: &OsStr) -> Consulted {
        match self {
            Listing::Read(names) => Consulted::Known(names.contains(name)),
            Listing::Asked { asked, next } => {
                *asked += 1;
                if *asked <= *next {
                    return Consulted::Ask;
                }
                let at_most = *asked * LIST_PER_NAME;
                *next = *asked * 2;
                Consulted::Read(at_most)
            }
        }
    }

    /// Keep what a reading found; whether `name` is among it.
    pub(crate) fn store(&mut self, names: HashSet<OsString>, name: &OsStr) -> bool {
        let found = names.contains(name);
        *self = Listing::Read(names);
        found
    }
}

/// The names in `dir` that `pick` keeps: none when it does not exist (yet); `None` when it
/// cannot be read, `pick` cannot tell, or it holds more than `at_most` entries (it is then
/// read no further).
pub(crate) fn read(
    dir: &Path,
    at_most: usize,
    pick: impl Fn(&DirEntry) -> Option<bool>,
) -> Option<HashSet<OsString>> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(HashSet::new()),
        Err(_) => return None,
    };
    let mut names = HashSet::new();
    for (n, entry) in entries.enumerate() {
        if n >= at_most {
            return None;
        }
        let entry = entry.ok()?;
        if pick(&entry)? {
            names.insert(entry.file_name());
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(entry: &DirEntry) -> Option<bool> {
        // The type comes with the listing on most file systems (no lstat per entry).
        Some(entry.file_type().ok()?.is_symlink())
    }

    #[test]
    fn each_directory_keeps_its_own_entry_up_to_the_cap() {
        let mut dirs: Dirs<usize> = Dirs::default();
        let mut made = 0;
        for d in ["a", "b", "a", "a", "c", "b"] {
            *dirs.of(Path::new(d), |_| {
                made += 1;
                0
            }) += 1;
        }
        assert_eq!(made, 3, "one entry per directory");
        assert_eq!(*dirs.of(Path::new("a"), |_| unreachable!()), 3);
        assert_eq!(*dirs.of(Path::new("b"), |_| unreachable!()), 2);
        assert_eq!(*dirs.of(Path::new("c"), |_| unreachable!()), 1);
        for i in 0..DIRS_KEPT {
            dirs.of(Path::new(&format!("d{i}")), |_| 0);
        }
        assert!(dirs.known.len() <= DIRS_KEPT && dirs.index.len() == dirs.known.len());
        assert_eq!(*dirs.of(Path::new("a"), |_| 7), 7, "forgotten past the cap");
    }

    #[test]
    fn a_directory_too_big_to_read_or_missing_is_handled() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("f{i}")), b"").unwrap();
        }
        std::os::unix::fs::symlink("f0", dir.path().join("l")).unwrap();
        let found = read(dir.path(), 10, links).unwrap();
        assert_eq!(found.into_iter().collect::<Vec<_>>(), [OsString::from("l")]);
        assert!(
            read(dir.path(), 3, links).is_none(),
            "more entries than allowed"
        );
        let missing = read(&dir.path().join("not-yet"), 10, links).unwrap();
        assert!(missing.is_empty(), "a directory not made yet holds no link");
    }

    #[test]
    fn a_directory_is_read_once_past_the_names_asked_about() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("x", dir.path().join("l")).unwrap();
        let mut listing = Listing::default();
        for _ in 0..LIST_AFTER {
            assert_eq!(listing.look(dir.path(), OsStr::new("l"), links), None);
        }
        assert_eq!(listing.look(dir.path(), OsStr::new("l"), links), Some(true));
        assert!(matches!(listing, Listing::Read(_)));
        assert_eq!(
            listing.look(dir.path(), OsStr::new("f"), links),
            Some(false)
        );
        // A directory with more entries than the names asked allow is tried again later.
        let big = tempfile::tempdir().unwrap();
        for i in 0..(LIST_AFTER + 1) * LIST_PER_NAME + 1 {
            std::fs::write(big.path().join(format!("f{i}")), b"").unwrap();
        }
        let mut listing = Listing::default();
        for _ in 0..=LIST_AFTER {
            assert_eq!(listing.look(big.path(), OsStr::new("f1"), links), None);
        }
        assert!(matches!(listing, Listing::Asked { next, .. } if next == 2 * (LIST_AFTER + 1)));
    }
}
