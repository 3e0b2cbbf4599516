/*!
Shards: one list, many machines. A run with shard `K/N` takes only the entries whose key (the
resolved target path) hashes to `K` modulo `N`, so every entry belongs to exactly one shard
whatever the machine, the order of tasks or a rerun. `auto` reads `K` and `N` from the
environment of the array schedulers (Slurm, Kubernetes Indexed Jobs, AWS Batch).
*/

use sha2::{Digest, Sha256};

use crate::error::Error;

/// The variable a Kubernetes manifest or an AWS Batch job definition sets to the number of
/// shards, when `--shard-count` is not given (those schedulers do not tell the array size).
pub const COUNT_VAR: &str = "FETCHPOOL_SHARD_COUNT";

/// This run's share of the list: shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// Which shard, from 0 to `count - 1`.
    pub index: u32,
    /// How many shards the list is cut into.
    pub count: u32,
}

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// [`Error::InvalidShard`] when `count` is 0 or `index` is not below it.
    pub fn new(index: u32, count: u32) -> Result<Shard, Error> {
        let invalid = |reason: String| Error::InvalidShard {
            value: format!("{index}/{count}"),
            reason,
        };
        if count == 0 {
            return Err(invalid("the count must be at least 1".into()));
        }
        if index >= count {
            return Err(invalid(format!(
                "the index is 0-based: expected 0 to {}",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// Parse `K/N` (0-based `K`).
    ///
    /// # Errors
    /// [`Error::InvalidShard`] naming the value.
    pub fn parse(text: &str) -> Result<Shard, Error> {
        let invalid = || Error::InvalidShard {
            value: text.to_string(),
            reason: "expected K/N (0-based index K of N shards) or auto".into(),
        };
        let (k, n) = text.split_once('/').ok_or_else(invalid)?;
        let k = k.trim().parse().map_err(|_| invalid())?;
        let n = n.trim().parse().map_err(|_| invalid())?;
        Shard::new(k, n)
    }

    /// The shard of an array task, from the process environment: see [`Shard::from_vars`].
    ///
    /// # Errors
    /// As [`Shard::from_vars`].
    pub fn from_env(count: Option<u32>) -> Result<Shard, Error> {
        Shard::from_vars(count, |name| std::env::var(name).ok())
    }

    /// The shard of an array task, from the variables `var` looks up. The index is Slurm's
    /// `SLURM_ARRAY_TASK_ID` (relative to `SLURM_ARRAY_TASK_MIN`, over
    /// `SLURM_ARRAY_TASK_STEP`), Kubernetes' `JOB_COMPLETION_INDEX` or AWS Batch's
    /// `AWS_BATCH_JOB_ARRAY_INDEX`. The count is `count` when given, else Slurm's
    /// `SLURM_ARRAY_TASK_COUNT` (or its min and max), else [`COUNT_VAR`].
    ///
    /// # Errors
    /// [`Error::NoShardEnvironment`] when no index variable is set or the count is unknown;
    /// [`Error::InvalidShard`] for a value that is not a number or an index out of range.
    pub fn from_vars(
        count: Option<u32>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Shard, Error> {
        let number = |name: &str| -> Result<Option<u32>, Error> {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    v.trim().parse().map_err(|_| Error::InvalidShard {
                        value: format!("{name}={v}"),
                        reason: "not a number".into(),
                    })
                })
                .transpose()
        };
        let given = match count {
            Some(n) => Some(n),
            None => number(COUNT_VAR)?,
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let from_slurm = match (
                number("SLURM_ARRAY_TASK_COUNT")?,
                number("SLURM_ARRAY_TASK_MAX")?,
            ) {
                (Some(n), _) => Some(n),
                (None, Some(max)) => Some(max.saturating_sub(min) / step + 1),
                (None, None) => None,
            };
            let count = count
                .or(from_slurm)
                .or(given)
                .ok_or(Error::NoShardEnvironment {
                    reason: "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor \
                         SLURM_ARRAY_TASK_MAX; give --shard-count"
                        .into(),
                })?;
            return Shard::new(id.saturating_sub(min) / step, count);
        }
        for name in ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"] {
            if let Some(index) = number(name)? {
                let count = given.ok_or_else(|| Error::NoShardEnvironment {
                    reason: format!(
                        "{name} is set but the number of shards is not: give --shard-count \
                         or set {COUNT_VAR}"
                    ),
                })?;
                return Shard::new(index, count);
            }
        }
        Err(Error::NoShardEnvironment {
            reason: "none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or \
                     AWS_BATCH_JOB_ARRAY_INDEX is set; give --shard K/N"
                .into(),
        })
    }

    /// Whether the entry with this key is this shard's.
    pub fn owns(&self, key: &[u8]) -> bool {
        shard_of(key, self.count) == self.index
    }

    /// `pattern` with every `%k` replaced by the index (e.g. `report-%k.json`).
    pub fn expand(&self, pattern: &str) -> String {
        pattern.replace("%k", &self.index.to_string())
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard of `key` among `count`: the first 8 bytes of its SHA-256, modulo `count`. The
/// same on every machine, platform and Rust version (std's hasher is none of those).
pub fn shard_of(key: &[u8], count: u32) -> u32 {
    let digest = Sha256::digest(key);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn k_of_n_parses_and_checks_its_range() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["4/4", "1/0", "x/2", "3", "-1/2", ""] {
            let err = Shard::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn auto_reads_each_scheduler() {
        let slurm = vars(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            Shard::from_vars(None, slurm).unwrap(),
            Shard { index: 3, count: 4 }
        );
        // --array=1-8:2 → tasks 1, 3, 5, 7.
        let stepped = vars(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ]);
        assert_eq!(
            Shard::from_vars(None, stepped).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let k8s = vars(&[("JOB_COMPLETION_INDEX", "1"), (COUNT_VAR, "3")]);
        assert_eq!(
            Shard::from_vars(None, k8s).unwrap(),
            Shard { index: 1, count: 3 }
        );
        let aws = vars(&[("AWS_BATCH_JOB_ARRAY_INDEX", "0")]);
        assert_eq!(
            Shard::from_vars(Some(2), aws).unwrap(),
            Shard { index: 0, count: 2 }
        );
    }

    #[test]
    fn auto_without_the_variables_names_them() {
        let err = Shard::from_vars(None, vars(&[])).unwrap_err().to_string();
        for name in [
            "SLURM_ARRAY_TASK_ID",
            "JOB_COMPLETION_INDEX",
            "AWS_BATCH_JOB_ARRAY_INDEX",
        ] {
            assert!(err.contains(name), "{err}");
        }
        let err = Shard::from_vars(None, vars(&[("JOB_COMPLETION_INDEX", "0")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--shard-count") && err.contains(COUNT_VAR),
            "{err}"
        );
        let err = Shard::from_vars(
            None,
            vars(&[("JOB_COMPLETION_INDEX", "x"), (COUNT_VAR, "2")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("JOB_COMPLETION_INDEX=x"), "{err}");
    }

    #[test]
    fn the_hash_is_pinned() {
        // SHA-256("a") starts ca978112ca1bbdca: a change of hash would move every entry to
        // another shard between two versions, and reruns would download twice.
        assert_eq!(
            shard_of(b"a", u32::MAX),
            (0xca97_8112_ca1b_bdca_u64 % u64::from(u32::MAX)) as u32
        );
    }

    #[test]
    fn percent_k_names_each_shards_report() {
        assert_eq!(
            Shard { index: 3, count: 4 }.expand("out/report-%k.json"),
            "out/report-3.json"
        );
    }
}
