//! PDEInvBench data-set folders: `train/`, `validation/`, `test/`, `out_of_distribution/`,
//! `out_of_distribution_extreme/`, each holding one HDF5 file per parameter set with the
//! parameters in the file name (and as file attributes).

use std::fs;
use std::path::{Path, PathBuf};

use super::params::{parse_file_name, ParamFileName, PdeFamily, Split};
use crate::{read_attrs, AttrValue, DataError, Result};

/// One data file of a split and the parameters its name carries.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamFile {
    /// The file.
    pub path: PathBuf,
    /// Its parsed name.
    pub name: ParamFileName,
}

impl ParamFile {
    /// The PDE parameters (name order of the family) after checking them against the file's
    /// attributes: where a scalar numeric attribute of the same name exists it must equal the
    /// value in the name (to 1e-9 relative), else the error names both values.
    pub fn checked_parameters(&self) -> Result<Vec<(String, f64)>> {
        let params = self.name.parameters();
        let attrs = read_attrs(&self.path)?;
        for (p, v) in &params {
            let found = attrs.iter().find(|(a, _)| a == p).map(|(_, v)| v);
            let a = match found {
                Some(AttrValue::F64(a)) => *a,
                Some(AttrValue::I64(a)) => *a as f64,
                _ => continue,
            };
            if (a - v).abs() > 1e-9 * v.abs().max(a.abs()).max(1e-300) {
                return Err(DataError::Attribute {
                    path: self.path.clone(),
                    name: p.clone(),
                    problem: format!("is {a} but the file name says {p}={v}"),
                });
            }
        }
        Ok(params)
    }
}

/// The files of one split, sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitFiles {
    /// The split.
    pub split: Split,
    /// Its files.
    pub files: Vec<ParamFile>,
}

/// An inverse-problem data-set folder (module docs). Opening lists and parses the file names
/// only; the files themselves are opened on demand.
#[derive(Debug, Clone, PartialEq)]
pub struct InverseDataset {
    root: PathBuf,
    family: PdeFamily,
    splits: Vec<SplitFiles>,
    others: Vec<String>,
}

impl InverseDataset {
    /// Opens the folder `root`: finds the split directories present (at least one), lists
    /// their `.h5` / `.hdf5` files and parses every name ([`parse_file_name`]). All files
    /// must belong to one PDE family. Errors name the folder or file and the problem.
    pub fn open(root: &Path) -> Result<Self> {
        let bad = |path: &Path, reason: String| DataError::InvalidInput {
            path: path.to_path_buf(),
            reason,
        };
        if !root.exists() {
            return Err(DataError::NotFound {
                path: root.to_path_buf(),
            });
        }
        if !root.is_dir() {
            return Err(bad(root, "not a directory".into()));
        }
        let mut entries = list_dir(root)?;
        entries.sort();
        let mut splits = Vec::new();
        let mut others = Vec::new();
        for name in entries {
            match Split::from_dir_name(&name) {
                Some(s) if root.join(&name).is_dir() => splits.push(s),
                _ => others.push(name),
            }
        }
        splits.sort();
        if splits.is_empty() {
            return Err(bad(
                root,
                format!(
                    "no split directories: expected at least one of {}; found: {}",
                    Split::ALL.map(|s| format!("{}/", s.dir_name())).join(", "),
                    if others.is_empty() {
                        "nothing".to_string()
                    } else {
                        others.join(", ")
                    }
                ),
            ));
        }
        let mut family: Option<(PdeFamily, PathBuf)> = None;
        let mut out = Vec::new();
        for split in splits {
            let dir = root.join(split.dir_name());
            let mut names = list_dir(&dir)?;
            names.sort();
            let mut files = Vec::new();
            for n in names {
                if !(n.ends_with(".h5") || n.ends_with(".hdf5")) || n.starts_with('.') {
                    continue;
                }
                let path = dir.join(&n);
                let name = parse_file_name(&path)?;
                match &family {
                    None => family = Some((name.family, path.clone())),
                    Some((f, first)) if *f != name.family => {
                        return Err(bad(
                            &path,
                            format!(
                                "is a {} file but {} is a {} file; a data set holds one PDE",
                                name.family.describe(),
                                first.display(),
                                f.describe()
                            ),
                        ))
                    }
                    _ => {}
                }
                files.push(ParamFile { path, name });
            }
            out.push(SplitFiles { split, files });
        }
        let Some((family, _)) = family else {
            return Err(bad(root, "the split directories hold no .h5 files".into()));
        };
        Ok(Self {
            root: root.to_path_buf(),
            family,
            splits: out,
            others,
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The PDE family of the files.
    pub fn family(&self) -> PdeFamily {
        self.family
    }

    /// The splits present, in directory order.
    pub fn splits(&self) -> &[SplitFiles] {
        &self.splits
    }

    /// The files of `split`, if the folder has it.
    pub fn split(&self, split: Split) -> Option<&SplitFiles> {
        self.splits.iter().find(|s| s.split == split)
    }

    /// Entries of the folder that are not split directories (ignored by readers).
    pub fn other_entries(&self) -> &[String] {
        &self.others
    }
}

fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let err = |e: std::io::Error| DataError::Read {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        out.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(out)
}
