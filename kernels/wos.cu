// Walk-on-Spheres for Δu − σu = f in Ω, u = g on ∂Ω (note: Δu = f, the opposite sign of
// `nabla poisson`'s −Δu = f), in 2-D and 3-D.
//
// Compiled at run time by NVRTC through cudarc (nabla-wos, feature `cuda`); the source is built
// by nabla-wos/src/gpu_source.rs, which prepends:
//   #define WOS_DIM 2|3
//   #define WOS_HAS_SOURCE 0|1
//   #define WOS_G(x, y, z, r, theta) <boundary expression in C>
//   #define WOS_F(x, y, z, r, theta) <source expression in C>
//   double domain_distance(const double* dom, const double* x)        (unsigned distance to ∂Ω)
//   void domain_closest(const double* dom, const double* x, double* out) (closest point of ∂Ω)
// the last two generated from the domain (box, ball, polygon, star, CSG of those), reading the
// shape's numbers from `dom`. The test suite compiles this same source as host C++
// (nabla-wos/tests/kernel_on_host.rs), so it uses nothing beyond C math functions, sincos and
// min() outside the few CUDA keywords that test defines away.
//
// One thread runs one block of walks of one point: thread t handles point t / nchunks, walks
// [c·chunk, min(walks, (c+1)·chunk)) with c = t % nchunks, and writes its Welford statistics
// (count, mean, M2, steps, walks run, unfinished) to out[6·t ..]. The host merges the blocks
// in order, exactly as the CPU solver does. Random numbers: SplitMix64 streams keyed by
// (seed, point, walk) and drawn in the same order as the CPU walk, so GPU and CPU estimate
// with the same random streams (results agree to rounding of the math library, not bitwise).

#define GAMMA 0x9E3779B97F4A7C15ULL
#define TAU 6.283185307179586476925286766559

__device__ __forceinline__ double nabla_sq(double a) { return a * a; }
__device__ __forceinline__ double nabla_sign(double a) { return a > 0.0 ? 1.0 : (a < 0.0 ? -1.0 : 0.0); }

__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct Rng { unsigned long long s; };

__device__ __forceinline__ double next_f64(Rng* r) {
    r->s += GAMMA;
    return (double)(mix64(r->s) >> 11) * (1.0 / 9007199254740992.0);
}

__device__ __forceinline__ double next_f64_open0(Rng* r) {
    r->s += GAMMA;
    return (double)((mix64(r->s) >> 11) + 1ULL) * (1.0 / 9007199254740992.0);
}

__device__ __forceinline__ Rng walk_stream(unsigned long long seed, unsigned long long point,
                                           unsigned long long walk) {
    unsigned long long k = mix64(seed + GAMMA * (point + 1ULL));
    Rng r;
    r.s = mix64(k ^ (walk * 0xD1B54A32D192ED03ULL));
    return r;
}

__device__ double field_eval_g(const double* p) {
    double x = p[0], y = p[1];
    double z = (WOS_DIM > 2) ? p[WOS_DIM > 2 ? 2 : 0] : 0.0;
    double r = sqrt(x * x + y * y + z * z);
    double theta = atan2(y, x);
    (void)r; (void)theta; (void)z;
    return (double)(WOS_G(x, y, z, r, theta));
}

__device__ double field_eval_f(const double* p) {
    double x = p[0], y = p[1];
    double z = (WOS_DIM > 2) ? p[WOS_DIM > 2 ? 2 : 0] : 0.0;
    double r = sqrt(x * x + y * y + z * z);
    double theta = atan2(y, x);
    (void)r; (void)theta; (void)z;
    return (double)(WOS_F(x, y, z, r, theta));
}

// ---- sampling (same order of random numbers as the CPU) ------------------------------
__device__ void direction(Rng* rng, double* out) {
#if WOS_DIM == 2
    double s, c;
    sincos(TAU * next_f64(rng), &s, &c);
    out[0] = c; out[1] = s;
#else
    double z = 2.0 * next_f64(rng) - 1.0;
    double rr = sqrt(fmax(1.0 - z * z, 0.0));
    double s, c;
    sincos(TAU * next_f64(rng), &s, &c);
    out[0] = rr * c; out[1] = rr * s; out[2] = z;
#endif
}

__device__ double green_radius(Rng* rng) {
#if WOS_DIM == 2
    double a = next_f64_open0(rng);
    double b = next_f64_open0(rng);
    return sqrt(a * b);
#else
    double a = next_f64(rng), b = next_f64(rng), c = next_f64(rng);
    return fmin(fmax(a, b), fmax(fmin(a, b), c));
#endif
}

// ---- screening (Abramowitz & Stegun 9.8.1–9.8.6, exponentially scaled) -----------------
__device__ double i0e(double x) {
    if (x <= 3.75) {
        double t = (x / 3.75) * (x / 3.75);
        double i0 = 1.0 + t * (3.5156229 + t * (3.0899424 + t * (1.2067492 + t * (0.2659732
                    + t * (0.0360768 + t * 0.0045813)))));
        return i0 * exp(-x);
    }
    double t = 3.75 / x;
    double p = 0.39894228 + t * (0.01328592 + t * (0.00225319 + t * (-0.00157565 + t * (0.00916281
               + t * (-0.02057706 + t * (0.02635537 + t * (-0.01647633 + t * 0.00392377)))))));
    return p / sqrt(x);
}

