//! `deploy/grafana-dashboard.json` queries only metrics and labels the proxy really exports:
//! checked against the metric macros in the proxy's source, and against a live `/metrics` scrape
//! after real traffic. (Its own test binary: the metrics recorder is process-wide.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: &[&str] = &["instance", "job"];

#[derive(Debug)]
struct Declared {
    kind: &'static str,
    labels: BTreeSet<String>,
}

/// Every `counter!`/`gauge!`/`histogram!` in the proxy's source: name, kind, label names.
fn declared_metrics() -> BTreeMap<String, Declared> {
    let mut out = BTreeMap::new();
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/proxy/src")];
    let mut sources = Vec::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") {
            sources.push(std::fs::read_to_string(&p).unwrap());
        }
    }
    for text in &sources {
        for kind in ["counter", "gauge", "histogram"] {
            let pat = format!("{kind}!(");
            let mut rest = text.as_str();
            while let Some(at) = rest.find(&pat) {
                let args_start = at + pat.len();
                // The macro's arguments, up to the matching parenthesis.
                let mut depth = 1;
                let mut end = args_start;
                for (i, c) in rest[args_start..].char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        end = args_start + i;
                        break;
                    }
                }
                let args = &rest[args_start..end];
                let literals: Vec<(usize, &str)> = args
                    .match_indices('"')
                    .map(|(i, _)| i)
                    .collect::<Vec<_>>()
                    .chunks(2)
                    .filter_map(|q| match q {
                        [a, b] => Some((*b, &args[a + 1..*b])),
                        _ => None,
                    })
                    .collect();
                if let Some((_, name)) = literals.first() {
                    let labels: Vec<String> = literals
                        .iter()
                        .skip(1)
                        .filter(|(close, _)| args[close + 1..].trim_start().starts_with("=>"))
                        .map(|(_, l)| (*l).to_owned())
                        .collect();
                    // A metric recorded in several places has the labels of all of them.
                    out.entry((*name).to_owned())
                        .or_insert_with(|| Declared {
                            kind,
                            labels: BTreeSet::new(),
                        })
                        .labels
                        .extend(labels);
                }
                rest = &rest[end..];
            }
        }
    }
    out
}

/// Every PromQL expression in the dashboard (panel targets and template variable queries).
fn expressions(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => expressions(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| expressions(i, out)),
        _ => {}
    }
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Metric names in an expression, with the label names the expression uses with each.
fn uses(expr: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut grouping = BTreeSet::new();
    for part in expr.split("by (").skip(1) {
        let inside = part.split(')').next().unwrap();
        grouping.extend(inside.split(',').map(|l| l.trim().to_owned()));
    }
    let mut rest = expr;
    while let Some(at) = rest.find("wardgate_") {
        let name = ident_at(&rest[at..]).to_owned();
        let after = &rest[at + name.len()..];
        let mut labels = grouping.clone();
        if let Some(selector) = after.strip_prefix('{') {
            let inside = selector.split('}').next().unwrap();
            for matcher in inside.split(',') {
                let label = ident_at(matcher.trim());
                if !label.is_empty() {
                    labels.insert(label.to_owned());
                }
            }
        }
        out.push((name, labels));
        rest = after;
    }
    out
}

fn dashboard_uses() -> Vec<(String, BTreeSet<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 15, "too few queries found: {exprs:?}");
    exprs.iter().flat_map(|e| uses(e)).collect()
}

#[test]
fn every_queried_metric_and_label_is_declared_in_the_proxy() {
    let declared = declared_metrics();
    assert!(declared.len() >= 15, "{declared:?}");
    let mut covered = BTreeSet::new();
    for (name, labels) in dashboard_uses() {
        let (base, declared_metric) = match declared.get(&name) {
            Some(d) => (name.clone(), d),
            None => {
                let base = name.strip_suffix("_bucket").unwrap_or(&name).to_owned();
                let d = declared.get(&base).unwrap_or_else(|| {
                    panic!("the dashboard queries {name}, which wardgate does not export")
                });
                assert_eq!(
                    d.kind, "histogram",
                    "{name}: only histograms have _bucket series"
                );
                (base, d)
            }
        };
        for label in &labels {
            let ok = declared_metric.labels.contains(label)
                || TARGET_LABELS.contains(&label.as_str())
                || (label == "le" && declared_metric.kind == "histogram");
            assert!(
                ok,
                "{name} has no label `{label}` (it has {:?})",
                declared_metric.labels
            );
        }
        covered.insert(base);
    }
    // The metrics an operator needs first are all on it.
    for needed in [
        "wardgate_messages_total",
        "wardgate_refusals_total",
        "wardgate_audit_write_failures_total",
        "wardgate_break_glass_active",
        "wardgate_inspection_seconds",
    ] {
        assert!(covered.contains(needed), "{needed} is not on the dashboard");
    }
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// Label names of each series in a scrape, by metric name.
fn scraped(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("wardgate_")) {
        let name = ident_at(line).to_owned();
        let labels = out.entry(name.clone()).or_default();
        if let Some(sel) = line[name.len()..].strip_prefix('{') {
            for m in sel.split('}').next().unwrap().split(',') {
                labels.insert(ident_at(m).to_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_queries_find_series_in_a_live_scrape() {
    let admin = wardgate_proxy::telemetry::install_prometheus("127.0.0.1:0".parse().unwrap())
        .await
        .expect("exporter installs");
    let bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    for order in ["pcd03-heparin-icu-safe.hl7", "pcd03-heparin-icu-10x.hl7"] {
        ehr.request(&fixture(order), REPLY)
            .await
            .unwrap()
            .expect("reply");
    }
    if let Ok(mut anonymous) = bed.tls_client(None).await {
        let _ = anonymous.send(b"MSH").await;
        let _ = anonymous.recv(REPLY).await;
    }
    // What this traffic produces; every one of them must be on the dashboard, labels matching.
    let expected = [
        "wardgate_messages_total",
        "wardgate_bytes_total",
        "wardgate_rule_verdicts_total",
        "wardgate_refusals_total",
        "wardgate_open_connections",
        "wardgate_connections_total",
        "wardgate_inspection_seconds_bucket",
        "wardgate_upstream_round_trip_seconds_bucket",
        "wardgate_tls_handshake_failures_total",
    ];
    let mut live = BTreeMap::new();
    for _ in 0..100 {
        live = scraped(&scrape(admin).await);
        if expected.iter().all(|e| live.contains_key(*e)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let uses = dashboard_uses();
    for name in expected {
        let series = live
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in the scrape: {live:?}"));
        let queried: Vec<&BTreeSet<String>> = uses
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l)
            .collect();
        assert!(!queried.is_empty(), "the dashboard does not show {name}");
        for labels in queried {
            for l in labels
                .iter()
                .filter(|l| !TARGET_LABELS.contains(&l.as_str()))
            {
                assert!(
                    series.contains(l),
                    "{name}: scraped series have no `{l}` ({series:?})"
                );
            }
        }
    }
}
