//! Config parsing: what loads, and how what does not is reported.

use super::*;

const MINIMAL: &str = r#"
[[route]]
name = "pcd03"
protocol = "hl7"
listen = "127.0.0.1:2575"
upstream = "127.0.0.1:3575"
rules = ["rules/pcd03/policy.toml"]
"#;

#[test]
fn minimal_config_gets_safe_defaults() {
    let c = Config::parse(MINIMAL, "t.toml", Some(Path::new("/etc/wardgate"))).unwrap();
    let r = &c.routes[0];
    assert_eq!(r.failure_policy, FailurePolicy::Closed);
    assert_eq!(r.limits.max_message_bytes, 1 << 20);
    assert_eq!(
        r.rules[0],
        Path::new("/etc/wardgate/rules/pcd03/policy.toml")
    );
    assert!(r.tls.is_none());
}

#[test]
fn unknown_keys_are_rejected_with_position() {
    let text = MINIMAL.replace(
        "protocol = \"hl7\"",
        "protocol = \"hl7\"\nfailure_polcy = \"open\"",
    );
    let err = Config::parse(&text, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("failure_polcy"), "{err}");
    assert!(err.contains("line 5"), "{err}");
}

#[test]
fn an_admin_endpoint_beyond_loopback_needs_a_token() {
    let open = format!("[admin]\nlisten = \"0.0.0.0:9102\"\n{MINIMAL}");
    let err = Config::parse(&open, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("token_file"), "{err}");
    let guarded =
        format!("[admin]\nlisten = \"0.0.0.0:9102\"\ntoken_file = \"admin.token\"\n{MINIMAL}");
    assert!(Config::parse(&guarded, "t.toml", None).is_ok());
    let local = format!("[admin]\nlisten = \"127.0.0.1:9102\"\n{MINIMAL}");
    assert!(Config::parse(&local, "t.toml", None).is_ok());
}

#[test]
fn break_glass_needs_a_token_and_a_bounded_maximum() {
    let bare = format!("[admin]\nlisten = \"127.0.0.1:9102\"\nbreak_glass_max = \"4h\"\n{MINIMAL}");
    let err = Config::parse(&bare, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs token_file"), "{err}");
    let ok = bare.replace("\nbreak_glass_max", "\ntoken_file = \"t\"\nbreak_glass_max");
    let c = Config::parse(&ok, "t.toml", None).unwrap();
    let max = c.admin.and_then(|a| a.break_glass_max);
    assert_eq!(max, Some(Duration::from_secs(4 * 3600)));
    let long = ok.replace("\"4h\"", "\"48h\"");
    let err = Config::parse(&long, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at most 24h"), "{err}");
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("5"), None);
    assert_eq!(parse_duration("5 parsecs"), None);
    let text = format!("{MINIMAL}[route.limits]\nidle_timeout = \"soon\"\n");
    let err = Config::parse(&text, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a duration"), "{err}");
}

#[test]
fn a_pump_route_parses_with_its_own_limits() {
    let text = MINIMAL.replace("protocol = \"hl7\"", "protocol = \"pump\"");
    let text = format!("{text}[route.limits]\nmax_tracked_channels = 10\n");
    let c = Config::parse(&text, "t.toml", None).unwrap();
    assert_eq!(c.routes[0].protocol, RouteProtocol::Pump);
    assert_eq!(c.routes[0].limits.max_tracked_channels, 10);
    let bad = text.replace("= 10", "= 0");
    let err = Config::parse(&bad, "t.toml", None).unwrap_err().to_string();
    assert!(err.contains("max_tracked_channels"), "{err}");
    let lf = MINIMAL.replace(
        "protocol = \"hl7\"",
        "protocol = \"pump\"\nallow_lf_terminators = true",
    );
    let err = Config::parse(&lf, "t.toml", None).unwrap_err().to_string();
    assert!(err.contains("HL7 routes only"), "{err}");
}

#[test]
fn a_dicom_route_parses_with_a_pdu_limit_and_refuses_fail_open() {
    let text = MINIMAL.replace("protocol = \"hl7\"", "protocol = \"dicom\"");
    let c = Config::parse(&text, "t.toml", None).unwrap();
    assert_eq!(c.routes[0].protocol, RouteProtocol::Dicom);
    assert_eq!(c.routes[0].limits.max_pdu_bytes, 256 * 1024);
    let big = format!("{text}[route.limits]\nmax_pdu_bytes = 4294967295\n");
    let err = Config::parse(&big, "t.toml", None).unwrap_err().to_string();
    assert!(err.contains("max_pdu_bytes"), "{err}");
    let open = text.replace(
        "protocol = \"dicom\"",
        "protocol = \"dicom\"\nfailure_policy = \"open\"",
    );
    let err = Config::parse(&open, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not supported on DICOM"), "{err}");
}

#[test]
fn mutual_tls_needs_a_client_ca() {
    let text = format!(
        "{MINIMAL}[route.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nclient_auth = \"required\"\n"
    );
    let err = Config::parse(&text, "t.toml", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("client_ca"), "{err}");
}
