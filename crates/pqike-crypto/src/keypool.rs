//! [`KeyPool`]: initiator key pairs generated ahead of time, for key exchanges whose key
//! generation is too slow for the engine's single task (Classic McEliece: ~100 ms per key pair,
//! design review §2.4). The engine calls [`KeyExchange::start`] as before; a daemon worker
//! thread calls [`KeyPool::refill`] in the background.
//!
//! Each pregenerated key pair is handed out exactly once (taken out of the pool), so the
//! KEM drafts' rule of a fresh key pair per exchange (draft-ietf-ipsecme-ikev2-mlkem) still
//! holds: only the moment of generation moves. The responder side ([`KeyExchange::respond`]) is passed
//! through: for a KEM it is encapsulation, which is fast even for McEliece.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{ActiveKeyExchange, CryptoError, KeyExchange, SharedSecret};

/// A [`KeyExchange`] that serves [`KeyExchange::start`] from a bounded pool of pregenerated
/// key pairs of `inner`, and generates inline (counting it) when the pool is empty.
pub struct KeyPool {
    inner: Arc<dyn KeyExchange>,
    capacity: usize,
    ready: Mutex<Vec<Box<dyn ActiveKeyExchange>>>,
    from_pool: AtomicU64,
    inline: AtomicU64,
}

/// How a [`KeyPool`] has been serving `start()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyPoolStats {
    /// Key pairs waiting in the pool now.
    pub ready: usize,
    /// `start()` calls served from the pool.
    pub from_pool: u64,
    /// `start()` calls that found the pool empty and generated on the caller's thread.
    pub inline: u64,
}

impl KeyPool {
    /// An empty pool of at most `capacity` key pairs of `inner` (call [`KeyPool::refill`] to
    /// fill it). It answers to `inner`'s ID, so `provider.with_key_exchange(Arc::new(pool))`
    /// replaces the plain method.
    pub fn new(inner: Arc<dyn KeyExchange>, capacity: usize) -> Self {
        KeyPool {
            inner,
            capacity,
            ready: Mutex::new(Vec::with_capacity(capacity)),
            from_pool: AtomicU64::new(0),
            inline: AtomicU64::new(0),
        }
    }

    /// Generates key pairs until the pool holds `capacity`; returns how many were added.
    /// Generation runs without the lock held, so `start()` on the engine's thread never waits
    /// for a slow key generation; a key pair made while another refill filled the pool is
    /// dropped (wiped by its own `Drop`).
    pub fn refill(&self) -> Result<usize, CryptoError> {
        let mut added = 0;
        while self.lock().len() < self.capacity {
            let fresh = self.inner.start()?;
            let mut ready = self.lock();
            if ready.len() >= self.capacity {
                break;
            }
            ready.push(fresh);
            added += 1;
        }
        Ok(added)
    }

    /// True if the pool is below capacity (a worker's cue to call [`KeyPool::refill`]).
    pub fn wants_refill(&self) -> bool {
        self.lock().len() < self.capacity
    }

    /// Counters since creation.
    pub fn stats(&self) -> KeyPoolStats {
        KeyPoolStats {
            ready: self.lock().len(),
            from_pool: self.from_pool.load(Ordering::Relaxed),
            inline: self.inline.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Box<dyn ActiveKeyExchange>>> {
        // A panic elsewhere while holding the lock leaves a valid Vec of unused key pairs.
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl KeyExchange for KeyPool {
    fn id(&self) -> u16 {
        self.inner.id()
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        // Bind first: the guard must be released before a slow inline generation.
        let pooled = self.lock().pop();
        match pooled {
            Some(kx) => {
                self.from_pool.fetch_add(1, Ordering::Relaxed);
                Ok(kx)
            }
            None => {
                self.inline.fetch_add(1, Ordering::Relaxed);
                self.inner.start()
            }
        }
    }

    fn respond(&self, peer_data: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
        self.inner.respond(peer_data)
    }
}

impl core::fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyPool")
            .field("id", &self.inner.id())
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::awslc::aws_lc;
    use crate::CryptoProvider;
    use std::sync::atomic::AtomicUsize;

    /// Counts key generations of the wrapped method, to see where they happen.
    struct Counting {
        inner: Arc<dyn KeyExchange>,
        starts: AtomicUsize,
    }

    impl KeyExchange for Counting {
        fn id(&self) -> u16 {
            self.inner.id()
        }
        fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
            self.starts.fetch_add(1, Ordering::Relaxed);
            self.inner.start()
        }
        fn respond(&self, peer: &[u8]) -> Result<(Vec<u8>, SharedSecret), CryptoError> {
            self.inner.respond(peer)
        }
    }

    fn counting(id: u16) -> Arc<Counting> {
        Arc::new(Counting {
            inner: aws_lc().key_exchange_part(id).unwrap(),
            starts: AtomicUsize::new(0),
        })
    }

    #[test]
    fn serves_from_pool_then_falls_back_inline() {
        let gen = counting(36);
        let pool = KeyPool::new(gen.clone(), 3);
        assert_eq!(pool.id(), 36);
        assert!(pool.wants_refill());
        assert_eq!(pool.refill().unwrap(), 3);
        assert!(!pool.wants_refill());
        assert_eq!(
            pool.refill().unwrap(),
            0,
            "bounded: a full pool generates nothing"
        );
        assert_eq!(gen.starts.load(Ordering::Relaxed), 3);

        let mut publics = Vec::new();
        for _ in 0..3 {
            publics.push(pool.start().unwrap().public_data().to_vec());
        }
        // The pool's keys are served without generating on the caller's thread.
        assert_eq!(gen.starts.load(Ordering::Relaxed), 3);
        let s = pool.stats();
        assert_eq!((s.ready, s.from_pool, s.inline), (0, 3, 0));
        // Empty: generate inline and count it.
        publics.push(pool.start().unwrap().public_data().to_vec());
        assert_eq!(gen.starts.load(Ordering::Relaxed), 4);
        assert_eq!(pool.stats().inline, 1);
        // Every key pair was used once.
        publics.sort();
        publics.dedup();
        assert_eq!(publics.len(), 4);
    }

    #[test]
    fn pooled_keys_complete_exchanges() {
        for id in [31, 36] {
            let p = aws_lc();
            let pool = Arc::new(KeyPool::new(p.key_exchange_part(id).unwrap(), 2));
            pool.refill().unwrap();
            let composed = p.with_key_exchange(pool.clone());
            let kx = composed.key_exchange(id).unwrap();
            let init = kx.start().unwrap();
            let (resp, ss_r) = kx.respond(init.public_data()).unwrap();
            assert_eq!(init.complete(&resp).unwrap().as_bytes(), ss_r.as_bytes());
            assert_eq!(pool.stats().from_pool, 1);
        }
    }

    #[test]
    fn refill_from_a_worker_thread() {
        let pool = Arc::new(KeyPool::new(counting(31), 8));
        let worker = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.refill().unwrap())
        };
        assert_eq!(worker.join().unwrap(), 8);
        for _ in 0..8 {
            pool.start().unwrap();
        }
        assert_eq!(pool.stats().from_pool, 8);
        assert_eq!(pool.stats().inline, 0);
    }
}
