//! The JSON nightly reads from the CLI's subcommands, as typed structs:
//! `mmstall series --format json` (revisions' series report), `vm build
//! --json` (mmstall_vm's [`BuildMeta`], the type the CLI writes), `vm run
//! --json` (the parts of mmstall_vm's run result nightly uses) and the stall
//! suite's report (mmstall-guest's, or a plan's own suite command: the
//! spellings docs/nightly.md accepts are fields of [`SuiteTestJson`]).
//!
//! Every field is optional and [`Lenient`]: a value of another type counts as
//! absent instead of failing the whole document, so a step reads what it can
//! of a report from another mmstall version (as the reader did before types).

use super::context::step;
use crate::model::*;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

pub use mmstall_vm::build::BuildMeta;

/// A field read as `T` when it is one; any other value is present but not
/// usable (`get(a).or_else(|| get(b)).and_then(as_T)`: the first field
/// present wins, even when it is not a `T`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Lenient<T> {
    Value(T),
    Other(IgnoredAny),
}

impl<T> Lenient<T> {
    fn get(&self) -> Option<&T> {
        match self {
            Lenient::Value(v) => Some(v),
            Lenient::Other(_) => None,
        }
    }
}

/// The value of the first of `fields` present, when it is a `T`.
fn first<'a, T>(fields: &[&'a Option<Lenient<T>>]) -> Option<&'a T> {
    fields
        .iter()
        .find_map(|f| f.as_ref())
        .and_then(Lenient::get)
}

fn value<T>(f: &Option<Lenient<T>>) -> Option<&T> {
    f.as_ref().and_then(Lenient::get)
}

/// The elements of a list field that are `T` (others are skipped).
fn items<T>(f: &Option<Lenient<Vec<Lenient<T>>>>) -> impl Iterator<Item = &T> {
    value(f)
        .into_iter()
        .flat_map(|v| v.iter().filter_map(Lenient::get))
}

// ---- mmstall series --format json ----

/// `mmstall series --format json` (revisions' `SeriesReport`): the patches
/// and the net diff of the series.
#[derive(Debug, Default, Deserialize)]
struct SeriesJson {
    #[serde(default)]
    patches: Option<Lenient<Vec<Lenient<SeriesPatchJson>>>>,
    #[serde(default)]
    net: Option<Lenient<SeriesNetJson>>,
}

/// One patch of the series report (revisions' `PatchReport`).
#[derive(Debug, Default, Deserialize)]
struct SeriesPatchJson {
    #[serde(default)]
    index: Option<Lenient<u64>>,
    #[serde(default)]
    subject: Option<Lenient<String>>,
    /// revisions' `PatchResult` tag: `applied`, `failed`, `not_attempted`.
    #[serde(default)]
    status: Option<Lenient<String>>,
    #[serde(default)]
    introduced: Option<Lenient<Vec<Lenient<Finding>>>>,
    #[serde(default)]
    fixed: Option<Lenient<Vec<Lenient<Finding>>>>,
}

/// revisions' `FindingsDiff` of the base against the last patched tree.
#[derive(Debug, Default, Deserialize)]
struct SeriesNetJson {
    #[serde(default)]
    introduced: Option<Lenient<Vec<Lenient<Finding>>>>,
    #[serde(default)]
    fixed: Option<Lenient<Vec<Lenient<Finding>>>>,
    #[serde(default)]
    unchanged: Option<Lenient<Vec<IgnoredAny>>>,
}

/// `mmstall series --format json` (revisions branch): patches[], net.{introduced,fixed,unchanged}.
pub fn parse_series_json(text: &str) -> Result<StaticResult, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    // Not an object: no patches, no net (the errors below).
    let doc: SeriesJson = if v.is_object() {
        serde_json::from_value(v).unwrap_or_default()
    } else {
        SeriesJson::default()
    };
    let patches_v = value(&doc.patches).ok_or("no `patches` array")?;
    let no_patch = SeriesPatchJson::default();
    let mut patches = Vec::new();
    let mut by_fp: HashMap<String, usize> = HashMap::new();
    for p in patches_v {
        let p = p.get().unwrap_or(&no_patch);
        let index = value(&p.index).copied().unwrap_or(0) as usize;
        let intro: Vec<&Finding> = items(&p.introduced).collect();
        for f in &intro {
            by_fp.entry(f.fingerprint.clone()).or_insert(index);
        }
        patches.push(PatchSummary {
            index,
            subject: value(&p.subject).cloned().unwrap_or_default(),
            status: value(&p.status)
                .cloned()
                .unwrap_or_else(|| "unknown".to_string()),
            introduced: intro.len(),
            fixed: items(&p.fixed).count(),
        });
    }
    let no_net = SeriesNetJson::default();
    let net = doc
        .net
        .as_ref()
        .ok_or("no `net` object")?
        .get()
        .unwrap_or(&no_net);
    let mut introduced: Vec<Finding> = items(&net.introduced).cloned().collect();
    for f in &mut introduced {
        f.patch = by_fp.get(&f.fingerprint).copied();
    }
    Ok(StaticResult {
        step: step("static", StepStatus::Ok, 0.0, None),
        patches,
        introduced,
        fixed: items(&net.fixed).cloned().collect(),
        unchanged: value(&net.unchanged).map(Vec::len).unwrap_or(0),
    })
}

