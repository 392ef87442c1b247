//! Scans a kernel console log (or dmesg) for trouble and turns each report into
//! a structured [`Event`]: its kind, its first line, and the first functions of
//! its stack as a fingerprint.
//!
//! Recognized reports: `BUG:`, `WARNING: CPU: ... at ...`, `Oops`, bare
//! `Call Trace:` dumps, hung tasks (`INFO: task ... blocked for more than`),
//! soft and hard lockups, RCU stalls, lockdep splats (`WARNING: possible
//! circular locking dependency detected` and friends), `Bad page state`, and
//! `Kernel panic - not syncing`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Bug,
    Warning,
    Oops,
    HungTask,
    SoftLockup,
    HardLockup,
    RcuStall,
    Lockdep,
    BadPageState,
    Panic,
    /// A stack dump with no recognized header (`dump_stack()`, sysrq, ...).
    CallTrace,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Bug => "bug",
            EventKind::Warning => "warning",
            EventKind::Oops => "oops",
            EventKind::HungTask => "hung-task",
            EventKind::SoftLockup => "soft-lockup",
            EventKind::HardLockup => "hard-lockup",
            EventKind::RcuStall => "rcu-stall",
            EventKind::Lockdep => "lockdep",
            EventKind::BadPageState => "bad-page-state",
            EventKind::Panic => "panic",
            EventKind::CallTrace => "call-trace",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many stack functions go into the fingerprint.
pub const FINGERPRINT_FRAMES: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    /// The report's first line, without the printk timestamp.
    pub first_line: String,
    /// 1-based line number of `first_line` in the scanned log.
    pub line: usize,
    /// Reliable stack functions in order (the faulting RIP first when known),
    /// without offsets and compiler suffixes (`.isra.0`, `.cold`, ...).
    pub functions: Vec<String>,
    /// `kind:f1,f2,...` over the first [`FINGERPRINT_FRAMES`] functions that are
    /// not reporting/scheduler boilerplate.
    pub fingerprint: String,
}

/// Strips the printk prefix: `[   12.345678]`, an optional caller id
/// `[  T123]`/`[C1]`, and a raw `<4>` level.
fn strip_prefix(line: &str) -> &str {
    let mut s = line.trim_end_matches(['\r', '\n']);
    if s.starts_with('<') {
        if let Some(end) = s.find('>') {
            if end <= 3 && s[1..end].bytes().all(|b| b.is_ascii_digit()) {
                s = &s[end + 1..];
            }
        }
    }
    for _ in 0..2 {
        let t = s.trim_start();
        if let Some(rest) = t.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                let inner = rest[..end].trim();
                let is_time =
                    !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                let is_caller = inner.len() > 1
                    && (inner.starts_with('T') || inner.starts_with('C'))
                    && inner[1..].bytes().all(|b| b.is_ascii_digit());
                if is_time || is_caller {
                    s = &rest[end + 1..];
                    if let Some(x) = s.strip_prefix(' ') {
                        s = x;
                    }
                    continue;
                }
            }
        }
        break;
    }
    s
}

const LOCKDEP_WARNINGS: &[&str] = &[
    "possible circular locking dependency",
    "possible recursive locking",
    "inconsistent lock state",
    "bad unlock balance",
    "lock held when returning to user space",
    "held lock freed",
    "suspicious RCU usage",
    "lock order detected",
    "irq lock inversion",
    "Nested lock was not taken",
    "lock held at task exit",
    "locking correctness",
];

