//! A METALIC sequence: instances drawn from a PDE family one after another, each trained as a
//! multi-domain PINN with the interface conditions a tuner picks, against the per-instance best
//! in hindsight over a sampled subset of arms.
//!
//! Tuners ([`FamilyTuner`]): `metalic` (one arm per instance), `metalic-2stage` (one arm for
//! the Adam phase, one for L-BFGS), `random` (uniform over all arms) and `fixed:<set>` (the
//! same set every time, e.g. `fixed:solution+flux`). Every (instance, Adam arm, L-BFGS arm)
//! trains once: a tuner that picks an arm already trained on that instance reuses its outcome
//! (training is deterministic given the instance, the arms and the budget's seed).

use crate::family::{reward, train_instance, FamilyBudget, FamilyKind, InstanceOutcome};
use crate::metalic::{all_arms, conditions_of, mask_of, Metalic, MetalicOptions, MetalicTwoStage};
use crate::multidomain::InterfaceCondition;
use crate::{PinnError, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// A tuner of a sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum FamilyTuner {
    /// Single-stage METALIC.
    Metalic,
    /// Two-stage METALIC (Adam arm, then L-BFGS arm).
    MetalicTwoStage,
    /// A uniformly random arm per instance.
    Random,
    /// The same condition set every instance.
    Fixed(u32),
}

impl FamilyTuner {
    /// The report name (`metalic`, `metalic-2stage`, `random`, `fixed:solution+flux`).
    pub fn name(&self) -> String {
        match self {
            FamilyTuner::Metalic => "metalic".into(),
            FamilyTuner::MetalicTwoStage => "metalic-2stage".into(),
            FamilyTuner::Random => "random".into(),
            FamilyTuner::Fixed(m) => format!("fixed:{}", arm_name(*m)),
        }
    }
}

impl std::str::FromStr for FamilyTuner {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "metalic" => Ok(FamilyTuner::Metalic),
            "metalic-2stage" => Ok(FamilyTuner::MetalicTwoStage),
            "random" => Ok(FamilyTuner::Random),
            _ => {
                let Some(set) = s.strip_prefix("fixed:") else {
                    return Err(format!(
                        "unknown tuner '{s}' (expected metalic, metalic-2stage, random or fixed:<cond>+<cond>…)"
                    ));
                };
                let mut conds = Vec::new();
                for name in set.split('+').filter(|n| !n.is_empty()) {
                    let c = InterfaceCondition::ALL
                        .iter()
                        .find(|c| c.name() == name)
                        .ok_or_else(|| {
                            format!(
                                "unknown interface condition '{name}' (expected {})",
                                InterfaceCondition::ALL.map(|c| c.name()).join(", ")
                            )
                        })?;
                    conds.push(*c);
                }
                Ok(FamilyTuner::Fixed(mask_of(&conds)))
            }
        }
    }
}

/// `solution+flux`-style name of an arm (`none` for the empty set).
pub fn arm_name(mask: u32) -> String {
    let c = conditions_of(mask);
    if c.is_empty() {
        "none".into()
    } else {
        c.iter().map(|c| c.name()).collect::<Vec<_>>().join("+")
    }
}

/// Settings of a sequence.
#[derive(Clone, Debug)]
pub struct FamilySequenceOptions {
    /// The family.
    pub family: FamilyKind,
    /// Instances.
    pub instances: usize,
    /// Tuners.
    pub tuners: Vec<FamilyTuner>,
    /// Arms sampled per instance for the best in hindsight (the fixed tuners' arms always
    /// among them).
    pub hindsight_arms: usize,
    /// Training budget per instance.
    pub budget: FamilyBudget,
    /// Seed of the instances, the tuners and the sampled arms.
    pub seed: u64,
    /// Instances the METALIC tuners choose by UCB before exploiting their posterior mean
    /// ([`MetalicOptions::play_rounds`]); `None`: UCB on every instance.
    pub metalic_play: Option<usize>,
    /// Condition sets of the METALIC tuners' first warm-up instances
    /// ([`MetalicOptions::initial_arms`]); empty: a random warm-up.
    pub metalic_initial: Vec<u32>,
}

/// One tuner on one instance.
#[derive(Clone, Debug, Serialize)]
pub struct TunerPick {
    /// Adam-phase arm (name).
    pub arm: String,
    /// L-BFGS-phase arm (name; the same as `arm` for single-stage tuners).
    pub arm_lbfgs: String,
    /// Relative L2 error.
    pub error: f64,
}

/// One instance of the sequence.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceRecord {
    /// The PDE parameters.
    pub parameters: Vec<f64>,
    /// Per tuner (in the order of the options).
    pub picks: Vec<TunerPick>,
    /// The best error over every arm trained on this instance (hindsight subset and tuners'
    /// picks) and its arm.
    pub best_error: f64,
    /// See `best_error`.
    pub best_arm: String,
    /// Distinct arm pairs trained on this instance.
    pub trained: usize,
}

