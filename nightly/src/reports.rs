//! The reports of a result directory, rendered from the job results alone:
//! `summary.md`, `junit.xml`, `kcidb.json`, `new-findings.sarif`.

use crate::model::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

pub const SUMMARY: &str = "summary.md";
pub const JUNIT: &str = "junit.xml";
pub const KCIDB: &str = "kcidb.json";
pub const SARIF: &str = "new-findings.sarif";

/// Writes every report (each through a temporary file and a rename: a reader
/// never sees half a report).
pub fn write_all(dir: &Path, results: &[JobResult], title: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let put = |name: &str, text: String| -> std::io::Result<()> {
        Ok(mmstall_fsio::write_atomic(
            &dir.join(name),
            text.as_bytes(),
        )?)
    };
    put(SUMMARY, markdown(results, title))?;
    put(JUNIT, junit(results, title))?;
    put(
        KCIDB,
        serde_json::to_string_pretty(&kcidb(results, &url_base(dir)))
            .map_err(std::io::Error::other)?
            + "\n",
    )?;
    put(
        SARIF,
        serde_json::to_string_pretty(&sarif(results)).map_err(std::io::Error::other)? + "\n",
    )?;
    Ok(())
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

fn ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "–".into())
}

fn step_word(s: &StepRecord) -> String {
    match &s.status {
        StepStatus::Ok => "ok".into(),
        StepStatus::Failed { .. } => "FAILED".into(),
        StepStatus::Unavailable { .. } => "unavailable".into(),
        StepStatus::Skipped { .. } => "skipped".into(),
    }
}

