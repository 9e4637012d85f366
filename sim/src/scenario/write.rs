//! Writing scenarios back as TOML files that [`Scenario::parse`] reads back unchanged: the
//! explorer and the shrinker save failing runs this way.

use super::{Behaviour, Expect, Scenario, DEFAULT_TICK_MS, DEFAULT_TTL_MS};

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    Some(match v {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Array(a) => {
            toml::Value::Array(a.iter().filter_map(json_to_toml).collect())
        }
        serde_json::Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
                .collect(),
        ),
    })
}

impl Scenario {
    /// Writes the scenario as a TOML file that [`Scenario::parse`] reads back unchanged.
    pub fn to_toml(&self) -> String {
        use toml::Value;
        let mut top = toml::Table::new();
        top.insert("name".into(), Value::String(self.name.clone()));
        if !self.description.is_empty() {
            top.insert(
                "description".into(),
                Value::String(self.description.clone()),
            );
        }
        top.insert("seed".into(), Value::Integer(self.seed as i64));
        top.insert("mode".into(), Value::String(self.mode.name().into()));
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        top.insert("hives".into(), strings(&self.hives));
        top.insert("keepers".into(), strings(&self.keepers));
        top.insert("run_for_ms".into(), Value::Integer(self.run_for_ms as i64));
        top.insert("models".into(), strings(&self.models));
        if self.ttl_ms != DEFAULT_TTL_MS {
            top.insert("ttl_ms".into(), Value::Integer(self.ttl_ms as i64));
        }
        if let Some(capacity) = self.capacity {
            top.insert("capacity".into(), Value::Integer(capacity as i64));
        }
        if self.perturb {
            top.insert("perturb".into(), Value::Boolean(true));
        }
        if self.tick_ms != DEFAULT_TICK_MS {
            top.insert("tick_ms".into(), Value::Integer(self.tick_ms as i64));
        }
        let jobs: Vec<Value> = self
            .jobs
            .iter()
            .map(|j| {
                let mut t = match json_to_toml(&j.operation.to_json()) {
                    Some(Value::Table(t)) => t,
                    _ => toml::Table::new(),
                };
                t.insert("keeper".into(), Value::String(j.keeper.clone()));
                t.insert("at_ms".into(), Value::Integer(j.at_ms as i64));
                if j.connect_after_ms > 0 {
                    t.insert(
                        "connect_after_ms".into(),
                        Value::Integer(j.connect_after_ms as i64),
                    );
                }
                if j.expect != Expect::Any {
                    t.insert("expect".into(), Value::String(j.expect.name().into()));
                }
                match j.behaviour {
                    Behaviour::Follow => {}
                    Behaviour::DisconnectAfter(n) => {
                        t.insert("disconnect_after_events".into(), Value::Integer(n as i64));
                    }
                    Behaviour::NeverConnect => {
                        t.insert("never_connect".into(), Value::Boolean(true));
                    }
                    Behaviour::CancelAt(ms) => {
                        t.insert("cancel_at_ms".into(), Value::Integer(ms as i64));
                    }
                    Behaviour::StreamTwice => {
                        t.insert("stream_twice".into(), Value::Boolean(true));
                    }
                }
                if let Some(after) = j.after_end {
                    t.insert("after_end".into(), Value::String(after.name().into()));
                }
                Value::Table(t)
            })
            .collect();
        if !jobs.is_empty() {
            top.insert("jobs".into(), Value::Array(jobs));
        }
        let faults: Vec<Value> = self
            .faults
            .iter()
            .map(|f| {
                let mut t = toml::Table::new();
                t.insert("at_ms".into(), Value::Integer(f.at_ms as i64));
                t.insert("kind".into(), Value::String(f.kind.name().into()));
                if f.kind.is_link() {
                    t.insert("between".into(), strings(&f.hosts));
                } else {
                    t.insert("host".into(), Value::String(f.hosts[0].clone()));
                }
                Value::Table(t)
            })
            .collect();
        if !faults.is_empty() {
            top.insert("faults".into(), Value::Array(faults));
        }
        let requests: Vec<Value> = self
            .requests
            .iter()
            .map(|r| {
                let mut t = toml::Table::new();
                t.insert("keeper".into(), Value::String(r.keeper.clone()));
                t.insert("at_ms".into(), Value::Integer(r.at_ms as i64));
                t.insert("kind".into(), Value::String(r.kind.name().into()));
                Value::Table(t)
            })
            .collect();
        if !requests.is_empty() {
            top.insert("requests".into(), Value::Array(requests));
        }
        toml::to_string(&top).expect("scenario serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "name = \"t\"\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\n";

    #[test]
    fn to_toml_round_trips() {
        let text = format!(
            "{HEAD}seed = 3\nttl_ms = 5000\ncapacity = 8\nperturb = true\ntick_ms = 5\nmode = \"distributed\"\ndescription = \"d\"\n\n[[jobs]]\nkeeper = \"alice\"\nat_ms = 7\noperation = \"infer\"\nhive_id = \"hive-a\"\nmodel = \"m\"\nprompt = \"a b\"\nexpect = \"done\"\ndisconnect_after_events = 2\nconnect_after_ms = 9\nafter_end = \"cancel\"\n\n[[requests]]\nkeeper = \"alice\"\nat_ms = 3\nkind = \"stream_malformed\"\n\n[[faults]]\nat_ms = 4\nkind = \"hold\"\nbetween = [\"queen\", \"hive-a\"]\n\n[[faults]]\nat_ms = 5\nkind = \"restart\"\nhost = \"hive-a\"\n"
        );
        let s = Scenario::parse("s.toml", &text).unwrap();
        assert_eq!(s.ttl_ms, 5000);
        assert_eq!((s.capacity, s.perturb, s.tick_ms), (Some(8), true, 5));
        let back = Scenario::parse("again.toml", &s.to_toml()).unwrap();
        assert_eq!(back, s);
        assert!(s.validate().is_ok());
    }
}
