//! `CancelFlightInfo` (and the older `CancelQuery` action): a client that
//! got a FlightInfo can stop the DoGet streams it started from it. Running
//! streams are found by (user, ticket), so a user can stop only their own;
//! a stopped stream ends with the same "canceling statement" error as a
//! PostgreSQL cancel request, and the audit records it as cancelled.

use arrow_flight::{CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightInfo};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// The action's type name in the Flight protocol.
pub const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";

/// (user, ticket) → the cancel counter its running DoGet streams watch.
type Streams = HashMap<(String, Vec<u8>), watch::Sender<u64>>;

#[derive(Default)]
pub struct Running {
    map: Mutex<Streams>,
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A DoGet of `ticket` by `user` starts: the receiver it stops on. Entries
    /// whose streams have all ended are dropped here.
    pub fn start(&self, user: &str, ticket: &[u8]) -> watch::Receiver<u64> {
        let mut map = self.lock();
        map.retain(|_, tx| tx.receiver_count() > 0);
        map.entry((user.to_string(), ticket.to_vec()))
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Stop `user`'s running streams of every endpoint of `info`; CANCELLED
    /// when there was one, `None` when none is running (NOT_FOUND, as the
    /// protocol asks for a query the server does not know).
    pub fn cancel(&self, user: &str, info: &FlightInfo) -> Option<CancelStatus> {
        let map = self.lock();
        let mut stopped = false;
        for endpoint in &info.endpoint {
            let Some(ticket) = &endpoint.ticket else {
                continue;
            };
            if let Some(tx) = map.get(&(user.to_string(), ticket.ticket.to_vec()))
                && tx.receiver_count() > 0
            {
                tx.send_modify(|n| *n += 1);
                stopped = true;
            }
        }
        stopped.then_some(CancelStatus::Cancelled)
    }
}

/// The FlightInfo a `CancelFlightInfo` action's body carries.
pub fn request(body: &[u8]) -> Result<FlightInfo, tonic::Status> {
    use prost::Message;
    CancelFlightInfoRequest::decode(body)
        .ok()
        .and_then(|r| r.info)
        .ok_or_else(|| tonic::Status::invalid_argument("CancelFlightInfo needs a FlightInfo"))
}

pub fn result(status: CancelStatus) -> bytes::Bytes {
    use prost::Message;
    CancelFlightInfoResult::new(status).encode_to_vec().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_flight::{FlightEndpoint, Ticket};

    fn info(ticket: &[u8]) -> FlightInfo {
        FlightInfo::new()
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket.to_vec())))
    }

    #[test]
    fn only_the_users_own_running_stream_is_stopped() {
        let running = Running::default();
        let mut rx = running.start("ana", b"t1");
        rx.mark_unchanged();
        // Another user's FlightInfo with the same ticket, and another ticket.
        assert_eq!(running.cancel("kim", &info(b"t1")), None);
        assert_eq!(running.cancel("ana", &info(b"t2")), None);
        assert!(!rx.has_changed().expect("open"));
        assert_eq!(
            running.cancel("ana", &info(b"t1")),
            Some(CancelStatus::Cancelled)
        );
        assert!(rx.has_changed().expect("open"));
        // A stream that ended cannot be cancelled, and its entry goes.
        drop(rx);
        assert_eq!(running.cancel("ana", &info(b"t1")), None);
        let _other = running.start("ana", b"t3");
        assert_eq!(running.lock().len(), 1);
    }

    #[test]
    fn the_request_and_result_round_trip_as_protobuf() {
        use prost::Message;
        let body = CancelFlightInfoRequest::new(info(b"t1")).encode_to_vec();
        assert_eq!(request(&body).expect("info"), info(b"t1"));
        assert!(request(b"\xff\xff").is_err());
        // Field 1, varint 1: CANCELLED.
        assert_eq!(&result(CancelStatus::Cancelled)[..], b"\x08\x01");
    }
}
