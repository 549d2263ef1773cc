//! clap value parsers for settings whose type alone does not say what is valid. Each returns
//! the reason clap prints after the flag's name (it then exits with status 2).

use super::CorsOrigins;
use crate::net::TrustedProxies;

/// An `http://` or `https://` URL (model and embedding servers).
pub fn http_url(raw: &str) -> Result<String, String> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(raw.to_owned()),
        _ => Err(format!("`{raw}` is not an http(s) URL")),
    }
}

/// A `sqlite://` or `postgres://` URL; migrations run on it at start.
pub fn database_url(raw: &str) -> Result<String, String> {
    let scheme = raw.split_once("://").map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "sqlite" | "postgres" | "postgresql" => Ok(raw.to_owned()),
        _ => Err("expected a sqlite:// or postgres:// URL".into()),
    }
}

/// A `redis://` URL, with RESP3 selected (socketioxide-redis needs it) when the URL does not.
pub fn redis_url(raw: &str) -> Result<String, String> {
    let mut url = url::Url::parse(raw).map_err(|e| format!("`{raw}`: {e}"))?;
    match url.scheme() {
        "redis" => {}
        "rediss" => return Err("TLS (rediss://) is not built in; use redis://".into()),
        other => return Err(format!("expected a redis:// URL, not {other}://")),
    }
    let mut others = Vec::new();
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.to_ascii_lowercase().as_str()) {
            ("protocol", "resp3" | "3") => {}
            ("protocol", other) => {
                return Err(format!(
                    "protocol={other}: the Redis adapter needs RESP3 (Redis 7+); drop the parameter"
                ))
            }
            _ => others.push((key.into_owned(), value.into_owned())),
        }
    }
    // redis-rs reads only the lower-case spelling.
    url.query_pairs_mut()
        .clear()
        .extend_pairs(others)
        .append_pair("protocol", "resp3");
    Ok(url.into())
}

/// A prefix of Redis channel names.
pub fn redis_prefix(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.contains(['#', ' ']) {
        return Err("must be non-empty, without spaces or `#`".into());
    }
    Ok(raw.to_owned())
}

/// Comma-separated origins (normalised to `scheme://host[:port]`), or `*`.
pub fn origins(raw: &str) -> Result<CorsOrigins, String> {
    let raw = raw.trim();
    if raw == "*" {
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let parsed = url::Url::parse(origin).map_err(|e| format!("`{origin}`: {e}"))?;
        origins.push(parsed.origin().ascii_serialization());
    }
    Ok(CorsOrigins::List(origins))
}

pub fn trusted_proxies(raw: &str) -> Result<TrustedProxies, String> {
    TrustedProxies::parse(raw)
}

/// A rate: a finite number of at least 1.
pub fn rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 1.0 => Ok(v),
        _ => Err(format!("`{raw}` is not a number ≥ 1")),
    }
}

/// Reciprocal rank fusion's k: a finite number of at least 0.
pub fn rrf_k(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{raw}` is not a number ≥ 0")),
    }
}

/// A cosine similarity, between -1 and 1.
pub fn similarity(raw: &str) -> Result<f32, String> {
    match raw.parse::<f32>() {
        Ok(v) if (-1.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{raw}` is not a number between -1 and 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_get_resp3_and_wrong_ones_are_refused() {
        assert_eq!(
            redis_url("redis://127.0.0.1:6379").unwrap(),
            "redis://127.0.0.1:6379?protocol=resp3"
        );
        assert_eq!(
            redis_url("redis://h:1/2?protocol=RESP3&x=1").unwrap(),
            "redis://h:1/2?x=1&protocol=resp3"
        );
        for wrong in [
            "http://h",
            "rediss://h",
            "redis://h?protocol=resp2",
            "not a url",
        ] {
            assert!(redis_url(wrong).is_err(), "{wrong}");
        }
        assert!(redis_prefix("a#b").is_err());
    }

    #[test]
    fn origins_are_normalised() {
        match origins("http://a.test:3000/, https://b.test").unwrap() {
            CorsOrigins::List(list) => assert_eq!(list, ["http://a.test:3000", "https://b.test"]),
            CorsOrigins::Any => panic!("expected a list"),
        }
        assert!(matches!(origins(" * ").unwrap(), CorsOrigins::Any));
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        assert!(rate("0.5").is_err() && rate("NaN").is_err() && rate("inf").is_err());
        assert_eq!(rate("2.5"), Ok(2.5));
        assert!(rrf_k("-1").is_err());
        assert!(similarity("1.5").is_err());
    }
}
