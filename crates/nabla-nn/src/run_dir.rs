//! Run directories: what `nabla train` (and the libraries' training entry points) write, and how
//! a trained model is found again.
//!
//! A run directory holds
//! - `config.toml`: the resolved config (every default filled in, overrides applied);
//! - `checkpoint.safetensors`: weights, optimizer state and training state (see [`mod@crate::train`])
//!   and, since model format 1, the model's self-description in the safetensors metadata:
//!   [`META_TASK`] (`"pinn"`, `"operator"`, …) and [`META_CONFIG`] (the resolved config as
//!   TOML) — so the checkpoint file alone rebuilds its model, wherever it is copied;
//! - `metrics.csv`, `summary.json` and plots.
//!
//! Checkpoints written before format 1 have no self-description; [`describe`] then reads the
//! `config.toml` beside them.

use crate::params::{read_safetensors_metadata, META_CONFIG, META_FORMAT, META_TASK, MODEL_FORMAT};
use crate::train::CHECKPOINT_FILE;
use crate::{NnError, Result};
use std::path::{Path, PathBuf};

/// File name of the resolved config inside a run directory.
pub const CONFIG_FILE: &str = "config.toml";
/// File name of the run summary inside a run directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// Where a model's description came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescriptionSource {
    /// The checkpoint's own metadata (model format 1 and later).
    Checkpoint,
    /// The run directory's `config.toml` (checkpoints written before models described
    /// themselves).
    ConfigFile(PathBuf),
}

/// What a checkpoint holds: the task that trained it and the resolved config that rebuilds it.
#[derive(Clone, Debug)]
pub struct RunDescription {
    /// The checkpoint file.
    pub checkpoint: PathBuf,
    /// The task (`"pinn"`, `"operator"`, `"wosno"`, `"dcdm"`, `"inverse"`).
    pub task: String,
    /// The resolved config, TOML.
    pub config_toml: String,
    /// Where the description was read.
    pub source: DescriptionSource,
}

impl RunDescription {
    /// The run's config as the library type of `task`; an error when the run belongs to
    /// another task (e.g. loading an operator run as a PINN) or the config does not parse.
    pub fn config<T: serde::de::DeserializeOwned>(&self, task: &str) -> Result<T> {
        if self.task != task {
            return Err(run_error(
                &self.checkpoint,
                format!("holds a {} run; this loader reads {task} runs", self.task),
            ));
        }
        let name = self.checkpoint.display().to_string();
        let table = nabla_core::config::parse_table(&self.config_toml, &name)?;
        Ok(nabla_core::config::parse(table, &name)?)
    }
}

fn run_error(path: &Path, reason: impl Into<String>) -> NnError {
    NnError::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The checkpoint of `path`: the file itself, or `PATH/checkpoint.safetensors` for a run
/// directory. Errors name what is missing.
pub fn checkpoint_path(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        return Err(NnError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such run directory or checkpoint file",
            ),
        });
    }
    let ckpt = path.join(CHECKPOINT_FILE);
    if ckpt.is_file() {
        return Ok(ckpt);
    }
    let reason = if path.join(CONFIG_FILE).is_file() {
        format!("the run directory has no {CHECKPOINT_FILE} (did training start?)")
    } else {
        format!("not a run directory (no {CHECKPOINT_FILE}, no {CONFIG_FILE})")
    };
    Err(run_error(path, reason))
}

/// Reads what trained the model at `path` (a run directory or a checkpoint file): from the
/// checkpoint's metadata, or, for checkpoints older than model format 1, from the
/// `config.toml` beside it.
pub fn describe(path: &Path) -> Result<RunDescription> {
    let checkpoint = checkpoint_path(path)?;
    let meta = read_safetensors_metadata(&checkpoint)?;
    if let Some(config_toml) = meta.get(META_CONFIG) {
        if let Some(f) = meta.get(META_FORMAT).filter(|f| f.as_str() != MODEL_FORMAT) {
            return Err(run_error(
                &checkpoint,
                format!(
                    "model format {f} is newer than this nabla reads ({MODEL_FORMAT}); update nabla"
                ),
            ));
        }
        let task = meta.get(META_TASK).cloned().ok_or_else(|| {
            run_error(&checkpoint, format!("has {META_CONFIG} but no {META_TASK}"))
        })?;
        return Ok(RunDescription {
            checkpoint,
            task,
            config_toml: config_toml.clone(),
            source: DescriptionSource::Checkpoint,
        });
    }
    let dir = checkpoint.parent().unwrap_or(Path::new("."));
    let config_file = dir.join(CONFIG_FILE);
    let config_toml = std::fs::read_to_string(&config_file).map_err(|e| {
        run_error(
            &checkpoint,
            format!(
                "written before checkpoints described their model, and its run's {} cannot be read ({e}); keep the checkpoint in its run directory",
                config_file.display()
            ),
        )
    })?;
    let table = nabla_core::config::parse_table(&config_toml, &config_file.display().to_string())
        .map_err(|e| run_error(&checkpoint, e.to_string()))?;
    Ok(RunDescription {
        checkpoint,
        task: nabla_core::config::task(&table),
        config_toml,
        source: DescriptionSource::ConfigFile(config_file),
    })
}

