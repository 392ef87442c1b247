//! End-to-end: the kernel's mm selftests (issue 19) on Debian's 6.12 built
//! with `virtme-base,stall-debug,kselftest-mm`, and on the same kernel with
//! the in-house regression series `patches/kselftest-mlock-no-populate`
//! (mlock() marks the range locked and never faults it in).
//!
//! Checks: the selftests are built from the kernel's own tree into the cache
//! (the tree's identity is unchanged afterwards: nothing written into it) and
//! found in the cache the second time; in one boot of the baseline, tests of
//! the default subset pass, SKIP reasons printed by a test are kept
//! (gup_longterm without huge pages), a binary the tree does not compile is
//! ERROR `not built` with its compiler error, and a test that outlives its
//! per-test timeout (transhuge-stress -d 20 with 5 s) is a FAIL marked
//! TIMEOUT, while the tests after it still run; on the regression kernel
//! mlock2-tests fails at `test_mlock_lock` while it passed on the baseline.
//!
//! Gated like tests/kernel.rs: runs only with MMSTALL_KERNEL_TESTS=1 (the
//! kselftest-mm config is a cold kernel build of its own, 7-26 min on 2
//! cores the first time; then ~3 min).
//!
//!     MMSTALL_KERNEL_TESTS=1 cargo test --release -p mmstall-vm --test kselftest -- --nocapture

use mmstall_vm::boot::Outcome;
use mmstall_vm::build::{self, BuildRequest, ProgressMode, Reporter};
use mmstall_vm::cache::Cache;
use mmstall_vm::kselftest;
use mmstall_vm::stall::ktap::Verdict;
use mmstall_vm::tree::{self, TreeSpec};
use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;
use common::selftests::{run_selftests, test};

struct Print;
impl Reporter for Print {
    fn note(&mut self, msg: &str) {
        eprintln!("  {msg}");
    }
}

fn enabled() -> bool {
    if std::env::var("MMSTALL_KERNEL_TESTS").as_deref() == Ok("1") {
        return true;
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED mm selftests test (vm-tests/tests/kselftest.rs): set MMSTALL_KERNEL_TESTS=1 to run it \
         (needs scripts/setup.sh; a cold build of the kselftest-mm config the first time)"
    );
    false
}

const CONFIG: &str = "virtme-base,stall-debug,kselftest-mm";

fn series() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches/kselftest-mlock-no-populate")
}

