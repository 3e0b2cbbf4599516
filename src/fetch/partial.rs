/*!
The temporary side of a download: `<final>.part` holds the bytes received so far and
`<final>.part.meta` the validators that say which version of the remote file they belong to
(URL, ETag, Last-Modified, total length). Both are opened without following symlinks and
created exclusively; the `.part` is locked for as long as a run writes it, so overlapping runs
never write the same file. The final path only ever appears through a rename of a complete file.

fetchpool never truncates or deletes a file it did not create: a sidecar is ours only when it
carries our header, and a `.part` without our sidecar (another tool's) is only ever continued
exactly, never cut back. Names longer than the file system allows with the suffixes get a
shortened, hashed temporary name, so every legal final name (up to 255 bytes) works.
*/

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Stop;
use crate::error::Error;
use crate::job::split_name;

/// The longest file name (bytes) that common Unix file systems accept.
const NAME_MAX: usize = 255;
pub(crate) const PART: &str = ".part";
pub(crate) const META: &str = ".part.meta";
/// The first line of every sidecar fetchpool writes: how it knows the file is its own.
const MAGIC: &str = "fetchpool-partial 1";
/// The first line of a split download's sidecar, which lists the ranges still missing. A
/// different header on purpose: a fetchpool without split support sees a file that is not
/// its own and stops, instead of taking a `.part` with holes for a prefix of the file.
const MAGIC_SPLIT: &str = "fetchpool-partial 2";

/// The two temporaries of one final path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Temps {
    /// `<final>.part`: the bytes received so far.
    pub part: PathBuf,
    /// `<final>.part.meta`: the validators of those bytes.
    pub meta: PathBuf,
}

/// Whether the temporaries of `final_path` are its name with [`PART`] and [`META`] appended
/// (the name leaves room for the suffixes).
pub(crate) fn temps_are_suffixed(final_path: &Path) -> bool {
    suffixable(split_name(final_path).map_or(&[][..], |(_, name)| name.as_bytes()))
}

/// Whether a file `name` leaves room for [`META`], the longer suffix.
fn suffixable(name: &[u8]) -> bool {
    name.len() + META.len() <= NAME_MAX
}

/// The first of `final_path`'s temporaries (see [`temp_paths`]), without building the second.
pub(crate) fn part_path(final_path: &Path) -> PathBuf {
    let name = split_name(final_path).map_or(&[][..], |(_, name)| name.as_bytes());
    // Appending is `with_file_name` when the path ends with its name (not `x/`, `x/.`, `..`).
    let whole = final_path.as_os_str();
    let ends_with_name = !name.is_empty() && whole.as_bytes().ends_with(name);
    if ends_with_name && suffixable(name) {
        let mut part = OsString::with_capacity(whole.len() + PART.len());
        part.push(whole);
        part.push(PART);
        PathBuf::from(part)
    } else {
        temp_paths(final_path).part
    }
}

/// The temporaries of `final_path`: `<name>.part` and `<name>.part.meta` beside it, or, when
/// that would pass the file-name limit, `<first bytes of name>~<hash of name>.part(.meta)`.
/// A pure function of the final path, so a later run finds the same partial.
pub(crate) fn temp_paths(final_path: &Path) -> Temps {
    let name = final_path.file_name().unwrap_or_default().as_bytes();
    let base: Vec<u8> = if suffixable(name) {
        name.to_vec()
    } else {
        let digest = sha256_of(name).unwrap_or_default();
        let mut keep = NAME_MAX - META.len() - 17;
        // Cut on a character boundary when the name is UTF-8, so the temporary stays readable.
        if let Ok(s) = std::str::from_utf8(name) {
            while !s.is_char_boundary(keep) {
                keep -= 1;
            }
        }
        let mut b = name[..keep].to_vec();
        b.push(b'~');
        b.extend_from_slice(&digest.as_bytes()[..16]);
        b
    };
    let with = |suffix: &str| {
        let mut n = base.clone();
        n.extend_from_slice(suffix.as_bytes());
        final_path.with_file_name(OsString::from_vec(n))
    };
    Temps {
        part: with(PART),
        meta: with(META),
    }
}

/// Validators of the remote file a partial belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The URL without credentials.
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Full length of the remote file, when known: it governs until the file is complete.
    pub total: Option<u64>,
    /// False when the bytes on disk are not the server's bytes as stored (a decoded
    /// Content-Encoding): a Range cannot continue them.
    pub resumable: bool,
    /// A split download's missing ranges, `[from, to)`: every byte of `[0, total)` outside
    /// them is on disk. Empty for a plain partial, whose bytes are a prefix.
    pub todo: Vec<(u64, u64)>,
}

impl Meta {
    /// The `If-Range` value: a strong ETag, else Last-Modified; never a weak ETag.
    pub(crate) fn if_range(&self) -> Option<&str> {
        match &self.etag {
            Some(e) if !e.starts_with("W/") => Some(e),
            _ => self.last_modified.as_deref(),
        }
    }

