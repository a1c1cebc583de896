//! serve's environment file (`/etc/gatehouse/gatehouse.env` in the package), read by
//! the commands that hash a password without a running server (`user add`,
//! `user reset-password`), so that a user created offline gets the same scrypt
//! parameters the service uses. Precedence, as for `serve`: a flag, then a
//! `GATEHOUSE_*` variable, then the file, then the built-in default.
//!
//! The syntax is systemd's `EnvironmentFile=`: `KEY=VALUE` lines, `#` or `;`
//! comments, optional quotes around the value. Only the keys asked for are read.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Where the package installs the file.
pub const DEFAULT_PATH: &str = "/etc/gatehouse/gatehouse.env";

/// The values of an environment file.
#[derive(Debug, Default)]
pub struct EnvFile {
    pairs: Vec<(String, String)>,
}

impl EnvFile {
    /// Reads `path` (an explicit `--env-file`, which must exist; `none` reads
    /// nothing), or the package's file when it exists.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let path = match path {
            Some(p) if p == Path::new("none") => return Ok(Self::default()),
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("cannot read the environment file {} (--env-file none skips it)", path.display())
        })?;
        Ok(Self::parse(&text))
    }

    /// Parses `KEY=VALUE` lines.
    pub fn parse(text: &str) -> Self {
        let pairs = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                let v = v.trim();
                let unquoted = ['"', '\''].iter().find_map(|q| v.strip_prefix(*q)?.strip_suffix(*q));
                (k.trim().to_owned(), unquoted.unwrap_or(v).to_owned())
            })
            .collect();
        Self { pairs }
    }

    /// The last value given for `key`, parsed; an unparsable value is an error
    /// naming the key, as `serve` would refuse it.
    pub fn get<T: std::str::FromStr>(&self, key: &str) -> anyhow::Result<Option<T>> {
        match self.pairs.iter().rev().find(|(k, _)| k == key) {
            Some((_, v)) => {
                v.parse().map(Some).map_err(|_| anyhow::anyhow!("{key}={v} in the environment file"))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_systemd_environment_file_lines() {
        let f = EnvFile::parse(
            "# comment\n; also\n\nGATEHOUSE_SCRYPT_LOG_N=12\n#GATEHOUSE_SCRYPT_R=4\n GATEHOUSE_SCRYPT_P = \"2\" \nGATEHOUSE_SCRYPT_LOG_N=13\n",
        );
        assert_eq!(f.get::<u8>("GATEHOUSE_SCRYPT_LOG_N").unwrap(), Some(13), "the last one wins");
        assert_eq!(f.get::<u32>("GATEHOUSE_SCRYPT_P").unwrap(), Some(2));
        assert_eq!(f.get::<u32>("GATEHOUSE_SCRYPT_R").unwrap(), None, "commented out");
        let bad = EnvFile::parse("GATEHOUSE_SCRYPT_P=lots");
        assert!(bad.get::<u32>("GATEHOUSE_SCRYPT_P").is_err());
        assert!(EnvFile::load(Some(Path::new("/nonexistent/gatehouse.env"))).is_err());
        assert!(EnvFile::load(Some(Path::new("none"))).unwrap().pairs.is_empty());
    }
}
