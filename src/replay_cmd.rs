//! `wardgate replay`: message files or a capture through the same framers, parsers and rules as
//! live traffic; JSON verdict lines on stdout, a summary table on stderr, golden-verdict diffs.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use wardgate_proxy::config::{Config, RouteProtocol, UpstreamAddr};
use wardgate_proxy::replay::{
    self, CaptureOptions, CaptureRoute, CaptureSummary, ReplayLine, ReplayProtocol,
};
use wardgate_rules::{RuleSet, compile};

use crate::commands::rule_sources;

/// The arguments of `wardgate replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Protocol of message files: `hl7`, `pump` or `dicom` (captures: see --config / --port).
    #[arg(long, default_value = "hl7")]
    protocol: String,
    /// Rule files to judge with; with --config they replace every route's rules ("would this
    /// policy have refused last week's traffic?").
    #[arg(long, num_args = 1..)]
    rules: Vec<PathBuf>,
    /// Configuration file: in a capture, a connection to a route's listen or upstream port is
    /// judged as that route judges it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// `PORT=PROTOCOL` (e.g. `2575=hl7`, `104=dicom`): in a capture, connections to PORT are
    /// judged with --rules. Repeatable.
    #[arg(long = "port", value_name = "PORT=PROTOCOL")]
    ports: Vec<String>,
    /// The sender's certificate CN.
    #[arg(long)]
    cert_cn: Option<String>,
    /// The sender's address (default: 127.0.0.1 for files, the client's address in a capture).
    #[arg(long)]
    address: Option<IpAddr>,
    /// Golden verdicts (JSON lines as this command prints); exit 1 with a diff if they differ.
    #[arg(long)]
    expect: Option<PathBuf>,
    /// A message file, a folder of them, or a pcap/pcapng capture.
    input: PathBuf,
}

fn protocol(name: &str) -> Result<ReplayProtocol> {
    Ok(match name {
        "hl7" => ReplayProtocol::Hl7,
        "pump" => ReplayProtocol::Pump,
        "dicom" => ReplayProtocol::Dicom,
        other => bail!("unknown protocol {other:?}: use hl7, pump or dicom"),
    })
}

fn compile_rules(paths: &[PathBuf]) -> Result<RuleSet> {
    compile(&rule_sources(paths)?).map_err(|d| anyhow::anyhow!("{d}"))
}

/// Verdict counts per direction, printed as a table.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, [usize; 3]>,
    total: usize,
}

impl Tally {
    fn add(&mut self, l: &ReplayLine) {
        let col = match l.direction.as_deref() {
            Some("inbound") => 0,
            Some("outbound") => 1,
            _ => 2,
        };
        self.counts.entry(l.verdict.clone()).or_default()[col] += 1;
        self.total += 1;
    }

    fn print(&self) {
        let summary: Vec<String> = self
            .counts
            .iter()
            .map(|(v, n)| format!("{} {v}", n.iter().sum::<usize>()))
            .collect();
        eprintln!("replayed {} message(s): {}", self.total, summary.join(", "));
        eprintln!(
            "  {:<14} {:>9} {:>9} {:>9}",
            "verdict", "inbound", "outbound", "files"
        );
        for (v, n) in &self.counts {
            eprintln!("  {v:<14} {:>9} {:>9} {:>9}", n[0], n[1], n[2]);
        }
    }
}

