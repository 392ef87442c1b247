//! `--format sarif`: SARIF 2.1.0, one run. Rule metadata comes from the rule
//! docs.
//!
//! One result per long-call site, not per holder path: GitHub code
//! scanning makes an alert of every result, so per-holder results would put
//! ten alerts on one line for ten `do_page_fault`s, each to be dismissed on
//! its own, while the fix is at the call. SARIF 2.1.0 keeps `locations` to
//! where the problem is corrected (the call) and gives a result
//! `relatedLocations`, "locations relevant to this result", which a message
//! links to with embedded links (`[text](id)`), the form GitHub renders as
//! links; each holder's lock origin is one, and the holders' paths and
//! triggers go in the result's properties.
//! `partialFingerprints` carry the line-insensitive site id, so an alert
//! follows its call as code moves and as holders come and go.
//! Result URIs are relative to `SRCROOT`, the tree's root, which
//! `originalUriBaseIds` gives as a `file://` URI when it is known; regions
//! span the long call, from its callee name to its closing parenthesis.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::sites::{self, HolderNames, Site};
use crate::finding::Finding;
use crate::rules::{self, Rule};

/// Where the findings come from, for what SARIF can say beyond them.
#[derive(Default, Clone, Copy)]
pub struct SarifRun<'a> {
    /// The tree's root (absolute): `SRCROOT` in `originalUriBaseIds`.
    pub root: Option<&'a Path>,
    /// The texts of the files with findings (a lint run's `sources`): with
    /// them, regions end where the long call ends, and columns count
    /// characters, not bytes.
    pub sources: Option<&'a HashMap<String, String>>,
}

/// The project's home page (`homepage` in the package manifest), for
/// `informationUri` and the rules' `helpUri`; SARIF wants absolute URIs
/// there, so both are left out while the manifest names none.
const HOMEPAGE: &str = env!("CARGO_PKG_HOMEPAGE");

pub fn render(findings: &[Finding]) -> String {
    render_run(findings, &SarifRun::default())
}

/// One result per long-call site (see the module's docs for why), in the
/// order of [`sites::group`].
pub fn render_run(findings: &[Finding], run: &SarifRun) -> String {
    let rules_meta: Vec<Value> = rules::ALL.iter().map(|r| rule_metadata(r)).collect();
    let names = HolderNames::new(findings);
    let results: Vec<Value> = sites::group(findings)
        .iter()
        .map(|site| site_result(site, &names, run))
        .collect();
    let mut driver = Map::new();
    driver.insert("name".into(), json!("mmstall"));
    driver.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    driver.insert("semanticVersion".into(), json!(env!("CARGO_PKG_VERSION")));
    if !HOMEPAGE.is_empty() {
        driver.insert("informationUri".into(), json!(HOMEPAGE));
    }
    driver.insert("rules".into(), Value::Array(rules_meta));
    let mut sarif_run = Map::new();
    sarif_run.insert("tool".into(), json!({ "driver": driver }));
    if let Some(root) = run.root {
        sarif_run.insert(
            "originalUriBaseIds".into(),
            json!({ "SRCROOT": { "uri": file_uri_of_dir(root) } }),
        );
    }
    if run.sources.is_some() {
        sarif_run.insert("columnKind".into(), json!("unicodeCodePoints"));
    }
    sarif_run.insert("results".into(), Value::Array(results));
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [sarif_run]
    });
    serde_json::to_string_pretty(&doc).expect("serializes") + "\n"
}

/// The SARIF printer (`--format sarif`): the output's root and sources
/// make its [`SarifRun`].
pub struct Sarif;

impl super::Printer for Sarif {
    fn print(&self, output: &super::Output, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let run = SarifRun {
            root: output.root,
            sources: output.sources,
        };
        w.write_all(render_run(&output.report.findings, &run).as_bytes())
    }
}

