//! Process memory figures for run summaries.

/// Peak resident set size of this process in MiB (`VmHWM` of /proc/self/status); `None` where
/// that file does not exist (non-Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
