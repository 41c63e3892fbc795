//! Line kernels of the smoothers and residuals, on padded level vectors through raw pointers.
//!
//! Every pointer passed here points at interior point `i = 0` of one grid line: `x` into a
//! padded level vector (so `x ± stride` reaches the neighbouring lines or the ghost layer),
//! `b` and the coefficient arrays at the same point of their own vectors. Every function is
//! `unsafe`: the caller guarantees that the line is an interior line of a padded level (so all
//! offsets `i ± stride`, `i < n0`, stay inside the vectors) and that no other thread writes the
//! entries read or written (see [`super::level::Shared`]).

#![allow(clippy::too_many_arguments)]

/// What a red–black half-sweep does with the points it updates.
#[derive(Clone, Copy)]
pub(crate) enum Sweep {
    /// Ordinary Gauss–Seidel update in place.
    InPlace,
    /// First half-sweep from x = 0: `x_i = b_i / A_ii`, neighbours not read.
    FromZero,
    /// Last half-sweep: the updated values of this colour and the current values of the other
    /// colour are written to `out` (a line of the result vector); `x` is left stale.
    ToOutput(*mut f64),
}

/// A (2d+1)-point stencil along one line: the constant Laplacian or variable couplings
/// (`w[a][i]` = coupling to `i − e_a`; the coupling to `i + e_a` is `w[a][i + st[a]]`).
#[derive(Clone, Copy)]
pub(crate) enum LineStencil {
    Const {
        diag: f64,
        off: f64,
    },
    Faces {
        diag: *const f64,
        inv_diag: *const f64,
        w: [*const f64; 3],
    },
}

impl LineStencil {
    /// Off-diagonal part `Σ_{q≠i} A_iq x_q` and the inverse diagonal at point `i`.
    #[inline(always)]
    unsafe fn offdiag<const ND: usize>(
        &self,
        x: *const f64,
        st: [isize; 3],
        i: isize,
    ) -> (f64, f64) {
        match *self {
            LineStencil::Const { diag, off } => {
                let mut s = *x.offset(i - 1) + *x.offset(i + 1);
                if ND > 1 {
                    s += *x.offset(i - st[1]) + *x.offset(i + st[1]);
                }
                if ND > 2 {
                    s += *x.offset(i - st[2]) + *x.offset(i + st[2]);
                }
                (off * s, 1.0 / diag)
            }
            LineStencil::Faces { inv_diag, w, .. } => {
                let mut s =
                    *w[0].offset(i) * *x.offset(i - 1) + *w[0].offset(i + 1) * *x.offset(i + 1);
                if ND > 1 {
                    s += *w[1].offset(i) * *x.offset(i - st[1])
                        + *w[1].offset(i + st[1]) * *x.offset(i + st[1]);
                }
                if ND > 2 {
                    s += *w[2].offset(i) * *x.offset(i - st[2])
                        + *w[2].offset(i + st[2]) * *x.offset(i + st[2]);
                }
                (s, *inv_diag.offset(i))
            }
        }
    }

    /// The diagonal at point `i`.
    #[inline(always)]
    unsafe fn diag(&self, i: isize) -> f64 {
        match *self {
            LineStencil::Const { diag, .. } => diag,
            LineStencil::Faces { diag, .. } => *diag.offset(i),
        }
    }
}

#[inline(always)]
unsafe fn rb_line_nd<const ND: usize>(
    a: LineStencil,
    x: *mut f64,
    b: *const f64,
    st: [isize; 3],
    i0: usize,
    n0: usize,
    mode: Sweep,
) {
    match mode {
        Sweep::FromZero => {
            let mut i = i0 as isize;
            while i < n0 as isize {
                let (_, inv) = match a {
                    LineStencil::Const { diag, .. } => (0.0, 1.0 / diag),
                    LineStencil::Faces { inv_diag, .. } => (0.0, *inv_diag.offset(i)),
                };
                *x.offset(i) = *b.offset(i) * inv;
                i += 2;
            }
        }
        Sweep::InPlace => {
            let mut i = i0 as isize;
            while i < n0 as isize {
                let (s, inv) = a.offdiag::<ND>(x, st, i);
                *x.offset(i) = (*b.offset(i) - s) * inv;
                i += 2;
            }
        }
        Sweep::ToOutput(out) => {
            for i in 0..n0 as isize {
                *out.offset(i) = if (i as usize + i0) & 1 == 0 {
                    let (s, inv) = a.offdiag::<ND>(x, st, i);
                    (*b.offset(i) - s) * inv
                } else {
                    *x.offset(i)
                };
            }
        }
    }
}

