//! Checks on the output files a command was asked to write, run before any long work starts.

use crate::error::{CliError, Result};
use nabla_core::atomic::check_writable;
use std::path::PathBuf;

/// Errors when two outputs name the same file, or when a file cannot be created where it is
/// asked for (missing or read-only directory, a directory given as the file).
pub fn check_outputs(outputs: &[&Option<PathBuf>]) -> Result<()> {
    let mut seen: Vec<&PathBuf> = Vec::new();
    for path in outputs.iter().copied().flatten() {
        if seen.contains(&path) {
            return Err(CliError::Usage(format!(
                "{} is given for two outputs",
                path.display()
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
