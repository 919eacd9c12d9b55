//! The command line: argument definitions and the commands they run. `main.rs` only parses and calls
//! [`run`]; everything here returns an exit code so the contract in docs/reference/exit-codes.md is kept in one place.

mod apply;
mod completions;
mod demo;
mod docs;
mod fleet;
mod plan;
mod rbac;
mod rehearse;
mod schema;
mod validate;

pub use apply::{run_apply, run_finalize, run_rollback, run_status, ApplyArgs, FinalizeArgs, RollbackArgs, StatusArgs};
pub use completions::{
    completion_script, man_pages, run_completions, run_man, write_man_pages, CompletionsArgs, ManArgs, ManPage,
    KUBECTL_PLUGIN_NAME,
};
pub use demo::{run_demo, DemoArgs};
pub use docs::{
    anchor, fixtures_by_code, reference_pages, run_docs, stale_message, stale_pages, write_pages, DocsArgs,
    FixtureIndex, ReferencePage, REGENERATE_COMMAND,
};
pub use fleet::{run_fleet, FleetAction, FleetArgs, FleetStatusArgs};
pub use plan::{run_plan, PlanArgs};
pub use rbac::{run_rbac, RbacArgs};
pub use rehearse::{run_rehearse, RehearseArgs};
pub use schema::{run_schema, SchemaArgs};
pub use validate::{run_validate, ValidateArgs};

use crate::findings::Severity;
use crate::manifest::{load_side, ManifestSet};
use crate::report::{Detail, OutputFormat};
use crate::sim::{kubeconfig_text, Scenario, Sim};
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code: success, nothing at or above `--fail-on`.
pub const EXIT_OK: u8 = 0;
/// Exit code: findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Upgrade a Kubernetes operator safely: diff releases, classify every change by risk, roll out guarded.
#[derive(Debug, Parser)]
#[command(name = "operator-upgrade", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// The format of the diagnostic logs on standard error (level from RUST_LOG, default warn).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per log record.
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diff two releases' CRDs and classify every change by risk (with a cluster: the live plan too).
    Plan(PlanArgs),
    /// Run the plan against the cluster up to promotion: preflight, gates, Jobs, expand, rollout, analysis.
    Apply(ApplyArgs),
    /// Complete a promoted run: storage migration, old versions removed, CRDs and RBAC as shipped.
    Finalize(FinalizeArgs),
    /// Undo a run that is not finalized, restoring everything it recorded.
    Rollback(RollbackArgs),
    /// Show the runs the cluster's journals hold.
    Status(StatusArgs),
    /// Rehearse the plan on a staging cluster: apply, a timed rollback drill, apply again; writes the
    /// evidence `apply --rehearsal` takes.
    Rehearse(RehearseArgs),
    /// Apply the plan to waves of clusters (a fleet file), each wave after the one before is promoted and
    /// soaked; `fleet status` shows every cluster's run.
    Fleet(FleetArgs),
    /// Print the least-privilege ServiceAccount, ClusterRole, Roles and bindings a run of the plan needs.
    Rbac(RbacArgs),
    /// Show the whole upgrade on the built-in simulator: a bad release caught on a canary and rolled back,
    /// then the good release promoted and finalized.
    Demo(DemoArgs),
    /// Run the simulated Kubernetes API server (a test and demo aid, not a cluster) until Ctrl-C.
    Sim(SimArgs),
    /// Print the JSON Schema of the plan file (for editors).
    Schema(SchemaArgs),
    /// Check existing objects against the new CRDs: data pruned, defaults applied, values the new schemas reject.
    Validate(ValidateArgs),
    /// Print a shell completion script to standard output.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output, or write one page per command with --out-dir.
    Man(ManArgs),
    /// Stand in for the kubelet on a control plane without nodes (a test aid for `controlplane/run.sh`).
    #[command(hide = true)]
    NodeAgent(NodeAgentArgs),
    /// Write or check the reference pages generated from the code (`docs/reference/`; for the project itself).
    #[command(hide = true)]
    Docs(DocsArgs),
    /// Helm's post-renderer during a promotion through Helm: the expanded CRDs swapped into what Helm
    /// rendered (standard input to standard output); run by the plugin the run writes, not by people.
    #[command(hide = true, name = "helm-post-render")]
    HelmPostRender(HelmPostRenderArgs),
}

/// Arguments of `helm-post-render`.
#[derive(Debug, clap::Args)]
pub struct HelmPostRenderArgs {
    /// The expanded CRDs (a JSON list) the run wrote beside the plugin.
    #[arg(long, value_name = "FILE")]
    pub crds: PathBuf,
}

