//! A seat resource over HTTP, protected against lost updates with ETag / If-Match.
//!
//! `GET /seats/{id}` answers with the seat and `ETag: "<version>"` (or `304 Not Modified` when
//! `If-None-Match` names it). `PUT` and `DELETE` must send it back in `If-Match`: without it
//! they get `428 Precondition Required`; with a tag that is no longer current (someone else
//! wrote first) they get `412 Precondition Failed`, with the current `ETag`, and nothing is
//! written. The handlers map nothing by hand: `optimistic_core::http` (feature `axum`) gives
//! the extractors and the answers.
//!
//!     cargo run --example http_seats              # serves on 127.0.0.1:3000 (ADDR=.. to move)
//!     cargo run --example http_seats -- --demo    # plays two clients against it, then exits

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use optimistic_core::http::{IfMatch, IfNoneMatch, Rejection, Tagged};
use optimistic_core::{Optimistic, Version, driver, optimistic};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

/// The seat as stored and as clients see it: the version travels in the ETag, not the body.
#[optimistic(table = "seats")]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Seat {
    #[serde(skip)]
    id: i64,
    is_booked: bool,
    passenger_name: Option<String>,
    #[serde(skip)]
    version: Version,
}

/// `200` with the seat and its ETag, `304` when the client's copy is current, `404`.
async fn get_seat(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
    cached: IfNoneMatch,
) -> Result<Tagged<Version, Json<Seat>>, Rejection> {
    let seat: Seat = driver::fetch_by_key(&pool, &id)
        .await?
        .ok_or(Rejection::NotFound)?;
    Ok(cached.respond(seat.version, Json(seat)))
}

/// `200` with the new ETag; `428` without If-Match, `412` (with the current ETag) when it is not
/// the current version.
async fn put_seat(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
    if_match: IfMatch,
    Json(mut seat): Json<Seat>,
) -> Result<Tagged<Version, Json<Seat>>, Rejection> {
    seat.id = id;
    if_match.set_expected_version(&pool, &mut seat).await?;
    // Explained: a stale write reads the current version in the same statement for the 412.
    seat.version = driver::execute_explained(&pool, &seat.update()).await?;
    Ok(Tagged::new(seat.version, Json(seat)))
}

/// `204`; `428` without If-Match, `412` when it is not the current version.
async fn delete_seat(
    State(pool): State<SqlitePool>,
    Path(id): Path<i64>,
    if_match: IfMatch,
) -> Result<StatusCode, Rejection> {
    let mut seat = Seat {
        id,
        is_booked: false,
        passenger_name: None,
        version: Version::INITIAL,
    };
    if_match.set_expected_version(&pool, &mut seat).await?;
    driver::delete(&pool, &seat).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn app(pool: SqlitePool) -> Router {
    Router::new()
        .route(
            "/seats/{id}",
            get(get_seat).put(put_seat).delete(delete_seat),
        )
        .with_state(pool)
}

/// A fresh SQLite database with four free seats; the directory lives as long as the result.
async fn database() -> Result<(SqlitePool, tempfile::TempDir), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("seats.sqlite3"))
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await?;
    sqlx::raw_sql(
        "CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, passenger_name TEXT, version BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    for id in 1..=4 {
        let seat = Seat {
            id,
            is_booked: false,
            passenger_name: None,
            version: Version::INITIAL,
        };
        driver::insert(&pool, &seat).await?;
    }
    Ok((pool, dir))
}

/// Starts the service on `addr` in the background; returns where it listens.
async fn serve(
    addr: SocketAddr,
) -> Result<(SocketAddr, tempfile::TempDir), Box<dyn std::error::Error>> {
    let (pool, dir) = database().await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app(pool)).await });
    Ok((local, dir))
}

/// A blocking HTTP client that returns 4xx/5xx responses instead of failing on them.
struct Client {
    agent: ureq::Agent,
    base: String,
}

/// A response's status, ETag and body.
#[derive(Debug)]
struct Reply {
    status: u16,
    etag: Option<String>,
    body: String,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Client {
            agent: config.into(),
            base: format!("http://{addr}"),
        }
    }

    fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = response.expect("the server answers");
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status: response.status().as_u16(),
            etag,
            body,
        }
    }

    fn get(&self, id: i64) -> Reply {
        self.get_if_none_match(id, None)
    }

    fn get_if_none_match(&self, id: i64, if_none_match: Option<&str>) -> Reply {
        let mut request = self.agent.get(format!("{}/seats/{id}", self.base));
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        Self::reply(request.call())
    }

    fn put(&self, id: i64, if_match: Option<&str>, body: &SeatBody) -> Reply {
        let mut request = self
            .agent
            .put(format!("{}/seats/{id}", self.base))
            .header("content-type", "application/json");
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        Self::reply(request.send(serde_json::to_string(body).expect("a seat serializes")))
    }

    fn delete(&self, id: i64, if_match: Option<&str>) -> Reply {
        let mut request = self.agent.delete(format!("{}/seats/{id}", self.base));
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        Self::reply(request.call())
    }
}

/// The JSON a client sends and reads: the seat without its key and version.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct SeatBody {
    is_booked: bool,
    passenger_name: Option<String>,
}