/// What a maintainer reads first: regressions, then infrastructure errors
/// (kept apart), then passes and what could not be checked.
pub fn markdown(results: &[JobResult], title: &str) -> String {
    let mut o = String::new();
    let nights: Vec<&str> = {
        let mut n: Vec<&str> = results.iter().map(|r| r.night.as_str()).collect();
        n.sort_unstable();
        n.dedup();
        n
    };
    let _ = writeln!(
        o,
        "# mmstall nightly: {} ({})\n",
        md(title),
        if nights.is_empty() {
            "no results yet".into()
        } else {
            nights.join(", ")
        }
    );
    let series: Vec<&JobResult> = results.iter().filter(|r| !r.is_baseline()).collect();
    let reg = series.iter().filter(|r| r.verdict.is_regression()).count();
    let infra = results.iter().filter(|r| r.verdict.is_infra()).count();
    let pass = series
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Pass { .. }))
        .count();
    let partial = results
        .iter()
        .filter(|r| matches!(&r.verdict, Verdict::Pass { not_checked } if !not_checked.is_empty()))
        .count();
    let _ = writeln!(
        o,
        "**{} series job(s): {reg} regression(s), {pass} pass(es), {} infrastructure error(s).** {} job(s) ran with parts unchecked (listed below: an unchecked part is never counted as a pass).\n",
        series.len(),
        series.iter().filter(|r| r.verdict.is_infra()).count(),
        partial
    );

    let row = |o: &mut String, r: &JobResult| {
        let st = r.static_.as_ref().map(|s| match &s.step.status {
            StepStatus::Ok => format!("+{} / −{}", s.introduced.len(), s.fixed.len()),
            _ => step_word(&s.step),
        });
        let dynm = r.comparisons.iter().filter(|c| c.regression).count();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | [logs](logs/{}/) |",
            md(&r.series),
            md(&r.kernel),
            md(&r.config),
            md(&r.verdict.word()),
            st.unwrap_or_else(|| "–".into()),
            if r.comparisons.is_empty() {
                "–".into()
            } else {
                format!("{dynm} of {}", r.comparisons.len())
            },
            r.job
        );
    };
    let header = "| series | kernel | config | verdict | static (new / fixed) | dynamic regressions | logs |\n|---|---|---|---|---|---|---|";
    if reg > 0 {
        let _ = writeln!(o, "## Regressions\n\n{header}");
        for r in series.iter().filter(|r| r.verdict.is_regression()) {
            row(&mut o, r);
        }
        o.push('\n');
    }
    if infra > 0 {
        let _ = writeln!(o, "## Infrastructure errors (not kernel regressions)\n\n| job | class | detail |\n|---|---|---|");
        for r in results.iter() {
            if let Verdict::InfraError { class, detail } = &r.verdict {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |",
                    md(&r.job),
                    class.label(),
                    md(&detail.chars().take(300).collect::<String>())
                );
            }
        }
        o.push('\n');
    }
    if pass > 0 {
        let _ = writeln!(o, "## Passes\n\n{header}");
        for r in series
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Pass { .. }))
        {
            row(&mut o, r);
        }
        o.push('\n');
    }
    let mut gaps: Vec<(String, String)> = Vec::new();
    for r in results {
        if let Verdict::Pass { not_checked } | Verdict::Regression { not_checked, .. } = &r.verdict
        {
            for g in not_checked {
                gaps.push((r.job.clone(), g.clone()));
            }
        }
    }
    if !gaps.is_empty() {
        let _ = writeln!(o, "## Not checked\n\n| job | what |\n|---|---|");
        for (j, g) in gaps {
            let _ = writeln!(o, "| {} | {} |", md(&j), md(&g));
        }
        o.push('\n');
    }

    let _ = writeln!(o, "## Kernels\n\n| kernel | config | release | build | boot | stall suite | tests |\n|---|---|---|---|---|---|---|");
    for r in results.iter().filter(|r| r.is_baseline()) {
        match &r.baseline {
            Some(b) => {
                let tests: Vec<String> = b
                    .tests
                    .iter()
                    .map(|t| format!("{} {} {}", md(&t.name), t.status, ratio(t.ratio)))
                    .collect();
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} ({:.0} s) | {} | {} | {} |",
                    md(&r.kernel),
                    md(&r.config),
                    md(b.kernel_release.as_deref().unwrap_or("–")),
                    step_word(&b.build),
                    b.build.duration_s,
                    step_word(&b.boot),
                    step_word(&b.suite),
                    if tests.is_empty() {
                        "–".into()
                    } else {
                        tests.join("<br>")
                    }
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "| {} | {} | – | not built | – | – | {} |",
                    md(&r.kernel),
                    md(&r.config),
                    md(&r.verdict.word())
                );
            }
        }
    }
    o.push('\n');

    for r in &series {
        let _ = writeln!(
            o,
            "## {} on {} / {}: {}\n",
            md(&r.series),
            md(&r.kernel),
            md(&r.config),
            md(&r.verdict.word())
        );
        if let Verdict::InfraError { detail, .. } = &r.verdict {
            let _ = writeln!(o, "```\n{}\n```\n", detail.replace("```", "'''"));
        }
        if let Some(s) = &r.static_ {
            if !s.patches.is_empty() {
                let _ = writeln!(
                    o,
                    "| # | patch | status | new findings | fixed |\n|--:|---|---|--:|--:|"
                );
                for p in &s.patches {
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} | {} |",
                        p.index,
                        md(&p.subject),
                        md(&p.status),
                        p.introduced,
                        p.fixed
                    );
                }
                o.push('\n');
            }
            for f in &s.introduced {
                let _ = writeln!(
                    o,
                    "- new `{}` {}:{}:{} in `{}`: {}",
                    f.code,
                    md(&f.file),
                    f.line,
                    f.column,
                    md(&f.function),
                    md(&f.message)
                );
            }
            if !s.introduced.is_empty() {
                o.push('\n');
            }
        }
        if !r.comparisons.is_empty() {
            let _ = writeln!(
                o,
                "| test | baseline | patched | regression |\n|---|---|---|---|"
            );
            for c in &r.comparisons {
                let _ = writeln!(
                    o,
                    "| {} | {} {} | {} {} | {} |",
                    md(&c.test),
                    c.baseline_status,
                    ratio(c.baseline_ratio),
                    c.patched_status,
                    ratio(c.patched_ratio),
                    if c.regression {
                        format!("**yes**: {}", md(&c.reason))
                    } else {
                        "no".into()
                    }
                );
            }
            o.push('\n');
        }
    }
    o
}

fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

enum Case {
    Pass,
    Failure(String, String),
    Error(String, String),
    Skipped(String),
}

fn step_case(s: &StepRecord, failure_is_error: bool) -> Case {
    match &s.status {
        StepStatus::Ok => Case::Pass,
        StepStatus::Failed { detail } if failure_is_error => {
            Case::Error("infrastructure".into(), detail.clone())
        }
        StepStatus::Failed { detail } => Case::Failure("failure".into(), detail.clone()),
        StepStatus::Unavailable { reason } => Case::Skipped(reason.clone()),
        StepStatus::Skipped { reason } => Case::Skipped(reason.clone()),
    }
}

