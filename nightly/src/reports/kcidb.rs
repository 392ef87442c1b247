//! `kcidb.json`: KCIDB's checkouts, builds and tests (boot, stall tests,
//! static findings, mm selftests).

use super::files::{series_file, url_of};
use crate::model::*;
use serde::{Deserialize, Serialize};

// ---- KCIDB JSON, schema v4.4 exactly (checkouts → builds → tests) ----
//
// 4.4 is the first version with a test's `number` (the stall ratio, boot
// seconds, new findings); kcidb-io validates the output against exactly this
// version in nightly/tests/formats.rs. URLs are absolute URIs: KCIDB's schema
// gives them `format: uri`, and a dashboard does not know our result directory.

/// The schema version `kcidb.json` claims (and is validated against).
pub const KCIDB_VERSION: (u32, u32) = (4, 4);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kcidb {
    pub version: KcidbVersion,
    pub checkouts: Vec<KCheckout>,
    pub builds: Vec<KBuild>,
    pub tests: Vec<KTest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KcidbVersion {
    pub major: u32,
    pub minor: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KFile {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KCheckout {
    pub id: String,
    pub origin: String,
    pub tree_name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub git_repository_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub git_commit_hash: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub patchset_files: Vec<KFile>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub misc: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KBuild {
    pub id: String,
    pub checkout_id: String,
    pub origin: String,
    pub architecture: String,
    pub config_name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid: Option<bool>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub log_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub misc: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KNumber {
    pub value: f64,
    pub unit: String,
    /// `metric` | `binary` (KCIDB's prefix choice for rendering).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KTest {
    pub id: String,
    pub build_id: String,
    pub origin: String,
    /// Dotted test path (`mmstall.boot`, `mmstall.stall.<test>`,
    /// `mm.selftests.<test>`).
    pub path: String,
    /// PASS | FAIL | ERROR | SKIP | MISS
    pub status: String,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub number: Option<KNumber>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub log_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub misc: Option<serde_json::Value>,
}

const ORIGIN: &str = "mmstall";

fn kid(parts: &[&str]) -> String {
    format!(
        "{ORIGIN}:{}",
        parts
            .iter()
            .map(|p| crate::plan::safe_name(p))
            .collect::<Vec<_>>()
            .join(":")
    )
}

fn status_of(s: &StepRecord) -> &'static str {
    match s.status {
        StepStatus::Ok => "PASS",
        StepStatus::Failed { .. } => "FAIL",
        StepStatus::Unavailable { .. } => "MISS",
        StepStatus::Skipped { .. } => "SKIP",
    }
}

/// The KCIDB report of `results`; `base` is the result directory's URI
/// ([`url_base`]), ending in `/`.
pub fn kcidb(results: &[JobResult], base: &str) -> Kcidb {
    let mut k = Kcidb {
        version: KcidbVersion {
            major: KCIDB_VERSION.0,
            minor: KCIDB_VERSION.1,
        },
        checkouts: vec![],
        builds: vec![],
        tests: vec![],
    };
    for r in results {
        let (base_co, patch_co) = job_checkouts(&mut k, r, base);
        job_builds_and_tests(&mut k, r, base, &base_co, &patch_co);
        confirm_tests(&mut k, r, base);
    }
    k
}

/// `mmstall.confirm`: one test per introduced finding the job measured, on
/// the patched kernel's build (the static pseudo-build when it was not
/// built): PASS when the hold stayed short on the series, FAIL when it was
/// confirmed, SKIP (with the reason) when no workload reached it, ERROR
/// when it could not be measured. The figure is the hold at the largest size.
fn confirm_tests(k: &mut Kcidb, r: &JobResult, base: &str) {
    let Some(c) = &r.confirm else { return };
    let bid = if r.patched.is_some() {
        kid(&[&r.night, &r.kernel, &r.series, &r.config])
    } else {
        kid(&[&r.night, &r.kernel, &r.series, "static"])
    };
    for h in &c.findings {
        let status = match h.patched.outcome {
            HoldOutcome::Confirmed => "FAIL",
            HoldOutcome::Short => "PASS",
            HoldOutcome::NotReached | HoldOutcome::NoWorkload => "SKIP",
            HoldOutcome::NotMeasured => "ERROR",
        };
        k.tests.push(KTest {
            id: format!("{bid}:confirm:{}", crate::plan::safe_name(&h.fingerprint)),
            build_id: bid.clone(),
            origin: ORIGIN.into(),
            path: "mmstall.confirm".into(),
            status: status.into(),
            duration: Some(c.patched_step.duration_s),
            number: h.patched.largest_ms().map(|ms| KNumber {
                value: ms,
                unit: "ms".into(),
                prefix: Some("metric".into()),
            }),
            log_url: c.patched_step.log.as_deref().map(|l| url_of(base, l)),
            misc: Some(serde_json::json!({
                "finding": {"code": h.code, "file": h.file, "line": h.line, "function": h.function, "holder": h.holder, "fingerprint": h.fingerprint},
                "outcome": h.patched.outcome.word(),
                "summary": h.patched.describe(),
                "threshold_ms": c.threshold_ms,
                "patched": h.patched,
                "baseline": h.baseline,
            })),
        });
    }
}

/// A job's checkouts (the kernel, and the kernel with the series: its
/// patches and the static analysis as a test of it); returns their ids.
fn job_checkouts(k: &mut Kcidb, r: &JobResult, base: &str) -> (String, String) {
    let url = |rel: &Option<String>| rel.as_deref().map(|r| url_of(base, r));
    let push_checkout = |k: &mut Kcidb, c: KCheckout| {
        if !k.checkouts.iter().any(|x| x.id == c.id) {
            k.checkouts.push(c);
        }
    };
    let (repo, _) = r
        .kernel_source
        .split_once('@')
        .map(|(a, b)| (Some(a.to_string()), Some(b)))
        .unwrap_or((None, None));
    let base_co = kid(&[&r.night, &r.kernel, "baseline"]);
    push_checkout(
        k,
        KCheckout {
            id: base_co.clone(),
            origin: ORIGIN.into(),
            tree_name: r.kernel.clone(),
            git_repository_url: repo.clone(),
            git_commit_hash: r.commit.clone(),
            patchset_files: vec![],
            valid: Some(!matches!(r.checkout.status, StepStatus::Failed { .. })),
            misc: Some(serde_json::json!({"source": r.kernel_source, "night": r.night})),
        },
    );
    let patch_co = kid(&[&r.night, &r.kernel, &r.series]);
    if !r.is_baseline() {
        let valid = !matches!(
            &r.verdict,
            Verdict::InfraError {
                class: InfraClass::PatchDoesNotApply
                    | InfraClass::SeriesUnreadable
                    | InfraClass::Checkout,
                ..
            }
        );
        push_checkout(
            k,
            KCheckout {
                id: patch_co.clone(),
                origin: ORIGIN.into(),
                tree_name: r.kernel.clone(),
                git_repository_url: repo.clone(),
                git_commit_hash: r.commit.clone(),
                patchset_files: r
                    .subjects
                    .iter()
                    .enumerate()
                    .map(|(i, s)| KFile {
                        name: format!("{:04}-{}", i + 1, crate::plan::safe_name(s)),
                        url: url_of(base, &series_file(&r.series)),
                    })
                    .collect(),
                valid: Some(valid),
                misc: Some(serde_json::json!({"series": r.series, "night": r.night})),
            },
        );
        if let Some(s) = &r.static_ {
            // Static findings belong to the patched sources; KCIDB hangs tests off builds, so a pseudo "source" build carries them.
            let bid = kid(&[&r.night, &r.kernel, &r.series, "static"]);
            k.builds.push(KBuild {
                id: bid.clone(),
                checkout_id: patch_co.clone(),
                origin: ORIGIN.into(),
                architecture: "source".into(),
                config_name: "static-analysis".into(),
                valid: Some(matches!(s.step.status, StepStatus::Ok)),
                duration: Some(s.step.duration_s),
                log_url: url(&s.step.log),
                misc: None,
            });
            k.tests.push(KTest {
                id: format!("{bid}:new-findings"),
                build_id: bid,
                origin: ORIGIN.into(),
                path: "mmstall.static.new_findings".into(),
                status: match s.step.status {
                    StepStatus::Ok if s.introduced.is_empty() => "PASS".into(),
                    StepStatus::Ok => "FAIL".into(),
                    _ => status_of(&s.step).into(),
                },
                duration: Some(s.step.duration_s),
                number: matches!(s.step.status, StepStatus::Ok).then(|| KNumber { value: s.introduced.len() as f64, unit: "findings".into(), prefix: None }),
                log_url: url(&s.step.log),
                misc: Some(serde_json::json!({"fingerprints": s.introduced.iter().map(|f| f.fingerprint.clone()).collect::<Vec<_>>()})),
            });
        }
    }
    (base_co, patch_co)
}

/// A job's kernel builds (baseline and patched, each once) with their
/// boot, suite and stall-test results.
fn job_builds_and_tests(k: &mut Kcidb, r: &JobResult, base: &str, base_co: &str, patch_co: &str) {
    let url = |rel: &Option<String>| rel.as_deref().map(|r| url_of(base, r));
    for (which, run, co) in [
        ("baseline", &r.baseline, &base_co),
        ("patched", &r.patched, &patch_co),
    ] {
        let Some(run) = run else { continue };
        let bid = kid(&[
            &r.night,
            &r.kernel,
            if which == "baseline" {
                "baseline"
            } else {
                &r.series
            },
            &r.config,
        ]);
        if k.builds.iter().any(|b| b.id == bid) {
            continue; // the same baseline, seen from another job
        }
        k.builds.push(KBuild {
            id: bid.clone(),
            checkout_id: co.to_string(),
            origin: ORIGIN.into(),
            architecture: "x86_64".into(),
            config_name: format!("{} ({})", r.config, r.fragments.join(",")),
            valid: Some(matches!(run.build.status, StepStatus::Ok)),
            duration: Some(run.build.duration_s),
            log_url: url(&run.build.log),
            misc: Some(serde_json::json!({"kernel_release": run.kernel_release, "build_key": run.build_dir, "files_compiled": run.compiled})),
        });
        if !matches!(run.build.status, StepStatus::Ok) {
            continue;
        }
        k.tests.push(KTest {
            id: format!("{bid}:boot"),
            build_id: bid.clone(),
            origin: ORIGIN.into(),
            path: "mmstall.boot".into(),
            status: status_of(&run.boot).into(),
            duration: Some(run.boot.duration_s),
            number: run.boot_secs.map(|s| KNumber {
                value: s,
                unit: "s".into(),
                prefix: Some("metric".into()),
            }),
            log_url: url(&run.boot.log),
            misc: (!run.events.is_empty())
                .then(|| serde_json::json!({"kernel_events": run.events})),
        });
        if !matches!(run.suite.status, StepStatus::Ok) {
            k.tests.push(KTest {
                id: format!("{bid}:stall"),
                build_id: bid.clone(),
                origin: ORIGIN.into(),
                path: "mmstall.stall".into(),
                status: status_of(&run.suite).into(),
                duration: None,
                number: None,
                log_url: url(&run.suite.log),
                misc: Some(serde_json::json!({"why": match &run.suite.status { StepStatus::Failed{detail} => detail.clone(), StepStatus::Unavailable{reason} | StepStatus::Skipped{reason} => reason.clone(), StepStatus::Ok => String::new() }})),
            });
        }
        for t in &run.tests {
            k.tests.push(KTest {
                id: format!("{bid}:stall:{}", crate::plan::safe_name(&t.name)),
                build_id: bid.clone(),
                origin: ORIGIN.into(),
                path: format!("mmstall.stall.{}", t.name),
                status: match t.status.as_str() {
                    "pass" => "PASS",
                    "fail" => "FAIL",
                    "skip" => "SKIP",
                    _ => "ERROR",
                }
                .into(),
                duration: None,
                number: t.ratio.map(|v| KNumber {
                    value: v,
                    unit: t.unit.clone(),
                    prefix: None,
                }),
                log_url: url(&run.suite.log),
                misc: (!t.detail.is_empty()).then(|| serde_json::json!({"detail": t.detail})),
            });
        }
        if let Some(st) = &run.selftests {
            let compared = if which == "patched" {
                r.selftest_comparisons.as_slice()
            } else {
                &[]
            };
            selftest_tests(k, r, st, compared, base, &bid, co);
        }
    }
}

/// A kernel's mm selftests: `mm.selftests.NAME` tests (XFAIL is a PASS
/// with its reason in `misc`), on the selftests' own build when they had
/// one (the job's config with the plan's kselftest fragments); a run that
/// could not be made is one `mm.selftests` test, MISS (the harness failed,
/// the kernel's status is unknown).
fn selftest_tests(
    k: &mut Kcidb,
    r: &JobResult,
    st: &SelftestRun,
    compared: &[SelftestComparison],
    base: &str,
    job_build: &str,
    checkout: &str,
) {
    let url = |rel: &Option<String>| rel.as_deref().map(|r| url_of(base, r));
    let bid = match &st.build {
        None => job_build.to_string(),
        Some(b) => {
            let bid = format!("{job_build}:kselftest");
            k.builds.push(KBuild {
                id: bid.clone(),
                checkout_id: checkout.to_string(),
                origin: ORIGIN.into(),
                architecture: "x86_64".into(),
                config_name: format!("{}+kselftest ({})", r.config, st.fragments.join(",")),
                valid: Some(matches!(b.status, StepStatus::Ok)),
                duration: Some(b.duration_s),
                log_url: url(&b.log),
                misc: Some(serde_json::json!({"build_key": st.build_dir})),
            });
            if !matches!(b.status, StepStatus::Ok) {
                return;
            }
            bid
        }
    };
    if !matches!(st.step.status, StepStatus::Ok) {
        k.tests.push(KTest {
            id: format!("{bid}:kselftest"),
            build_id: bid.clone(),
            origin: ORIGIN.into(),
            path: "mm.selftests".into(),
            status: match st.step.status {
                StepStatus::Skipped { .. } => "SKIP",
                _ => "MISS",
            }
            .into(),
            duration: Some(st.step.duration_s),
            number: None,
            log_url: url(&st.step.log),
            misc: Some(serde_json::json!({"why": match &st.step.status { StepStatus::Failed{detail} => detail.clone(), StepStatus::Unavailable{reason} | StepStatus::Skipped{reason} => reason.clone(), StepStatus::Ok => String::new() }, "selection": st.selection})),
        });
    }
    for t in &st.tests {
        let mut misc = serde_json::Map::new();
        if !t.reason.is_empty() {
            misc.insert("reason".into(), t.reason.clone().into());
        }
        if t.status == "xfail" {
            misc.insert("xfail".into(), true.into());
        }
        if let Some(c) = compared.iter().find(|c| c.test == t.name) {
            misc.insert("baseline_status".into(), c.baseline_status.clone().into());
            misc.insert(
                "outcome".into(),
                serde_json::to_value(c.outcome).unwrap_or_default(),
            );
        }
        k.tests.push(KTest {
            id: format!("{bid}:kselftest:{}", crate::plan::safe_name(&t.name)),
            build_id: bid.clone(),
            origin: ORIGIN.into(),
            path: format!("mm.selftests.{}", test_path_part(&t.name)),
            status: match t.status.as_str() {
                "pass" | "xfail" => "PASS",
                "fail" => "FAIL",
                "skip" => "SKIP",
                _ => "ERROR",
            }
            .into(),
            duration: t.secs,
            number: None,
            log_url: url(&t.log),
            misc: (!misc.is_empty()).then_some(serde_json::Value::Object(misc)),
        });
    }
}

/// A name as one node of a KCIDB test path (`[a-zA-Z0-9_-]`: a dot would
/// start another level).
fn test_path_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
