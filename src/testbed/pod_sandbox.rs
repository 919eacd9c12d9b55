//! A Pod's sandbox as a container runtime makes it, with the real tools (`ip`, `unshare`, `mount`, `chroot`):
//! a network namespace with a veth to the test bed's bridge and an address of the bridge's subnet, and a
//! root directory holding the image's binary and the Pod's volumes, entered in a mount and UTS namespace of
//! the process's own (so `/var/run/secrets/kubernetes.io/serviceaccount` is the Pod's and the hostname is the
//! Pod's name). Everything is under names and directories the test bed owns, and [`Sandbox::remove`] takes it
//! all away; `controlplane/run.sh` sweeps whatever a killed agent left.

use super::container_spec::Launch;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::{Child, Command};

/// The test bed's Pod network: a bridge the host holds the gateway address of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    /// The bridge's name.
    pub bridge: String,
    /// The gateway: the bridge's address on the host.
    pub gateway: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// Names of the network namespaces begin with this (`controlplane/run.sh` deletes them by it).
    pub namespace_prefix: String,
    /// Where Pods' root directories go.
    pub pods_dir: PathBuf,
    /// Where Pods' output goes, one file per container.
    pub logs_dir: PathBuf,
}

impl PodNetwork {
    /// Parses `BRIDGE,GATEWAY/PREFIX,NAMESPACE-PREFIX,PODS-DIR,LOGS-DIR` (what `controlplane/run.sh` passes).
    pub fn parse(text: &str) -> Result<PodNetwork, String> {
        let parts: Vec<&str> = text.split(',').collect();
        let [bridge, cidr, namespace_prefix, pods_dir, logs_dir] = parts[..] else {
            return Err(format!("`{text}` is not BRIDGE,GATEWAY/PREFIX,NAMESPACE-PREFIX,PODS-DIR,LOGS-DIR"));
        };
        let (gateway, prefix) = cidr.split_once('/').ok_or_else(|| format!("`{cidr}` is not GATEWAY/PREFIX"))?;
        let gateway = gateway.parse().map_err(|e| format!("`{gateway}`: {e}"))?;
        let prefix =
            prefix.parse().ok().filter(|p| (8..=30).contains(p)).ok_or_else(|| format!("`{cidr}`: prefix 8..30"))?;
        Ok(PodNetwork {
            bridge: bridge.to_owned(),
            gateway,
            prefix,
            namespace_prefix: namespace_prefix.to_owned(),
            pods_dir: pods_dir.into(),
            logs_dir: logs_dir.into(),
        })
    }

    /// The `n`th Pod address of the subnet (the gateway is the first address; Pods follow it).
    pub fn address(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u32 << (32 - self.prefix);
        let offset = u32::from(self.gateway) & (size - 1);
        (offset + n < size - 1).then(|| Ipv4Addr::from(u32::from(self.gateway) + n))
    }
}

/// One Pod's sandbox.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The network namespace's name.
    pub namespace: String,
    /// The Pod's address.
    pub ip: Ipv4Addr,
    /// The Pod's root directory.
    pub root: PathBuf,
    /// The container's log file.
    pub log: PathBuf,
}

/// Runs one `ip` command; its error output becomes the error.
async fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip").args(args).stdin(Stdio::null()).output().await?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim())))
    }
}

