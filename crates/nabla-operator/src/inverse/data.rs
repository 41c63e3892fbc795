//! Observation windows of a PDEInvBench folder: what the encoder sees (n_past frames plus
//! optional derivative channels), the true parameters, and the PDE residual at the window's
//! centre frame as a quadratic form in the parameters.
//!
//! Both families' residuals are linear in a few coefficients c_j(φ):
//! - reaction–diffusion, φ = (Du, Dv, k): F = r + (−Du)·[Δu; 0] + (−Dv)·[0; Δv] + k·[1; 0]
//!   with r = [u_t − (u − u³ − v); v_t − (u − v)];
//! - KdV, φ = (δ): F = r + δ²·u_xxx with r = u_t + u u_x,
//!
//! so ‖F‖² = cᵀGc with c = (1, c_1(φ), …) and G the Gram matrix of (r, b_1, …), computed once
//! per window. Test-time tuning then costs one encoder pass per step, and the least-squares
//! minimiser of the residual is a linear solve (reported beside the network as a classical
//! reference).

use super::config::{BoundaryChoice, InverseDataConfig};
use crate::{OperatorError, Result};
use nabla_data::inverse::{InverseDataset, ParamFile, PdeFamily, PerSeedFile, Split, TensorFile};
use nabla_data::AttrValue;
use rayon::prelude::*;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

/// A residual term c_j(φ) = sign · φ\[param\]^power.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Term {
    /// +1 or −1.
    pub sign: f64,
    /// Index of the parameter.
    pub param: usize,
    /// 1 or 2.
    pub power: i32,
}

/// The PDE family of a folder, with what its residual needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Physics {
    /// 2-D FitzHugh–Nagumo on cells of width `h`.
    ReactionDiffusion {
        /// Zero flux (true) or periodic.
        neumann: bool,
    },
    /// 1-D periodic KdV.
    Kdv {
        /// Fourier modes |l| ≤ this enter the residual (0 = all).
        modes: usize,
    },
}

impl Physics {
    /// The parameter names, in the order of the encoder's outputs.
    pub fn parameters(&self) -> &'static [&'static str] {
        match self {
            Physics::ReactionDiffusion { .. } => PdeFamily::ReactionDiffusion2d.parameters(),
            Physics::Kdv { .. } => PdeFamily::Kdv1d.parameters(),
        }
    }

    /// Field channels per frame.
    pub fn fields(&self) -> usize {
        match self {
            Physics::ReactionDiffusion { .. } => 2,
            Physics::Kdv { .. } => 1,
        }
    }

    /// The residual's terms c_1(φ), c_2(φ), … (c_0 = 1).
    pub fn terms(&self) -> Vec<Term> {
        match self {
            Physics::ReactionDiffusion { .. } => vec![
                Term {
                    sign: -1.0,
                    param: 0,
                    power: 1,
                },
                Term {
                    sign: -1.0,
                    param: 1,
                    power: 1,
                },
                Term {
                    sign: 1.0,
                    param: 2,
                    power: 1,
                },
            ],
            Physics::Kdv { .. } => vec![Term {
                sign: 1.0,
                param: 0,
                power: 2,
            }],
        }
    }
}

/// The residual at one window's centre frame: ‖F‖² = cᵀ·gram·c, and `scale` = ‖time
/// derivative‖² (the normaliser of the tuning loss). Both sums over the grid (KdV: over the
/// kept Fourier modes, Parseval-scaled).
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualForm {
    /// (terms + 1)², row-major.
    pub gram: Vec<f64>,
    /// ‖u_t‖² (+ ‖v_t‖²).
    pub scale: f64,
}

impl ResidualForm {
    /// ‖F(φ)‖² / scale for parameters `phi`.
    pub fn relative(&self, terms: &[Term], phi: &[f64]) -> f64 {
        let c = coefficients(terms, phi);
        let n = c.len();
        let mut s = 0.0;
        for i in 0..n {
            for j in 0..n {
                s += c[i] * self.gram[i * n + j] * c[j];
            }
        }
        s / self.scale.max(1e-300)
    }
}

/// c = (1, c_1(φ), …).
pub fn coefficients(terms: &[Term], phi: &[f64]) -> Vec<f64> {
    std::iter::once(1.0)
        .chain(terms.iter().map(|t| t.sign * phi[t.param].powi(t.power)))
        .collect()
}