    /// Whether a split download's partial of `len` bytes holds every byte its sidecar counts
    /// as done (a run killed between cutting a partial back and deleting its sidecar leaves
    /// one that does not: the "done" ranges are gone).
    pub(crate) fn done_is_on_disk(&self, len: u64) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        // Past the last byte counted as done, only missing ranges: the run of adjacent ones
        // that reaches the end (a split cuts its file into adjacent ranges).
        let mut todo = self.todo.clone();
        todo.sort_unstable();
        let mut done_end = total;
        for &(from, to) in todo.iter().rev() {
            if to < done_end {
                break;
            }
            done_end = done_end.min(from);
        }
        len >= done_end
    }

    fn encode(&self) -> String {
        let magic = if self.todo.is_empty() {
            MAGIC
        } else {
            MAGIC_SPLIT
        };
        let mut s = format!("{magic}\nurl {}\n", self.url);
        if let Some(e) = &self.etag {
            s += &format!("etag {e}\n");
        }
        if let Some(l) = &self.last_modified {
            s += &format!("last-modified {l}\n");
        }
        if let Some(t) = self.total {
            s += &format!("total {t}\n");
        }
        for (from, to) in &self.todo {
            s += &format!("todo {from} {to}\n");
        }
        s += &format!("resumable {}\nend\n", self.resumable);
        s
    }

    /// `None` when the text is not a complete sidecar of ours (anything after `end` is the
    /// tail of a longer earlier version, left by a run killed while rewriting it).
    fn decode(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        let magic = lines.next()?;
        if magic != MAGIC && magic != MAGIC_SPLIT {
            return None;
        }
        let mut meta = Meta::default();
        for line in lines {
            if line == "end" {
                return Some(meta);
            }
            let (key, value) = line.split_once(' ')?;
            let value = value.to_string();
            match key {
                "url" => meta.url = value,
                "etag" => meta.etag = Some(value),
                "last-modified" => meta.last_modified = Some(value),
                "total" => meta.total = Some(value.parse().ok()?),
                "resumable" => meta.resumable = value == "true",
                "todo" => {
                    let (from, to) = value.split_once(' ')?;
                    let range = (from.parse().ok()?, to.parse().ok()?);
                    // Ranges out of order or past the total are not a sidecar we wrote.
                    if range.0 >= range.1 || meta.total.is_none_or(|t| range.1 > t) {
                        return None;
                    }
                    meta.todo.push(range);
                }
                _ => {}
            }
        }
        None
    }
}

/// What sits at the sidecar's path.
#[derive(Debug)]
enum Sidecar {
    Absent,
    /// Written by fetchpool (it starts with our header, or is empty: killed right after
    /// creating it); ours to rewrite or delete: that file only (see [`Pinned`]).
    Ours(Option<Pinned>),
}

impl Sidecar {
    fn ours(&self) -> bool {
        matches!(self, Sidecar::Ours(_))
    }
}

/// The sidecar file a partial wrote or read, held open: while it is, no other file can
/// have its device and inode, so those say whether the file at the sidecar's path is still
/// this one. Another run that finds it stale after this run's rename replaces it with a
/// file of its own, which this run then leaves alone.
#[derive(Debug)]
struct Pinned {
    _file: File,
    id: (u64, u64),
    /// When it was last written.
    written: Option<std::time::SystemTime>,
}

impl Pinned {
    fn of(file: File) -> Option<Pinned> {
        let m = file.metadata().ok()?;
        Some(Pinned::with(file, &m))
    }

    /// `file`, whose metadata `m` was just read.
    fn with(file: File, m: &fs::Metadata) -> Pinned {
        Pinned {
            id: (m.dev(), m.ino()),
            written: m.modified().ok(),
            _file: file,
        }
    }
}

/// A locked `<final>.part` and what is known about its bytes.
pub(crate) struct Partial {
    file: File,
    /// The job's URL (redacted), for messages.
    url: String,
    temps: Temps,
    sidecar: Sidecar,
    /// Whether this run may cut the bytes back or delete the file: fetchpool created it, or
    /// it carries fetchpool's sidecar.
    owned: bool,
    /// Bytes on disk: everything before this offset is a prefix of the remote file.
    pub len: u64,
    /// Validators, when this partial has any (a `.part` left by another tool has none).
    pub meta: Option<Meta>,
    /// Created by this call and locked without waiting: no other run can have finished the
    /// file meanwhile.
    pub fresh: bool,
}