/// Arguments of `node-agent`.
#[derive(Debug, clap::Args)]
pub struct NodeAgentArgs {
    /// The control plane's kubeconfig.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: PathBuf,
    /// The name of the Node it registers and runs Pods on.
    #[arg(long, default_value = "operator-upgrade-node")]
    pub node: String,
    /// A scenario file whose operator images the agent runs as real controllers in their Pods.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// The image table of real operator binaries (`controlplane/build-operators.sh` prints it): Pods with
    /// these images run the binary as a process. Needs --pod-network and --api-server.
    #[arg(long, value_name = "FILE", requires_all = ["pod_network", "api_server"])]
    pub images: Option<PathBuf>,
    /// The Pod network real containers run in: BRIDGE,GATEWAY/PREFIX,NAMESPACE-PREFIX,PODS-DIR,LOGS-DIR.
    #[arg(long, value_name = "SPEC")]
    pub pod_network: Option<String>,
    /// The API server as Pods reach it (KUBERNETES_SERVICE_HOST and _PORT): HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub api_server: Option<String>,
}

/// Arguments of `sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The scenario file: manifests to load, populations, image behaviours, faults.
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Write a kubeconfig for the simulator here (for kubectl and `--kubeconfig`).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
}

/// The options every reporting command (`plan`, `validate`) shares: format, filter, colour, exit threshold.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Exit 1 when any finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = FailOn::Breaking)]
    pub fail_on: FailOn,
    /// Text output: show every finding at or above this severity, one by one, instead of the default (warnings
    /// and above in full, info one line per code per CRD); findings about objects stay grouped (--each lists
    /// them one by one). Hidden findings are still counted and still count for --fail-on. JSON, markdown, SARIF
    /// and GitHub always carry every finding (those about objects grouped).
    #[arg(long, value_enum)]
    pub min_severity: Option<MinSeverity>,
    /// Text output: show every finding one by one (the same as --min-severity info), those about objects too
    /// (as --each).
    #[arg(long, short = 'v', conflicts_with = "min_severity")]
    pub verbose: bool,
    /// List the findings about existing objects one by one, in every format, instead of grouped (identical
    /// findings across objects, as one entry with the count and the first objects). `-v` does it in text. They
    /// are kept in a temporary file meanwhile, not in memory.
    #[arg(long)]
    pub each: bool,
    /// Colour the text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl ReportArgs {
    /// What the output shows: the threshold and how much detail. Only the text output is shaped by
    /// `--min-severity` and `-v`; the machine formats and markdown keep every finding.
    pub(crate) fn selection(&self) -> (Severity, Detail) {
        match (self.output, self.min_severity, self.verbose) {
            (OutputFormat::Text, Some(min), _) => (min.into(), Detail::Every),
            (OutputFormat::Text, None, true) => (Severity::Info, Detail::Every),
            (OutputFormat::Text, None, false) => (Severity::Info, Detail::Summary),
            (OutputFormat::Json | OutputFormat::Markdown | OutputFormat::Sarif | OutputFormat::Github, _, _) => {
                (Severity::Info, Detail::Every)
            }
        }
    }

    /// Whether the objects' findings are listed one by one (`--each`, or `-v` in text).
    pub(crate) fn each(&self) -> bool {
        self.each || (self.output == OutputFormat::Text && self.verbose)
    }

    /// Writes a report to standard output as it is rendered and returns the exit code for the counted
    /// severities.
    pub(crate) fn finish(
        &self,
        render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
        mut severities: impl Iterator<Item = Severity>,
    ) -> anyhow::Result<u8> {
        let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        match render(&mut stdout).and_then(|()| stdout.flush()) {
            // A closed pipe (`| head`) is the reader's choice, not an error of ours.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("cannot write the report to standard output")?,
        }
        let failed = self.fail_on.threshold().is_some_and(|t| severities.any(|s| s >= t));
        Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
    }
}

/// `--fail-on`: the lowest severity that makes the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Only blockers fail.
    Blocker,
    /// Breaking changes and blockers fail.
    Breaking,
    /// Warnings and above fail.
    Warning,
    /// Never fail on findings.
    Never,
}

impl FailOn {
    pub(crate) fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Blocker => Some(Severity::Blocker),
            FailOn::Breaking => Some(Severity::Breaking),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Never => None,
        }
    }
}

/// `--min-severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MinSeverity {
    /// Show everything.
    Info,
    /// Hide info.
    Warning,
    /// Show breaking and blocker only.
    Breaking,
    /// Show blockers only.
    Blocker,
}