__device__ double k0e(double x) {
    if (x <= 2.0) {
        double t = (x / 2.0) * (x / 2.0);
        double i0 = i0e(x) * exp(x);
        double k0 = -log(x / 2.0) * i0 - 0.57721566 + t * (0.42278420 + t * (0.23069756
                    + t * (0.03488590 + t * (0.00262698 + t * (0.00010750 + t * 0.0000074)))));
        return k0 * exp(x);
    }
    double t = 2.0 / x;
    double p = 1.25331414 + t * (-0.07832358 + t * (0.02189568 + t * (-0.01062446
               + t * (0.00587872 + t * (-0.00251540 + t * 0.00053208)))));
    return p / sqrt(x);
}

__device__ double survival(double a, double radius) {
    double x = a * radius;
    if (x == 0.0) return 1.0;
#if WOS_DIM == 2
    return exp(-x) / i0e(x);
#else
    if (x < 1e-4) return 1.0 - x * x / 6.0;
    return 2.0 * x * exp(-x) / (-expm1(-2.0 * x));
#endif
}

__device__ double screened_ratio(double a, double radius, double rho) {
    double big = a * radius;
    if (big == 0.0) return 1.0;
    double small = big * rho;
#if WOS_DIM == 2
    double lnr = -log(rho);
    if (lnr < 1e-10) return survival(a, radius);
    double ks = k0e(small) * exp(-small);
    double corr = k0e(big) / i0e(big) * i0e(small) * exp(small - 2.0 * big);
    return fmax((ks - corr) / lnr, 0.0);
#else
    double rest = big - small;
    if (rest < 1e-12) return survival(a, radius);
    double num = -expm1(-2.0 * rest);
    double den = -expm1(-2.0 * big);
    return (big / rest) * exp(-small) * num / den;
#endif
}

// ---- the kernel --------------------------------------------------------------------
extern "C" __global__ void wos_kernel(
    const double* __restrict__ points, unsigned int n_points, unsigned int walks,
    unsigned int chunk, unsigned int nchunks, unsigned long long seed,
    const double* __restrict__ dom, double eps, unsigned int max_steps, int discard_unfinished,
    double sqrt_sigma, double roulette, double* __restrict__ out)
{
    unsigned long long t = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (unsigned long long)n_points * nchunks) return;
    unsigned int p = (unsigned int)(t / nchunks);
    unsigned int c = (unsigned int)(t % nchunks);
    unsigned int lo = c * chunk;
    unsigned int hi = min(walks, lo + chunk);
    const double* x0 = points + (unsigned long long)p * WOS_DIM;
    const double green_mass = 1.0 / (2.0 * WOS_DIM);

    double n = 0.0, mean = 0.0, m2 = 0.0, steps_total = 0.0, run = 0.0, unfinished = 0.0;
    double x[WOS_DIM], tmp[WOS_DIM];
    for (unsigned int j = lo; j < hi; ++j) {
        Rng rng = walk_stream(seed, p, j);
        for (int k = 0; k < WOS_DIM; ++k) x[k] = x0[k];
        double weight = 1.0, acc = 0.0;
        unsigned int step = 0;
        bool keep = true;
        for (;;) {
            double r = domain_distance(dom, x);
            if (r < eps || step >= max_steps) {
                if (r >= eps) {
                    unfinished += 1.0;
                    if (discard_unfinished) { keep = false; break; }
                }
                domain_closest(dom, x, tmp);
                acc += weight * field_eval_g(tmp);
                break;
            }
            step += 1;
#if WOS_HAS_SOURCE
            {
                double rho = green_radius(&rng);
                direction(&rng, tmp);
                for (int k = 0; k < WOS_DIM; ++k) tmp[k] = x[k] + r * rho * tmp[k];
                double cs = green_mass * r * r * field_eval_f(tmp);
                if (sqrt_sigma > 0.0) cs *= screened_ratio(sqrt_sigma, r, rho);
                acc -= weight * cs;
            }
#endif
            direction(&rng, tmp);
            for (int k = 0; k < WOS_DIM; ++k) x[k] += r * tmp[k];
            if (sqrt_sigma > 0.0) {
                weight *= survival(sqrt_sigma, r);
                if (weight < roulette) {
                    double q = weight / roulette;
                    if (next_f64(&rng) >= q) break;  // absorbed: contributes acc so far
                    weight = roulette;
                }
            }
        }
        steps_total += (double)step;
        run += 1.0;
        if (keep) {
            n += 1.0;
            double d = acc - mean;
            mean += d / n;
            m2 += d * (acc - mean);
        }
    }
    double* o = out + 6ULL * t;
    o[0] = n; o[1] = mean; o[2] = m2; o[3] = steps_total; o[4] = run; o[5] = unfinished;
}
