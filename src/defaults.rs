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
];

/// Where the default route listens.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2575";
/// Where the default route's upstream (the pump gateway) is expected.
pub const DEFAULT_UPSTREAM: &str = "127.0.0.1:2576";
/// The client certificate CN the shipped policy trusts to program pumps.
pub const EHR_CN: &str = "ehr-bcma.egh.example";

/// The default configuration, with TLS material from `pki_dir`.
pub fn default_config(pki_dir: &Path, listen: &str, upstream: &str) -> String {
    let p = |f: &str| pki_dir.join(f).display().to_string().replace('\\', "/");
    format!(
        r#"# wardgate embedded default: IHE PCD-03 orders from the EHR's BCMA module to a pump gateway.
[[route]]
name = "pcd03"
protocol = "hl7"
listen = "{listen}"
upstream = "{upstream}"
rules = ["embedded:rules/pcd03/policy.toml", "embedded:rules/pcd03/drug-library.toml"]
failure_policy = "closed"

[route.limits]
max_message_bytes = 1048576
idle_timeout = "5m"
frame_timeout = "10s"
max_connections = 128

[route.tls]
cert = "{cert}"
key = "{key}"
client_ca = "{ca}"
client_auth = "required"
"#,
        cert = p("server.pem"),
        key = p("server-key.pem"),
        ca = p("ca.pem"),
    )
}
