//! `[daemon] key_log`: IKE and ESP keys as Wireshark decryption tables (debugging only).
//!
//! The configured path is a directory. pqiked writes two files into it, in the exact formats of
//! Wireshark's user-access tables (UAT), so that the directory can be used as a Wireshark
//! configuration profile (`-C`/`-P`, or copy the files into one):
//!
//! * `ikev2_decryption_table`: `SPIi,SPIr,SK_ei,SK_er,"encryption",SK_ai,SK_ar,"integrity"`
//!   per IKE SA (byte fields as bare hex: a quoted UAT value would be taken as raw octets;
//!   ISAKMP protocol preferences, "IKEv2 Decryption Table");
//! * `esp_sa`: `"protocol","src","dst","SPI","encryption","key","authentication","key"` per
//!   Child SA direction (ESP preferences, "ESP SAs"); protocol IPv4/IPv6 (the outer family),
//!   addresses are wildcards so NAT does not matter; AEAD keys include the 4-octet salt (RFC 4106 §8.1).
//!
//! Wireshark keeps one key set per SPI pair. With RFC 9370 / RFC 9867 IKE_INTERMEDIATE key
//! updates the keys change under the same SPIs, so the table holds the *last* set: the one that
//! protects IKE_AUTH, INFORMATIONAL and CREATE_CHILD_SA. The IKE_INTERMEDIATE messages
//! themselves then fail to decrypt (the earlier sets are written as comments).
//!
//! Both files are rewritten in full on every change (a temporary file, mode 0600, renamed over
//! the old one), so a reader never sees half a line. Entries stay after their SA is deleted: a
//! capture still contains its packets.
use pqike_proto::{ChildSaKeys, IkeSaKeyLog};
use pqike_wire::algorithms::{self, AlgKind};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the IKEv2 table inside the key log directory (Wireshark's UAT name).
pub const IKE_TABLE: &str = "ikev2_decryption_table";
/// File name of the ESP table.
pub const ESP_TABLE: &str = "esp_sa";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// Wireshark's names for the algorithms (packet-isakmp.c for the IKEv2 table, packet-esp.c for
// the ESP table) are columns of the one algorithm table, pqike_wire::algorithms.

/// Wireshark's name for an IKEv2 encryption transform, with its key length.
fn ike_encr_name(id: u16, bits: Option<u16>) -> Option<&'static str> {
    algorithms::find(AlgKind::Encr, id, bits)?.wireshark_ike
}

/// Wireshark's name for an IKEv2 integrity transform.
fn ike_integ_name(id: u16) -> Option<&'static str> {
    algorithms::by_id(AlgKind::Integ, id)?.wireshark_ike
}

/// Wireshark's name for an ESP encryption transform (the key length comes from the key itself).
fn esp_encr_name(id: u16) -> Option<&'static str> {
    algorithms::by_id(AlgKind::Encr, id)?.wireshark_esp
}

/// Wireshark's name for an ESP authentication transform (AEAD: NULL).
fn esp_auth_name(id: u16) -> Option<&'static str> {
    algorithms::by_id(AlgKind::Integ, id)?.wireshark_esp
}

/// One `ikev2_decryption_table` line, or a comment naming what Wireshark cannot decrypt.
pub fn ike_line(k: &IkeSaKeyLog) -> String {
    match (ike_encr_name(k.encr.0, k.encr.1), ike_integ_name(k.integ)) {
        (Some(e), Some(i)) => format!(
            "{:016x},{:016x},{},{},\"{e}\",{},{},\"{i}\"",
            k.spi_i,
            k.spi_r,
            hex(&k.sk_ei),
            hex(&k.sk_er),
            hex(&k.sk_ai),
            hex(&k.sk_ar)
        ),
        _ => format!(
            "# {:016x}_i {:016x}_r: ENCR {}/{:?} INTEG {} not supported by Wireshark",
            k.spi_i, k.spi_r, k.encr.0, k.encr.1, k.integ
        ),
    }
}