// ---- vm run --json ----

/// `vm run --json` (mmstall_vm's `RunResult`): the parts the boot check and
/// the suite read.
#[derive(Debug, Default, Deserialize)]
pub(super) struct VmRunJson {
    #[serde(default)]
    outcome: Option<Lenient<VmOutcomeJson>>,
    #[serde(default)]
    boot_secs: Option<Lenient<f64>>,
    #[serde(default)]
    events: Option<Lenient<Vec<Lenient<VmEventJson>>>>,
    #[serde(default)]
    stdout: Option<Lenient<String>>,
    #[serde(default)]
    stderr: Option<Lenient<String>>,
}

/// mmstall_vm's `Outcome`, tagged by `status`.
#[derive(Debug, Default, Deserialize)]
struct VmOutcomeJson {
    #[serde(default)]
    status: Option<Lenient<String>>,
    #[serde(default)]
    reason: Option<Lenient<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct VmEventJson {
    #[serde(default)]
    fingerprint: Option<Lenient<String>>,
}

/// How the guest command of `vm run` ended (mmstall_vm's `Outcome`).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum GuestOutcome {
    Exited,
    CommandTimeout,
    BootTimeout,
    GuestDied {
        reason: String,
    },
    /// A status this nightly does not know (another mmstall version).
    Other(String),
    /// No outcome in the output (not `vm run --json` output at all).
    Missing,
}

impl VmRunJson {
    /// `None`: not JSON. Not an object: nothing in it.
    pub(super) fn parse(text: &str) -> Option<VmRunJson> {
        let v: Value = serde_json::from_str(text).ok()?;
        Some(if v.is_object() {
            serde_json::from_value(v).unwrap_or_default()
        } else {
            VmRunJson::default()
        })
    }

    fn outcome_json(&self) -> Option<&VmOutcomeJson> {
        value(&self.outcome)
    }

    pub(super) fn outcome(&self) -> GuestOutcome {
        let Some(status) = self.outcome_json().and_then(|o| value(&o.status)) else {
            return GuestOutcome::Missing;
        };
        match status.as_str() {
            "exited" => GuestOutcome::Exited,
            "command-timeout" => GuestOutcome::CommandTimeout,
            "boot-timeout" => GuestOutcome::BootTimeout,
            "guest-died" => GuestOutcome::GuestDied {
                reason: self
                    .outcome_json()
                    .and_then(|o| value(&o.reason))
                    .cloned()
                    .unwrap_or_default(),
            },
            other => GuestOutcome::Other(other.to_string()),
        }
    }

    pub(super) fn boot_secs(&self) -> Option<f64> {
        value(&self.boot_secs).copied()
    }

    /// The fingerprints of the kernel events (hung task, lockdep, ...).
    pub(super) fn event_fingerprints(&self) -> Vec<String> {
        items(&self.events)
            .filter_map(|e| value(&e.fingerprint).cloned())
            .collect()
    }

    pub(super) fn stderr(&self) -> Option<&str> {
        value(&self.stderr).map(String::as_str)
    }
}

// ---- steps.jsonl ----

/// A `steps.jsonl` line holding a whole kernel's measurements (written by
/// the run's `record_kernel_run`): `--resume` reuses a measured baseline.
#[derive(Debug, Default, Deserialize)]
pub(super) struct KernelRunLine {
    #[serde(default)]
    night: Option<Lenient<String>>,
    /// `baseline` or `patched`.
    #[serde(default)]
    kernel_run: Option<Lenient<String>>,
    #[serde(default)]
    kernel: Option<Lenient<String>>,
    #[serde(default)]
    config: Option<Lenient<String>>,
    #[serde(default)]
    run: Option<Lenient<KernelRun>>,
    #[serde(default)]
    class: Option<Lenient<InfraClass>>,
}