/// Now, UTC, as `YYYY-MM-DDTHH:MM:SS` (JUnit's `timestamp`: no zone).
pub fn utc_timestamp_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}",
        crate::civil_date(secs / 86_400),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// This machine's host name (the kernel's, else `$HOSTNAME`).
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// JUnit XML in the attribute set of the common schema (Jenkins xunit's
/// junit-10.xsd: no `skipped` on `<testsuites>`): one `<testsuite>` per job
/// with `timestamp` (the job's start, UTC) and `hostname`; a case per step,
/// per stall test (`time` = the guest's measured duration; no `time` when
/// the guest did not report one). A regression fails exactly the cases that
/// regressed (the static analysis, each regressed stall test, each new kernel
/// event: `kernel-event:FINGERPRINT`); an infrastructure error is an `<error>` on
/// the step that failed (a series that does not apply: its static-analysis
/// case). A `verdict` case is added only when no other case carries the
/// verdict. Unavailable parts are `<skipped>`.
pub fn junit(results: &[JobResult], title: &str) -> String {
    let mut suites = String::new();
    let (mut t_all, mut f_all, mut e_all) = (0, 0, 0);
    let mut time_all = 0.0;
    for r in results {
        let mut cases: Vec<(String, Option<f64>, Case)> = Vec::new();
        cases.push((
            "checkout".into(),
            Some(r.checkout.duration_s),
            step_case(&r.checkout, true),
        ));
        let not_applied = match &r.verdict {
            Verdict::InfraError {
                class: class @ (InfraClass::PatchDoesNotApply | InfraClass::SeriesUnreadable),
                detail,
            } => Some((format!("infrastructure:{}", class.label()), detail.clone())),
            _ => None,
        };
        if let Some(s) = &r.static_ {
            let case = match (&s.step.status, &not_applied) {
                // Findings of a series that does not apply are of a partial tree: not a pass.
                (_, Some((ty, detail))) => Case::Error(ty.clone(), detail.clone()),
                (StepStatus::Ok, None) if !s.introduced.is_empty() => Case::Failure(
                    "static-regression".into(),
                    s.introduced
                        .iter()
                        .map(|f| format!("{} {}:{}: {}", f.code, f.file, f.line, f.message))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                _ => step_case(&s.step, true),
            };
            cases.push(("static analysis".into(), Some(s.step.duration_s), case));
        }
        for (which, run) in [("baseline", &r.baseline), ("patched", &r.patched)] {
            let Some(k) = run else { continue };
            cases.push((
                format!("{which} build"),
                Some(k.build.duration_s),
                step_case(&k.build, true),
            ));
            cases.push((
                format!("{which} boot"),
                Some(k.boot.duration_s),
                step_case(&k.boot, true),
            ));
            if !matches!(k.suite.status, StepStatus::Ok) {
                cases.push((
                    format!("{which} stall suite"),
                    Some(k.suite.duration_s),
                    step_case(&k.suite, true),
                ));
            }
        }
        if r.is_baseline() {
            if let Some(b) = &r.baseline {
                for t in &b.tests {
                    let case = match t.status.as_str() {
                        "pass" => Case::Pass,
                        "skip" => Case::Skipped(t.detail.clone()),
                        "fail" => Case::Failure(
                            "stall".into(),
                            format!("ratio {}: {}", ratio(t.ratio), t.detail),
                        ),
                        _ => Case::Error("test-error".into(), t.detail.clone()),
                    };
                    cases.push((format!("stall/{}", t.name), t.duration_s, case));
                }
            }
        } else {
            let patched_time = |name: &str| {
                r.patched
                    .as_ref()
                    .and_then(|p| p.tests.iter().find(|t| t.name == name))
                    .and_then(|t| t.duration_s)
            };
            for c in &r.comparisons {
                let case = if c.regression {
                    Case::Failure("dynamic-regression".into(), c.reason.clone())
                } else {
                    Case::Pass
                };
                // A new kernel event is compared as `kernel-event:FINGERPRINT`.
                let name = if c.test.starts_with("kernel-event:") {
                    c.test.clone()
                } else {
                    format!("stall/{}", c.test)
                };
                cases.push((name, patched_time(&c.test), case));
            }
        }
        // A failed step of an infrastructure error is typed with its class.
        if let Verdict::InfraError { class, .. } = &r.verdict {
            for (_, _, c) in cases.iter_mut() {
                if let Case::Error(ty, _) = c {
                    if ty == "infrastructure" {
                        *ty = format!("infrastructure:{}", class.label());
                    }
                }
            }
        }
        let carried = |want_failure: bool| {
            cases.iter().any(|(_, _, c)| {
                if want_failure {
                    matches!(c, Case::Failure(..))
                } else {
                    matches!(c, Case::Error(..))
                }
            })
        };
        match &r.verdict {
            Verdict::Pass { .. } => {}
            Verdict::Regression { .. } if !carried(true) => cases.push((
                "verdict".into(),
                None,
                Case::Failure("regression".into(), r.verdict.word()),
            )),
            Verdict::InfraError { class, detail } if !carried(false) => cases.push((
                "verdict".into(),
                None,
                Case::Error(format!("infrastructure:{}", class.label()), detail.clone()),
            )),
            _ => {}
        }

        let (mut f, mut e, mut s) = (0, 0, 0);
        let mut body = String::new();
        let _ = writeln!(body, "    <properties>");
        for (k, v) in [
            ("series", &r.series),
            ("kernel", &r.kernel),
            ("kernel_source", &r.kernel_source),
            ("config", &r.config),
            ("night", &r.night),
            ("verdict", &r.verdict.word()),
        ] {
            let _ = writeln!(
                body,
                "      <property name=\"{}\" value=\"{}\"/>",
                xml(k),
                xml(v)
            );
        }
        let _ = writeln!(body, "    </properties>");
        let classname = xml(&format!("{}.{}.{}", r.series, r.kernel, r.config));
        for (name, time, case) in &cases {
            let time = time
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| format!(" time=\"{t:.3}\""))
                .unwrap_or_default();
            let open = format!(
                "    <testcase classname=\"{classname}\" name=\"{}\"{time}",
                xml(name)
            );
            match case {
                Case::Pass => {
                    let _ = writeln!(body, "{open}/>");
                }
                Case::Failure(ty, msg) => {
                    f += 1;
                    let _ = writeln!(body, "{open}>\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>", xml(ty), xml(msg.lines().next().unwrap_or("")), xml(msg));
                }
                Case::Error(ty, msg) => {
                    e += 1;
                    let _ = writeln!(body, "{open}>\n      <error type=\"{}\" message=\"{}\">{}</error>\n    </testcase>", xml(ty), xml(msg.lines().next().unwrap_or("")), xml(msg));
                }
                Case::Skipped(msg) => {
                    s += 1;
                    let _ = writeln!(
                        body,
                        "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(msg)
                    );
                }
            }
        }
        let timestamp = r
            .started
            .clone()
            .unwrap_or_else(|| format!("{}T00:00:00", r.night));
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" skipped=\"{s}\" time=\"{:.1}\" timestamp=\"{}\" hostname=\"{}\">\n{body}  </testsuite>",
            xml(&r.job),
            cases.len(),
            r.duration_s,
            xml(&timestamp),
            xml(r.host.as_deref().unwrap_or("unknown"))
        );
        t_all += cases.len();
        f_all += f;
        e_all += e;
        time_all += r.duration_s;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{t_all}\" failures=\"{f_all}\" errors=\"{e_all}\" time=\"{time_all:.1}\">\n{suites}</testsuites>\n",
        xml(&format!("mmstall nightly: {title}"))
    )
}

