//! `wardgate break-glass`: the operator's client for the admin endpoint's `/break-glass`, and the
//! wiring that enables it in `wardgate run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use wardgate_proxy::Proxy;
use wardgate_proxy::breakglass::BreakGlass;
use wardgate_proxy::clock::SystemClock;
use wardgate_proxy::config::{AdminConfig, Config};

/// Arguments of `wardgate break-glass`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The running instance's configuration file (for the admin address and token file).
    #[arg(long)]
    config: PathBuf,
    /// Route to put into audit mode.
    #[arg(long, required_unless_present_any = ["list", "end"], conflicts_with_all = ["list", "end"])]
    route: Option<String>,
    /// Only this rule of the route (by id); without it, the whole route.
    #[arg(long, requires = "route")]
    rule: Option<String>,
    /// How long, e.g. `30m` (at most `[admin] break_glass_max`).
    #[arg(long = "for", value_name = "DURATION", requires = "route")]
    duration: Option<String>,
    /// Why: written into the audit log with every message judged under the grant.
    #[arg(long, requires = "route")]
    reason: Option<String>,
    /// Who is asking (recorded with the grant); defaults to $USER.
    #[arg(long)]
    operator: Option<String>,
    /// List the grants in force.
    #[arg(long, conflicts_with = "end")]
    list: bool,
    /// End grant ID before its time.
    #[arg(long, value_name = "ID")]
    end: Option<u64>,
}

/// Break-glass for `wardgate run`, when `[admin] break_glass_max` is configured (config
/// validation already required a token for it).
pub fn enable(admin: &AdminConfig, proxy: &Proxy) -> Option<Arc<BreakGlass>> {
    let max = admin.break_glass_max?;
    let glass = BreakGlass::new(proxy.routes(), max, Arc::new(SystemClock));
    glass.spawn_sweeper();
    tracing::info!(max = ?max, "break-glass enabled on the admin endpoint");
    Some(glass)
}

/// `wardgate break-glass ...`
pub fn run(args: &Args) -> Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let Some(admin) = &config.admin else {
        bail!("{} has no [admin] section", args.config.display());
    };
    if admin.break_glass_max.is_none() {
        bail!(
            "break-glass is not enabled in {}: set [admin] break_glass_max (and token_file)",
            args.config.display()
        );
    }
    let token_file = admin
        .token_file
        .as_ref()
        .context("[admin] token_file is required for break-glass")?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading the admin token {}", token_file.display()))?;
    let operator = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unnamed operator".into());
    let (method, path, body) = if args.list {
        ("GET", "/break-glass".to_owned(), String::new())
    } else if let Some(id) = args.end {
        let body = serde_json::json!({ "operator": operator }).to_string();
        ("DELETE", format!("/break-glass/{id}"), body)
    } else {
        let (Some(duration), Some(reason)) = (&args.duration, &args.reason) else {
            bail!("a grant needs --for DURATION and --reason TEXT");
        };
        let body = serde_json::json!({
            "route": args.route,
            "rule": args.rule,
            "for": duration,
            "reason": reason,
            "operator": operator,
        })
        .to_string();
        ("POST", "/break-glass".to_owned(), body)
    };
    let (status, answer) =
        crate::admin_client::request(admin, method, &path, Some(token.trim()), &body)?;
    println!("{}", answer.trim_end());
    Ok(if (200..300).contains(&status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