impl Partial {
    /// Open `<final>.part`, or create it exclusively, and lock it. Never follows a symlink.
    /// Waits (with a warning) while another run holds the lock, until `stop` is set.
    ///
    /// # Errors
    /// [`Error::Io`] on the temporaries, [`Error::UnsafePartial`] for a link,
    /// [`Error::ForeignFile`] when the sidecar's path holds a file fetchpool did not write,
    /// [`Error::Interrupted`] when stopped while waiting.
    pub(crate) fn open(
        final_path: &Path,
        url: &str,
        stop: &Stop,
        before_waiting: &mut dyn FnMut(),
    ) -> Result<Partial, Error> {
        let temps = temp_paths(final_path);
        let path = &temps.part;
        let mut waited = false;
        loop {
            let (file, created) = open_or_create(path, url)?;
            waited |= lock(&file, path, url, stop, before_waiting)?;
            // After any wait, another run may have finished the file: not fresh.
            if created && !waited {
                // Just created, exclusively, and locked at once: nothing to learn from the
                // disk (the hot path of a list of small files saves three system calls).
                // Whatever sits at the sidecar's path is looked at only if one is written.
                return Ok(Partial {
                    file,
                    url: url.to_string(),
                    len: 0,
                    temps,
                    sidecar: Sidecar::Absent,
                    owned: true,
                    meta: None,
                    fresh: true,
                });
            }
            if let Some(partial) = Partial::settle(file, created, &temps, url)? {
                return Ok(partial);
            }
        }
    }

