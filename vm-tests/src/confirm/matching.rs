//! Holds measured in the guest → an outcome for each static finding, and
//! the long holds no finding explains (discovery). Pure: the guest's
//! report, the findings and the catalogue in, [`Confirmation`] out.
//!
//! A hold *belongs* to a finding when it was measured in a run of a recipe
//! the catalogue lists for the finding's holder, has the finding's lock mode
//! (a read finding also accepts write holds) and one of the holder's frames
//! ([`Catalogue::holder_frames`]) is in its acquiring or ending stack.
//! Findings with the same holder share its holds: a hold is measured per
//! holder, not per site; `site_in_stack` says whether the site's function
//! was seen too.

use super::catalogue::Catalogue;
use super::findings::StaticFinding;
use mmstall_stall_judge::confirm_report::{ConfirmReport, RecipeRun, RunStatus};
use mmstall_stall_judge::holds::{Hold, HoldEnd, Mode};
use serde::{Deserialize, Serialize};

/// The hold of one size: in each repetition the longest matched hold;
/// the figure is their median (a repetition disturbed by the host, or by
/// TCG translating kernel code the first time it runs, does not decide).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeFigure {
    pub size_mib: u64,
    /// Median over the repetitions of the longest hold (ms).
    pub max_ms: f64,
    /// The longest hold of each repetition that had one (ms), in run order.
    #[serde(default)]
    pub per_rep_ms: Vec<f64>,
    /// The recipe of the longest hold.
    pub recipe: String,
}

/// What was measured for a finding (or an unexplained hold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The figure of each size, smallest size first.
    pub sizes: Vec<SizeFigure>,
    /// Largest size's figure over the smallest's (None with one size or a 0 figure).
    pub growth: Option<f64>,
    pub mode: Mode,
    pub end: HoldEnd,
    /// The acquiring stack of the longest hold at the largest size.
    pub acquire_stack: Vec<String>,
    pub release_stack: Vec<String>,
    /// Whether the finding's site function is a frame of a matched hold.
    pub site_in_stack: bool,
}

impl Evidence {
    pub fn largest(&self) -> Option<&SizeFigure> {
        self.sizes.last()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The holder held the lock at least the threshold at the largest size
    /// (median over the repetitions).
    Confirmed { evidence: Evidence },
    /// The path ran; the hold stayed below the threshold.
    Short { evidence: Evidence },
    /// The workload ran but the holder never took the lock in it.
    NotReached { recipes: Vec<String> },
    /// No recipe reaches the holder, or the kernel could not run any of them.
    NoWorkload { reason: String },
}

impl Outcome {
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Confirmed { .. } => "confirmed",
            Outcome::Short { .. } => "short",
            Outcome::NotReached { .. } => "not reached",
            Outcome::NoWorkload { .. } => "no workload",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingOutcome {
    pub finding: StaticFinding,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A long hold whose stack matches no finding's holder: an analyzer miss
/// (or a hold outside the linted directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// The first frames below the lock API: what groups these holds.
    pub signature: Vec<String>,
    pub evidence: Evidence,
}

/// One recipe run as the host saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub recipe: String,
    pub size_mib: u64,
    pub rep: u32,
    #[serde(flatten)]
    pub status: RunStatus,
    pub secs: f64,
    pub holds: usize,
    pub lost_events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub kernel_release: String,
    pub threshold_ms: f64,
    pub sizes_mib: Vec<u64>,
    pub outcomes: Vec<FindingOutcome>,
    pub discovered: Vec<Discovery>,
    pub runs: Vec<RunSummary>,
}

/// A hold and the run it was measured in.
type Measured<'a> = (&'a RecipeRun, &'a Hold);

fn mode_of(f: &StaticFinding) -> Mode {
    if f.lock_mode == "read" {
        Mode::Read
    } else {
        Mode::Write
    }
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e4).round() / 100.0
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => ((s[n / 2 - 1] + s[n / 2]) / 2.0 * 100.0).round() / 100.0,
    }
}

