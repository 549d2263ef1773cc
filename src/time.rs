//! Timestamps as the wire shows them: ISO-8601 UTC with milliseconds, and Unix milliseconds.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, truncated to milliseconds so a stored value reads back exactly as it was sent.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

pub fn iso(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn unix_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Unix milliseconds as `iso` writes them.
pub fn iso_ms(unix_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(unix_ms)
        .map(|at| iso(&at))
        .unwrap_or_default()
}

pub mod serde_iso {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::iso(at))
    }

    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&super::super::iso(at)),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_has_milliseconds_and_z() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T19:13:43.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(super::iso(&at), "2026-11-24T19:13:43.123Z");
    }
}