/// `wardgate replay`
pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    let golden: Option<Vec<ReplayLine>> = match &args.expect {
        None => None,
        Some(expect) => {
            let text = std::fs::read_to_string(expect)
                .with_context(|| format!("reading {}", expect.display()))?;
            Some(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(serde_json::from_str)
                    .collect::<Result<_, _>>()
                    .with_context(|| {
                        format!("{} is not JSON lines of verdicts", expect.display())
                    })?,
            )
        }
    };
    let mut tally = Tally::default();
    // Lines are kept only to compare them: a capture of any size streams through otherwise.
    let mut kept = Vec::new();
    let stdout = std::io::stdout();
    let mut stdout = std::io::BufWriter::new(stdout.lock());
    let mut write_error = None;
    let mut sink = |l: ReplayLine| {
        tally.add(&l);
        if let Err(e) = serde_json::to_string(&l)
            .map_err(std::io::Error::from)
            .and_then(|s| writeln!(stdout, "{s}"))
        {
            write_error.get_or_insert(e);
        }
        if golden.is_some() {
            kept.push(l);
        }
    };
    let summary = if replay::is_capture(&args.input) {
        Some(capture(args, &mut sink)?)
    } else {
        if args.rules.is_empty() {
            bail!("--rules is required to replay message files");
        }
        let set = compile_rules(&args.rules)?;
        let sender = wardgate_rules::Sender {
            address: args.address.unwrap_or(IpAddr::from([127, 0, 0, 1])),
            certificate: args.cert_cn.clone().map(|cn| wardgate_rules::CertIdentity {
                common_name: Some(cn),
                alt_names: Vec::new(),
            }),
        };
        for l in replay::replay(&args.input, protocol(&args.protocol)?, &set, &sender)? {
            sink(l);
        }
        None
    };
    stdout.flush().context("writing verdicts")?;
    drop(stdout);
    if let Some(e) = write_error {
        return Err(e).context("writing verdicts");
    }
    tally.print();
    if let Some(s) = summary {
        print_capture_summary(&s);
    }
    let (Some(golden), Some(expect)) = (golden, &args.expect) else {
        return Ok(ExitCode::SUCCESS);
    };
    let diffs = replay::compare(&kept, &golden);
    if diffs.is_empty() {
        eprintln!("all {} verdicts match {}", golden.len(), expect.display());
        return Ok(ExitCode::SUCCESS);
    }
    for d in &diffs {
        eprintln!("{d}");
    }
    eprintln!(
        "{} verdict(s) differ from {}",
        diffs.len(),
        expect.display()
    );
    let refused = replay::newly_refused(&kept, &golden);
    if !refused.is_empty() {
        eprintln!(
            "would have been refused: {} message(s) that {} lets through",
            refused.len(),
            expect.display()
        );
    }
    Ok(ExitCode::FAILURE)
}

fn print_capture_summary(s: &CaptureSummary) {
    eprintln!(
        "capture: {} packets ({} bytes), {} skipped (not TCP); {} connections, {} on no route, {} evicted; {} gaps, {} bytes not judged",
        s.packets,
        s.capture_bytes,
        s.packets_skipped,
        s.streams,
        s.streams_unrouted,
        s.streams_evicted,
        s.gaps,
        s.unjudged_bytes
    );
}

/// Routes from --config and --port, then the capture replay.
fn capture(args: &ReplayArgs, sink: &mut dyn FnMut(ReplayLine)) -> Result<CaptureSummary> {
    let override_rules = if args.rules.is_empty() {
        None
    } else {
        Some(compile_rules(&args.rules)?)
    };
    let config = match &args.config {
        Some(path) => {
            Some(Config::load(path).with_context(|| format!("loading {}", path.display()))?)
        }
        None => None,
    };
    let mut route_rules = Vec::new();
    if let (Some(config), None) = (&config, &override_rules) {
        for r in &config.routes {
            let set = compile_rules(&r.rules)
                .with_context(|| format!("route `{}`: rules do not compile", r.name))?;
            route_rules.push(set);
        }
    }
    let mut routes = Vec::new();
    if let Some(config) = &config {
        for (i, r) in config.routes.iter().enumerate() {
            let rules = match (&override_rules, route_rules.get(i)) {
                (Some(o), _) => o,
                (None, Some(own)) => own,
                (None, None) => continue,
            };
            routes.push(CaptureRoute {
                name: r.name.clone(),
                protocol: match r.protocol {
                    RouteProtocol::Hl7 => ReplayProtocol::Hl7,
                    RouteProtocol::Pump => ReplayProtocol::Pump,
                    RouteProtocol::Dicom => ReplayProtocol::Dicom,
                },
                // A transparent route's upstream is wherever each client was going: only its
                // listen port names it (give the devices' port with --port).
                ports: match r.upstream {
                    UpstreamAddr::Fixed(a) => vec![r.listen.port(), a.port()],
                    UpstreamAddr::OriginalDestination => vec![r.listen.port()],
                },
                rules,
                limits: r.limits,
            });
        }
    }
    for spec in &args.ports {
        let Some((port, proto)) = spec.split_once('=') else {
            bail!("--port {spec:?}: write PORT=PROTOCOL, e.g. 2575=hl7");
        };
        let port: u16 = port
            .parse()
            .with_context(|| format!("--port {spec:?}: {port:?} is not a port number"))?;
        let Some(rules) = &override_rules else {
            bail!("--port needs --rules to judge its connections with");
        };
        routes.push(CaptureRoute {
            name: format!("port {port}"),
            protocol: protocol(proto)?,
            ports: vec![port],
            rules,
            limits: Default::default(),
        });
    }
    if routes.is_empty() {
        bail!(
            "a capture needs --config or --port PORT=PROTOCOL to know which connections to judge"
        );
    }
    let opts = CaptureOptions {
        address: args.address,
        cert_cn: args.cert_cn.clone(),
        ..CaptureOptions::default()
    };
    Ok(replay::replay_capture(&args.input, &routes, &opts, sink)?)
}