/// The two `esp_sa` lines of a Child SA (inbound, outbound), or comments when Wireshark lacks
/// the algorithm.
pub fn esp_lines(k: &ChildSaKeys) -> [String; 2] {
    // Wireshark 4.0's ESP SA table accepts only "IPv4" / "IPv6" as the protocol (it rejects
    // the whole file otherwise): the family of the outer addresses the SA runs between.
    let family = if k.remote.is_ipv4() { "IPv4" } else { "IPv6" };
    let line = |spi: u32, keys: &(zeroize::Zeroizing<Vec<u8>>, zeroize::Zeroizing<Vec<u8>>)| match (
        esp_encr_name(k.encr.0),
        esp_auth_name(k.integ),
    ) {
        (Some(e), Some(a)) => format!(
            "\"{family}\",\"*\",\"*\",\"0x{spi:08x}\",\"{e}\",\"0x{}\",\"{a}\",\"{}\"",
            hex(&keys.0),
            if keys.1.is_empty() {
                String::new()
            } else {
                format!("0x{}", hex(&keys.1))
            }
        ),
        _ => format!(
            "# SPI {spi:08x}: ENCR {}/{:?} INTEG {} not supported by Wireshark",
            k.encr.0, k.encr.1, k.integ
        ),
    };
    [line(k.spi_in, &k.key_in), line(k.spi_out, &k.key_out)]
}

/// The key log directory and what has been written to it.
pub struct KeyLog {
    dir: PathBuf,
    /// (SPIi, SPIr) -> current line and the superseded IKE_INTERMEDIATE sets (as comments).
    ike: BTreeMap<(u64, u64), (String, Vec<String>)>,
    /// Child SA SPI -> line, in install order (a BTreeMap by SPI keeps the file stable).
    esp: BTreeMap<u32, String>,
}

impl KeyLog {
    /// Create the directory (mode 0700) and empty tables.
    pub fn open(dir: &Path) -> std::io::Result<KeyLog> {
        std::fs::create_dir_all(dir)?;
        set_mode(dir, 0o700)?;
        let log = KeyLog {
            dir: dir.to_path_buf(),
            ike: BTreeMap::new(),
            esp: BTreeMap::new(),
        };
        log.write_ike()?;
        log.write_esp()?;
        Ok(log)
    }

    /// A new IKE key set. A later set for the same SPIs (RFC 9370 update) replaces the earlier.
    pub fn ike_keys(&mut self, k: &IkeSaKeyLog) -> std::io::Result<()> {
        let line = ike_line(k);
        let e = self.ike.entry((k.spi_i, k.spi_r)).or_default();
        if !e.0.is_empty() {
            let old = std::mem::take(&mut e.0);
            e.1.push(format!("# superseded (IKE_INTERMEDIATE keys): {old}"));
        }
        e.0 = line;
        self.write_ike()
    }

    /// A Child SA was installed.
    pub fn child(&mut self, k: &ChildSaKeys) -> std::io::Result<()> {
        let [i, o] = esp_lines(k);
        self.esp.insert(k.spi_in, i);
        self.esp.insert(k.spi_out, o);
        self.write_esp()
    }

    fn write_ike(&self) -> std::io::Result<()> {
        let mut s = String::from(
            "# pqiked key_log: IKEv2 SA keys for Wireshark. SECRET: debugging only.\n",
        );
        for (line, old) in self.ike.values() {
            for o in old {
                s.push_str(o);
                s.push('\n');
            }
            s.push_str(line);
            s.push('\n');
        }
        self.replace(IKE_TABLE, s.as_bytes())
    }

    fn write_esp(&self) -> std::io::Result<()> {
        let mut s =
            String::from("# pqiked key_log: ESP SA keys for Wireshark. SECRET: debugging only.\n");
        for line in self.esp.values() {
            s.push_str(line);
            s.push('\n');
        }
        self.replace(ESP_TABLE, s.as_bytes())
    }

