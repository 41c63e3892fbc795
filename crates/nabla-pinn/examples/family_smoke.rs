//! Trains one instance of each METALIC family with solution + flux continuity and prints the
//! errors and times: `cargo run --release -p nabla-pinn --example family_smoke`.
use nabla_pinn::family::{train_instance, FamilyBudget, FamilyKind};
use nabla_pinn::metalic::mask_of;
use nabla_pinn::multidomain::InterfaceCondition;
use rand::SeedableRng;

fn main() {
    let arm = mask_of(&[InterfaceCondition::Solution, InterfaceCondition::Flux]);
    let budget = FamilyBudget::default();
    for kind in [
        FamilyKind::Heat,
        FamilyKind::Advection,
        FamilyKind::Burgers,
        FamilyKind::Poisson,
    ] {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let params = kind.sample(&mut rng);
        let out = train_instance(kind, &params, &budget, arm, &mut |_| Ok(arm)).unwrap();
        println!(
            "{kind:?} {params:?}: after Adam {:.3e}, final {:.3e}, {:.1} s",
            out.error_adam, out.error, out.seconds
        );
    }
}
