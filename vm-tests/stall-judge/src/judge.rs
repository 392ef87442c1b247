//! Judging a stall test from numbers measured in one run.
//!
//! A repetition records the operation's window [start, end] and, for every
//! read a reader process made of /proc/PID/{cmdline,status} and every fault
//! of the faulting thread, its [start, end]. The reader latency that counts is
//! the worst of those reads that overlap the window; the verdict uses
//!   ratio = worst overlapping reader latency / operation duration
//! per repetition and the median over the valid repetitions.

use crate::ktap::Verdict;
use crate::thresholds::Judging;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One timed access, nanoseconds of CLOCK_MONOTONIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub start: u64,
    pub end: u64,
}

impl Interval {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn overlaps(&self, w: &Interval) -> bool {
        self.start <= w.end && self.end >= w.start
    }
}

/// (count of intervals overlapping the window, the longest of them).
pub fn worst_overlapping<'a>(
    samples: impl IntoIterator<Item = &'a Interval>,
    window: &Interval,
) -> (u64, Option<Interval>) {
    let mut n = 0;
    let mut worst: Option<Interval> = None;
    for s in samples {
        if s.overlaps(window) {
            n += 1;
            if worst.is_none_or(|w| s.len() > w.len()) {
                worst = Some(*s);
            }
        }
    }
    (n, worst)
}

/// What one repetition measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rep {
    pub rep: u32,
    pub op_ms: f64,
    /// Reads of /proc/PID/cmdline overlapping the operation and the worst one.
    pub cmdline_reads: u64,
    pub cmdline_worst_ms: f64,
    pub status_reads: u64,
    pub status_worst_ms: f64,
    /// Faults of the target's other thread overlapping the operation.
    pub faults: u64,
    pub fault_worst_ms: f64,
    /// mmap()/munmap() calls of a writer thread (takes mmap_lock for write)
    /// overlapping the operation and the worst one (fault-io-stall, where
    /// the writer is the other user and the operation is one cold fault).
    #[serde(default)]
    pub writer_calls: u64,
    #[serde(default)]
    pub writer_worst_ms: f64,
    /// Set when the repetition could not measure (setup failed).
    #[serde(default)]
    pub error: Option<String>,
}