/// A site's result: the call as its location; per holder path a related
/// location where the lock is taken (or the contract's function entered),
/// linked from the message as SARIF's embedded links (`[text](id)`), which
/// is how GitHub shows related locations; the holders' paths, triggers and
/// fingerprints in the properties.
fn site_result(site: &Site, names: &HolderNames, run: &SarifRun) -> Value {
    let f = site.first();
    let rule_index = rules::ALL
        .iter()
        .position(|r| r.code == f.code)
        .unwrap_or(0);
    let source = run.sources.and_then(|s| s.get(&f.file));
    let related: Vec<Value> = site
        .holders
        .iter()
        .enumerate()
        .map(|(i, h)| {
            json!({
                "id": i + 1,
                "physicalLocation": {
                    "artifactLocation": { "uri": uri_path(&h.acquired_at.file), "uriBaseId": "SRCROOT" },
                    "region": { "startLine": h.acquired_at.line }
                },
                "message": { "text": if h.held_on_entry {
                    format!("lock held for {} on entry to `{}`", h.lock_mode, h.holder)
                } else {
                    format!("lock taken for {} in `{}`", h.lock_mode, h.holder)
                } }
            })
        })
        .collect();
    // The message names each holder with a link to where its hold starts;
    // `[`, `]` and `\` in a name would be escaped, C names have none.
    let links: Vec<String> = site
        .holders
        .iter()
        .enumerate()
        .map(|(i, h)| format!("[{}]({})", names.label(h).replace('`', ""), i + 1))
        .collect();
    let text = format!("{} (lock from {})", site.message(), links.join(", "));
    let holders: Vec<Value> = site
        .holders
        .iter()
        .map(|h| {
            let mut holder = json!({
                "holder": h.holder,
                "holderFile": h.acquired_at.file,
                "lockMode": h.lock_mode,
                "heldOnEntry": h.held_on_entry,
                "callPath": h.call_path,
                "context": h.context,
                "contextCallers": h.context_callers,
                "triggers": h.triggers,
                "fingerprint": h.fingerprint,
            });
            // What a booted kernel measured, when `--confirmations` gave it.
            if let (Some(m), Some(obj)) = (&h.measured, holder.as_object_mut()) {
                obj.insert("measured".into(), json!(m));
            }
            holder
        })
        .collect();
    let mut fingerprints = Map::new();
    // GitHub matches alerts across runs by these: a site keeps its alert
    // while holders come and go. Findings built outside a run have no site
    // id; their own fingerprint stands in.
    if f.site_id.is_empty() {
        fingerprints.insert("mmstall/v1".into(), json!(f.fingerprint));
    } else {
        fingerprints.insert("mmstall/site/v1".into(), json!(f.site_id));
    }
    json!({
        "ruleId": f.code,
        "ruleIndex": rule_index,
        "level": f.severity.as_str(),
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri_path(&f.file), "uriBaseId": "SRCROOT" },
                "region": call_region(source.map(String::as_str), f)
            },
            "logicalLocations": [{ "name": f.function, "kind": "function" }]
        }],
        "relatedLocations": related,
        "partialFingerprints": fingerprints,
        "properties": { "operation": f.operation, "siteId": f.site_id, "holders": holders }
    })
}

fn rule_metadata(r: &Rule) -> Value {
    let mut meta = json!({
        "id": r.code,
        "name": r.id,
        "shortDescription": { "text": r.summary },
        "fullDescription": what_it_finds(r.doc).map_or_else(
            || json!({ "text": r.summary }),
            |paragraph| json!({ "text": without_emphasis(&paragraph), "markdown": paragraph })
        ),
        "help": { "text": r.doc, "markdown": r.doc },
        "defaultConfiguration": { "level": r.default_severity.as_str() },
    });
    if !HOMEPAGE.is_empty() {
        meta["helpUri"] = json!(format!(
            "{}#{}",
            HOMEPAGE.trim_end_matches('/'),
            r.code.to_ascii_lowercase()
        ));
    }
    meta
}

