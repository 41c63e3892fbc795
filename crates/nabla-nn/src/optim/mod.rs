//! Optimizers and optimizer recipes: Adam/AdamW with learning-rate schedules, L-BFGS with a
//! strong-Wolfe line search, and [`Recipe`]s that chain them ("Adam for N steps, then L-BFGS
//! for M iterations").

mod adam;
mod lbfgs;
mod schedule;

pub use adam::{Adam, AdamConfig};
pub use lbfgs::{FlatObjective, Lbfgs, LbfgsConfig, LbfgsMeta, LbfgsReport, LbfgsStep, LbfgsStop};
pub use schedule::LrSchedule;

use crate::{NnError, Result};

/// One stage of a [`Recipe`]. In a TOML config: `[[optimizer]]` tables with
/// `kind = "adam"` (keys of [`AdamConfig`]) or `kind = "lbfgs"` (keys of [`LbfgsConfig`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stage {
    /// First-order steps with Adam/AdamW.
    Adam(AdamConfig),
    /// Quasi-Newton iterations with L-BFGS.
    Lbfgs(LbfgsConfig),
}

impl Stage {
    /// The number of steps (Adam) or the maximum number of iterations (L-BFGS).
    pub fn len(&self) -> usize {
        match self {
            Stage::Adam(c) => c.steps,
            Stage::Lbfgs(c) => c.iterations,
        }
    }

    /// Whether the stage has no steps.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `"adam"` or `"lbfgs"`.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Adam(_) => "adam",
            Stage::Lbfgs(_) => "lbfgs",
        }
    }
}

/// A sequence of optimizer stages run one after the other on the same parameters. The global
/// step counter runs through all stages; an L-BFGS stage that converges early ends early.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Recipe {
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

impl Recipe {
    /// Adam alone, constant rate.
    pub fn adam(steps: usize, lr: f64) -> Self {
        Recipe {
            stages: vec![Stage::Adam(AdamConfig::new(steps, lr))],
        }
    }

    /// L-BFGS alone.
    pub fn lbfgs(iterations: usize) -> Self {
        Recipe {
            stages: vec![Stage::Lbfgs(LbfgsConfig::new(iterations))],
        }
    }

    /// The usual PINN recipe: Adam for `adam_steps` at rate `lr`, then L-BFGS for up to
    /// `lbfgs_iterations` iterations.
    pub fn adam_then_lbfgs(adam_steps: usize, lr: f64, lbfgs_iterations: usize) -> Self {
        Recipe {
            stages: vec![
                Stage::Adam(AdamConfig::new(adam_steps, lr)),
                Stage::Lbfgs(LbfgsConfig::new(lbfgs_iterations)),
            ],
        }
    }

    /// Appends a stage.
    pub fn then(mut self, stage: Stage) -> Self {
        self.stages.push(stage);
        self
    }

    /// Total steps over all stages (L-BFGS stages counted at their maximum).
    pub fn total_steps(&self) -> usize {
        self.stages.iter().map(Stage::len).sum()
    }

    /// The stage that global step `step` (0-based) belongs to and the step within it; `None`
    /// past the end.
    pub fn locate(&self, step: usize) -> Option<(usize, usize)> {
        let mut start = 0;
        for (i, s) in self.stages.iter().enumerate() {
            if step < start + s.len() {
                return Some((i, step - start));
            }
            start += s.len();
        }
        None
    }

    /// The global step at which stage `i` starts.
    pub fn stage_start(&self, i: usize) -> usize {
        self.stages[..i.min(self.stages.len())]
            .iter()
            .map(Stage::len)
            .sum()
    }

    /// Checks every stage; errors name the key as `optimizer[i].key`.
    pub fn validate(&self) -> Result<()> {
        if self.stages.is_empty() {
            return Err(NnError::invalid("optimizer", "the recipe has no stages"));
        }
        for (i, s) in self.stages.iter().enumerate() {
            let p = format!("optimizer[{i}]");
            match s {
                Stage::Adam(c) => c.validate(&p)?,
                Stage::Lbfgs(c) => c.validate(&p)?,
            }
        }
        Ok(())
    }
}
