//! The fused jet with the AVX-512 paths switched off (`NABLA_NO_AVX512`), as it runs on CPUs
//! without AVX-512: `matrixmultiply` products and the baseline-target activation rules,
//! against the f64 op-by-op jet. Its own test binary (one process), so the switch is set
//! before anything reads it.

#[path = "common/fused.rs"]
mod common;

#[test]
fn fused_jet_without_avx512_matches_the_f64_op_chain() {
    std::env::set_var(nabla_nn::DISABLE_AVX512_ENV, "1");
    common::check_f32_shapes();
}