impl From<MinSeverity> for Severity {
    fn from(value: MinSeverity) -> Severity {
        match value {
            MinSeverity::Info => Severity::Info,
            MinSeverity::Warning => Severity::Warning,
            MinSeverity::Breaking => Severity::Breaking,
            MinSeverity::Blocker => Severity::Blocker,
        }
    }
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    pub(crate) fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// Runs a parsed command line and returns the process exit code; errors are printed to stderr.
pub fn run(cli: Cli) -> ExitCode {
    init_logs(cli.log_format);
    let result = match cli.command {
        Command::Plan(args) => run_plan(&args),
        Command::Apply(args) => run_apply(&args),
        Command::Finalize(args) => run_finalize(&args),
        Command::Rollback(args) => run_rollback(&args),
        Command::Status(args) => run_status(&args),
        Command::Rehearse(args) => run_rehearse(&args),
        Command::Rbac(args) => run_rbac(&args),
        Command::Fleet(args) => run_fleet(&args, cli.log_format),
        Command::Demo(args) => run_demo(&args),
        Command::Sim(args) => run_sim(&args),
        Command::Schema(args) => run_schema(&args),
        Command::Validate(args) => run_validate(&args),
        Command::Completions(args) => run_completions(&args),
        Command::Man(args) => run_man(&args),
        Command::NodeAgent(args) => run_node_agent(&args),
        Command::Docs(args) => run_docs(&args),
        Command::HelmPostRender(args) => run_helm_post_render(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            if let Some(next) = next_step(&error) {
                eprintln!("  next: {next}");
            }
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// What resolves an error, from the first cause in its chain that knows.
fn next_step(error: &anyhow::Error) -> Option<&'static str> {
    error.chain().find_map(|cause| {
        if let Some(engine) = cause.downcast_ref::<crate::engine::EngineError>() {
            return engine.next_step();
        }
        if let Some(cluster) = cause.downcast_ref::<crate::cluster::ClusterError>() {
            return cluster.next_step();
        }
        cause.downcast_ref::<crate::plan::file::PlanFileError>().map(|_| crate::engine::PLAN_FILE_NEXT_STEP)
    })
}

pub(crate) fn load(path: &Path, side: &str) -> anyhow::Result<ManifestSet> {
    load_side(path).with_context(|| format!("cannot load the {side} release"))
}

/// The async runtime of a command that talks to a cluster or serves one.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

fn run_sim(args: &SimArgs) -> anyhow::Result<u8> {
    let scenario = Scenario::load(&args.scenario)?;
    runtime()?.block_on(async {
        let sim = Sim::start_on(scenario, args.port).await.context("cannot start the simulator")?;
        if let Some(path) = &args.kubeconfig_out {
            std::fs::write(path, kubeconfig_text(sim.addr()))
                .with_context(|| format!("cannot write the kubeconfig to {}", path.display()))?;
        }
        // The first line is the contract for scripts and tests waiting for the server to be ready.
        println!("simulator listening on {}", sim.url());
        sim.wait_for_ctrl_c().await;
        Ok(EXIT_OK)
    })
}

fn run_helm_post_render(args: &HelmPostRenderArgs) -> anyhow::Result<u8> {
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    crate::helm::post_render::post_render(&args.crds, &mut input, &mut output)?;
    Ok(0)
}

fn run_node_agent(args: &NodeAgentArgs) -> anyhow::Result<u8> {
    let scenario = args.scenario.as_deref().map(Scenario::load).transpose()?.unwrap_or_default();
    let agent = crate::testbed::node_agent::AgentConfig {
        node: args.node.clone(),
        images: scenario.images,
        seed: scenario.seed,
        real: real_containers(args)?,
    };
    runtime()?.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(&args.kubeconfig)
            .with_context(|| format!("cannot read the kubeconfig {}", args.kubeconfig.display()))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .with_context(|| format!("{} is not a usable kubeconfig", args.kubeconfig.display()))?;
        let client = kube::Client::try_from(config).context("cannot build a client for the control plane")?;
        // The first line is the contract for scripts waiting for the agent.
        println!("node agent running node {}", args.node);
        crate::testbed::node_agent::run(client, agent)
            .await
            .with_context(|| format!("the node agent for {} stopped", args.node))?;
        Ok(EXIT_OK)
    })
}

fn real_containers(args: &NodeAgentArgs) -> anyhow::Result<Option<crate::testbed::real_container::RealContainers>> {
    use crate::testbed::{pod_sandbox::PodNetwork, real_container::RealContainers};
    let (Some(images), Some(network), Some(api)) = (&args.images, &args.pod_network, &args.api_server) else {
        return Ok(None);
    };
    let images = RealContainers::read_images(images).map_err(anyhow::Error::msg)?;
    let network = PodNetwork::parse(network).map_err(|e| anyhow::anyhow!("--pod-network: {e}"))?;
    let (api_host, api_port) =
        api.rsplit_once(':').ok_or_else(|| anyhow::anyhow!("--api-server `{api}` is not HOST:PORT"))?;
    let api_port = api_port.parse().with_context(|| format!("--api-server `{api}`: the port"))?;
    Ok(Some(RealContainers { images, network, api_host: api_host.to_owned(), api_port }))
}

pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        // A closed pipe (`| head`) is the reader's choice, not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}
