//! Who sent a message, as far as the network and TLS can tell.

use std::net::IpAddr;

use crate::condition::{AddressCondition, TextCondition};

/// The identity a client certificate carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertIdentity {
    /// Subject common name.
    pub common_name: Option<String>,
    /// Subject alternative names (DNS names, IP addresses and URIs, as text).
    pub alt_names: Vec<String>,
}

/// The sender of a message: its address and, with mutual TLS, its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Peer IP address of the connection.
    pub address: IpAddr,
    /// The verified client certificate's identity, when the client presented one.
    pub certificate: Option<CertIdentity>,
}

impl Sender {
    /// A sender known only by its address (plaintext or TLS without client certificate).
    pub fn from_address(address: IpAddr) -> Self {
        Sender {
            address,
            certificate: None,
        }
    }
}

/// Address and certificate conditions (each given one must hold), shared by rules of every
/// protocol and the DICOM calling-AE registry.
pub(crate) fn sender_holds(
    address: &Option<AddressCondition>,
    cert_cn: &Option<TextCondition>,
    cert_san: &Option<TextCondition>,
    sender: &Sender,
) -> bool {
    if let Some(a) = address {
        if !a.holds(sender.address) {
            return false;
        }
    }
    let cert = sender.certificate.as_ref();
    if let Some(c) = cert_cn {
        let cn = cert.and_then(|c| c.common_name.as_deref());
        if !c.holds(cn.map(str::as_bytes)) {
            return false;
        }
    }
    if let Some(c) = cert_san {
        let sans = cert.map(|c| c.alt_names.as_slice()).unwrap_or_default();
        if !c.holds(sans.iter().map(|s| s.as_bytes())) {
            return false;
        }
    }
    true
}