/// The parameters minimising Σ ‖F‖² over `forms` (summed Gram matrices): a linear solve for
/// the coefficients, then each parameter from its term (a negative δ² gives δ = 0). `None`
/// when the system is singular.
pub fn least_squares(terms: &[Term], forms: &[&ResidualForm], params: usize) -> Option<Vec<f64>> {
    let n = terms.len() + 1;
    let mut g = vec![0.0; n * n];
    for f in forms {
        g.iter_mut().zip(&f.gram).for_each(|(a, b)| *a += b);
    }
    let m = n - 1;
    // G_ww w = −G_w0.
    let mut a = vec![0.0; m * m];
    let mut rhs = vec![0.0; m];
    for i in 0..m {
        for j in 0..m {
            a[i * m + j] = g[(i + 1) * n + j + 1];
        }
        rhs[i] = -g[(i + 1) * n];
    }
    let w = solve_dense(&mut a, &mut rhs)?;
    let mut phi = vec![0.0; params];
    for (t, wj) in terms.iter().zip(&w) {
        let v = wj / t.sign;
        phi[t.param] = if t.power == 2 { v.max(0.0).sqrt() } else { v };
    }
    Some(phi)
}

/// Gaussian elimination with partial pivoting on a small dense system.
fn solve_dense(a: &mut [f64], b: &mut [f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for col in 0..n {
        let piv =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[piv * n + col].abs() <= 1e-14 * scale {
            return None;
        }
        if piv != col {
            for k in 0..n {
                a.swap(piv * n + k, col * n + k);
            }
            b.swap(piv, col);
        }
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            for k in col..n {
                a[r * n + k] -= f * a[col * n + k];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| a[i * n + k] * x[k]).sum();
        x[i] = (b[i] - s) / a[i * n + i];
    }
    Some(x)
}

/// Windows of one split (or several), channels-last.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    /// Grid points per spatial axis.
    pub dims: Vec<usize>,
    /// Channels per point.
    pub channels: usize,
    /// `[n, dims…, channels]`.
    pub inputs: Vec<f32>,
    /// True parameters `[n, params]`.
    pub params: Vec<f64>,
    /// Parameters per window.
    pub param_count: usize,
    /// The trajectory each window comes from (0.. within this set).
    pub trajectory: Vec<usize>,
    /// The residual at each window's centre frame.
    pub residuals: Vec<ResidualForm>,
    /// Trajectories.
    pub trajectories: usize,
}

impl Windows {
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.trajectory.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.trajectory.is_empty()
    }

    /// Values per window.
    pub fn window_len(&self) -> usize {
        self.dims.iter().product::<usize>() * self.channels
    }

    /// Indices of the windows of trajectory `t`.
    pub fn of_trajectory(&self, t: usize) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.trajectory[i] == t)
            .collect()
    }

    fn append(&mut self, other: Windows) {
        if self.dims.is_empty() {
            self.dims = other.dims.clone();
            self.channels = other.channels;
            self.param_count = other.param_count;
        }
        let offset = self.trajectories;
        self.inputs.extend(other.inputs);
        self.params.extend(other.params);
        self.trajectory
            .extend(other.trajectory.iter().map(|t| t + offset));
        self.residuals.extend(other.residuals);
        self.trajectories += other.trajectories;
    }
}

/// Which windows of a trajectory of `nt` frames to take.
#[derive(Clone, Copy, Debug)]
pub enum WindowPick {
    /// Starts 0, stride, 2·stride, …
    Strided(usize),
    /// This many, evenly spread.
    Spread(usize),
}

fn window_starts(nt: usize, n_past: usize, pick: WindowPick) -> Vec<usize> {
    if nt < n_past {
        return Vec::new();
    }
    let last = nt - n_past;
    match pick {
        WindowPick::Strided(s) => (0..=last).step_by(s.max(1)).collect(),
        WindowPick::Spread(k) if k <= 1 => vec![last / 2],
        WindowPick::Spread(k) => {
            let mut v: Vec<usize> = (0..k)
                .map(|j| ((j as f64) * last as f64 / (k - 1) as f64).round() as usize)
                .collect();
            v.dedup();
            v
        }
    }
}

