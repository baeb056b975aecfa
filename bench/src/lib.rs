//! What the benchmarks and the suite's crowd test share: [`crowd`], many keep-alive HTTP/1.1
//! clients at once against a gateway.

pub mod crowd;
