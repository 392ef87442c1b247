//! How a hit of a lock-hold rule (MMS001-MMS004) becomes a finding: the
//! holder, the call path down to the long call, where the hold comes from,
//! the message in the rule's words, and the fingerprint.

use super::Rule;
use crate::finding::{fingerprint, Finding, Location};
use crate::lockstate::{is_other, ConstMap, Held, ORIGIN_ENTRY};
use crate::summary::{Hit, Program};

/// Builds the finding for a hit whose chain starts at the holder.
pub fn finding(rule: &Rule, program: &Program, hit: &Hit, context: &ConstMap) -> Finding {
    let (holder_id, _) = hit.chain.first();
    let holder = program.function(holder_id);
    let (site_id, site_call) = hit.chain.last();
    let site = program.function(site_id);
    let call = &site.calls[site_call as usize];
    let call_path: Vec<String> = hit
        .chain
        .iter()
        .map(|(f, _)| program.function(f).name.clone())
        .collect();
    let acquired_at = if hit.acquired == ORIGIN_ENTRY {
        Location {
            file: program.files[holder.file as usize].clone(),
            line: holder.entry_hint.map(|h| h.line).unwrap_or(holder.line),
        }
    } else {
        Location {
            file: program.files[holder.file as usize].clone(),
            line: holder.calls[(hit.acquired - 1) as usize].line,
        }
    };
    let mode = match hit.site_held {
        Held::Write => "write",
        _ => "read",
    };
    let how = if hit.acquired == ORIGIN_ENTRY {
        format!("is entered with the mmap lock held for {mode} and keeps it")
    } else {
        format!(
            "holds the mmap lock for {mode} (`{}`)",
            holder.calls[(hit.acquired - 1) as usize].callee
        )
    };
    let what = rule.check.operation();
    let in_loop = if call.in_loop
        && program
            .cat
            .long_ops
            .get(&call.callee)
            .is_some_and(|o| o.in_loop)
    {
        " in a loop"
    } else {
        ""
    };
    let message = format!(
        "`{}` {how} across {what}: `{}`{in_loop}",
        holder.name, call.callee
    );
    let call_text = format!("{}({})", call.callee, call.args.join(", "));
    let occurrence = site.calls[..site_call as usize]
        .iter()
        .filter(|c| c.callee == call.callee && c.args == call.args)
        .count();
    let file = program.files[site.file as usize].clone();
    let mut context: Vec<String> = context
        .iter()
        .map(|(k, v)| match *v {
            v if is_other(v) => format!("{k}=other"),
            v if crate::lockstate::bits_of(v).is_some() => {
                let bits = crate::lockstate::bits_of(v).unwrap_or_default();
                match crate::cfg::symbol_name(bits) {
                    Some(name) => format!("{k}=…|{name}"),
                    None => format!("{k}=…|{bits}"),
                }
            }
            v if crate::symbolic::is_lacks_bits(v) => {
                format!("{k}=…&~({})", or_of_names(crate::symbolic::lacked_flags(v)))
            }
            v if crate::symbolic::is_composite(v) => {
                format!("{k}={}", or_of_names(crate::symbolic::members_of(v)))
            }
            v => match crate::cfg::symbol_name(v) {
                Some(name) => format!("{k}={name}"),
                None => format!("{k}={v}"),
            },
        })
        .collect();
    context.sort();
    let fingerprint = fingerprint(&[
        rule.id,
        &file,
        &holder.name,
        &site.name,
        &call_text,
        &occurrence.to_string(),
        &call_path.join(">"),
    ]);
    Finding {
        rule: rule.id,
        code: rule.code,
        severity: rule.default_severity,
        file,
        line: call.line,
        column: call.column,
        function: site.name.clone(),
        holder: holder.name.clone(),
        call_path,
        operation: call.callee.clone(),
        lock_mode: mode,
        acquired_at,
        held_on_entry: hit.acquired == ORIGIN_ENTRY,
        context,
        message,
        fingerprint,
        call_text,
        site_id: String::new(),
        triggers: Vec::new(),
        context_callers: Vec::new(),
        measured: None,
    }
}

/// Flags by name where the source named them, or'ed (`VM_SHARED|VM_MAYSHARE`).
fn or_of_names(flags: Option<Vec<i64>>) -> String {
    let names: Vec<String> = flags
        .unwrap_or_default()
        .into_iter()
        .map(|m| crate::cfg::symbol_name(m).unwrap_or_else(|| m.to_string()))
        .collect();
    names.join("|")
}
