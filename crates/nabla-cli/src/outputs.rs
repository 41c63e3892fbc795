//! The output files of one command: checked before any long work starts, written under
//! temporary names, and renamed onto the names the user gave only after every one of them
//! succeeded, so a failing command leaves none of them behind (and never a mix of new and old).

use crate::error::{CliError, Result};
use nabla::core::atomic::{check_writable, parent_dir};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Errors when two outputs name the same file, when an output names one of the command's input
/// files (it would be overwritten), or when a file cannot be created where it is asked for
/// (missing or read-only directory, a directory given as the file).
pub fn check_outputs(outputs: &[&Option<PathBuf>], inputs: &[&Option<PathBuf>]) -> Result<()> {
    let mut seen: Vec<&PathBuf> = Vec::new();
    for path in outputs.iter().copied().flatten() {
        if seen.iter().any(|p| same_file(p, path)) {
            return Err(CliError::Usage(format!(
                "{} is given for two outputs",
                path.display()
            )));
        }
        if let Some(input) = inputs
            .iter()
            .copied()
            .flatten()
            .find(|i| same_file(i, path))
        {
            return Err(CliError::Usage(format!(
                "output {} is the input {}: it would be overwritten; choose another output path",
                path.display(),
                input.display()
            )));
        }
        seen.push(path);
        check_writable(path).map_err(|source| CliError::Output {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// True when `a` and `b` name the same file: equal as given, or the same existing file on
/// disk (same device and inode: through `./`, `..`, symbolic or hard links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if a == b {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Output files staged under temporary names next to their destinations. [`Staged::commit`]
/// renames them all; dropping an uncommitted set removes the temporaries.
#[derive(Default)]
pub struct Staged {
    /// (temporary, destination) pairs in the order they were staged.
    files: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `destination` through `write`, which receives the temporary path to create (same
    /// directory and extension, so writers that pick a format from the extension still work).
    /// Errors from `write` are reported with the destination's name in place of the
    /// temporary one.
    pub fn write<E: std::fmt::Display>(
        &mut self,
        destination: &Path,
        write: impl FnOnce(&Path) -> std::result::Result<(), E>,
    ) -> Result<()> {
        let tmp = staging_path(destination);
        let result = write(&tmp);
        self.files.push((tmp.clone(), destination.to_path_buf()));
        result.map_err(|e| {
            CliError::Input(e.to_string().replace(
                &tmp.display().to_string(),
                &destination.display().to_string(),
            ))
        })
    }

    /// Renames every staged file onto its destination.
    pub fn commit(mut self) -> Result<()> {
        let files = std::mem::take(&mut self.files);
        for (k, (tmp, dest)) in files.iter().enumerate() {
            if let Err(source) = std::fs::rename(tmp, dest) {
                for (t, _) in &files[k..] {
                    let _ = std::fs::remove_file(t);
                }
                return Err(CliError::Output {
                    path: dest.clone(),
                    source,
                });
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// `.NAME.nabla-PID-N.EXT` beside `destination`.
fn staging_path(destination: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let ext = destination
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    parent_dir(destination).join(format!(
        ".{name}.nabla-{}-{}{ext}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_output_leaves_none_and_commit_renames_all() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.png"));
        {
            let mut staged = Staged::new();
            staged
                .write(&a, |p| std::fs::write(p, b"{}"))
                .expect("first output");
            let e = staged
                .write(&b, |p| {
                    Err::<(), _>(format!("{}: cannot plot", p.display()))
                })
                .unwrap_err();
            assert_eq!(e.to_string(), format!("{}: cannot plot", b.display()));
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let mut staged = Staged::new();
        staged.write(&a, |p| std::fs::write(p, b"{}")).unwrap();
        staged.write(&b, |p| std::fs::write(p, b"png")).unwrap();
        staged.commit().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"{}");
        assert_eq!(std::fs::read(&b).unwrap(), b"png");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn an_output_naming_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("A.mtx");
        std::fs::write(&input, "x").unwrap();
        let via_dot = dir.path().join(".").join("A.mtx");
        let e = check_outputs(&[&Some(via_dot)], &[&Some(input.clone())]).unwrap_err();
        assert!(e.to_string().contains("would be overwritten"), "{e}");
        let hard = dir.path().join("H.mtx");
        std::fs::hard_link(&input, &hard).unwrap();
        let e = check_outputs(&[&Some(hard)], &[&Some(input.clone())]).unwrap_err();
        assert!(e.to_string().contains("would be overwritten"), "{e}");
        assert_eq!(std::fs::read(&input).unwrap(), b"x");
    }
}
