//! Monthly cost estimates (read by the scanner and, for the savings of
//! findings and actions, by the advisor) from the price table kept as data beside this file
//! (`prices.json`: on-demand USD, its date and source noted there).
//!
//! Units are pinned by tests: hourly prices × 730 hours; EBS and snapshot
//! sizes are GiB as the APIs report them and AWS bills them ("GB-month" in
//! AWS's price pages means GiB-month); nothing is converted through 10^9.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Prices {
    pub date: String,
    pub hours_per_month: f64,
    ec2_instance_hourly: HashMap<String, HashMap<String, f64>>,
    ec2_size_factor: HashMap<String, f64>,
    ebs_gib_month: HashMap<String, HashMap<String, f64>>,
    ebs_iops_month: HashMap<String, HashMap<String, f64>>,
    gp3_baseline_iops: f64,
    gp3_baseline_throughput_mibps: f64,
    gp3_throughput_mibps_month: HashMap<String, f64>,
    snapshot_gib_month: HashMap<String, f64>,
    public_ipv4_hourly: f64,
    nat_gateway_hourly: HashMap<String, f64>,
    rds_instance_hourly: HashMap<String, HashMap<String, f64>>,
    rds_storage_gib_month: HashMap<String, HashMap<String, f64>>,
    rds_snapshot_gib_month: HashMap<String, f64>,
    kms_key_month: f64,
    secret_month: f64,
    dynamodb_storage_gib_month: HashMap<String, f64>,
    dynamodb_rcu_hourly: HashMap<String, f64>,
    dynamodb_wcu_hourly: HashMap<String, f64>,
    log_storage_gib_month: HashMap<String, f64>,
    load_balancer_hourly: HashMap<String, f64>,
}

/// Bytes in a GiB: table and log sizes come in bytes, prices per GiB-month.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The table compiled into the binary (parsed once per cold start).
pub fn prices() -> &'static Prices {
    static PRICES: OnceLock<Prices> = OnceLock::new();
    PRICES.get_or_init(|| {
        serde_json::from_str(include_str!("../prices.json"))
            .unwrap_or_else(|e| panic!("prices.json is invalid: {e}"))
    })
}

/// The region's table, or us-east-1's when the region is not listed.
fn regional<'a, T>(table: &'a HashMap<String, T>, region: &str) -> Option<&'a T> {
    table.get(region).or_else(|| table.get("us-east-1"))
}

impl Prices {
    /// An instance's monthly compute cost; `None` for a type not in the table.
    /// A stopped instance costs no compute (its volumes still cost).
    pub fn instance(&self, region: &str, instance_type: &str, running: bool) -> Option<f64> {
        let (family, size) = instance_type.split_once('.')?;
        let large = regional(&self.ec2_instance_hourly, region)?.get(family)?;
        let factor = self.ec2_size_factor.get(size)?;
        Some(if running {
            large * factor * self.hours_per_month
        } else {
            0.0
        })
    }

    /// The next smaller size of an instance's family, with the share of
    /// the current size's capacity it keeps (0.5 for m6i.2xlarge →
    /// m6i.xlarge; 2/3 for 12xlarge → 8xlarge). `None` for the smallest
    /// size of the family, a size or family not in the table, or a type that
    /// is not `family.size`. Intel and AMD families start at `large`,
    /// Graviton ones (`m6g`, `c7g`, `t4g`) at `medium`, burstable ones at
    /// `nano`.
    pub fn one_size_down(&self, instance_type: &str) -> Option<(String, f64)> {
        let (family, size) = instance_type.split_once('.')?;
        let current = *self.ec2_size_factor.get(size)?;
        if !self
            .ec2_instance_hourly
            .values()
            .any(|t| t.contains_key(family))
        {
            return None;
        }
        let smallest = if family.starts_with('t') {
            "nano"
        } else if family.ends_with('g') {
            "medium"
        } else {
            "large"
        };
        let floor = *self.ec2_size_factor.get(smallest)?;
        let (smaller, factor) = self
            .ec2_size_factor
            .iter()
            .filter(|&(_, &f)| f < current && f >= floor)
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        Some((format!("{family}.{smaller}"), factor / current))
    }

