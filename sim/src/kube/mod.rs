//! The simulated Kubernetes API server.

/// Command-line arguments of the standalone server.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
}

/// Runs the standalone server until interrupted.
pub async fn serve_cli(_args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
