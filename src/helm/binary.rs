//! The `helm` binary: found on PATH or given with `--helm`, its version checked, and run to render charts
//! (`helm template`) and read their defaults (`helm show values`). Charts are Go templates with sprig and
//! Helm's own functions: only helm renders them faithfully, so the tool never templates by itself.

use super::HelmError;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest helm the tool works with: Helm 4 applies server-side, takes `--server-side=auto` and runs
/// post-renderers as plugins, which promotion through Helm relies on.
pub const MIN_HELM: semver::Version = semver::Version::new(4, 0, 0);

/// What to tell a user without a usable helm.
pub const INSTALL_HINT: &str = "install helm 4 (https://helm.sh/docs/intro/install/, or build it with \
controlplane/build-helm.sh) and put it on PATH, or give its path with --helm";

/// A helm binary whose version is known to be usable.
#[derive(Debug, Clone)]
pub struct Helm {
    path: PathBuf,
    version: semver::Version,
}

/// One `helm template` call: the chart, the release it renders for, the values and the cluster it targets.
#[derive(Debug, Clone, Default)]
pub struct TemplateRequest {
    /// The release name (`.Release.Name`).
    pub release: String,
    /// The release namespace (`.Release.Namespace`).
    pub namespace: String,
    /// A chart directory or packaged chart (`.tgz`).
    pub chart: PathBuf,
    /// Values written into a file given first (the user's values carried from the old release), if any.
    pub carried_values: Option<Value>,
    /// Values files given after it, in order (`-f`).
    pub values_files: Vec<PathBuf>,
    /// The cluster's version (`--kube-version`), when there is a cluster.
    pub kube_version: Option<String>,
    /// The cluster's API versions (`--api-versions`), when there is a cluster.
    pub api_versions: Vec<String>,
}