// ---- KCIDB JSON, schema v4.4 exactly (checkouts → builds → tests) ----
//
// 4.4 is the first version with a test's `number` (the stall ratio, boot
// seconds, new findings); kcidb-io validates the output against exactly this
// version in nightly/tests/formats.rs. URLs are absolute URIs: KCIDB's schema
// gives them `format: uri`, and a dashboard does not know our result directory.

/// The schema version `kcidb.json` claims (and is validated against).
pub const KCIDB_VERSION: (u32, u32) = (4, 4);

/// Environment variable naming where the result directory is published
/// (e.g. `https://ci.example.org/nightly/2026-12-02/`); log and series URLs are
/// made under it. Unset: `file://` URIs of the result directory itself.
pub const URL_BASE_ENV: &str = "MMSTALL_URL_BASE";

/// The base URI (ending in `/`) of a result directory's files.
pub fn url_base(dir: &Path) -> String {
    if let Some(b) = std::env::var(URL_BASE_ENV).ok().filter(|b| !b.is_empty()) {
        return if b.ends_with('/') { b } else { b + "/" };
    }
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut uri = file_uri(&abs);
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// Percent-encodes one path for a URI (RFC 3986: unreserved characters and
/// `/` stay as they are).
fn uri_path(p: &str) -> String {
    let mut o = String::with_capacity(p.len());
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                o.push(b as char)
            }
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

/// `file://` URI of an absolute path.
pub fn file_uri(abs: &Path) -> String {
    format!("file://{}", uri_path(&abs.to_string_lossy()))
}

/// A file of the result directory (`logs/JOB/STEP.log`) under `base`.
pub fn url_of(base: &str, rel: &str) -> String {
    format!("{base}{}", uri_path(rel.trim_start_matches('/')))
}

/// Where a series is kept in the result directory (git ranges are written
/// there by `git format-patch`; mbox and directory series are copied there by
/// [`keep_series`]), so `patchset_files` can point at it.
pub fn series_file(series: &str) -> String {
    format!("series/{}.mbox", crate::plan::safe_name(series))
}

/// Copies an mbox series (or the `*.patch` files of a directory series, in
/// name order, concatenated: each is a `git format-patch` mail) into the
/// result directory's [`series_file`].
pub fn keep_series(out: &Path, series: &str, source: &Path) -> std::io::Result<()> {
    let dst = out.join(series_file(series));
    std::fs::create_dir_all(dst.parent().unwrap_or(out))?;
    let text = if source.is_dir() {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(source)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "patch"))
            .collect();
        files.sort();
        let mut all = Vec::new();
        for f in files {
            all.extend(std::fs::read(&f)?);
            if !all.ends_with(b"\n") {
                all.push(b'\n');
            }
        }
        all
    } else {
        std::fs::read(source)?
    };
    let tmp = dst.with_extension("mbox.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &dst)
}

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
    /// Dotted test path (`mmstall.boot`, `mmstall.stall.<test>`).
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
    let url = |rel: &Option<String>| rel.as_deref().map(|r| url_of(base, r));
    let mut k = Kcidb {
        version: KcidbVersion {
            major: KCIDB_VERSION.0,
            minor: KCIDB_VERSION.1,
        },
        checkouts: vec![],
        builds: vec![],
        tests: vec![],
    };
    let push_checkout = |k: &mut Kcidb, c: KCheckout| {
        if !k.checkouts.iter().any(|x| x.id == c.id) {
            k.checkouts.push(c);
        }
    };
    for r in results {
        let (repo, _) = r
            .kernel_source
            .split_once('@')
            .map(|(a, b)| (Some(a.to_string()), Some(b)))
            .unwrap_or((None, None));
        let base_co = kid(&[&r.night, &r.kernel, "baseline"]);
        push_checkout(
            &mut k,
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
                &mut k,
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
                checkout_id: co.clone(),
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
        }
    }
    k
}

