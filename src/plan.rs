/*!
The plan as a stream: one spec in, one [`Planned`] entry out, as the list is read, so that
downloads start while later lines are still being read. What it keeps between entries is
only what duplicate detection needs (a 16-byte hash and a 4-byte origin per target file,
see `Claims`); the shard filter comes after the claim, so every shard rejects the same
entries and each entry, accepted or rejected, belongs to exactly one shard.
*/

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;
use crate::fetch::partial::{META, PART, temp_paths, temps_are_suffixed};
use crate::job::{Job, Naming, Plan, Rejected, Spec, normalize, resolve_user_path, split_name};
use crate::listing::{Dirs, Listing};
use crate::shard::Shard;
use crate::url::{ListUrls, name_from_url, path_from_url, redact, redact_str};

/// One entry of a plan, as it streams out of a [`Planner`].
#[derive(Debug)]
pub enum Planned {
    /// A job to run.
    Job(Job),
    /// An entry refused before any download, reported as failed.
    Rejected(Rejected),
}

impl FromIterator<Planned> for Plan {
    fn from_iter<I: IntoIterator<Item = Planned>>(entries: I) -> Plan {
        let mut plan = Plan::default();
        for e in entries {
            match e {
                Planned::Job(j) => plan.jobs.push(j),
                Planned::Rejected(r) => plan.rejected.push(r),
            }
        }
        plan
    }
}

/// Plans entries one at a time: target paths resolved under the output directory, bad
/// entries and second entries for one file rejected, other shards' entries dropped.
pub struct Planner {
    /// The output directory, normalized: relative PATHs are resolved under it, and shard
    /// keys are target paths relative to it, so that the share of an entry does not depend
    /// on where each machine mounts the output directory.
    root: PathBuf,
    claims: Claims,
    shard: Option<Shard>,
    naming: Naming,
    urls: ListUrls,
}