#[test]
fn mm_selftests_pass_on_6_12_and_catch_the_mlock_regression() {
    if !enabled() {
        return;
    }
    let cache = Cache::from_env().unwrap();
    let spec = TreeSpec::Debian("6.12".into());

    // Kernels: the baseline with the selftests' options, then the regression
    // series (incremental over it).
    let t = Instant::now();
    let mut req = BuildRequest::new(spec.clone());
    req.config = CONFIG.into();
    req.progress = ProgressMode::Quiet;
    let base = build::build(&req, &cache, &mut Print).expect("baseline builds");
    let kcfg = std::fs::read_to_string(base.dir.join("config")).unwrap();
    for opt in [
        "CONFIG_ADVISE_SYSCALLS=y",
        "CONFIG_KSM=y",
        "CONFIG_GUP_TEST=y",
    ] {
        assert!(
            kcfg.lines().any(|l| l == opt),
            "{opt} missing from the kernel config"
        );
    }
    let mut preq = BuildRequest::new(spec.clone());
    preq.config = CONFIG.into();
    preq.progress = ProgressMode::Quiet;
    preq.series = Some(series());
    let patched = build::build(&preq, &cache, &mut Print).expect("regression series builds");
    eprintln!("  kernels ready in {:.0} s", t.elapsed().as_secs_f64());

    // Selftests from the same tree, into the cache; the tree is unchanged.
    let t = Instant::now();
    let id = base.meta.tree_identity.clone();
    let st = kselftest::ensure(&cache, &spec, Some(&id), 2, &mut |m| eprintln!("  {m}"))
        .expect("selftests build");
    eprintln!(
        "  selftests {} in {:.0} s: {} built, not built: {:?}",
        if st.cached { "cached" } else { "built" },
        t.elapsed().as_secs_f64(),
        st.meta.built.len(),
        st.meta.not_built
    );
    assert_eq!(st.meta.tree_identity, id);
    let tr = tree::resolve(&spec, &cache).unwrap();
    assert_eq!(
        tree::identity(&tree::walk(&tr.origin).unwrap()),
        id,
        "the Debian tree changed while the selftests were built"
    );
    for e in kselftest::select("mm").unwrap().entries {
        assert!(
            st.meta.built.iter().any(|b| b == e.binary),
            "default-subset binary {} not built: {:?}",
            e.binary,
            st.not_built(e.binary)
        );
    }
    let again = kselftest::ensure(&cache, &spec, Some(&id), 2, &mut |_| {}).unwrap();
    assert!(again.cached, "second lookup must hit the cache");
    assert!(st.dir.join("make.log").is_file());

    // Baseline: passes, kept skip reasons, a not-built binary, a timeout.
    let not_built = st.meta.not_built.first().map(|n| n.binary.clone());
    let mut first = String::from(
        "mm:mlock2-tests,mlock-random-test,mremap_test,madv_populate,ksm_functional_tests,gup_test-dump,gup_longterm",
    );
    if let Some(nb) = &not_built {
        if kselftest::select(&format!("mm:{nb}")).is_ok() {
            first.push(',');
            first.push_str(nb);
        }
    }
    let (r, reps) = run_selftests(
        &cache,
        &base.bzimage,
        &st,
        &[
            (&first, 240),
            ("mm:transhuge-stress", 5),
            ("mm:mrelease_test", 240),
        ],
        "baseline",
    );
    assert_eq!(r.outcome, Outcome::Exited { code: 0 });
    assert!(r.events.is_empty(), "kernel reported: {:?}", r.events);
    for name in [
        "mlock2-tests",
        "mlock-random-test",
        "mremap_test",
        "madv_populate",
        "ksm_functional_tests",
        "gup_test-dump",
        "gup_longterm",
    ] {
        let t = test(&reps[0], name);
        assert_eq!(t.verdict, Verdict::Pass, "{name}: {t:?}");
        assert!(
            t.log.as_ref().is_some_and(|l| l.is_file()),
            "{name}: no log"
        );
        assert!(!t.subtests.is_empty(), "{name}: its TAP was not parsed");
    }
    assert_eq!(
        reps[0].kernel_release.as_deref(),
        Some(base.meta.kernel_release.as_str())
    );
    // Skips inside a passing test keep their reasons.
    let reasons = reps[0].skip_reasons();
    assert!(
        reasons
            .keys()
            .any(|(t, why)| t == "gup_longterm" && why.contains("huge pages")),
        "{reasons:?}"
    );
    if let Some(nb) = &not_built {
        if let Some(t) = reps[0].tests.iter().find(|t| t.name == nb.as_str()) {
            assert!(
                matches!(&t.verdict, Verdict::Error(w) if w.starts_with("not built: ")),
                "{t:?}"
            );
        }
    }
    let ts = test(&reps[1], "transhuge-stress");
    assert_eq!(ts.verdict, Verdict::Fail, "{ts:?}");
    assert!(
        ts.warnings.iter().any(|w| w == "TIMEOUT after 5 s"),
        "{ts:?}"
    );
    assert!(ts.secs.unwrap() < 20.0, "{ts:?}");
    // The test after the timed-out one still runs.
    assert_eq!(test(&reps[2], "mrelease_test").verdict, Verdict::Pass);
    // The combined KTAP of the run parses back.
    let p = mmstall_vm::stall::ktap::parse(&reps[0].ktap()).unwrap();
    assert_eq!(p.results.len(), reps[0].tests.len());

    // The regression: mlock() no longer faults the range in.
    let (r, reps) = run_selftests(
        &cache,
        &patched.bzimage,
        &st,
        &[("mm:mlock2-tests,madv_populate", 240)],
        "mlock-no-populate",
    );
    assert_eq!(r.outcome, Outcome::Exited { code: 0 });
    let ml = test(&reps[0], "mlock2-tests");
    assert_eq!(ml.verdict, Verdict::Fail, "{ml:?}");
    assert!(
        ml.subtests
            .iter()
            .any(|s| s.verdict == Verdict::Fail && s.name.starts_with("test_mlock_lock")),
        "{:?}",
        ml.subtests
    );
    // An unrelated test still passes on the regression kernel.
    assert_eq!(test(&reps[0], "madv_populate").verdict, Verdict::Pass);
}
