//! The nightly's reports read by their real consumers (issue 16):
//! `kcidb.json` by kcidb-io (the KCIDB project's validator, exactly the schema
//! version the file claims), `junit.xml` by junitparser plus the attribute set
//! of the common JUnit schema (Jenkins xunit's junit-10.xsd), the `--emit k8s`
//! Jobs by kubernetes-validate (strict), `new-findings.sarif` by the SARIF
//! 2.1.0 JSON schema (ci/sarif-validate.py). Each consumer is also shown a
//! broken sample and must reject it (the check has teeth).
//!
//! The consumers come from PyPI and npm (scripts/setup.sh installs them). A missing
//! one skips its test with the reason printed, unless MMSTALL_REQUIRE_TREE=1
//! (scripts/test.sh sets it): then it fails.

mod common;

use common::*;
use mmstall_nightly::model::*;
use mmstall_nightly::pipeline::{self, Options};
use mmstall_nightly::plan::Plan;
use mmstall_nightly::reports;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn required() -> bool {
    std::env::var("MMSTALL_REQUIRE_TREE").as_deref() == Ok("1")
}

/// Whether `python3 -c CHECK` succeeds; when not: a failure under
/// MMSTALL_REQUIRE_TREE=1, else a printed skip.
fn consumer(test: &str, what: &str, check: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", check])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            !required(),
            "{test}: {what} is not installed and MMSTALL_REQUIRE_TREE=1 (scripts/setup.sh installs it)"
        );
        println!("SKIPPED {test}: {what} is not installed (scripts/setup.sh installs it)");
    }
    ok
}

/// Runs a Python program: (exit code, stdout, stderr).
fn python(program: &str, args: &[&Path]) -> (i32, String, String) {
    let o = Command::new("python3")
        .arg("-c")
        .arg(program)
        .args(args)
        .output()
        .expect("python3 runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A night with every kind of job: a static + dynamic regression, a clean
/// series, one that does not apply, one whose patched kernel reports a new
/// lockdep splat, one that breaks an mm selftest (a functional regression;
/// the selftests run on every kernel, one of them fails on both, one skips;
/// `[confirm]` measures the regression's new finding).
fn night() -> (World, PathBuf, Vec<JobResult>) {
    let w = world(
        &["regress", "clean", "noapply", "lockdep", "mlockbreak"],
        "[kselftest]\ntests = [\"mlock2-tests\", \"mremap_test\", \"gup_longterm\"]\n\n[confirm]\nenabled = true\n",
    );
    let out = w.dir.path().join("out");
    let mut fake = Fake {
        cache: w.dir.path().join("cache"),
        with_series: true,
        with_suite: true,
        with_kselftest: true,
        with_confirm: true,
        ..Default::default()
    };
    let plan = Plan::load(&w.plan).unwrap();
    let o = Options {
        out: out.clone(),
        night: "2026-11-25".into(),
        only_jobs: vec![],
        history: None,
        resume: false,
    };
    let rs = pipeline::run(&plan, &o, &mut fake, &mut |_| {}).unwrap();
    (w, out, rs)
}

// ---- KCIDB ----

/// Validates a KCIDB file against exactly the schema version it claims.
/// Exit 0 valid, 1 invalid, 3 the validator cannot check URIs.
const KCIDB_CHECK: &str = r#"
import json, sys
import jsonschema, kcidb_io
# Without rfc3987 jsonschema silently accepts any string as a `uri`.
if jsonschema.Draft7Validator.FORMAT_CHECKER.conforms("logs/x.log", "uri"):
    print("the uri format is not checked (pip install rfc3987)")
    sys.exit(3)
data = json.load(open(sys.argv[1]))
v = data.get("version", {})
cls = getattr(kcidb_io.schema, "V%s_%s" % (v.get("major"), v.get("minor")), None)
if cls is None:
    print("kcidb-io has no schema %r" % (v,))
    sys.exit(1)
try:
    cls.validate_exactly(data)
except jsonschema.exceptions.ValidationError as e:
    print("invalid against KCIDB %s.%s: %s" % (v["major"], v["minor"], e.message))
    sys.exit(1)
print("valid KCIDB %s.%s" % (v["major"], v["minor"]))
"#;

fn kcidb_check(path: &Path) -> (i32, String) {
    let (code, out, err) = python(KCIDB_CHECK, &[path]);
    (code, format!("{out}{err}"))
}

#[test]
fn kcidb_io_accepts_kcidb_json_exactly_as_claimed() {
    if !consumer(
        "kcidb_io_accepts_kcidb_json_exactly_as_claimed",
        "kcidb-io (with rfc3987)",
        "import kcidb_io, rfc3987",
    ) {
        return;
    }
    let (_w, out, _) = night();
    let path = out.join(reports::KCIDB);
    let (code, text) = kcidb_check(&path);
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.trim(), "valid KCIDB 4.4");
    // The regression's measured hold is a test of its own (validated above).
    let k: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let confirm: Vec<&serde_json::Value> = k["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["path"] == "mmstall.confirm")
        .collect();
    assert_eq!(confirm.len(), 1, "{confirm:?}");
    assert_eq!(confirm[0]["status"], "FAIL");

    // URLs are absolute URIs of the result directory.
    let k: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let base = reports::file_uri(&out.canonicalize().unwrap());
    let mut urls = Vec::new();
    for b in k["builds"].as_array().unwrap() {
        urls.extend(b["log_url"].as_str().map(str::to_string));
    }
    for c in k["checkouts"].as_array().unwrap() {
        for f in c["patchset_files"].as_array().into_iter().flatten() {
            urls.push(f["url"].as_str().unwrap().to_string());
        }
    }
    assert!(urls.len() >= 8, "{urls:?}");
    for u in &urls {
        assert!(u.starts_with(&format!("{base}/")), "{u} under {base}");
        let file = out.join(u[base.len() + 1..].replace("%20", " "));
        assert!(file.is_file(), "{u} names no file ({})", file.display());
    }
    // The series of an mbox is kept in the result directory for its link.
    assert!(out.join("series/regress.mbox").is_file());

    // Teeth: what the issue found is rejected.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("kcidb.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // A relative log URL.
    std::fs::write(&bad, text.replacen(&format!("{base}/"), "", 1)).unwrap();
    let (code, why) = kcidb_check(&bad);
    assert_eq!(code, 1, "{why}");
    assert!(why.contains("is not a 'uri'"), "{why}");
    // `number` under a claim of 4.3 (it came in 4.4).
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t.get("number").is_some()));
    v["version"]["minor"] = 3.into();
    std::fs::write(&bad, v.to_string()).unwrap();
    let (code, why) = kcidb_check(&bad);
    assert_eq!(code, 1, "{why}");
    assert!(why.contains("KCIDB 4.3") && why.contains("number"), "{why}");
}

