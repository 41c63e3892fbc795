//! Atomic file output: write under a temporary name in the destination directory, then rename.
//!
//! A reader (or a user after Ctrl-C or a crash) sees either the old file or the complete new
//! one, never a partial file: the rename within one directory is atomic on POSIX file systems.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The temporary name used while writing `path`: `.NAME.PID.N.tmp` in the same directory,
/// unique within the process (N counts up) and across processes (PID).
pub fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(parent_dir(path).join(tmp_name))
}

/// The directory `path` lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes `path` atomically: `body` writes into a buffered temporary file, which is flushed,
/// synced and renamed onto `path`. On any error the temporary file is removed and an existing
/// file at `path` is left unchanged.
pub fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        body(&mut w)?;
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Checks that `path` names a file (not a directory) in a directory that exists: what every
/// atomic writer checks first, so the error names the real problem rather than the temporary
/// file.
pub fn check_destination(path: &Path) -> io::Result<()> {
    if path.file_name().is_none() || path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory, not a file path",
        ));
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    Ok(())
}

/// Checks, before any long work starts, that a file can be created at `path`:
/// [`check_destination`], then creates and removes one temporary file there (so a read-only
/// directory is caught too).
pub fn check_writable(path: &Path) -> io::Result<()> {
    check_destination(path)?;
    let tmp = temp_path(path)?;
    OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    fs::remove_file(&tmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn writes_atomically_and_cleans_up_on_error() {
        let dir = std::env::temp_dir().join(format!("nabla-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.txt");
        write_atomic(&p, |w| w.write_all(b"one")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        let e = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(e.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"one", "old file kept");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary left");
        check_writable(&p).unwrap();
        assert!(check_writable(&dir).is_err());
        assert!(check_writable(&dir.join("missing/x.json")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
