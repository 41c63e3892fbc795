//! Arbitrary `section.key=value` overrides of a shipped config: applied or refused, then the
//! config loads or fails with one line; never a panic.

use nabla::core::config::{apply_override, parse_table};
use nabla::run::TaskConfig;
use proptest::prelude::*;
use std::path::Path;

fn base() -> toml::Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/pinn_poisson2d.toml");
    parse_table(
        &std::fs::read_to_string(path).unwrap(),
        "pinn_poisson2d.toml",
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn overrides_never_panic(
        key in "[a-z_.\\[\\]0-9]{0,20}",
        value in "[-+0-9a-z.x_\"\\[\\],= {}]{0,16}",
        section in prop::sample::select(vec!["", "model.", "train.", "problem.", "eval.", "sampling."]),
    ) {
        let mut table = base();
        let set = format!("{section}{key}={value}");
        match apply_override(&mut table, &set) {
            Ok(()) => {
                if let Err(e) = TaskConfig::from_table(table, "c.toml") {
                    prop_assert!(!e.to_string().contains('\n'), "{}", e);
                }
            }
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "{}", e),
        }
    }
}

/// Every config shipped in `configs/` parses and validates as its task (the data files they
/// name need not exist: loading reads only the TOML).
#[test]
fn every_shipped_config_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let table = parse_table(&std::fs::read_to_string(&path).unwrap(), &name).unwrap();
            if let Err(e) = TaskConfig::from_table(table, &name) {
                panic!("{name}: {e}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 19, "only {seen} configs found in {}", dir.display());
}
