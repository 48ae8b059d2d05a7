//! Where a server listens and a client connects: a TCP socket address or,
//! on Unix, a socket path.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
#[cfg(unix)]
use std::path::{Path, PathBuf};

use crate::error::Context;

/// A server's or a peer's address.
///
/// `Display` prints a TCP address as `HOST:PORT` and a Unix socket as
/// `unix:PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix domain socket path.
    #[cfg(unix)]
    Unix(PathBuf),
}

impl Address {
    /// The TCP address, if this is one.
    pub fn as_tcp(&self) -> Option<SocketAddr> {
        match self {
            Address::Tcp(a) => Some(*a),
            #[cfg(unix)]
            Address::Unix(_) => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(a) => a.fmt(f),
            #[cfg(unix)]
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Address {
        Address::Tcp(a)
    }
}

/// Anything [`Server::bind`](crate::Server::bind) and
/// [`Client::connect`](crate::Client::connect) accept as an address: what
/// [`std::net::ToSocketAddrs`] accepts (`"127.0.0.1:4343"`,
/// `("localhost", 4343)`, a `SocketAddr`), an [`Address`], and on Unix a
/// `Path`/`PathBuf` naming a Unix domain socket. A string starting with
/// `unix:` also names a socket path.
pub trait ToAddress {
    /// Resolves to one or more addresses, tried in order.
    ///
    /// # Errors
    /// The name does not resolve, or a string is not `HOST:PORT` (a missing
    /// or bad port is named in the message).
    fn to_addresses(&self) -> io::Result<Vec<Address>>;
}

fn tcp(addrs: impl ToSocketAddrs) -> io::Result<Vec<Address>> {
    Ok(addrs.to_socket_addrs()?.map(Address::Tcp).collect())
}

/// What a string address may look like, for error messages.
#[cfg(unix)]
const EXPECTED: &str = "expected HOST:PORT, or unix:PATH for a Unix socket";
#[cfg(not(unix))]
const EXPECTED: &str = "expected HOST:PORT";

/// `err`, from resolving the string `addr`, with the address and what is
/// wrong with it: `invalid address "localhost": missing port (expected
/// HOST:PORT, ...)`, or `resolving "nowhere.invalid:80": failed to lookup
/// address information: ...`.
fn string_error(addr: &str, err: io::Error) -> io::Error {
    let message = if err.kind() == io::ErrorKind::InvalidInput {
        let problem = match addr.rsplit_once(':') {
            None | Some((_, "")) => "missing port".to_owned(),
            Some((_, port)) if port.parse::<u16>().is_err() => {
                format!("invalid port {port:?}")
            }
            Some(_) => "not a socket address".to_owned(),
        };
        format!("invalid address {addr:?}: {problem} ({EXPECTED})")
    } else {
        format!("resolving {addr:?}: {}", lowercase_first(&err.to_string()))
    };
    Context::wrap(err, message)
}

/// std's messages start with a capital ("Connection refused"); ours do not.
pub(crate) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl ToAddress for Address {
    fn to_addresses(&self) -> io::Result<Vec<Address>> {
        Ok(vec![self.clone()])
    }
}

impl ToAddress for str {
    fn to_addresses(&self) -> io::Result<Vec<Address>> {
        #[cfg(unix)]
        if let Some(path) = self.strip_prefix("unix:") {
            return Ok(vec![Address::Unix(PathBuf::from(path))]);
        }
        tcp(self).map_err(|e| string_error(self, e))
    }
}

impl ToAddress for String {
    fn to_addresses(&self) -> io::Result<Vec<Address>> {
        self.as_str().to_addresses()
    }
}

impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_addresses(&self) -> io::Result<Vec<Address>> {
        (**self).to_addresses()
    }
}

macro_rules! via_to_socket_addrs {
    ($($t:ty),* $(,)?) => {$(
        impl ToAddress for $t {
            fn to_addresses(&self) -> io::Result<Vec<Address>> {
                tcp(*self)
            }
        }
    )*};
}

via_to_socket_addrs!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16),
);

impl ToAddress for (&str, u16) {
    fn to_addresses(&self) -> io::Result<Vec<Address>> {
        tcp(*self).map_err(|e| {
            let message = format!(
                "resolving {:?} (port {}): {}",
                self.0,
                self.1,
                lowercase_first(&e.to_string())
            );
            Context::wrap(e, message)
        })
    }
}

#[cfg(unix)]
impl ToAddress for Path {
    fn to_addresses(&self) -> io::Result<Vec<Address>> {
        Ok(vec![Address::Unix(self.to_path_buf())])
    }
}

#[cfg(unix)]
impl ToAddress for PathBuf {
    fn to_addresses(&self) -> io::Result<Vec<Address>> {
        self.as_path().to_addresses()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_resolve_to_tcp_and_unix() {
        let a = "127.0.0.1:4343".to_addresses().unwrap();
        assert_eq!(a, vec![Address::Tcp("127.0.0.1:4343".parse().unwrap())]);
        assert_eq!(a[0].to_string(), "127.0.0.1:4343");
        #[cfg(unix)]
        {
            let u = "unix:/tmp/x.sock".to_addresses().unwrap();
            assert_eq!(u, vec![Address::Unix("/tmp/x.sock".into())]);
            assert_eq!(u[0].to_string(), "unix:/tmp/x.sock");
        }
        assert!("not an address".to_addresses().is_err());
    }

    #[test]
    fn a_missing_or_bad_port_is_named() {
        for (input, problem) in [
            ("localhost", "missing port"),
            ("localhost:", "missing port"),
            ("127.0.0.1", "missing port"),
            ("localhost:http", "invalid port \"http\""),
            ("localhost:70000", "invalid port \"70000\""),
        ] {
            let err = crate::Error::from(input.to_addresses().unwrap_err());
            assert_eq!(
                err.to_string(),
                format!("invalid address {input:?}: {problem} ({EXPECTED})")
            );
        }
    }
}
