//! Debug aid: prints the ERROR/MISSING nodes tree-sitter finds in a normalized file.
use mmstall_analyzer::{catalogue::Catalogue, normalize};
fn walk(n: tree_sitter::Node, src: &str, out: &mut Vec<String>) {
    if n.is_error() || n.is_missing() {
        let s = &src[n.start_byte()..n.end_byte().min(n.start_byte() + 80)];
        out.push(format!(
            "{}:{} {} {:?}",
            n.start_position().row + 1,
            n.start_position().column,
            if n.is_missing() { "MISSING" } else { "ERROR" },
            s
        ));
        return;
    }
    let mut c = n.walk();
    for ch in n.children(&mut c) {
        walk(ch, src, out);
    }
}
fn main() {
    let path = std::env::args().nth(1).expect("usage: show_errors FILE");
    let text = std::fs::read_to_string(&path).expect("readable file");
    let n = normalize::normalize(&text, &Catalogue::builtin());
    if std::env::var("DUMP").is_ok() {
        println!("{}", n.text);
    }
    let mut p = mmstall_analyzer::parse::new_parser().expect("parser");
    let t = p.parse(n.text.as_bytes(), None).expect("tree");
    let mut out = vec![];
    walk(t.root_node(), &n.text, &mut out);
    for o in out {
        println!("{o}");
    }
}
