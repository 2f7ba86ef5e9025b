//! Cost of the device inventory and segmentation on the hot paths: one learned-inventory
//! observation of a PCD-03 order (HL7 route), resolving a sender against an approved inventory
//! of 10,000 devices, and judging a connection against it. `cargo bench --bench inventory`
//! (`WARDGATE_BENCH_QUICK=1` for a short run).
// A benchmark: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use wardgate_hl7::{Message, ParseLimits};
use wardgate_proxy::audit::AuditLog;
use wardgate_proxy::config::Config;
use wardgate_proxy::hl7_conn::Peer;
use wardgate_proxy::inventory::{InventoryConfig, LearnedInventory};
use wardgate_proxy::{Route, RouteSpec};
use wardgate_rules::{Connection, Observed, Protocol, RuleSource, Sender, compile};

const DEVICES: u32 = 10_000;

fn per_op(label: &str, n: u32, mut f: impl FnMut(u32)) {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
    println!("{label:<62} {ns:>8.0} ns/op");
}

fn main() {
    let n = if std::env::var_os("WARDGATE_BENCH_QUICK").is_some() {
        20_000
    } else {
        500_000
    };
    // An approved inventory of 10,000 devices, one address each, plus a flow per group.
    let mut text = String::new();
    for i in 0..DEVICES {
        let ip = Ipv4Addr::from(0x0A00_0000 + i);
        text.push_str(&format!(
            "[[device]]\nid = \"d{i}\"\nkind = \"monitor\"\ngroup = \"g{}\"\naddress = [\"{ip}\"]\nhl7_application = [\"APP{i}\"]\n",
            i % 100
        ));
    }
    for g in 0..100 {
        text.push_str(&format!(
            "[[flow]]\nid = \"f{g}\"\ndescription = \"d\"\nfrom = {{ group = [\"g{g}\"] }}\nto = {{ address = [\"10.200.0.0/16\"] }}\nports = [2575]\nprotocols = [\"hl7\"]\n"
        ));
    }
    let set = compile(&[RuleSource {
        name: Arc::from("bench.toml"),
        text,
        dir: None,
    }])
    .unwrap();
    let inv = set.inventory.clone();
    per_op(
        "approved inventory: resolve an HL7 sender (10,000 devices)",
        n,
        |i| {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + (i % DEVICES)));
            let app = format!("APP{}", i % DEVICES);
            let o = Observed {
                address: ip,
                certificate: None,
                hl7: Some((Some(app.as_bytes()), None)),
                calling_ae: None,
            };
            black_box(inv.resolve_sender(&o));
        },
    );
    per_op(
        "segmentation: judge a connection (10,000 devices, 100 flows)",
        n,
        |i| {
            let c = Connection {
                client: IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + (i % DEVICES))),
                destination: "10.200.1.1:2575".parse().unwrap(),
                protocol: Protocol::Hl7,
            };
            black_box(set.judge_connection(&c).is_ok());
        },
    );

    // One learned-inventory observation of a PCD-03 order, as the HL7 driver makes it.
    let config = Config::parse(
        "[[route]]\nname = \"r\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:0\"\nupstream = \"10.20.5.5:2575\"\nrules = [\"x.toml\"]\n",
        "bench.toml",
        None,
    )
    .unwrap();
    let route = Route::new(
        RouteSpec {
            config: config.routes[0].clone(),
            rules: wardgate_rules::RuleSet::default(),
        },
        Arc::new(AuditLog::to_writer(Box::new(std::io::sink()))),
    )
    .unwrap();
    let learned = LearnedInventory::new(InventoryConfig::default(), Some(inv.clone()));
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/hl7/pcd03-heparin-icu-safe.hl7"),
    )
    .unwrap();
    let bytes = wardgate_rules::to_segment_terminators(&bytes);
    let msg = Message::parse(&bytes, &ParseLimits::default()).unwrap();
    let addr: SocketAddr = "10.20.30.40:5000".parse().unwrap();
    let peer = Peer {
        id: 1,
        addr,
        sender: Sender::from_address(addr.ip()),
        target: wardgate_proxy::transparent::Intercepted {
            client: addr,
            original_dst: None,
            upstream: "10.20.5.5:2575".parse().unwrap(),
            upstream_source: None,
        },
    };
    per_op("learned inventory: observe one PCD-03 order", n, |_| {
        learned.hl7(&route, &peer, &msg, true);
    });
    black_box(learned.snapshot());
}
