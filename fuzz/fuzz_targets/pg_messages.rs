//! The PostgreSQL wire protocol as `touchpoint serve` reads it: any bytes
//! through pgwire's frontend decoding (the startup phase, then messages),
//! every decoded statement (Query, Parse) through the server's parser,
//! catalog rewrites and classifier and the keyed lookups' token recogniser, and every Bind's parameter values through
//! the decoding the server runs (arrow-pg) at types the input picks. No
//! panic, no hang, bounded memory (run with `-timeout=10
//! -rss_limit_mb=2048`): a message decodes, waits for more bytes or is an
//! error.
//!
//! pgwire 0.41's decoder panics on some malformed messages (a Bind whose
//! parameter length runs past the message; `seed-bind-overlong`). The
//! server contains such a panic in the connection's task (see
//! `serve/listen.rs`, tested in `tests/cli/serve.rs`), so here a panic
//! inside pgwire's decoding ends the input like a closed connection;
//! a panic anywhere after it (our parsing, rewrites, parameter decoding)
//! is a finding.
#![no_main]

use bytes::BytesMut;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use libfuzzer_sys::fuzz_target;
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::api::stmt::StoredStatement;
use pgwire::messages::{DecodeContext, PgWireFrontendMessage};
use std::sync::{Arc, LazyLock};
use touchpoint::serve::lookup::Lookups;
use touchpoint::serve::{protocol, rewrite, statement};

/// The parameter types a Bind is decoded at: what drivers send.
const TYPES: &[Type] = &[
    Type::BOOL,
    Type::INT2,
    Type::INT4,
    Type::INT8,
    Type::FLOAT4,
    Type::FLOAT8,
    Type::NUMERIC,
    Type::TEXT,
    Type::VARCHAR,
    Type::BPCHAR,
    Type::BYTEA,
    Type::DATE,
    Type::TIME,
    Type::TIMESTAMP,
    Type::TIMESTAMPTZ,
    Type::INTERVAL,
    Type::UUID,
    Type::JSON,
    Type::JSONB,
    Type::OID,
    Type::UNKNOWN,
    Type::INT4_ARRAY,
    Type::TEXT_ARRAY,
];

/// Parse, rewrite and classify as the server does before planning; and
/// recognise a keyed lookup from its tokens, twice (the first time its
/// pattern is learnt, the second it is known).
fn statements(sql: &str) {
    static PARSER: LazyLock<PostgresCompatibilityParser> =
        LazyLock::new(PostgresCompatibilityParser::new);
    static LOOKUPS: LazyLock<Lookups> = LazyLock::new(|| Lookups::new(1));
    for _ in 0..2 {
        let _ = LOOKUPS.recognise(sql);
    }
    if let Ok(mut stmts) = PARSER.parse(sql) {
        for s in &mut stmts {
            rewrite::catalog_dialect(s);
            let _ = statement::classify(s);
        }
    }
}

fn handle(msg: PgWireFrontendMessage, pick: u8) {
    match msg {
        PgWireFrontendMessage::Query(q) => statements(&q.query),
        PgWireFrontendMessage::Parse(p) => statements(&p.query),
        PgWireFrontendMessage::Bind(bind) => {
            let n = bind.parameters.len();
            let types: Vec<Option<Type>> = (0..n)
                .map(|i| Some(TYPES[(pick as usize + i * 7) % TYPES.len()].clone()))
                .collect();
            // Half the time the client declares the types at Parse;
            // otherwise the server's own types decide.
            let declared = if pick & 2 == 0 { types.clone() } else { vec![] };
            let stmt = Arc::new(StoredStatement::new(String::new(), String::new(), declared));
            let server: Vec<Option<&Type>> = types.iter().map(|t| t.as_ref()).collect();
            // The server's checks before it decodes parameters.
            if let Ok(portal) = Portal::try_new(&bind, stmt)
                && protocol::check_formats(&portal.parameter_format, n, protocol::Codes::Parameters)
                    .is_ok()
                && protocol::check_parameter_widths(&portal, &server).is_ok()
            {
                let inferred = vec![None; n];
                let _ = deserialize_parameters_with_server_types(&portal, &inferred, &server);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut ctx = DecodeContext::default();
    if pick & 1 == 1 {
        // Straight to the message phase, where most of the protocol is.
        ctx.awaiting_frontend_ssl = false;
        ctx.awaiting_frontend_startup = false;
    }
    let mut buf = BytesMut::from(rest);
    for _ in 0..256 {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            PgWireFrontendMessage::decode(&mut buf, &ctx)
        }));
        std::panic::set_hook(hook);
        let Ok(decoded) = decoded else {
            return; // the server closes this connection
        };
        match decoded {
            Ok(Some(msg)) => {
                match &msg {
                    PgWireFrontendMessage::SslNegotiation(_) => ctx.awaiting_frontend_ssl = false,
                    PgWireFrontendMessage::Startup(_) => {
                        ctx.awaiting_frontend_ssl = false;
                        ctx.awaiting_frontend_startup = false;
                    }
                    _ => {}
                }
                handle(msg, pick);
            }
            Ok(None) | Err(_) => break,
        }
    }
});
