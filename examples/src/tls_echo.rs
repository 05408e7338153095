//! The line echo server over TLS: `TCPServer::with_tls` and `TCPClient::connect_tls`
//! (Tornado's `TCPServer(ssl_options=...)` and `TCPClient.connect(..., ssl_options=)`),
//! with a certificate made for the run; and a client that does not trust it, refused.

use std::sync::Arc;
use std::time::Duration;

use ioloop::prelude::*;
use ioloop::rustls;
use ioloop::tcpclient::TCPClient;
use ioloop::tcpserver::TCPServer;

use crate::line_echo::echo;

/// A server configuration with a fresh self-signed certificate for "localhost", and a
/// client configuration that trusts it (a real server loads its certificate chain and
/// key from files; a real client trusts the system's roots).
pub fn configs() -> Result<(rustls::ServerConfig, rustls::ClientConfig)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((server, client))
}

/// Sends `lines` over TLS and returns the echoes.
#[ioloop::coroutine]
pub fn client(
    port: u16,
    config: Arc<rustls::ClientConfig>,
    lines: Vec<String>,
) -> Result<Vec<String>> {
    let timeout = Some(Duration::from_secs(5));
    // Resolves once the handshake is done: the certificate was valid for "localhost".
    let connect =
        TCPClient::new().connect_tls("127.0.0.1", port, config, Some("localhost"), timeout);
    let stream = yield_!(connect)?;
    let mut echoed = Vec::new();
    for line in lines {
        yield_!(stream.write(format!("{line}\n")))?;
        let back = yield_!(stream.read_until("\n", None))?;
        echoed.push(String::from_utf8_lossy(&back).trim_end().to_string());
    }
    stream.close(); // sends close_notify: the server reads a clean end
    Ok(echoed)
}

/// Runs the TLS echo server, a client that trusts it, and one that does not.
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let (server_config, client_config) = configs()?;
    // The handler gets each stream at once; its first read waits for the handshake.
    let server = TCPServer::new(|stream, _| echo(stream)).with_tls(Arc::new(server_config));
    server.listen(0, Some("127.0.0.1"))?;
    let port = server.local_addrs()[0].port();
    let lines = vec!["first secret".to_string(), "second secret".to_string()];
    let config = Arc::new(client_config);
    let echoed = io.run_sync(
        move || client(port, config, lines),
        Some(Duration::from_secs(5)),
    )?;
    println!("TLS echo server on port {port} sent back {echoed:?}");

    // A client with no roots: the handshake fails, naming the cause (and the server
    // logs its side: "SSL Error on ...").
    let stranger = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let stranger = Arc::new(stranger);
    let refused = io.run_sync(
        move || client(port, stranger, vec!["never sent".to_string()]),
        Some(Duration::from_secs(5)),
    );
    match refused {
        Err(e) => println!("a client that does not trust the certificate: {e}"),
        Ok(_) => return Err(Error::msg("an untrusted certificate was accepted")),
    }
    server.stop();
    IOLoop::clear_current();
    Ok(())
}
