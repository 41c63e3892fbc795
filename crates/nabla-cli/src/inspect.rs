//! `nabla inspect FILE.h5|DIR`: the detected layout, groups, datasets (shape, type),
//! attributes, parameters and splits of an HDF5 file or an inverse-problem data-set folder.

use std::path::PathBuf;

use crate::error::Result;

/// Flags of `nabla inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// An HDF5 file (PDEBench per-seed, tensor, Darcy layouts) or a data-set folder with
    /// train/, validation/, test/, out_of_distribution/, out_of_distribution_extreme/.
    #[arg(value_name = "FILE.h5|DIR")]
    path: PathBuf,
}

/// Runs `nabla inspect`.
pub fn run(args: &InspectArgs) -> Result<()> {
    let report = nabla::data::inverse::inspect(&args.path)?;
    crate::console::out_str(&report.to_string())?;
    Ok(())
}