impl Planner {
    /// A planner for targets under `dir` (relative PATHs are relative to it).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Planner {
            root: normalize(&dir.into()),
            claims: Claims::default(),
            shard: None,
            naming: Naming::default(),
            urls: ListUrls::default(),
        }
    }

    /// Name files that have no PATH as `naming` says (`--keep-paths`,
    /// `--content-disposition`).
    pub fn with_naming(mut self, naming: Naming) -> Self {
        self.naming = naming;
        self
    }

    /// Keep only `shard`'s entries (duplicates are still detected over the whole list).
    pub fn with_shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// Plan every spec of `specs`, lazily: the returned iterator reads a spec only when
    /// asked for the next entry.
    pub fn stream<I>(self, specs: I) -> Stream<I::IntoIter>
    where
        I: IntoIterator<Item = Result<Spec, Error>>,
    {
        Stream {
            planner: self,
            specs: specs.into_iter(),
        }
    }

    /// Plan one spec: `None` when it belongs to another shard. A bad spec, a bad URL, a path
    /// that leaves the directory, or a file (or temporary) already another entry's is
    /// rejected, naming the input line.
    pub fn spec(&mut self, spec: Result<Spec, Error>) -> Option<Planned> {
        let spec = match spec {
            Ok(s) => s,
            Err(error) => {
                let &Error::BadLine { line, .. } = &error else {
                    // The list could not be read to its end (an I/O error): every shard that
                    // meets it reports it, since each may have missed entries of its own.
                    let label = "input".to_string();
                    return Some(Planned::Rejected(Rejected { label, error }));
                };
                let label = format!("line {line}");
                return self.reject(label.clone(), label.as_bytes(), error);
            }
        };
        let origin = match spec.line {
            Some(l) => format!("line {l}"),
            None => redact_str(&spec.url),
        };
        let with_line = |error: Error| match spec.line {
            Some(line) => Error::BadLine {
                line,
                reason: error.to_string(),
            },
            None => error,
        };
        let url = match self.urls.parse(&spec.url) {
            Ok(u) => u,
            Err(e) => return self.reject(origin.clone(), origin.as_bytes(), with_line(e)),
        };
        let mirrors = match spec.mirrors.iter().map(|m| self.urls.parse(m)).collect() {
            Ok(m) => m,
            Err(e) => return self.reject(origin.clone(), origin.as_bytes(), with_line(e)),
        };
        let label = || redact(&url);
        let server_name = self.naming.content_disposition && spec.path.is_none();
        let name = match &spec.path {
            Some(p) => p.clone(),
            None if self.naming.keep_paths => path_from_url(&url),
            None => PathBuf::from(name_from_url(&url)),
        };
        let rel = match &spec.dir {
            Some(d) => d.join(name),
            None => name,
        };
        let path = match resolve_user_path(&self.root, &rel) {
            Ok(p) => p,
            Err(e) => return self.reject(label(), origin.as_bytes(), with_line(e)),
        };
        if let Err(first) = self.claims.claim(&path, &origin, spec.line) {
            let key = self.shard_key(&path).to_vec();
            let error = with_line(Error::DuplicateTarget {
                url: label(),
                path,
                first,
            });
            return self.reject(label(), &key, error);
        }
        (self.shard.is_none() || self.owns(self.shard_key(&path))).then(|| {
            Planned::Job(Job {
                url,
                path,
                sha256: spec.sha256,
                origin,
                mirrors,
                headers: spec.headers,
                server_name,
            })
        })
    }

    /// Plan one `(url, path)` pair, the path used as given (see [`Job::new`]).
    pub fn pair(&mut self, url: &str, path: &Path) -> Option<Planned> {
        let job = match Job::new(url, path) {
            Ok(j) => j,
            Err(error) => {
                let label = redact_str(url);
                return self.reject(label, path.as_os_str().as_encoded_bytes(), error);
            }
        };
        let key = path.as_os_str().as_encoded_bytes();
        match self.claims.claim(&job.path, &job.origin, None) {
            Ok(()) => self.owns(key).then_some(Planned::Job(job)),
            Err(first) => {
                let error = Error::DuplicateTarget {
                    url: job.origin.clone(),
                    path: job.path,
                    first,
                };
                self.reject(job.origin, key, error)
            }
        }
    }

    /// What a target is sharded by: its path relative to the output directory.
    fn shard_key<'p>(&self, path: &'p Path) -> &'p [u8] {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        relative.as_os_str().as_encoded_bytes()
    }

    fn owns(&self, key: &[u8]) -> bool {
        self.shard.is_none_or(|s| s.owns(key))
    }

    fn reject(&self, label: String, key: &[u8], error: Error) -> Option<Planned> {
        self.owns(key)
            .then_some(Planned::Rejected(Rejected { label, error }))
    }
}

/// The entries of a list as they are planned: see [`Planner::stream`].
pub struct Stream<I> {
    planner: Planner,
    specs: I,
}

impl<I: Iterator<Item = Result<Spec, Error>>> Iterator for Stream<I> {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        loop {
            let spec = self.specs.next()?;
            if let Some(entry) = self.planner.spec(spec) {
                return Some(entry);
            }
        }
    }
}

/// Where files really are: a target's directory resolved through symlinks (its longest part
/// that exists; the rest is already free of `.` and `..`), so that two spellings of one file
/// (`out/a` and `/abs/out/a`, a symlinked directory, `x/../a`) compare equal; and a link at
/// the file itself followed to the file it names.
#[derive(Default)]
struct Locator {
    dirs: Dirs<Dir>,
}

/// A target directory as the locator knows it.
struct Dir {
    /// Its real location.
    real: PathBuf,
    /// Which of its names are symbolic links (see `crate::listing`).
    links: Listing,
}