/// Red–black half-sweep of one line over the points `i0, i0 + 2, …`.
#[inline]
pub(crate) unsafe fn rb_line(
    a: LineStencil,
    x: *mut f64,
    b: *const f64,
    nd: usize,
    st: [isize; 3],
    i0: usize,
    n0: usize,
    mode: Sweep,
) {
    match nd {
        1 => rb_line_nd::<1>(a, x, b, st, i0, n0, mode),
        2 => rb_line_nd::<2>(a, x, b, st, i0, n0, mode),
        _ => rb_line_nd::<3>(a, x, b, st, i0, n0, mode),
    }
}

#[inline(always)]
unsafe fn residual_line_nd<const ND: usize>(
    a: LineStencil,
    r: *mut f64,
    b: *const f64,
    x: *const f64,
    st: [isize; 3],
    n0: usize,
    only: Option<usize>,
) {
    for i in 0..n0 as isize {
        *r.offset(i) = match only {
            Some(i0) if (i as usize + i0) & 1 == 1 => 0.0,
            _ => {
                let (s, _) = a.offdiag::<ND>(x, st, i);
                *b.offset(i) - a.diag(i) * *x.offset(i) - s
            }
        };
    }
}

/// `r = b − A x` on one line; with `only = Some(i0)` only at the points `i0, i0 + 2, …` and 0
/// at the others (the red–black residual after a half-sweep of the other colour).
#[inline]
pub(crate) unsafe fn residual_line(
    a: LineStencil,
    r: *mut f64,
    b: *const f64,
    x: *const f64,
    nd: usize,
    st: [isize; 3],
    n0: usize,
    only: Option<usize>,
) {
    match nd {
        1 => residual_line_nd::<1>(a, r, b, x, st, n0, only),
        2 => residual_line_nd::<2>(a, r, b, x, st, n0, only),
        _ => residual_line_nd::<3>(a, r, b, x, st, n0, only),
    }
}

/// Gauss–Seidel update of the points `i0, i0+2, …` of one line for a stored 3^d stencil
/// (`coef` points at the line's first stencil, `S` entries per point).
#[inline]
pub(crate) unsafe fn full_colour<const S: usize>(
    x: *mut f64,
    b: *const f64,
    coef: *const f64,
    inv_diag: *const f64,
    offs: &[isize; 27],
    i0: usize,
    n0: usize,
) {
    let mut i = i0;
    while i < n0 {
        let c = coef.add(i * S);
        let xi = x.add(i);
        let mut acc = *b.add(i);
        for (t, &o) in offs.iter().take(S).enumerate() {
            acc -= *c.add(t) * *xi.offset(o);
        }
        *xi += acc * *inv_diag.add(i);
        i += 2;
    }
}

/// `r = b − A x` on one line for a stored 3^d stencil.
#[inline]
pub(crate) unsafe fn full_residual<const S: usize>(
    r: *mut f64,
    b: *const f64,
    x: *const f64,
    coef: *const f64,
    offs: &[isize; 27],
    n0: usize,
) {
    for i in 0..n0 {
        let c = coef.add(i * S);
        let xi = x.add(i);
        let mut acc = *b.add(i);
        for (t, &o) in offs.iter().take(S).enumerate() {
            acc -= *c.add(t) * *xi.offset(o);
        }
        *r.add(i) = acc;
    }
}

/// The y/z part of a Kronecker-sum stencil on one line `(j, k)`: with `t = (dy+1) + 3(dz+1)`,
/// `mm[t] = M_y[j,dy]·M_z[k,dz]` and `km[t] = K_y[j,dy]·M_z[k,dz] + M_y[j,dy]·K_z[k,dz]`, so the
/// coefficient of offset `(dx, dy, dz)` at point `i` is `K_x[i,dx]·mm[t] + M_x[i,dx]·km[t]`.
pub(crate) struct LineTensor {
    mm: [f64; 9],
    km: [f64; 9],
}

