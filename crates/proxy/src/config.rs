//! The proxy's configuration file: routes, limits, TLS, failure policy. Unknown keys are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Admin endpoint (Prometheus metrics).
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Where verdicts are recorded.
    #[serde(default)]
    pub audit: AuditConfig,
    /// The learned device inventory (bounds, state file) and the approved inventory.
    #[serde(default)]
    pub inventory: crate::inventory::InventoryConfig,
    /// Micro-segmentation: which devices may reach which destinations through wardgate.
    #[serde(default)]
    pub segmentation: Option<crate::segmentation::SegmentationConfig>,
    /// The routes: one listener and one upstream each.
    #[serde(rename = "route")]
    pub routes: Vec<RouteConfig>,
}

/// Admin endpoint settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin endpoint (`/metrics`, `/healthz`, `/readyz`); loopback unless a
    /// token protects it.
    pub listen: SocketAddr,
    /// File holding the bearer token every admin request must present
    /// (`Authorization: Bearer ...`); required when `listen` is not a loopback address.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Longest break-glass grant an operator may ask for, e.g. `"4h"`. Break-glass is disabled
    /// unless this is set, and setting it requires `token_file`.
    #[serde(default, with = "optional_duration")]
    pub break_glass_max: Option<Duration>,
}

/// Audit log settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// File to append JSON lines to; `-` or absent for standard output.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Rotate the file when it reaches this many bytes (the new file links to the old one).
    #[serde(default)]
    pub rotate_bytes: Option<u64>,
    /// fsync the file at most this often, e.g. `"1s"` (each line is flushed regardless).
    #[serde(default, with = "optional_duration")]
    pub fsync_interval: Option<Duration>,
}

/// Protocol spoken on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteProtocol {
    /// HL7 v2 over MLLP.
    Hl7,
    /// The wardgate pump protocol (WPP v1, docs/pump-protocol.md), controller to infusion pump.
    Pump,
    /// DICOM Upper Layer (PS3.8) associations and DIMSE commands (PS3.7), SCU to SCP.
    Dicom,
}

/// How connections reach a route's listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InterceptMode {
    /// Clients connect to wardgate's `listen` address themselves (the default).
    #[default]
    Listen,
    /// Connections to other addresses are redirected to `listen` by nftables `redirect` or
    /// `dnat`; the original destination is read with `SO_ORIGINAL_DST`.
    Redirect,
    /// Connections are diverted to `listen` by nftables `tproxy`; the listener has
    /// `IP_TRANSPARENT` (needs `CAP_NET_ADMIN`) and an accepted socket's local address is the
    /// original destination.
    Tproxy,
}

/// Where a route's upstream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamAddr {
    /// Always this address.
    Fixed(SocketAddr),
    /// Wherever the intercepted client was connecting to (`"original-destination"`).
    OriginalDestination,
}

/// The spelling of [`UpstreamAddr::OriginalDestination`] in the configuration file.
pub const ORIGINAL_DESTINATION: &str = "original-destination";

impl std::fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAddr::Fixed(a) => a.fmt(f),
            UpstreamAddr::OriginalDestination => f.write_str(ORIGINAL_DESTINATION),
        }
    }
}

impl<'de> Deserialize<'de> for UpstreamAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == ORIGINAL_DESTINATION {
            return Ok(UpstreamAddr::OriginalDestination);
        }
        text.parse().map(UpstreamAddr::Fixed).map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is neither an address like \"192.0.2.10:2575\" nor \"{ORIGINAL_DESTINATION}\""
            ))
        })
    }
}

/// Source address of the connections wardgate opens to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamSource {
    /// wardgate's own address, chosen by the kernel (the default).
    #[default]
    Wardgate,
    /// The client's address (`tproxy` mode only): the device sees the same peer as without
    /// wardgate in the path.
    Client,
}

/// What to do with a message that cannot be inspected (does not parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Refuse it (the default).
    #[default]
    Closed,
    /// Forward it unchanged, and audit that it passed uninspected. Must be chosen explicitly.
    Open,
}

/// What to do with an upstream acknowledgement that answers no message sent on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UnmatchedAck {
    /// Forward it and flag it in the audit log and metrics (the default).
    #[default]
    Flag,
    /// Drop it and flag it.
    Drop,
}

