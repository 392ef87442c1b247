//! The CI tier of the mm selftests (issue 19): a small subset on the kernel
//! the test command builds anyway (Debian 6.12 with the default
//! `virtme-base,stall-debug` config, cached by `tests/kernel.rs`), so CI pays
//! only the selftests' userspace build (cached afterwards), not a kernel of
//! its own. The tests picked need nothing the default config lacks;
//! `tests/kselftest.rs` (the full tier, `scripts/validate.sh`) runs the
//! default subset on the kselftest-mm kernel and the regression series.
//!
//! Checks: mlock2-tests passes; no test of the subset fails or errors; a
//! skip carries its reason.
//!
//!     MMSTALL_KERNEL_TESTS=1 cargo test --release -p mmstall-vm --test kselftest_ci -- --nocapture

use std::time::Instant;

use mmstall_vm::build::{self, BuildRequest, ProgressMode, Reporter};
use mmstall_vm::cache::Cache;
use mmstall_vm::kselftest;
use mmstall_vm::stall::ktap::Verdict;
use mmstall_vm::tree::TreeSpec;

mod common;
use common::selftests::{run_selftests, test};

struct Print;
impl Reporter for Print {
    fn note(&mut self, msg: &str) {
        eprintln!("  {msg}");
    }
}

/// Tests of the curated subset that the default (stall) config can run.
const CI_SUBSET: &str = "mm:mlock2-tests,mlock-random-test,mremap_test,map_fixed_noreplace";

#[test]
fn a_selftest_subset_passes_on_the_ci_kernel() {
    if std::env::var("MMSTALL_KERNEL_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "SKIPPED mm selftests CI subset (vm-tests/tests/kselftest_ci.rs): set MMSTALL_KERNEL_TESTS=1"
        );
        return;
    }
    let cache = Cache::from_env().unwrap();
    let spec = TreeSpec::Debian("6.12".into());
    let t = Instant::now();
    let mut req = BuildRequest::new(spec.clone());
    req.progress = ProgressMode::Quiet;
    let base = build::build(&req, &cache, &mut Print).expect("the CI kernel builds");
    eprintln!("  kernel ready in {:.0} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let id = base.meta.tree_identity.clone();
    let st = kselftest::ensure(&cache, &spec, Some(&id), 2, &mut |m| eprintln!("  {m}"))
        .expect("selftests build");
    eprintln!(
        "  selftests {} in {:.0} s",
        if st.cached { "cached" } else { "built" },
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (run, reps) = run_selftests(&cache, &base.bzimage, &st, &[(CI_SUBSET, 120)], "ci");
    eprintln!(
        "  subset ran in {:.0} s ({:?})",
        t.elapsed().as_secs_f64(),
        run.outcome
    );
    let rep = &reps[0];
    assert_eq!(rep.tests.len(), 4, "{}", rep.table());
    assert_eq!(
        test(rep, "mlock2-tests").verdict,
        Verdict::Pass,
        "{}",
        rep.table()
    );
    for t in &rep.tests {
        match &t.verdict {
            Verdict::Pass | Verdict::Xfail(_) => {}
            Verdict::Skip(reason) => {
                assert!(!reason.is_empty(), "{}: skip without a reason", t.name)
            }
            other => panic!("{} on the CI kernel: {other:?}\n{}", t.name, rep.table()),
        }
    }
}