/// An opened folder: its family, physics and files per split.
pub struct Folder {
    /// The folder.
    pub dataset: InverseDataset,
    /// Its physics.
    pub physics: Physics,
}

impl Folder {
    /// Opens the folder of `config`; only reaction–diffusion and KdV folders are supported.
    pub fn open(config: &InverseDataConfig) -> Result<Self> {
        let dataset = InverseDataset::open(&config.folder)?;
        let physics = match dataset.family() {
            PdeFamily::ReactionDiffusion2d => {
                let first = dataset
                    .splits()
                    .iter()
                    .flat_map(|s| s.files.first())
                    .next();
                let neumann = match config.boundary {
                    BoundaryChoice::Neumann => true,
                    BoundaryChoice::Periodic => false,
                    BoundaryChoice::Auto => match first {
                        Some(f) => boundary_attribute(f)?,
                        None => true,
                    },
                };
                Physics::ReactionDiffusion { neumann }
            }
            PdeFamily::Kdv1d => Physics::Kdv {
                modes: config.residual_modes,
            },
            other => {
                return Err(OperatorError::config(
                    "data.folder",
                    format!(
                        "{}: parameter estimation supports reaction-diffusion and KdV folders, this one holds {}",
                        config.folder.display(),
                        other.describe()
                    ),
                ))
            }
        };
        Ok(Folder { dataset, physics })
    }

    /// The windows of `split` (empty when the folder lacks it).
    pub fn windows(
        &self,
        config: &InverseDataConfig,
        split: Split,
        pick: WindowPick,
    ) -> Result<Windows> {
        let Some(files) = self.dataset.split(split) else {
            return Ok(Windows::default());
        };
        let per_file: Vec<Result<Windows>> = files
            .files
            .par_iter()
            .map(|f| self.file_windows(config, f, pick))
            .collect();
        let mut all = Windows::default();
        for w in per_file {
            all.append(w?);
        }
        Ok(all)
    }

    fn file_windows(
        &self,
        config: &InverseDataConfig,
        file: &ParamFile,
        pick: WindowPick,
    ) -> Result<Windows> {
        let named = file.checked_parameters()?;
        let params: Vec<f64> = self
            .physics
            .parameters()
            .iter()
            .map(|p| {
                named
                    .iter()
                    .find(|(n, _)| n == p)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| {
                        OperatorError::config(
                            "data.folder",
                            format!(
                                "{}: the file name lacks parameter '{p}'",
                                file.path.display()
                            ),
                        )
                    })
            })
            .collect::<Result<_>>()?;
        let mut out = Windows {
            param_count: params.len(),
            ..Windows::default()
        };
        match &self.physics {
            Physics::ReactionDiffusion { neumann } => {
                let f = PerSeedFile::open(&file.path)?;
                let shape = f.shape().to_vec();
                if shape.len() != 4 || shape[3] != 2 {
                    return Err(layout_error(
                        &file.path,
                        format!("reaction-diffusion data must be [t, x, y, 2], found {shape:?}"),
                    ));
                }
                let dt = coordinate_step(f.t(), "time", &file.path)?;
                let h = coordinate_step(f.x(), "x", &file.path)? * config.subsample as f64;
                for seed in 0..f.seeds().len() {
                    let traj = f.read_trajectory(seed)?;
                    let (frames, dims) = subsample_frames(&traj, &shape[..3], 2, config.subsample);
                    for s in window_starts(shape[0], config.n_past, pick) {
                        let window: Vec<&[f64]> = (s..s + config.n_past)
                            .map(|t| frames[t].as_slice())
                            .collect();
                        let (input, form) =
                            rd_window(&window, &dims, h, dt, *neumann, config.derivatives);
                        out.push(input, &params, form, &dims);
                    }
                    out.trajectories += 1;
                }
            }
            Physics::Kdv { modes } => {
                let f = TensorFile::open(&file.path)?;
                let dt = coordinate_step(f.t(), "time", &file.path)?;
                let h = coordinate_step(f.x(), "x", &file.path)? * config.subsample as f64;
                for k in 0..f.n() {
                    let traj = f.read_frames(k, 0..f.nt())?;
                    let (frames, dims) =
                        subsample_frames(&traj, &[f.nt(), f.nx()], 1, config.subsample);
                    for s in window_starts(f.nt(), config.n_past, pick) {
                        let window: Vec<&[f64]> = (s..s + config.n_past)
                            .map(|t| frames[t].as_slice())
                            .collect();
                        let (input, form) = kdv_window(&window, h, dt, *modes, config.derivatives);
                        out.push(input, &params, form, &dims);
                    }
                    out.trajectories += 1;
                }
            }
        }
        Ok(out)
    }
}

