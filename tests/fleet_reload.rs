//! A fleet reload as Kubernetes does it: two proxies run from the same mounted `proxy.yaml`, laid
//! out as the kubelet lays out a ConfigMap volume (`proxy.yaml` → `..data/proxy.yaml`, `..data`
//! → a timestamped directory), and a ConfigMap change arrives as an atomic swap of the `..data`
//! symlink. Both proxies' file watches see the new contents and apply them, with no signal and
//! no restart.
mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use common::config::{ProxyYaml, parse};
use common::{Bed, connect, get, opts_for, wait_until};

/// Writes `text` as a new timestamped directory `name` of the volume and points `..data` at it
/// with an atomic rename, as the kubelet's atomic writer does.
fn publish(volume: &Path, name: &str, text: &str) {
    let dir = volume.join(name);
    std::fs::create_dir(&dir).expect("a timestamped directory");
    std::fs::write(dir.join("proxy.yaml"), text).expect("writing proxy.yaml");
    let staged = volume.join("..data_tmp");
    symlink(name, &staged).expect("the staged link");
    std::fs::rename(&staged, volume.join("..data")).expect("swapping ..data");
}

fn sha256_of(admin: std::net::SocketAddr) -> String {
    get(admin, "/status").json()["config"]["sha256"]
        .as_str()
        .expect("a hash")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_symlink_swap_reloads_every_proxy_of_the_fleet() {
    let bed = Bed::shared();
    let volume = tempfile::tempdir().expect("a volume");
    let volume = volume.path();
    let before = ProxyYaml::new(bed.cluster()).text();
    publish(volume, "..2026_12_02_15_00_00.1", &before);
    symlink("..data/proxy.yaml", volume.join("proxy.yaml")).expect("the file's link");
    let path = volume.join("proxy.yaml");
    let fleet: Vec<_> = (0..2)
        .map(|_| splitrail_server::start_from_file(parse(&before), &path).expect("a proxy"))
        .collect();
    for proxy in &fleet {
        let mut conn = connect(opts_for(proxy)).await;
        common::run(&mut conn, "SELECT 1").await;
    }
    let old_hash = sha256_of(fleet[0].admin_addr());

    // The ConfigMap changes: one client per proxy from now on.
    let after = format!("{before}max_client_connections: 1\n");
    publish(volume, "..2026_12_02_15_05_00.2", &after);
    let new_hash = splitrail_server::config::sha256_hex(after.as_bytes());
    assert_ne!(old_hash, new_hash);
    tokio::task::block_in_place(|| {
        for proxy in &fleet {
            let admin = proxy.admin_addr();
            wait_until(
                "the proxy to apply the swapped file",
                Duration::from_secs(20),
                || sha256_of(admin) == new_hash,
            );
        }
    });
    for proxy in &fleet {
        let status = get(proxy.admin_addr(), "/status").json();
        assert_eq!(status["reloads"]["ok"], 1, "{status}");
        // The new limit is in force: a second client of the same proxy is refused.
        let mut first = connect(opts_for(proxy)).await;
        common::run(&mut first, "SELECT 1").await;
        let second = mysql_async::Conn::new(opts_for(proxy)).await;
        assert!(
            matches!(&second, Err(mysql_async::Error::Server(e)) if e.code == 1040),
            "a second client was let in: {:?}",
            second.map(|_| ())
        );
    }
}