/// The first paragraph of the doc's "What it finds" section (Markdown), on
/// one line.
fn what_it_finds(doc: &str) -> Option<String> {
    let after = doc.split_once("## What it finds\n")?.1;
    let paragraph: Vec<&str> = after
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::trim)
        .collect();
    (!paragraph.is_empty()).then(|| paragraph.join(" "))
}

/// Markdown emphasis (`*`, `**`) dropped outside code spans, where a `*`
/// is C (`zap_page_range*`).
fn without_emphasis(markdown: &str) -> String {
    let mut in_code = false;
    markdown
        .chars()
        .filter(|&c| {
            if c == '`' {
                in_code = !in_code;
            }
            c != '*' || in_code
        })
        .collect()
}

/// The long call's region: from its callee name to its closing parenthesis,
/// in characters, when the source is at hand and shows the call there;
/// otherwise the callee name (columns in bytes, which kernel names are).
fn call_region(source: Option<&str>, f: &Finding) -> Value {
    if let Some((start_column, end_line, end_column)) =
        source.and_then(|text| call_extent(text, f.line, f.column, &f.operation))
    {
        return json!({
            "startLine": f.line,
            "startColumn": start_column,
            "endLine": end_line,
            "endColumn": end_column
        });
    }
    json!({
        "startLine": f.line,
        "startColumn": f.column,
        "endLine": f.line,
        "endColumn": f.column as usize + f.operation.len()
    })
}

/// Longest call text followed to its closing parenthesis.
const MAX_CALL_BYTES: usize = 64 * 1024;

/// `(start column, end line, end column)` of the call whose callee `name`
/// starts at 1-based `line` and byte `column`, in characters (SARIF's end
/// column is that of the character after the region), or `None` if the
/// text does not show such a call there.
pub fn call_extent(text: &str, line: u32, column: u32, name: &str) -> Option<(u32, u32, u32)> {
    let line_start = if line <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', text.as_bytes()).nth(line as usize - 2)? + 1
    };
    let start = line_start + column.checked_sub(1)? as usize;
    if !text.get(start..)?.starts_with(name) {
        return None;
    }
    let b = text.as_bytes();
    let limit = b.len().min(start + MAX_CALL_BYTES);
    let mut i = start + name.len();
    while i < limit && b[i].is_ascii_whitespace() {
        i += 1;
    }
    if b.get(i) != Some(&b'(') {
        return None;
    }
    let mut depth = 0usize;
    let end = loop {
        if i >= limit {
            return None;
        }
        match b[i] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break i + 1;
                }
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < limit && b[i] != q && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = memchr::memmem::find(&b[i + 2..limit], b"*/").map(|k| i + 3 + k)?;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = memchr::memchr(b'\n', &b[i..limit]).map(|k| i + k)?;
            }
            _ => {}
        }
        i += 1;
    };
    let chars = |from: usize, to: usize| text.get(from..to).map(|s| s.chars().count() as u32);
    let start_column = chars(line_start, start)? + 1;
    let newlines = memchr::memchr_iter(b'\n', &b[start..end]).count() as u32;
    let end_line_start = memchr::memrchr(b'\n', &b[..end]).map_or(0, |k| k + 1);
    let end_column = chars(end_line_start, end)? + 1;
    Some((start_column, line + newlines, end_column))
}

/// A relative path as a URI reference: bytes outside the unreserved set and
/// `/` percent-encoded (a file named `a b.c` is `a%20b.c`).
pub fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &byte in path.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `file:///abs/dir/` for a directory (SARIF base URIs end with `/`).
pub fn file_uri_of_dir(dir: &Path) -> String {
    let path = dir.to_string_lossy().replace('\\', "/");
    let path = path.trim_end_matches('/');
    let lead = if path.starts_with('/') { "" } else { "/" };
    format!("file://{lead}{}/", uri_path(path))
}
