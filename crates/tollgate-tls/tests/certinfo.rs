//! `ClientCertInfo` against OpenSSL's own reading of the same certificates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::Dir;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SerialNumber};
use tollgate_tls::ClientCertInfo;

fn openssl_field(pem_file: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout"])
        .args(args)
        .arg("-in")
        .arg(pem_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

#[test]
fn fields_match_what_openssl_reads_from_the_same_certificate() {
    let dir = Dir::new("certinfo");
    // (subject attributes, serial bytes, notBefore, notAfter as Unix seconds)
    type Case<'a> = (Vec<(DnType, &'a str)>, Vec<u8>, i64, i64);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![(DnType::CommonName, "plain")],
            vec![0x01],
            1_598_660_901,
            4_752_260_901,
        ),
        (
            vec![
                (DnType::CountryName, "CH"),
                (DnType::OrganizationName, "Zürich, \"Quoted\" + Co; <x>"),
                (DnType::OrganizationalUnitName, "#hash lead"),
                (DnType::CommonName, " padded "),
                (
                    DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
                    "ops@example.test",
                ),
                (
                    DnType::CustomDnType(vec![0, 9, 2342, 19_200_300, 100, 1, 25]),
                    "example",
                ),
            ],
            vec![0xa1; 16],
            0,
            253_402_300_799,
        ),
    ];
    for (i, (dn, serial, nb, na)) in cases.into_iter().enumerate() {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = DistinguishedName::new();
        for (t, v) in dn {
            p.distinguished_name.push(t, v);
        }
        p.serial_number = Some(SerialNumber::from(serial));
        p.not_before = time::OffsetDateTime::from_unix_timestamp(nb).unwrap();
        p.not_after = time::OffsetDateTime::from_unix_timestamp(na).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let file = dir.write(&format!("c{i}.pem"), &cert.pem());

        let info = ClientCertInfo::from_der(cert.der()).unwrap();
        let nameopt = ["-nameopt", "sep_comma_plus,esc_2253,utf8"];
        let mut args = vec!["-subject"];
        args.extend_from_slice(&nameopt);
        assert_eq!(
            format!("subject={}", info.subject_dn),
            openssl_field(&file, &args)
        );
        let mut args = vec!["-issuer"];
        args.extend_from_slice(&nameopt);
        assert_eq!(
            format!("issuer={}", info.issuer_dn),
            openssl_field(&file, &args)
        );
        let hex = openssl_field(&file, &["-serial"]);
        let hex = hex.strip_prefix("serial=").unwrap();
        assert_eq!(
            info.serial_number,
            u128::from_str_radix(hex, 16).unwrap().to_string()
        );
        assert_eq!(
            format!("notBefore={}", info.not_before),
            openssl_field(&file, &["-startdate"])
        );
        assert_eq!(
            format!("notAfter={}", info.not_after),
            openssl_field(&file, &["-enddate"])
        );
        let pem_file = std::fs::read_to_string(&file).unwrap().replace('\r', "");
        assert_eq!(info.client_cert_pem, pem_file);
    }
}