#[test]
fn url_base_names_published_logs() {
    let base = "https://ci.example.org/night/2026-11-25/";
    assert_eq!(
        reports::url_of(base, "logs/a b--k--c/patched-build.log"),
        "https://ci.example.org/night/2026-11-25/logs/a%20b--k--c/patched-build.log"
    );
    assert_eq!(
        reports::file_uri(Path::new("/srv/results dir/ü")),
        "file:///srv/results%20dir/%C3%BC"
    );
}

// ---- JUnit ----

/// junitparser reads the file; every element and attribute must be in the
/// common JUnit schema (Jenkins xunit's junit-10.xsd), required ones present.
/// Prints JSON: {"problems": [...], "suites": [...]}; exit 1 when junitparser
/// cannot read it.
const JUNIT_CHECK: &str = r#"
import json, sys
import xml.etree.ElementTree as ET
from junitparser import JUnitXml
ALLOWED = {
    "testsuites": {"name", "time", "tests", "failures", "disabled", "errors"},
    "testsuite": {"name", "tests", "failures", "errors", "time", "disabled", "skipped",
                  "timestamp", "hostname", "id", "package", "file", "log", "url", "version"},
    "properties": set(), "property": {"name", "value"},
    "testcase": {"name", "assertions", "time", "classname", "status", "class", "file",
                 "line", "log", "group", "url"},
    "failure": {"message", "type"}, "error": {"message", "type"}, "skipped": {"message"},
    "system-out": set(), "system-err": set(),
}
REQUIRED = {"testsuite": {"name", "tests"}, "testcase": {"name"}, "property": {"name", "value"}}
path = sys.argv[1]
try:
    doc = JUnitXml.fromfile(path)
