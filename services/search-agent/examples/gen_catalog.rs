//! Writes the deterministic product catalog to stdout:
//! `cargo run -p intentmesh-search-agent --example gen_catalog > services/search-agent/data/catalog.jsonl`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let products = intentmesh_search_agent::catalog::generate::generate();
    print!(
        "{}",
        intentmesh_search_agent::catalog::generate::to_jsonl(&products)?
    );
    Ok(())
}
