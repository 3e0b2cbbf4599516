/*!
The temporary side of a download: `<final>.part` holds the bytes received so far and
`<final>.part.meta` the validators that say which version of the remote file they belong to
(URL, ETag, Last-Modified, total length). Both are opened without following symlinks, the
`.part` is created exclusively and locked for as long as a run writes it, so overlapping runs
never write the same file. The final path only ever appears through a rename of a complete file.
*/

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::job::part_path;

/// Validators of the remote file a partial belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The URL without credentials.
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Full length of the remote file, when known.
    pub total: Option<u64>,
    /// False when the bytes on disk are not the server's bytes as stored (a decoded
    /// Content-Encoding): a Range cannot continue them.
    pub resumable: bool,
}

impl Meta {
    /// The `If-Range` value: a strong ETag, else Last-Modified; never a weak ETag.
    pub(crate) fn if_range(&self) -> Option<&str> {
        match &self.etag {
            Some(e) if !e.starts_with("W/") => Some(e),
            _ => self.last_modified.as_deref(),
        }
    }

    fn encode(&self) -> String {
        let mut s = format!("fetchpool-partial 1\nurl {}\n", self.url);
        if let Some(e) = &self.etag {
            s += &format!("etag {e}\n");
        }
        if let Some(l) = &self.last_modified {
            s += &format!("last-modified {l}\n");
        }
        if let Some(t) = self.total {
            s += &format!("total {t}\n");
        }
        s += &format!("resumable {}\n", self.resumable);
        s
    }

    fn decode(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        if lines.next()? != "fetchpool-partial 1" {
            return None;
        }
        let mut meta = Meta::default();
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            let value = value.to_string();
            match key {
                "url" => meta.url = value,
                "etag" => meta.etag = Some(value),
                "last-modified" => meta.last_modified = Some(value),
                "total" => meta.total = Some(value.parse().ok()?),
                "resumable" => meta.resumable = value == "true",
                _ => {}
            }
        }
        Some(meta)
    }
}

/// A locked `<final>.part` and what is known about its bytes.
pub(crate) struct Partial {
    file: File,
    path: PathBuf,
    meta_path: PathBuf,
    /// Bytes on disk: everything before this offset is a prefix of the remote file.
    pub len: u64,
    /// Validators, when this partial has any (a `.part` left by another tool has none).
    pub meta: Option<Meta>,
}

impl Partial {
    /// Open `<final>.part`, or create it exclusively, and lock it. Never follows a symlink.
    /// Waits (with a warning) while another run holds the lock.
    pub(crate) fn open(final_path: &Path) -> Result<Partial, Error> {
        let path = part_path(final_path);
        let mut meta_path = path.clone().into_os_string();
        meta_path.push(".meta");
        let meta_path = PathBuf::from(meta_path);
        loop {
            let (file, created) = open_or_create(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    log::warn!(
                        "{}: another fetchpool run is writing it; waiting",
                        path.display()
                    );
                    file.lock().map_err(|e| Error::io(&path, e))?;
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
            // While we waited the other run may have renamed this inode into place:
            // only a lock on the inode that still sits at `path` counts.
            let ours = file.metadata().map_err(|e| Error::io(&path, e))?;
            if !ours.is_file() {
                return Err(Error::UnsafePartial { path });
            }
            match fs::symlink_metadata(&path) {
                Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {
                    // A sidecar beside a partial we just created is stale; it is never read.
                    let meta = if created { None } else { read_meta(&meta_path) };
                    return Ok(Partial {
                        file,
                        len: ours.len(),
                        path,
                        meta_path,
                        meta,
                    });
                }
                _ => continue,
            }
        }
    }

    /// Forget every byte and validator: the next write starts the file from zero.
    pub(crate) fn restart(&mut self) -> Result<(), Error> {
        self.file.set_len(0).map_err(|e| Error::io(&self.path, e))?;
        self.len = 0;
        self.meta = None;
        remove_if_exists(&self.meta_path)
    }

    /// Record the validators of the version being written; called before the first byte
    /// that leaves the partial incomplete.
    pub(crate) fn set_meta(&mut self, meta: Meta) -> Result<(), Error> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.meta_path)
            .map_err(|e| Error::io(&self.meta_path, e))?;
        f.write_all(meta.encode().as_bytes())
            .map_err(|e| Error::io(&self.meta_path, e))?;
        self.meta = Some(meta);
        Ok(())
    }

    /// Append `buf` at the end of the partial.
    pub(crate) fn append(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.file
            .write_all_at(buf, self.len)
            .map_err(|e| Error::io(&self.path, e))?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// SHA-256 of the bytes on disk, lowercase hex.
    pub(crate) fn sha256(&self) -> Result<String, Error> {
        // Writes are positional (`write_at`), so moving the descriptor's offset is harmless.
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| sha256_of(file.take(self.len)))
            .map_err(|e| Error::io(&self.path, e))
    }

    /// The complete file takes its final name; the sidecar goes.
    pub(crate) fn finish(self, final_path: &Path) -> Result<(), Error> {
        fs::rename(&self.path, final_path).map_err(|e| Error::io(final_path, e))?;
        log::debug!(
            "renamed {} -> {}",
            self.path.display(),
            final_path.display()
        );
        remove_if_exists(&self.meta_path)
    }

    /// Delete the partial and its sidecar (its bytes are known to be wrong).
    pub(crate) fn discard(self) -> Result<(), Error> {
        remove_if_exists(&self.path)?;
        remove_if_exists(&self.meta_path)
    }
}

/// Create `path` exclusively (O_EXCL: never through anything already there, a dangling
/// symlink included), or open the regular file that is there without following a link.
/// Creates missing parent directories. Returns the file and whether it was created.
fn open_or_create(path: &Path) -> Result<(File, bool), Error> {
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
                    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                made_parent = true;
                continue;
            }
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(Error::io(path, e)),
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
                    path: path.to_path_buf(),
                });
            }
            // Gone between the two calls (another run renamed it): create it again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}

fn read_meta(path: &Path) -> Option<Meta> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let mut text = String::new();
    Read::take(&mut f, 64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    Meta::decode(&text)
}

fn remove_if_exists(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
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
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_prefers_strong_etags() {
        let m = Meta {
            url: "http://h/x".into(),
            etag: Some("W/\"1\"".into()),
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
            total: Some(42),
            resumable: true,
        };
        assert_eq!(Meta::decode(&m.encode()), Some(m.clone()));
        assert_eq!(m.if_range(), Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        let strong = Meta {
            etag: Some("\"abc\"".into()),
            ..m
        };
        assert_eq!(strong.if_range(), Some("\"abc\""));
        assert_eq!(Meta::decode("garbage"), None);
    }

    #[test]
    fn partial_refuses_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        fs::write(&target, b"keep me").unwrap();
        let final_path = dir.path().join("f");
        std::os::unix::fs::symlink(&target, part_path(&final_path)).unwrap();
        assert!(matches!(
            Partial::open(&final_path),
            Err(Error::UnsafePartial { .. })
        ));
        assert_eq!(fs::read(&target).unwrap(), b"keep me");
    }
}