impl Locator {
    /// Where `path` really is: its directory resolved, and a link at the file followed.
    ///
    /// Whether the file is a link is known as of when it was asked, or when its directory
    /// was listed: a link made later in the run is not seen here. The download itself
    /// never follows a link at a final path (it fails naming it), so a late link can only
    /// turn a duplicate into that failure, never into a file written twice.
    /// The second value says whether it is plainly `path`'s name in its resolved directory
    /// (not a link followed, nor a path without a name).
    fn locate(&mut self, path: &Path) -> (PathBuf, bool) {
        let Some((parent, name)) = split_name(path) else {
            return (path.to_path_buf(), false);
        };
        let dir = self.dir(parent);
        let real = dir.real.join(name);
        let link = dir
            .links
            .look(&dir.real, name, |entry| {
                // The type comes with the listing on most file systems (no lstat per entry).
                Some(entry.file_type().ok()?.is_symlink())
            })
            .unwrap_or_else(|| is_link(&real));
        if link {
            // A link at the file itself names the file it points to.
            (std::fs::canonicalize(&real).unwrap_or(real), false)
        } else {
            (real, true)
        }
    }

    /// `path` in its resolved directory. Enough for a temporary: fetchpool never follows a
    /// link there (a planted one makes that download fail), so one is not looked for.
    fn place(&mut self, path: &Path) -> PathBuf {
        let Some((parent, name)) = split_name(path) else {
            return path.to_path_buf();
        };
        self.dir(parent).real.join(name)
    }

    fn dir(&mut self, dir: &Path) -> &mut Dir {
        self.dirs.of(dir, |dir| Dir {
            real: real_dir(dir),
            links: Listing::default(),
        })
    }
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink())
}

fn real_dir(dir: &Path) -> PathBuf {
    let parts: Vec<Component> = dir.components().collect();
    // The longest prefix that exists is resolved by the file system; the rest, which does
    // not exist yet, can only be folded lexically.
    for k in (0..=parts.len()).rev() {
        let prefix: PathBuf = parts[..k].iter().collect();
        let probe = if prefix.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &prefix
        };
        if let Ok(mut real) = std::fs::canonicalize(probe) {
            for part in &parts[k..] {
                match part {
                    Component::ParentDir => {
                        real.pop();
                    }
                    Component::Normal(name) => real.push(name),
                    _ => {}
                }
            }
            return real;
        }
    }
    dir.to_path_buf()
}

/// A claimed location: a 128-bit hash of its real path, keyed afresh for each plan (two
/// SipHash keys), so that no list can be made to collide and none does by chance.
type Key = [u8; 16];

#[derive(Default)]
struct Keys {
    states: [RandomState; 2],
    /// The path and suffix written out (a hasher's `write`s are not promised to chain as
    /// one string): one buffer, reused for every key.
    text: RefCell<Vec<u8>>,
}

impl Keys {
    /// The key of `path` with `suffix` appended.
    fn of(&self, path: &Path, suffix: &str) -> Key {
        let mut text = self.text.borrow_mut();
        text.clear();
        text.extend_from_slice(path.as_os_str().as_encoded_bytes());
        text.extend_from_slice(suffix.as_bytes());
        let [a, b] = self
            .states
            .each_ref()
            .map(|state| state.hash_one(&text[..]));
        // Bytes, not two u64s: a claim stays 20 bytes (key and origin) instead of 24.
        (u128::from(a) << 64 | u128::from(b)).to_le_bytes()
    }
}

/// Hashes a [`Key`] for a map by taking its bytes as they are: a key is already a keyed hash.
#[derive(Default)]
struct KeyBytes(u64);

impl Hasher for KeyBytes {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }
}

type KeyMap = HashMap<Key, Origin, BuildHasherDefault<KeyBytes>>;

/// Who claimed a location: an input line number, or (top bit set) an index into the
/// claims' list of other origins (command-line URLs, pairs).
#[derive(Clone, Copy)]
struct Origin(u32);

const NAMED: u32 = 1 << 31;