impl Windows {
    fn push(&mut self, input: Vec<f32>, params: &[f64], form: ResidualForm, dims: &[usize]) {
        let points: usize = dims.iter().product();
        self.dims = dims.to_vec();
        self.channels = input.len() / points;
        self.inputs.extend(input);
        self.params.extend_from_slice(params);
        self.trajectory.push(self.trajectories);
        self.residuals.push(form);
    }
}

fn layout_error(path: &std::path::Path, reason: String) -> OperatorError {
    OperatorError::Data(nabla_data::DataError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    })
}

fn boundary_attribute(file: &ParamFile) -> Result<bool> {
    let attrs = nabla_data::read_attrs(&file.path)?;
    Ok(match attrs.iter().find(|(n, _)| n == "boundary") {
        Some((_, AttrValue::Str(s))) if s.eq_ignore_ascii_case("periodic") => false,
        Some((_, AttrValue::Str(s))) if s.eq_ignore_ascii_case("neumann") => true,
        Some((_, v)) => {
            return Err(layout_error(
                &file.path,
                format!("attribute 'boundary' is {v:?}; expected \"neumann\" or \"periodic\" (or set data.boundary)"),
            ))
        }
        None => true,
    })
}

/// The spacing of an increasing coordinate (`what`: "time" or "x"), or an error naming the file.
fn coordinate_step(values: &[f32], what: &str, path: &std::path::Path) -> Result<f64> {
    let step = if values.len() >= 2 {
        (values[1] - values[0]) as f64
    } else {
        0.0
    };
    if step > 0.0 && step.is_finite() {
        Ok(step)
    } else {
        Err(layout_error(
            path,
            format!("the {what} coordinate needs two increasing values to give its spacing"),
        ))
    }
}

/// Frames of a trajectory `[t, spatial…, fields]` as f64 per frame, every k-th point per axis.
fn subsample_frames(
    traj: &[f32],
    shape: &[usize],
    fields: usize,
    k: usize,
) -> (Vec<Vec<f64>>, Vec<usize>) {
    let spatial = &shape[1..];
    let dims: Vec<usize> = spatial.iter().map(|&n| n.div_ceil(k)).collect();
    let frame_len: usize = spatial.iter().product::<usize>() * fields;
    let frames = (0..shape[0])
        .map(|t| {
            let f = &traj[t * frame_len..(t + 1) * frame_len];
            match spatial.len() {
                1 => (0..dims[0])
                    .flat_map(|i| (0..fields).map(move |c| f[(i * k) * fields + c] as f64))
                    .collect(),
                _ => {
                    let ny = spatial[1];
                    let mut v = Vec::with_capacity(dims[0] * dims[1] * fields);
                    for i in 0..dims[0] {
                        for j in 0..dims[1] {
                            for c in 0..fields {
                                v.push(f[((i * k) * ny + j * k) * fields + c] as f64);
                            }
                        }
                    }
                    v
                }
            }
        })
        .collect();
    (frames, dims)
}

/// The time derivative at the window's centre frame `c = n/2`: 4th-order central from five
/// frames, else 2nd-order central.
fn time_derivative(window: &[&[f64]], dt: f64) -> Vec<f64> {
    let n = window.len();
    let c = n / 2;
    let len = window[0].len();
    if c >= 2 && c + 2 < n {
        (0..len)
            .map(|i| {
                (-window[c + 2][i] + 8.0 * window[c + 1][i] - 8.0 * window[c - 1][i]
                    + window[c - 2][i])
                    / (12.0 * dt)
            })
            .collect()
    } else {
        (0..len)
            .map(|i| (window[c + 1][i] - window[c - 1][i]) / (2.0 * dt))
            .collect()
    }
}

