//! What the human-readable reports (summary, JUnit) write alike.

pub(super) fn ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "–".into())
}

/// The measured hold of an introduced finding (`[confirm]`), when the job
/// measured it: `series: confirmed: write hold … ; baseline: short: …`.
pub(super) fn hold_note(r: &crate::model::JobResult, fingerprint: &str) -> Option<String> {
    let h = r
        .confirm
        .as_ref()?
        .findings
        .iter()
        .find(|h| h.fingerprint == fingerprint)?;
    let recipe = if h.patched.recipe.is_empty() {
        String::new()
    } else {
        format!(" (`{}`)", h.patched.recipe)
    };
    Some(format!(
        "series: {}{recipe}; baseline: {}",
        h.patched.describe(),
        h.baseline.describe()
    ))
}
