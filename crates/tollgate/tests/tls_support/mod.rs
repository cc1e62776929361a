//! Test certificates for the HTTPS end-to-end tests (`e2e_tls`, `e2e_http2_tls`), made with
//! the `openssl` CLI at test time.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory of test certificates: a private CA (`ca.pem`), server certificates
/// `default`, `a`, `b` (for `default.example.test`, `a.example.test`, `b.example.test`), a
/// second server certificate `a2` for `a.example.test`, a client CA (`clientca.pem`) and a
/// client certificate (`client.pem` / `client.key`) it signed.
pub struct Pki {
    pub dir: PathBuf,
}

pub fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("tollgate-e2e-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (ca, cn) in [
            ("ca", "Tollgate Test CA"),
            ("clientca", "Tollgate Client CA"),
        ] {
            let (key, pem, subj) = (
                format!("{ca}.key"),
                format!("{ca}.pem"),
                format!("/CN={cn}"),
            );
            openssl(
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &key,
                    "-out",
                    &pem,
                    "-days",
                    "3",
                    "-subj",
                    &subj,
                ],
                &dir,
            );
        }
        let pki = Pki { dir };
        for (stem, name) in [
            ("default", "default.example.test"),
            ("a", "a.example.test"),
            ("a2", "a.example.test"),
            ("b", "b.example.test"),
        ] {
            pki.leaf("ca", stem, name, "serverAuth");
        }
        pki.leaf("clientca", "client", "My Client", "clientAuth");
        // For https:// upstreams on 127.0.0.1: by the server CA, and by the client CA (a CA the
        // gateway does not trust for upstreams).
        pki.leaf("ca", "local", "IP:127.0.0.1", "serverAuth");
        pki.leaf("clientca", "rogue", "IP:127.0.0.1", "serverAuth");
        pki
    }

    /// A leaf certificate `stem.pem` / `stem.key` for `cn` signed by `ca`.
    pub fn leaf(&self, ca: &str, stem: &str, cn: &str, eku: &str) {
        let ext = format!("{stem}.ext");
        let san = if let Some(ip) = cn.strip_prefix("IP:") {
            format!("subjectAltName=IP:{ip}\n")
        } else if eku == "serverAuth" {
            format!("subjectAltName=DNS:{cn}\n")
        } else {
            String::new()
        };
        std::fs::write(
            self.dir.join(&ext),
            format!("{san}basicConstraints=CA:FALSE\nextendedKeyUsage={eku}\n"),
        )
        .unwrap();
        let (key, csr, pem, subj) = (
            format!("{stem}.key"),
            format!("{stem}.csr"),
            format!("{stem}.pem"),
            format!("/O=Tollgate Tests/CN={}", cn.trim_start_matches("IP:")),
        );
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &subj,
            ],
            &self.dir,
        );
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
            &self.dir,
        );
    }

    pub fn path(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
