//! An stdrpc server and client over TLS, with a self-signed certificate
//! generated at run time; the authkey handshake runs inside the TLS
//! session.
//!
//! ```text
//! cargo run --release -p stdrpc-tls --example tls
//! ```

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "\
usage: tls
        serve `add` over TLS on 127.0.0.1 (a self-signed certificate for
        localhost, made at run time) and call it over TLS";

fn main() -> Result<()> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    // A certificate for "localhost", and a client that trusts only it.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert_der: CertificateDer<'static> = cert.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)?;
    let mut roots = RootCertStore::empty();
    roots.add(cert_der)?;
    let client_config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();

    // The server: the usual stdrpc server, its peers from a TLS acceptor.
    let mut server = stdrpc::Server::new(b"authkey");
    server.register("add", |a: i64, b: i64| a + b);
    let acceptor = stdrpc_tls::Acceptor::bind("127.0.0.1:0", Arc::new(server_config))?;
    let running = server.accept_from(acceptor)?.spawn()?;
    let addr = running.local_addr().as_tcp().ok_or("not a TCP address")?;

    // The client: TLS to the server, then the authkey handshake inside it.
    let tls = stdrpc_tls::connect(addr, Arc::new(client_config), "localhost")?;
    let client = stdrpc::Client::over(tls, b"authkey")?;
    let sum: i64 = client.call("add", (2i64, 3i64))?;
    println!("over TLS to {addr}: add(2, 3) = {sum}");
    drop(client);
    running.shutdown()?;
    Ok(())
}
