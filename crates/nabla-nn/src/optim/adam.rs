//! Adam / AdamW with checkpointable state.

use super::LrSchedule;
use crate::{NnError, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var, WithDType};

/// Settings of an Adam/AdamW stage (serde: a `kind = "adam"` entry of an optimizer recipe).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// Number of steps of this stage.
    pub steps: usize,
    /// Base learning rate (default 1e-3).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// First-moment decay β₁ (default 0.9).
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Second-moment decay β₂ (default 0.999).
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// ε (default 1e-8).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Decoupled weight decay λ: 0 (the default) is Adam, > 0 is AdamW.
    #[serde(default)]
    pub weight_decay: f64,
    /// Learning-rate schedule over the stage.
    #[serde(default)]
    pub schedule: LrSchedule,
}

fn default_lr() -> f64 {
    1e-3
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl AdamConfig {
    /// `steps` steps of Adam at rate `lr`, defaults otherwise.
    pub fn new(steps: usize, lr: f64) -> Self {
        AdamConfig {
            steps,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            schedule: LrSchedule::Constant,
        }
    }

    /// Sets the schedule.
    pub fn schedule(mut self, s: LrSchedule) -> Self {
        self.schedule = s;
        self
    }

    /// Checks the settings; errors name the key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !pos(self.lr) {
            return Err(NnError::invalid(format!("{prefix}.lr"), "must be > 0"));
        }
        for (k, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(NnError::invalid(
                    format!("{prefix}.{k}"),
                    "must be in [0, 1)",
                ));
            }
        }
        if !pos(self.eps) {
            return Err(NnError::invalid(format!("{prefix}.eps"), "must be > 0"));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(NnError::invalid(
                format!("{prefix}.weight_decay"),
                "must be ≥ 0",
            ));
        }
        self.schedule.validate(&format!("{prefix}.schedule"))
    }
}

/// Adam with decoupled weight decay (AdamW when `weight_decay > 0`). The update is the one of
/// `candle_nn::AdamW`, op for op (so results are bit-identical), but the moments and step count
/// are exposed so that checkpoints can save and restore them.
#[derive(Debug)]
pub struct Adam {
    vars: Vec<Var>,
    m: Vec<Var>,
    v: Vec<Var>,
    t: usize,
    config: AdamConfig,
}

/// One Adam/AdamW update of one CPU parameter tensor in a single pass over its elements,
/// with the same arithmetic as the tensor-op path (m, v, bias corrections, decoupled weight
/// decay): the op-by-op update is 14 candle kernels and allocations per tensor, a measurable
/// share of a PINN step whose network has only ~10⁴ parameters.
struct CpuUpdate {
    beta1: f64,
    beta2: f64,
    scale_m: f64,
    scale_v: f64,
    /// 1 − lr·weight_decay.
    decay: f64,
    lr: f64,
    eps: f64,
}

impl CpuUpdate {
    fn apply<T: WithDType>(
        &self,
        theta: &Var,
        m: &Var,
        v: &Var,
        g: &Tensor,
        sqrt: fn(T) -> T,
    ) -> Result<()> {
        let read = |t: &Tensor| -> Result<Vec<T>> {
            Ok(t.flatten_all()?.to_dtype(T::DTYPE)?.to_vec1::<T>()?)
        };
        let mut th = read(theta.as_tensor())?;
        let mut mv = read(m.as_tensor())?;
        let mut vv = read(v.as_tensor())?;
        let gv = read(g)?;
        if gv.len() != th.len() {
            return Err(NnError::invalid(
                "adam",
                format!("gradient has {} elements, parameter {}", gv.len(), th.len()),
            ));
        }
        // In T with T-rounded constants, operation by operation as candle's tensor ops do
        // them (`x * c` and `x + c` are affines), so both paths agree bit for bit.
        let c = |x: f64| T::from_f64(x);
        let (b1, b1c, b2, b2c) = (
            c(self.beta1),
            c(1.0 - self.beta1),
            c(self.beta2),
            c(1.0 - self.beta2),
        );
        let (sm, sv, decay, lr, eps) = (
            c(self.scale_m),
            c(self.scale_v),
            c(self.decay),
            c(self.lr),
            c(self.eps),
        );
        for (((t, mi), vi), &gi) in th.iter_mut().zip(mv.iter_mut()).zip(vv.iter_mut()).zip(&gv) {
            let next_m = *mi * b1 + gi * b1c;
            let next_v = *vi * b2 + (gi * gi) * b2c;
            let step = (next_m * sm) / (sqrt(next_v * sv) + eps);
            *t = *t * decay - step * lr;
            *mi = next_m;
            *vi = next_v;
        }
        let shape = theta.shape().clone();
        let dev = theta.device();
        m.set(&Tensor::from_vec(mv, shape.clone(), dev)?)?;
        v.set(&Tensor::from_vec(vv, shape.clone(), dev)?)?;
        theta.set(&Tensor::from_vec(th, shape, dev)?)?;
        Ok(())
    }
}