/// Recognizes the first line of a report.
fn classify_header(s: &str) -> Option<EventKind> {
    let t = s.trim_start();
    if t.starts_with("Kernel panic - not syncing") {
        return Some(EventKind::Panic);
    }
    if t.contains("BUG: soft lockup") {
        return Some(EventKind::SoftLockup);
    }
    if t.contains("hard LOCKUP") {
        return Some(EventKind::HardLockup);
    }
    if t.starts_with("BUG: Bad page state") || t.starts_with("BUG: Bad page map") {
        return Some(EventKind::BadPageState);
    }
    if t.starts_with("BUG: kernel NULL pointer dereference")
        || t.starts_with("BUG: unable to handle")
    {
        return Some(EventKind::Oops);
    }
    if t.starts_with("BUG:") {
        return Some(EventKind::Bug);
    }
    if t.starts_with("Oops:")
        || t.starts_with("general protection fault")
        || t.starts_with("kernel BUG at")
    {
        return Some(EventKind::Oops);
    }
    if let Some(rest) = t.strip_prefix("WARNING:") {
        if LOCKDEP_WARNINGS.iter().any(|p| rest.contains(p)) {
            return Some(EventKind::Lockdep);
        }
        return Some(EventKind::Warning);
    }
    if t.starts_with("INFO: task ") && t.contains("blocked for more than") {
        return Some(EventKind::HungTask);
    }
    if (t.starts_with("rcu: INFO:") || t.starts_with("INFO: rcu"))
        && (t.contains("stall") || t.contains("self-detected"))
    {
        return Some(EventKind::RcuStall);
    }
    None
}

/// `func+0x1a/0x40` (optionally with ` [module]`) → `func`, with compiler
/// suffixes removed. Returns `(name, reliable)`; frames printed with `? ` are
/// unreliable guesses of the unwinder.
fn parse_frame(s: &str) -> Option<(String, bool)> {
    let t = s.trim();
    let (t, reliable) = match t.strip_prefix("? ") {
        Some(r) => (r.trim_start(), false),
        None => (t, true),
    };
    // Old format: `[<ffffffff81234567>] func+0x../0x..`
    let t = if t.starts_with("[<") {
        let end = t.find(">]")?;
        let rest = t[end + 2..].trim_start();
        match rest.strip_prefix("? ") {
            Some(r) => return parse_frame_sym(r.trim_start()).map(|n| (n, false)),
            None => rest,
        }
    } else {
        t
    };
    parse_frame_sym(t).map(|n| (n, reliable))
}

fn parse_frame_sym(t: &str) -> Option<String> {
    let tok = t.split_whitespace().next()?;
    let (name, off) = tok.split_once('+')?;
    let (a, b) = off.split_once('/')?;
    let hexnum = |x: &str| {
        x.strip_prefix("0x")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()))
    };
    if !hexnum(a) || !hexnum(b) || name.is_empty() {
        return None;
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
    {
        return None;
    }
    Some(clean_function(name))
}

fn clean_function(name: &str) -> String {
    let mut base = name;
    // Drop compiler suffixes: foo.isra.0, foo.constprop.0, foo.part.0, foo.cold, foo.lto_priv.0
    if let Some(dot) = base.find('.') {
        base = &base[..dot];
    }
    base.to_string()
}

/// Functions that say how a report was printed, not where the problem is.
const NOISE_FRAMES: &[&str] = &[
    "dump_stack",
    "dump_stack_lvl",
    "show_stack",
    "sched_show_task",
    "__warn",
    "warn_slowpath_fmt",
    "report_bug",
    "__might_resched",
    "__might_sleep",
    "handle_bug",
    "exc_invalid_op",
    "asm_exc_invalid_op",
    "panic",
    "vpanic",
    "bad_page",
    "print_circular_bug",
    "check_noncircular",
    "check_prev_add",
    "check_prevs_add",
    "validate_chain",
    "__lock_acquire",
    "lock_acquire",
    "lock_release",
    "print_usage_bug",
    "mark_lock",
    "__schedule",
    "schedule",
    "schedule_preempt_disabled",
    "schedule_timeout",
    "io_schedule",
    "watchdog_timer_fn",
    "__hrtimer_run_queues",
    "hrtimer_interrupt",
    "__sysvec_apic_timer_interrupt",
    "sysvec_apic_timer_interrupt",
    "asm_sysvec_apic_timer_interrupt",
    "nmi_cpu_backtrace",
    "nmi_trigger_cpumask_backtrace",
    "rcu_dump_cpu_stacks",
    "print_cpu_stall",
    "check_cpu_stall",
    "rcu_sched_clock_irq",
    "update_process_times",
    "tick_nohz_handler",
    "tick_sched_handle",
    "tick_sched_timer",
];

fn fingerprint(kind: EventKind, functions: &[String]) -> String {
    let meaningful: Vec<&str> = functions
        .iter()
        .map(String::as_str)
        .filter(|f| !NOISE_FRAMES.contains(f) && !f.starts_with("__pfx_"))
        .take(FINGERPRINT_FRAMES)
        .collect();
    format!("{}:{}", kind.as_str(), meaningful.join(","))
}

