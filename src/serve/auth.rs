//! Bearer-token credentials (DOMAIN.md §5): the tokens file, constant-time checks, and the
//! interceptors that guard the query and admin services.

use std::path::Path;
use std::sync::Arc;

use tonic::{Request, Status};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Query RPCs only.
    Query,
    /// Query and admin RPCs.
    Admin,
}

/// One credential of the tokens file.
#[derive(Clone, Debug)]
pub struct Token {
    /// Its role.
    pub role: Role,
    /// The caller's name (recorded with admin writes; shared by every call it makes).
    pub name: Arc<str>,
    secret: Vec<u8>,
}

/// The credentials a server accepts; `None` inside means authentication is off.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    tokens: Option<Arc<Vec<Token>>>,
}

/// The caller, attached to each authenticated request's extensions.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Token name (or "anonymous" with authentication off).
    pub name: Arc<str>,
    /// Token role.
    pub role: Role,
}

impl Tokens {
    /// Accept every call (only with an explicit `--insecure-no-auth`).
    pub fn disabled() -> Tokens {
        Tokens { tokens: None }
    }

    /// Parses a tokens file: lines `ROLE NAME TOKEN`, `#` starts a comment.
    pub fn parse(text: &str, origin: &str) -> Result<Tokens, String> {
        let mut tokens = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let [role, name, secret] = f[..] else {
                return Err(format!(
                    "{origin}:{}: expected ROLE NAME TOKEN, found {} fields",
                    i + 1,
                    f.len()
                ));
            };
            let role = match role {
                "query" => Role::Query,
                "admin" => Role::Admin,
                other => {
                    return Err(format!(
                        "{origin}:{}: role {other:?}: expected query or admin",
                        i + 1
                    ));
                }
            };
            if secret.len() < 16 {
                return Err(format!(
                    "{origin}:{}: token of {name:?} is shorter than 16 characters",
                    i + 1
                ));
            }
            tokens.push(Token {
                role,
                name: name.into(),
                secret: secret.as_bytes().to_vec(),
            });
        }
        if tokens.is_empty() {
            return Err(format!("{origin}: no tokens"));
        }
        Ok(Tokens {
            tokens: Some(Arc::new(tokens)),
        })
    }

    /// The names callers are known by: the tokens' names, or `anonymous` with authentication
    /// off.
    pub fn names(&self) -> Vec<&str> {
        match &self.tokens {
            None => vec!["anonymous"],
            Some(t) => t.iter().map(|t| &*t.name).collect(),
        }
    }

    /// Reads a tokens file.
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("tokens file {}: {e}", path.display()))?;
        Tokens::parse(&text, &path.display().to_string())
    }

    /// The token a request carries, checked against every known token in constant time.
    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        let Some(tokens) = &self.tokens else {
            return Ok(Caller {
                name: "anonymous".into(),
                role: Role::Admin,
            });
        };
        let header = req.metadata().get("authorization").ok_or_else(|| {
            Status::unauthenticated("missing credential: send authorization: Bearer <token>")
        })?;
        let value = header
            .to_str()
            .map_err(|_| Status::unauthenticated("malformed authorization header"))?;
        let given = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization must be: Bearer <token>"))?
            .as_bytes();
        let mut found: Option<&Token> = None;
        for t in tokens.iter() {
            if constant_time_eq(&t.secret, given) {
                found = Some(t);
            }
        }
        let t = found.ok_or_else(|| Status::unauthenticated("unknown token"))?;
        Ok(Caller {
            name: t.name.clone(),
            role: t.role,
        })
    }

    /// Interceptor for query services: a query or admin token.
    pub fn query_interceptor(
        &self,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let this = self.clone();
        move |mut req| {
            let c = this.caller(&req)?;
            req.extensions_mut().insert(c);
            Ok(req)
        }
    }

    /// Interceptor for the admin service: an admin token.
    pub fn admin_interceptor(
        &self,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let this = self.clone();
        move |mut req| {
            let c = this.caller(&req)?;
            if c.role != Role::Admin {
                return Err(Status::permission_denied(format!(
                    "token {:?} has role query; Admin needs an admin token",
                    c.name
                )));
            }
            req.extensions_mut().insert(c);
            Ok(req)
        }
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Every byte of `a` is compared, however early `b` differs: a `b` of another length (all a
    // caller can learn is that its length is wrong) is compared as if it were `a` and fails on
    // its length. One pass without a branch, which the compiler does a vector at a time.
    let same_len = a.len() == b.len();
    let other = if same_len { b } else { a };
    let diff = a.iter().zip(other).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0 && same_len
}

/// A new random token (32 hexadecimal characters).
pub fn new_secret() -> Result<String, String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The first token of `role` (`query` or `admin`) in the tokens file at `path`: what a client
/// on the same machine sends.
pub fn first_token(path: &Path, role: &str) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    text.lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .find(|f| f.len() == 3 && f[0] == role)
        .map(|f| f[2].to_string())
        .ok_or_else(|| format!("no {role} token in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_lines_and_errors() {
        let t = Tokens::parse(
            "# demo\nquery app 0123456789abcdef0123\nadmin ops fedcba9876543210fedc # ops\n",
            "t",
        )
        .unwrap();
        assert_eq!(t.tokens.as_ref().unwrap().len(), 2);
        assert!(
            Tokens::parse("reader app 0123456789abcdef0123", "t")
                .unwrap_err()
                .contains("t:1: role")
        );
        assert!(
            Tokens::parse("query app", "t")
                .unwrap_err()
                .contains("t:1: expected ROLE NAME TOKEN")
        );
        assert!(
            Tokens::parse("query app short", "t")
                .unwrap_err()
                .contains("shorter")
        );
        assert!(Tokens::parse("# nothing\n", "t").is_err());
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    proptest::proptest! {
        /// Equal exactly when the bytes are: a token differing from a secret in one byte
        /// anywhere, or one byte longer or shorter, is refused.
        #[test]
        fn constant_time_eq_is_equality_for_any_bytes(
            secret in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..70),
            at in proptest::prelude::any::<usize>(),
            flip in 1u8..=255,
            change in 0..4,
        ) {
            let mut given = secret.clone();
            match change {
                0 => {}
                1 if !given.is_empty() => {
                    let i = at % given.len();
                    given[i] ^= flip;
                }
                2 => given.push(flip),
                _ => {
                    given.pop();
                }
            }
            proptest::prop_assert_eq!(constant_time_eq(&secret, &given), secret == given);
            proptest::prop_assert_eq!(constant_time_eq(&given, &secret), secret == given);
        }
    }
}
