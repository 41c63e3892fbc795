//! Run configs as every nabla front end reads them: a TOML file, `section.key=value` overrides
//! (the CLI's `--set`, Python's `overrides={...}`), then a typed serde struct with the offending
//! key named in every error.
//!
//! ```
//! use nabla_core::config::{apply_override, parse_table, task};
//! use serde::Deserialize;
//!
//! #[derive(Debug, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Train { seed: u64, hidden: Vec<usize> }
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { task: String, train: Train }
//!
//! let mut table = parse_table("task = \"pinn\"\n[train]\nseed = 0\nhidden = [8]\n", "c.toml")?;
//! apply_override(&mut table, "train.seed=3")?;
//! apply_override(&mut table, "train.hidden=[16,16]")?;
//! assert_eq!(task(&table), "pinn");
//! let c: Config = nabla_core::config::parse(table, "c.toml")?;
//! assert_eq!((c.train.seed, c.train.hidden), (3, vec![16, 16]));
//!
//! let mut bad = parse_table("[train]\nseed = 0\nhidden = [8]\nsede = 1\n", "c.toml")?;
//! let e = nabla_core::config::parse::<Train>(bad.remove("train").unwrap().as_table().unwrap().clone(), "c.toml");
//! assert!(e.unwrap_err().to_string().contains("sede"));
//! # Ok::<(), nabla_core::config::ConfigError>(())
//! ```

use crate::text::one_line;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// How much of a message taken from the TOML parser an error shows.
const MESSAGE_CHARS: usize = 600;

/// Why a config could not be read. Every message is one line naming the file and, where there
/// is one, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{source_name}: {}", collapse(.reason))]
    Syntax {
        /// The file (or other source) the text came from.
        source_name: String,
        /// The parser's message.
        reason: String,
    },
    /// An override is malformed (`--set KEY=VALUE`).
    #[error("--set {}: {reason}", one_line(.set, MESSAGE_CHARS))]
    Override {
        /// The override as given.
        set: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The config does not deserialize: an unknown key, a missing one, a wrong type.
    #[error("config {source_name}: {key}: {}", collapse(.reason))]
    Invalid {
        /// The file (or other source) the config came from.
        source_name: String,
        /// The key path, e.g. `train.optimizer[1].steps` (`(top level)` for the whole table).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A parser message on one line: its line breaks and indentation (TOML errors quote the
/// offending line with a caret under it) become single spaces.
fn collapse(s: &str) -> String {
    one_line(
        &s.split_whitespace().collect::<Vec<_>>().join(" "),
        MESSAGE_CHARS,
    )
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, ConfigError>;

/// Reads the TOML config at `path` and applies `overrides` (each `section.key=value`, see
/// [`apply_override`]) in order.
pub fn load_table(path: &Path, overrides: &[String]) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut table = parse_table(&text, &path.display().to_string())?;
    for set in overrides {
        apply_override(&mut table, set)?;
    }
    Ok(table)
}

/// Parses TOML text (`source_name` names it in errors).
pub fn parse_table(text: &str, source_name: &str) -> Result<toml::Table> {
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            source_name: source_name.to_string(),
            reason: e.to_string(),
        })
}

/// Applies `section.key=value`: the value is read as a TOML value (`3`, `1e-3`, `[32, 32]`,
/// `{ kind = "cosine" }`, `"text"`), else taken as a string; `0x…`, `0o…` and `0b…` stay
/// strings, since in an override they are far more likely a grid spec or a name than an
/// integer in another base. Missing sections are created.
pub fn apply_override(table: &mut toml::Table, set: &str) -> Result<()> {
    let fail = |reason: String| ConfigError::Override {
        set: set.to_string(),
        reason,
    };
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| fail("expected section.key=value".into()))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(fail("empty key component".into()));
    }
    let raw_value = raw.trim();
    let digits = raw_value.trim_start_matches(['+', '-']);
    let radix_literal = ["0x", "0o", "0b"].iter().any(|p| digits.starts_with(p));
    let value = match format!("v = {raw_value}").parse::<toml::Table>() {
        Ok(_) if radix_literal => toml::Value::String(raw_value.to_string()),
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw_value.to_string())),
        Err(_) => toml::Value::String(raw_value.to_string()),
    };
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(fail(format!("'{p}' is not a section"))),
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Deserializes a config table, naming the key path in errors
/// (`config FILE: problem.foo: unknown field ...`).
pub fn parse<T: DeserializeOwned>(table: toml::Table, source_name: &str) -> Result<T> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Invalid {
            source_name: source_name.to_string(),
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            reason: e.inner().to_string(),
        }
    })
}

/// The `task` of a config table: what trains it (`"pinn"` when absent).
pub fn task(table: &toml::Table) -> String {
    table
        .get("task")
        .and_then(|v| v.as_str())
        .unwrap_or("pinn")
        .to_string()
}

/// A config as TOML text (what a run directory's `config.toml` and a checkpoint's
/// self-description hold).
pub fn to_toml(config: &impl serde::Serialize) -> std::result::Result<String, String> {
    toml::to_string(config).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_literals_stay_strings() {
        let mut t = toml::Table::new();
        apply_override(&mut t, "grid=0x10").unwrap();
        apply_override(&mut t, "a.b=-0b1").unwrap();
        apply_override(&mut t, "n=16").unwrap();
        assert_eq!(t["grid"].as_str(), Some("0x10"));
        assert_eq!(t["a"]["b"].as_str(), Some("-0b1"));
        assert_eq!(t["n"].as_integer(), Some(16));
    }

    #[test]
    fn malformed_overrides_are_one_line_errors() {
        let mut t = toml::Table::new();
        for set in ["noequals", "a..b=1", ".a=1"] {
            let e = apply_override(&mut t, set).unwrap_err().to_string();
            assert!(e.starts_with("--set ") && !e.contains('\n'), "{e}");
        }
        apply_override(&mut t, "x=1").unwrap();
        let e = apply_override(&mut t, "x.y=1").unwrap_err().to_string();
        assert!(e.contains("'x' is not a section"), "{e}");
    }
}
