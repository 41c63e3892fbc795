//! Run configs: TOML files with `--set section.key=value` overrides, deserialized into the
//! libraries' serde structs with the offending key named in every error.

use crate::error::{CliError, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Reads a TOML config and applies the overrides.
pub fn load(path: &Path, sets: &[String]) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        CliError::Input(format!("{}: {}", path.display(), one_line(&e.to_string())))
    })?;
    for s in sets {
        apply_set(&mut table, s)?;
    }
    Ok(table)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Applies `section.key=value` (the value parsed as a TOML value, else taken as a string;
/// `0x…`, `0o…` and `0b…` stay strings).
pub fn apply_set(table: &mut toml::Table, set: &str) -> Result<()> {
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| CliError::Usage(format!("--set {set}: expected section.key=value")))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(CliError::Usage(format!("--set {set}: empty key component")));
    }
    let raw_value = raw.trim();
    // TOML reads 0x10, 0o10 and 0b10 as integers; in an override they are far more likely
    // a grid spec or a name than an integer in another base.
    let digits = raw_value.trim_start_matches(['+', '-']);
    let radix_literal = ["0x", "0o", "0b"].iter().any(|p| digits.starts_with(p));
    let value = match format!("v = {raw_value}").parse::<toml::Table>() {
        Ok(_) if radix_literal => toml::Value::String(raw_value.to_string()),
        Ok(mut t) => t
            .remove("v")
            .unwrap_or(toml::Value::String(raw.trim().into())),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(CliError::Usage(format!(
                    "--set {set}: '{p}' is not a section"
                )))
            }
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Deserializes a config, naming the key path in errors (`config FILE: problem.foo: unknown
/// field ...`).
pub fn parse<T: DeserializeOwned>(table: toml::Table, path: &Path) -> Result<T> {
    let value = toml::Value::Table(table);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        CliError::Input(format!(
            "config {}: {}: {}",
            path.display(),
            if key == "." {
                "(top level)".into()
            } else {
                key
            },
            one_line(&e.inner().to_string())
        ))
    })
}

/// The `task` of a config table (default "pinn").
pub fn task(table: &toml::Table) -> String {
    table
        .get("task")
        .and_then(|v| v.as_str())
        .unwrap_or("pinn")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> toml::Table {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/pinn_poisson2d.toml"),
        )
        .unwrap();
        text.parse().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Arbitrary `--set` overrides of a real config: applied or refused, and the config
        /// then deserializes or fails with one line; never a panic.
        #[test]
        fn overrides_never_panic(
            key in "[a-z_.\\[\\]0-9]{0,20}",
            value in "[-+0-9a-z.x_\"\\[\\],= {}]{0,16}",
            section in prop::sample::select(vec!["", "model.", "train.", "problem.", "eval.", "sampling."]),
        ) {
            let mut table = base();
            let set = format!("{section}{key}={value}");
            match apply_set(&mut table, &set) {
                Ok(()) => {
                    if let Err(e) = parse::<nabla::pinn::PinnConfig>(table, Path::new("c.toml")) {
                        prop_assert!(!e.to_string().contains('\n'), "{}", e);
                    }
                }
                Err(e) => prop_assert!(!e.to_string().contains('\n'), "{}", e),
            }
        }
    }

    #[test]
    fn radix_literals_stay_strings() {
        let mut t = toml::Table::new();
        apply_set(&mut t, "grid=0x10").unwrap();
        apply_set(&mut t, "a.b=-0b1").unwrap();
        apply_set(&mut t, "n=16").unwrap();
        assert_eq!(t["grid"].as_str(), Some("0x10"));
        assert_eq!(t["a"]["b"].as_str(), Some("-0b1"));
        assert_eq!(t["n"].as_integer(), Some(16));
    }
}
