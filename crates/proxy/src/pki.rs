//! A throwaway development PKI: a CA, a server certificate and client certificates, generated at
//! run time for the embedded default, `wardgate demo` and tests. Never for production.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// Why the development PKI could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate generation failed.
    #[error("generating a development certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing a PEM file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A PEM certificate and its PEM private key.
#[derive(Debug, Clone)]
pub struct Pem {
    /// Certificate (PEM).
    pub cert: String,
    /// Private key (PKCS#8 PEM).
    pub key: String,
}

/// A development certificate authority that issues server and client certificates.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

impl DevCa {
    /// Make a new CA with the given common name.
    pub fn new(common_name: &str) -> Result<Self, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(DevCa { issuer })
    }

    /// The CA certificate (PEM), to trust on the other side.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(
        &self,
        common_name: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<Pem, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for name in names {
            let san = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*name).try_into()?),
            };
            params.subject_alt_names.push(san);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// A server certificate for the given DNS names and IP addresses.
    pub fn server(&self, names: &[&str]) -> Result<Pem, PkiError> {
        let cn = names.first().copied().unwrap_or("localhost");
        self.issue(cn, names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate whose subject CN (and DNS SAN) is `common_name`.
    pub fn client(&self, common_name: &str) -> Result<Pem, PkiError> {
        self.issue(
            common_name,
            &[common_name],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }
}

/// Paths of a development PKI written to disk.
#[derive(Debug, Clone)]
pub struct DevPkiFiles {
    /// The folder.
    pub dir: PathBuf,
    /// CA certificate.
    pub ca: PathBuf,
    /// Server certificate and key.
    pub server: (PathBuf, PathBuf),
    /// Client certificates and keys by common name.
    pub clients: Vec<(String, PathBuf, PathBuf)>,
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, PkiError> {
    std::fs::write(&path, text).map_err(|source| PkiError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Generate a CA, a server certificate for `server_names` and one client certificate per CN into
/// `dir` (created if needed).
pub fn write_dev_pki(
    dir: &Path,
    server_names: &[&str],
    client_cns: &[&str],
) -> Result<DevPkiFiles, PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let ca = DevCa::new("wardgate development CA")?;
    let ca_path = write(dir.join("ca.pem"), &ca.cert_pem())?;
    let server = ca.server(server_names)?;
    let server = (
        write(dir.join("server.pem"), &server.cert)?,
        write(dir.join("server-key.pem"), &server.key)?,
    );
    let mut clients = Vec::new();
    for cn in client_cns {
        let pem = ca.client(cn)?;
        clients.push((
            (*cn).to_owned(),
            write(dir.join(format!("client-{cn}.pem")), &pem.cert)?,
            write(dir.join(format!("client-{cn}-key.pem")), &pem.key)?,
        ));
    }
    Ok(DevPkiFiles {
        dir: dir.to_owned(),
        ca: ca_path,
        server,
        clients,
    })
}