except Exception as e:
    print("junitparser cannot read %s: %s" % (path, e))
    sys.exit(1)
problems = []
for el in ET.parse(path).iter():
    allowed = ALLOWED.get(el.tag)
    if allowed is None:
        problems.append("<%s> is not in the schema" % el.tag)
        continue
    for a in sorted(set(el.attrib) - allowed):
        problems.append("%s@%s is not in the schema" % (el.tag, a))
    for a in sorted(REQUIRED.get(el.tag, set()) - set(el.attrib)):
        problems.append("%s@%s is missing" % (el.tag, a))
suites = []
for s in doc:
    cases = []
    for c in s:
        kinds = [type(r).__name__.lower() for r in c.result]
        cases.append({"name": c.name, "time": c._elem.get("time"),
                      "result": kinds[0] if kinds else "pass"})
    suites.append({"name": s.name, "tests": s.tests, "failures": s.failures, "errors": s.errors,
                   "skipped": s.skipped, "timestamp": s.timestamp, "hostname": s.hostname,
                   "cases": cases})
print(json.dumps({"problems": problems, "suites": suites}))
"#;

fn junit_check(path: &Path) -> (i32, serde_json::Value, String) {
    let (code, out, err) = python(JUNIT_CHECK, &[path]);
    let v = serde_json::from_str(&out).unwrap_or(serde_json::Value::Null);
    (code, v, format!("{out}{err}"))
}

fn suite<'a>(v: &'a serde_json::Value, job: &str) -> &'a serde_json::Value {
    v["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == job)
        .unwrap_or_else(|| panic!("no suite {job}"))
}

