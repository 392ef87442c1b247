//! `mmstall nightly` with the kernel's mm selftests (issue 19) on Debian's
//! 6.12 with real builds and boots: the plan's `[kselftest]` runs
//! `mlock2-tests` and `mlock-random-test` on the baseline and on the kernel
//! patched with `patches/kselftest-mlock-no-populate` (mlock() marks the
//! range locked and never faults it in). The baseline passes both; the
//! series fails `mlock2-tests` and leaves the static analysis unchanged: a
//! functional regression (exit 1), not a static or a stall one. The reports
//! carry the selftests.
//!
//! The config is the selftests' (`virtme-base,stall-debug,kselftest-mm`),
//! so they run on the job's own kernels (no second build); the stall suite
//! is off (vm-tests/tests/stall.rs and nightly_kernel.rs cover it).
//!
//! Gated: runs only with MMSTALL_KERNEL_TESTS=1 (scripts/validate.sh). With
//! the kselftest-mm builds cached (vm-tests/tests/kselftest.rs makes them)
//! it boots four times: 49 s here (152 s its first run); cold, it first
//! builds that config (~5-25 min).
//!
//!     cargo build --release --workspace --bins
//!     MMSTALL_KERNEL_TESTS=1 cargo test --release -p mmstall --test nightly_kselftest -- --nocapture

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[test]
fn nightly_calls_the_mlock_series_a_functional_regression() {
    if std::env::var("MMSTALL_KERNEL_TESTS").as_deref() != Ok("1") {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED nightly_calls_the_mlock_series_a_functional_regression: set MMSTALL_KERNEL_TESTS=1 (builds and boots Debian's 6.12 with kselftest-mm)");
        return;
    }
    let series =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches/kselftest-mlock-no-populate");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let plan = format!(
        "name = \"kselftest nightly test\"\n\
         [[kernel]]\nname = \"debian-6.12\"\ntree = \"debian:6.12\"\n\
         [[config]]\nname = \"kselftest\"\nfragments = [\"virtme-base\", \"stall-debug\", \"kselftest-mm\"]\n\
         [boot]\ntimeout_secs = 300\ncommand_timeout_secs = 60\n\
         [suite]\nenabled = false\n\
         [kselftest]\ntests = [\"mlock2-tests\", \"mlock-random-test\"]\ntimeout_secs = 120\n\
         [[series]]\nname = \"kselftest-mlock-no-populate\"\ndir = \"{}\"\n",
        series.display()
    );
    std::fs::write(p.join("plan.toml"), plan).unwrap();
    let out = p.join("out");
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_mmstall"))
        .args(["nightly", "--plan"])
        .arg(p.join("plan.toml"))
        .args(["--night", "2026-12-03", "--history", "none", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&o.stderr));
    eprintln!(
        "nightly with mm selftests: {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let rs: Vec<serde_json::Value> = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let get = |s: &str| {
        rs.iter()
            .find(|r| r["series"] == s)
            .unwrap_or_else(|| panic!("no result for {s}"))
    };
    assert_eq!(o.status.code(), Some(1), "a regression: {rs:#?}");

    // The baseline passes both selftests (the stall suite is off in the plan).
    let base = get("baseline");
    assert_eq!(base["verdict"], "pass", "{base}");
    let tests = base["baseline"]["selftests"]["tests"].as_array().unwrap();
    let statuses: Vec<(&str, &str)> = tests
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [("mlock2-tests", "pass"), ("mlock-random-test", "pass")],
        "{base}"
    );

    // The series: a functional regression only.
    let reg = get("kselftest-mlock-no-populate");
    assert_eq!(reg["verdict"], "regression", "{reg}");
    assert_eq!(reg["functional_regression"], true, "{reg}");
    assert_eq!(reg["dynamic_regression"], false, "{reg}");
    assert_eq!(reg["static_regression"], false, "{reg}");
    assert_eq!(reg["static"]["step"]["status"], "ok", "{reg}");
    let cmp = reg["selftest_comparisons"].as_array().unwrap();
    let outcome = |n: &str| {
        cmp.iter()
            .find(|c| c["test"] == n)
            .unwrap_or_else(|| panic!("{n} not compared: {reg}"))["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome("mlock2-tests"), "regression", "{reg}");
    assert_eq!(outcome("mlock-random-test"), "unchanged", "{reg}");
    let patched = &reg["patched"]["selftests"]["tests"][0];
    assert!(
        patched["reason"]
            .as_str()
            .unwrap()
            .contains("test_mlock_lock"),
        "{patched}"
    );
    let log = out.join(patched["log"].as_str().unwrap());
    assert!(log.is_file(), "{}", log.display());
    // Incremental: the patched kernel is the baseline plus mm/mlock.c.
    assert!(reg["patched"]["compiled"].as_u64().unwrap() < 50, "{reg}");

    // Reports.
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"mm selftest/mlock2-tests\"")
            && junit.contains("<failure type=\"functional-regression\""),
        "{junit}"
    );
    let k: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("kcidb.json")).unwrap()).unwrap();
    let statuses: Vec<&str> = k["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["path"] == "mm.selftests.mlock2-tests")
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["PASS", "FAIL"], "baseline, patched");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("regression (functional)"), "{md}");
    assert!(md.contains("**functional regression**"), "{md}");
}
