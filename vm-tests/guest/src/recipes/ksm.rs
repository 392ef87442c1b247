//! `ksm-scan`: KSM's own lock holders. ksmd (a kernel thread: the trace
//! follows it for this recipe, [`super::KERNEL_THREADS`]) takes the read
//! lock of each mm it scans in `scan_get_next_rmap_item()` and of the mm of
//! a page it merges in `try_to_merge_with_ksm_page()`; writing 2 to
//! /sys/kernel/mm/ksm/run unmerges everything in the writing task,
//! `unmerge_and_remove_all_rmap_items()` holding each mm's read lock.

use super::{failed, mergeable_populated, RecipeError};
use crate::sys::sleep_us;
use mmstall_stall_judge::holds::{PAUSE_MARKER, RESUME_MARKER};
use std::time::{Duration, Instant};

const KSM: &str = "/sys/kernel/mm/ksm";

/// How long ksmd may take for its two passes (the first records each
/// page's checksum, the second merges the unchanged ones).
const SCAN_DEADLINE: Duration = Duration::from_secs(120);

fn read(file: &str) -> Result<String, RecipeError> {
    std::fs::read_to_string(format!("{KSM}/{file}"))
        .map(|s| s.trim().to_string())
        .map_err(|e| failed(format!("reading {KSM}/{file}: {e}")))
}

fn read_num(file: &str) -> Result<u64, RecipeError> {
    let s = read(file)?;
    s.parse()
        .map_err(|_| failed(format!("{KSM}/{file}: `{s}` is not a number")))
}

fn write(file: &str, value: &str) -> Result<(), RecipeError> {
    std::fs::write(format!("{KSM}/{file}"), value)
        .map_err(|e| failed(format!("writing `{value}` to {KSM}/{file}: {e}")))
}

/// The knobs the recipe changes, put back when it ends.
struct Saved(Vec<(&'static str, String)>);

impl Drop for Saved {
    fn drop(&mut self) {
        let _ = write("run", "0");
        for (f, v) in &self.0 {
            let _ = write(f, v);
        }
    }
}

/// How long ksmd's scanning, and then its merging, is traced: a sample
/// (its holds are per page or per batch, and ksmd took the lock some 36 000
/// times a second under TCG: 200 ms windows made 20-28 MB of trace text).
const MERGE_SAMPLE: Duration = Duration::from_millis(50);

const TRACING_ON: &str = "/sys/kernel/tracing/tracing_on";
const TRACE_MARKER: &str = "/sys/kernel/tracing/trace_marker";

/// Tracing paused or resumed (the trace of this run stays; only its volume
/// is bounded). A pause is marked before and a resume after the switch, so
/// that the pairing does not pair an acquisition before the pause with a
/// release after it.
fn tracing(on: bool) -> Result<(), RecipeError> {
    if !on {
        std::fs::write(TRACE_MARKER, PAUSE_MARKER)
            .map_err(|e| failed(format!("writing {TRACE_MARKER}: {e}")))?;
    }
    std::fs::write(TRACING_ON, if on { "1" } else { "0" })
        .map_err(|e| failed(format!("writing {TRACING_ON}: {e}")))?;
    if on {
        std::fs::write(TRACE_MARKER, RESUME_MARKER)
            .map_err(|e| failed(format!("writing {TRACE_MARKER}: {e}")))?;
    }
    Ok(())
}

/// `size` bytes of identical pages marked mergeable; ksmd scans them with
/// no sleep until two full scans are done (and pages are shared), then
/// run=2 unmerges them all. Tracing covers the first [`MERGE_SAMPLE`] of
/// the scan and the first of the merging, then the unmerge whole.
pub fn ksm_scan(size: usize) -> Result<(), RecipeError> {
    if !std::path::Path::new(KSM).join("run").exists() {
        return Err(RecipeError::Unavailable(format!(
            "{KSM}/run: no KSM in this kernel (CONFIG_KSM)"
        )));
    }
    let _saved = Saved(vec![
        ("run", read("run")?),
        ("sleep_millisecs", read("sleep_millisecs")?),
        ("pages_to_scan", read("pages_to_scan")?),
    ]);
    // Every page the same: one byte set, the rest zero (the mapping lives
    // until the recipe's process exits).
    mergeable_populated(size)?;
    write("sleep_millisecs", "0")?;
    write("pages_to_scan", "4096")?;
    let scans = read_num("full_scans")?;
    write("run", "1")?;
    let started = Instant::now();
    // Tracing is on (the run started it) for the first sample of scanning,
    // and again for the first sample of merging.
    let mut traced = true;
    let mut trace_until = started + MERGE_SAMPLE;
    let mut merging_seen = false;
    loop {
        let done = read_num("full_scans")? >= scans + 2;
        let sharing = read_num("pages_sharing")?;
        if done && sharing > 0 {
            break;
        }
        if sharing > 0 && !merging_seen {
            merging_seen = true;
            tracing(true)?;
            traced = true;
            trace_until = Instant::now() + MERGE_SAMPLE;
        }
        if traced && Instant::now() >= trace_until {
            tracing(false)?;
            traced = false;
        }
        if started.elapsed() > SCAN_DEADLINE {
            return Err(failed(format!(
                "ksmd: {} full scans and {sharing} pages sharing after {} s",
                read_num("full_scans")? - scans,
                SCAN_DEADLINE.as_secs()
            )));
        }
        sleep_us(20_000);
    }
    eprintln!(
        "mmstall-guest confirm: ksm-scan {} MiB: {} pages sharing after {:.1} s",
        size >> 20,
        read_num("pages_sharing")?,
        started.elapsed().as_secs_f64()
    );
    // Unmerges in this task: unmerge_and_remove_all_rmap_items().
    tracing(true)?;
    write("run", "2")?;
    Ok(())
}