/// State of the report being read.
struct Open {
    kind: EventKind,
    first_line: String,
    line: usize,
    functions: Vec<String>,
    rip: Option<String>,
    in_trace: bool,
    trace_done: bool,
    lines: usize,
    /// Seen a `Call Trace:` at all (headers after it start a new report).
    saw_trace: bool,
}

impl Open {
    fn finish(self) -> Event {
        let mut functions = Vec::new();
        if let Some(r) = self.rip {
            functions.push(r);
        }
        for f in self.functions {
            if functions.last() != Some(&f) {
                functions.push(f);
            }
        }
        let fingerprint = fingerprint(self.kind, &functions);
        Event {
            kind: self.kind,
            first_line: self.first_line,
            line: self.line,
            functions,
            fingerprint,
        }
    }
}

/// Reports with no stack trace end after this many lines.
const MAX_REPORT_LINES: usize = 400;

/// What a line did to the open report.
enum Step {
    /// Part of the report.
    Keep,
    /// The report's last line.
    End,
    /// The report ended before this line, which may start another one.
    EndBefore,
}

impl Open {
    fn new(kind: EventKind, first_line: &str, line: usize) -> Open {
        Open {
            kind,
            first_line: first_line.to_string(),
            line,
            functions: Vec::new(),
            rip: None,
            in_trace: false,
            trace_done: false,
            lines: 0,
            saw_trace: false,
        }
    }

    /// A bare `Call Trace:` (a warning without a header): a report of its own.
    fn call_trace(line: usize) -> Open {
        Open {
            in_trace: true,
            saw_trace: true,
            ..Open::new(EventKind::CallTrace, "Call Trace:", line)
        }
    }

    /// Reads the next line `s` of the log (`header`: the report it starts).
    fn step(&mut self, s: &str, header: Option<EventKind>) -> Step {
        self.lines += 1;
        // A header inside a report that has not printed its stack yet is part
        // of the same report (`BUG: kernel NULL pointer dereference` followed
        // by `Oops: 0000 [#1]`), except a panic, which is its own event.
        if let Some(k) = header {
            let absorb = !self.saw_trace
                && k != EventKind::Panic
                && self.kind != EventKind::Panic
                && self.lines < 40;
            if absorb {
                if k == EventKind::Oops && self.kind == EventKind::Bug {
                    self.kind = EventKind::Oops;
                }
                return Step::Keep;
            }
            return Step::EndBefore;
        }
        let t = s.trim();
        if t.starts_with("---[ end") {
            return Step::End;
        }
        if let Some(rest) = t.strip_prefix("RIP: ") {
            // `RIP: 0010:func+0x12/0x30`
            if self.rip.is_none() && !self.saw_trace {
                if let Some(sym) = rest.split_once(':').map(|(_, s)| s) {
                    if let Some((name, _)) = parse_frame(sym) {
                        self.rip = Some(name);
                    }
                }
            }
            return Step::Keep;
        }
        if t == "Call Trace:" {
            self.in_trace = true;
            self.trace_done = false;
            self.saw_trace = true;
            return Step::Keep;
        }
        if self.in_trace && self.trace_line(t) {
            return Step::Keep;
        }
        if self.trace_done || self.lines >= MAX_REPORT_LINES {
            // This line may start something else.
            return Step::EndBefore;
        }
        Step::Keep
    }

    /// A line inside a call trace: true when it belongs to the trace (a
    /// frame, a marker, a register dump); otherwise the trace has ended (a
    /// trace without `</TASK>`, the old format).
    fn trace_line(&mut self, t: &str) -> bool {
        match t {
            "<TASK>" | "<IRQ>" | "</IRQ>" | "<NMI>" | "</NMI>" => return true,
            "</TASK>" => {
                self.in_trace = false;
                self.trace_done = true;
                return true;
            }
            _ => {}
        }
        if let Some((name, reliable)) = parse_frame(t) {
            if reliable {
                self.functions.push(name);
            }
            return true;
        }
        // Register dumps inside a trace (`RIP: ...`, `RSP: ...`) and
        // other noise: keep reading until the trace ends.
        if t.is_empty() || looks_like_register_dump(t) {
            return true;
        }
        self.in_trace = false;
        self.trace_done = true;
        false
    }
}