impl LineTensor {
    /// From the rows of the y and z factors at this line.
    pub(crate) fn new(ky: &[f64; 3], my: &[f64; 3], kz: &[f64; 3], mz: &[f64; 3]) -> Self {
        let mut mm = [0.0; 9];
        let mut km = [0.0; 9];
        for dz in 0..3 {
            for dy in 0..3 {
                mm[dy + 3 * dz] = my[dy] * mz[dz];
                km[dy + 3 * dz] = ky[dy] * mz[dz] + my[dy] * kz[dz];
            }
        }
        Self { mm, km }
    }

    /// The 27-layout stencil at a point whose x-factor rows are `kx`, `mx`.
    pub(crate) fn coefs27(&self, kx: &[f64; 3], mx: &[f64; 3], out: &mut [f64; 27]) {
        for (u, o) in out.iter_mut().enumerate() {
            *o = kx[u % 3] * self.mm[u / 3] + mx[u % 3] * self.km[u / 3];
        }
    }

    /// The active-layout stencil (S = 3^d entries starting at 27-layout entry `base27`) and
    /// the inverse of its centre.
    #[inline(always)]
    fn coefs<const S: usize>(
        &self,
        kx: &[f64; 3],
        mx: &[f64; 3],
        base27: usize,
        out: &mut [f64; S],
    ) -> f64 {
        for (u, o) in out.iter_mut().enumerate() {
            let v = u + base27;
            *o = kx[v % 3] * self.mm[v / 3] + mx[v % 3] * self.km[v / 3];
        }
        let d = out[(S - 1) / 2];
        if d > 0.0 {
            1.0 / d
        } else {
            0.0
        }
    }

    /// Gauss–Seidel update of the points `i0, i0+2, …` of a line. `segs` are the runs of
    /// points whose x-factor rows are equal (see [`x_segments`]), so the stencil is computed
    /// once per run.
    #[inline]
    pub(crate) unsafe fn smooth<const S: usize>(
        &self,
        x: *mut f64,
        b: *const f64,
        kx: &[[f64; 3]],
        mx: &[[f64; 3]],
        segs: &[(usize, usize)],
        offs: &[isize; 27],
        base27: usize,
        i0: usize,
    ) {
        let mut coef = [0.0; S];
        for &(lo, hi) in segs {
            let inv = self.coefs::<S>(&kx[lo], &mx[lo], base27, &mut coef);
            let mut i = lo + (lo + i0) % 2;
            while i < hi {
                let xi = x.add(i);
                let mut acc = *b.add(i);
                for (c, &o) in coef.iter().zip(offs) {
                    acc -= c * *xi.offset(o);
                }
                *xi += acc * inv;
                i += 2;
            }
        }
    }

    /// `r = b − A x` on a line (`segs` as for [`LineTensor::smooth`]).
    #[inline]
    pub(crate) unsafe fn residual<const S: usize>(
        &self,
        r: *mut f64,
        b: *const f64,
        x: *const f64,
        kx: &[[f64; 3]],
        mx: &[[f64; 3]],
        segs: &[(usize, usize)],
        offs: &[isize; 27],
        base27: usize,
    ) {
        let mut coef = [0.0; S];
        for &(lo, hi) in segs {
            self.coefs::<S>(&kx[lo], &mx[lo], base27, &mut coef);
            for i in lo..hi {
                let xi = x.add(i);
                let mut acc = *b.add(i);
                for (c, &o) in coef.iter().zip(offs) {
                    acc -= c * *xi.offset(o);
                }
                *r.add(i) = acc;
            }
        }
    }
}

/// Runs `[lo, hi)` of consecutive indices whose rows in both 1-D factors are equal.
pub(crate) fn x_segments(k: &[[f64; 3]], m: &[[f64; 3]]) -> Vec<(usize, usize)> {
    let mut segs: Vec<(usize, usize)> = Vec::new();
    for i in 0..k.len().min(m.len()) {
        match segs.last_mut() {
            Some(last) if k[last.0] == k[i] && m[last.0] == m[i] => last.1 = i + 1,
            _ => segs.push((i, i + 1)),
        }
    }
    segs
}
