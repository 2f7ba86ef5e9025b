//! DICOM rule tests: the `dicom = {...}` of a `[[test]]` and its `expect`.

use toml::de::{DeTable, DeValue};
use wardgate_dicom::uid::UidKind;

use super::values::{ae, command_by_name, priority_by_name, resolve_uid};
use crate::diag::Reporter;
use crate::testcase::{DicomExpect, DicomTest, DicomTestCommand};
use crate::toml_read::*;

const TEST_DICOM_KEYS: &[&str] = &[
    "calling_ae",
    "called_ae",
    "contexts",
    "user_identity",
    "command",
    "sop_class",
    "move_destination",
    "priority",
];

/// The `expect` of a DICOM test.
pub(crate) fn dicom_expect(rep: &mut Reporter<'_>, v: &Val<'_>) -> Option<DicomExpect> {
    match as_str(rep, v, "`expect`")? {
        "allow" => Some(DicomExpect::Allow),
        "reject" => Some(DicomExpect::Reject),
        "refuse" => Some(DicomExpect::Refuse),
        "abort" => Some(DicomExpect::Abort),
        other => {
            rep.error_hint(
                span(v),
                format!("a DICOM test cannot expect `{other}`"),
                "use \"allow\", \"reject\" (A-ASSOCIATE-RJ), \"refuse\" (DIMSE failure response) or \"abort\" (A-ABORT)",
            );
            None
        }
    }
}

/// The `dicom = {...}` of a `[[test]]`, with its `expect`, `reason` and `status`.
pub(crate) fn compile_dicom_test(
    rep: &mut Reporter<'_>,
    test: &DeTable<'_>,
    v: &Val<'_>,
    expect: Option<DicomExpect>,
) -> Option<DicomTest> {
    let t = as_table(rep, v, "`dicom`")?;
    let sp = span(v);
    check_keys(rep, t, TEST_DICOM_KEYS, "a test's `dicom`");
    let mut ok = true;
    let mut title = |rep: &mut Reporter<'_>, key: &str| {
        let r = required_str(rep, t, &sp, key, "a test's `dicom`")
            .and_then(|(s, at)| ae(rep, s, at, &format!("`{key}`")));
        ok &= r.is_some();
        r
    };
    let calling_ae = title(rep, "calling_ae");
    let called_ae = title(rep, "called_ae");
    let mut contexts = Vec::new();
    match get(t, "contexts") {
        None => {
            rep.error_hint(
                sp.clone(),
                "a test's `dicom` has no `contexts`",
                "add `contexts = [[\"CTImageStorage\", \"ExplicitVRLittleEndian\"]]`: each is a SOP class, then the transfer syntaxes proposed for it",
            );
            ok = false;
        }
        Some(cv) => {
            let items = as_array(rep, cv, "`contexts`").map(|a| a.iter().collect::<Vec<_>>());
            ok &= items.is_some();
            for item in items.unwrap_or_default() {
                let list = string_list(rep, item, "a context");
                let Some(list) =
                    list.filter(|l| l.len() >= 2 && matches!(item.get_ref(), DeValue::Array(_)))
                else {
                    rep.error_hint(
                        span(item),
                        "a context is a SOP class followed by at least one transfer syntax",
                        "e.g. [\"CTImageStorage\", \"ExplicitVRLittleEndian\", \"ImplicitVRLittleEndian\"]",
                    );
                    ok = false;
                    continue;
                };
                let mut it = list.into_iter();
                let abs = it.next().and_then(|(s, at)| {
                    resolve_uid(rep, s, at, UidKind::SopClass, "a context's SOP class")
                });
                let ts: Vec<Option<String>> = it
                    .map(|(s, at)| {
                        resolve_uid(
                            rep,
                            s,
                            at,
                            UidKind::TransferSyntax,
                            "a context's transfer syntax",
                        )
                    })
                    .collect();
                match (abs, ts.iter().all(Option::is_some)) {
                    (Some(a), true) => contexts.push((a, ts.into_iter().flatten().collect())),
                    _ => ok = false,
                }
            }
            if contexts.len() > 127 {
                rep.error(span(cv), "at most 127 contexts (odd ids 1 to 253)");
                ok = false;
            }
        }
    }
    let user_identity = match get(t, "user_identity") {
        None => false,
        Some(v) => {
            let b = as_bool(rep, v, "`user_identity`");
            ok &= b.is_some();
            b.unwrap_or(false)
        }
    };
    let command = match get(t, "command") {
        None => None,
        Some(cv) => {
            let field = as_str(rep, cv, "`command`")
                .and_then(|name| command_by_name(rep, name, span(cv), "`command`"));
            let sop_class = get(t, "sop_class").and_then(|sv| {
                let r = as_str(rep, sv, "`sop_class`")
                    .and_then(|s| resolve_uid(rep, s, span(sv), UidKind::SopClass, "`sop_class`"));
                ok &= r.is_some();
                r
            });
            let move_destination = get(t, "move_destination").and_then(|mv| {
                let r = as_str(rep, mv, "`move_destination`")
                    .and_then(|s| ae(rep, s, span(mv), "`move_destination`"));
                ok &= r.is_some();
                r
            });
            let priority = get(t, "priority").and_then(|pv| {
                let r =
                    as_str(rep, pv, "`priority`").and_then(|s| priority_by_name(rep, s, span(pv)));
                ok &= r.is_some();
                r
            });
            ok &= field.is_some();
            field.map(|field| DicomTestCommand {
                field,
                sop_class,
                move_destination,
                priority,
            })
        }
    };
    if command.is_none() {
        for key in ["sop_class", "move_destination", "priority"] {
            if let Some(kv) = get(t, key) {
                rep.error_hint(
                    span(kv),
                    format!("`{key}` describes a command, and the test has no `command`"),
                    "add `command = \"C-MOVE\"` (or the service the test sends)",
                );
                ok = false;
            }
        }
    }
    if command.is_none() && expect == Some(DicomExpect::Refuse) {
        rep.error_hint(
            sp.clone(),
            "only a command can be refused, and the test has no `command`",
            "add `command = \"C-STORE\"`, or expect \"reject\" for the association",
        );
        ok = false;
    }
    let reason = match get(test, "reason") {
        None => None,
        Some(rv) => {
            let r = as_u16(rep, rv, "`reason`").and_then(|r| match u8::try_from(r) {
                Ok(r) => Some(r),
                Err(_) => {
                    rep.error(span(rv), "`reason` is an A-ASSOCIATE-RJ reason, 1 to 255");
                    None
                }
            });
            if expect != Some(DicomExpect::Reject) {
                rep.error_hint(
                    span(rv),
                    "`reason` is the A-ASSOCIATE-RJ reason",
                    "use it with `expect = \"reject\"`",
                );
                ok = false;
            }
            ok &= r.is_some();
            r
        }
    };
    let status = match get(test, "status") {
        None => None,
        Some(sv) => {
            let s = as_u16(rep, sv, "`status`");
            if expect != Some(DicomExpect::Refuse) {
                rep.error_hint(
                    span(sv),
                    "`status` is the DIMSE failure status of a refused command",
                    "use it with `expect = \"refuse\"`",
                );
                ok = false;
            }
            ok &= s.is_some();
            s
        }
    };
    match (ok, calling_ae, called_ae, expect) {
        (true, Some(calling_ae), Some(called_ae), Some(expect)) => Some(DicomTest {
            calling_ae,
            called_ae,
            contexts,
            user_identity,
            command,
            expect,
            reason,
            status,
        }),
        _ => None,
    }
}