/// The figure of one size: the longest hold of each repetition, their median.
fn figure(matched: &[Measured], size: u64) -> Option<SizeFigure> {
    let at: Vec<&Measured> = matched.iter().filter(|(r, _)| r.size_mib == size).collect();
    let (top_run, _) = at.iter().max_by_key(|(_, h)| h.hold_ns)?;
    let mut reps: Vec<(&str, u32)> = Vec::new();
    for (r, _) in &at {
        if !reps.contains(&(r.recipe.as_str(), r.rep)) {
            reps.push((r.recipe.as_str(), r.rep));
        }
    }
    // Per repetition number: the longest over the recipes of that repetition.
    let mut rep_numbers: Vec<u32> = reps.iter().map(|x| x.1).collect();
    rep_numbers.sort_unstable();
    rep_numbers.dedup();
    let per_rep_ms: Vec<f64> = rep_numbers
        .iter()
        .map(|&n| {
            at.iter()
                .filter(|(r, _)| r.rep == n)
                .map(|(_, h)| h.hold_ns)
                .max()
                .map_or(0.0, ms)
        })
        .collect();
    Some(SizeFigure {
        size_mib: size,
        max_ms: median(&per_rep_ms),
        per_rep_ms,
        recipe: top_run.recipe.clone(),
    })
}

/// The evidence of a set of (run, hold) pairs: a figure per size.
fn evidence(matched: &[Measured], site: Option<&str>) -> Option<Evidence> {
    let mut sizes: Vec<u64> = matched.iter().map(|(r, _)| r.size_mib).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let figures: Vec<SizeFigure> = sizes.iter().filter_map(|&s| figure(matched, s)).collect();
    let largest = *sizes.last()?;
    let (_, top) = matched
        .iter()
        .filter(|(r, _)| r.size_mib == largest)
        .max_by_key(|(_, h)| h.hold_ns)?;
    let growth = match (figures.first(), figures.last()) {
        (Some(a), Some(b)) if figures.len() > 1 && a.max_ms > 0.0 => {
            Some((b.max_ms / a.max_ms * 100.0).round() / 100.0)
        }
        _ => None,
    };
    Some(Evidence {
        sizes: figures,
        growth,
        mode: top.mode,
        end: top.end,
        acquire_stack: top.acquire_stack.clone(),
        release_stack: top.release_stack.clone(),
        site_in_stack: site.is_some_and(|s| matched.iter().any(|(_, h)| h.has_frame(s))),
    })
}

fn ran(r: &RecipeRun) -> bool {
    !matches!(r.status, RunStatus::Unavailable { .. })
}

/// One finding's outcome.
fn outcome_of(
    f: &StaticFinding,
    report: &ConfirmReport,
    cat: &Catalogue,
    threshold_ms: f64,
) -> Outcome {
    let Some(entry) = cat.entry_for(&f.holder, &f.call_path, &f.operation) else {
        let what = if cat.holder(&f.holder).is_some() {
            format!("`{}` on this call path", f.holder)
        } else {
            format!("`{}`", f.holder)
        };
        return Outcome::NoWorkload {
            reason: format!("no recipe reaches {what} (vm-tests/confirm.toml)"),
        };
    };
    if let Some(why) = &entry.no_recipe {
        return Outcome::NoWorkload {
            reason: format!("{why} (vm-tests/confirm.toml)"),
        };
    }
    let runs: Vec<&RecipeRun> = report
        .runs
        .iter()
        .filter(|r| entry.recipes.contains(&r.recipe))
        .collect();
    if !runs.iter().any(|r| ran(r)) {
        let mut reasons: Vec<String> = Vec::new();
        for name in &entry.recipes {
            let why = match runs.iter().find(|r| &r.recipe == name).map(|r| &r.status) {
                Some(RunStatus::Unavailable { reason }) => reason.clone(),
                _ => "not run".to_string(),
            };
            let line = format!("{name}: {why}");
            if !reasons.contains(&line) {
                reasons.push(line);
            }
        }
        return Outcome::NoWorkload {
            reason: reasons.join("; "),
        };
    }
    let frames = cat.holder_frames(&f.holder);
    let want = mode_of(f);
    let matched: Vec<Measured> = runs
        .iter()
        .filter(|r| ran(r))
        .flat_map(|r| r.holds.iter().map(move |h| (*r, h)))
        .filter(|(_, h)| want == Mode::Read || h.mode == want)
        .filter(|(_, h)| frames.iter().any(|fr| h.has_frame(fr)))
        .collect();
    match evidence(&matched, Some(&f.function)) {
        None => {
            let mut recipes: Vec<String> = runs
                .iter()
                .filter(|r| ran(r))
                .map(|r| r.recipe.clone())
                .collect();
            recipes.dedup();
            Outcome::NotReached { recipes }
        }
        Some(ev) if ev.largest().is_some_and(|l| l.max_ms >= threshold_ms) => {
            Outcome::Confirmed { evidence: ev }
        }
        Some(ev) => Outcome::Short { evidence: ev },
    }
}

