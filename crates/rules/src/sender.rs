//! Who sent a message, as far as the network and TLS can tell.

use std::net::IpAddr;

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