/// The cell-centred 5-point Laplacian of field `c` of `f` (`[nx, ny, fields]`), with mirrored
/// ghost cells (zero flux) or periodic wrap-around — the generator's discretisation.
pub fn laplacian_2d(
    f: &[f64],
    nx: usize,
    ny: usize,
    fields: usize,
    c: usize,
    h: f64,
    neumann: bool,
) -> Vec<f64> {
    let at = |i: usize, j: usize| f[(i * ny + j) * fields + c];
    let step = |i: usize, n: usize, d: isize| -> usize {
        let k = i as isize + d;
        if k < 0 {
            if neumann {
                0
            } else {
                n - 1
            }
        } else if k as usize >= n {
            if neumann {
                n - 1
            } else {
                0
            }
        } else {
            k as usize
        }
    };
    let mut out = vec![0.0; nx * ny];
    for i in 0..nx {
        for j in 0..ny {
            let u = at(i, j);
            out[i * ny + j] = (at(step(i, nx, -1), j)
                + at(step(i, nx, 1), j)
                + at(i, step(j, ny, -1))
                + at(i, step(j, ny, 1))
                - 4.0 * u)
                / (h * h);
        }
    }
    out
}

/// One reaction–diffusion window: the channels-last input and the residual form.
fn rd_window(
    window: &[&[f64]],
    dims: &[usize],
    h: f64,
    dt: f64,
    neumann: bool,
    derivatives: bool,
) -> (Vec<f32>, ResidualForm) {
    let (nx, ny) = (dims[0], dims[1]);
    let p = nx * ny;
    let n = window.len();
    let centre = window[n / 2];
    let ut_both = time_derivative(window, dt);
    let lap_u = laplacian_2d(centre, nx, ny, 2, 0, h, neumann);
    let lap_v = laplacian_2d(centre, nx, ny, 2, 1, h, neumann);
    let mut gram = vec![0.0; 16];
    let mut scale = 0.0;
    for q in 0..p {
        let (u, v) = (centre[2 * q], centre[2 * q + 1]);
        let (ut, vt) = (ut_both[2 * q], ut_both[2 * q + 1]);
        scale += ut * ut + vt * vt;
        // [r, b_Du, b_Dv, b_k] on the u rows, then on the v rows.
        let rows = [
            [ut - (u - u * u * u - v), lap_u[q], 0.0, 1.0],
            [vt - (u - v), 0.0, lap_v[q], 0.0],
        ];
        for row in rows {
            for a in 0..4 {
                for b in 0..4 {
                    gram[a * 4 + b] += row[a] * row[b];
                }
            }
        }
    }
    let extra = if derivatives { 4 } else { 0 };
    let channels = 2 * n + extra;
    let mut input = Vec::with_capacity(p * channels);
    for q in 0..p {
        for frame in window {
            input.push(frame[2 * q] as f32);
            input.push(frame[2 * q + 1] as f32);
        }
        if derivatives {
            input.extend([
                ut_both[2 * q] as f32,
                ut_both[2 * q + 1] as f32,
                lap_u[q] as f32,
                lap_v[q] as f32,
            ]);
        }
    }
    (input, ResidualForm { gram, scale })
}

/// Spectral derivatives of a periodic signal of spacing `h`: (u_x, u_xxx), the Nyquist mode
/// dropped.
fn spectral_derivatives(u: &[f64], h: f64) -> (Vec<f64>, Vec<f64>) {
    let n = u.len();
    let mut planner = FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut spec: Vec<Complex64> = u.iter().map(|&v| Complex64::new(v, 0.0)).collect();
    fwd.process(&mut spec);
    let length = n as f64 * h;
    let derive = |power: i32| {
        let mut s: Vec<Complex64> = spec
            .iter()
            .enumerate()
            .map(|(l, c)| {
                let m = signed_mode(l, n);
                if 2 * m.unsigned_abs() as usize == n {
                    return Complex64::new(0.0, 0.0);
                }
                let k = 2.0 * std::f64::consts::PI * m as f64 / length;
                c * Complex64::new(0.0, k).powi(power)
            })
            .collect();
        inv.process(&mut s);
        s.iter().map(|c| c.re / n as f64).collect::<Vec<f64>>()
    };
    (derive(1), derive(3))
}

fn signed_mode(l: usize, n: usize) -> i64 {
    if l <= n / 2 {
        l as i64
    } else {
        l as i64 - n as i64
    }
}

