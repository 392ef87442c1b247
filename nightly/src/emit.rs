//! Scale-out on existing engines: the plan's jobs as a GitHub Actions matrix
//! or as Kubernetes Jobs. Every job runs the same command,
//! `mmstall nightly --plan PLAN --job ID --out results/ID`, and a final
//! `mmstall merge results/*` combines the per-job directories.

use crate::plan::Plan;
use serde_json::{json, Value};

/// `{"include": [{"job", "series", "kernel", "config"}...]}` for
/// `strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}`.
pub fn github_matrix(plan: &Plan) -> Value {
    let include: Vec<Value> = plan
        .jobs()
        .into_iter()
        .map(|j| json!({"job": j.id, "series": j.series, "kernel": j.kernel, "config": j.config}))
        .collect();
    json!({ "include": include })
}

pub struct K8sOptions {
    pub image: String,
    /// The plan path inside the container (relative to the working dir).
    pub plan_path: String,
    /// The repository checkout inside the image (plan paths are relative to it).
    pub workdir: String,
    pub night: String,
    pub namespace: Option<String>,
    /// PersistentVolumeClaim holding `results/<job>` (ReadWriteMany).
    pub results_claim: String,
    /// PersistentVolumeClaim holding the mmstall cache (sources, ccache, builds).
    pub cache_claim: String,
}

fn label(s: &str) -> String {
    // DNS-1123: lowercase alphanumerics and '-', ≤ 63 characters.
    let mut o: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while o.contains("--") {
        o = o.replace("--", "-");
    }
    let o = o.trim_matches('-').to_string();
    let mut o: String = o.chars().take(50).collect();
    while o.ends_with('-') {
        o.pop();
    }
    if o.is_empty() {
        "job".into()
    } else {
        o
    }
}

/// A Job's name: `mmstall-NIGHT-ID` cut so that the index suffix `-I` still
/// fits in 63 characters (a Job's name is also its pods' `job-name` label
/// value): the suffix keeps names unique when two ids share a long prefix or
/// map to the same label.
pub fn job_name(night: &str, id: &str, index: usize) -> String {
    let suffix = format!("-{index}");
    let stem: String = format!("mmstall-{}-{}", label(night), label(id))
        .chars()
        .take(63 - suffix.len())
        .collect();
    format!("{}{suffix}", stem.trim_end_matches('-'))
}

/// Retries of a failed pod: each runs with `--resume`, so it keeps what the
/// previous attempt measured (the results and steps files on the results volume).
pub const BACKOFF_LIMIT: u32 = 2;

/// The cache directory of a job inside the cache volume: one per kernel ×
/// config, so jobs of other kernels/configs never serialize on one tree lock,
/// while the series of one kernel × config share its baseline build.
pub fn cache_dir(kernel: &str, config: &str) -> String {
    format!(
        "/cache/{}--{}",
        crate::plan::safe_name(kernel),
        crate::plan::safe_name(config)
    )
}

/// A `v1/List` of `batch/v1` Jobs (`kubectl apply -f` takes JSON). Each job
/// writes only its own `/results/ID` and no history (`--history none`): the
/// merge step appends the night to the history once.
pub fn k8s(plan: &Plan, o: &K8sOptions) -> Value {
    let jobs = plan.jobs();
    let mut items = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        let name = job_name(&o.night, &j.id, i);
        let mut metadata = json!({
            "name": name,
            "labels": {"app": "mmstall-nightly", "mmstall/night": label(&o.night)},
            "annotations": {"mmstall/job": j.id, "mmstall/series": j.series, "mmstall/kernel": j.kernel, "mmstall/config": j.config}
        });
        if let Some(ns) = &o.namespace {
            metadata["namespace"] = json!(ns);
        }
        items.push(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata,
            "spec": {
                "backoffLimit": BACKOFF_LIMIT,
                "activeDeadlineSeconds": 4 * 3600,
                "template": {
                    "metadata": {"labels": {"app": "mmstall-nightly"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "nightly",
                            "image": o.image,
                            "workingDir": o.workdir,
                            "command": ["mmstall", "nightly", "--plan", o.plan_path, "--job", j.id, "--night", o.night, "--out", format!("/results/{}", j.id), "--history", "none", "--resume"],
                            "env": [{"name": "MMSTALL_CACHE", "value": cache_dir(&j.kernel, &j.config)}],
                            "resources": {"requests": {"cpu": "4", "memory": "8Gi"}},
                            "volumeMounts": [
                                {"name": "results", "mountPath": "/results"},
                                {"name": "cache", "mountPath": "/cache"}
                            ]
                        }],
                        "volumes": [
                            {"name": "results", "persistentVolumeClaim": {"claimName": o.results_claim}},
                            {"name": "cache", "persistentVolumeClaim": {"claimName": o.cache_claim}}
                        ]
                    }
                }
            }
        }));
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}
