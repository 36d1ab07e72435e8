//! Helpers of the chart and demo tests: a simulated API server driven by the real kubectl,
//! helm-python-sdk behind `helm.py`, YAML documents.

pub mod session;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use karpenter_ovhcloud_sim::kube::{Config as SimConfig, KubeSim};
use karpenter_ovhcloud_sim::ovh::{
    DEFAULT_APPLICATION_KEY, DEFAULT_APPLICATION_SECRET, DEFAULT_CONSUMER_KEY, DEFAULT_KUBE_ID,
    DEFAULT_REGION, DEFAULT_SERVICE_NAME,
};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The kubectl the machine has (v1.32).
pub const KUBECTL: &str = "/usr/bin/kubectl";
/// The namespace of the guide's install.
pub const NAMESPACE: &str = "karpenter";
/// The release name of the guide's install.
pub const RELEASE: &str = "karpenter-ovhcloud";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is one level below the root")
        .to_path_buf()
}

/// Environment variable selecting the CRD set of a test run: `upstream` installs
/// `../shared/upstream/karpenter/` (upstream Karpenter's NodePool and NodeClaim CRDs, as the
/// guide's install step does) instead of the chart's; `cargo xtask test` runs the guide
/// scenarios and the disruption tests a second time that way.
pub const CRDS_VARIANT: &str = "KARPENTER_OVHCLOUD_TEST_CRDS";

/// Where the `karpenter.sh` CRDs of this test run come from (see [`CRDS_VARIANT`]).
pub fn karpenter_crds_dir() -> PathBuf {
    match std::env::var(CRDS_VARIANT).as_deref() {
        Ok("upstream") => repo().join("../shared/upstream/karpenter"),
        Ok("chart") | Err(_) => chart_dir().join("crds"),
        Ok(other) => panic!("{CRDS_VARIANT}={other}: expected upstream or chart"),
    }
}

/// The chart directory.
pub fn chart_dir() -> PathBuf {
    repo().join("charts/karpenter-ovhcloud")
}

/// Output of a finished command.
#[derive(Debug)]
pub struct Out {
    /// Exit status was 0.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// True when the API server refused the request with 403.
    pub fn forbidden(&self) -> bool {
        self.stderr.contains("Forbidden") || self.stderr.contains("forbidden")
    }
}

/// Runs `cmd` with `stdin`, killing it after `timeout`.
pub async fn run(mut cmd: Command, stdin: Option<&str>, timeout: Duration) -> Out {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let what = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(text.as_bytes())
            .await
            .expect("writing stdin");
        drop(pipe);
    }
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {timeout:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A simulated API server with an admin kubeconfig in a temporary directory.
pub struct Cluster {
    /// The server, kept alive for as long as the cluster is used.
    _sim: KubeSim,
    /// Scratch directory (kubeconfigs, HOME of kubectl).
    pub dir: tempfile::TempDir,
    /// The admin kubeconfig.
    pub admin: PathBuf,
}

impl Cluster {
    /// Starts a server on a loopback port.
    pub async fn start() -> Cluster {
        let sim = KubeSim::start(SimConfig::default())
            .await
            .expect("simulated API server");
        let dir = tempfile::tempdir().expect("temp dir");
        let admin = dir.path().join("admin.kubeconfig");
        sim.write_kubeconfig(&admin).expect("kubeconfig");
        Cluster {
            _sim: sim,
            dir,
            admin,
        }
    }

    /// kubectl flags acting as the service account `namespace/name` with its groups, so RBAC
    /// applies. (Impersonation, because kubectl sends no bearer token over plain HTTP and the
    /// simulator takes a request without credentials for the admin's.)
    pub fn service_account(namespace: &str, name: &str) -> Vec<String> {
        vec![
            format!("--as=system:serviceaccount:{namespace}:{name}"),
            "--as-group=system:serviceaccounts".into(),
            format!("--as-group=system:serviceaccounts:{namespace}"),
            "--as-group=system:authenticated".into(),
        ]
    }

    /// A command with a clean environment pointing at `kubeconfig`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, kubeconfig: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", self.dir.path())
            .env("PATH", "/usr/bin:/bin");
        c
    }

    /// kubectl with `identity` flags (see [`Cluster::service_account`]).
    pub async fn kubectl_as(&self, identity: &[String], args: &[&str], stdin: Option<&str>) -> Out {
        let mut c = self.command(KUBECTL, &self.admin);
        c.args(identity).args(args);
        run(c, stdin, Duration::from_secs(60)).await
    }

    /// kubectl as admin.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Out {
        self.kubectl_as(&[], args, stdin).await
    }

    /// kubectl as admin, which must succeed; returns stdout.
    pub async fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.kubectl(args, stdin).await;
        assert!(
            o.ok,
            "kubectl {args:?} failed\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    /// Installs the chart's CRDs as `helm install` does before the templates.
    pub async fn apply_crds(&self) {
        let crds = chart_dir().join("crds");
        self.ok(&["apply", "-f", crds.to_str().expect("utf-8 path")], None)
            .await;
    }

    /// `kubectl get ARGS -o json`, parsed.
    pub async fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all, None).await).expect("kubectl -o json")
    }
}

