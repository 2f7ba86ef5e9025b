//! The embedded default: one PCD-03 route on loopback with the shipped rules and a development PKI.

use std::path::Path;

/// The shipped PCD-03 rule set, compiled into the binary so the default needs no files.
pub const EMBEDDED_RULES: &[(&str, &str)] = &[
    (
        "embedded:rules/pcd03/policy.toml",
        include_str!("../rules/pcd03/policy.toml"),
    ),
    (
        "embedded:rules/pcd03/drug-library.toml",
        include_str!("../rules/pcd03/drug-library.toml"),
    ),
    (
        "embedded:rules/pump/policy.toml",
        include_str!("../rules/pump/policy.toml"),
    ),
];

/// Where the default route listens.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2575";
/// Where the default route's upstream (the pump gateway) is expected.
pub const DEFAULT_UPSTREAM: &str = "127.0.0.1:2576";
/// The client certificate CN the shipped policy trusts to program pumps.
pub const EHR_CN: &str = "ehr-bcma.egh.example";
/// Where the default pump route listens.
pub const DEFAULT_PUMP_LISTEN: &str = "127.0.0.1:2580";
/// Where the default pump route's upstream (an infusion pump) is expected.
pub const DEFAULT_PUMP_UPSTREAM: &str = "127.0.0.1:2581";
/// The client certificate CN the shipped pump policy trusts to program pumps.
pub const PUMP_GATEWAY_CN: &str = "pump-gw.egh.example";
/// The client certificate CN the shipped pump policy trusts for maintenance.
pub const BIOMED_CN: &str = "biomed-console.egh.example";

/// The addresses of the default routes.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// PCD-03 route listen address.
    pub hl7_listen: String,
    /// PCD-03 route upstream (pump gateway).
    pub hl7_upstream: String,
    /// Pump route listen address.
    pub pump_listen: String,
    /// Pump route upstream (the pump).
    pub pump_upstream: String,
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses {
            hl7_listen: DEFAULT_LISTEN.into(),
            hl7_upstream: DEFAULT_UPSTREAM.into(),
            pump_listen: DEFAULT_PUMP_LISTEN.into(),
            pump_upstream: DEFAULT_PUMP_UPSTREAM.into(),
        }
    }
}

/// The default configuration, with TLS material from `pki_dir`.
pub fn default_config(pki_dir: &Path, a: &Addresses) -> String {
    let p = |f: &str| pki_dir.join(f).display().to_string().replace('\\', "/");
    let tls = format!(
        "cert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\nclient_auth = \"required\"\n",
        p("server.pem"),
        p("server-key.pem"),
        p("ca.pem")
    );
    format!(
        r#"# wardgate embedded default: IHE PCD-03 orders from the EHR's BCMA module to a pump gateway,
# and pump-protocol commands from the pump gateway to an infusion pump. Mutual TLS on both.
[[route]]
name = "pcd03"
protocol = "hl7"
listen = "{hl7_listen}"
upstream = "{hl7_upstream}"
rules = ["embedded:rules/pcd03/policy.toml", "embedded:rules/pcd03/drug-library.toml"]
failure_policy = "closed"

[route.limits]
max_message_bytes = 1048576
idle_timeout = "5m"
frame_timeout = "10s"
max_connections = 128

[route.tls]
{tls}
[[route]]
name = "pump"
protocol = "pump"
listen = "{pump_listen}"
upstream = "{pump_upstream}"
rules = ["embedded:rules/pump/policy.toml", "embedded:rules/pcd03/drug-library.toml"]
failure_policy = "closed"

[route.limits]
idle_timeout = "5m"
frame_timeout = "10s"
max_connections = 128

[route.tls]
{tls}"#,
        hl7_listen = a.hl7_listen,
        hl7_upstream = a.hl7_upstream,
        pump_listen = a.pump_listen,
        pump_upstream = a.pump_upstream,
    )
}
