//! Running the tool as a Kubernetes Job (examples/in-cluster/): the image cannot be built here, so the example
//! is checked against what it must agree with: its RBAC is exactly what `rbac -f PLAN` prints, its arguments
//! are a command line the binary accepts (in-cluster configuration: no kubeconfig), its service account is
//! the one the RBAC binds, its volume holds every file of the plan and both releases where the plan looks
//! for them, and the Dockerfile's entrypoint is the binary the Job runs.

use clap::Parser;
use k8s_openapi::api::batch::v1::Job;
use operator_upgrade::cli::{Cli, Command};
use std::path::{Path, PathBuf};

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn job() -> Job {
    serde_norway::from_str(&std::fs::read_to_string(repo("examples/in-cluster/job.yaml")).unwrap()).unwrap()
}

fn printed_rbac() -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_operator-upgrade"))
        .current_dir(repo("."))
        .args(["rbac", "-f", "examples/demo-operator/plan.yaml", "--service-account", "demo-system/operator-upgrade"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_example_rbac_is_exactly_what_rbac_prints_for_the_demo_plan() {
    let example = std::fs::read_to_string(repo("examples/in-cluster/rbac.yaml")).unwrap();
    assert!(
        example == printed_rbac(),
        "examples/in-cluster/rbac.yaml is stale: regenerate it with `operator-upgrade rbac -f examples/demo-operator/plan.yaml --service-account demo-system/operator-upgrade > examples/in-cluster/rbac.yaml`"
    );
}

#[test]
fn the_jobs_arguments_are_an_apply_the_binary_accepts_with_in_cluster_configuration() {
    let job = job();
    let pod = job.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    assert!(container.command.is_none(), "the image's entrypoint is the binary");
    let args = container.args.clone().unwrap();
    let cli = Cli::try_parse_from(std::iter::once("operator-upgrade".to_owned()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("the Job's arguments do not parse: {e}"));
    let Command::Apply(apply) = cli.command else { panic!("the Job runs apply: {args:?}") };
    assert!(apply.yes, "a Job has no terminal to confirm at");
    assert!(apply.cluster.kubeconfig.is_none() && apply.cluster.context.is_none(), "in-cluster configuration");
    assert!(args.windows(2).any(|w| w == ["--log-format", "json"]), "logs as JSON lines: {args:?}");

    let rbac = printed_rbac();
    let account = pod.service_account_name.unwrap();
    assert!(rbac.contains(&format!("kind: ServiceAccount\n  name: {account}\n  namespace: demo-system")), "{rbac}");
    assert_eq!(job.metadata.namespace.as_deref(), Some("demo-system"));

    let mount = container.volume_mounts.as_ref().unwrap().iter().find(|m| apply.file.starts_with(&m.mount_path));
    let mount = mount.expect("the plan file is on a mounted volume");
    let volume = pod.volumes.unwrap().into_iter().find(|v| v.name == mount.name).unwrap();
    let items: Vec<PathBuf> =
        volume.config_map.unwrap().items.unwrap().iter().map(|i| Path::new(&mount.mount_path).join(&i.path)).collect();
    let demo = repo("examples/demo-operator");
    let mut needed = vec![Path::new(&mount.mount_path).join("plan.yaml")];
    for release in ["v1.0.0", "v1.1.0"] {
        for file in std::fs::read_dir(demo.join(release)).unwrap() {
            needed.push(Path::new(&mount.mount_path).join(release).join(file.unwrap().file_name()));
        }
    }
    for file in &needed {
        assert!(items.contains(file), "{} is not in the Job's volume: {items:?}", file.display());
    }
    assert!(items.contains(&apply.file));
}

#[test]
fn the_dockerfile_builds_the_binary_the_job_runs_as_its_entrypoint() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    assert!(dockerfile.contains("--bin operator-upgrade"), "{dockerfile}");
    assert!(dockerfile.contains("ENTRYPOINT [\"/operator-upgrade\"]"), "{dockerfile}");
    assert!(dockerfile.contains("distroless/static"), "{dockerfile}");
    let image = job().spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap();
    assert!(image.starts_with("operator-upgrade:"), "{image}");
}
