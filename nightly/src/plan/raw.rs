//! The plan file as TOML gives it (`Raw*`, every value with its span), and
//! where in the text an error is: its line and column, the key it is about.

use super::settings::{
    BootSettings, BuildSettings, ConfirmSettings, KselftestSettings, StaticSettings, SuiteSettings,
};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default, rename = "kernel")]
    pub(super) kernels: Vec<RawKernel>,
    #[serde(default, rename = "config")]
    pub(super) configs: Vec<RawConfig>,
    #[serde(default, rename = "series")]
    pub(super) series: Vec<RawSeries>,
    /// A regression-series manifest (`patches/manifest.toml`): each of its
    /// `[[series]]` (`name`, `path`) becomes a series of the plan.
    #[serde(default)]
    pub(super) manifest: Option<Spanned<String>>,
    #[serde(default, rename = "static")]
    pub(super) static_: Option<StaticSettings>,
    #[serde(default)]
    pub(super) suite: Option<SuiteSettings>,
    #[serde(default)]
    pub(super) build: Option<BuildSettings>,
    #[serde(default)]
    pub(super) boot: Option<BootSettings>,
    #[serde(default)]
    pub(super) kselftest: Option<Spanned<KselftestSettings>>,
    #[serde(default)]
    pub(super) confirm: Option<ConfirmSettings>,
}

impl RawPlan {
    /// No key at all (an empty file, or only comments).
    pub(super) fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.kernels.is_empty()
            && self.configs.is_empty()
            && self.series.is_empty()
            && self.manifest.is_none()
            && self.static_.is_none()
            && self.suite.is_none()
            && self.build.is_none()
            && self.boot.is_none()
            && self.kselftest.is_none()
            && self.confirm.is_none()
    }
}

/// The key an error at byte `offset` of a TOML document is about, as the
/// user writes it: `series[2].mbox`, `kernel[0].tree`, `series[0].git.repo`.
/// From the tables opened before it (`[[series]]` counted per name,
/// `[static]`), the keys of inline tables open on its line, and the key
/// being assigned. `unknown field`/`missing field` errors add the field the
/// message names. Line-based: a value spread over several lines is named by
/// its table.
pub(super) fn key_path_at(text: &str, offset: usize, message: &str) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map(|p| p + 1).unwrap_or(0);
    let line_end = text[offset..]
        .find('\n')
        .map(|p| offset + p)
        .unwrap_or(text.len());
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let mut table = String::new();
    let mut on_header = false;
    for l in text[..line_end].lines() {
        let t = l.trim();
        on_header = false;
        if let Some(rest) = t.strip_prefix("[[") {
            let name = rest.split("]]").next().unwrap_or("").trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
            on_header = true;
        } else if let Some(rest) = t.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("").trim().to_string();
            // `[series.git]` after `[[series]]`: a sub-table of the last entry.
            table = match name.split_once('.') {
                Some((head, tail)) if counts.contains_key(head) => {
                    format!("{head}[{}].{tail}", counts[head] - 1)
                }
                _ => name,
            };
            on_header = true;
        }
    }
    let mut parts: Vec<String> = Vec::new();
    if !table.is_empty() {
        parts.push(table);
    }
    if !on_header {
        // Inline tables opened before the offset on this line, then the key
        // assigned last (`git = { repo = 5` → git.repo).
        let prefix = &text[line_start..offset];
        let mut stack: Vec<String> = Vec::new();
        let mut pending: Option<String> = None;
        let mut seg_start = 0;
        let mut in_str = false;
        for (i, ch) in prefix.char_indices() {
            match ch {
                '"' | '\'' => in_str = !in_str,
                _ if in_str => {}
                '=' => {
                    pending = Some(prefix[seg_start..i].trim().trim_matches('"').to_string());
                }
                '{' => {
                    if let Some(k) = pending.take() {
                        stack.push(k);
                    }
                    seg_start = i + 1;
                }
                '}' => {
                    stack.pop();
                    seg_start = i + 1;
                    pending = None;
                }
                ',' => {
                    seg_start = i + 1;
                    pending = None;
                }
                _ => {}
            }
        }
        parts.extend(stack);
        parts.extend(pending.filter(|k| !k.is_empty()));
    }
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        if let Some(field) = message.split('`').nth(1) {
            if parts.last().map(String::as_str) != Some(field) {
                parts.push(field.to_string());
            }
        }
    }
    if parts.is_empty() {
        "(syntax)".into()
    } else {
        parts.join(".")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKernel {
    pub(super) name: Spanned<String>,
    /// `debian:6.12` or a directory (a plain tree or a checkout).
    #[serde(default)]
    pub(super) tree: Option<Spanned<String>>,
    /// A git repository (path or URL) and a ref in it.
    #[serde(default)]
    pub(super) repo: Option<Spanned<String>>,
    #[serde(default, rename = "ref")]
    pub(super) git_ref: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) name: Spanned<String>,
    pub(super) fragments: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeries {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) mbox: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) dir: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) git: Option<Spanned<RawGitRange>>,
    #[serde(default)]
    pub(super) kernels: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub(super) configs: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGitRange {
    pub(super) repo: String,
    pub(super) range: String,
}

pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(0)
        + 1;
    (line, col)
}
