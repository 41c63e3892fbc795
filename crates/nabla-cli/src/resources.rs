//! The resource guard: requests whose memory estimate exceeds what the machine has, or absurd
//! thread counts, are refused before any allocation, with the estimate in the message.
//!
//! The limit is `MemAvailable` of /proc/meminfo unless `--max-memory SIZE` (or the environment
//! variable `NABLA_MAX_MEMORY`) sets another one on purpose; where /proc/meminfo is missing
//! (non-Linux) and no limit is set, nothing is checked.

use crate::error::{CliError, Result};
use std::sync::OnceLock;

static LIMIT_OVERRIDE: OnceLock<Option<f64>> = OnceLock::new();

/// Most worker threads per core `--threads` accepts: oversubscription beyond this only costs.
pub const MAX_THREADS_PER_CORE: usize = 16;

/// Records `--max-memory` (already parsed to bytes); falls back to `NABLA_MAX_MEMORY`.
pub fn set_limit(flag: Option<f64>) -> Result<()> {
    let value = match flag {
        Some(b) => Some(b),
        None => match std::env::var("NABLA_MAX_MEMORY") {
            Ok(s) if !s.trim().is_empty() => Some(
                parse_size(&s).map_err(|e| CliError::Usage(format!("NABLA_MAX_MEMORY: {e}")))?,
            ),
            _ => None,
        },
    };
    let _ = LIMIT_OVERRIDE.set(value);
    Ok(())
}

/// Parses a memory size: a number of bytes with an optional K, M, G or T suffix (powers of
/// 1024; a trailing `B`/`iB` is accepted), e.g. `512M`, `64G`, `1.5TiB`.
pub fn parse_size(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (num, scale) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 1024f64),
        Some('m') => (&body[..body.len() - 1], 1024f64.powi(2)),
        Some('g') => (&body[..body.len() - 1], 1024f64.powi(3)),
        Some('t') => (&body[..body.len() - 1], 1024f64.powi(4)),
        _ => (body, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * scale),
        _ => Err(format!("'{t}' is not a memory size (e.g. 512M, 64G, 2T)")),
    }
}

/// clap value parser of `--max-memory`.
pub fn parse_size_flag(s: &str) -> std::result::Result<f64, String> {
    parse_size(s)
}

/// `MemAvailable` of /proc/meminfo in bytes.
pub fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Address space left under the soft `RLIMIT_AS` (`ulimit -v`): the limit minus this process's
/// current virtual size (`VmSize`); `None` when unlimited. Allocations past it fail (and Rust
/// aborts), however much memory is free.
pub fn address_space_left() -> Option<f64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the valid pointer it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut rl) } != 0
        || rl.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let used_kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    Some((rl.rlim_cur as f64 - used_kib * 1024.0).max(0.0))
}

/// Human-readable bytes (GiB, MiB, KiB; TiB/PiB for the absurd).
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Errors when `bytes` (the estimate for `what`) exceeds the limit.
pub fn check_memory(what: &str, bytes: f64) -> Result<()> {
    let (limit, source) = match LIMIT_OVERRIDE.get().copied().flatten() {
        // A raised limit cannot lift `ulimit -v`: past it allocations fail however much
        // memory is free.
        Some(l) => match address_space_left() {
            Some(v) if v < l => (v, "left under ulimit -v"),
            _ => (l, "the --max-memory limit"),
        },
        None => match (available_memory(), address_space_left()) {
            (Some(a), Some(v)) if v < a => (v, "left under ulimit -v"),
            (Some(a), _) => (a, "MemAvailable"),
            (None, Some(v)) => (v, "left under ulimit -v"),
            (None, None) => return Ok(()),
        },
    };
    if bytes.is_finite() && bytes <= limit {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{what}: about {} of memory needed, more than {} ({source}); make the problem smaller, \
         or raise the limit on purpose with --max-memory SIZE",
        human(bytes),
        human(limit)
    )))
}

/// Free bytes for an unprivileged user on the file system holding `path` (its directory when
/// `path` does not exist yet); `None` where that cannot be asked.
pub fn available_disk(path: &std::path::Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = if path.is_dir() {
        path
    } else {
        nabla::core::atomic::parent_dir(path)
    };
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then_some(st.f_bavail as f64 * st.f_frsize as f64)
}

/// Errors when `bytes` of output for `what` would not fit on the file system of `path`.
pub fn check_disk(what: &str, bytes: f64, path: &std::path::Path) -> Result<()> {
    match available_disk(path) {
        Some(free) if bytes.is_nan() || bytes > free => Err(CliError::Usage(format!(
            "{what}: about {} of output, more than the {} free on the file system of {}",
            human(bytes),
            human(free),
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Errors on `--threads 0` and on more than [`MAX_THREADS_PER_CORE`] threads per core.
pub fn check_threads(threads: Option<usize>) -> Result<()> {
    let Some(n) = threads else { return Ok(()) };
    if n == 0 {
        return Err(CliError::Usage("--threads must be at least 1".into()));
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let max = MAX_THREADS_PER_CORE * cores;
    if n > max {
        return Err(CliError::Usage(format!(
            "--threads {n} is more than {MAX_THREADS_PER_CORE} per core ({cores} cores here, at \
             most {max})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("512").unwrap(), 512.0);
        assert_eq!(parse_size("2K").unwrap(), 2048.0);
        assert_eq!(parse_size("1.5GiB").unwrap(), 1.5 * 1024f64.powi(3));
        assert_eq!(parse_size(" 3t ").unwrap(), 3.0 * 1024f64.powi(4));
        for bad in ["", "G", "-1G", "nanG", "1X", "0"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(human(3.0 * 1024f64.powi(3)), "3.0 GiB");
    }

    #[test]
    fn thread_counts_are_bounded() {
        assert!(check_threads(Some(0)).is_err());
        assert!(check_threads(Some(1)).is_ok());
        let e = check_threads(Some(99_999_999_999)).unwrap_err().to_string();
        assert!(e.contains("per core"), "{e}");
    }
}