    /// What a locked `.part` holds, learned from the disk: `None` when it is no longer at its
    /// path (another run renamed it into place while we waited for its lock). `created`: this
    /// run made the file (another run may still have locked it first and written to it).
    fn settle(
        file: File,
        created: bool,
        temps: &Temps,
        url: &str,
    ) -> Result<Option<Partial>, Error> {
        let path = &temps.part;
        let io = |p: &Path, e| Error::file(url, p, e);
        // While we waited the other run may have renamed this inode into place:
        // only a lock on the inode that still sits at `path` counts.
        let ours = file.metadata().map_err(|e| io(path, e))?;
        if !ours.is_file() {
            return Err(Error::UnsafePartial {
                url: url.to_string(),
                path: path.clone(),
            });
        }
        match fs::symlink_metadata(path) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {}
            _ => return Ok(None),
        }
        // An empty sidecar is one a run was killed in the middle of writing, before the
        // partial's first byte: ours only beside an empty partial that was already there.
        let (sidecar, meta) = read_sidecar(&temps.meta, url, !created && ours.len() == 0)?;
        // A sidecar is written after its partial was made: one last written before this
        // partial was born (where the file system tells) belongs to an earlier partial
        // (left by a run killed between a rename and the sidecar's deletion).
        let stale = match (&sidecar, ours.created()) {
            (Sidecar::Ours(Some(p)), Ok(born)) => p.written.is_some_and(|w| w < born),
            _ => false,
        };
        let meta = meta.filter(|_| !stale);
        // Nor does it make the bytes ours: they may be another tool's.
        let owned = created || (sidecar.ours() && !stale);
        let mut len = ours.len();
        let meta = match meta {
            // A sidecar beside an empty partial we just created is stale.
            Some(_) if created && len == 0 => None,
            // Otherwise it describes the bytes: also when another run opened the partial
            // we created and locked it first (it records the version before the bytes).
            Some(meta) => Some(meta),
            // Bytes fetchpool wrote (in a file we created, or beside a sidecar of ours that
            // a kill left unreadable) whose version is unknown: another run of ours died
            // before recording it, or in the middle of rewriting it. Never continued.
            None if owned && len > 0 => {
                file.set_len(0).map_err(|e| io(path, e))?;
                len = 0;
                None
            }
            None => None,
        };
        Ok(Some(Partial {
            file,
            url: url.to_string(),
            len,
            temps: temps.clone(),
            sidecar,
            owned,
            meta,
            fresh: false,
        }))
    }

    /// Take the bytes as this run's to cut back or delete, whoever wrote them (`--force`).
    pub(crate) fn adopt(&mut self) {
        self.owned = true;
    }

    /// Forget every byte and validator: the next write starts the file from zero.
    ///
    /// # Errors
    /// [`Error::ForeignPartial`] when the bytes are another tool's: they are never cut back.
    pub(crate) fn restart(&mut self) -> Result<(), Error> {
        // An empty one, whoever made it, holds nothing to lose.
        if !self.owned && self.len > 0 {
            return Err(Error::ForeignPartial {
                url: self.url.clone(),
                path: self.temps.part.clone(),
            });
        }
        self.truncate(0)?;
        self.meta = None;
        self.remove_sidecar()
    }

    /// Cut the bytes back to `len` (a reply that turned out wrong after it was written).
    pub(crate) fn truncate(&mut self, len: u64) -> Result<(), Error> {
        if len < self.len {
            self.file
                .set_len(len)
                .map_err(|e| Error::file(&self.url, &self.temps.part, e))?;
            self.len = len;
        }
        Ok(())
    }

    /// Record the validators of the version being written; called before the first byte
    /// that leaves the partial incomplete. The sidecar is created exclusively, or rewritten
    /// in place when it is already ours (one write, then the length: a run killed in between
    /// leaves our text followed by an ignored tail, never text of its own making).
    pub(crate) fn set_meta(&mut self, meta: Meta) -> Result<(), Error> {
        let path = &self.temps.meta;
        let io = |e| Error::file(&self.url, path, e);
        let text = meta.encode();
        let open = |create: bool| {
            OpenOptions::new()
                .write(true)
                .create_new(create)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
        };
        let f = match &self.sidecar {
            Sidecar::Ours(_) => open(false),
            // Something is there after all (a fresh partial did not look): a sidecar of an
            // earlier run of ours is replaced by a new file (a run that has just renamed its
            // partial into place may still be about to delete its own, by its identity);
            // anything else is refused, untouched.
            Sidecar::Absent => match open(true) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    read_sidecar(path, &self.url, false)?;
                    remove_if_exists(path, &self.url)?;
                    open(true)
                }
                other => other,
            },
        };
        let f = f.map_err(io)?;
        f.write_all_at(text.as_bytes(), 0).map_err(io)?;
        f.set_len(text.len() as u64).map_err(io)?;
        self.sidecar = Sidecar::Ours(Pinned::of(f));
        self.owned = true;
        self.meta = Some(meta);
        Ok(())
    }

    /// A handle that writes the file's bytes at any offset and rewrites its sidecar, for
    /// the workers of a split download (which hold no `Partial`: the one that opened it keeps
    /// the lock for them all). The sidecar must already be ours ([`Partial::set_meta`]).
    pub(crate) fn shared(&self) -> Result<Shared, Error> {
        let io = |p: &Path, e| Error::file(&self.url, p, e);
        let file = self.file.try_clone().map_err(|e| io(&self.temps.part, e))?;
        let sidecar = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.temps.meta)
            .map_err(|e| io(&self.temps.meta, e))?;
        Ok(Shared {
            file,
            sidecar,
            url: self.url.clone(),
            temps: self.temps.clone(),
        })
    }

    /// After a split download wrote bytes with [`Shared`]: the length of the file as it now
    /// is (so a restart cuts all of it back), and, when given, the validators it now has.
    pub(crate) fn reload(&mut self, meta: Option<Meta>) -> Result<(), Error> {
        self.len = self
            .file
            .metadata()
            .map_err(|e| Error::file(&self.url, &self.temps.part, e))?
            .len();
        if let Some(meta) = meta {
            self.meta = Some(meta);
        }
        Ok(())
    }

    /// Append `buf` at the end of the partial.
    pub(crate) fn append(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.file
            .write_all_at(buf, self.len)
            .map_err(|e| Error::file(&self.url, &self.temps.part, e))?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Whether a whole body may go without a sidecar: the partial was created afresh and
    /// none was written for it.
    pub(crate) fn needs_no_sidecar(&self) -> bool {
        self.fresh && matches!(self.sidecar, Sidecar::Absent)
    }

    /// Append a whole body that gets no sidecar, its last byte first: the file has its full
    /// length before any other byte is written, so a run killed in the middle of the write
    /// never leaves a shorter prefix that a later run could take for another tool's partial
    /// and continue with another version's bytes. (What it leaves, at full length, is never
    /// continued: the next run says so, and `--force` finishes it.)
    pub(crate) fn append_whole(&mut self, buf: &[u8]) -> Result<(), Error> {
        let Some((last, head)) = buf.split_last() else {
            return Ok(());
        };
        let io = |e| Error::file(&self.url, &self.temps.part, e);
        let end = self.len + head.len() as u64;
        self.file
            .write_all_at(std::slice::from_ref(last), end)
            .map_err(io)?;
        self.file.write_all_at(head, self.len).map_err(io)?;
        self.len = end + 1;
        Ok(())
    }

    /// The open `.part`, for its timestamps and attributes.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// A reader over the bytes on disk, from the start.
    pub(crate) fn reader(&self) -> Result<impl Read + '_, Error> {
        // Writes are positional (`write_at`), so moving the descriptor's offset is harmless.
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::file(&self.url, &self.temps.part, e))?;
        Ok(file.take(self.len))
    }

    /// SHA-256 of the bytes on disk, lowercase hex.
    pub(crate) fn sha256(&self) -> Result<String, Error> {
        sha256_of(self.reader()?).map_err(|e| Error::file(&self.url, &self.temps.part, e))
    }

    /// The complete file takes its final name; then its sidecar goes (only if it is still
    /// the file this partial wrote: another run may have started the file again since the
    /// rename). Deleting it first would turn a run killed in between into a complete
    /// partial without its version, which the next run could not tell from another tool's.
    pub(crate) fn finish(mut self, final_path: &Path) -> Result<(), Error> {
        fs::rename(&self.temps.part, final_path)
            .map_err(|e| Error::file(&self.url, final_path, e))?;
        log::debug!(
            "renamed {} -> {}",
            self.temps.part.display(),
            final_path.display()
        );
        self.remove_sidecar()
    }

    /// The complete file takes the name `final_path` only if nothing has that name yet
    /// (`renameat2` with `RENAME_NOREPLACE`, atomic). `Ok(false)` when the name is taken or
    /// the file system cannot promise that; the partial is then still here.
    pub(crate) fn finish_new(&mut self, final_path: &Path) -> Result<bool, Error> {
        let cstr = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes());
        let (from, to) = match (cstr(&self.temps.part), cstr(final_path)) {
            (Ok(f), Ok(t)) => (f, t),
            _ => return Ok(false),
        };
        let io = |e| Error::file(&self.url, final_path, e);
        // SAFETY: two NUL-terminated paths relative to the current directory.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EEXIST | libc::EINVAL | libc::ENOSYS) => Ok(false),
                _ => Err(io(e)),
            };
        }
        log::debug!(
            "renamed {} -> {}",
            self.temps.part.display(),
            final_path.display()
        );
        self.remove_sidecar()?;
        Ok(true)
    }

    /// Delete the partial and its sidecar (their bytes are known to be wrong or useless).
    /// Another tool's partial is left where it is.
    /// Ours are emptied first, then the sidecar goes, then the file: a run killed on the
    /// way leaves nothing that a later run could continue as other bytes than they are.
    pub(crate) fn discard(mut self) -> Result<(), Error> {
        if self.owned {
            self.truncate(0)?;
        }
        self.remove_sidecar()?;
        if self.owned {
            remove_if_exists(&self.temps.part, &self.url)?;
        }
        Ok(())
    }

    /// Delete the sidecar, when it is still the file this partial wrote or read.
    fn remove_sidecar(&mut self) -> Result<(), Error> {
        if let Sidecar::Ours(pinned) = std::mem::replace(&mut self.sidecar, Sidecar::Absent) {
            let path = &self.temps.meta;
            let there = fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()));
            if pinned.is_none_or(|p| Some(p.id) == there) {
                remove_if_exists(path, &self.url)?;
            }
        }
        Ok(())
    }
}