impl Helm {
    /// Finds helm: `explicit` when given, else `helm` on PATH; runs `helm version` and checks it is at least
    /// [`MIN_HELM`].
    pub fn find(explicit: Option<&Path>) -> Result<Helm, HelmError> {
        let path = match explicit {
            Some(path) => path.to_owned(),
            None => on_path("helm").ok_or(HelmError::Missing { tried: None })?,
        };
        let output = Command::new(&path)
            .args(["version", "--template", "{{.Version}}"])
            .output()
            .map_err(|_| HelmError::Missing { tried: Some(path.clone()) })?;
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() {
            return Err(HelmError::Failed {
                command: format!("{} version", path.display()),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        let version =
            parse_version(&text).ok_or_else(|| HelmError::TooOld { path: path.clone(), found: text.clone() })?;
        if version < MIN_HELM {
            return Err(HelmError::TooOld { path, found: text });
        }
        Ok(Helm { path, version })
    }

    /// The binary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its version (recorded with every run that uses it).
    pub fn version(&self) -> &semver::Version {
        &self.version
    }

    /// Renders a chart with `helm template --include-crds`: every object the chart installs, `crds/` first,
    /// each document after a `# Source: CHART/PATH` comment.
    pub fn template(&self, request: &TemplateRequest) -> Result<String, HelmError> {
        let scratch =
            tempfile::tempdir().map_err(|e| HelmError::Io { what: "a scratch directory".into(), cause: e })?;
        let mut args: Vec<OsString> =
            vec!["template".into(), request.release.clone().into(), request.chart.clone().into()];
        args.extend(["--namespace".into(), request.namespace.clone().into(), "--include-crds".into()]);
        if let Some(values) = &request.carried_values {
            let file = scratch.path().join("carried-values.json");
            std::fs::write(&file, values.to_string())
                .map_err(|e| HelmError::Io { what: file.display().to_string(), cause: e })?;
            args.extend(["--values".into(), file.into()]);
        }
        for file in &request.values_files {
            args.extend(["--values".into(), file.clone().into()]);
        }
        if let Some(version) = &request.kube_version {
            args.extend(["--kube-version".into(), version.into()]);
        }
        for api_version in &request.api_versions {
            args.extend(["--api-versions".into(), api_version.into()]);
        }
        self.run(&args)
    }

    /// The chart's default values (`helm show values`), as an object (empty when the chart has none).
    pub fn default_values(&self, chart: &Path) -> Result<Value, HelmError> {
        let text = self.run(&["show".into(), "values".into(), chart.into()])?;
        let values: Option<Value> = serde_norway::from_str(&text).map_err(|e| HelmError::BadChart {
            chart: chart.to_owned(),
            why: format!("its values.yaml does not parse: {e}"),
        })?;
        Ok(values.filter(|v| !v.is_null()).unwrap_or_else(|| Value::Object(Default::default())))
    }

    /// The chart's `Chart.yaml` (`helm show chart`).
    pub fn chart_metadata(&self, chart: &Path) -> Result<super::ChartMetadata, HelmError> {
        let text = self.run(&["show".into(), "chart".into(), chart.into()])?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ChartYaml {
            name: String,
            version: String,
            #[serde(default)]
            app_version: Option<String>,
        }
        let parsed: ChartYaml = serde_norway::from_str(&text).map_err(|e| HelmError::BadChart {
            chart: chart.to_owned(),
            why: format!("its Chart.yaml does not read: {e}"),
        })?;
        Ok(super::ChartMetadata { name: parsed.name, version: parsed.version, app_version: parsed.app_version })
    }

    fn run(&self, args: &[OsString]) -> Result<String, HelmError> {
        self.run_with(args, &[])
    }

    /// Runs helm with `args` and the environment variables `env` added; its standard output on success.
    pub(super) fn run_with(&self, args: &[OsString], env: &[(&str, &Path)]) -> Result<String, HelmError> {
        let command = || {
            let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            format!("helm {}", shown.join(" "))
        };
        let mut child = Command::new(&self.path);
        child.args(args).envs(env.iter().map(|(k, v)| (*k, *v)));
        dies_with_the_tool(&mut child);
        let output = child
            .output()
            .map_err(|e| HelmError::Io { what: format!("{} ({})", command(), self.path.display()), cause: e })?;
        if !output.status.success() {
            return Err(HelmError::Failed {
                command: command(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        String::from_utf8(output.stdout)
            .map_err(|_| HelmError::Failed { command: command(), stderr: "its output is not UTF-8 text".into() })
    }
}

/// Makes the helm child die (SIGKILL) when the tool dies, however it dies. A helm that outlived a killed
/// run would go on writing the release while the resumed run reads it and rolls a pending revision back:
/// the run's Lease keeps runs apart, not a helm left behind by one. Killed, helm leaves its revision
/// `pending-upgrade`, which the resumed run recovers as Helm documents ([`super::actions::resume`]).
fn dies_with_the_tool(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe functions
    // (prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // The tool died between fork and prctl: the signal will never come, so do not start.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The version `helm version --template '{{.Version}}'` printed (`v4.3.2`, `v3.19.0+g1234`).
pub fn parse_version(text: &str) -> Option<semver::Version> {
    let text = text.trim().trim_start_matches('v');
    let text = text.split_once('+').map_or(text, |(version, _)| version);
    semver::Version::parse(text).ok()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_with_or_without_v_and_build_metadata() {
        assert_eq!(parse_version("v4.3.2"), Some(semver::Version::new(4, 3, 2)));
        assert_eq!(parse_version("v3.19.0+g3d8990f\n"), Some(semver::Version::new(3, 19, 0)));
        assert_eq!(parse_version("v4.3"), None, "a helm built without its version flags says only v4.3");
    }

    #[test]
    fn a_missing_binary_says_what_to_install() {
        let error = Helm::find(Some(Path::new("/nonexistent/helm"))).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/helm") && error.contains("install helm 4"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_helm_3_is_too_old_and_says_what_to_install() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("helm");
        std::fs::write(&fake, "#!/bin/sh\necho v3.19.0+g3d8990f\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = Helm::find(Some(&fake)).unwrap_err();
        assert!(matches!(error, HelmError::TooOld { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("v3.19.0") && text.contains("at least 4.0.0") && text.contains("install helm 4"),
            "{text}"
        );
    }
}
