//! `--confirmations FILE`: what `mmstall confirm` measured (its confirm.json),
//! attached to the findings of a `lint` run (issue 18: "warning: may stall"
//! next to "measured: 412 ms"). A confirmation matches the finding with its
//! fingerprint and holder; the rest are counted, not dropped silently.

use anyhow::Context;
use mmstall_analyzer::{Finding, Measured};
use mmstall_vm::confirm::matching::{Confirmation, Outcome};
use std::collections::HashMap;
use std::path::Path;

/// Reads a confirm.json.
pub fn load(path: &Path) -> anyhow::Result<Confirmation> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading confirmations {}", path.display()))?;
    // confirm.json is `{ "run": ..., "confirmation": ... }`; a bare
    // confirmation (as `--json` prints it) is read too.
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let body = doc.get("confirmation").cloned().unwrap_or(doc);
    serde_json::from_value(body).with_context(|| {
        format!(
            "{}: not the confirm.json of `mmstall confirm`",
            path.display()
        )
    })
}

/// What `outcome` says, as a finding's note.
fn measured(c: &Confirmation, outcome: &Outcome) -> Measured {
    let (sizes, growth, detail) = match outcome {
        Outcome::Confirmed { evidence } | Outcome::Short { evidence } => (
            evidence
                .sizes
                .iter()
                .map(|s| (s.size_mib, s.max_ms))
                .collect(),
            evidence.growth,
            evidence
                .largest()
                .map(|s| format!("workload {}", s.recipe))
                .unwrap_or_default(),
        ),
        Outcome::NotReached { recipes } => (
            Vec::new(),
            None,
            format!("workloads {}", recipes.join(", ")),
        ),
        Outcome::NoWorkload { reason } => (Vec::new(), None, reason.clone()),
    };
    Measured {
        outcome: outcome.word().to_string(),
        kernel: c.kernel_release.clone(),
        sizes,
        growth,
        detail,
    }
}

/// Attaches the confirmations to `findings`; returns (attached, unmatched).
pub fn attach(findings: &mut [Finding], c: &Confirmation) -> (usize, usize) {
    let mut by_key: HashMap<(&str, &str), Measured> = HashMap::new();
    for o in &c.outcomes {
        by_key.insert(
            (o.finding.fingerprint.as_str(), o.finding.holder.as_str()),
            measured(c, &o.outcome),
        );
    }
    let mut attached = 0;
    let mut used = std::collections::HashSet::new();
    for f in findings.iter_mut() {
        if let Some(m) = by_key.get(&(f.fingerprint.as_str(), f.holder.as_str())) {
            f.measured = Some(m.clone());
            used.insert((f.fingerprint.clone(), f.holder.clone()));
            attached += 1;
        }
    }
    let unmatched = by_key
        .keys()
        .filter(|(fp, h)| !used.contains(&(fp.to_string(), h.to_string())))
        .count();
    (attached, unmatched)
}