/// The metadata that makes a checkpoint self-describing: set it on a model's
/// [`crate::ParamStore`] (with [`crate::ParamStore::set_metadata`]) before training, and every
/// checkpoint written from it carries it.
pub fn self_description(task: &str, config_toml: &str) -> [(&'static str, String); 3] {
    [
        (META_FORMAT, MODEL_FORMAT.to_string()),
        (META_TASK, task.to_string()),
        (META_CONFIG, config_toml.to_string()),
    ]
}

/// The run directory `out` made ready for a training run whose resolved config is
/// `resolved_toml`: with `resume`, the run must exist with the same config; without, `out`
/// must not already hold a checkpoint. `config_source` is the file the config was read from
/// (refused as the run's own `config.toml` unless resuming). Creates the directory and writes
/// `config.toml` atomically.
pub fn prepare(
    out: &Path,
    config_source: Option<&Path>,
    resolved_toml: &str,
    resume: bool,
) -> Result<()> {
    let cfg_path = out.join(CONFIG_FILE);
    let usage = |reason: String| NnError::Invalid {
        what: "run directory".into(),
        reason,
    };
    if let Some(src) = config_source {
        if !resume
            && src.canonicalize().ok().is_some()
            && src.canonicalize().ok() == cfg_path.canonicalize().ok()
        {
            return Err(usage(format!(
                "{} is the run's own config.toml; pass --resume to continue that run or choose another --out",
                src.display()
            )));
        }
    }
    if resume {
        let old = std::fs::read_to_string(&cfg_path)
            .map_err(|e| usage(format!("--resume: {}: {e}", cfg_path.display())))?;
        if old != resolved_toml {
            return Err(usage(format!(
                "--resume: the config differs from the run's {}; resume with the same config and --set values, or start a new --out",
                cfg_path.display()
            )));
        }
    } else if out.join(CHECKPOINT_FILE).exists() {
        return Err(usage(format!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| NnError::io(out, e))?;
    nabla_core::atomic::write_atomic(&cfg_path, |w| {
        std::io::Write::write_all(w, resolved_toml.as_bytes())
    })
    .map_err(|e| NnError::io(&cfg_path, e))
}

/// Writes `summary` as pretty JSON to `out/summary.json`, atomically.
pub fn write_summary(out: &Path, summary: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(summary)
        .map_err(|e| NnError::invalid("summary", e.to_string()))?;
    let path = out.join(SUMMARY_FILE);
    nabla_core::atomic::write_atomic(&path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| NnError::io(&path, e))
}

/// After a failed run that created `out`: removes the directory unless its checkpoint holds
/// training progress worth resuming. Returns a note to append to the error: what was kept, or
/// why the directory could not be removed (`None` when it was removed or never existed).
pub fn discard_failed_run(out: &Path) -> Option<String> {
    if !out.exists() {
        return None;
    }
    if out.join(CHECKPOINT_FILE).exists() {
        return Some(format!(
            "the checkpoint in {} is kept: fix the cause and continue with --resume",
            out.display()
        ));
    }
    match std::fs::remove_dir_all(out) {
        Ok(()) => None,
        Err(rm) => Some(format!(
            "and the new run directory {} could not be removed: {rm}",
            out.display()
        )),
    }
}

/// The table `metrics.csv` of a run directory (written by [`mod@crate::train`]): its column
/// names and its rows, each value parsed as f64 (`NaN` where a cell is empty or not a number,
/// e.g. the `stage`/`optimizer` text columns).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Column names, in file order (`step`, `stage`, `optimizer`, `lr`, `loss`, …).
    pub columns: Vec<String>,
    /// One row per logged step.
    pub rows: Vec<Vec<f64>>,
}

impl Metrics {
    /// `(x, y)` pairs of two columns over the rows where both are numbers (e.g. `("step",
    /// "loss")`); `None` when either column is absent.
    pub fn series(&self, x: &str, y: &str) -> Option<Vec<(f64, f64)>> {
        let col = |name: &str| self.columns.iter().position(|c| c == name);
        let (cx, cy) = (col(x)?, col(y)?);
        Some(
            self.rows
                .iter()
                .filter_map(|r| Some((*r.get(cx)?, *r.get(cy)?)))
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .collect(),
        )
    }
}

/// Reads `dir/metrics.csv`.
pub fn read_metrics(dir: &Path) -> Result<Metrics> {
    let path = dir.join(crate::train::METRICS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| NnError::io(&path, e))?;
    let mut lines = text.lines();
    let columns = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| v.trim().parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    Ok(Metrics { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_paths_and_empty_directories_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = checkpoint_path(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such run directory"), "{e}");
        let e = checkpoint_path(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a run directory"), "{e}");
        std::fs::write(dir.path().join(CONFIG_FILE), "task = \"pinn\"\n").unwrap();
        let e = checkpoint_path(dir.path()).unwrap_err().to_string();
        assert!(e.contains("did training start"), "{e}");
    }

    #[test]
    fn metrics_series_skip_text_and_missing_cells() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(crate::train::METRICS_FILE),
            "step,optimizer,loss,rel_l2\n0,adam,1.5,\n10,adam,0.5,0.25\n",
        )
        .unwrap();
        let m = read_metrics(dir.path()).unwrap();
        assert_eq!(
            m.series("step", "loss").unwrap(),
            vec![(0.0, 1.5), (10.0, 0.5)]
        );
        assert_eq!(m.series("step", "rel_l2").unwrap(), vec![(10.0, 0.25)]);
        assert!(m.series("step", "val_loss").is_none());
    }

    #[test]
    fn prepare_refuses_to_overwrite_and_checks_resume() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        prepare(&out, None, "a = 1\n", false).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join(CONFIG_FILE)).unwrap(),
            "a = 1\n"
        );
        std::fs::write(out.join(CHECKPOINT_FILE), b"x").unwrap();
        let e = prepare(&out, None, "a = 1\n", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("already holds a run"), "{e}");
        let e = prepare(&out, None, "a = 2\n", true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("config differs"), "{e}");
        prepare(&out, None, "a = 1\n", true).unwrap();
        assert!(discard_failed_run(&out).unwrap().contains("is kept"));
    }
}