/// The files (and temporaries) that entries of one plan have taken, by where they really
/// are. Only final paths are stored: a file's temporaries are `<file>.part` and
/// `<file>.part.meta`, found again by taking the suffix off, except when they are not
/// (names too long for the suffixes, links at the final path, paths without a name): those
/// are stored too.
#[derive(Default)]
struct Claims {
    locator: Locator,
    keys: Keys,
    files: KeyMap,
    odd_temps: KeyMap,
    /// Files claimed whose names end like a temporary's: until there is one (or an odd
    /// temporary), no file can be at another's temporary, and that is not looked up.
    suffixed: usize,
    named: Vec<String>,
}

impl Claims {
    /// Take `path` and its temporaries for `origin` (input line `line`, when it has one),
    /// unless one of them is another entry's file or temporary: then `Err` with that
    /// entry's origin.
    fn claim(&mut self, path: &Path, origin: &str, line: Option<usize>) -> Result<(), String> {
        let (file, plain) = self.locator.locate(path);
        let key = self.keys.of(&file, "");
        if let Some(o) = self.holder(&file, key) {
            return Err(self.name(o));
        }
        // Usually the temporaries are the located file's name with a suffix, which a later
        // entry finds again from the file: only their own keys are looked up, and nothing
        // is stored for them. Hashed temporaries of a long name, or those of a link (beside
        // the link, while the file is located at its target), are stored, not derived.
        let odd = if plain && temps_are_suffixed(path) {
            let may_clash = self.suffixed > 0 || !self.odd_temps.is_empty();
            for suffix in [PART, META].into_iter().filter(|_| may_clash) {
                if let Some(o) = self.taken(self.keys.of(&file, suffix)) {
                    return Err(self.name(o));
                }
            }
            None
        } else {
            let temps = temp_paths(path);
            let temps = [&temps.part, &temps.meta].map(|t| self.locator.place(t));
            for t in &temps {
                if let Some(o) = self.holder(t, self.keys.of(t, "")) {
                    return Err(self.name(o));
                }
            }
            Some(temps)
        };
        let o = match line
            .and_then(|l| u32::try_from(l).ok())
            .filter(|l| *l < NAMED)
        {
            Some(l) => Origin(l),
            None => {
                self.named.push(origin.to_string());
                Origin(NAMED | (self.named.len() - 1) as u32)
            }
        };
        self.files.insert(key, o);
        let name = file.file_name().map_or(&[][..], OsStr::as_bytes);
        if name.ends_with(PART.as_bytes()) || name.ends_with(META.as_bytes()) {
            self.suffixed += 1;
        }
        for t in odd.iter().flatten() {
            self.odd_temps.insert(self.keys.of(t, ""), o);
        }
        Ok(())
    }

    /// Who holds the location with key `key`, as a file or as a stored temporary.
    fn taken(&self, key: Key) -> Option<Origin> {
        self.files
            .get(&key)
            .or_else(|| self.odd_temps.get(&key))
            .copied()
    }

    /// Who holds `location` (whose key is `key`), as a file or as a temporary.
    fn holder(&self, location: &Path, key: Key) -> Option<Origin> {
        if let Some(o) = self.taken(key) {
            return Some(o);
        }
        let name = location.file_name()?.as_bytes();
        for suffix in [PART, META] {
            let Some(stem) = name.strip_suffix(suffix.as_bytes()) else {
                continue;
            };
            let owner = location.with_file_name(OsStr::from_bytes(stem));
            let o = self.files.get(&self.keys.of(&owner, ""))?;
            let temps = temp_paths(&owner);
            let its = if suffix == PART {
                temps.part
            } else {
                temps.meta
            };
            if its == location {
                return Some(*o);
            }
        }
        None
    }

