//! The floor of the split scenarios in `scripts/bench.sh`: a bare client that reads the bytes
//! of some files as CONNS contiguous slices, each over its own keep-alive connection, and
//! does nothing else with them (no file, no checks). What a capped link allows with CONNS
//! connections, measured through the same proxy as the tools.
//!
//! `range_floor CONNS URL...`

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let conns: u64 = match args.get(1).and_then(|c| c.parse().ok()) {
        Some(c) if c > 0 && args.len() > 2 => c,
        _ => {
            eprintln!("usage: range_floor CONNS URL...");
            std::process::exit(2);
        }
    };
    let urls = &args[2..];
    let agent = ureq::Agent::new_with_defaults();
    // The length of each file, from a one-byte range (its Content-Range total).
    let sizes: Vec<u64> = urls
        .iter()
        .map(|u| {
            let resp = agent.get(u).header("Range", "bytes=0-0").call().expect(u);
            let cr = resp
                .headers()
                .get("content-range")
                .expect("a Content-Range");
            cr.to_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let total: u64 = sizes.iter().sum();
    std::thread::scope(|s| {
        for k in 0..conns {
            let (from, to) = (total * k / conns, total * (k + 1) / conns);
            let sizes = &sizes;
            s.spawn(move || {
                // One agent per slice: its own connection, kept alive across its requests.
                let agent = ureq::Agent::new_with_defaults();
                let mut offset = 0;
                for (url, &size) in urls.iter().zip(sizes) {
                    let (a, b) = (from.max(offset), to.min(offset + size));
                    if a < b {
                        let range = format!("bytes={}-{}", a - offset, b - offset - 1);
                        let resp = agent.get(url).header("Range", &range).call().expect(url);
                        let mut body = resp.into_body().into_reader();
                        let n = std::io::copy(&mut body, &mut std::io::sink()).expect(url);
                        assert_eq!(n, b - a, "{url} {range}");
                    }
                    offset += size;
                }
            });
        }
    });
}