/// (case name, result) of a suite's cases that are not passes.
fn not_passed(s: &serde_json::Value) -> BTreeSet<(String, String)> {
    s["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] != "pass")
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn junitparser_reads_junit_xml_in_the_schema_attribute_set() {
    if !consumer(
        "junitparser_reads_junit_xml_in_the_schema_attribute_set",
        "junitparser",
        "import junitparser",
    ) {
        return;
    }
    let (_w, out, rs) = night();
    let path = out.join(reports::JUNIT);
    let (code, v, text) = junit_check(&path);
    assert_eq!(code, 0, "{text}");
    assert_eq!(v["problems"], serde_json::json!([]), "{text}");
    let suites = v["suites"].as_array().unwrap();
    assert_eq!(suites.len(), rs.len());
    for s in suites {
        let ts = s["timestamp"].as_str().unwrap_or("");
        let b = ts.as_bytes();
        assert!(
            b.len() == 19 && b[4] == b'-' && b[10] == b'T' && b[13] == b':' && ts >= "2026-",
            "timestamp {ts:?}"
        );
        assert!(!s["hostname"].as_str().unwrap_or("").is_empty(), "{s}");
        // junitparser's counts are the file's.
        let cases = s["cases"].as_array().unwrap();
        assert_eq!(s["tests"].as_u64().unwrap() as usize, cases.len());
        for (key, kind) in [
            ("failures", "failure"),
            ("errors", "error"),
            ("skipped", "skipped"),
        ] {
            let n = cases.iter().filter(|c| c["result"] == kind).count();
            assert_eq!(s[key].as_u64().unwrap() as usize, n, "{key} of {s}");
        }
    }

    // Stall cases carry the guest's measured duration.
    let base = suite(&v, "baseline--k612--default");
    let case_time = |s: &serde_json::Value, name: &str| {
        s["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no case {name}"))["time"]
            .clone()
    };
    assert_eq!(case_time(base, "stall/mlock-20g"), "41.500");
    assert_eq!(case_time(base, "stall/munmap-zap"), "12.250");
    // Not reported: no time, rather than a made-up 0.
    assert_eq!(case_time(base, "stall/uffd-hold"), serde_json::Value::Null);
    // The baseline's own selftests: one fails on it, one skips.
    assert_eq!(
        not_passed(base),
        set(&[
            ("stall/uffd-hold", "skipped"),
            ("mm selftest/mremap_test", "failure"),
            ("mm selftest/gup_longterm", "skipped")
        ]),
        "{base}"
    );
    assert_eq!(case_time(base, "mm selftest/mlock2-tests"), "1.500");
    // On a series' kernel, failing on the baseline too is no failure of the
    // series (skipped with the reason), like a test that skips.
    let not_series = [
        ("mm selftest/mremap_test", "skipped"),
        ("mm selftest/gup_longterm", "skipped"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = set(&not_series);
        all.extend(set(extra));
        all
    };

    // Each regression fails the one case that regressed, and nothing else.
    let reg = suite(&v, "regress--k612--default");
    assert_eq!(
        not_passed(reg),
        with(&[
            ("static analysis", "failure"),
            ("stall/mlock-20g", "failure")
        ]),
        "{reg}"
    );
    assert_eq!(
        case_time(reg, "stall/mlock-20g"),
        "41.500",
        "the patched run's time"
    );
    let lockdep = suite(&v, "lockdep--k612--default");
    assert_eq!(
        not_passed(lockdep),
        with(&[("kernel-event:lockdep:mmap_write_lock,do_thing", "failure")]),
        "{lockdep}"
    );
    assert_eq!(not_passed(suite(&v, "clean--k612--default")), with(&[]));
    // The selftest the series broke fails, and only it.
    let mlock = suite(&v, "mlockbreak--k612--default");
    assert_eq!(
        not_passed(mlock),
        with(&[("mm selftest/mlock2-tests", "failure")]),
        "{mlock}"
    );
    // A series that does not apply: its static analysis is an error, not a pass.
    let noapply = suite(&v, "noapply--k612--default");
    assert_eq!(
        not_passed(noapply),
        set(&[("static analysis", "error")]),
        "{noapply}"
    );

    // Teeth: `testsuites@skipped` (what the issue found) and a file that is
    // not XML are rejected.
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("junit.xml");
    std::fs::write(
        &bad,
        text.replacen("<testsuites ", "<testsuites skipped=\"1\" ", 1),
    )
    .unwrap();
    let (code, v, text2) = junit_check(&bad);
    assert_eq!(code, 0, "{text2}");
    assert_eq!(
        v["problems"],
        serde_json::json!(["testsuites@skipped is not in the schema"])
    );
    std::fs::write(&bad, text.replacen("</testsuites>", "", 1)).unwrap();
    let (code, _, text3) = junit_check(&bad);
    assert_eq!(code, 1, "{text3}");
    assert!(text3.contains("junitparser cannot read"), "{text3}");
}

// ---- Kubernetes ----

fn k8s_jobs(plan: &Plan) -> Vec<serde_json::Value> {
    let k = mmstall_nightly::emit::k8s(
        plan,
        &mmstall_nightly::emit::K8sOptions {
            image: "registry.local/mmstall:1".into(),
            plan_path: "ci/nightly.toml".into(),
            workdir: "/src/mmstall".into(),
            night: "2026-11-25".into(),
            namespace: Some("ci".into()),
            results_claim: "mmstall-results".into(),
            cache_claim: "mmstall-cache".into(),
        },
    );
    k["items"].as_array().unwrap().clone()
}

/// Two configs whose names share their first 50 characters: every Job name
/// is unique, at most 63 characters, DNS-1123.
fn long_configs() -> World {
    world(
        &["regress"],
        "[[config]]\nname = \"stall-debug-with-lockdep-kasan-kfence-and-page-owner-a\"\nfragments = [\"virtme-base\"]\n\n[[config]]\nname = \"stall-debug-with-lockdep-kasan-kfence-and-page-owner-b\"\nfragments = [\"virtme-base\"]\n",
    )
}

#[test]
fn k8s_job_names_are_unique_within_63_characters() {
    let w = long_configs();
    let plan = Plan::load(&w.plan).unwrap();
    let jobs = k8s_jobs(&plan);
    // (baseline + 1 series) × 3 configs
    assert_eq!(jobs.len(), 6);
    let mut names = BTreeSet::new();
    for j in &jobs {
        let name = j["metadata"]["name"].as_str().unwrap();
        assert!(
            name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !name.ends_with('-')
                && !name.starts_with('-'),
            "{name}"
        );
        assert!(names.insert(name.to_string()), "duplicate Job name {name}");
    }
    assert_eq!(
        mmstall_nightly::emit::job_name("2026-11-25", &"x".repeat(80), 12),
        format!("mmstall-2026-11-25-{}-12", "x".repeat(41))
    );
}

#[test]
fn k8s_jobs_keep_their_own_history_and_retry_with_resume() {
    let w = long_configs();
    let plan = Plan::load(&w.plan).unwrap();
    for j in k8s_jobs(&plan) {
        let cmd: Vec<&str> = j["spec"]["template"]["spec"]["containers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(
            cmd.windows(2).any(|p| p == ["--history", "none"]),
            "{cmd:?}"
        );
        assert!(cmd.contains(&"--resume"));
        assert!(j["spec"]["backoffLimit"].as_u64().unwrap() > 0);
        let env = &j["spec"]["template"]["spec"]["containers"][0]["env"][0];
        assert_eq!(env["name"], "MMSTALL_CACHE");
        let config = j["metadata"]["annotations"]["mmstall/config"]
            .as_str()
            .unwrap();
        assert!(
            env["value"]
                .as_str()
                .unwrap()
                .ends_with(&format!("--{config}")),
            "{env}"
        );
    }
}

fn kubernetes_validate(files: &[PathBuf]) -> (i32, String) {
    let o = Command::new("kubernetes-validate")
        .args(["--strict", "--no-warn"])
        .args(files)
        .output()
        .expect("kubernetes-validate runs");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn kubernetes_validate_accepts_each_emitted_job() {
    let available = Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            !required(),
            "kubernetes-validate is not installed and MMSTALL_REQUIRE_TREE=1 (scripts/setup.sh installs it)"
        );
        println!("SKIPPED kubernetes_validate_accepts_each_emitted_job: kubernetes-validate is not installed (scripts/setup.sh installs it)");
        return;
    }
    let w = long_configs();
    let plan = Plan::load(&w.plan).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jobs = k8s_jobs(&plan);
    let files: Vec<PathBuf> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let f = dir.path().join(format!("job-{i}.json"));
            std::fs::write(&f, serde_json::to_string_pretty(j).unwrap()).unwrap();
            f
        })
        .collect();
    let (code, text) = kubernetes_validate(&files);
    assert_eq!(code, 0, "{text}");
    // Teeth: a misspelt field and a wrongly typed one are each rejected.
    let mut misspelt = jobs[0].clone();
    let limit = misspelt["spec"]
        .as_object_mut()
        .unwrap()
        .remove("backoffLimit")
        .unwrap();
    misspelt["spec"]["backofLimit"] = limit;
    let mut mistyped = jobs[0].clone();
    mistyped["spec"]["template"]["spec"]["restartPolicy"] = serde_json::json!(["Never"]);
    for (bad, want) in [(misspelt, "backofLimit"), (mistyped, "restartPolicy")] {
        let f = dir.path().join("bad.json");
        std::fs::write(&f, bad.to_string()).unwrap();
        let (code, text) = kubernetes_validate(&[f]);
        assert_ne!(code, 0, "{text}");
        assert!(text.contains(want), "{want}: {text}");
    }
}

// ---- SARIF ----

/// `python3 ci/sarif-validate.py FILE`: (exit code, output); 2 = not installed.
fn sarif_validate(file: &Path) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/sarif-validate.py");
    let o = Command::new("python3")
        .arg(script)
        .arg(file)
        .output()
        .expect("python3 runs");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn sarif_schema_accepts_new_findings_sarif() {
    let (_w, out, _) = night();
    let path = out.join(reports::SARIF);
    let (code, text) = sarif_validate(&path);
    if code == 2 {
        assert!(
            !required(),
            "the SARIF 2.1.0 validator cannot run and MMSTALL_REQUIRE_TREE=1 (scripts/setup.sh installs it): {text}"
        );
        println!("SKIPPED sarif_schema_accepts_new_findings_sarif: {text}");
        return;
    }
    assert_eq!(code, 0, "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 1);
    // Teeth: an invalid level and a result without a message are rejected.
    let mut bad = v.clone();
    bad["runs"][0]["results"][0]["level"] = "loud".into();
    bad["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.sarif");
    std::fs::write(&f, bad.to_string()).unwrap();
    let (code, text) = sarif_validate(&f);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("'loud' is not one of") && text.contains("'message' is a required property"),
        "{text}"
    );
}
