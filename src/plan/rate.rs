//! `settings.spawnRate`: how many starts per second, minute or hour.

/// `count` starts per `per_ms`, as a token bucket of `count` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnRate {
    pub count: u32,
    pub per_ms: u64,
}

/// What `--validate-only` says about a value it cannot read.
pub const RATE_FORM: &str =
    "write N/s, N/min or N/h with N a whole number from 1 (\"10/min\", \"2/s\")";

impl SpawnRate {
    pub fn parse(text: &str) -> Result<SpawnRate, String> {
        let bad = || format!("'{text}' is not a rate: {RATE_FORM}");
        let (n, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        let per_ms = match unit.trim() {
            "s" | "sec" | "second" => 1_000,
            "m" | "min" | "minute" => 60_000,
            "h" | "hour" => 3_600_000,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!("'{text}' would never start anything: {RATE_FORM}"));
        }
        Ok(SpawnRate { count, per_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_accepted_forms() {
        let r = |s| SpawnRate::parse(s);
        assert_eq!(
            r("10/min"),
            Ok(SpawnRate {
                count: 10,
                per_ms: 60_000
            })
        );
        assert_eq!(
            r("2/s"),
            Ok(SpawnRate {
                count: 2,
                per_ms: 1_000
            })
        );
        assert_eq!(
            r(" 100 / h "),
            Ok(SpawnRate {
                count: 100,
                per_ms: 3_600_000
            })
        );
        for bad in [
            "10 per minute",
            "10",
            "/min",
            "x/min",
            "10/day",
            "-1/s",
            "0/s",
            "1.5/s",
        ] {
            let err = r(bad).unwrap_err();
            assert!(err.contains("N/s, N/min or N/h"), "{bad}: {err}");
        }
    }
}