/// Totals of one tuner.
#[derive(Clone, Debug, Serialize)]
pub struct TunerSummary {
    /// Tuner name.
    pub name: String,
    /// Errors per instance.
    pub errors: Vec<f64>,
    /// Median error over the last half of the instances.
    pub median_error_last_half: f64,
    /// That median over the median of the per-instance best errors (same instances).
    pub vs_hindsight: f64,
    /// Cumulative regret Σ (r_best − r_tuner), r = −log₁₀ error, per instance.
    pub cumulative_regret: Vec<f64>,
    /// Seconds spent in the tuner itself (choosing, refitting its GP).
    pub tuner_seconds: f64,
}

/// What [`run_family_sequence`] returns.
#[derive(Clone, Debug, Serialize)]
pub struct FamilySequenceReport {
    /// The family name.
    pub family: FamilyKind,
    /// Parameter names (the tuners' context).
    pub parameter_names: Vec<String>,
    /// Per instance.
    pub instances: Vec<InstanceRecord>,
    /// Per tuner.
    pub tuners: Vec<TunerSummary>,
    /// Median over the last half of the per-instance best errors.
    pub hindsight_median_error_last_half: f64,
    /// Wall seconds of the whole sequence (training included).
    pub seconds: f64,
    /// Seconds of training (all arms, all instances).
    pub training_seconds: f64,
    /// Trainings run (distinct arm pairs over all instances).
    pub trainings: usize,
    /// The budget per instance.
    pub budget: FamilyBudget,
    /// Instances the METALIC tuners chose by UCB before exploiting (`null`: UCB throughout).
    pub metalic_play: Option<usize>,
    /// Condition sets of the METALIC tuners' first warm-up instances (empty: random).
    pub metalic_initial: Vec<String>,
}

