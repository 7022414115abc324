//! The documentation cannot drift from the command line: every `zkinfer` command shown in
//! a code block of the README, the guides (docs/*.md) and the READMEs of clients/,
//! contracts/ and benches/ is parsed by the real parser, so a renamed subcommand or flag
//! fails here. Synopsis notation is read as a user would: `[--opt V]` as given, `A|B` and
//! `[X | Y]` as their first alternative, `...` dropped, placeholders (`DIR`, `K`) as values
//! (a placeholder the parser refuses as a number is fine; an unknown flag is not). And
//! docs/cli.md has a section for every subcommand.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, error::ErrorKind};
use zkinfer_prover::cli::Cli;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn documents() -> Vec<PathBuf> {
    let r = root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(r.join("docs"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.push(r.join("README.md"));
    for d in ["clients/python/README.md", "contracts/README.md", "benches/compare/README.md", "fixtures/bad/README.md"]
    {
        if r.join(d).exists() {
            docs.push(r.join(d));
        }
    }
    docs
}

/// The command lines in a document's code blocks, continuation lines joined (a trailing
/// `\`, or the indented lines of a synopsis).
fn code_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut in_block = false;
    let mut continued = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continued = false;
            continue;
        }
        if !in_block {
            continue;
        }
        let synopsis_more = line.starts_with("  ") && out.last().is_some_and(|l| l.starts_with("zkinfer "));
        if (continued || synopsis_more) && !out.is_empty() {
            let last = out.last_mut().unwrap();
            last.push(' ');
            last.push_str(line.trim());
        } else {
            out.push(line.trim().to_string());
        }
        continued = out.last().is_some_and(|l| l.ends_with('\\'));
        if continued {
            let last = out.last_mut().unwrap();
            last.pop();
        }
    }
    out
}

/// The arguments after `zkinfer` of a documented command, or `None` when the line runs
/// something else.
fn zkinfer_args(line: &str) -> Option<Vec<String>> {
    // Comments, then the first alternative of bracketed `X | Y` groups, before the line is
    // cut at shell pipes and `&&`.
    let mut s = match line.find(" #") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    };
    while let Some(open) = s.find('[') {
        let Some(close) = s[open..].find(']').map(|c| open + c) else { break };
        let inner = s[open + 1..close].split(" | ").next().unwrap_or("").to_string();
        s = format!("{}{}{}", &s[..open], inner, &s[close + 1..]);
    }
    for sep in [" | ", " && ", " ; "] {
        if let Some(i) = s.find(sep) {
            s.truncate(i);
        }
    }
    let s = s.trim().trim_end_matches('&').trim().replace("...", "");
    let words = shell_words(&s);
    let mut w = words.iter().skip_while(|t| t.contains('=') && !t.starts_with('-')).peekable();
    let first = w.next()?;
    let rest: Vec<String> = match first.as_str() {
        "zkinfer" | "target/release/zkinfer" | "target/debug/zkinfer" | "./target/release/zkinfer" => {
            w.cloned().collect()
        }
        "cargo" => {
            let all: Vec<&String> = w.collect();
            if all.first().map(|s| s.as_str()) != Some("run") {
                return None;
            }
            let dash = all.iter().position(|t| *t == "--")?;
            all[dash + 1..].iter().map(|s| s.to_string()).collect()
        }
        _ => return None,
    };
    // `ID|NAME` placeholders: the first alternative.
    Some(
        rest.into_iter()
            .map(|t| if t.starts_with('-') { t } else { t.split('|').next().unwrap().to_string() })
            .collect(),
    )
}

/// Whitespace-separated words with '…' and "…" quoting.
fn shell_words(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (vec![], String::new(), None, false);
    for c in s.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[test]
fn every_documented_command_parses() {
    let mut checked = 0;
    let mut failures = vec![];
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for line in code_lines(&text) {
            let Some(args) = zkinfer_args(&line) else { continue };
            checked += 1;
            let argv = std::iter::once("zkinfer".to_string()).chain(args.iter().cloned());
            match Cli::try_parse_from(argv) {
                Ok(_) => {}
                // Help and version requests, and a placeholder where a number goes, are fine.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::DisplayHelp
                            | ErrorKind::DisplayVersion
                            | ErrorKind::ValueValidation
                            | ErrorKind::InvalidValue
                    ) => {}
                Err(e) => failures.push(format!(
                    "{}: `{line}`: {}",
                    doc.strip_prefix(root()).unwrap_or(&doc).display(),
                    e.render().to_string().lines().next().unwrap_or("")
                )),
            }
        }
    }
    assert!(failures.is_empty(), "documented commands the CLI does not take:\n{}", failures.join("\n"));
    // The README's demo, every synopsis of docs/cli.md, the guides' examples.
    eprintln!("{checked} documented zkinfer commands parse");
    assert!(checked >= 20, "only {checked} documented zkinfer commands found");
}

#[test]
fn the_cli_reference_covers_every_subcommand() {
    let cli_md = std::fs::read_to_string(root().join("docs/cli.md")).unwrap();
    let lines = code_lines(&cli_md);
    for sub in Cli::command().get_subcommands() {
        let name = sub.get_name();
        let shown = lines.iter().any(|l| l.starts_with(&format!("zkinfer {name}")));
        assert!(shown, "docs/cli.md shows no `zkinfer {name} ...` synopsis");
    }
}

#[test]
fn the_reader_reads_synopses_as_a_user_would() {
    let args = |l: &str| zkinfer_args(l).unwrap().join(" ");
    assert_eq!(
        args("zkinfer prove DIR --input IN.json [--row N] [--binding HEX | --job-id HEX --prover ADDR] -o P.json"),
        "prove DIR --input IN.json --row N --binding HEX -o P.json"
    );
    assert_eq!(args("zkinfer submit --model ID|NAME --token T..."), "submit --model ID --token T");
    assert_eq!(
        args("ZKINFER_CHAIN_KEY=0x1 zkinfer evm deploy D --chain-rpc 'http://x' &"),
        "evm deploy D --chain-rpc http://x"
    );
    assert_eq!(args("cargo run --release -- demo   # the demo"), "demo");
    assert!(zkinfer_args("curl -s x | grep zkinfer_proofs_total").is_none());
    assert!(zkinfer_args("cargo build --release").is_none());
    assert!(zkinfer_args("grpcurl -plaintext 127.0.0.1:50051 describe zkinfer.v1.SubmitJobRequest").is_none());
    // A renamed flag is caught.
    let argv = std::iter::once("zkinfer".to_string()).chain(zkinfer_args("zkinfer compile M --calib C -o D").unwrap());
    assert_eq!(Cli::try_parse_from(argv).err().map(|e| e.kind()), Some(ErrorKind::UnknownArgument));
    assert_eq!(code_lines("```\nzkinfer compile M \\\n  --force\n```\n"), ["zkinfer compile M  --force"]);
}