/// One route: a listener, its rules and its upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name used in logs, metrics and audit records.
    pub name: String,
    /// Protocol on this route.
    pub protocol: RouteProtocol,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// How connections reach the listener: `listen` (default; clients address wardgate),
    /// `redirect` (nftables `redirect`/DNAT) or `tproxy` (nftables `tproxy`). See
    /// [`crate::transparent`].
    #[serde(default)]
    pub mode: InterceptMode,
    /// The upstream (pump gateway, device): a fixed address, or `"original-destination"` (only in
    /// `redirect`/`tproxy` mode) for the address the client was connecting to.
    pub upstream: UpstreamAddr,
    /// Source address of upstream connections: wardgate's own (default) or, in `tproxy` mode,
    /// the client's (`"client"`), for devices that allow-list their controller's address.
    #[serde(default)]
    pub upstream_source: UpstreamSource,
    /// Rule files (relative to the configuration file); together they form the route's policy.
    pub rules: Vec<PathBuf>,
    /// Fail closed (default) or open when a message cannot be inspected.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Unmatched upstream acknowledgements: flag (default) or drop.
    #[serde(default)]
    pub unmatched_ack: UnmatchedAck,
    /// Accept `\n` and `\r\n` segment terminators from this route's senders.
    #[serde(default)]
    pub allow_lf_terminators: bool,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// TLS towards the senders; absent = plaintext.
    #[serde(default)]
    pub tls: Option<ServerTls>,
    /// TLS towards the upstream; absent = plaintext (legacy device).
    #[serde(default)]
    pub upstream_tls: Option<UpstreamTls>,
}

/// Resource limits of a route. Durations are written like `"30s"`, `"5m"`, `"250ms"`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted, in bytes: the MLLP payload on HL7 routes, the whole frame
    /// (header, payload and CRC) on pump routes.
    pub max_message_bytes: usize,
    /// A connection with no traffic for this long is closed.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// A frame (or TLS handshake) that has started must complete within this time.
    #[serde(with = "duration")]
    pub frame_timeout: Duration,
    /// Most simultaneous client connections; more are refused at accept.
    pub max_connections: usize,
    /// Time allowed to connect to the upstream.
    #[serde(with = "duration")]
    pub upstream_connect_timeout: Duration,
    /// Time allowed for the upstream to acknowledge a forwarded message before the client
    /// connection is closed (the sender then resends; it never gets a positive ACK from wardgate).
    #[serde(with = "duration")]
    pub ack_timeout: Duration,
    /// Most messages awaiting an upstream acknowledgement on one connection.
    pub max_outstanding: usize,
    /// Pump routes: most (pump, channel) pairs whose state the stateful rules remember.
    pub max_tracked_channels: usize,
    /// DICOM routes: largest PDU body accepted from either peer, in bytes (PS3.8 §9.3.1; the
    /// 6-byte header excluded). A larger declared length aborts the association on sight.
    pub max_pdu_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 1 << 20,
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(30),
            max_connections: 256,
            upstream_connect_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(60),
            max_outstanding: 64,
            max_tracked_channels: 100_000,
            max_pdu_bytes: wardgate_dicom::DEFAULT_MAX_PDU_LEN,
        }
    }
}

/// Whether senders must present a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificates are asked for.
    #[default]
    Off,
    /// A certificate is verified when presented; clients without one are still served.
    Optional,
    /// A certificate signed by `client_ca` is required (mutual TLS).
    Required,
}

