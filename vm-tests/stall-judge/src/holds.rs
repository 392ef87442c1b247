//! mmap_lock holds from the kernel's trace buffer: the text of
//! `/sys/kernel/tracing/trace` with the `mmap_lock` events enabled and a
//! `stacktrace` trigger on `mmap_lock_acquire_returned` and
//! `mmap_lock_released` → events → holds (acquire paired with release per
//! task and mm). Pure functions, so the guest (which reads the buffer) and
//! the tests share them.
//!
//! Pairing rules (6.12): a hold starts at `acquire_returned` with
//! `success=true` and ends at `released` of the same mode by the same task on
//! the same mm. `mmap_write_downgrade()` emits `acquire_returned write=false`
//! without `start_locking` while the write hold is open: that ends the write
//! hold (end [`HoldEnd::Downgraded`]) and opens a read hold. A hold still
//! open at the end of the trace is [`HoldEnd::Unreleased`], measured to the
//! last event.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How the lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Read,
    Write,
}

impl Mode {
    pub fn word(self) -> &'static str {
        match self {
            Mode::Read => "read",
            Mode::Write => "write",
        }
    }
}

/// Which mmap_lock tracepoint an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    StartLocking,
    AcquireReturned {
        success: bool,
    },
    Released,
    /// A [`PAUSE_MARKER`] or [`RESUME_MARKER`] line: a workload paused
    /// tracing (to bound the trace's size); what was open at either marker
    /// cannot be paired across the pause.
    Paused,
}

/// What a workload writes to `trace_marker` right before it switches
/// tracing off for a while (and the events in between are not in the trace).
pub const PAUSE_MARKER: &str = "mmstall: trace paused";

/// What it writes right after switching tracing back on. Both markers end
/// the open holds: another task may acquire between the pause marker and
/// the switch (traced, its release not), or between the switch and the
/// resume marker (a hold that started in the gap is not in the trace).
pub const RESUME_MARKER: &str = "mmstall: trace resumed";

/// One `mmap_lock` event of the trace, with the stack trace the trigger
/// recorded right after it (outermost frame last), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// 1-based line of the event in the trace text.
    pub line: usize,
    pub comm: String,
    pub pid: u32,
    pub cpu: u32,
    pub ts_ns: u64,
    pub kind: EventKind,
    /// The hashed `mm=` pointer (stable within one boot).
    pub mm: String,
    pub mode: Mode,
    pub stack: Vec<String>,
}

/// The events of a trace and what was not an event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedTrace {
    pub events: Vec<TraceEvent>,
    /// Events the ring buffer dropped (`[LOST N EVENTS]` lines).
    pub lost_events: u64,
    pub warnings: Vec<String>,
}

/// A line of the trace that should have been an `mmap_lock` event but is
/// not readable: named by its line number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("trace line {line}: {msg}: `{text}`")]
pub struct TraceError {
    pub line: usize,
    pub msg: String,
    pub text: String,
}

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldEnd {
    Released,
    /// A write hold ended by `mmap_write_downgrade()`.
    Downgraded,
    /// Still held at the end of the trace (measured to the last event).
    Unreleased,
}

/// One hold of a task's mmap_lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub comm: String,
    pub pid: u32,
    pub mm: String,
    pub mode: Mode,
    pub start_ns: u64,
    pub hold_ns: u64,
    /// From `start_locking` to `acquire_returned` (0 for a trylock or a downgrade).
    pub wait_ns: u64,
    pub end: HoldEnd,
    /// The acquiring kernel stack, innermost first, tracing frames dropped.
    pub acquire_stack: Vec<String>,
    /// The stack where the hold ended (release or downgrade).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub release_stack: Vec<String>,
}

impl Hold {
    /// Whether `function` is a frame of the acquiring or the ending stack.
    pub fn has_frame(&self, function: &str) -> bool {
        self.acquire_stack
            .iter()
            .chain(&self.release_stack)
            .any(|f| f == function)
    }
}

/// The holds paired from a trace, and the events that could not be paired.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pairing {
    pub holds: Vec<Hold>,
    pub warnings: Vec<String>,
}

/// Frames the tracing machinery adds on top of every stack.
fn is_tracing_frame(f: &str) -> bool {
    f.starts_with("trace_event_raw_event_")
        || f.starts_with("__mmap_lock_do_trace_")
        || f.starts_with("perf_trace_")
        || f.starts_with("trace_mmap_lock")
}

/// `__vm_munmap+0x9a/0x120` or `__vm_munmap` → `__vm_munmap`; compiler
/// suffixes (`.isra.0`, `.constprop.0`, `.cold`) dropped so frames compare
/// with source function names.
pub fn frame_name(raw: &str) -> String {
    let name = raw.trim();
    let name = name.split(['+', ' ']).next().unwrap_or(name);
    let name = name.split('.').next().unwrap_or(name);
    name.to_string()
}

