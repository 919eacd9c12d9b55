//! `operator-upgrade schema`: the JSON Schema of the plan file, for editors (YAML language servers read it
//! from a `# yaml-language-server: $schema=...` comment or their settings), or with `--evidence` of the
//! rehearsal evidence `rehearse` writes, or with `--fleet` of the fleet file.

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
    #[arg(long, conflicts_with = "fleet")]
    pub evidence: bool,
    /// The schema of the fleet file (`fleet -f`) instead of the plan file's.
    #[arg(long)]
    pub fleet: bool,
}

/// Prints (or writes) the plan file's (or the evidence's) JSON Schema.
pub fn run_schema(args: &SchemaArgs) -> anyhow::Result<u8> {
    let schema = match (args.evidence, args.fleet) {
        (true, _) => evidence_json_schema(),
        (_, true) => crate::fleet::fleet_file_json_schema(),
        _ => plan_file_json_schema(),
    };
    let mut text = serde_json::to_string_pretty(&schema).context("cannot render the schema")?;
    text.push('\n');
    match &args.output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => write_stdout(&text)?,
    }
    Ok(EXIT_OK)
}