impl Rep {
    /// The worst wait of the other users (readers of /proc/PID, writer thread).
    pub fn reader_worst_ms(&self) -> f64 {
        self.cmdline_worst_ms
            .max(self.status_worst_ms)
            .max(self.writer_worst_ms)
    }
    pub fn reads(&self) -> u64 {
        self.cmdline_reads + self.status_reads + self.writer_calls
    }
    /// Worst reader latency / operation duration (None when nothing was measured).
    pub fn ratio(&self) -> Option<f64> {
        (self.error.is_none() && self.op_ms > 0.0 && self.reads() > 0)
            .then(|| self.reader_worst_ms() / self.op_ms)
    }
    /// Why this repetition does not count, if it does not.
    pub fn invalid(&self, j: &Judging) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        if self.op_ms < j.min_op_ms {
            return Some(format!(
                "operation took {:.1} ms < min_op_ms {}",
                self.op_ms, j.min_op_ms
            ));
        }
        if self.reads() == 0 {
            return Some("the reader made no read during the operation".into());
        }
        None
    }
    pub fn describe(&self) -> String {
        match &self.error {
            Some(e) => format!("rep {}: error: {e}", self.rep),
            None if self.writer_calls > 0 && self.reads() == self.writer_calls => format!(
                "rep {}: cold fault median {:.1} ms (worst {:.1} ms / {} faults), worst writer mmap/munmap {:.2} ms / {} calls, ratio {}",
                self.rep,
                self.op_ms,
                self.fault_worst_ms,
                self.faults,
                self.writer_worst_ms,
                self.writer_calls,
                self.ratio().map(|r| format!("{r:.3}")).unwrap_or_else(|| "-".into()),
            ),
            None => format!(
                "rep {}: op {:.1} ms, worst reader {:.2} ms (cmdline {:.2} ms / {} reads, status {:.2} ms / {} reads), ratio {}, worst fault {:.2} ms / {} faults",
                self.rep,
                self.op_ms,
                self.reader_worst_ms(),
                self.cmdline_worst_ms,
                self.cmdline_reads,
                self.status_worst_ms,
                self.status_reads,
                self.ratio().map(|r| format!("{r:.3}")).unwrap_or_else(|| "-".into()),
                self.fault_worst_ms,
                self.faults
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

/// min/median/max; None for no values. NaNs are dropped.
pub fn spread(values: &[f64]) -> Option<Spread> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Spread {
        n,
        min: v[0],
        median,
        max: v[n - 1],
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantResult {
    pub variant: String,
    pub verdict: Verdict,
    pub reps: Vec<Rep>,
    /// Over the valid repetitions.
    pub ratio: Option<Spread>,
    pub summary: String,
    /// Measured values of an untimed test (counters, sizes), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub numbers: BTreeMap<String, f64>,
}

/// The verdict of one variant from its repetitions.
/// Whether the remaining repetitions of a variant can be skipped: more than
/// half of the planned `repeat` runs gave valid ratios on one side of the
/// threshold, so the median of all of them is on that side whatever the rest
/// give (the verdict cannot change), and each of those ratios is far from the
/// threshold (at least half of `max_ratio` away), so a verdict near the
/// threshold always gets every repetition. Saves a third of the suite's time
/// on the usual runs (baseline ratios ~0.01-0.13, regressions ~0.9-1.0,
/// threshold 0.5, 3 repetitions).
pub fn decided_early(reps: &[Rep], j: &Judging) -> bool {
    let margin = j.max_ratio / 2.0;
    let valid = || {
        reps.iter()
            .filter(|r| r.invalid(j).is_none())
            .filter_map(|r| r.ratio())
    };
    let below = valid().filter(|&x| x <= j.max_ratio - margin).count() as u32;
    let above = valid().filter(|&x| x >= j.max_ratio + margin).count() as u32;
    let needed = (j.repeat / 2 + 1).max(j.min_valid);
    below >= needed || above >= needed
}

pub fn judge_variant(variant: &str, reps: Vec<Rep>, j: &Judging) -> VariantResult {
    let valid: Vec<f64> = reps
        .iter()
        .filter(|r| r.invalid(j).is_none())
        .filter_map(|r| r.ratio())
        .collect();
    let ratio = spread(&valid);
    let (verdict, summary) = match &ratio {
        Some(s) if (s.n as u32) >= j.min_valid => {
            let text = format!(
                "{variant}: ratio median {:.3} (min {:.3}, max {:.3}, {} valid of {} reps), threshold max_ratio {}",
                s.median,
                s.min,
                s.max,
                s.n,
                reps.len(),
                j.max_ratio
            );
            if s.median <= j.max_ratio {
                (Verdict::Pass, text)
            } else {
                (
                    Verdict::Fail,
                    format!(
                        "{text}: readers waited for the operation (the lock was held across it)"
                    ),
                )
            }
        }
        _ => {
            let reasons: Vec<String> = reps
                .iter()
                .filter_map(|r| r.invalid(j).map(|w| format!("rep {}: {w}", r.rep)))
                .collect();
            let why = format!(
                "{} valid of {} reps < min_valid {} ({})",
                valid.len(),
                reps.len(),
                j.min_valid,
                if reasons.is_empty() {
                    "no repetitions ran".to_string()
                } else {
                    reasons.join("; ")
                }
            );
            // Every repetition failed to set up: that is an error, not a skip.
            if !reps.is_empty() && reps.iter().all(|r| r.error.is_some()) {
                (Verdict::Error(why.clone()), format!("{variant}: {why}"))
            } else {
                (Verdict::Skip(why.clone()), format!("{variant}: {why}"))
            }
        }
    };
    VariantResult {
        variant: variant.to_string(),
        verdict,
        reps,
        ratio,
        summary,
        numbers: BTreeMap::new(),
    }
}

/// The verdict of a test from its variants: any FAIL or ERROR fails it; it
/// is XFAIL when a variant failed as expected (and none failed otherwise); it
/// passes when at least one variant passed and the others were skipped with a
/// reason; all skipped is SKIP.
pub fn judge_test(variants: &[VariantResult]) -> Verdict {
    if variants.iter().any(|v| v.verdict == Verdict::Fail) {
        return Verdict::Fail;
    }
    if let Some(Verdict::Error(e)) = variants
        .iter()
        .map(|v| &v.verdict)
        .find(|v| matches!(v, Verdict::Error(_)))
    {
        return Verdict::Error(e.clone());
    }
    // An expected failure of any variant makes the test an expected failure
    // (kselftest's XFAIL: written `ok`, counted as expected), not a skip.
    let expected: Vec<String> = variants
        .iter()
        .filter_map(|v| match &v.verdict {
            Verdict::Xfail(w) => Some(format!("{}: {w}", v.variant)),
            _ => None,
        })
        .collect();
    if !expected.is_empty() {
        return Verdict::Xfail(expected.join("; "));
    }
    if variants.iter().any(|v| v.verdict == Verdict::Pass) {
        return Verdict::Pass;
    }
    Verdict::Skip(
        variants
            .iter()
            .map(|v| match &v.verdict {
                Verdict::Skip(w) => format!("{}: {w}", v.variant),
                other => format!("{}: {}", v.variant, other.word()),
            })
            .collect::<Vec<_>>()
            .join("; ")
            .chars()
            .take(400)
            .collect::<String>()
            + if variants.is_empty() {
                "no variants configured"
            } else {
                ""
            },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j() -> Judging {
        Judging {
            repeat: 3,
            min_valid: 2,
            max_ratio: 0.5,
            min_op_ms: 20.0,
        }
    }

    fn rep(n: u32, op: f64, cmd: f64, status: f64) -> Rep {
        Rep {
            rep: n,
            op_ms: op,
            cmdline_reads: 10,
            cmdline_worst_ms: cmd,
            status_reads: 10,
            status_worst_ms: status,
            faults: 5,
            fault_worst_ms: 0.1,
            error: None,
            ..Default::default()
        }
    }

    #[test]
    fn repetitions_stop_early_only_when_the_verdict_is_far_and_settled() {
        let j = j();
        // ratio = worst reader wait / operation: 10/1000 = 0.01, 950/1000 = 0.95.
        let low = |n| rep(n, 1000.0, 10.0, 10.0);
        let high = |n| rep(n, 1000.0, 950.0, 10.0);
        let near = |n| rep(n, 1000.0, 450.0, 10.0);
        assert!(
            !decided_early(&[low(1)], &j),
            "one rep of 3 settles nothing"
        );
        assert!(decided_early(&[low(1), low(2)], &j));
        assert!(decided_early(&[high(1), high(2)], &j));
        assert!(
            !decided_early(&[low(1), high(2)], &j),
            "split: run the third"
        );
        assert!(
            !decided_early(&[low(1), near(2)], &j),
            "close to 0.5: run all"
        );
        // An invalid repetition (operation shorter than min_op_ms) does not count.
        let short = rep(2, 5.0, 0.0, 0.0);
        assert!(!decided_early(&[low(1), short], &j));
        // The verdict of the reps kept is the one all three would give.
        let kept = judge_variant("v", vec![low(1), low(2)], &j);
        assert_eq!(kept.verdict, Verdict::Pass);
        let kept = judge_variant("v", vec![high(1), high(2)], &j);
        assert_eq!(kept.verdict, Verdict::Fail);
        // One planned repetition: one far ratio is enough.
        let one = Judging {
            repeat: 1,
            min_valid: 1,
            ..j
        };
        assert!(decided_early(&[low(1)], &one));
    }

    #[test]
    fn overlap_window() {
        let w = Interval {
            start: 100,
            end: 200,
        };
        let s = [
            Interval { start: 10, end: 20 }, // before
            Interval {
                start: 90,
                end: 101,
            }, // straddles the start
            Interval {
                start: 150,
                end: 151,
            }, // inside
            Interval {
                start: 120,
                end: 400,
            }, // blocked past the end: the worst
            Interval {
                start: 201,
                end: 900,
            }, // after
        ];
        let (n, worst) = worst_overlapping(&s, &w);
        assert_eq!(n, 3);
        assert_eq!(
            worst,
            Some(Interval {
                start: 120,
                end: 400
            })
        );
        assert_eq!(worst_overlapping(&[], &w), (0, None));
    }

    // Numbers recorded in-house (`mmstall vm validate`, 6.12.117 under TCG,
    // 256 MiB, 4 KiB pages; variant munmap): run 1 on the baseline and on the
    // munmap-zap-under-write kernel.
    #[test]
    fn recorded_baseline_passes_and_regression_fails() {
        let base = vec![
            rep(1, 174.27326, 8.162881, 0.16799),
            rep(2, 920.656578, 146.385312, 0.304382),
            rep(3, 498.303174, 0.281449, 0.160959),
        ];
        let v = judge_variant("munmap", base, &j());
        assert_eq!(v.verdict, Verdict::Pass, "{}", v.summary);
        let s = v.ratio.unwrap();
        assert!((s.median - 8.162881 / 174.27326).abs() < 1e-9, "{s:?}");
        assert!((s.max - 146.385312 / 920.656578).abs() < 1e-9, "{s:?}");
        let mut regressed = vec![
            rep(1, 545.343542, 536.643633, 0.156754),
            rep(2, 478.798343, 471.540493, 0.14088),
            rep(3, 263.246506, 267.966181, 0.0),
        ];
        for r in &mut regressed {
            r.cmdline_reads = 1;
        }
        let v = judge_variant("munmap", regressed, &j());
        assert_eq!(v.verdict, Verdict::Fail, "{}", v.summary);
        assert!(v.summary.contains("readers waited"));
        // A read blocked from just before the operation to past its end: ratio above 1.
        assert!(v.ratio.unwrap().max > 1.0);
        // One noisy repetition does not flip a verdict: the median decides.
        let noisy = vec![
            rep(1, 174.27326, 8.162881, 0.16799),
            rep(2, 478.798343, 471.540493, 0.14088),
            rep(3, 498.303174, 0.281449, 0.160959),
        ];
        assert_eq!(judge_variant("munmap", noisy, &j()).verdict, Verdict::Pass);
    }

    #[test]
    fn too_short_or_unobserved_is_skip_with_reason() {
        let short = vec![
            rep(1, 3.0, 2.9, 0.0),
            rep(2, 4.0, 3.9, 0.0),
            rep(3, 250.0, 1.0, 0.1),
        ];
        let v = judge_variant("munmap", short, &j());
        match &v.verdict {
            Verdict::Skip(w) => assert!(
                w.contains("1 valid of 3 reps < min_valid 2")
                    && w.contains("rep 1: operation took 3.0 ms"),
                "{w}"
            ),
            other => panic!("{other:?}"),
        }
        let mut blind = rep(1, 300.0, 0.0, 0.0);
        blind.cmdline_reads = 0;
        blind.status_reads = 0;
        let v = judge_variant("mlock", vec![blind.clone(), Rep { rep: 2, ..blind }], &j());
        assert!(
            matches!(&v.verdict, Verdict::Skip(w) if w.contains("no read during the operation")),
            "{:?}",
            v.verdict
        );
        let err = Rep {
            error: Some("mmap: ENOMEM".into()),
            ..rep(1, 0.0, 0.0, 0.0)
        };
        let v = judge_variant("mlock", vec![err.clone(), Rep { rep: 2, ..err }], &j());
        assert!(
            matches!(&v.verdict, Verdict::Error(w) if w.contains("ENOMEM")),
            "{:?}",
            v.verdict
        );
    }

    #[test]
    fn test_verdict_from_variants() {
        let pass = judge_variant(
            "a",
            vec![rep(1, 100.0, 1.0, 1.0), rep(2, 100.0, 1.0, 1.0)],
            &j(),
        );
        let fail = judge_variant(
            "b",
            vec![rep(1, 100.0, 99.0, 1.0), rep(2, 100.0, 98.0, 1.0)],
            &j(),
        );
        let skip = judge_variant("c", vec![], &j());
        assert!(matches!(skip.verdict, Verdict::Skip(_)));
        assert_eq!(judge_test(&[pass.clone(), skip.clone()]), Verdict::Pass);
        assert_eq!(judge_test(&[pass.clone(), fail]), Verdict::Fail);
        assert!(
            matches!(judge_test(std::slice::from_ref(&skip)), Verdict::Skip(w) if w.starts_with("c: 0 valid"))
        );
        assert!(matches!(judge_test(&[]), Verdict::Skip(w) if w == "no variants configured"));
    }

    #[test]
    fn an_expected_failure_is_xfail_not_skip_or_pass() {
        let pass = judge_variant(
            "a",
            vec![rep(1, 100.0, 1.0, 1.0), rep(2, 100.0, 1.0, 1.0)],
            &j(),
        );
        let skip = judge_variant("c", vec![], &j());
        let mut xfail = skip.clone();
        xfail.variant = "hole".into();
        xfail.verdict = Verdict::Xfail("left 1 of 2 VMA(s) locked".into());
        let want = Verdict::Xfail("hole: left 1 of 2 VMA(s) locked".into());
        assert_eq!(judge_test(std::slice::from_ref(&xfail)), want);
        assert_eq!(judge_test(&[skip, xfail.clone()]), want);
        assert_eq!(judge_test(&[pass, xfail.clone()]), want);
        let mut fail = xfail.clone();
        fail.verdict = Verdict::Fail;
        assert_eq!(judge_test(&[xfail, fail]), Verdict::Fail);
    }

    #[test]
    fn spread_of_values() {
        assert_eq!(spread(&[]), None);
        assert_eq!(spread(&[f64::NAN]), None);
        assert_eq!(
            spread(&[3.0, 1.0, 2.0, 10.0]),
            Some(Spread {
                n: 4,
                min: 1.0,
                median: 2.5,
                max: 10.0
            })
        );
    }
}