/// Parses the header fields of an event line: `COMM-PID [CPU] FLAGS TS: `
/// (the flags column is optional); returns them and the text after `TS: `.
fn parse_header(l: &str) -> Option<(String, u32, u32, u64, &str)> {
    let open = l.find(" [")?;
    let close = open + l[open..].find(']')?;
    let (comm, pid) = l[..open].trim().rsplit_once('-')?;
    let pid: u32 = pid.parse().ok()?;
    let cpu: u32 = l[open + 2..close].trim().parse().ok()?;
    let rest = &l[close + 1..];
    // The timestamp is the first token ending in ':' that is a number.
    let mut off = 0;
    for tok in rest.split_inclusive(' ') {
        let t = tok.trim();
        off += tok.len();
        if let Some(num) = t.strip_suffix(':') {
            if let Some(ns) = parse_seconds(num) {
                return Some((comm.to_string(), pid, cpu, ns, rest[off..].trim_start()));
            }
        }
    }
    None
}

/// `24.124426` (seconds, up to 9 decimals) → nanoseconds.
fn parse_seconds(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || frac.len() > 9 || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let frac_ns: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(9 - frac.len() as u32)
    };
    Some(secs * 1_000_000_000 + frac_ns)
}

/// `key=value` of the event's fields (`memcg_path=` may be empty).
fn field<'a>(fields: &'a str, key: &str) -> Option<&'a str> {
    fields.split_whitespace().find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

fn bool_field(fields: &str, key: &str) -> Result<bool, String> {
    match field(fields, key) {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(format!("`{key}={v}` is neither true nor false")),
        None => Err(format!("no `{key}=` field")),
    }
}

/// The trace text → `mmap_lock` events with their stacks. Other events
/// (trace markers) and comment lines are skipped; an `mmap_lock` event line
/// that cannot be read is an error naming the line.
pub fn parse_trace(text: &str) -> Result<ParsedTrace, TraceError> {
    let mut out = ParsedTrace::default();
    // The event a `<stack trace>` entry belongs to: the last one of that task.
    let mut last_of_pid: HashMap<u32, usize> = HashMap::new();
    // The event collecting ` => ` frames now.
    let mut collecting: Option<usize> = None;
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        let err = |msg: String| TraceError {
            line,
            msg,
            text: l.to_string(),
        };
        if let Some(frame) = l.trim_start().strip_prefix("=> ") {
            match collecting {
                Some(ev) => {
                    let f = frame_name(frame);
                    if !is_tracing_frame(&f) {
                        out.events[ev].stack.push(f);
                    }
                }
                None => out.warnings.push(format!(
                    "trace line {line}: a stack frame without its event"
                )),
            }
            continue;
        }
        collecting = None;
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(rest) = t.strip_prefix("CPU:") {
            // `CPU:1 [LOST 12 EVENTS]`
            if let Some(n) = rest
                .split_whitespace()
                .skip_while(|w| *w != "[LOST")
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.lost_events += n;
                continue;
            }
        }
        let Some((comm, pid, cpu, ts_ns, body)) = parse_header(l) else {
            if l.contains("mmap_lock_") {
                return Err(err(
                    "an mmap_lock event line without `COMM-PID [CPU] ... TIMESTAMP:`".into(),
                ));
            }
            out.warnings
                .push(format!("trace line {line}: not an event line, skipped"));
            continue;
        };
        if body.starts_with("<stack trace>") {
            match last_of_pid.get(&pid) {
                Some(&ev) if out.events[ev].stack.is_empty() => collecting = Some(ev),
                _ => out.warnings.push(format!(
                    "trace line {line}: a stack trace of {comm}-{pid} without its event"
                )),
            }
            continue;
        }
        let Some((name, fields)) = body.split_once(": ") else {
            continue;
        };
        if name == "tracing_mark_write" && [PAUSE_MARKER, RESUME_MARKER].contains(&fields.trim()) {
            out.events.push(TraceEvent {
                line,
                comm,
                pid,
                cpu,
                ts_ns,
                kind: EventKind::Paused,
                mm: String::new(),
                mode: Mode::Read,
                stack: Vec::new(),
            });
            continue;
        }
        let kind = match name {
            "mmap_lock_start_locking" => EventKind::StartLocking,
            "mmap_lock_acquire_returned" => EventKind::AcquireReturned {
                success: bool_field(fields, "success").map_err(err)?,
            },
            "mmap_lock_released" => EventKind::Released,
            _ => continue,
        };
        let write = bool_field(fields, "write").map_err(err)?;
        let mm = field(fields, "mm")
            .ok_or_else(|| err("no `mm=` field".into()))?
            .to_string();
        last_of_pid.insert(pid, out.events.len());
        out.events.push(TraceEvent {
            line,
            comm,
            pid,
            cpu,
            ts_ns,
            kind,
            mm,
            mode: if write { Mode::Write } else { Mode::Read },
            stack: Vec::new(),
        });
    }
    Ok(out)
}

/// A hold being measured.
struct Open {
    mode: Mode,
    comm: String,
    start_ns: u64,
    wait_ns: u64,
    stack: Vec<String>,
}

