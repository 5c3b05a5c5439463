//! Arbitrary datagrams into the ESP decapsulation path (pqike_esp::fuzz_decap): fixed SAs for every
//! algorithm family; no panic, and no state change except counters for unauthenticated input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pqike_esp::fuzz_decap(data));
