//! The subcommands other than the demo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use wardgate_hl7::ParseLimits;
use wardgate_proxy::audit::AuditLog;
use wardgate_proxy::config::Config;
use wardgate_proxy::{Proxy, RouteSpec};
use wardgate_rules::{RuleSet, RuleSource, compile, load_rule_files};

use crate::defaults;

/// Log output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON lines.
    Json,
}

/// Operational logs on standard error; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The multi-threaded runtime.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Read rule files and what they `include` (or embedded ones, named `embedded:...`).
pub fn rule_sources(paths: &[PathBuf]) -> Result<Vec<RuleSource>> {
    let mut sources = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        match defaults::EMBEDDED_RULES.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => sources.push(RuleSource {
                name: Arc::from(name),
                text: (*text).to_owned(),
                dir: None,
            }),
            None => files.push(p.clone()),
        }
    }
    sources.extend(load_rule_files(&files).context("reading rule files")?);
    Ok(sources)
}

fn compile_rules(paths: &[PathBuf]) -> Result<RuleSet> {
    compile(&rule_sources(paths)?).map_err(|d| anyhow::anyhow!("{d}"))
}

/// Compile each route's rules into a spec the proxy can start.
pub fn route_specs(config: &Config) -> Result<Vec<RouteSpec>> {
    config
        .routes
        .iter()
        .map(|r| {
            let rules = compile_rules(&r.rules)
                .with_context(|| format!("route `{}`: rules do not compile", r.name))?;
            Ok(RouteSpec {
                config: r.clone(),
                rules,
            })
        })
        .collect()
}