// ---- SARIF 2.1.0: the findings the series introduce ----

pub fn sarif(results: &[JobResult]) -> serde_json::Value {
    use serde_json::json;
    let mut rules: Vec<(String, String)> = Vec::new();
    let mut res = Vec::new();
    for r in results {
        let Some(s) = &r.static_ else { continue };
        for f in &s.introduced {
            let id = if f.code.is_empty() {
                f.rule.clone()
            } else {
                f.code.clone()
            };
            if !rules.iter().any(|(i, _)| *i == id) {
                rules.push((id.clone(), f.rule.clone()));
            }
            let level = match f.severity.as_str() {
                "error" => "error",
                "note" => "note",
                _ => "warning",
            };
            res.push(json!({
                "ruleId": id,
                "level": level,
                "message": {"text": format!("{} [series {} on {}{}]", f.message, r.series, r.kernel, f.patch.map(|p| format!(", patch {p}")).unwrap_or_default())},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.file},
                    "region": {"startLine": f.line.max(1), "startColumn": f.column.max(1)}
                }}],
                "partialFingerprints": {"mmstall/v1": f.fingerprint},
                "properties": {"series": r.series, "kernel": r.kernel, "config": r.config, "night": r.night, "function": f.function}
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mmstall",
                "rules": rules.iter().map(|(id, name)| json!({"id": id, "name": name, "shortDescription": {"text": format!("mmstall rule {name}")}})).collect::<Vec<_>>()
            }},
            "results": res
        }]
    })
}
