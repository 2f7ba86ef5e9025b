//! The sender identity a verified client certificate carries (subject CN and alternative names).

use wardgate_rules::CertIdentity;
use x509_parser::extensions::GeneralName;

/// Read the CN and SANs of a DER certificate already verified by rustls. A certificate that
/// rustls accepted but x509-parser cannot read yields an empty identity (rules then see no name).
pub fn identity_of(der: &[u8]) -> CertIdentity {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return CertIdentity::default();
    };
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let mut alt_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => alt_names.push((*n).to_owned()),
                GeneralName::URI(u) => alt_names.push((*u).to_owned()),
                GeneralName::RFC822Name(m) => alt_names.push((*m).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes)
                            .ok()
                            .map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        alt_names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    CertIdentity {
        common_name,
        alt_names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn reads_cn_and_sans_of_a_client_certificate() {
        let ca = crate::pki::DevCa::new("test CA").unwrap();
        let pem = ca.client("ehr-bcma.egh.example").unwrap();
        let der = CertificateDer::from_pem_slice(pem.cert.as_bytes()).unwrap();
        let id = identity_of(&der);
        assert_eq!(id.common_name.as_deref(), Some("ehr-bcma.egh.example"));
        assert_eq!(id.alt_names, vec!["ehr-bcma.egh.example".to_string()]);
        assert_eq!(identity_of(b"not a certificate"), CertIdentity::default());
    }
}
