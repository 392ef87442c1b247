use mmstall_analyzer::{catalogue::Catalogue, parse, source};
fn main() {
    let root = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let cat = Catalogue::builtin();
    let mut p = parse::new_parser().unwrap();
    let (mut nf, mut ne) = (0, 0);
    let t = std::time::Instant::now();
    let mut bytes = 0;
    for f in source::discover(&root) {
        let Ok(sf) = source::read_text(&root, &f) else {
            continue;
        };
        bytes += sf.text.len();
        let ir = parse::parse_file(&mut p, &sf.text, 0, &cat).unwrap();
        for func in &ir.functions {
            nf += 1;
            if func.has_parse_error {
                ne += 1;
                if std::env::var("SHOW").is_ok() {
                    println!("ERR {}:{} {}", sf.rel, func.line, func.name);
                }
            }
        }
    }
    println!(
        "functions {nf} with errors {ne} ({:.2}%) bytes {bytes} in {:?}",
        100.0 * ne as f64 / nf as f64,
        t.elapsed()
    );
}