/// The `.part` and its sidecar as the workers of one split download share them.
pub(crate) struct Shared {
    file: File,
    sidecar: File,
    url: String,
    temps: Temps,
}

impl Shared {
    /// Write `buf` at `offset` of the `.part`.
    pub(crate) fn write_at(&self, buf: &[u8], offset: u64) -> Result<(), Error> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::file(&self.url, &self.temps.part, e))
    }

    /// Rewrite the sidecar in place (as [`Partial::set_meta`] does: one write, then the
    /// length). Called only after the bytes it counts as done were written.
    pub(crate) fn record(&self, meta: &Meta) -> Result<(), Error> {
        let io = |e| Error::file(&self.url, &self.temps.meta, e);
        let text = meta.encode();
        self.sidecar.write_all_at(text.as_bytes(), 0).map_err(io)?;
        self.sidecar.set_len(text.len() as u64).map_err(io)
    }
}

/// Take the lock on `file`; while another run holds it, wait (polling, so that `stop` ends
/// the wait: a blocking `flock` would ignore Ctrl-C). Returns whether it had to wait.
fn lock(
    file: &File,
    path: &Path,
    url: &str,
    stop: &Stop,
    before_waiting: &mut dyn FnMut(),
) -> Result<bool, Error> {
    let mut warned = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(warned),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(Error::file(url, path, e)),
        }
        if !warned {
            log::warn!(
                "{}: another fetchpool run is writing it; waiting",
                path.display()
            );
            warned = true;
            before_waiting();
        }
        if stop.is_set() {
            return Err(Error::Interrupted {
                url: url.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Create `path` exclusively (O_EXCL: never through anything already there, a dangling
/// symlink included), or open the regular file that is there without following a link.
/// Creates missing parent directories. Returns the file and whether it was created.
fn open_or_create(path: &Path, url: &str) -> Result<(File, bool), Error> {
    let io = |p: &Path, e| Error::file(url, p, e);
    let mut made_parent = false;
    loop {
        let created = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path);
        match created {
            Ok(f) => return Ok((f, true)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !made_parent => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                }
                made_parent = true;
                continue;
            }
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io(path, e)),
            Err(_) => {}
        }
        let existing = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path);
        match existing {
            Ok(f) => return Ok((f, false)),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Error::UnsafePartial {
                    url: url.to_string(),
                    path: path.to_path_buf(),
                });
            }
            // Gone between the two calls (another run renamed it): create it again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(path, e)),
        }
    }
}

