//! `cairn chat`: a REPL over a stored conversation. Each line is a question; follow-ups
//! are rewritten to stand alone before retrieval. `/new` starts over, `/quit` leaves.

use super::Context;
use super::ask::{Args as AskArgs, answer, print_report, request};
use cairn_types::CollectionId;
use std::io::{BufRead, Write};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Collection to answer from.
    #[arg(long, short, default_value = "default")]
    pub collection: String,
    /// Sources retrieved per question (default: answer.top_k).
    #[arg(long, short = 'k')]
    pub top_k: Option<usize>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let collection = CollectionId::new(args.collection.clone());
    let mut conv = engine
        .create_conversation(&ctx.tenant, None, Some(&collection), "cairn chat")
        .map_err(super::eng)?;
    drop(engine);
    eprintln!(
        "Ask about `{}`. /new starts a new conversation, /quit leaves.",
        args.collection
    );
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let q = line.trim();
        match q {
            "" => continue,
            "/quit" | "/exit" => break,
            "/new" => {
                conv = ctx
                    .engine()?
                    .create_conversation(&ctx.tenant, None, Some(&collection), "cairn chat")
                    .map_err(super::eng)?;
                eprintln!("(new conversation)");
                continue;
            }
            _ => {}
        }
        let ask = AskArgs {
            question: q.to_owned(),
            collection: args.collection.clone(),
            also: Vec::new(),
            conversation: Some(conv.id.to_string()),
            mode: None,
            rerank: None,
            top_k: args.top_k,
            max_tokens: None,
            url: None,
            api_key: None,
        };
        match answer(ctx, None, None, &request(&ask)?) {
            Ok(a) => print_report(&a),
            Err(e) => eprintln!("error: {e:#}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