    /// A volume's monthly cost: storage, plus provisioned IOPS (io1/io2; gp3
    /// above its 3,000 baseline) and gp3 throughput above 125 MiB/s.
    pub fn volume(
        &self,
        region: &str,
        volume_type: &str,
        size_gib: f64,
        iops: f64,
        throughput_mibps: f64,
    ) -> Option<f64> {
        let storage = regional(&self.ebs_gib_month, region)?.get(volume_type)? * size_gib;
        let iops_price = regional(&self.ebs_iops_month, region)
            .and_then(|t| t.get(volume_type))
            .copied()
            .unwrap_or(0.0);
        let billable_iops = match volume_type {
            "gp3" => (iops - self.gp3_baseline_iops).max(0.0),
            "io1" | "io2" => iops,
            _ => 0.0,
        };
        let throughput = if volume_type == "gp3" {
            (throughput_mibps - self.gp3_baseline_throughput_mibps).max(0.0)
                * regional(&self.gp3_throughput_mibps_month, region)
                    .copied()
                    .unwrap_or(0.0)
        } else {
            0.0
        };
        Some(storage + billable_iops * iops_price + throughput)
    }

    /// What moving a gp2 volume to gp3 saves a month, the gp3 provisioned to
    /// at least the gp2's baseline: 3 IOPS a GiB (at most 16,000; gp3 gives
    /// 3,000 free) and 0.75 MiB/s a GiB (its 256 KiB I/Os, at most 250;
    /// gp3 gives 125 free). Positive at every size.
    pub fn gp2_to_gp3_saving(&self, region: &str, size_gib: f64) -> Option<f64> {
        let iops = (3.0 * size_gib).min(16_000.0);
        let throughput = (0.75 * size_gib).min(250.0);
        let gp2 = self.volume(region, "gp2", size_gib, iops, 0.0)?;
        let gp3 = self.volume(region, "gp3", size_gib, iops, throughput)?;
        Some(gp2 - gp3)
    }

    pub fn snapshot(&self, region: &str, size_gib: f64) -> f64 {
        regional(&self.snapshot_gib_month, region)
            .copied()
            .unwrap_or(0.0)
            * size_gib
    }

    /// Every public IPv4 address costs by the hour since February 2024, attached or not.
    pub fn public_ipv4(&self) -> f64 {
        self.public_ipv4_hourly * self.hours_per_month
    }

    /// A database instance: compute while `available` (a stopped one costs
    /// none), storage always; Multi-AZ doubles both.
    pub fn db_instance(
        &self,
        region: &str,
        class: &str,
        storage_type: &str,
        storage_gib: f64,
        running: bool,
        multi_az: bool,
    ) -> Option<f64> {
        let compute =
            regional(&self.rds_instance_hourly, region)?.get(class)? * self.hours_per_month;
        let storage = regional(&self.rds_storage_gib_month, region)?
            .get(storage_type)
            .copied()
            .unwrap_or(0.0)
            * storage_gib;
        let copies = if multi_az { 2.0 } else { 1.0 };
        Some(copies * (if running { compute } else { 0.0 } + storage))
    }

    pub fn db_snapshot(&self, region: &str, size_gib: f64) -> f64 {
        regional(&self.rds_snapshot_gib_month, region)
            .copied()
            .unwrap_or(0.0)
            * size_gib
    }

    /// A customer-managed key (AWS-managed keys cost nothing).
    pub fn kms_key(&self) -> f64 {
        self.kms_key_month
    }

    pub fn secret(&self) -> f64 {
        self.secret_month
    }