/// Pairs acquisitions with releases per (task, mm); see the module docs.
pub fn pair(events: &[TraceEvent]) -> Pairing {
    let mut out = Pairing::default();
    let mut waiting: HashMap<(u32, &str), u64> = HashMap::new();
    let mut open: HashMap<(u32, &str), Open> = HashMap::new();
    let close = |o: Open, end_ns: u64, end: HoldEnd, stack: &[String], mm: &str, pid: u32| Hold {
        comm: o.comm,
        pid,
        mm: mm.to_string(),
        mode: o.mode,
        start_ns: o.start_ns,
        hold_ns: end_ns.saturating_sub(o.start_ns),
        wait_ns: o.wait_ns,
        end,
        acquire_stack: o.stack,
        release_stack: stack.to_vec(),
    };
    for e in events {
        let key = (e.pid, e.mm.as_str());
        match e.kind {
            EventKind::Paused => {
                // Their ends (or starts) are not in the trace.
                if !open.is_empty() {
                    out.warnings.push(format!(
                        "trace line {}: tracing paused with {} holds open: they are not measured",
                        e.line,
                        open.len()
                    ));
                }
                open.clear();
                waiting.clear();
            }
            EventKind::StartLocking => {
                waiting.insert(key, e.ts_ns);
            }
            EventKind::AcquireReturned { success: false } => {
                waiting.remove(&key);
            }
            EventKind::AcquireReturned { success: true } => {
                let started = waiting.remove(&key);
                if let Some(prev) = open.remove(&key) {
                    if prev.mode == Mode::Write && e.mode == Mode::Read && started.is_none() {
                        out.holds.push(close(
                            prev,
                            e.ts_ns,
                            HoldEnd::Downgraded,
                            &e.stack,
                            &e.mm,
                            e.pid,
                        ));
                    } else {
                        out.warnings.push(format!(
                            "trace line {}: {}-{} acquired mm {} for {} while holding it for {}: the earlier hold is dropped",
                            e.line, e.comm, e.pid, e.mm, e.mode.word(), prev.mode.word()
                        ));
                    }
                }
                open.insert(
                    key,
                    Open {
                        mode: e.mode,
                        comm: e.comm.clone(),
                        start_ns: e.ts_ns,
                        wait_ns: started.map_or(0, |s| e.ts_ns.saturating_sub(s)),
                        stack: e.stack.clone(),
                    },
                );
            }
            EventKind::Released => match open.remove(&key) {
                Some(o) if o.mode == e.mode => {
                    out.holds
                        .push(close(o, e.ts_ns, HoldEnd::Released, &e.stack, &e.mm, e.pid));
                }
                Some(o) => {
                    out.warnings.push(format!(
                        "trace line {}: {}-{} released mm {} for {} but held it for {}",
                        e.line,
                        e.comm,
                        e.pid,
                        e.mm,
                        e.mode.word(),
                        o.mode.word()
                    ));
                }
                None => out.warnings.push(format!(
                    "trace line {}: {}-{} released mm {} ({}) without an acquisition in the trace",
                    e.line,
                    e.comm,
                    e.pid,
                    e.mm,
                    e.mode.word()
                )),
            },
        }
    }
    let last_ns = events.iter().map(|e| e.ts_ns).max().unwrap_or(0);
    let mut rest: Vec<((u32, &str), Open)> = open.into_iter().collect();
    rest.sort_by_key(|(k, o)| (o.start_ns, k.0));
    for ((pid, mm), o) in rest {
        out.holds
            .push(close(o, last_ns, HoldEnd::Unreleased, &[], mm, pid));
    }
    out.holds.sort_by_key(|h| (h.start_ns, h.pid));
    out
}

/// The holds worth reporting: every write hold, every read hold of at
/// least `read_threshold_ns`, and of the shorter read holds the longest of
/// each distinct pair of stacks (acquiring, ending), so that a read-lock
/// holder the workload reached is measured ("short", with its figure)
/// rather than taken for not reached, while the thousands of fault-sized
/// read holds of a run stay a few entries. Kept in start order.
pub fn reportable(holds: Vec<Hold>, read_threshold_ns: u64) -> Vec<Hold> {
    // Index in `holds` of the longest short read hold of each stack pair.
    let mut longest: HashMap<(&[String], &[String]), usize> = HashMap::new();
    for (i, h) in holds.iter().enumerate() {
        if h.mode != Mode::Read || h.hold_ns >= read_threshold_ns {
            continue;
        }
        let key = (h.acquire_stack.as_slice(), h.release_stack.as_slice());
        let best = longest.entry(key).or_insert(i);
        if holds[*best].hold_ns < h.hold_ns {
            *best = i;
        }
    }
    let mut keep_short: Vec<usize> = longest.into_values().collect();
    keep_short.sort_unstable();
    holds
        .iter()
        .enumerate()
        .filter(|(i, h)| {
            h.mode == Mode::Write
                || h.hold_ns >= read_threshold_ns
                || keep_short.binary_search(i).is_ok()
        })
        .map(|(_, h)| h.clone())
        .collect()
}

#[cfg(test)]
#[path = "holds_tests.rs"]
mod tests;