impl KernelRunLine {
    /// `None` for a line that is not an object (a step record is one too:
    /// it has no `kernel_run`).
    pub(super) fn from_value(v: Value) -> Option<KernelRunLine> {
        v.is_object()
            .then(|| serde_json::from_value(v).ok())
            .flatten()
    }

    /// The kernel, config, run and failure class of a baseline measured on
    /// `night`.
    pub(super) fn baseline_of(
        self,
        night: &str,
    ) -> Option<(String, String, KernelRun, Option<InfraClass>)> {
        if value(&self.kernel_run).map(String::as_str) != Some("baseline")
            || value(&self.night).map(String::as_str) != Some(night)
        {
            return None;
        }
        let kernel = value(&self.kernel)?.clone();
        let config = value(&self.config)?.clone();
        let class = value(&self.class).copied();
        match self.run? {
            Lenient::Value(run) => Some((kernel, config, run, class)),
            Lenient::Other(_) => None,
        }
    }
}

// ---- the stall suite's report ----

/// One test of a suite report. mmstall-guest writes `name`, `verdict`
/// (`{"verdict": "pass"|"fail"|"skip"|"xfail"|"error", "reason"}`) and
/// `variants` (the test's ratio is its worst variant's median); a plan's own
/// suite command may write the other spellings docs/nightly.md lists
/// (`test`/`id`, `status`/`ok`/`passed`, `ratio`/`stall_ratio`,
/// `detail`/`message`).
#[derive(Debug, Default, Deserialize)]
struct SuiteTestJson {
    #[serde(default)]
    name: Option<Lenient<String>>,
    #[serde(default)]
    test: Option<Lenient<String>>,
    #[serde(default)]
    id: Option<Lenient<String>>,
    #[serde(default)]
    verdict: Option<GuestVerdictJson>,
    #[serde(default)]
    variants: Option<Lenient<Vec<Lenient<VariantJson>>>>,
    #[serde(default)]
    status: Option<Lenient<String>>,
    #[serde(default)]
    ok: Option<Lenient<bool>>,
    #[serde(default)]
    passed: Option<Lenient<bool>>,
    #[serde(default)]
    ratio: Option<Lenient<f64>>,
    #[serde(default)]
    stall_ratio: Option<Lenient<f64>>,
    #[serde(default)]
    unit: Option<Lenient<String>>,
    #[serde(default)]
    detail: Option<Lenient<String>>,
    #[serde(default)]
    message: Option<Lenient<String>>,
    #[serde(default)]
    duration_s: Option<Lenient<f64>>,
}

/// A test's verdict: a word, mmstall-guest's `{"verdict": WORD, "reason"}`,
/// or an object keyed by the word.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum GuestVerdictJson {
    Word(String),
    Judged { verdict: String },
    Keyed(serde_json::Map<String, Value>),
    Other(IgnoredAny),
}

impl GuestVerdictJson {
    fn word(&self) -> Option<String> {
        match self {
            GuestVerdictJson::Word(w) | GuestVerdictJson::Judged { verdict: w } => Some(w.clone()),
            GuestVerdictJson::Keyed(o) => o.keys().next().cloned(),
            GuestVerdictJson::Other(_) => None,
        }
    }
}