    /// A table: storage from its size in bytes, plus provisioned capacity when not on demand.
    pub fn dynamodb_table(&self, region: &str, size_bytes: f64, rcu: f64, wcu: f64) -> f64 {
        let storage = regional(&self.dynamodb_storage_gib_month, region)
            .copied()
            .unwrap_or(0.0)
            * size_bytes
            / GIB;
        let capacity = (rcu
            * regional(&self.dynamodb_rcu_hourly, region)
                .copied()
                .unwrap_or(0.0)
            + wcu
                * regional(&self.dynamodb_wcu_hourly, region)
                    .copied()
                    .unwrap_or(0.0))
            * self.hours_per_month;
        storage + capacity
    }

    /// Stored log bytes, per GiB-month (ingestion is usage, not inventory).
    pub fn log_storage(&self, region: &str, stored_bytes: f64) -> f64 {
        regional(&self.log_storage_gib_month, region)
            .copied()
            .unwrap_or(0.0)
            * stored_bytes
            / GIB
    }

    /// A load balancer's hours (capacity units are usage, not inventory).
    pub fn load_balancer(&self, region: &str) -> f64 {
        regional(&self.load_balancer_hourly, region)
            .copied()
            .unwrap_or(0.0)
            * self.hours_per_month
    }

    pub fn nat_gateway(&self, region: &str) -> f64 {
        regional(&self.nat_gateway_hourly, region)
            .copied()
            .unwrap_or(0.0)
            * self.hours_per_month
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn hourly_prices_are_multiplied_by_730_hours() {
        let p = prices();
        assert_eq!(p.hours_per_month, 730.0);
        // m6i.large at $0.096/h is $70.08 a month, not $69.12 (720 h) nor $71.42 (744 h).
        assert!(close(
            p.instance("us-east-1", "m6i.large", true).unwrap(),
            70.08
        ));
        assert!(close(
            p.instance("us-east-1", "m6i.2xlarge", true).unwrap(),
            0.096 * 4.0 * 730.0
        ));
        assert!(close(p.nat_gateway("us-east-1"), 32.85));
        assert!(close(p.public_ipv4(), 3.65));
    }

    #[test]
    fn one_size_down_halves_within_the_family_and_stops_at_its_smallest_size() {
        let p = prices();
        assert_eq!(
            p.one_size_down("m6i.2xlarge"),
            Some(("m6i.xlarge".to_owned(), 0.5))
        );
        let (smaller, share) = p.one_size_down("c6i.12xlarge").unwrap();
        assert_eq!(smaller, "c6i.8xlarge");
        assert!(close(share, 16.0 / 24.0));
        // Intel families have no medium; Graviton and burstable ones do.
        assert_eq!(p.one_size_down("m6i.large"), None);
        assert_eq!(
            p.one_size_down("m6g.large"),
            Some(("m6g.medium".to_owned(), 0.5))
        );
        assert_eq!(p.one_size_down("m6g.medium"), None);
        assert_eq!(
            p.one_size_down("t3.micro"),
            Some(("t3.nano".to_owned(), 0.5))
        );
        assert_eq!(p.one_size_down("x99.2xlarge"), None);
        assert_eq!(p.one_size_down("m6i.metal"), None);
        assert_eq!(p.one_size_down("garbage"), None);
        // The saving of the step down is the table's price difference.
        let saving = p.instance("us-east-1", "m6i.2xlarge", true).unwrap()
            - p.instance("us-east-1", "m6i.xlarge", true).unwrap();
        assert!(close(saving, 0.096 * 2.0 * 730.0));
    }

    #[test]
    fn stopped_instance_costs_no_compute_and_unknown_types_are_unpriced() {
        assert_eq!(prices().instance("us-east-1", "t3.micro", false), Some(0.0));
        assert_eq!(prices().instance("us-east-1", "x99.large", true), None);
        assert_eq!(prices().instance("us-east-1", "garbage", true), None);
    }

    #[test]
    fn regions_price_differently_and_unknown_regions_fall_back() {
        let p = prices();
        assert!(
            p.instance("eu-west-1", "t3.micro", true) > p.instance("us-east-1", "t3.micro", true)
        );
        assert_eq!(
            p.instance("ap-south-1", "t3.micro", true),
            p.instance("us-east-1", "t3.micro", true)
        );
    }

    #[test]
    fn table_sizes_in_bytes_are_priced_per_gib() {
        let p = prices();
        assert!(close(p.dynamodb_table("us-east-1", GIB, 0.0, 0.0), 0.25));
        // 10^9 bytes is not a GiB: 0.931 of one.
        assert!(close(
            p.dynamodb_table("us-east-1", 1e9, 0.0, 0.0),
            0.25 * 1e9 / GIB
        ));
        assert!(close(
            p.dynamodb_table("us-east-1", 0.0, 10.0, 5.0),
            (10.0 * 0.00013 + 5.0 * 0.00065) * 730.0
        ));
        assert!(close(p.kms_key(), 1.0) && close(p.secret(), 0.4));
        assert!(close(p.log_storage("us-east-1", 10.0 * GIB), 0.3));
        assert!(close(p.load_balancer("us-east-1"), 16.425));
    }

    #[test]
    fn databases_cost_compute_while_available_and_storage_always() {
        let p = prices();
        // db.t3.micro: 0.017 x 730 = 12.41, plus 20 GiB gp2 at 0.115 = 2.30.
        assert!(close(
            p.db_instance("us-east-1", "db.t3.micro", "gp2", 20.0, true, false)
                .unwrap(),
            12.41 + 2.3
        ));
        assert!(close(
            p.db_instance("us-east-1", "db.t3.micro", "gp2", 20.0, false, false)
                .unwrap(),
            2.3
        ));
        assert!(close(
            p.db_instance("us-east-1", "db.t3.micro", "gp2", 20.0, true, true)
                .unwrap(),
            2.0 * (12.41 + 2.3)
        ));
        assert!(close(p.db_snapshot("us-east-1", 10.0), 0.95));
    }

    #[test]
    fn volumes_are_priced_per_gib_month_with_iops_and_throughput_above_baseline() {
        let p = prices();
        // 100 GiB gp3 at baseline: $8.00, no IOPS or throughput charge.
        assert!(close(
            p.volume("us-east-1", "gp3", 100.0, 3000.0, 125.0).unwrap(),
            8.0
        ));
        // gp3 with 4,000 IOPS and 250 MiB/s: 1,000 IOPS and 125 MiB/s billable.
        assert!(close(
            p.volume("us-east-1", "gp3", 100.0, 4000.0, 250.0).unwrap(),
            8.0 + 5.0 + 5.0
        ));
        // io1 bills every provisioned IOPS.
        assert!(close(
            p.volume("us-east-1", "io1", 100.0, 1000.0, 0.0).unwrap(),
            12.5 + 65.0
        ));
        // Sizes are GiB: 1 GiB is 1 unit, never 1.073741824.
        assert!(close(
            p.volume("us-east-1", "gp2", 1.0, 0.0, 0.0).unwrap(),
            0.10
        ));
        assert!(close(p.snapshot("us-east-1", 20.0), 1.0));
    }

    #[test]
    fn gp2_to_gp3_saves_the_storage_difference_less_the_performance_gp3_must_buy() {
        let p = prices();
        // 100 GiB: within gp3's free 3,000 IOPS and 125 MiB/s, $10.00 against $8.00.
        assert!(close(p.gp2_to_gp3_saving("us-east-1", 100.0).unwrap(), 2.0));
        // 2,000 GiB: gp2's 6,000 IOPS and 250 MiB/s cost gp3 3,000 x 0.005 + 125 x 0.04.
        assert!(close(
            p.gp2_to_gp3_saving("us-east-1", 2000.0).unwrap(),
            200.0 - (160.0 + 15.0 + 5.0)
        ));
        for size in [1.0, 170.0, 250.0, 334.0, 1000.0, 5334.0, 16384.0] {
            assert!(
                p.gp2_to_gp3_saving("eu-west-1", size).unwrap() > 0.0,
                "{size}"
            );
        }
    }
}
