fn main() -> anyhow::Result<()> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_path("wit")?;
    for (_, w) in &resolve.worlds {
        println!("world {}", w.name);
    }
    println!("package {}", resolve.packages[pkg].name);
    Ok(())
}