/// What is at the sidecar's path. A symlink, a non-regular file or a file without our header
/// is not ours: the download stops there rather than overwrite or delete it.
fn read_sidecar(
    path: &Path,
    url: &str,
    empty_is_ours: bool,
) -> Result<(Sidecar, Option<Meta>), Error> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Sidecar::Absent, None)),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::UnsafePartial {
                url: url.to_string(),
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(Error::file(url, path, e)),
    };
    let foreign = || Error::ForeignFile {
        url: url.to_string(),
        path: path.to_path_buf(),
    };
    let m = match file.metadata() {
        Ok(m) if m.is_file() => m,
        _ => return Err(foreign()),
    };
    let mut text = Vec::new();
    Read::take(&mut file, 64 * 1024)
        .read_to_end(&mut text)
        .map_err(|e| Error::file(url, path, e))?;
    if text.is_empty() && empty_is_ours {
        return Ok((Sidecar::Ours(Some(Pinned::with(file, &m))), None));
    }
    if !text.starts_with(MAGIC.as_bytes()) && !text.starts_with(MAGIC_SPLIT.as_bytes()) {
        return Err(foreign());
    }
    let meta = std::str::from_utf8(&text).ok().and_then(Meta::decode);
    Ok((Sidecar::Ours(Some(Pinned::with(file, &m))), meta))
}

fn remove_if_exists(path: &Path, url: &str) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::file(url, path, e)),
    }
}