/// One KdV window: the input and the residual form over Fourier modes |l| ≤ `modes`.
fn kdv_window(
    window: &[&[f64]],
    h: f64,
    dt: f64,
    modes: usize,
    derivatives: bool,
) -> (Vec<f32>, ResidualForm) {
    let n = window.len();
    let centre = window[n / 2];
    let nx = centre.len();
    let ut = time_derivative(window, dt);
    let (ux, uxxx) = spectral_derivatives(centre, h);
    let r: Vec<f64> = (0..nx).map(|i| ut[i] + centre[i] * ux[i]).collect();
    // Project (r, u_xxx, u_t) onto the kept modes; Gram sums over them (Parseval).
    let mut planner = FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(nx);
    let spectrum = |v: &[f64]| {
        let mut s: Vec<Complex64> = v.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        fwd.process(&mut s);
        s
    };
    let vecs = [spectrum(&r), spectrum(&uxxx)];
    let st = spectrum(&ut);
    let kept = |l: usize| modes == 0 || signed_mode(l, nx).unsigned_abs() as usize <= modes;
    let mut gram = vec![0.0; 4];
    let mut scale = 0.0;
    for l in (0..nx).filter(|&l| kept(l)) {
        for a in 0..2 {
            for b in 0..2 {
                gram[a * 2 + b] += (vecs[a][l] * vecs[b][l].conj()).re / nx as f64;
            }
        }
        scale += st[l].norm_sqr() / nx as f64;
    }
    let extra = if derivatives { 4 } else { 0 };
    let mut input = Vec::with_capacity(nx * (n + extra));
    for i in 0..nx {
        for frame in window {
            input.push(frame[i] as f32);
        }
        if derivatives {
            input.extend([
                ut[i] as f32,
                ux[i] as f32,
                uxxx[i] as f32,
                (centre[i] * ux[i]) as f32,
            ]);
        }
    }
    (input, ResidualForm { gram, scale })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectral_derivatives_of_a_sine_are_exact() {
        let n = 64;
        let h = 0.5;
        let k = 2.0 * std::f64::consts::PI * 3.0 / (n as f64 * h);
        let u: Vec<f64> = (0..n).map(|i| (k * i as f64 * h).sin()).collect();
        let (ux, uxxx) = spectral_derivatives(&u, h);
        for i in 0..n {
            let x = i as f64 * h;
            assert!((ux[i] - k * (k * x).cos()).abs() < 1e-12);
            assert!((uxxx[i] + k * k * k * (k * x).cos()).abs() < 1e-12);
        }
    }

    #[test]
    fn least_squares_recovers_the_coefficients_of_a_consistent_residual() {
        // r = −(−Du·b1 − Dv·b2 + k·b3) exactly for Du, Dv, k = 0.3, 0.1, 0.05.
        let b: Vec<[f64; 3]> = (0..50)
            .map(|i| {
                let x = i as f64 * 0.37;
                [x.sin(), (2.0 * x).cos(), if i % 2 == 0 { 1.0 } else { 0.0 }]
            })
            .collect();
        let mut gram = vec![0.0; 16];
        for bi in &b {
            let r = 0.3 * bi[0] + 0.1 * bi[1] - 0.05 * bi[2];
            let row = [r, bi[0], bi[1], bi[2]];
            for x in 0..4 {
                for y in 0..4 {
                    gram[x * 4 + y] += row[x] * row[y];
                }
            }
        }
        let form = ResidualForm { gram, scale: 1.0 };
        let physics = Physics::ReactionDiffusion { neumann: true };
        let phi = least_squares(&physics.terms(), &[&form], 3).unwrap();
        for (a, b) in phi.iter().zip([0.3, 0.1, 0.05]) {
            assert!((a - b).abs() < 1e-10, "{phi:?}");
        }
        assert!(form.relative(&physics.terms(), &phi) < 1e-20);
    }

    #[test]
    fn window_starts_cover_the_trajectory() {
        assert_eq!(window_starts(20, 5, WindowPick::Strided(10)), vec![0, 10]);
        assert_eq!(window_starts(21, 5, WindowPick::Spread(3)), vec![0, 8, 16]);
        assert_eq!(
            window_starts(4, 5, WindowPick::Spread(3)),
            Vec::<usize>::new()
        );
    }
}