fn booked(name: &str) -> SeatBody {
    SeatBody {
        is_booked: true,
        passenger_name: Some(name.to_owned()),
    }
}

/// Alice and Bob both read seat 2, then both try to book it: Bob's write is refused with 412
/// instead of silently replacing Alice's booking. Returns whether every step answered as it
/// should.
fn demo(client: &Client) -> bool {
    let mut ok = true;
    let mut step = |what: &str, reply: &Reply, expected: u16| {
        println!(
            "{what:<48} -> {} {}",
            reply.status,
            reply.etag.as_deref().unwrap_or("")
        );
        if reply.status != expected {
            println!("   expected {expected}: {}", reply.body);
            ok = false;
        }
        ok
    };
    let read = client.get(2);
    step("alice and bob GET /seats/2", &read, 200);
    let etag = read.etag.clone().unwrap_or_default();
    step(
        "bob PUT without If-Match",
        &client.put(2, None, &booked("Bob")),
        428,
    );
    let alice = client.put(2, Some(&etag), &booked("Alice"));
    step("alice PUT If-Match: <the ETag she read>", &alice, 200);
    step(
        "bob PUT If-Match: <the same, now stale ETag>",
        &client.put(2, Some(&etag), &booked("Bob")),
        412,
    );
    let now = client.get(2);
    step("GET /seats/2: still alice's booking", &now, 200);
    step(
        "bob DELETE If-Match: <stale ETag>",
        &client.delete(2, Some(&etag)),
        412,
    );
    step(
        "alice DELETE If-Match: <current ETag>",
        &client.delete(2, now.etag.as_deref()),
        204,
    );
    step("GET /seats/2 after the delete", &client.get(2), 404) && now.body.contains("Alice")
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    if std::env::args().any(|arg| arg == "--demo") {
        let (addr, _dir) = serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let ok = tokio::task::spawn_blocking(move || demo(&Client::new(addr))).await?;
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;
    let (addr, _dir) = serve(addr).await?;
    println!("serving seats 1-4 on http://{addr}/seats/{{id}}; Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server on an ephemeral loopback port, and a client for it.
    fn start() -> (tokio::runtime::Runtime, Client, tempfile::TempDir) {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let (addr, dir) = runtime
            .block_on(serve(SocketAddr::from(([127, 0, 0, 1], 0))))
            .expect("the server starts");
        (runtime, Client::new(addr), dir)
    }

    #[test]
    fn a_lost_update_is_prevented_end_to_end() {
        let (_runtime, client, _dir) = start();
        assert!(demo(&client));
    }

    #[test]
    fn every_precondition_answers_with_its_status() {
        let (_runtime, client, _dir) = start();
        let read = client.get(1);
        assert_eq!((read.status, read.etag.as_deref()), (200, Some("\"1\"")));
        assert_eq!(
            serde_json::from_str::<SeatBody>(&read.body).unwrap(),
            SeatBody {
                is_booked: false,
                passenger_name: None
            }
        );

        assert_eq!(client.put(1, None, &booked("A")).status, 428);
        assert_eq!(
            client.put(1, Some("1"), &booked("A")).status,
            400,
            "unquoted tag"
        );
        assert_eq!(
            client.put(1, Some("W/\"1\""), &booked("A")).status,
            412,
            "weak tags never match"
        );
        let written = client.put(1, Some("\"7\", \"1\""), &booked("A"));
        assert_eq!(
            (written.status, written.etag.as_deref()),
            (200, Some("\"2\"")),
            "a list matches any of its tags"
        );
        let any = client.put(1, Some("*"), &booked("B"));
        assert_eq!(
            (any.status, any.etag.as_deref()),
            (200, Some("\"3\"")),
            "* matches the current version"
        );
        assert_eq!(
            client.put(9, Some("*"), &booked("C")).status,
            412,
            "* fails when there is no seat"
        );
        assert_eq!(
            client.put(9, Some("\"1\""), &booked("C")).status,
            412,
            "no seat: stale"
        );
        assert_eq!(client.delete(1, None).status, 428);
        let stale = client.put(1, Some("\"2\""), &booked("C"));
        assert_eq!(
            (stale.status, stale.etag.as_deref()),
            (412, Some("\"3\"")),
            "a stale write answers with the current ETag"
        );
        assert_eq!(
            client.get(1).body,
            serde_json::to_string(&booked("B")).unwrap()
        );
    }

    #[test]
    fn a_current_copy_is_not_sent_again() {
        let (_runtime, client, _dir) = start();
        let read = client.get(3);
        let tag = read.etag.as_deref();
        let cached = client.get_if_none_match(3, tag);
        assert_eq!(
            (cached.status, cached.etag.as_deref(), cached.body.as_str()),
            (304, tag, "")
        );
        assert_eq!(client.put(3, tag, &booked("D")).status, 200);
        let changed = client.get_if_none_match(3, tag);
        assert_eq!(
            (changed.status, changed.etag.as_deref()),
            (200, Some("\"2\""))
        );
        assert_eq!(client.get_if_none_match(9, tag).status, 404);
        assert_eq!(client.get_if_none_match(3, Some("nope")).status, 400);
    }
}