/// SHA-256 of everything `reader` yields, lowercase hex.
pub(crate) fn sha256_of(mut reader: impl Read) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_part_path_is_the_first_temporary() {
        let long = format!("o/{}", "é".repeat(124));
        // The longest name whose temporaries are suffixed, and one byte more.
        let fits = format!("/o/{}", "n".repeat(NAME_MAX - META.len()));
        let over = format!("{fits}n");
        for p in [
            "o/a.csv",
            "a",
            "/b",
            "/o/d/x.part",
            "o/x/",
            "o/x/.",
            "o/..",
            "a/./b",
            "a//b",
            "a/../b",
            &long,
            &fits,
            &over,
        ] {
            let p = Path::new(p);
            let (fast, general) = (part_path(p), temp_paths(p).part);
            assert_eq!(fast, general, "{}", p.display());
            // The same spelling too, except where `with_file_name` in `temp_paths` goes
            // through `parent()`: `a//b` and `a/./b` give `a/b.part`, the same file.
            if !p
                .to_str()
                .is_some_and(|s| s.contains("//") || s.contains("/./"))
            {
                assert_eq!(fast.as_os_str(), general.as_os_str(), "{}", p.display());
            }
        }
    }

    /// Version `etag` of URL `u`, 51 676 bytes long.
    pub(crate) fn version(etag: &str) -> Meta {
        Meta {
            url: "u".into(),
            etag: Some(format!("\"{etag}\"")),
            last_modified: None,
            total: Some(51_676),
            resumable: true,
            todo: Vec::new(),
        }
    }

    fn ino(path: &Path) -> u64 {
        fs::symlink_metadata(path).unwrap().ino()
    }

    /// Two runs start one file together: this one creates the `.part`, the other opens it
    /// and takes the lock first, records its version and writes some of it. The bytes this
    /// run finds are continued as that version (If-Range), never as unknown bytes.
    #[test]
    fn a_partial_another_run_locked_first_keeps_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let final_path = dir.path().join("f4");
        let temps = temp_paths(&final_path);
        let (created, is_new) = open_or_create(&temps.part, "u").unwrap();
        assert!(is_new);
        let mut other = Partial::settle(
            open_or_create(&temps.part, "u").unwrap().0,
            false,
            &temps,
            "u",
        )
        .unwrap()
        .unwrap();
        other.set_meta(version("v0")).unwrap();
        other.append(&[7; 30_000]).unwrap();
        drop(other);
        let mine = Partial::settle(created, true, &temps, "u")
            .unwrap()
            .unwrap();
        assert_eq!(mine.len, 30_000);
        assert_eq!(mine.meta, Some(version("v0")));
        assert_eq!(mine.meta.as_ref().and_then(Meta::if_range), Some("\"v0\""));
    }

    /// Bytes in a `.part` this run created, with no sidecar beside them: another run of ours
    /// died before writing it. Their version is unknown, so they are never continued.
    #[test]
    fn bytes_without_their_version_in_a_partial_we_created_go() {
        let dir = tempfile::tempdir().unwrap();
        let temps = temp_paths(&dir.path().join("f"));
        let (created, _) = open_or_create(&temps.part, "u").unwrap();
        fs::write(&temps.part, [1; 1000]).unwrap();
        let mine = Partial::settle(created, true, &temps, "u")
            .unwrap()
            .unwrap();
        assert_eq!((mine.len, mine.meta.is_none()), (0, true));
        assert_eq!(fs::metadata(&temps.part).unwrap().len(), 0);
        drop(mine);
        // Beside a sidecar of ours that a kill left unreadable (cut before its end line).
        fs::write(&temps.part, [1; 1000]).unwrap();
        let text = version("v").encode();
        fs::write(&temps.meta, &text[..text.len() - 4]).unwrap();
        let (existing, created) = open_or_create(&temps.part, "u").unwrap();
        assert!(!created);
        let mine = Partial::settle(existing, false, &temps, "u")
            .unwrap()
            .unwrap();
        assert_eq!((mine.len, mine.meta.is_none()), (0, true));
    }

    /// A run renames its partial into place and then deletes its sidecar; meanwhile another
    /// run has started the file again and put its own sidecar there. Only the first run's
    /// own sidecar is deleted: the second one's stays with the second one's bytes.
    #[test]
    fn a_sidecar_another_run_put_in_its_place_is_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let final_path = dir.path().join("f");
        let temps = temp_paths(&final_path);
        let mut first = Partial::open(&final_path, "u", &Stop::default(), &mut || {}).unwrap();
        first.set_meta(version("v0")).unwrap();
        first.append(b"v0").unwrap();
        // The second run replaces the (to it stale) sidecar by a file of its own.
        fs::remove_file(&temps.meta).unwrap();
        fs::write(&temps.meta, version("v1").encode()).unwrap();
        first.finish(&final_path).unwrap();
        let left = fs::read_to_string(&temps.meta).unwrap();
        assert_eq!(Meta::decode(&left), Some(version("v1")));
        // A stale sidecar found by a fresh partial is replaced by a new file, not rewritten
        // (held open here, as the run that wrote it holds it until it has deleted it).
        let held = File::open(&temps.meta).unwrap();
        let stale = ino(&temps.meta);
        let mut again = Partial::open(&final_path, "u", &Stop::default(), &mut || {}).unwrap();
        assert!(again.fresh);
        again.set_meta(version("v2")).unwrap();
        assert_ne!(ino(&temps.meta), stale, "a new file");
        drop(held);
        again.discard().unwrap();
        assert!(!temps.meta.exists() && !temps.part.exists());
    }

    /// A sidecar older than its partial belongs to an earlier one (a run killed between a
    /// rename and the sidecar's deletion): it does not vouch for the bytes now there.
    #[test]
    fn a_sidecar_older_than_its_partial_vouches_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let temps = temp_paths(&dir.path().join("f"));
        fs::write(&temps.meta, version("v").encode()).unwrap();
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&temps.meta)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        fs::write(&temps.part, vec![0; 51_676]).unwrap();
        let (existing, _) = open_or_create(&temps.part, "u").unwrap();
        let p = Partial::settle(existing, false, &temps, "u")
            .unwrap()
            .unwrap();
        // Where the file system keeps no birth time the check cannot be made (and is not);
        // the file systems CI writes to keep one.
        let born = fs::metadata(&temps.part).unwrap().created();
        assert!(
            born.is_ok() || std::env::var_os("CI").is_none(),
            "no birth time"
        );
        if born.is_ok() {
            assert!(
                p.meta.is_none() && !p.owned,
                "neither vouched for nor taken as ours"
            );
            assert_eq!(p.len, 51_676, "another tool's bytes, perhaps: kept");
        }
        // Written after the partial was made, it describes it.
        fs::write(&temps.part, b"abc").unwrap();
        fs::write(&temps.meta, version("v").encode()).unwrap();
        let (existing, _) = open_or_create(&temps.part, "u").unwrap();
        let p = Partial::settle(existing, false, &temps, "u")
            .unwrap()
            .unwrap();
        assert_eq!((p.len, p.meta), (3, Some(version("v"))));
    }

    /// An empty `.part` that is not ours (a run killed right after creating it, or between
    /// deleting a sidecar and its partial) holds nothing to lose: it can be started again.
    #[test]
    fn an_empty_partial_of_unknown_origin_can_start_again() {
        let dir = tempfile::tempdir().unwrap();
        let temps = temp_paths(&dir.path().join("f"));
        fs::write(&temps.part, b"").unwrap();
        let (existing, created) = open_or_create(&temps.part, "u").unwrap();
        assert!(!created);
        let mut p = Partial::settle(existing, false, &temps, "u")
            .unwrap()
            .unwrap();
        assert!(!p.owned);
        p.restart().unwrap();
        fs::write(&temps.part, b"theirs").unwrap();
        let (existing, _) = open_or_create(&temps.part, "u").unwrap();
        let mut p = Partial::settle(existing, false, &temps, "u")
            .unwrap()
            .unwrap();
        assert!(matches!(p.restart(), Err(Error::ForeignPartial { .. })));
        assert_eq!(fs::read(&temps.part).unwrap(), b"theirs");
    }

    /// A rename that fails leaves the partial, and the record of its version beside it.
    #[test]
    fn a_failed_rename_keeps_the_record_of_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let final_path = dir.path().join("f");
        let mut p = Partial::open(&final_path, "u", &Stop::default(), &mut || {}).unwrap();
        p.set_meta(version("v")).unwrap();
        p.append(b"abc").unwrap();
        let taken = dir.path().join("taken");
        fs::create_dir(&taken).unwrap();
        fs::write(taken.join("x"), b"").unwrap();
        assert!(p.finish(&taken).is_err());
        let temps = temp_paths(&final_path);
        let text = fs::read_to_string(&temps.meta).unwrap();
        assert_eq!(Meta::decode(&text), Some(version("v")));
        assert_eq!(fs::read(&temps.part).unwrap(), b"abc");
    }

    /// A whole body written last byte first ends up byte for byte, at any length.
    #[test]
    fn a_whole_body_is_written_exactly() {
        let dir = tempfile::tempdir().unwrap();
        for body in [&b""[..], b"x", b"hello, world", &[9; 70_000]] {
            let final_path = dir.path().join(format!("f{}", body.len()));
            let mut p = Partial::open(&final_path, "u", &Stop::default(), &mut || {}).unwrap();
            p.append_whole(body).unwrap();
            assert_eq!(p.len, body.len() as u64);
            p.finish(&final_path).unwrap();
            assert_eq!(fs::read(&final_path).unwrap(), body);
        }
    }

    #[test]
    fn meta_round_trips_and_prefers_strong_etags() {
        let m = Meta {
            url: "http://h/x".into(),
            etag: Some("W/\"1\"".into()),
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
            total: Some(42),
            resumable: true,
            todo: Vec::new(),
        };
        assert_eq!(Meta::decode(&m.encode()), Some(m.clone()));
        assert_eq!(m.if_range(), Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        let strong = Meta {
            etag: Some("\"abc\"".into()),
            ..m.clone()
        };
        assert_eq!(strong.if_range(), Some("\"abc\""));
        assert_eq!(Meta::decode("garbage"), None);
        // A rewrite cut short by a kill: our text, then the tail of a longer old one.
        let cut = m.encode() + "etag \"old\"\nend\n";
        assert_eq!(Meta::decode(&cut), Some(m.clone()));
        // Our header without its end line is not a sidecar to trust.
        let text = m.encode();
        assert_eq!(Meta::decode(&text[..text.len() - 4]), None);
    }

    #[test]
    fn a_split_partial_cut_back_is_not_taken_for_its_ranges() {
        let m = Meta {
            todo: vec![(0, 10), (60, 100)],
            ..version("v")
        };
        let m = Meta {
            total: Some(100),
            ..m
        };
        assert!(m.done_is_on_disk(60) && m.done_is_on_disk(100));
        assert!(!m.done_is_on_disk(0) && !m.done_is_on_disk(59));
        // Killed after the first 10 bytes of a file split in four: the adjacent ranges to
        // the end are all missing, and the 10 bytes are enough.
        let four = Meta {
            todo: vec![(50, 75), (10, 25), (75, 100), (25, 50)],
            ..m.clone()
        };
        assert!(four.done_is_on_disk(10) && !four.done_is_on_disk(9));
        let to_the_end = Meta {
            todo: vec![(20, 30)],
            ..m.clone()
        };
        assert!(to_the_end.done_is_on_disk(100) && !to_the_end.done_is_on_disk(99));
        assert!(!Meta { total: None, ..m }.done_is_on_disk(100));
    }

    #[test]
    fn split_sidecars_list_missing_ranges_under_their_own_header() {
        let m = Meta {
            url: "http://h/x".into(),
            etag: Some("\"1\"".into()),
            total: Some(100),
            resumable: true,
            todo: vec![(10, 50), (75, 100)],
            ..Meta::default()
        };
        let text = m.encode();
        // An older fetchpool, which only knows the first header, must not take it for its own.
        assert!(text.starts_with(MAGIC_SPLIT) && !text.starts_with(MAGIC));
        assert_eq!(Meta::decode(&text), Some(m.clone()));
        let past_end = text.replace("todo 75 100", "todo 75 101");
        assert_eq!(Meta::decode(&past_end), None);
        let empty = text.replace("todo 75 100", "todo 75 75");
        assert_eq!(Meta::decode(&empty), None);
    }

    #[test]
    fn partial_refuses_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        fs::write(&target, b"keep me").unwrap();
        let final_path = dir.path().join("f");
        std::os::unix::fs::symlink(&target, temp_paths(&final_path).part).unwrap();
        assert!(matches!(
            Partial::open(&final_path, "u", &Stop::default(), &mut || {}),
            Err(Error::UnsafePartial { .. })
        ));
        assert_eq!(fs::read(&target).unwrap(), b"keep me");
    }

    #[test]
    fn temporaries_fit_the_name_limit_and_stay_distinct() {
        let short = temp_paths(Path::new("/d/a.bin"));
        assert_eq!(short.part, Path::new("/d/a.bin.part"));
        assert_eq!(short.meta, Path::new("/d/a.bin.part.meta"));
        for len in [245, 246, 255] {
            let name = "é".repeat(len / 2) + &"x".repeat(len % 2);
            assert_eq!(name.len(), len);
            let t = temp_paths(&Path::new("/d").join(&name));
            for p in [&t.part, &t.meta] {
                let n = p.file_name().unwrap().len();
                assert!(n <= NAME_MAX, "{len}: {n}");
                assert!(p.to_str().is_some(), "cut inside a character");
            }
            let other = temp_paths(&Path::new("/d").join(name.clone() + "y"));
            assert_ne!(t.part, other.part);
        }
    }
}
