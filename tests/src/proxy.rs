//! A TCP proxy in front of a database server that can lose the server's answers: the fault
//! behind "the write committed, but the client saw an error". Once [`Proxy::lose_answers`] is
//! called, what the client sends still reaches the server, but what the server sends back is
//! dropped, and the client's connection is closed a moment later, as a dying link or a killed
//! proxy would; [`Proxy::cut`] closes every connection at once, wherever its statements are.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a lost answer leaves the client waiting before its connection closes: enough for
/// the server to finish the statement whose answer was lost.
const CLOSE_AFTER: Duration = Duration::from_millis(200);

/// A proxy on a loopback port, forwarding to one server.
pub struct Proxy {
    port: u16,
    losing: Arc<AtomicBool>,
    clients: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards each connection to `server`.
    ///
    /// # Panics
    ///
    /// When no port is free.
    pub fn start(server: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the proxy");
        let port = listener.local_addr().expect("the proxy's port").port();
        let losing = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(Mutex::new(Vec::new()));
        let (accept_losing, accept_clients) = (Arc::clone(&losing), Arc::clone(&clients));
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(upstream) = TcpStream::connect(server) else {
                    continue;
                };
                if let Ok(kept) = client.try_clone() {
                    accept_clients.lock().unwrap().push(kept);
                }
                pump(&client, &upstream, None);
                pump(&upstream, &client, Some(Arc::clone(&accept_losing)));
            }
        });
        Proxy {
            port,
            losing,
            clients,
        }
    }

    /// The port clients connect to instead of the server's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cuts every connection open through the proxy now, as a failing link would: statements
    /// the server already has still run; their answers are lost. Returns how many were cut.
    pub fn cut(&self) -> u64 {
        let mut clients = self.clients.lock().unwrap();
        let cut = clients.len() as u64;
        for client in clients.drain(..) {
            let _ = client.shutdown(Shutdown::Both);
        }
        cut
    }

    /// From now on, the server's answers are dropped and each client connection that was due
    /// one is closed shortly after: the statements already sent still run on the server.
    pub fn lose_answers(&self) {
        self.losing.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for client in self.clients.lock().unwrap().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` on a thread; with `losing`, drops what comes once it is set and then
/// closes both sides.
fn pump(from: &TcpStream, to: &TcpStream, losing: Option<Arc<AtomicBool>>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let mut buffer = [0_u8; 16 * 1024];
        loop {
            let read = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            if losing.as_ref().is_some_and(|l| l.load(Ordering::SeqCst)) {
                thread::sleep(CLOSE_AFTER);
                break;
            }
            if to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The `host:port` of a server URL such as `postgres://user@127.0.0.1:5432/db`.
///
/// # Panics
///
/// When the URL names no host and port.
pub fn server_address(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    use std::net::ToSocketAddrs;
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .unwrap_or_else(|| panic!("no host:port in {url}"))
}

/// `url` with its host and port replaced by the proxy's.
pub fn through(url: &str, proxy: &Proxy) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let user = authority
        .rsplit_once('@')
        .map_or(String::new(), |(user, _)| format!("{user}@"));
    format!("{scheme}://{user}127.0.0.1:{}{tail}", proxy.port())
}