/// Frames of the lock API itself, skipped in a discovery's signature.
fn is_lock_api(frame: &str) -> bool {
    frame.starts_with("mmap_")
        || frame.starts_with("down_")
        || frame.starts_with("up_")
        || frame == "lock_mm_and_find_vma"
}

/// Long write holds no write finding's holder explains, grouped by signature.
fn discover(
    findings: &[StaticFinding],
    report: &ConfirmReport,
    cat: &Catalogue,
    threshold_ms: f64,
) -> Vec<Discovery> {
    // Only write findings explain a write hold: a read finding's frames
    // (e.g. do_madvise, under which its recipes fault) say nothing of it.
    let explained: Vec<String> = findings
        .iter()
        .filter(|f| mode_of(f) == Mode::Write)
        .flat_map(|f| cat.holder_frames(&f.holder))
        .collect();
    let mut groups: Vec<(Vec<String>, Vec<Measured>)> = Vec::new();
    for r in &report.runs {
        for h in &r.holds {
            if h.mode != Mode::Write
                || ms(h.hold_ns) < threshold_ms
                || explained.iter().any(|f| h.has_frame(f))
            {
                continue;
            }
            let sig: Vec<String> = h
                .acquire_stack
                .iter()
                .filter(|f| !is_lock_api(f))
                .take(3)
                .cloned()
                .collect();
            match groups.iter_mut().find(|(s, _)| *s == sig) {
                Some((_, v)) => v.push((r, h)),
                None => groups.push((sig, vec![(r, h)])),
            }
        }
    }
    groups
        .into_iter()
        .filter_map(|(signature, holds)| {
            // All sizes of the recipes that produced the long hold, so its growth shows.
            let recipes: Vec<&str> = holds.iter().map(|(r, _)| r.recipe.as_str()).collect();
            let all: Vec<Measured> = report
                .runs
                .iter()
                .filter(|r| recipes.contains(&r.recipe.as_str()))
                .flat_map(|r| r.holds.iter().map(move |h| (r, h)))
                .filter(|(_, h)| {
                    h.mode == Mode::Write
                        && h.acquire_stack
                            .iter()
                            .filter(|f| !is_lock_api(f))
                            .take(3)
                            .eq(signature.iter())
                })
                .collect();
            Some(Discovery {
                signature,
                evidence: evidence(&all, None)?,
            })
        })
        .collect()
}

/// Every finding's outcome, the discoveries and the runs.
pub fn confirm(
    findings: &[StaticFinding],
    report: &ConfirmReport,
    cat: &Catalogue,
    threshold_ms: f64,
) -> Confirmation {
    // Size 0: a workload without a size (`--command`).
    let mut sizes: Vec<u64> = report
        .runs
        .iter()
        .map(|r| r.size_mib)
        .filter(|&s| s > 0)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    Confirmation {
        kernel_release: report.kernel_release.clone(),
        threshold_ms,
        sizes_mib: sizes,
        outcomes: findings
            .iter()
            .map(|f| FindingOutcome {
                finding: f.clone(),
                outcome: outcome_of(f, report, cat, threshold_ms),
            })
            .collect(),
        discovered: discover(findings, report, cat, threshold_ms),
        runs: report
            .runs
            .iter()
            .map(|r| RunSummary {
                recipe: r.recipe.clone(),
                size_mib: r.size_mib,
                rep: r.rep,
                status: r.status.clone(),
                secs: r.secs,
                holds: r.holds.len(),
                lost_events: r.lost_events,
            })
            .collect(),
    }
}

#[cfg(test)]
#[path = "matching_tests.rs"]
pub(in crate::confirm) mod tests;
