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

/// A `v1/List` of `batch/v1` Jobs (`kubectl apply -f` takes JSON).
pub fn k8s(plan: &Plan, o: &K8sOptions) -> Value {
    let jobs = plan.jobs();
    let mut items = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        // Unique even if two ids map to the same label.
        let name = format!("mmstall-{}-{}-{i}", label(&o.night), label(&j.id));
        let name: String = name
            .chars()
            .take(63)
            .collect::<String>()
            .trim_end_matches('-')
            .to_string();
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
                "backoffLimit": 0,
                "activeDeadlineSeconds": 4 * 3600,
                "template": {
                    "metadata": {"labels": {"app": "mmstall-nightly"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "nightly",
                            "image": o.image,
                            "workingDir": o.workdir,
                            "command": ["mmstall", "nightly", "--plan", o.plan_path, "--job", j.id, "--night", o.night, "--out", format!("/results/{}", j.id), "--resume"],
                            "env": [{"name": "MMSTALL_CACHE", "value": "/cache"}],
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