impl Sandbox {
    /// Creates the network namespace (veth to the bridge, the address, a default route via the gateway) and
    /// the root directory of the Pod `key` (unique per Pod: namespace, name and UID).
    pub async fn create(network: &PodNetwork, key: &str, index: u32, ip_address: Ipv4Addr) -> io::Result<Sandbox> {
        let namespace = format!("{}{index}", network.namespace_prefix);
        let host_end = format!("{}h{index}", network.namespace_prefix);
        let sandbox = Sandbox {
            namespace: namespace.clone(),
            ip: ip_address,
            root: network.pods_dir.join(key).join("root"),
            log: network.logs_dir.join(format!("{key}.log")),
        };
        // Whatever a previous Pod of this index left (a killed agent) goes first.
        sandbox.remove_network().await;
        ip(&["netns", "add", &namespace]).await?;
        ip(&["link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &namespace]).await?;
        ip(&["link", "set", &host_end, "master", &network.bridge, "up"]).await?;
        let address = format!("{ip_address}/{}", network.prefix);
        ip(&["-n", &namespace, "addr", "add", &address, "dev", "eth0"]).await?;
        ip(&["-n", &namespace, "link", "set", "eth0", "up"]).await?;
        ip(&["-n", &namespace, "link", "set", "lo", "up"]).await?;
        ip(&["-n", &namespace, "route", "add", "default", "via", &network.gateway.to_string()]).await?;
        std::fs::create_dir_all(&sandbox.root)?;
        std::fs::create_dir_all(&network.logs_dir)?;
        Ok(sandbox)
    }

    /// Writes the launch's files and directories into the root (afresh: a restarted container sees its
    /// volumes as they are now), with the mount points the process needs.
    pub fn prepare_root(&self, launch: &Launch) -> io::Result<()> {
        use std::os::unix::fs::{chown, PermissionsExt};
        let inside = |path: &str| self.root.join(path.trim_start_matches('/'));
        for dir in ["proc", "dev", "sys", "tmp"].iter().map(|d| inside(d)).chain(launch.dirs.iter().map(|d| inside(d)))
        {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::set_permissions(inside("tmp"), std::fs::Permissions::from_mode(0o1777))?;
        for dir in &launch.dirs {
            // Empty directories are writable by the container's user, as a kubelet's emptyDir is.
            let (user, group) = (u32::try_from(launch.user.0).ok(), u32::try_from(launch.user.1).ok());
            chown(inside(dir), user, group)?;
        }
        for file in &launch.files {
            let path = inside(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &file.content)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))?;
            chown(&path, u32::try_from(launch.user.0).ok(), u32::try_from(launch.user.1).ok())?;
        }
        let program = inside(&launch.program);
        if let Some(parent) = program.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // The mount point of the image's binary (bound in the process's mount namespace).
        std::fs::write(&program, b"")?;
        Ok(())
    }

    /// Starts the container's process in the sandbox: its own mount and UTS namespaces, `/proc`, `/dev` and
    /// `/sys` bound into the root, the binary bound at the program's path, then `chroot` as the user. Output
    /// is appended to the log; the process leads its own process group (signals reach all of it).
    pub fn spawn(&self, binary: &Path, hostname: &str, launch: &Launch) -> io::Result<Child> {
        const SCRIPT: &str = r#"set -e
chroot_bin=$CHROOT container_path=$CONTAINER_PATH
unset CHROOT CONTAINER_PATH
root=$1 binary=$2 host=$3 user=$4 group=$5
shift 5
hostname "$host"
mount --bind "$binary" "$root$1"
for d in proc dev sys; do mount --rbind "/$d" "$root/$d"; done
PATH=$container_path
exec "$chroot_bin" --userspec="$user:$group" "$root" "$@""#;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let chroot = ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| io::Error::other("chroot is not on this machine"))?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace, "unshare", "--mount", "--uts", "--propagation", "private"])
            .args(["/bin/sh", "-c", SCRIPT, "sh"])
            .arg(&self.root)
            .arg(binary)
            .arg(hostname)
            .arg(launch.user.0.to_string())
            .arg(launch.user.1.to_string())
            .arg(&launch.program)
            .args(&launch.args)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            // The wrapper's tools are found on the host's PATH; the script gives the container its own back.
            .env("CONTAINER_PATH", launch.env.iter().find(|(k, _)| k == "PATH").map_or("", |(_, v)| v.as_str()))
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CHROOT", chroot)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true);
        command.spawn()
    }

    /// Removes the network namespace (with its veth) and the root directory. Processes left in the
    /// namespace are killed first.
    pub async fn remove(&self) {
        self.remove_network().await;
        if let Some(pod_dir) = self.root.parent() {
            let _ = std::fs::remove_dir_all(pod_dir);
        }
    }

    async fn remove_network(&self) {
        if let Ok(output) = Command::new("ip").args(["netns", "pids", &self.namespace]).output().await {
            for pid in String::from_utf8_lossy(&output.stdout).split_whitespace().filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: kill(2) with a pid read from the namespace and SIGKILL has no memory effects.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = ip(&["netns", "delete", &self.namespace]).await;
    }
}

/// Sends `signal` to the process group led by `pid`.
pub fn signal_group(pid: u32, signal: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) on a process group we started; no memory is touched.
        unsafe { libc::kill(-pid, signal) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_parses_and_hands_out_addresses_inside_its_subnet() {
        let network = PodNetwork::parse("oub7,10.213.7.1/24,ou7p,/tmp/pods,/tmp/logs").unwrap();
        assert_eq!((network.bridge.as_str(), network.prefix), ("oub7", 24));
        assert_eq!(network.address(1), Some(Ipv4Addr::new(10, 213, 7, 2)));
        assert_eq!(network.address(253), Some(Ipv4Addr::new(10, 213, 7, 254)));
        assert_eq!(network.address(254), None, "the broadcast address is not a Pod's");
        assert!(PodNetwork::parse("oub7,10.213.7.1,ou7p,/a,/b").is_err());
        assert!(PodNetwork::parse("oub7").is_err());
    }
}
