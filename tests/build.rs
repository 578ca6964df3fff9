//! Turns the server variables into cfgs, so that a database test whose server is not named is
//! ignored (and counted as ignored in the runner's summary) instead of passing without running.

fn main() {
    for (variable, cfg) in [
        ("OPTIMISTIC_TEST_POSTGRES_URL", "optimistic_postgres"),
        ("OPTIMISTIC_TEST_MYSQL_URL", "optimistic_mysql"),
        // scripts/replica-servers.sh: a primary and its hot standby (both variables are read).
        ("OPTIMISTIC_TEST_PRIMARY_URL", "optimistic_replica"),
        // scripts/galera-servers.sh: three comma-separated node URLs.
        ("OPTIMISTIC_TEST_GALERA_URLS", "optimistic_galera"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={variable}");
        if std::env::var_os(variable).is_some_and(|value| !value.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
