//! `operator-upgrade schema`: the JSON Schema of the plan file, for editors (YAML language servers read it
//! from a `# yaml-language-server: $schema=...` comment or their settings), or with `--evidence` of the
//! rehearsal evidence `rehearse` writes.

use super::{write_stdout, EXIT_OK};
use crate::engine::rehearsal::evidence_json_schema;
use crate::plan::file::plan_file_json_schema;
use anyhow::Context;
use std::path::PathBuf;

/// Arguments of `schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write the schema to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The schema of the rehearsal evidence (`rehearse --evidence-out`) instead of the plan file's.
    #[arg(long)]
    pub evidence: bool,
}

/// Prints (or writes) the plan file's (or the evidence's) JSON Schema.
pub fn run_schema(args: &SchemaArgs) -> anyhow::Result<u8> {
    let schema = if args.evidence { evidence_json_schema() } else { plan_file_json_schema() };
    let mut text = serde_json::to_string_pretty(&schema).context("cannot render the schema")?;
    text.push('\n');
    match &args.output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => write_stdout(&text)?,
    }
    Ok(EXIT_OK)
}
