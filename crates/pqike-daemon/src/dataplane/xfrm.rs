//! Kernel XFRM backend (`dataplane = "xfrm"`): Child SAs and their policies installed in the
//! kernel over NETLINK_XFRM, for hosts whose kernel has ESP.
//!
//! The messages are encoded here from the kernel's UAPI layout (`linux/xfrm.h`): a 16-octet
//! `nlmsghdr`, the fixed struct (`xfrm_usersa_info`, `xfrm_userpolicy_info`, `xfrm_usersa_id`)
//! and 4-aligned attributes. The unit tests compare them octet for octet with what
//! `ip xfrm state add ...` / `ip xfrm policy add ...` send (captured with `strace -e sendmsg -xx`),
//! so the layout is the kernel's even on machines (like the lab's) without ESP in the kernel.
use pqike_proto::{ChildSaKeys, IpsecMode};
use std::net::{IpAddr, SocketAddr};

const XFRM_MSG_NEWSA: u16 = 0x10;
const XFRM_MSG_DELSA: u16 = 0x11;
const XFRM_MSG_NEWPOLICY: u16 = 0x13;
const XFRM_MSG_DELPOLICY: u16 = 0x14;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const XFRMA_ALG_AUTH_TRUNC: u16 = 20;
const XFRMA_ALG_CRYPT: u16 = 2;
const XFRMA_ALG_AEAD: u16 = 18;
const XFRMA_ENCAP: u16 = 4;
const XFRMA_TMPL: u16 = 5;
const XFRMA_SRCADDR: u16 = 13;
const XFRMA_REPLAY_ESN_VAL: u16 = 23;
const XFRM_STATE_ESN: u8 = 128;
const UDP_ENCAP_ESPINUDP: u16 = 2;
const IPPROTO_ESP: u8 = 50;
const XFRM_INF: u64 = u64::MAX;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Policy direction (`XFRM_POLICY_IN/OUT/FWD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Inbound.
    In = 0,
    /// Outbound.
    Out = 1,
    /// Forwarded.
    Fwd = 2,
}

/// The SA's transforms by kernel crypto API name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Algs {
    /// AEAD: name (`rfc4106(gcm(aes))`), key including salt, ICV bits.
    Aead(&'static str, Vec<u8>, u32),
    /// Cipher and truncated HMAC: names, keys, truncation bits.
    EncAuth(&'static str, Vec<u8>, &'static str, Vec<u8>, u32),
}

/// An `XFRM_MSG_NEWSA` request.
#[derive(Clone, Debug)]
pub struct SaRequest {
    /// Outer source and destination (ports used for UDP encapsulation).
    pub src: SocketAddr,
    /// Outer destination.
    pub dst: SocketAddr,
    /// SPI.
    pub spi: u32,
    /// Request ID tying the SA to its policies.
    pub reqid: u32,
    /// Tunnel (true) or transport.
    pub tunnel: bool,
    /// Anti-replay window in packets.
    pub replay_window: u32,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Transforms.
    pub algs: Algs,
    /// ESP-in-UDP (RFC 3948).
    pub udp_encap: bool,
    /// Hard lifetime in seconds (0: none) and the soft one.
    pub hard_secs: u64,
    /// Soft lifetime in seconds (0: none).
    pub soft_secs: u64,
}

fn family(a: IpAddr) -> u16 {
    if a.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// `xfrm_address_t`: 16 octets, IPv4 in the first four.
fn addr(out: &mut Vec<u8>, a: IpAddr) {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v) => b[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => b.copy_from_slice(&v.octets()),
    }
    out.extend_from_slice(&b);
}

fn u16ne(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_ne_bytes());
}
fn u32ne(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_ne_bytes());
}
fn u64ne(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_ne_bytes());
}
fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// One netlink attribute (`nlattr` + payload, padded to 4).
fn attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    u16ne(out, (4 + payload.len()) as u16);
    u16ne(out, ty);
    out.extend_from_slice(payload);
    pad4(out);
}

/// `struct xfrm_selector` (56 octets).
fn selector(out: &mut Vec<u8>, sel: Option<(IpAddr, u8, IpAddr, u8)>, proto: u8) {
    let zero = IpAddr::V4(0.into());
    let (s, sl, d, dl) = sel.unwrap_or((zero, 0, zero, 0));
    addr(out, d);
    addr(out, s);
    out.extend_from_slice(&[0; 8]); // dport, dport_mask, sport, sport_mask
    u16ne(out, if sel.is_some() { family(s) } else { 0 });
    out.extend_from_slice(&[dl, sl, proto, 0, 0, 0]); // + 3 octets padding before ifindex
    u32ne(out, 0); // ifindex
    u32ne(out, 0); // user
}

/// `struct xfrm_lifetime_cfg` (64) + `xfrm_lifetime_cur` (32).
fn lifetimes(out: &mut Vec<u8>, soft_secs: u64, hard_secs: u64) {
    for _ in 0..4 {
        u64ne(out, XFRM_INF); // byte and packet limits
    }
    u64ne(out, soft_secs);
    u64ne(out, hard_secs);
    u64ne(out, 0); // soft/hard use expiry
    u64ne(out, 0);
    out.extend_from_slice(&[0; 32]);
}

/// Wrap a payload in an `nlmsghdr`.
fn message(ty: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + body.len());
    u32ne(&mut m, (16 + body.len()) as u32);
    u16ne(&mut m, ty);
    u16ne(&mut m, NLM_F_REQUEST | NLM_F_ACK);
    u32ne(&mut m, seq);
    u32ne(&mut m, 0);
    m.extend_from_slice(body);
    m
}

/// `struct xfrm_algo` / `xfrm_algo_auth` / `xfrm_algo_aead` payloads.
fn algo(name: &str, key: &[u8], extra: Option<u32>) -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[..name.len()].copy_from_slice(name.as_bytes());
    u32ne(&mut p, (key.len() * 8) as u32);
    if let Some(x) = extra {
        u32ne(&mut p, x);
    }
    p.extend_from_slice(key);
    p
}

impl SaRequest {
    /// The `XFRM_MSG_NEWSA` message with sequence number `seq`.
    pub fn encode(&self, seq: u32) -> Vec<u8> {
        let mut b = Vec::with_capacity(512);
        selector(&mut b, None, 0);
        // struct xfrm_id
        addr(&mut b, self.dst.ip());
        b.extend_from_slice(&self.spi.to_be_bytes());
        b.extend_from_slice(&[IPPROTO_ESP, 0, 0, 0]);
        addr(&mut b, self.src.ip());
        lifetimes(&mut b, self.soft_secs, self.hard_secs);
        b.extend_from_slice(&[0; 12]); // stats
        u32ne(&mut b, 0); // seq
        u32ne(&mut b, self.reqid);
        u16ne(&mut b, family(self.dst.ip()));
        // With ESN (or a window beyond 255) the window travels in XFRMA_REPLAY_ESN_VAL.
        let small = !self.esn && self.replay_window <= 255;
        b.push(u8::from(self.tunnel));
        b.push(if small { self.replay_window as u8 } else { 0 });
        b.push(if self.esn { XFRM_STATE_ESN } else { 0 });
        b.extend_from_slice(&[0; 7]);
        match &self.algs {
            Algs::Aead(name, key, icv) => {
                attr(&mut b, XFRMA_ALG_AEAD, &algo(name, key, Some(*icv)))
            }
            Algs::EncAuth(en, ek, an, ak, trunc) => {
                attr(&mut b, XFRMA_ALG_CRYPT, &algo(en, ek, None));
                attr(&mut b, XFRMA_ALG_AUTH_TRUNC, &algo(an, ak, Some(*trunc)));
            }
        }
        if self.udp_encap {
            let mut e = Vec::with_capacity(24);
            u16ne(&mut e, UDP_ENCAP_ESPINUDP);
            e.extend_from_slice(&self.src.port().to_be_bytes());
            e.extend_from_slice(&self.dst.port().to_be_bytes());
            e.extend_from_slice(&[0; 2]);
            addr(&mut e, IpAddr::V4(0.into()));
            attr(&mut b, XFRMA_ENCAP, &e);
        }
        if !small {
            // struct xfrm_replay_state_esn without bitmap words, as iproute2 sends it.
            let mut r = Vec::with_capacity(24);
            u32ne(&mut r, self.replay_window.div_ceil(32));
            for _ in 0..4 {
                u32ne(&mut r, 0); // oseq, seq, oseq_hi, seq_hi
            }
            u32ne(&mut r, self.replay_window);
            attr(&mut b, XFRMA_REPLAY_ESN_VAL, &r);
        }
        message(XFRM_MSG_NEWSA, seq, &b)
    }
}

/// `XFRM_MSG_DELSA` for an SA: `struct xfrm_usersa_id` (the kernel's SA key: destination,
/// SPI, protocol) plus the source as `XFRMA_SRCADDR`, as `ip xfrm state delete` sends it.
pub fn del_sa(src: IpAddr, dst: IpAddr, spi: u32, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(44);
    addr(&mut b, dst);
    b.extend_from_slice(&spi.to_be_bytes());
    u16ne(&mut b, family(dst));
    b.extend_from_slice(&[IPPROTO_ESP, 0]);
    let mut a = Vec::with_capacity(16);
    addr(&mut a, src);
    attr(&mut b, XFRMA_SRCADDR, &a);
    message(XFRM_MSG_DELSA, seq, &b)
}

/// `XFRM_MSG_DELPOLICY` (`struct xfrm_userpolicy_id`: selector, index 0, direction): the
/// policy is found by selector and direction, as with `ip xfrm policy delete`.
pub fn del_policy(src: (IpAddr, u8), dst: (IpAddr, u8), dir: Dir, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    selector(&mut b, Some((src.0, src.1, dst.0, dst.1)), 0);
    u32ne(&mut b, 0); // index: look up by selector
    b.extend_from_slice(&[dir as u8, 0, 0, 0]);
    message(XFRM_MSG_DELPOLICY, seq, &b)
}

/// An `XFRM_MSG_NEWPOLICY` request with one ESP template.
#[derive(Clone, Debug)]
pub struct PolicyRequest {
    /// Selector: source prefix, destination prefix (same family).
    pub src: (IpAddr, u8),
    /// Destination prefix.
    pub dst: (IpAddr, u8),
    /// Direction.
    pub dir: Dir,
    /// Priority (lower wins).
    pub priority: u32,
    /// Template: outer source and destination, reqid, tunnel mode.
    pub tmpl_src: IpAddr,
    /// Template outer destination.
    pub tmpl_dst: IpAddr,
    /// Template reqid.
    pub reqid: u32,
    /// Tunnel mode.
    pub tunnel: bool,
}

impl PolicyRequest {
    /// The message with sequence number `seq`.
    pub fn encode(&self, seq: u32) -> Vec<u8> {
        let mut b = Vec::with_capacity(256);
        selector(
            &mut b,
            Some((self.src.0, self.src.1, self.dst.0, self.dst.1)),
            0,
        );
        lifetimes(&mut b, 0, 0);
        u32ne(&mut b, self.priority);
        u32ne(&mut b, 0); // index
        b.extend_from_slice(&[self.dir as u8, 0, 0, 0]); // dir, action allow, flags, share
        pad4(&mut b);
        while !b.len().is_multiple_of(8) {
            b.push(0); // the struct is 8-aligned (u64 lifetimes)
        }
        // struct xfrm_user_tmpl
        let mut t = Vec::with_capacity(64);
        addr(&mut t, self.tmpl_dst);
        t.extend_from_slice(&[0; 4]); // any SPI
        t.extend_from_slice(&[IPPROTO_ESP, 0, 0, 0]);
        u16ne(&mut t, family(self.tmpl_dst));
        t.extend_from_slice(&[0; 2]);
        addr(&mut t, self.tmpl_src);
        u32ne(&mut t, self.reqid);
        t.extend_from_slice(&[u8::from(self.tunnel), 0, 0, 0]); // mode, share, optional
        for _ in 0..3 {
            u32ne(&mut t, u32::MAX); // aalgos, ealgos, calgos: any
        }
        attr(&mut b, XFRMA_TMPL, &t);
        message(XFRM_MSG_NEWPOLICY, seq, &b)
    }
}

/// Kernel names for the negotiated transforms (RFC 4106, RFC 7634, RFC 3602 + RFC 4868).
pub fn algs_for(
    encr: (u16, Option<u16>),
    integ: u16,
    ekey: &[u8],
    ikey: &[u8],
) -> Result<Algs, String> {
    Ok(match (encr.0, integ) {
        (20, 0) => Algs::Aead("rfc4106(gcm(aes))", ekey.to_vec(), 128),
        (28, 0) => Algs::Aead("rfc7539esp(chacha20,poly1305)", ekey.to_vec(), 128),
        (12, i) => {
            let (name, trunc) = match i {
                12 => ("hmac(sha256)", 128),
                13 => ("hmac(sha384)", 192),
                14 => ("hmac(sha512)", 256),
                _ => {
                    return Err(format!(
                        "integrity transform {i} not supported by the XFRM backend"
                    ))
                }
            };
            Algs::EncAuth("cbc(aes)", ekey.to_vec(), name, ikey.to_vec(), trunc)
        }
        (e, i) => {
            return Err(format!(
                "ESP transforms {e}/{i} not supported by the XFRM backend"
            ))
        }
    })
}

/// The `NEWSA` request for one direction of a Child SA.
pub fn sa_request(
    k: &ChildSaKeys,
    inbound: bool,
    reqid: u32,
    replay_window: u32,
) -> Result<SaRequest, String> {
    let (keys, spi, src, dst) = if inbound {
        (&k.key_in, k.spi_in, k.remote, k.local)
    } else {
        (&k.key_out, k.spi_out, k.local, k.remote)
    };
    let hard = k.lifetime.as_secs();
    Ok(SaRequest {
        src,
        dst,
        spi,
        reqid,
        tunnel: k.mode == IpsecMode::Tunnel,
        replay_window: if inbound { replay_window } else { 0 },
        esn: k.esn,
        algs: algs_for(k.encr, k.integ, &keys.0, &keys.1)?,
        udp_encap: k.udp_encap,
        hard_secs: hard,
        soft_secs: hard * 9 / 10,
    })
}

/// A NETLINK_XFRM socket that sends requests and waits for the kernel's acknowledgement.
pub struct XfrmSocket {
    sock: socket2::Socket,
    seq: u32,
}

impl XfrmSocket {
    /// Open the socket (needs CAP_NET_ADMIN for changes).
    pub fn open() -> std::io::Result<XfrmSocket> {
        const AF_NETLINK: i32 = 16;
        const NETLINK_XFRM: i32 = 6;
        let sock = socket2::Socket::new(
            socket2::Domain::from(AF_NETLINK),
            socket2::Type::RAW,
            Some(socket2::Protocol::from(NETLINK_XFRM)),
        )?;
        sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        Ok(XfrmSocket { sock, seq: 1 })
    }

    /// Next sequence number.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Send one request; Ok when the kernel acknowledges it, else its errno.
    pub fn request(&mut self, msg: &[u8]) -> std::io::Result<()> {
        // Unconnected netlink sockets send to the kernel (port 0).
        self.sock.send(msg)?;
        let mut b = [0u8; 4096];
        let n = std::io::Read::read(&mut &self.sock, &mut b)?;
        let b = &b[..n];
        // nlmsghdr (16) with type NLMSG_ERROR (2), then the errno (negative, 0 = ack).
        if b.len() >= 20 && u16::from_ne_bytes([b[4], b[5]]) == 2 {
            let err = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
            if err != 0 {
                return Err(std::io::Error::from_raw_os_error(-err));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse strace's `"\x00\x01..."` rendering.
    fn unx(s: &str) -> Vec<u8> {
        s.split("\\x")
            .filter(|p| !p.is_empty())
            .map(|p| u8::from_str_radix(p, 16).unwrap())
            .collect()
    }

    fn hdr(len: u32, ty: u16, seq: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&len.to_ne_bytes());
        h.extend_from_slice(&ty.to_ne_bytes());
        h.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        h.extend_from_slice(&seq.to_ne_bytes());
        h.extend_from_slice(&0u32.to_ne_bytes());
        h
    }

    fn key(from: u8, n: u8) -> Vec<u8> {
        (from..from + n).collect()
    }

    /// `ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xc0ffee01 reqid 7 mode tunnel
    /// replay-window 32 aead 'rfc4106(gcm(aes))' 0x0001..23 128 encap espinudp 4500 4500 0.0.0.0`
    /// (iproute2 6.1, captured with strace; body after the nlmsghdr).
    const IP_GCM_ENCAP: &str = concat!(
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\xc0\\x00\\x02\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xc0\\xff\\xee\\x01\\x32\\x00\\x00\\x00\\xc0\\x00\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x07\\x00\\x00\\x00\\x02\\x00\\x01\\x20\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x70\\x00\\x12\\x00\\x72\\x66\\x63\\x34\\x31\\x30\\x36\\x28\\x67\\x63\\x6d\\x28\\x61\\x65\\x73\\x29\\x29\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x20\\x01\\x00\\x00\\x80\\x00\\x00\\x00\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x09\\x0a\\x0b\\x0c\\x0d\\x0e\\x0f\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x1d\\x1e\\x1f\\x20\\x21\\x22\\x23",
        "\\x1c\\x00\\x04\\x00\\x02\\x00\\x11\\x94\\x11\\x94\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
    );

    /// `ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xc0ffee02 reqid 9 mode tunnel
    /// flag esn replay-window 1024 enc 'cbc(aes)' 0x0001..0f auth-trunc 'hmac(sha256)' 0x1011..2f 128`
    const IP_CBC_ESN: &str = concat!(
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\xc0\\x00\\x02\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xc0\\xff\\xee\\x02\\x32\\x00\\x00\\x00\\xc0\\x00\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x09\\x00\\x00\\x00\\x02\\x00\\x01\\x00\\x80\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x58\\x00\\x02\\x00\\x63\\x62\\x63\\x28\\x61\\x65\\x73\\x29\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x80\\x00\\x00\\x00\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x09\\x0a\\x0b\\x0c\\x0d\\x0e\\x0f",
        "\\x6c\\x00\\x14\\x00\\x68\\x6d\\x61\\x63\\x28\\x73\\x68\\x61\\x32\\x35\\x36\\x29\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x01\\x00\\x00\\x80\\x00\\x00\\x00\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x1d\\x1e\\x1f\\x20\\x21\\x22\\x23\\x24\\x25\\x26\\x27\\x28\\x29\\x2a\\x2b\\x2c\\x2d\\x2e\\x2f",
        "\\x1c\\x00\\x17\\x00\\x20\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x04\\x00\\x00",
    );

    /// `ip xfrm policy add src 198.51.100.0/24 dst 203.0.113.0/24 dir out priority 1000
    /// tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 7 mode tunnel`
    const IP_POLICY_OUT: &str = concat!(
        "\\xcb\\x00\\x71\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xc6\\x33\\x64\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x18\\x18\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\xe8\\x03\\x00\\x00\\x00\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x44\\x00\\x05\\x00\\xc0\\x00\\x02\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x32\\x00\\x00\\x00\\x02\\x00\\x00\\x00",
        "\\xc0\\x00\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x07\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff",
    );

    #[test]
    fn newsa_gcm_encap_matches_iproute2() {
        let req = SaRequest {
            src: "192.0.2.1:4500".parse().unwrap(),
            dst: "192.0.2.2:4500".parse().unwrap(),
            spi: 0xc0ffee01,
            reqid: 7,
            tunnel: true,
            replay_window: 32,
            esn: false,
            algs: Algs::Aead("rfc4106(gcm(aes))", key(0, 36), 128),
            udp_encap: true,
            hard_secs: 0,
            soft_secs: 0,
        };
        let mut want = hdr(380, XFRM_MSG_NEWSA, 5);
        want.extend(unx(IP_GCM_ENCAP));
        assert_eq!(req.encode(5), want);
    }

    #[test]
    fn newsa_cbc_hmac_esn_matches_iproute2() {
        let req = SaRequest {
            src: "192.0.2.1:500".parse().unwrap(),
            dst: "192.0.2.2:500".parse().unwrap(),
            spi: 0xc0ffee02,
            reqid: 9,
            tunnel: true,
            replay_window: 1024,
            esn: true,
            algs: algs_for((12, Some(128)), 12, &key(0, 16), &key(0x10, 32)).unwrap(),
            udp_encap: false,
            hard_secs: 0,
            soft_secs: 0,
        };
        let mut want = hdr(464, XFRM_MSG_NEWSA, 1);
        want.extend(unx(IP_CBC_ESN));
        assert_eq!(req.encode(1), want);
    }

    #[test]
    fn newpolicy_matches_iproute2() {
        let req = PolicyRequest {
            src: ("198.51.100.0".parse().unwrap(), 24),
            dst: ("203.0.113.0".parse().unwrap(), 24),
            dir: Dir::Out,
            priority: 1000,
            tmpl_src: "192.0.2.1".parse().unwrap(),
            tmpl_dst: "192.0.2.2".parse().unwrap(),
            reqid: 7,
            tunnel: true,
        };
        let mut want = hdr(252, XFRM_MSG_NEWPOLICY, 3);
        want.extend(unx(IP_POLICY_OUT));
        assert_eq!(req.encode(3), want);
    }

    /// `ip xfrm state delete src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xc0ffee01`
    const IP_DELSA: &str = concat!(
        "\\xc0\\x00\\x02\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xc0\\xff\\xee\\x01\\x02\\x00\\x32\\x00",
        "\\x14\\x00\\x0d\\x00\\xc0\\x00\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
    );

    /// `ip xfrm policy delete src 198.51.100.0/24 dst 203.0.113.0/24 dir out`
    const IP_DELPOLICY_OUT: &str = concat!(
        "\\xcb\\x00\\x71\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xc6\\x33\\x64\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x18\\x18\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01\\x00\\x00\\x00",
    );

    /// `ip xfrm policy delete src 203.0.113.0/24 dst 198.51.100.0/24 dir fwd`
    const IP_DELPOLICY_FWD: &str = concat!(
        "\\xc6\\x33\\x64\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xcb\\x00\\x71\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
        "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x18\\x18\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x00\\x00",
    );

    #[test]
    fn delsa_matches_iproute2() {
        let d = del_sa(
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            0xc0ffee01,
            4,
        );
        let mut want = hdr(60, XFRM_MSG_DELSA, 4);
        want.extend(unx(IP_DELSA));
        assert_eq!(d, want);
    }

    #[test]
    fn delpolicy_matches_iproute2() {
        let a: IpAddr = "198.51.100.0".parse().unwrap();
        let b: IpAddr = "203.0.113.0".parse().unwrap();
        let mut want = hdr(80, XFRM_MSG_DELPOLICY, 6);
        want.extend(unx(IP_DELPOLICY_OUT));
        assert_eq!(del_policy((a, 24), (b, 24), Dir::Out, 6), want);
        let mut want = hdr(80, XFRM_MSG_DELPOLICY, 7);
        want.extend(unx(IP_DELPOLICY_FWD));
        assert_eq!(del_policy((b, 24), (a, 24), Dir::Fwd, 7), want);
    }

    #[test]
    fn lifetimes_and_delsa() {
        let req = SaRequest {
            src: "192.0.2.1:500".parse().unwrap(),
            dst: "192.0.2.2:500".parse().unwrap(),
            spi: 1,
            reqid: 1,
            tunnel: false,
            replay_window: 64,
            esn: false,
            algs: Algs::Aead("rfc7539esp(chacha20,poly1305)", key(0, 36), 128),
            udp_encap: false,
            hard_secs: 3600,
            soft_secs: 3240,
        };
        let m = req.encode(1);
        // soft/hard add-expires seconds follow the four byte/packet limits
        let lft = 16 + 56 + 24 + 16 + 32;
        assert_eq!(&m[lft..lft + 8], &3240u64.to_ne_bytes());
        assert_eq!(&m[lft + 8..lft + 16], &3600u64.to_ne_bytes());
        // transport mode, window 64 in the fixed struct, no ESN attribute
        assert_eq!(&m[16 + 214..16 + 217], &[0, 64, 0]);
        assert_eq!(m.len(), 16 + 224 + 112);
        assert!(algs_for((20, Some(256)), 0, &[], &[]).is_ok());
        assert!(algs_for((3, None), 2, &[], &[]).is_err());
    }
}