enum State {
    One(Box<Metalic>),
    Two(Box<MetalicTwoStage>),
    Random(Pcg64),
    Fixed(u32),
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Runs the sequence; `progress(done, total)` after each instance.
pub fn run_family_sequence(
    options: &FamilySequenceOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FamilySequenceReport> {
    if options.instances == 0 || options.tuners.is_empty() {
        return Err(PinnError::config(
            "sequence",
            "needs at least one instance and one tuner",
        ));
    }
    let t_all = Instant::now();
    let kind = options.family;
    let arms = all_arms();
    let mut states: Vec<State> = options
        .tuners
        .iter()
        .enumerate()
        .map(|(k, t)| -> Result<State> {
            let seed = options.seed ^ (0xA5A5 + k as u64);
            let mut opts = MetalicOptions::new(kind.ranges(), seed);
            opts.play_rounds = options.metalic_play.map(|n| n as u64);
            opts.initial_arms = options.metalic_initial.clone();
            Ok(match t {
                FamilyTuner::Metalic => State::One(Box::new(Metalic::new(opts)?)),
                FamilyTuner::MetalicTwoStage => State::Two(Box::new(MetalicTwoStage::new(opts)?)),
                FamilyTuner::Random => State::Random(Pcg64::seed_from_u64(seed)),
                FamilyTuner::Fixed(m) => State::Fixed(*m),
            })
        })
        .collect::<Result<_>>()?;
    let fixed: Vec<u32> = options
        .tuners
        .iter()
        .filter_map(|t| match t {
            FamilyTuner::Fixed(m) => Some(*m),
            _ => None,
        })
        .collect();
    let mut rng = Pcg64::seed_from_u64(options.seed);
    let mut tuner_seconds = vec![0.0; options.tuners.len()];
    let mut training_seconds = 0.0;
    let mut trainings = 0;
    let mut records = Vec::with_capacity(options.instances);
    for i in 0..options.instances {
        let params = kind.sample(&mut rng);
        let mut budget = options.budget.clone();
        budget.seed = options.budget.seed.wrapping_add(i as u64);
        // (Adam arm, L-BFGS arm) → outcome; single-stage runs key on (a, a).
        let mut cache: HashMap<(u32, u32), InstanceOutcome> = HashMap::new();
        let run = |a0: u32,
                   next: &mut dyn FnMut(f64) -> Result<u32>,
                   cache: &mut HashMap<(u32, u32), InstanceOutcome>|
         -> Result<(u32, InstanceOutcome)> {
            // A single-stage pick may already be known.
            let mut a1_seen = None;
            let out = train_instance(kind, &params, &budget, a0, &mut |e0| {
                let a1 = next(e0)?;
                a1_seen = Some(a1);
                Ok(a1)
            })?;
            let a1 = a1_seen.unwrap_or(a0);
            cache.insert((a0, a1), out);
            Ok((a1, out))
        };
        // A single-stage arm, trained once per instance.
        let single =
            |a: u32, cache: &mut HashMap<(u32, u32), InstanceOutcome>| -> Result<InstanceOutcome> {
                match cache.get(&(a, a)) {
                    Some(o) => Ok(*o),
                    None => Ok(run(a, &mut |_| Ok(a), cache)?.1),
                }
            };
        let mut picks = Vec::with_capacity(options.tuners.len());
        for (k, state) in states.iter_mut().enumerate() {
            let t0 = Instant::now();
            let pick = match state {
                State::One(t) => {
                    let a = t.choose(&params)?;
                    tuner_seconds[k] += t0.elapsed().as_secs_f64();
                    let out = single(a, &mut cache)?;
                    let t2 = Instant::now();
                    t.observe(reward(out.error))?;
                    tuner_seconds[k] += t2.elapsed().as_secs_f64();
                    (a, a, out.error)
                }
                State::Two(t) => {
                    let a0 = t.choose_first(&params)?;
                    tuner_seconds[k] += t0.elapsed().as_secs_f64();
                    let mut secs = 0.0;
                    let (a1, out) = run(
                        a0,
                        &mut |e0| {
                            let s = Instant::now();
                            let a1 = t.choose_second(reward(e0));
                            secs += s.elapsed().as_secs_f64();
                            a1
                        },
                        &mut cache,
                    )?;
                    let t2 = Instant::now();
                    t.observe(reward(out.error))?;
                    tuner_seconds[k] += secs + t2.elapsed().as_secs_f64();
                    (a0, a1, out.error)
                }
                State::Random(r) => {
                    let a = arms[r.gen_range(0..arms.len())];
                    let out = single(a, &mut cache)?;
                    (a, a, out.error)
                }
                State::Fixed(a) => {
                    let a = *a;
                    let out = single(a, &mut cache)?;
                    (a, a, out.error)
                }
            };
            picks.push(TunerPick {
                arm: arm_name(pick.0),
                arm_lbfgs: arm_name(pick.1),
                error: pick.2,
            });
        }
        // The hindsight subset: the fixed arms plus random others, single-stage.
        let mut subset = fixed.clone();
        let mut others: Vec<u32> = arms
            .iter()
            .copied()
            .filter(|a| !subset.contains(a))
            .collect();
        others.shuffle(&mut rng);
        subset.extend(
            others
                .into_iter()
                .take(options.hindsight_arms.saturating_sub(subset.len())),
        );
        for a in subset {
            single(a, &mut cache)?;
        }
        // Every entry of the cache is one training (its outcome carries its time).
        trainings += cache.len();
        training_seconds += cache.values().map(|o| o.seconds).sum::<f64>();
        let (best_pair, best) = cache
            .iter()
            .min_by(|x, y| x.1.error.total_cmp(&y.1.error))
            .map(|(k, v)| (*k, v.error))
            .ok_or_else(|| PinnError::config("sequence", "internal: nothing trained"))?;
        records.push(InstanceRecord {
            parameters: params,
            picks,
            best_error: best,
            best_arm: if best_pair.0 == best_pair.1 {
                arm_name(best_pair.0)
            } else {
                format!("{} → {}", arm_name(best_pair.0), arm_name(best_pair.1))
            },
            trained: cache.len(),
        });
        progress(i + 1, options.instances);
    }
    let half = options.instances / 2;
    let mut best_last: Vec<f64> = records[half..].iter().map(|r| r.best_error).collect();
    let hindsight_median = median(&mut best_last);
    let tuners = options
        .tuners
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let errors: Vec<f64> = records.iter().map(|r| r.picks[k].error).collect();
            let mut last: Vec<f64> = errors[half..].to_vec();
            let m = median(&mut last);
            let mut acc = 0.0;
            let cumulative_regret = records
                .iter()
                .map(|r| {
                    acc += reward(r.best_error) - reward(r.picks[k].error);
                    acc
                })
                .collect();
            TunerSummary {
                name: t.name(),
                errors,
                median_error_last_half: m,
                vs_hindsight: m / hindsight_median,
                cumulative_regret,
                tuner_seconds: tuner_seconds[k],
            }
        })
        .collect();
    Ok(FamilySequenceReport {
        family: kind,
        parameter_names: kind
            .parameter_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        instances: records,
        tuners,
        hindsight_median_error_last_half: hindsight_median,
        seconds: t_all.elapsed().as_secs_f64(),
        training_seconds,
        trainings,
        budget: options.budget.clone(),
        metalic_play: options.metalic_play,
        metalic_initial: options
            .metalic_initial
            .iter()
            .map(|&a| arm_name(a))
            .collect(),
    })
}