/// `wardgate check FILES...`
pub fn check(files: &[PathBuf]) -> Result<ExitCode> {
    let mut failed = false;
    let mut rule_files = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let is_config = text
            .lines()
            .any(|l| l.trim_start().starts_with("[[route]]"));
        if !is_config {
            rule_files.push(f.clone());
            continue;
        }
        match Config::load(f)
            .map_err(anyhow::Error::from)
            .and_then(|c| crate::inventory_cmd::validate(&c).and_then(|()| route_specs(&c)))
        {
            Ok(specs) => println!(
                "{}: ok ({} route{})",
                f.display(),
                specs.len(),
                plural(specs.len())
            ),
            Err(e) => {
                failed = true;
                println!("{e:#}");
            }
        }
    }
    if !rule_files.is_empty() {
        match compile(&rule_sources(&rule_files)?) {
            Ok(set) => println!(
                "{} rule file{}: ok ({} rule{}, {} drug{}, {} test{})",
                rule_files.len(),
                plural(rule_files.len()),
                set.rules.len(),
                plural(set.rules.len()),
                set.library.drugs.len(),
                plural(set.library.drugs.len()),
                set.tests.len(),
                plural(set.tests.len()),
            ),
            Err(d) => {
                failed = true;
                println!("{d}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Folders under `dir` (itself included) that hold `.toml` files: each is one rule set.
fn rule_set_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    // Bounded walk: rule trees are small, and a symlink loop must not run forever.
    let mut budget = 10_000usize;
    while let Some(d) = stack.pop() {
        budget = budget
            .checked_sub(1)
            .context("too many folders under the rules folder")?;
        let mut has_toml = false;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .with_context(|| format!("reading {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "toml") {
                has_toml = true;
            }
        }
        if has_toml {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}

/// `wardgate test [DIR]`
pub fn test(dir: &Path) -> Result<ExitCode> {
    let sets = rule_set_dirs(dir)?;
    if sets.is_empty() {
        bail!("no rule files under {}", dir.display());
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for set_dir in sets {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&set_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        let set = match compile(&rule_sources(&files)?) {
            Ok(s) => s,
            Err(d) => {
                println!("rule set {}: does not compile\n{d}", set_dir.display());
                failed += 1;
                continue;
            }
        };
        println!(
            "\nrule set {} ({} tests)",
            set_dir.display(),
            set.tests.len()
        );
        for outcome in set.run_tests(&ParseLimits::default()) {
            println!("{outcome}");
            if outcome.failure.is_some() {
                failed += 1;
            } else {
                passed += 1;
            }
        }
    }
    println!("\nrule tests: {passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Wait for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `wardgate run [--config FILE]`
pub async fn run(config: Option<PathBuf>) -> Result<ExitCode> {
    let config = match config {
        Some(path) => Config::load(&path)?,
        None => {
            let dir = std::env::temp_dir().join(format!("wardgate-dev-{}", std::process::id()));
            let pki = wardgate_proxy::pki::write_dev_pki(
                &dir,
                &["localhost", "127.0.0.1"],
                &[
                    defaults::EHR_CN,
                    defaults::PUMP_GATEWAY_CN,
                    defaults::BIOMED_CN,
                ],
            )?;
            let text = defaults::default_config(&dir, &defaults::Addresses::default());
            eprintln!(
                "no --config given: using the embedded default, mutual TLS and the shipped rules on two routes:\n\
                 \x20 pcd03 (HL7/MLLP)      {} -> pump gateway {}\n\
                 \x20 pump  (pump protocol) {} -> infusion pump {}\n\
                 development certificates (a new CA each run) are in {}: ca.pem, server.pem and\n\
                 client-<CN>.pem / client-<CN>-key.pem for {}, {} and {}.\n\
                 start a pump gateway on {} (`wardgate sim-gateway`), or try `wardgate demo`.",
                defaults::DEFAULT_LISTEN,
                defaults::DEFAULT_UPSTREAM,
                defaults::DEFAULT_PUMP_LISTEN,
                defaults::DEFAULT_PUMP_UPSTREAM,
                pki.dir.display(),
                defaults::EHR_CN,
                defaults::PUMP_GATEWAY_CN,
                defaults::BIOMED_CN,
                defaults::DEFAULT_UPSTREAM,
            );
            Config::parse(&text, "embedded default", None)?
        }
    };
    let audit = match config.audit.path.as_deref() {
        Some(p) if p.as_os_str() != "-" => {
            let options = wardgate_proxy::audit::FileOptions {
                rotate_bytes: config.audit.rotate_bytes,
                fsync_interval: config.audit.fsync_interval,
            };
            AuditLog::to_file_with(p, options)
                .with_context(|| format!("opening audit log {}", p.display()))?
        }
        _ => AuditLog::to_stdout(),
    };
    let audit = Arc::new(audit);
    let site = crate::inventory_cmd::build_site(&config)?;
    let readiness = wardgate_proxy::admin::Readiness::default();
    readiness.watch_audit(audit.clone());
    let specs = route_specs(&config)?;
    let proxy = Proxy::bind(specs, audit.clone()).await?;
    proxy
        .routes()
        .iter()
        .for_each(|r| r.attach_site(site.clone()));
    let saver = site
        .inventory
        .clone()
        .map(|i| tokio::spawn(wardgate_proxy::inventory::save_periodically(i)));
    let mut glass = None;
    if let Some(admin) = &config.admin {
        let token = match &admin.token_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("reading the admin token {}", p.display()))?
                    .trim()
                    .to_owned(),
            )
            .filter(|t| !t.is_empty())
            .map(Ok)
            .unwrap_or_else(|| {
                Err(anyhow::anyhow!(
                    "the admin token file {} is empty",
                    p.display()
                ))
            })
            .map(Some)?,
            None => None,
        };
        glass = crate::breakglass_cli::enable(admin, &proxy);
        let at = wardgate_proxy::admin::start_with(
            admin.listen,
            readiness.clone(),
            token,
            wardgate_proxy::admin::Services {
                break_glass: glass.clone(),
                inventory: site.inventory.clone(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("admin endpoint on {}: {e}", admin.listen))?;
        tracing::info!(%at, "admin endpoint: http://{at}/metrics, /healthz, /readyz");
    }
    let policies = crate::site_reload::Watch::new(&config, site.clone(), audit);
    let reloader = tokio::spawn(reload_loop(config.clone(), proxy.routes(), policies));
    readiness.set(true);
    let not_ready = readiness.clone();
    proxy
        .run(async move {
            shutdown_signal().await;
            // Load balancers stop sending new connections while in-flight work drains.
            not_ready.set(false);
        })
        .await;
    reloader.abort();
    drop(glass);
    saver.iter().for_each(|s| s.abort());
    crate::inventory_cmd::save(&site);
    Ok(ExitCode::SUCCESS)
}

/// How often rule files are checked for changes.
const RULE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Newest modification time among a route's rule files (and what they include).
pub(crate) fn rules_mtime(paths: &[PathBuf]) -> Option<std::time::SystemTime> {
    let files = load_rule_files(
        &paths
            .iter()
            .filter(|p| !p.display().to_string().starts_with("embedded:"))
            .cloned()
            .collect::<Vec<_>>(),
    )
    .ok()?;
    files
        .iter()
        .filter_map(|s| std::fs::metadata(&*s.name).and_then(|m| m.modified()).ok())
        .max()
}

/// Recompile every route's rules, the approved inventory and the segmentation policy on SIGHUP
/// or when one of their files changes. A set with any error is not used: the old one stays in
/// force, and every problem is logged with file:line:column.
async fn reload_loop(
    config: Config,
    routes: Vec<Arc<wardgate_proxy::Route>>,
    mut policies: crate::site_reload::Watch,
) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen: Vec<Option<std::time::SystemTime>> = config
        .routes
        .iter()
        .map(|r| rules_mtime(&r.rules))
        .collect();
    let mut tick = tokio::time::interval(RULE_POLL);
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = signalled => true,
            _ = tick.tick() => false,
        };
        policies.check(forced);
        for (i, rc) in config.routes.iter().enumerate() {
            let now = rules_mtime(&rc.rules);
            if !forced && now == seen.get(i).copied().flatten() {
                continue;
            }
            if let Some(slot) = seen.get_mut(i) {
                *slot = now;
            }
            let Some(route) = routes.iter().find(|r| r.name() == rc.name) else {
                continue;
            };
            match rule_sources(&rc.rules)
                .and_then(|s| compile(&s).map_err(|d| anyhow::anyhow!("{d}")))
            {
                Ok(set) if set.digest == route.rules().digest => {}
                Ok(set) => route.replace_rules(set),
                Err(e) => {
                    wardgate_proxy::telemetry::reload(route.name(), "error");
                    tracing::error!(route = %route.name(), "rules not reloaded, the previous set stays in force:\n{e:#}");
                }
            }
        }
    }
}

/// `wardgate sim-gateway`
pub async fn sim_gateway(listen: SocketAddr) -> Result<ExitCode> {
    let gw = wardgate_proxy::sim::PumpGateway::start(
        listen,
        None,
        wardgate_proxy::sim::Behaviour::Acknowledge,
    )
    .await
    .with_context(|| format!("listening on {listen}"))?;
    eprintln!(
        "simulated pump gateway on {} (plaintext); Ctrl-C to stop",
        gw.addr()
    );
    shutdown_signal().await;
    eprintln!("received {} frames", gw.received().len());
    Ok(ExitCode::SUCCESS)
}

/// `wardgate audit verify FILES...`
pub fn audit_verify(files: &[PathBuf]) -> Result<ExitCode> {
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    match wardgate_proxy::audit::verify_files(&refs) {
        Ok(s) => {
            println!(
                "audit chain intact: {} line{} in {} file{}",
                s.lines,
                plural(s.lines),
                s.files,
                plural(s.files)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(b) => {
            println!("audit chain broken at {b}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `wardgate sim-pump`
pub async fn sim_pump(listen: SocketAddr, serial: &str) -> Result<ExitCode> {
    let device = wardgate_pump::DeviceId::new(serial)
        .map_err(|e| anyhow::anyhow!("serial {serial:?}: {e}"))?;
    let pump = wardgate_proxy::sim::PumpDevice::start(
        listen,
        None,
        wardgate_pump::sim::PumpSim::new(device, "WP-Sim-2", 2),
        wardgate_proxy::sim::PumpBehaviour::Answer,
    )
    .await
    .with_context(|| format!("listening on {listen}"))?;
    eprintln!(
        "simulated infusion pump {serial} (2 channels) on {} (plaintext); Ctrl-C to stop",
        pump.addr()
    );
    shutdown_signal().await;
    eprintln!("received {} frames", pump.received().len());
    Ok(ExitCode::SUCCESS)
}