    /// Write a table through a 0600 temporary file renamed into place.
    fn replace(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = open_private(&tmp)?;
        f.write_all(data)?;
        f.sync_data()?;
        std::fs::rename(&tmp, self.dir.join(name))
    }
}

#[cfg(unix)]
fn open_private(p: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
}

#[cfg(not(unix))]
fn open_private(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pqike_proto::{IkeKeyStage, IpsecMode, SaId};
    use std::time::Duration;
    use zeroize::Zeroizing;

    fn ike(spi_r: u64, fill: u8, encr: (u16, Option<u16>)) -> IkeSaKeyLog {
        IkeSaKeyLog {
            sa: SaId(1),
            connection: "c".into(),
            stage: IkeKeyStage::Init,
            initiator: true,
            spi_i: 0x0102_0304_0506_0708,
            spi_r,
            encr,
            integ: 0,
            prf: 7,
            sk_ei: Zeroizing::new(vec![fill; 36]),
            sk_er: Zeroizing::new(vec![fill + 1; 36]),
            sk_ai: Default::default(),
            sk_ar: Default::default(),
        }
    }

    #[test]
    fn ike_line_format() {
        let l = ike_line(&ike(0xaa, 0x11, (20, Some(256))));
        assert_eq!(
            l,
            format!(
                "0102030405060708,00000000000000aa,{},{},\
                 \"AES-GCM-256 with 16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\"",
                "11".repeat(36),
                "12".repeat(36)
            )
        );
        // ChaCha20-Poly1305 is not in Wireshark 4.0's IKEv2 table: a comment, not a bad line.
        assert!(ike_line(&ike(1, 0, (28, None))).starts_with('#'));
    }

    #[test]
    fn esp_lines_format() {
        let k = ChildSaKeys {
            ike_sa: SaId(1),
            connection: "c".into(),
            child: "net".into(),
            spi_in: 0xc000_0001,
            spi_out: 0xc000_0002,
            encr: (20, Some(128)),
            integ: 0,
            esn: false,
            key_in: (Zeroizing::new(vec![1; 20]), Zeroizing::new(Vec::new())),
            key_out: (Zeroizing::new(vec![2; 20]), Zeroizing::new(Vec::new())),
            local_ts: Vec::new(),
            remote_ts: Vec::new(),
            mode: IpsecMode::Tunnel,
            local: "192.0.2.1:500".parse().unwrap(),
            remote: "192.0.2.2:500".parse().unwrap(),
            udp_encap: false,
            lifetime: Duration::from_secs(1),
        };
        let [i, o] = esp_lines(&k);
        assert_eq!(
            i,
            format!(
                "\"IPv4\",\"*\",\"*\",\"0xc0000001\",\"AES-GCM with 16 octet ICV [RFC4106]\",\
                 \"0x{}\",\"NULL\",\"\"",
                "01".repeat(20)
            )
        );
        assert!(o.contains("\"0xc0000002\"") && o.contains(&"02".repeat(20)));
    }

    #[test]
    fn tables_are_private_and_keep_the_last_set() {
        let dir = std::env::temp_dir().join(format!("pqike-keylog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = KeyLog::open(&dir).unwrap();
        log.ike_keys(&ike(5, 0x20, (20, Some(256)))).unwrap();
        log.ike_keys(&ike(5, 0x30, (20, Some(256)))).unwrap();
        let t = std::fs::read_to_string(dir.join(IKE_TABLE)).unwrap();
        let live: Vec<_> = t.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(live.len(), 1, "{t}");
        assert!(live[0].contains(&"30".repeat(36)));
        assert!(t.contains("# superseded") && t.contains(&"20".repeat(36)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(dir.join(IKE_TABLE))
                .unwrap()
                .permissions();
            assert_eq!(m.mode() & 0o777, 0o600);
            let m = std::fs::metadata(dir.join(ESP_TABLE))
                .unwrap()
                .permissions();
            assert_eq!(m.mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
