//! Hand-built DICOM PDUs and command sets, written field by field from PS3.8 / PS3.7 without the
//! crate's encoders.
#![allow(dead_code)]

pub const VERIFICATION: &str = "1.2.840.10008.1.1";
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const JPEG_LOSSLESS_SV1: &str = "1.2.840.10008.1.2.4.70";
pub const APP_CONTEXT: &str = "1.2.840.10008.3.1.1.1";
pub const DCMTK_CLASS_UID: &str = "1.2.276.0.7230010.3.0.3.6.4";

/// An item or sub-item: type, reserved, u16 BE length, value (PS3.8 §9.3.2).
pub fn item(ty: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![ty, 0];
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// A PDU: type, reserved, u32 BE length, body (PS3.8 §9.3.1).
pub fn pdu(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![ty, 0];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn ae16(title: &str) -> Vec<u8> {
    format!("{title:<16}").into_bytes()
}

/// Version 1, reserved, called, calling, 32 reserved bytes (PS3.8 Table 9-11).
pub fn associate_fixed(called: &str, calling: &str) -> Vec<u8> {
    let mut out = vec![0x00, 0x01, 0x00, 0x00];
    out.extend(ae16(called));
    out.extend(ae16(calling));
    out.extend([0u8; 32]);
    out
}

pub fn proposed_context(id: u8, abstract_syntax: &str, transfer_syntaxes: &[&str]) -> Vec<u8> {
    let mut value = vec![id, 0, 0, 0];
    value.extend(item(0x30, abstract_syntax.as_bytes()));
    for ts in transfer_syntaxes {
        value.extend(item(0x40, ts.as_bytes()));
    }
    item(0x20, &value)
}

pub fn context_answer(id: u8, result: u8, transfer_syntax: &str) -> Vec<u8> {
    let mut value = vec![id, 0, result, 0];
    value.extend(item(0x40, transfer_syntax.as_bytes()));
    item(0x21, &value)
}

/// Max length 16384, DCMTK's class UID (odd length, so NUL padded) and version name.
pub fn user_info(extra: &[u8]) -> Vec<u8> {
    let mut value = item(0x51, &16_384u32.to_be_bytes());
    let mut uid = DCMTK_CLASS_UID.as_bytes().to_vec();
    uid.push(0);
    value.extend(item(0x52, &uid));
    value.extend(item(0x55, b"OFFIS_DCMTK_364"));
    value.extend_from_slice(extra);
    item(0x50, &value)
}

/// User identity, username and passcode (PS3.7 §D.3.3.7.1).
pub fn user_identity(user: &[u8], pass: &[u8]) -> Vec<u8> {
    let mut value = vec![2, 1];
    value.extend((user.len() as u16).to_be_bytes());
    value.extend(user);
    value.extend((pass.len() as u16).to_be_bytes());
    value.extend(pass);
    item(0x58, &value)
}

/// A CT modality asking a PACS for verification and CT storage (two presentation contexts),
/// with async ops, an SCU role selection and a username/passcode identity.
pub fn ct_associate_rq() -> Vec<u8> {
    let mut extra = item(0x53, &[0, 1, 0, 1]);
    let mut role = (CT_IMAGE_STORAGE.len() as u16).to_be_bytes().to_vec();
    role.extend(CT_IMAGE_STORAGE.as_bytes());
    role.extend([1, 0]);
    extra.extend(item(0x54, &role));
    extra.extend(user_identity(b"ct-tech", b"hunter2-secret"));
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(proposed_context(1, VERIFICATION, &[IMPLICIT_LE]));
    body.extend(proposed_context(
        3,
        CT_IMAGE_STORAGE,
        &[EXPLICIT_LE, IMPLICIT_LE, JPEG_LOSSLESS_SV1],
    ));
    body.extend(user_info(&extra));
    pdu(0x01, &body)
}

/// The PACS accepting both contexts, CT storage as explicit VR little endian.
pub fn ct_associate_ac() -> Vec<u8> {
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(context_answer(1, 0, IMPLICIT_LE));
    body.extend(context_answer(3, 0, EXPLICIT_LE));
    body.extend(user_info(&[]));
    pdu(0x02, &body)
}

/// One command-set element, implicit VR little endian (PS3.5 §7.1.3).
pub fn el(element: u16, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0];
    out.extend(element.to_le_bytes());
    out.extend((value.len() as u32).to_le_bytes());
    out.extend(value);
    out
}

pub fn us(v: u16) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// A UID value, NUL padded to even length.
pub fn ui(v: &str) -> Vec<u8> {
    let mut out = v.as_bytes().to_vec();
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// Elements preceded by a correct (0000,0000) group length.
pub fn command(elements: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = elements.concat();
    let mut out = el(0x0000, &(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// C-ECHO-RQ, message id 1, written out byte by byte (PS3.7 §9.3.5.1).
pub const C_ECHO_RQ: &[u8] = &[
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, // group length 56
    0x00, 0x00, 0x02, 0x00, 0x12, 0x00, 0x00, 0x00, // (0000,0002) UI, 18 bytes
    b'1', b'.', b'2', b'.', b'8', b'4', b'0', b'.', b'1', b'0', b'0', b'0', b'8', b'.', b'1', b'.',
    b'1', 0x00, //
    0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x30, 0x00, // (0000,0100) C-ECHO-RQ
    0x00, 0x00, 0x10, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, // (0000,0110) message id 1
    0x00, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, // (0000,0800) no data set
];

/// A P-DATA-TF carrying `fragment` as one PDV.
pub fn p_data(context_id: u8, control: u8, fragment: &[u8]) -> Vec<u8> {
    let mut body = ((fragment.len() + 2) as u32).to_be_bytes().to_vec();
    body.extend([context_id, control]);
    body.extend(fragment);
    pdu(0x04, &body)
}

/// The C-ECHO-RQ in a P-DATA-TF on context 1, last command fragment.
pub fn c_echo_p_data() -> Vec<u8> {
    p_data(1, 0x03, C_ECHO_RQ)
}

/// Every valid PDU shape the tests know.
pub fn valid_pdus() -> Vec<Vec<u8>> {
    vec![
        ct_associate_rq(),
        ct_associate_ac(),
        c_echo_p_data(),
        pdu(0x03, &[0, 1, 1, 7]),
        pdu(0x05, &[0; 4]),
        pdu(0x06, &[0; 4]),
        pdu(0x07, &[0, 0, 2, 6]),
    ]
}