impl Adam {
    /// An Adam optimizer over `vars` with zero moments.
    pub fn new(vars: Vec<Var>, config: AdamConfig) -> Result<Self> {
        let mut m = Vec::with_capacity(vars.len());
        let mut v = Vec::with_capacity(vars.len());
        for var in &vars {
            m.push(Var::zeros(var.shape(), var.dtype(), var.device())?);
            v.push(Var::zeros(var.shape(), var.dtype(), var.device())?);
        }
        Ok(Adam {
            vars,
            m,
            v,
            t: 0,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Steps taken so far (the bias-correction counter).
    pub fn steps_taken(&self) -> usize {
        self.t
    }

    /// One update with learning rate `lr` from the gradients in `grads` (parameters without a
    /// gradient are left alone).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.t += 1;
        let p = &self.config;
        let (beta1, beta2) = (p.beta1, p.beta2);
        let lr_lambda = lr * p.weight_decay;
        let scale_m = 1f64 / (1f64 - beta1.powi(self.t as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.t as i32));
        let h = CpuUpdate {
            beta1,
            beta2,
            scale_m,
            scale_v,
            decay: 1f64 - lr_lambda,
            lr,
            eps: p.eps,
        };
        for ((theta, m), v) in self.vars.iter().zip(&self.m).zip(&self.v) {
            if let Some(g) = grads.get(theta) {
                match (theta.device().is_cpu(), theta.dtype()) {
                    (true, DType::F32) => {
                        h.apply::<f32>(theta, m, v, g, f32::sqrt)?;
                        continue;
                    }
                    (true, DType::F64) => {
                        h.apply::<f64>(theta, m, v, g, f64::sqrt)?;
                        continue;
                    }
                    _ => {}
                }
                let next_m = ((m.as_tensor() * beta1)? + (g * (1.0 - beta1))?)?;
                let next_v = ((v.as_tensor() * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
                let m_hat = (&next_m * scale_m)?;
                let v_hat = (&next_v * scale_v)?;
                let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
                let adjusted_grad = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
                let next_theta = (next_theta - (adjusted_grad * lr)?)?;
                m.set(&next_m)?;
                v.set(&next_v)?;
                theta.set(&next_theta)?;
            }
        }
        Ok(())
    }

    /// The moments as named tensors (`adam.m.{i}`, `adam.v.{i}`), for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.m.len());
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            out.push((format!("adam.m.{i}"), m.as_tensor().clone()));
            out.push((format!("adam.v.{i}"), v.as_tensor().clone()));
        }
        out
    }

    /// Restores the moments and step count saved by [`Adam::state_tensors`].
    pub fn load_state(
        &mut self,
        tensors: &std::collections::HashMap<String, Tensor>,
        steps_taken: usize,
    ) -> Result<()> {
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            for (name, var) in [(format!("adam.m.{i}"), m), (format!("adam.v.{i}"), v)] {
                let t = tensors.get(&name).ok_or_else(|| {
                    NnError::invalid("optimizer state", format!("'{name}' is missing"))
                })?;
                var.set(&t.to_device(var.device())?.to_dtype(var.dtype())?)?;
            }
        }
        self.t = steps_taken;
        Ok(())
    }
}
