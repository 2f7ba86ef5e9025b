//! `[dicom]`: the called AE titles a route serves and the calling-AE registry.

use std::ops::Range;

use toml::de::DeTable;

use super::values::ae;
use crate::compile::{SenderConds, read_sender};
use crate::diag::Reporter;
use crate::dicom::{CallingAe, DicomPolicy};
use crate::toml_read::*;

const DICOM_KEYS: &[&str] = &["called_ae", "calling_ae"];
const CALLING_AE_KEYS: &[&str] = &["title", "description", "address", "cert_cn", "cert_san"];

/// `[dicom]`: called AE titles and the calling-AE registry. Several files add to one registry.
pub(crate) fn compile_dicom_policy(rep: &mut Reporter<'_>, t: &DeTable<'_>, out: &mut DicomPolicy) {
    check_keys(rep, t, DICOM_KEYS, "[dicom]");
    if let Some(v) = get(t, "called_ae") {
        for (title, s) in string_list(rep, v, "`dicom.called_ae`").unwrap_or_default() {
            if let Some(title) = ae(rep, title, s, "`dicom.called_ae`") {
                out.called_ae.push(title);
            }
        }
    }
    if let Some(v) = get(t, "calling_ae") {
        for (et, esp) in tables(rep, v, "[[dicom.calling_ae]]") {
            if let Some(entry) = compile_calling_ae(rep, et, &esp) {
                out.calling_ae.push(entry);
            }
        }
    }
}

fn compile_calling_ae(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<CallingAe> {
    check_keys(rep, t, CALLING_AE_KEYS, "[[dicom.calling_ae]]");
    if let Some(v) = get(t, "description") {
        as_str(rep, v, "`description`");
    }
    let title = required_str(rep, t, sp, "title", "[[dicom.calling_ae]]")
        .and_then(|(title, s)| ae(rep, title, s, "`title`"));
    let mut conds = SenderConds::default();
    let ok = read_sender(rep, t, &mut conds, "dicom.calling_ae");
    if conds.address.is_none() && conds.cert_cn.is_none() && conds.cert_san.is_none() {
        rep.error_hint(
            sp.clone(),
            "[[dicom.calling_ae]] names no host or certificate: an AE title is only believed from where it is registered",
            "add `address = [\"10.30.1.0/24\"]`, `cert_cn = [\"ct01.example\"]` or `cert_san`; \
             another [[dicom.calling_ae]] with the same title adds an alternative",
        );
        return None;
    }
    match (ok, title) {
        (true, Some(title)) => Some(CallingAe {
            title,
            address: conds.address,
            cert_cn: conds.cert_cn,
            cert_san: conds.cert_san,
        }),
        _ => None,
    }
}
