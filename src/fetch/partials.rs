/*!
Whether a partial sits beside a file already present, for update mode (which asks the server
about a present file only when none does: a partial is a newer version under way, continued
by its own validators). Asked of every file of a list, that is a `statx` of a name that
usually does not exist; past a few files of one directory, the run reads the directory once
instead (see `crate::listing`) and keeps the names of the partials in it.

A reading is as of when it was made, as a `statx` is as of when it was made: a partial that
another run starts in between is not seen, and the file is asked about first; the download
then meets the other run's partial (or its lock, and waits), drops the reply it asked for,
and asks again about what that run left (see `fetch`). One that another run completes in
between is looked for in vain: the download finds no partial and asks in its place. A partial
of this run's own making is never in question: only a file's own job writes its partial,
after this check.
*/

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use crate::job::split_name;
use crate::listing::{self, Consulted, Dirs, Listing};

/// The partials of one run's directories, by the spelling of each directory.
#[derive(Default)]
pub(crate) struct Partials {
    dirs: Mutex<Dirs<Listing>>,
}

impl Partials {
    /// Whether `part` (a partial's path) exists.
    pub(crate) fn exist(&self, part: &Path) -> bool {
        if let Some((dir, name)) = split_name(part) {
            let consulted = self.with(dir, |listing| listing.consult(name));
            let known = match consulted {
                Consulted::Known(found) => Some(found),
                Consulted::Ask => None,
                // Read without holding the lock: other workers, in this directory or another,
                // go on meanwhile (a second reading of the same directory costs only time).
                Consulted::Read(at_most) => listing::read(dir, at_most, |entry| {
                    // Every temporary's name ends so (hashed ones of long names too).
                    Some(entry.file_name().as_bytes().ends_with(b".part"))
                })
                .map(|names| self.with(dir, |listing| listing.store(names, name))),
            };
            if let Some(known) = known {
                return known;
            }
        }
        exists(part)
    }

    /// `f` on the listing of `dir`, made when not seen before.
    fn with<T>(&self, dir: &Path, f: impl FnOnce(&mut Listing) -> T) -> T {
        let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        f(dirs.of(dir, |_| Listing::default()))
    }
}

/// Whether something is at `path`, without following a link (anything but "not found"
/// counts: an unreadable partial is still one).
pub(crate) fn exists(path: &Path) -> bool {
    !matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::LIST_AFTER;

    /// Asked one by one or read from the listing, the answer is the same: a partial is seen,
    /// and a name without one is not.
    #[test]
    fn partials_are_seen_asked_and_listed_alike() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3 * LIST_AFTER {
            std::fs::write(dir.path().join(format!("f{i}")), b"x").unwrap();
        }
        std::fs::write(dir.path().join("f1.part"), b"").unwrap();
        let partials = Partials::default();
        let part = |i: usize| dir.path().join(format!("f{i}.part"));
        for round in 0..3 {
            for i in 0..LIST_AFTER {
                assert_eq!(partials.exist(&part(i)), i == 1, "f{i}, round {round}");
            }
        }
        let read = partials.dirs.lock().unwrap();
        assert!(matches!(read.values().next(), Some(Listing::Read(_))));
    }
}
