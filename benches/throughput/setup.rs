//! What phases 2 and 3 share: the development PKI, wardgate and the forwarder.

use super::*;

/// The development PKI: files on disk for the servers, PEM text for the clients.
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) ca_pem: String,
    pub(crate) client: Pem,
}

impl Pki {
    pub(crate) fn generate(dir: &Path) -> Pki {
        let ca = DevCa::new("wardgate bench CA").expect("generating the CA");
        let server = ca
            .server(&["localhost", "127.0.0.1"])
            .expect("generating the server certificate");
        let client = ca
            .client(EHR_CN)
            .expect("generating the client certificate");
        for (name, text) in [
            ("ca.pem", ca.cert_pem()),
            ("server.pem", server.cert),
            ("server-key.pem", server.key),
        ] {
            std::fs::write(dir.join(name), text).expect("writing the PKI files");
        }
        Pki {
            dir: dir.to_owned(),
            ca_pem: ca.cert_pem(),
            client,
        }
    }

    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        client_tls(&self.ca_pem, Some(&self.client)).expect("building the client TLS config")
    }
}

/// Where the proxy's audit lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audit {
    /// A file in the temporary folder (`AuditLog::to_file`: buffered, flushed per line).
    File,
    /// `std::io::sink()`: what the proxy costs without audit I/O.
    Sink,
}

/// Start wardgate on the embedded default's route settings (mutual TLS, shipped `rules/pcd03`,
/// fail closed), except `max_connections`, raised from 128 to 1024 for the idle-connection phase.
pub(crate) async fn start_proxy(
    pki_dir: &Path,
    upstream: SocketAddr,
    audit: Audit,
    tag: &str,
) -> SocketAddr {
    let p = |f: &str| pki_dir.join(f).display().to_string().replace('\\', "/");
    let r = |f: &str| root().join(f).display().to_string().replace('\\', "/");
    let text = format!(
        r#"[[route]]
name = "pcd03"
protocol = "hl7"
listen = "127.0.0.1:0"
upstream = "{upstream}"
rules = ["{policy}", "{library}"]
failure_policy = "closed"

[route.limits]
max_message_bytes = 1048576
idle_timeout = "5m"
frame_timeout = "10s"
max_connections = 1024

[route.tls]
cert = "{cert}"
key = "{key}"
client_ca = "{ca}"
client_auth = "required"
"#,
        policy = r("rules/pcd03/policy.toml"),
        library = r("rules/pcd03/drug-library.toml"),
        cert = p("server.pem"),
        key = p("server-key.pem"),
        ca = p("ca.pem"),
    );
    let config = Config::parse(&text, "bench config", None).expect("parsing the bench config");
    let specs: Vec<RouteSpec> = config
        .routes
        .iter()
        .map(|route| {
            let sources: Vec<RuleSource> = route
                .rules
                .iter()
                .map(|f| RuleSource::from_file(f).expect("reading a rule file"))
                .collect();
            RouteSpec {
                config: route.clone(),
                rules: compile(&sources).unwrap_or_else(|d| panic!("rules do not compile: {d}")),
            }
        })
        .collect();
    let log = match audit {
        Audit::File => AuditLog::to_file(&pki_dir.join(format!("audit-{tag}.jsonl")))
            .expect("opening the audit log"),
        Audit::Sink => AuditLog::to_writer(Box::new(std::io::sink())),
    };
    if std::env::var(METRICS_ENV).is_ok() {
        wardgate_proxy::admin::start(
            "127.0.0.1:0".parse().expect("an address"),
            wardgate_proxy::admin::Readiness::default(),
            None,
        )
        .await
        .expect("starting the admin endpoint");
    }
    let proxy = Proxy::bind(specs, Arc::new(log))
        .await
        .expect("binding the proxy");
    let addr = proxy
        .local_addrs()
        .first()
        .map(|(_, a)| *a)
        .expect("the proxy route did not bind");
    // Runs until the runtime is dropped at the end of the benchmark.
    tokio::spawn(proxy.run(std::future::pending::<()>()));
    addr
}

/// The forwarder's TLS: built by wardgate's own `tls::server_config`, so both servers negotiate
/// exactly the same way (mutual TLS, same provider, versions and verifier).
pub(crate) fn forwarder_tls(pki_dir: &Path) -> Arc<ServerConfig> {
    wardgate_proxy::tls::server_config(&ServerTls {
        cert: pki_dir.join("server.pem"),
        key: pki_dir.join("server-key.pem"),
        client_ca: Some(pki_dir.join("ca.pem")),
        client_auth: ClientAuth::Required,
    })
    .expect("building the forwarder's TLS config")
}

/// A plain TLS-terminating byte forwarder: no framing, no parsing, no rules, no audit.
pub(crate) async fn start_forwarder(pki_dir: &Path, upstream: SocketAddr) -> SocketAddr {
    let acceptor = TlsAcceptor::from(forwarder_tls(pki_dir));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the forwarder");
    let addr = listener.local_addr().expect("forwarder address");
    tokio::spawn(async move {
        for _ in 0..10_000_000u64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = forward_one(acceptor, tcp, upstream).await;
            });
        }
    });
    addr
}

/// Like wardgate, connect upstream only when the client first sends something, so idle
/// connections cost the same kind of resources on both servers.
pub(crate) async fn forward_one(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    upstream: SocketAddr,
) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut tls = acceptor.accept(tcp).await?;
    // One byte: the rest of the decrypted record stays in rustls's buffer for the copy below.
    let mut first = [0u8; 1];
    if tls.read(&mut first).await? == 0 {
        return Ok(());
    }
    let mut up = TcpStream::connect(upstream).await?;
    up.set_nodelay(true)?;
    up.write_all(&first).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut up).await?;
    Ok(())
}
