//! Wiring for the device inventory and micro-segmentation (`[inventory]`, `[segmentation]`),
//! and `wardgate inventory`.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wardgate_proxy::config::Config;
use wardgate_proxy::inventory::{LearnedInventory, read_state};
use wardgate_proxy::site::Site;

/// Largest `/inventory` answer `wardgate inventory` reads.
const MAX_ANSWER: u64 = 64 << 20;

/// The learned inventory (with its saved state loaded) and the segmentation policy the
/// configuration asks for. An approved inventory or policy that does not compile stops the
/// start; a corrupt state file is reported and ignored.
pub fn build_site(config: &Config) -> Result<Arc<Site>> {
    let approved = match &config.inventory.approved {
        Some(p) => Some(Arc::new(
            LearnedInventory::load_approved(p)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("[inventory] approved = {}", p.display()))?,
        )),
        None => None,
    };
    let learned = Arc::new(LearnedInventory::new(config.inventory.clone(), approved));
    match learned.load() {
        Ok(n) if n > 0 => tracing::info!(devices = n, "learned inventory restored"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "inventory state file ignored, starting empty"),
    }
    let segmentation = match &config.segmentation {
        Some(s) => Some(compile_segmentation(&s.policy)?),
        None => None,
    };
    Ok(Arc::new(Site::new(Some(learned), segmentation)))
}

/// Compile a segmentation policy (and what it includes); one without a `[[flow]]` is an error.
pub fn compile_segmentation(policy: &Path) -> Result<wardgate_rules::RuleSet> {
    let set = crate::commands::rule_sources(&[policy.to_path_buf()])
        .and_then(|src| wardgate_rules::compile(&src).map_err(|d| anyhow::anyhow!("{d}")))
        .with_context(|| format!("[segmentation] policy = {}", policy.display()))?;
    if set.segmentation.flows.is_empty() {
        bail!(
            "[segmentation] policy = {}: defines no [[flow]], so every connection would be refused",
            policy.display()
        );
    }
    Ok(set)
}

/// For `wardgate check`: the approved inventory and the segmentation policy compile (the state
/// file is not read).
pub fn validate(config: &Config) -> Result<()> {
    let mut quiet = config.clone();
    quiet.inventory.state_file = None;
    build_site(&quiet).map(|_| ())
}

/// Write the state file one last time (at shutdown).
pub fn save(site: &Site) {
    if let Some(inv) = &site.inventory {
        if let Err(e) = inv.save() {
            tracing::error!(error = %e, "inventory state not saved at shutdown");
        }
    }
}

/// `wardgate inventory --config FILE [--offline]`: the learned inventory of the instance that
/// runs with this configuration (from its admin address), or with `--offline` its state file.
pub fn inventory(config: &Path, offline: bool) -> Result<ExitCode> {
    let config = Config::load(config)?;
    if offline {
        let Some(path) = &config.inventory.state_file else {
            bail!("the configuration sets no [inventory] state_file to read");
        };
        let snapshot = read_state(path)?
            .with_context(|| format!("{} does not exist (yet)", path.display()))?;
        println!("{}", serde_json::to_string_pretty(&snapshot)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(admin) = &config.admin else {
        bail!(
            "the configuration has no [admin] address to ask; use --offline to read the state file"
        );
    };
    let token = match &admin.token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading the admin token {}", p.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    // An instance listening on every address is asked on loopback.
    let mut addr = admin.listen;
    if addr.ip().is_unspecified() {
        addr = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), addr.port());
    }
    let body = http_get(addr, "/inventory", token.as_deref())?;
    println!("{}", body.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// A minimal, bounded HTTP/1.1 GET to the admin endpoint.
fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> Result<String> {
    let timeout = Duration::from_secs(10);
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to the admin endpoint {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}connection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the admin endpoint sent no HTTP answer")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        bail!(
            "the admin endpoint {addr} answered {status}: {}",
            body.trim()
        );
    }
    Ok(body.to_owned())
}
