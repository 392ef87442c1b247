//! What the human-readable reports (summary, JUnit) write alike.

pub(super) fn ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "–".into())
}