/// TLS towards the senders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// PEM certificate chain presented to senders.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates that sign client certificates.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Off, optional or required.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// TLS towards the upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// PEM CA certificates that sign the upstream's certificate.
    pub ca: PathBuf,
    /// Name to verify the upstream's certificate against (and send as SNI).
    pub server_name: String,
    /// PEM client certificate wardgate presents, if the upstream asks for one.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// PEM key for `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// Why a configuration could not be used. The operator is at fault; the message says where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is invalid or has unknown/missing keys.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// toml's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: route `{route}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The route.
        route: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Parse configuration text; `name` is used in messages, `base` resolves relative paths.
    pub fn parse(text: &str, name: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: name.to_owned(),
            message: e.to_string(),
        })?;
        if let Some(base) = base {
            config.resolve_paths(base);
        }
        config.validate(name)?;
        Ok(config)
    }

    /// Read and parse a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string(), path.parent())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.audit.path.as_mut().filter(|p| p.as_os_str() != "-") {
            fix(p);
        }
        if let Some(p) = self.admin.as_mut().and_then(|a| a.token_file.as_mut()) {
            fix(p);
        }
        let inv = &mut self.inventory;
        inv.approved
            .iter_mut()
            .chain(inv.state_file.iter_mut())
            .for_each(fix);
        if let Some(s) = &mut self.segmentation {
            fix(&mut s.policy);
        }
        for r in &mut self.routes {
            r.rules.iter_mut().for_each(fix);
            if let Some(t) = &mut r.tls {
                fix(&mut t.cert);
                fix(&mut t.key);
                t.client_ca.iter_mut().for_each(fix);
            }
            if let Some(t) = &mut r.upstream_tls {
                fix(&mut t.ca);
                t.cert.iter_mut().for_each(fix);
                t.key.iter_mut().for_each(fix);
            }
        }
    }

    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let invalid = |route: &str, message: String| ConfigError::Invalid {
            path: name.to_owned(),
            route: route.to_owned(),
            message,
        };
        if self.routes.is_empty() {
            return Err(ConfigError::Syntax {
                path: name.to_owned(),
                message: "no [[route]] defined".into(),
            });
        }
        if let Some(admin) = &self.admin {
            if !admin.listen.ip().is_loopback() && admin.token_file.is_none() {
                return Err(ConfigError::Syntax {
                    path: name.to_owned(),
                    message: format!(
                        "[admin] listen = {} is not a loopback address: set token_file so that \
                         only holders of the token can read it",
                        admin.listen
                    ),
                });
            }
            if let Some(max) = admin.break_glass_max {
                if admin.token_file.is_none() {
                    return Err(ConfigError::Syntax {
                        path: name.to_owned(),
                        message: "[admin] break_glass_max needs token_file: break-glass is an \
                                  operator action and must be authenticated, even on loopback"
                            .into(),
                    });
                }
                if max.is_zero() || max > MAX_BREAK_GLASS {
                    return Err(ConfigError::Syntax {
                        path: name.to_owned(),
                        message: format!(
                            "[admin] break_glass_max must be more than zero and at most {}h",
                            MAX_BREAK_GLASS.as_secs() / 3600
                        ),
                    });
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.routes {
            if !names.insert(r.name.as_str()) {
                return Err(invalid(&r.name, "duplicate route name".into()));
            }
            if r.rules.is_empty() {
                return Err(invalid(&r.name, "`rules` lists no rule file".into()));
            }
            let l = &r.limits;
            if !(64..=MAX_MESSAGE_BYTES_CEILING).contains(&l.max_message_bytes) {
                return Err(invalid(
                    &r.name,
                    format!(
                        "limits.max_message_bytes must be between 64 and {MAX_MESSAGE_BYTES_CEILING}"
                    ),
                ));
            }
            if l.max_connections == 0 || l.max_outstanding == 0 || l.max_tracked_channels == 0 {
                return Err(invalid(
                    &r.name,
                    "limits.max_connections, limits.max_outstanding and limits.max_tracked_channels must be at least 1".into(),
                ));
            }
            if r.protocol != RouteProtocol::Hl7 && r.allow_lf_terminators {
                return Err(invalid(
                    &r.name,
                    "allow_lf_terminators applies to HL7 routes only".into(),
                ));
            }
            crate::transparent::validate(r).map_err(|m| invalid(&r.name, m))?;
            if r.protocol == RouteProtocol::Dicom {
                validate_dicom(r).map_err(|m| invalid(&r.name, m))?;
            }
            for (what, d) in [
                ("idle_timeout", l.idle_timeout),
                ("frame_timeout", l.frame_timeout),
                ("upstream_connect_timeout", l.upstream_connect_timeout),
                ("ack_timeout", l.ack_timeout),
            ] {
                if d.is_zero() {
                    return Err(invalid(&r.name, format!("limits.{what} must not be zero")));
                }
            }
            if let Some(t) = &r.tls {
                if t.client_auth != ClientAuth::Off && t.client_ca.is_none() {
                    return Err(invalid(
                        &r.name,
                        "tls.client_auth needs tls.client_ca to verify client certificates".into(),
                    ));
                }
            }
            if let Some(t) = &r.upstream_tls {
                if t.cert.is_some() != t.key.is_some() {
                    return Err(invalid(
                        &r.name,
                        "upstream_tls.cert and upstream_tls.key go together".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Settings a DICOM route cannot use.
fn validate_dicom(r: &RouteConfig) -> Result<(), String> {
    let pdu = r.limits.max_pdu_bytes;
    let (min, max) = (
        wardgate_dicom::MIN_ASSOCIATE_BODY_LEN,
        wardgate_dicom::MAX_PDU_LEN_CEILING,
    );
    if !(min..=max).contains(&pdu) {
        return Err(format!(
            "limits.max_pdu_bytes must be between {min} and {max}"
        ));
    }
    if r.failure_policy == FailurePolicy::Open {
        return Err(
            "failure_policy = \"open\" is not supported on DICOM routes: a PDU or command that \
             cannot be parsed aborts the association"
                .into(),
        );
    }
    Ok(())
}

/// Upper bound on `[admin] break_glass_max`: an emergency override is not a policy change.
pub const MAX_BREAK_GLASS: Duration = Duration::from_secs(24 * 3600);

/// Upper bound on `max_message_bytes`: an MLLP block has no length field, so this is the only cap.
pub const MAX_MESSAGE_BYTES_CEILING: usize = 64 << 20;

/// Parse durations like `250ms`, `30s`, `5m`, `2h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

mod optional_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration; write e.g. \"250ms\", \"1s\", \"5m\""
            ))
        })
    }
}

pub(crate) mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration; write e.g. \"250ms\", \"30s\", \"5m\", \"2h\""
            ))
        })
    }
}

#[cfg(test)]
mod tests;