/// Every YAML document of `text` that is not empty, as JSON.
pub fn documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Runs `helm.py` (helm-python-sdk) on a request; see its docstring for the shapes.
pub async fn helm(request: &Value) -> Value {
    let mut c = Command::new("python3");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/chart_support/helm.py"));
    let out = run(c, Some(&request.to_string()), Duration::from_secs(180)).await;
    assert!(
        out.ok,
        "helm.py failed (is helm-python-sdk installed? `cargo xtask install-tools`):\n{}",
        out.stderr
    );
    serde_json::from_str(&out.stdout).expect("helm.py answers JSON")
}

/// A file of the guide's `demo/`.
pub fn demo(file: &str) -> PathBuf {
    repo().join("demo").join(file)
}

/// The files the guide pipes through envsubst (the others are applied as they are).
pub const ENVSUBST: [&str; 4] = [
    "01-namespace-secret.yaml",
    "02-ovhnodeclass.yaml",
    "10-ovhnodeclass-monthly.yaml",
    "12-ovhnodeclass-antiaffinity.yaml",
];

/// The variables the guide exports.
pub const GUIDE_VARS: [&str; 6] = [
    "OVH_APPLICATION_KEY",
    "OVH_APPLICATION_SECRET",
    "OVH_CONSUMER_KEY",
    "OVH_SERVICE_NAME",
    "OVH_KUBE_ID",
    "OVH_REGION",
];

/// The guide's exported variables, with the simulated OVH API's project and credentials.
pub fn guide_env(endpoint: Option<&str>) -> Vec<(String, String)> {
    let values = [
        DEFAULT_APPLICATION_KEY,
        DEFAULT_APPLICATION_SECRET,
        DEFAULT_CONSUMER_KEY,
        DEFAULT_SERVICE_NAME,
        DEFAULT_KUBE_ID,
        DEFAULT_REGION,
    ];
    let mut env: Vec<(String, String)> = GUIDE_VARS
        .iter()
        .zip(values)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(e) = endpoint {
        env.push(("OVH_ENDPOINT".into(), e.into()));
    }
    env
}

/// A demo file as the guide applies it: through the real `envsubst` with the guide's variables
/// when the guide says so, else as it is.
pub async fn manifest(file: &str) -> String {
    let text = std::fs::read_to_string(demo(file)).unwrap();
    if !ENVSUBST.contains(&file) {
        return text;
    }
    let mut c = Command::new("/usr/bin/envsubst");
    c.env_clear().envs(guide_env(None));
    let out = run(c, Some(&text), Duration::from_secs(10)).await;
    assert!(out.ok, "envsubst {file}: {}", out.stderr);
    out.stdout
}

/// The `export KEY='value'` lines of the env file `sim` and `demo` write.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// `program` with nothing but `env` (plus `HOME` and a plain `PATH`): a user's shell after
/// `source`-ing the env file.
pub fn user_command(program: &str, env: &[(String, String)], home: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(program);
    c.env_clear()
        .envs(env.iter().cloned())
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin");
    c
}

/// Runs the real kubectl with nothing but `env` (plus `HOME` and a plain `PATH`), as a user who
/// sourced the env file; its stdout, the test failing on a non-zero exit.
pub fn kubectl_with_env(env: &[(String, String)], home: &Path, args: &[&str]) -> String {
    let out = user_command("/usr/bin/kubectl", env, home)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