/// Scans a log. Never fails: unknown or garbled lines are skipped.
pub fn scan(log: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let mut open: Option<Open> = None;
    for (i, raw) in log.lines().enumerate() {
        let lineno = i + 1;
        let s = strip_prefix(raw);
        let header = classify_header(s);
        if let Some(cur) = open.as_mut() {
            match cur.step(s, header) {
                Step::Keep => continue,
                Step::End => {
                    events.push(open.take().expect("open").finish());
                    continue;
                }
                Step::EndBefore => events.push(open.take().expect("open").finish()),
            }
        }
        if let Some(kind) = header {
            open = Some(Open::new(kind, s.trim(), lineno));
        } else if s.trim() == "Call Trace:" {
            open = Some(Open::call_trace(lineno));
        }
    }
    if let Some(cur) = open.take() {
        events.push(cur.finish());
    }
    events
}

fn looks_like_register_dump(t: &str) -> bool {
    const REGS: &[&str] = &[
        "RSP:", "RAX:", "RDX:", "RBP:", "R10:", "R13:", "FS:", "CS:", "CR2:", "DR0:", "DR3:",
        "Code:", "PKRU:",
    ];
    REGS.iter().any(|r| t.starts_with(r))
}

/// Counts events by kind, for summaries.
pub fn summarize(events: &[Event]) -> Vec<(EventKind, usize)> {
    let mut counts: std::collections::BTreeMap<EventKind, usize> = Default::default();
    for e in events {
        *counts.entry(e.kind).or_default() += 1;
    }
    counts.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_printk_prefixes() {
        assert_eq!(strip_prefix("[   12.345678] BUG: x"), "BUG: x");
        assert_eq!(strip_prefix("[   12.345678][  T123] BUG: x"), "BUG: x");
        assert_eq!(strip_prefix("<4>[    1.000000] WARNING: y\r"), "WARNING: y");
        assert_eq!(strip_prefix("no prefix"), "no prefix");
        assert_eq!(strip_prefix("[not a time] x"), "[not a time] x");
    }

    #[test]
    fn parses_frames() {
        assert_eq!(
            parse_frame(" down_write+0x2c/0x40"),
            Some(("down_write".into(), true))
        );
        assert_eq!(
            parse_frame(" ? __pfx_down_write+0x10/0x10"),
            Some(("__pfx_down_write".into(), false))
        );
        assert_eq!(
            parse_frame(" vma_alloc.isra.0+0x1/0x2 [mymod]"),
            Some(("vma_alloc".into(), true))
        );
        assert_eq!(
            parse_frame(" [<ffffffff8108b3a5>] do_exit+0x55/0x900"),
            Some(("do_exit".into(), true))
        );
        assert_eq!(
            parse_frame(" [<ffffffff8108b3a5>] ? do_exit+0x55/0x900"),
            Some(("do_exit".into(), false))
        );
        assert_eq!(parse_frame("RSP: 0018:ffffc900"), None);
        assert_eq!(parse_frame("a+b/c"), None);
        assert_eq!(parse_frame(""), None);
    }

    #[test]
    fn garbage_never_panics_and_finds_nothing() {
        let junk = "\u{0}\u{1b}[0m]]][[ BUG\n+0x/0x\n<999999>\n[ 1.0\n[T]\nRIP: \nCall Trace\n";
        assert!(scan(junk).is_empty());
        assert!(scan("").is_empty());
    }

    #[test]
    fn bare_call_trace_is_an_event() {
        let log = "[ 1.0] something\n[ 1.1] Call Trace:\n[ 1.1]  <TASK>\n[ 1.1]  dump_stack_lvl+0x1/0x2\n[ 1.1]  my_func+0x1/0x2\n[ 1.1]  </TASK>\n[ 1.2] ok\n";
        let ev = scan(log);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EventKind::CallTrace);
        assert_eq!(ev[0].line, 2);
        assert_eq!(ev[0].functions, vec!["dump_stack_lvl", "my_func"]);
        assert_eq!(ev[0].fingerprint, "call-trace:my_func");
    }
}