    fn name(&self, o: Origin) -> String {
        if o.0 & NAMED == 0 {
            format!("line {}", o.0)
        } else {
            self.named[(o.0 & !NAMED) as usize].clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::LIST_AFTER;

    fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
        let mut s = path.as_os_str().to_os_string();
        s.push(suffix);
        PathBuf::from(s)
    }

    #[test]
    fn a_key_with_a_suffix_is_the_key_of_the_longer_path() {
        let keys = Keys::default();
        let file = Path::new("/o/dir/file.csv");
        assert_eq!(
            keys.of(file, ".part"),
            keys.of(&with_suffix(file, ".part"), "")
        );
        assert_ne!(keys.of(file, ""), keys.of(&with_suffix(file, ".part"), ""));
        assert_ne!(keys.of(file, ".part"), keys.of(file, ".part.meta"));
    }

    fn claims(paths: &[&str]) -> Vec<Result<(), String>> {
        let mut c = Claims::default();
        let lines = 1..;
        paths
            .iter()
            .zip(lines)
            .map(|(p, l)| c.claim(Path::new(p), &format!("line {l}"), Some(l)))
            .collect()
    }

    #[test]
    fn a_file_and_its_temporaries_collide_in_either_order() {
        let ok = Ok(());
        let by_1 = Err("line 1".to_string());
        assert_eq!(claims(&["/o/a", "/o/a.part"]), [ok.clone(), by_1.clone()]);
        assert_eq!(
            claims(&["/o/a", "/o/a.part.meta"]),
            [ok.clone(), by_1.clone()]
        );
        assert_eq!(claims(&["/o/a.part", "/o/a"]), [ok.clone(), by_1.clone()]);
        assert_eq!(
            claims(&["/o/a.part.meta", "/o/a"]),
            [ok.clone(), by_1.clone()]
        );
        assert_eq!(
            claims(&["/o/a", "/o/b", "/o/a.meta"]),
            [ok.clone(), ok.clone(), ok]
        );
    }

    #[test]
    fn hashed_temporaries_of_long_names_are_claimed_too() {
        let long = format!("/o/{}", "x".repeat(250));
        let temps = temp_paths(Path::new(&long));
        assert_ne!(temps.part, with_suffix(Path::new(&long), ".part"));
        let part = temps.part.display().to_string();
        let meta = temps.meta.display().to_string();
        assert_eq!(claims(&[&long, &part])[1], Err("line 1".to_string()));
        assert_eq!(claims(&[&part, &long])[1], Err("line 1".to_string()));
        assert_eq!(claims(&[&long, &meta])[1], Err("line 1".to_string()));
    }

    #[test]
    fn origins_without_a_line_are_named() {
        let mut c = Claims::default();
        c.claim(Path::new("/o/a"), "http://h/a", None).unwrap();
        assert_eq!(
            c.claim(Path::new("/o/a"), "x", Some(2)),
            Err("http://h/a".into())
        );
    }

    /// Past [`LIST_AFTER`] files of one directory the links come from one listing: a link
    /// to a file planned earlier is still that file, whether it is asked about one by one
    /// (early in the list) or found in the listing (late), and a plain name is not a link.
    #[test]
    fn links_are_found_by_asking_and_by_listing_alike() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("target"), b"x").unwrap();
        std::os::unix::fs::symlink(root.join("target"), root.join("early")).unwrap();
        std::os::unix::fs::symlink(root.join("target"), root.join("late")).unwrap();
        let mut c = Claims::default();
        let at = |n: &str| root.join(n).display().to_string();
        assert_eq!(c.claim(Path::new(&at("target")), "line 1", Some(1)), Ok(()));
        assert_eq!(
            c.claim(Path::new(&at("early")), "line 2", Some(2)),
            Err("line 1".into()),
            "asked one by one"
        );
        for i in 0..2 * LIST_AFTER {
            let name = at(&format!("plain{i}"));
            assert_eq!(c.claim(Path::new(&name), "line", Some(3 + i)), Ok(()));
        }
        let listed = c
            .locator
            .dirs
            .values()
            .any(|d| matches!(d.links, Listing::Read(_)));
        assert!(listed, "the directory was listed after {LIST_AFTER} files");
        assert_eq!(
            c.claim(Path::new(&at("late")), "line 99", Some(99)),
            Err("line 1".into()),
            "found in the listing"
        );
    }
}