/// One variant of a guest test: its ratio's median and its summary line.
#[derive(Debug, Default, Deserialize)]
struct VariantJson {
    #[serde(default)]
    ratio: Option<Lenient<RatioJson>>,
    #[serde(default)]
    summary: Option<Lenient<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct RatioJson {
    #[serde(default)]
    median: Option<Lenient<f64>>,
}

impl SuiteTestJson {
    fn to_suite_test(&self, i: usize) -> Result<SuiteTest, String> {
        let name = first(&[&self.name, &self.test, &self.id])
            .ok_or(format!("test #{}: no `name`", i + 1))?;
        let variants: Vec<&VariantJson> = items(&self.variants).collect();
        let variant_ratio = value(&self.variants)
            .map(|_| {
                variants
                    .iter()
                    .filter_map(|x| value(&x.ratio).and_then(|r| value(&r.median)).copied())
                    .fold(f64::NAN, f64::max)
            })
            .filter(|r| r.is_finite());
        let variant_detail = variants
            .iter()
            .filter_map(|x| value(&x.summary).map(String::as_str))
            .collect::<Vec<_>>()
            .join("; ");
        let status_text = value(&self.status)
            .cloned()
            .or_else(|| self.verdict.as_ref().and_then(GuestVerdictJson::word));
        let status = match (
            status_text.as_deref(),
            first(&[&self.ok, &self.passed]).copied(),
        ) {
            (Some(s), _) => match s.to_ascii_lowercase().as_str() {
                "pass" | "passed" | "ok" => "pass",
                "fail" | "failed" | "not ok" | "regression" => "fail",
                "skip" | "skipped" | "xfail" => "skip",
                _ => "error",
            },
            (None, Some(true)) => "pass",
            (None, Some(false)) => "fail",
            (None, None) => "error",
        };
        let ratio = first(&[&self.ratio, &self.stall_ratio])
            .copied()
            .filter(|r| r.is_finite())
            .or(variant_ratio);
        Ok(SuiteTest {
            name: name.to_string(),
            status: status.to_string(),
            ratio,
            unit: value(&self.unit)
                .map(String::as_str)
                .unwrap_or("ratio")
                .to_string(),
            detail: first(&[&self.detail, &self.message])
                .cloned()
                .unwrap_or(variant_detail),
            duration_s: value(&self.duration_s)
                .copied()
                .filter(|d| d.is_finite() && *d >= 0.0),
        })
    }
}

/// The suite JSON (see docs/nightly.md): `{"tests": [{"name", "status"|"ok",
/// "ratio"|"stall_ratio", "unit", "detail"}]}` or a bare array of tests.
pub fn parse_suite_json(text: &str) -> Result<Vec<SuiteTest>, String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    // `vm run --json`: the suite's JSON is the guest command's stdout.
    if v.get("outcome").is_some() && v.get("stdout").is_some() {
        let run: VmRunJson = serde_json::from_value(v).unwrap_or_default();
        let inner = value(&run.stdout).map(String::as_str).unwrap_or("");
        if inner.trim().is_empty() {
            let status = run
                .outcome_json()
                .and_then(|o| value(&o.status))
                .map(String::as_str)
                .unwrap_or("?");
            return Err(format!(
                "the suite printed nothing (vm run outcome: {status})"
            ));
        }
        v = serde_json::from_str(inner).map_err(|e| format!("the guest's output: {e}"))?;
    }
    // The list of tests: the document itself, its `tests` or its `results`.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TestList {
        Bare(Vec<Lenient<SuiteTestJson>>),
        Tests {
            tests: Vec<Lenient<SuiteTestJson>>,
        },
        Results {
            results: Vec<Lenient<SuiteTestJson>>,
        },
    }
    let list = match serde_json::from_value::<TestList>(v) {
        Ok(TestList::Bare(l) | TestList::Tests { tests: l } | TestList::Results { results: l }) => {
            l
        }
        Err(_) => return Err("no `tests` array".to_string()),
    };
    let not_an_object = SuiteTestJson::default();
    list.iter()
        .enumerate()
        .map(|(i, t)| t.get().unwrap_or(&not_an_object).to_suite_test(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_json_shapes() {
        let t = parse_suite_json(r#"{"tests":[{"name":"a","status":"PASS","ratio":1.5,"unit":"x"},{"test":"b","ok":false,"stall_ratio":7},{"id":"c"}]}"#).unwrap();
        assert_eq!(
            t.iter()
                .map(|t| (t.name.as_str(), t.status.as_str(), t.ratio))
                .collect::<Vec<_>>(),
            [
                ("a", "pass", Some(1.5)),
                ("b", "fail", Some(7.0)),
                ("c", "error", None)
            ]
        );
        assert_eq!(parse_suite_json("[]").unwrap(), vec![]);
        assert!(parse_suite_json(r#"{"tests":[{"status":"pass"}]}"#)
            .unwrap_err()
            .contains("no `name`"));
        assert!(parse_suite_json("not json").is_err());
        let wrapped =
            serde_json::json!({"outcome": {"status": "boot-timeout"}, "stdout": ""}).to_string();
        assert!(parse_suite_json(&wrapped)
            .unwrap_err()
            .contains("boot-timeout"));
    }
}
