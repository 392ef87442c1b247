//! Reports of the guest's tests: a test that could not run, and a test's
//! KTAP result (its variants as subtests with their repetitions).

use mmstall_stall_judge::judge;
use mmstall_stall_judge::ktap::{TestResult, Verdict};
use mmstall_stall_judge::thresholds::TestConfig;
use mmstall_stall_judge::TestReport;

/// A report whose every variant has the same verdict (a test that could not
/// run: SKIP or ERROR with the reason).
pub fn every_variant(t: &TestConfig, verdict: Verdict, why: &str) -> TestReport {
    let variants = t
        .variants
        .iter()
        .map(|v| judge::VariantResult {
            variant: v.clone(),
            verdict: verdict.clone(),
            reps: vec![],
            ratio: None,
            summary: format!("{v}: {why}"),
            numbers: Default::default(),
        })
        .collect();
    TestReport {
        name: t.name.clone(),
        verdict,
        variants,
        duration_s: None,
    }
}

/// A test's KTAP result: one subtest per variant, the repetitions and the
/// summary as diagnostics.
pub fn to_ktap(t: &TestReport, size_mib: u64) -> TestResult {
    let mut r = TestResult::new(&t.name, t.verdict.clone());
    for v in &t.variants {
        let mut s = TestResult::new(&v.variant, v.verdict.clone());
        s.diagnostics = v.reps.iter().map(|r| r.describe()).collect();
        if v.reps.is_empty() && matches!(v.verdict, Verdict::Pass | Verdict::Fail)
            || !v.reps.is_empty()
        {
            s.diagnostics.push(v.summary.clone());
        }
        r.subtests.push(s);
    }
    r.diagnostics.push(format!(
        "{}: {} MiB, {} variant(s)",
        t.name,
        size_mib,
        t.variants.len()
    ));
    r
}
