//! stdrpc over TLS: calls with the authkey on top, a plain client refused
//! cleanly, a wrong certificate refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use stdrpc::{Client, Config, Error, RunningServer, Server};

/// A server config with a fresh self-signed certificate for localhost, and
/// a client config that trusts exactly that certificate.
fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der: CertificateDer<'static> = cert.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

fn serve(config: Arc<ServerConfig>) -> (RunningServer, std::net::SocketAddr) {
    let mut server = Server::new(b"key");
    server.register("add", |a: i64, b: i64| a + b);
    server.register("echo", |b: Vec<u8>| b);
    let acceptor = stdrpc_tls::Acceptor::bind("127.0.0.1:0", config).unwrap();
    let running = server.accept_from(acceptor).unwrap().spawn().unwrap();
    let addr = running.local_addr().as_tcp().unwrap();
    (running, addr)
}

#[test]
fn a_tls_client_calls_a_tls_server_with_the_authkey_on_top() {
    let (server_config, client_config) = configs();
    let (running, addr) = serve(server_config);
    let tls = stdrpc_tls::connect(addr, Arc::clone(&client_config), "localhost").unwrap();
    let client = Client::over(tls, b"key").unwrap();
    assert_eq!(client.call::<_, i64>("add", (2i64, 3i64)).unwrap(), 5);
    // Frames of many TLS records, and many calls in flight.
    let big = vec![5u8; 3 << 20];
    assert_eq!(client.call::<_, Vec<u8>>("echo", big.clone()).unwrap(), big);
    let pending: Vec<_> = (0..500i64)
        .map(|i| client.start::<_, i64>("add", (i, i)).unwrap())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.wait().unwrap(), 2 * i as i64);
    }
    // The authkey still decides, inside TLS.
    let tls = stdrpc_tls::connect(addr, client_config, "localhost").unwrap();
    let err = Client::over(tls, b"wrong").unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    // A shutdown reaches the idle TLS connection.
    running.shutdown().unwrap();
    assert!(client.call::<_, i64>("add", (1i64, 1i64)).is_err());
}

#[test]
fn a_plain_client_against_the_tls_port_fails_cleanly() {
    let (server_config, client_config) = configs();
    let (running, addr) = serve(server_config);
    let started = Instant::now();
    let config = Config::default().handshake_timeout(Duration::from_millis(300));
    let err = Client::connect_with(addr, b"key", config).unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // The server goes on serving TLS clients.
    let tls = stdrpc_tls::connect(addr, client_config, "localhost").unwrap();
    let client = Client::over(tls, b"key").unwrap();
    assert_eq!(client.call::<_, i64>("add", (1i64, 2i64)).unwrap(), 3);
    drop(client);
    running.shutdown().unwrap();
}

#[test]
fn a_wrong_certificate_is_refused() {
    let (server_config, _) = configs();
    // A client that trusts another certificate.
    let (_, other_client) = configs();
    let (running, addr) = serve(server_config);
    let tls = stdrpc_tls::connect(addr, other_client, "localhost").unwrap();
    let err = Client::over(tls, b"key").unwrap_err();
    assert!(
        err.to_string().contains("certificate"),
        "expected a certificate error, got {err}"
    );
    assert_eq!(running.stats().authenticated, 0);
    running.shutdown().unwrap();
}
