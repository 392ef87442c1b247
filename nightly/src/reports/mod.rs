//! The reports of a result directory, rendered from the job results alone:
//! `summary.md`, `junit.xml`, `kcidb.json`, `new-findings.sarif`. One file
//! per format; a new format is a module here with a function from
//! `&[JobResult]` to its text, written by [`write_all`].

mod common;
mod files;
mod junit;
mod kcidb;
mod sarif;
mod summary;

pub use crate::clock::{hostname, utc_timestamp_now};
pub use files::{file_uri, keep_series, series_file, url_base, url_of, URL_BASE_ENV};
pub use junit::junit;
pub use kcidb::{
    kcidb, KBuild, KCheckout, KFile, KNumber, KTest, Kcidb, KcidbVersion, KCIDB_VERSION,
};
pub use sarif::sarif;
pub use summary::markdown;

use crate::model::*;
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
