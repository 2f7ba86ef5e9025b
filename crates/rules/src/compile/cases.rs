//! Compiling `[[test]]` cases.

use super::*;

pub(super) const TEST_KEYS: &[&str] = &[
    "name",
    "message",
    "message_text",
    "frames",
    "sender",
    "expect",
    "rule",
    "code",
    "alert",
    "now",
    "dicom",
    "reason",
    "status",
    "connection",
];

pub(super) const TEST_SENDER_KEYS: &[&str] = &["address", "cert_cn", "cert_san"];

pub(super) fn compile_test(
    rep: &mut Reporter<'_>,
    source: &RuleSource,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<RuleTest> {
    check_keys(rep, t, TEST_KEYS, "[[test]]");
    let mut ok = true;
    let name = required_str(rep, t, sp, "name", "[[test]]");
    let resolve = |p: &str| {
        let path = PathBuf::from(p);
        match &source.dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }
    };
    let dicom_v = get(t, "dicom");
    let dicom_expect = match (dicom_v, get(t, "expect")) {
        (Some(_), Some(e)) => super::dicom::dicom_expect(rep, e),
        _ => None,
    };
    if dicom_v.is_none() {
        for key in ["reason", "status"] {
            if let Some(v) = get(t, key) {
                rep.error_hint(
                    span(v),
                    format!("`{key}` applies to DICOM tests"),
                    "add `dicom = { calling_ae = ..., called_ae = ..., contexts = [...] }`",
                );
                ok = false;
            }
        }
    }
    let message = match (get(t, "message"), get(t, "message_text"), get(t, "frames")) {
        _ if get(t, "connection").is_some() => {
            let others = ["message", "message_text", "frames", "dicom", "sender"]
                .iter()
                .any(|k| get(t, k).is_some());
            if others {
                rep.error_hint(
                    sp.clone(),
                    "a connection test takes no message, frames, dicom or sender",
                    "`connection = { from = ..., to = ..., protocol = ... }` says it all",
                );
                None
            } else {
                get(t, "connection")
                    .and_then(|v| crate::compile_segmentation::compile_connection(rep, v))
                    .map(TestMessage::Connection)
            }
        }
        _ if dicom_v.is_some() => {
            let others = ["message", "message_text", "frames"]
                .iter()
                .any(|k| get(t, k).is_some());
            if others {
                rep.error(
                    sp.clone(),
                    "[[test]] takes one of `message`, `message_text`, `frames` and `dicom`",
                );
                None
            } else {
                dicom_v
                    .and_then(|v| super::dicom::compile_dicom_test(rep, t, v, dicom_expect))
                    .map(|d| TestMessage::Dicom(Box::new(d)))
            }
        }
        (Some(v), None, None) => as_str(rep, v, "`message`").map(|p| TestMessage::File(resolve(p))),
        (None, Some(v), None) => as_str(rep, v, "`message_text`")
            .map(|s| TestMessage::Inline(to_segment_terminators(s.trim_start().as_bytes()))),
        (None, None, Some(v)) => string_list(rep, v, "`frames`").map(|list| {
            TestMessage::PumpFrames(list.into_iter().map(|(p, _)| resolve(p)).collect())
        }),
        (None, None, None) => {
            rep.error_hint(
                sp.clone(),
                "[[test]] has no message",
                "add `message = \"path/to/fixture.hl7\"`, `message_text = \'\'\'MSH|...\'\'\'`, `frames = [\"pump-frame.wpp\"]` or `dicom = { ... }`",
            );
            None
        }
        _ => {
            rep.error(
                sp.clone(),
                "[[test]] takes one of `message`, `message_text` and `frames`",
            );
            None
        }
    };
    let mut sender = Sender {
        address: IpAddr::from([127, 0, 0, 1]),
        certificate: None,
    };
    if let Some(v) = get(t, "sender") {
        if let Some(st) = as_table(rep, v, "`sender`") {
            check_keys(rep, st, TEST_SENDER_KEYS, "a test's `sender`");
            if let Some(a) = get(st, "address") {
                match as_str(rep, a, "`address`").map(|s| (s, s.parse::<IpAddr>())) {
                    Some((_, Ok(ip))) => sender.address = ip,
                    Some((s, Err(_))) => {
                        rep.error(span(a), format!("`{s}` is not an IP address"));
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            let cn = get(st, "cert_cn").and_then(|v| as_str(rep, v, "`cert_cn`"));
            let sans = get(st, "cert_san").map(|v| {
                string_list(rep, v, "`cert_san`")
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(s, _)| s.to_owned())
                    .collect::<Vec<_>>()
            });
            if cn.is_some() || sans.is_some() {
                sender.certificate = Some(CertIdentity {
                    common_name: cn.map(str::to_owned),
                    alt_names: sans.unwrap_or_default(),
                });
            }
        }
    }
    let expect = match get(t, "expect") {
        Some(_) if dicom_v.is_some() => dicom_expect.map(|e| match e {
            crate::testcase::DicomExpect::Allow => Action::Allow,
            _ => Action::Deny,
        }),
        Some(v) => action(rep, v, "`expect`"),
        None => {
            rep.error_hint(
                sp.clone(),
                "[[test]] has no `expect`",
                "add `expect = \"allow\"` or \"deny\"",
            );
            None
        }
    };
    let rule = get(t, "rule").and_then(|v| as_str(rep, v, "`rule`").map(str::to_owned));
    let code = match get(t, "code") {
        None => None,
        Some(v) => {
            let c = as_u16(rep, v, "`code`");
            ok &= c.is_some();
            c
        }
    };
    let alert = get(t, "alert").and_then(|v| as_bool(rep, v, "`alert`"));
    let now = get(t, "now").and_then(|v| as_str(rep, v, "`now`").map(str::to_owned));
    match (ok, name, message, expect) {
        (true, Some((name, _)), Some(message), Some(expect)) => Some(RuleTest {
            name: name.to_owned(),
            origin: (source.name.clone(), line_col(&source.text, sp.start).0),
            message,
            sender,
            expect,
            rule,
            code,
            alert,
            now,
        }),
        _ => None,
    }
}
