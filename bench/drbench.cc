// drbench: the benchmark suite. Measures this machine's ceilings (a no-op
// gRPC unary server, a no-op server stream, a no-op WatchJob fan-out with
// the product's watch pattern, raw SQLite commits with the server's own
// pragmas and schema) and the product (drserver with simulated agents whose
// jobs take zero time) in the same run, with the same client machinery (gRPC
// callback API), and prints one table; --json writes the same numbers. Every
// figure is the median of --runs runs, with min and max. Beside the
// throughputs it reports CPU time per request (no-op) and per job accepted
// and run (drserver, agents, client), which says where a ratio to the
// ceiling goes.
// Run it with tools/bench.sh.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/load.h"
#include "common/proto_time.h"
#include "db/sqlite.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "dr/v1/topology_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "plans/ideal_schedule.h"
#include "plans/step_graph.h"
#include "storage/schema.h"
#include "storage/sqlite_store.h"
#include "tests/testing/certs.h"
#include "tests/testing/subprocess.h"

ABSL_FLAG(int, concurrency, 256,
          "requests in flight for the saturation figures (no-op ceiling and acceptance alike)");
ABSL_FLAG(std::string, bin_dir, "",
          "directory holding server/drserver, hvagent/hvagent, bench/noop_server");
ABSL_FLAG(std::string, work_dir, "/tmp/hvdr-bench", "scratch directory (databases, logs)");
ABSL_FLAG(std::string, json, "bench-results.json", "where to write the numbers as JSON");
ABSL_FLAG(int, runs, 3, "runs per figure (median, min, max)");
ABSL_FLAG(int, acceptance_requests, 3000, "requests per acceptance run at saturation");
ABSL_FLAG(std::string, mkcerts, "tools/mkcerts.sh",
          "tools/mkcerts.sh, for the estates that run with TLS (the acceptance group runs once "
          "without and once with TLS and a bearer token)");
ABSL_FLAG(int, fanout_channels, 16,
          "client connections the WatchJob fan-out watchers are spread over");
ABSL_FLAG(bool, quick, false, "smaller sizes, for a smoke run");
ABSL_FLAG(std::string, only, "", "run only the groups whose name contains this");
ABSL_FLAG(int, plans_agent_poll_ms, 100,
          "the agents' --poll_interval_ms in the plans group (hvagent's default): a job's end is "
          "seen up to this late, and every read of a running job's progress is a job update "
          "drserver writes (500 jobs read every 20 ms: 25,000 updates/s, a backlog in its job "
          "writer)");
ABSL_FLAG(std::string, db_synchronous, "FULL",
          "drserver's --db_synchronous for the product figures (FULL is drserver's default)");

namespace hvdr {
namespace bench {
namespace {

using hvdr::testing::Subprocess;

struct Figure {
  std::string name;
  std::string unit;
  std::vector<double> runs;
  double Median() const {
    std::vector<double> v = runs;
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  double Min() const { return runs.empty() ? 0 : *std::min_element(runs.begin(), runs.end()); }
  double Max() const { return runs.empty() ? 0 : *std::max_element(runs.begin(), runs.end()); }
};

std::vector<Figure> figures;
Figure& F(const std::string& name, const std::string& unit) {
  for (Figure& f : figures) {
    if (f.name == name) return f;
  }
  figures.push_back({name, unit, {}});
  return figures.back();
}
const Figure* Find(const std::string& name) {
  for (const Figure& f : figures) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

int Runs() { return std::max(1, absl::GetFlag(FLAGS_runs)); }
bool Quick() { return absl::GetFlag(FLAGS_quick); }
std::string Bin(const std::string& rel) {
  return absl::StrCat(absl::GetFlag(FLAGS_bin_dir), "/", rel);
}
bool Wanted(const std::string& group) {
  return absl::GetFlag(FLAGS_only).empty() ||
         group.find(absl::GetFlag(FLAGS_only)) != std::string::npos;
}
void Say(const std::string& s) { std::cerr << "drbench: " << s << std::endl; }

std::string Guid(int host, int vm) {
  return absl::StrFormat("B0000000-0000-4000-8000-%04d%08d", host, vm);
}
std::string HostId(int host) { return absl::StrFormat("hv-%02d", host); }

// drserver and simulated agents as processes.
// With `tls`, as deployed: mutual TLS between drserver and the agents
// (certificates from tools/mkcerts.sh), clients over TLS with a bearer token.
class Estate {
 public:
  explicit Estate(const std::string& name, bool tls = false)
      : dir_(absl::StrCat(absl::GetFlag(FLAGS_work_dir), "/", name)), tls_(tls) {
    if (std::system(absl::StrCat("rm -rf '", dir_, "' && mkdir -p '", dir_, "'").c_str()) != 0) {
      Say("cannot create " + dir_);
      std::exit(1);
    }
  }
  // The flags that make a process use TLS with certificate `name`
  // (agent-<host>, drserver), or --insecure.
  std::vector<std::string> SecurityFlags(const std::string& name) const {
    if (!tls_) return {"--insecure"};
    const std::string c = dir_ + "/certs/";
    std::vector<std::string> flags = {"--tls_cert_file=" + c + name + ".crt",
                                      "--tls_key_file=" + c + name + ".key",
                                      "--tls_ca_file=" + c + "ca.crt"};
    if (name == "drserver") flags.push_back("--tokens_file=" + c + "tokens.json");
    return flags;
  }
  // Certificates for `hosts` (and drserver, and an admin token), by
  // tools/mkcerts.sh; the CA is made once per estate.
  void MakeCerts(const std::vector<std::string>& hosts) {
    std::string list;
    for (const std::string& h : hosts) absl::StrAppend(&list, list.empty() ? "" : ",", h);
    absl::Status made =
        hvdr::testing::MakeCerts(dir_ + "/certs", {"--hosts", list, "--tokens", "bench:admin"},
                                 absl::GetFlag(FLAGS_mkcerts));
    if (!made.ok()) {
      Say("cannot make certificates: " + made.ToString());
      std::exit(1);
    }
  }
  // Client credentials: TLS with the bench's admin token, or plaintext.
  std::shared_ptr<grpc::ChannelCredentials> ClientCredentials() const {
    if (!tls_) return grpc::InsecureChannelCredentials();
    const std::string certs = dir_ + "/certs";
    return hvdr::testing::ClientTls(certs, hvdr::testing::TokenOf(certs, "bench"));
  }
  ~Estate() {
    if (server_) server_->Signal(SIGKILL);
    for (auto& a : agents_) a->Signal(SIGKILL);
  }
  const std::string& dir() const { return dir_; }

  // Hosts first..first+hosts-1, each with `vms` replica VMs; jobs take
  // `job_ms` (0: zero time), except the operations (JobType numbers) in
  // `op_ms`, which take the time given there; guests boot for `boot_ms`
  // after their start before their heartbeat is OK.
  void StartAgents(int first, int hosts, int vms, int job_ms, int poll_ms,
                   const std::map<int, int>& op_ms = {}, int boot_ms = 0) {
    std::map<int, int> durations{{97, job_ms}, {98, job_ms}, {99, job_ms}};
    for (const auto& [op, ms] : op_ms) durations[op] = ms;
    if (tls_) {
      std::vector<std::string> ids;
      for (int h = first; h < first + hosts; ++h) ids.push_back(HostId(h));
      MakeCerts(ids);
    }
    for (int h = first; h < first + hosts; ++h) {
      const std::string base = absl::StrCat(dir_, "/", HostId(h));
      {
        std::ofstream out(base + ".scenario");
        out << "host_name: \"" << HostId(h) << "\"\n";
        out << "default_job_duration_ms: " << std::max(job_ms, 1) << "\n";
        if (boot_ms > 0) out << "default_boot_ms: " << boot_ms << "\n";
        for (const auto& [op, ms] : durations)
          out << "durations { operation: " << op << " duration_ms: " << ms << " }\n";
        for (int v = 0; v < vms; ++v) {
          out << "vms { vm_id: \"" << Guid(h, v) << "\" name: \"vm-" << h << "-" << v
              << "\" mode: REPLICATION_MODE_REPLICA state: REPLICATION_STATE_REPLICATING "
                 "enabled: ENABLED_STATE_DISABLED last_replication_seconds_ago: 60 }\n";
        }
      }
      auto p = std::make_unique<Subprocess>();
      std::vector<std::string> argv = {Bin("hvagent/hvagent"),
                                       "--scenario=" + base + ".scenario",
                                       "--journal=" + base + ".journal",
                                       "--journal_synchronous=NORMAL",
                                       "--listen=127.0.0.1:0",
                                       "--port_file=" + base + ".port",
                                       absl::StrCat("--poll_interval_ms=", poll_ms)};
      for (std::string& f : SecurityFlags("agent-" + HostId(h))) argv.push_back(std::move(f));
      (void)p->Start(argv, base + ".log");
      auto port = p->WaitForPortFile(base + ".port", absl::Seconds(60));
      if (!port.ok()) {
        Say(absl::StrCat("agent ", HostId(h), ": ", port.status().ToString()));
        std::exit(1);
      }
      addresses_[h] = absl::StrCat("127.0.0.1:", *port);
      agents_.push_back(std::move(p));
    }
  }

  // `vms` more VMs, on hosts without agents, written straight into the
  // database (before the server starts).
  void Fill(int vms) {
    if (vms <= 0) return;
    const absl::Time start = absl::Now();
    auto store = SqliteStore::Open(dir_ + "/drserver.db", {});
    if (!store.ok()) std::exit(1);
    constexpr int kPerHost = 5000;
    for (int h = 0; h * kPerHost < vms; ++h) {
      dr::v1::Host host;
      host.set_name(absl::StrFormat("hosts/filler-%05d", h));
      host.set_site("sites/filler");
      host.set_agent_address("127.0.0.1:9");
      (void)(*store)->CreateHost(host, nullptr);
      std::vector<dr::v1::VirtualMachineInventory> inv;
      for (int v = 0; v < kPerHost && h * kPerHost + v < vms; ++v) {
        auto& vm = inv.emplace_back();
        vm.mutable_virtual_machine()->set_vm_id(Guid(9000 + h % 1000, h * kPerHost + v));
        vm.mutable_virtual_machine()->set_display_name(absl::StrCat("filler-", h, "-", v));
        vm.mutable_virtual_machine()->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
        vm.mutable_virtual_machine()->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
        auto* rel = vm.add_replication_relationships();
        rel->set_name("0");
        rel->set_replication_interval_seconds(300);
        auto* rp = vm.add_recovery_points();
        rp->set_name("rp-1");
      }
      absl::Status s = (*store)->ReplaceInventory(host.name(), inv, absl::Now());
      if (!s.ok()) {
        Say(s.ToString());
        std::exit(1);
      }
    }
    Say(absl::StrCat("stored ", vms, " filler VMs in ", absl::FormatDuration(absl::Now() - start)));
  }

  void StartServer() {
    server_ = std::make_unique<Subprocess>();
    if (tls_ && addresses_.empty()) MakeCerts({});
    std::vector<std::string> argv = {
        Bin("server/drserver"),    "--db=" + dir_ + "/drserver.db",
        "--listen=127.0.0.1:0",    "--port_file=" + dir_ + "/drserver.port",
        "--sync_interval_s=86400", "--db_synchronous=" + absl::GetFlag(FLAGS_db_synchronous)};
    for (std::string& f : SecurityFlags("drserver")) argv.push_back(std::move(f));
    (void)server_->Start(argv, dir_ + "/drserver.log");
    auto port = server_->WaitForPortFile(dir_ + "/drserver.port", absl::Seconds(120));
    if (!port.ok()) {
      Say(absl::StrCat("drserver: ", port.status().ToString()));
      std::exit(1);
    }
    address_ = absl::StrCat("127.0.0.1:", *port);
    auto channel = grpc::CreateChannel(address_, ClientCredentials());
    failover_ = dr::v1::FailoverService::NewStub(channel);
    jobs_ = dr::v1::JobService::NewStub(channel);
    topology_ = dr::v1::TopologyService::NewStub(channel);
    plans_ = dr::v1::PlanService::NewStub(channel);
    for (const auto& [h, address] : addresses_) {
      dr::v1::RegisterHostRequest r;
      r.set_host_id(HostId(h));
      r.set_site("sites/dr");
      r.set_agent_address(address);
      r.set_request_id("bench-register-" + HostId(h));
      grpc::ClientContext c;
      dr::v1::Host out;
      grpc::Status st = topology_->RegisterHost(&c, r, &out);
      if (!st.ok()) {
        Say("register: " + st.error_message());
        std::exit(1);
      }
    }
  }

  // Waits until no job is open.
  void WaitIdle(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      dr::v1::ListJobsRequest r;
      for (int s = 2; s <= 6; ++s) r.add_states(static_cast<dr::v1::JobState>(s));
      r.set_page_size(1);
      grpc::ClientContext c;
      dr::v1::ListJobsResponse out;
      if (jobs_->ListJobs(&c, r, &out).ok() && out.jobs_size() == 0) return;
      absl::SleepFor(absl::Milliseconds(20));
    }
    Say("jobs still open after the timeout");
  }
  int CountJobs(dr::v1::JobState state) {
    int n = 0;
    dr::v1::ListJobsRequest r;
    r.add_states(state);
    r.set_page_size(1000);
    do {
      grpc::ClientContext c;
      dr::v1::ListJobsResponse out;
      if (!jobs_->ListJobs(&c, r, &out).ok()) break;
      n += out.jobs_size();
      r.set_page_token(out.next_page_token());
    } while (!r.page_token().empty());
    return n;
  }

  dr::v1::FailoverService::Stub* failover() { return failover_.get(); }
  dr::v1::PlanService::Stub* plans() { return plans_.get(); }
  const std::string& address() const { return address_; }
  int server_pid() const { return server_->pid(); }
  std::vector<int> agent_pids() const {
    std::vector<int> pids;
    for (const auto& a : agents_) pids.push_back(a->pid());
    return pids;
  }

 private:
  std::string dir_;
  const bool tls_;
  std::map<int, std::string> addresses_;
  std::vector<std::unique_ptr<Subprocess>> agents_;
  std::unique_ptr<Subprocess> server_;
  std::string address_;
  std::unique_ptr<dr::v1::FailoverService::Stub> failover_;
  std::unique_ptr<dr::v1::JobService::Stub> jobs_;
  std::unique_ptr<dr::v1::TopologyService::Stub> topology_;
  std::unique_ptr<dr::v1::PlanService::Stub> plans_;
};

// Request i of a batch, on host (first + i % hosts), VM offset + i / hosts.
MakeRequest Requests(const std::string& tag, int first, int hosts, int offset) {
  return [=](int i) {
    dr::v1::InitiateFailoverRequest r;
    const int h = first + i % hosts;
    r.set_virtual_machine(
        absl::StrCat("hosts/", HostId(h), "/virtualMachines/", Guid(h, offset + i / hosts)));
    r.set_request_id(absl::StrCat("bench-", tag, "-", i));
    r.set_requester("drbench");
    return r;
  };
}

int Concurrency() { return absl::GetFlag(FLAGS_concurrency); }

void CheckOk(const LoadResult& r, const std::string& what) {
  if (r.failed > 0)
    Say(absl::StrCat(what, ": ", r.failed, " calls failed, first: ", r.first_error));
}

// CPU time used by a set of processes (0: this one) from construction to
// PerOpUs, in microseconds per operation (the kernel counts it in 10 ms
// ticks: a run of a few thousand operations resolves a few us).
class CpuMeter {
 public:
  explicit CpuMeter(std::vector<int> pids) : pids_(std::move(pids)) { start_ = Now(); }
  double PerOpUs(int ops) const {
    return absl::ToDoubleMicroseconds(Now() - start_) / std::max(ops, 1);
  }

 private:
  absl::Duration Now() const {
    absl::Duration d;
    for (int pid : pids_) d += CpuTime(pid);
    return d;
  }
  std::vector<int> pids_;
  absl::Duration start_;
};

// WatchJob fan-out, product and ceiling alike: watcher counts, watchers per
// job, client connections.
std::vector<int> FanOutSizes() {
  return Quick() ? std::vector<int>{1000} : std::vector<int>{1000, 10000};
}
constexpr int kWatchersPerJob = 100;
int FanOutChannels() { return absl::GetFlag(FLAGS_fanout_channels); }

void Ceilings() {
  const int unary = Quick() ? 3000 : 20000;
  Estate dir("noop");
  Subprocess noop;
  (void)noop.Start({Bin("bench/noop_server"), "--port_file=" + dir.dir() + "/noop.port"},
                   dir.dir() + "/noop.log");
  auto port = noop.WaitForPortFile(dir.dir() + "/noop.port", absl::Seconds(30));
  if (!port.ok()) std::exit(1);
  const std::string address = absl::StrCat("127.0.0.1:", *port);
  auto stub = dr::v1::FailoverService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto any = Requests("noop", 0, 1, 0);
  ClosedLoop(stub.get(), 1000, Concurrency(), any);  // warm up
  for (int run = 0; run < Runs(); ++run) {
    CpuMeter server_cpu({noop.pid()}), client_cpu({0});
    LoadResult r = ClosedLoop(stub.get(), unary, Concurrency(), any);
    CheckOk(r, "no-op unary");
    F("ceiling 1: no-op unary, CPU per request: server", "us")
        .runs.push_back(server_cpu.PerOpUs(unary));
    F("ceiling 1: no-op unary, CPU per request: client", "us")
        .runs.push_back(client_cpu.PerOpUs(unary));
    Latencies l = Summarize(r.latencies_ms);
    F("ceiling 1: no-op unary, saturation", "req/s").runs.push_back(r.Rate());
    F("ceiling 1: no-op unary, saturation p50", "ms").runs.push_back(l.p50_ms);
    F("ceiling 1: no-op unary, saturation p99", "ms").runs.push_back(l.p99_ms);
    LoadResult fixed = FixedRate(stub.get(), Quick() ? 1000 : 2000, 1000, any);
    F("ceiling 1: no-op unary, p99 at 1,000 req/s", "ms")
        .runs.push_back(Summarize(fixed.latencies_ms).p99_ms);
  }
  for (int run = 0; run < Runs(); ++run) {
    FanOut fan(address, 4);
    const int per_stream = Quick() ? 20000 : 100000;
    const absl::Time start = absl::Now();
    fan.Start({absl::StrCat("jobs/stream-", per_stream)}, 4);
    FanOutResult r = fan.Wait(absl::Seconds(120));
    F("ceiling 2: no-op server stream", "msg/s")
        .runs.push_back(r.messages / absl::ToDoubleSeconds(absl::Now() - start));
  }
  // The fan-out ceiling: the product's watch pattern (100 watchers per job,
  // every job's new version at the same moment, every 300 ms, as a site's
  // jobs reporting progress together) against a server that only writes.
  for (int watchers : FanOutSizes()) {
    for (int run = 0; run < Runs(); ++run) {
      std::vector<std::string> names;
      for (int j = 0; j < watchers / kWatchersPerJob; ++j)
        names.push_back(absl::StrCat("jobs/tick-", j, "-20-300"));
      FanOut fan(address, FanOutChannels());
      fan.Start(names, watchers);
      FanOutResult r = fan.Wait(absl::Seconds(60));
      if (r.streams_failed > 0)
        Say(absl::StrCat("no-op fan-out: ", r.streams_failed, " streams failed"));
      Latencies l = Summarize(r.delays_ms);
      F(absl::StrFormat("ceiling 2: no-op WatchJob fan-out, %d watchers, p99 delivery", watchers),
        "ms")
          .runs.push_back(l.p99_ms);
      F(absl::StrFormat("ceiling 2: no-op WatchJob fan-out, %d watchers, p50 delivery", watchers),
        "ms")
          .runs.push_back(l.p50_ms);
    }
  }
  noop.Signal(SIGTERM);

  // Raw SQLite with the server's pragmas (WAL, synchronous=FULL) and schema.
  for (int run = 0; run < Runs(); ++run) {
    const std::string path = absl::StrCat(dir.dir(), "/raw-", run, ".db");
    auto db = Sqlite::Open(path, {});
    if (!db.ok() || !MigrateSchema(**db).ok()) std::exit(1);
    (void)(*db)->Exec(
        "INSERT INTO jobs(name, type, state, create_us, vm, host) VALUES ('jobs/raw', 97, 4, 1, "
        "'v', 'h')");
    auto insert = [&](int64_t seq) {
      auto s = (*db)->Prepare(
          "INSERT INTO job_events(job, sequence, event_us, state, percent, return_code, "
          "error_code, message) "
          "VALUES ('jobs/raw', ?, ?, 4, 50, 4096, 0, 'bench')");
      s->Bind(1, seq).Bind(2, seq);
      (void)s->Run();
    };
    int64_t seq = 0;
    const int singles = Quick() ? 100 : 400;
    absl::Time start = absl::Now();
    for (int i = 0; i < singles; ++i) {
      (void)InTransaction(**db, [&] {
        insert(++seq);
        return absl::OkStatus();
      });
    }
    F("ceiling 3: SQLite single-row transactions", "tx/s")
        .runs.push_back(singles / absl::ToDoubleSeconds(absl::Now() - start));
    const int batches = Quick() ? 10 : 50, rows = 1000;
    start = absl::Now();
    for (int b = 0; b < batches; ++b) {
      (void)InTransaction(**db, [&] {
        for (int i = 0; i < rows; ++i) insert(++seq);
        return absl::OkStatus();
      });
    }
    F("ceiling 3: SQLite batched rows (1,000 per transaction)", "rows/s")
        .runs.push_back(batches * rows / absl::ToDoubleSeconds(absl::Now() - start));
  }
}

// `tls`: the same figures as deployed (TLS, every call authenticated and
// authorized with a bearer token, mutual TLS to the agents), named with
// " (TLS)", beside the plaintext ones.
void Acceptance(bool tls) {
  const std::string with = tls ? " (TLS)" : "";
  const int per_run = Quick() ? 1000 : absl::GetFlag(FLAGS_acceptance_requests);
  const int fixed = Quick() ? 1000 : 2000, hosts = 10;
  const int vms_per_host = Runs() * (per_run + fixed) / hosts + 1;
  Estate e(tls ? "acceptance-tls" : "acceptance", tls);
  e.StartAgents(0, hosts, vms_per_host, 0, 20);
  e.StartServer();
  int offset = 0;
  for (int run = 0; run < Runs(); ++run) {
    // CPU per accepted request until every job of the run has ended: the
    // acceptance, and the execution the same jobs cost meanwhile.
    CpuMeter server_cpu({e.server_pid()}), agents_cpu(e.agent_pids()), client_cpu({0});
    LoadResult r = ClosedLoop(e.failover(), per_run, Concurrency(),
                              Requests(absl::StrCat("sat", run), 0, hosts, offset));
    offset += per_run / hosts;
    CheckOk(r, "acceptance");
    const double client_us = client_cpu.PerOpUs(per_run);
    Latencies l = Summarize(r.latencies_ms);
    F("product 1: InitiateFailover acceptance, saturation" + with, "req/s")
        .runs.push_back(r.Rate());
    F("product 1: acceptance, saturation p50" + with, "ms").runs.push_back(l.p50_ms);
    F("product 1: acceptance, saturation p99" + with, "ms").runs.push_back(l.p99_ms);
    e.WaitIdle(absl::Seconds(60));
    F("product 1: CPU per job accepted and run: drserver" + with, "us")
        .runs.push_back(server_cpu.PerOpUs(per_run));
    F("product 1: CPU per job accepted and run: 10 agents" + with, "us")
        .runs.push_back(agents_cpu.PerOpUs(per_run));
    F("product 1: CPU per job accepted and run: client" + with, "us").runs.push_back(client_us);
    LoadResult f =
        FixedRate(e.failover(), fixed, 1000, Requests(absl::StrCat("fix", run), 0, hosts, offset));
    offset += fixed / hosts;
    CheckOk(f, "acceptance at 1,000/s");
    Latencies fl = Summarize(f.latencies_ms);
    F("product 1: acceptance p50 at 1,000 req/s" + with, "ms").runs.push_back(fl.p50_ms);
    F("product 1: acceptance p99 at 1,000 req/s" + with, "ms").runs.push_back(fl.p99_ms);
    e.WaitIdle(absl::Seconds(60));
  }
}

void EndToEnd() {
  const int hosts = 20, per_host = Quick() ? 100 : 500, total = hosts * per_host;
  for (int run = 0; run < Runs(); ++run) {
    Estate e(absl::StrCat("e2e-", run));
    e.StartAgents(0, hosts, per_host, 0, 20);
    e.StartServer();
    const absl::Time start = absl::Now();
    LoadResult r = ClosedLoop(e.failover(), total, 256, Requests("e2e", 0, hosts, 0));
    CheckOk(r, "end to end");
    e.WaitIdle(absl::Seconds(300));
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    const int completed = e.CountJobs(dr::v1::JOB_STATE_COMPLETED);
    if (completed != total)
      Say(absl::StrCat("end to end: ", completed, " of ", total, " jobs completed"));
    F(absl::StrFormat("product 2: jobs completed end to end (%d VMs, %d hosts)", total, hosts),
      "jobs/s")
        .runs.push_back(completed / secs);
  }
}

void FanOutBench() {
  const std::vector<int> sizes = FanOutSizes();
  int jobs_needed = 0;
  for (int w : sizes) jobs_needed += Runs() * (w / kWatchersPerJob);
  Estate e("fanout");
  e.StartAgents(0, 1, jobs_needed + 1, 6000, 100);
  e.StartServer();
  int next_vm = 0;
  for (int watchers : sizes) {
    for (int run = 0; run < Runs(); ++run) {
      const int jobs = watchers / kWatchersPerJob;
      std::vector<std::string> names;
      for (int j = 0; j < jobs; ++j) {
        dr::v1::InitiateFailoverRequest r = Requests("fan", 0, 1, 0)(next_vm++);
        r.set_request_id(absl::StrCat("fan-", watchers, "-", run, "-", j));
        grpc::ClientContext c;
        dr::v1::JobResponse out;
        if (e.failover()->InitiateFailover(&c, r, &out).ok()) names.push_back(out.job().name());
      }
      const int64_t rss_before = ResidentBytes(e.server_pid());
      FanOut fan(e.address(), FanOutChannels());
      fan.Start(names, watchers);
      const int64_t rss = ResidentBytes(e.server_pid());
      FanOutResult res = fan.Wait(absl::Seconds(60));
      if (res.streams_failed > 0)
        Say(absl::StrCat("fan-out: ", res.streams_failed, " streams failed"));
      Latencies l = Summarize(res.delays_ms);
      F(absl::StrFormat("product 3: WatchJob fan-out, %d watchers, p99 delivery", watchers), "ms")
          .runs.push_back(l.p99_ms);
      F(absl::StrFormat("product 3: WatchJob fan-out, %d watchers, p50 delivery", watchers), "ms")
          .runs.push_back(l.p50_ms);
      F(absl::StrFormat("product 3: WatchJob fan-out, %d watchers, messages measured", watchers),
        "msgs")
          .runs.push_back(static_cast<double>(res.delays_ms.size()));
      F(absl::StrFormat("product 3: drserver resident memory, %d watchers", watchers), "MiB")
          .runs.push_back(std::max(rss, rss_before) / 1048576.0);
      e.WaitIdle(absl::Seconds(60));
    }
  }
}

void Growth() {
  const std::vector<int> sizes =
      Quick() ? std::vector<int>{1000, 10000} : std::vector<int>{1000, 10000, 100000, 1000000};
  for (int stored : sizes) {
    const int real = std::min(stored, Quick() ? 1000 : 3000), hosts = 4;
    const int per_host = real / hosts;
    Estate e(absl::StrCat("growth-", stored));
    e.StartAgents(0, hosts, per_host, 0, 20);
    e.Fill(stored - hosts * per_host);
    e.StartServer();
    // Each run uses its own VMs: per_run / hosts on every host.
    const int per_host_per_run = per_host / Runs();
    const int per_run = per_host_per_run * hosts;
    for (int run = 0; run < Runs(); ++run) {
      LoadResult r = ClosedLoop(e.failover(), per_run, Concurrency(),
                                Requests(absl::StrCat("g", run), 0, hosts, run * per_host_per_run));
      CheckOk(r, "growth");
      F(absl::StrFormat("product 4: acceptance with %d VMs stored", stored), "req/s")
          .runs.push_back(r.Rate());
      e.WaitIdle(absl::Seconds(60));
    }
  }
}

// Recovery plans at scale: a plan of `hosts` x 100 VMs (replicas at the
// target site) in 5 groups, run UNPLANNED (FAILOVER, START, READINESS per
// VM) against agents whose failover takes 2 s and start 1 s, beside the
// ideal schedule of the same plan (plans/ideal_schedule.h: the lower bound
// from the same durations, dependencies and limits). Also ValidatePlan's
// time for the whole plan, and drserver's CPU and peak memory over the run.
constexpr int kPlanGroups = 5;
constexpr int kPlanVmsPerHost = 100;
constexpr int kPlanFailoverMs = 2000;
constexpr int kPlanStartMs = 1000;
// The guest's boot time before its heartbeat is OK, which readiness waits
// for (the scenario's default_boot_ms).
constexpr int kPlanBootMs = 2000;
// 20 VMs of a group per host, 5 at once: 4 rounds of 3 s, then the last
// guests' 2 s boot: 14 s per group, 70 s for the plan; the plan limit
// (100 hosts x 5) binds as much.
constexpr int kPlanPerHost = 5;
constexpr int kPlanTotal = 500;
constexpr int kPlanValidations = 5;

bool plans_failed = false;
void PlanError(const std::string& what) {
  Say("plans: " + what);
  plans_failed = true;
}

dr::v1::Plan BenchPlan(int hosts) {
  dr::v1::Plan plan;
  plan.set_name("plans/bench");
  plan.set_source_site("sites/prod");
  plan.set_target_site("sites/dr");
  plan.mutable_limits()->set_max_operations_per_host(kPlanPerHost);
  plan.mutable_limits()->set_max_operations(kPlanTotal);
  const int per_group = kPlanVmsPerHost / kPlanGroups;  // VMs of a group on a host
  for (int g = 0; g < kPlanGroups; ++g) {
    dr::v1::PlanGroup* group = plan.add_groups();
    group->set_id(absl::StrCat("g", g + 1));
    for (int h = 0; h < hosts; ++h) {
      for (int v = g * per_group; v < (g + 1) * per_group; ++v) {
        group->add_vms()->set_vm_id(Guid(h, v));
      }
    }
    // A few dependencies across hosts: the last VM of the group on each of
    // the first 10 hosts waits for the first one on the next host.
    for (int h = 0; h + 1 < hosts && h < 10; ++h) {
      group->mutable_vms(h * per_group + per_group - 1)->add_depends_on(Guid(h + 1, g * per_group));
    }
  }
  return plan;
}

bool Terminal(dr::v1::ExecutionState s) {
  return s == dr::v1::EXECUTION_STATE_SUCCEEDED ||
         s == dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS ||
         s == dr::v1::EXECUTION_STATE_FAILED || s == dr::v1::EXECUTION_STATE_CANCELLED ||
         s == dr::v1::EXECUTION_STATE_HALTED;  // halted waits for a person: over for a bench
}

void PlansBench() {
  const int hosts = Quick() ? 10 : 100;
  const int vms = hosts * kPlanVmsPerHost;
  const dr::v1::Plan plan = BenchPlan(hosts);
  std::map<std::string, plans::VmPlacement> placement;
  for (int h = 0; h < hosts; ++h) {
    for (int v = 0; v < kPlanVmsPerHost; ++v) placement[Guid(h, v)] = {"", "hosts/" + HostId(h)};
  }
  const plans::StepGraph graph =
      plans::BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, placement);
  plans::StepDurations durations;
  durations.operations[dr::v1::STEP_KIND_FAILOVER] = absl::Milliseconds(kPlanFailoverMs);
  durations.operations[dr::v1::STEP_KIND_START] = absl::Milliseconds(kPlanStartMs);
  durations.readiness = absl::Milliseconds(kPlanBootMs);
  absl::StatusOr<plans::IdealSchedule> ideal =
      plans::IdealMakespan(graph, durations, {kPlanPerHost, kPlanTotal});
  if (!ideal.ok()) {
    PlanError(ideal.status().ToString());
    return;
  }
  int steps = 0;
  for (const plans::Step& st : graph.steps) steps += st.gate ? 0 : 1;
  const double ideal_s = absl::ToDoubleSeconds(ideal->makespan);
  Say(absl::StrFormat("plans: %d VMs on %d hosts, %d steps, ideal makespan %.1f s", vms, hosts,
                      steps, ideal_s));
  const std::string size = absl::StrFormat("%d VMs, %d hosts", vms, hosts);

  for (int run = 0; run < Runs(); ++run) {
    Estate e(absl::StrCat("plans-", run));
    e.StartAgents(0, hosts, kPlanVmsPerHost, kPlanFailoverMs,
                  absl::GetFlag(FLAGS_plans_agent_poll_ms),
                  {{97, kPlanFailoverMs}, {1002, kPlanStartMs}}, kPlanBootMs);
    e.StartServer();
    {
      dr::v1::CreatePlanRequest r;
      *r.mutable_plan() = plan;
      r.set_request_id(absl::StrCat("bench-plan-", run));
      r.set_requester("drbench");
      grpc::ClientContext c;
      dr::v1::Plan out;
      grpc::Status st = e.plans()->CreatePlan(&c, r, &out);
      if (!st.ok()) {
        PlanError("CreatePlan: " + st.error_message());
        return;
      }
    }
    for (int i = 0; i < kPlanValidations; ++i) {
      dr::v1::ValidatePlanRequest r;
      r.set_name(plan.name());
      r.set_mode(dr::v1::EXECUTION_MODE_UNPLANNED);
      grpc::ClientContext c;
      dr::v1::ValidatePlanResponse out;
      const absl::Time start = absl::Now();
      grpc::Status st = e.plans()->ValidatePlan(&c, r, &out);
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
      if (!st.ok()) {
        PlanError("ValidatePlan: " + st.error_message());
        return;
      }
      for (const dr::v1::Finding& f : out.findings()) {
        if (f.severity() == dr::v1::SEVERITY_ERROR) {
          PlanError(absl::StrCat("ValidatePlan: ", out.findings_size(), " findings, first: ",
                                 f.field(), " ", f.reason(), ": ", f.message()));
          return;
        }
      }
      F(absl::StrFormat("product 5: ValidatePlan, %s", size), "ms").runs.push_back(ms);
    }

    const absl::Duration cpu_before = CpuTime(e.server_pid());
    dr::v1::PlanExecution execution;
    const absl::Time start = absl::Now();
    {
      dr::v1::StartPlanExecutionRequest r;
      r.set_plan(plan.name());
      r.set_mode(dr::v1::EXECUTION_MODE_UNPLANNED);
      r.set_request_id(absl::StrCat("bench-run-", run));
      r.set_requester("drbench");
      grpc::ClientContext c;
      grpc::Status st = e.plans()->StartPlanExecution(&c, r, &execution);
      if (!st.ok()) {
        PlanError("StartPlanExecution: " + st.error_message());
        return;
      }
    }
    const absl::Duration start_call = absl::Now() - start;
    // Polled until it ends; the makespan itself is the server's own record
    // (create_time to end_time), not the polling's resolution.
    const absl::Time deadline = absl::Now() + absl::Seconds(120) + 5 * ideal->makespan;
    while (!Terminal(execution.state()) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      dr::v1::GetPlanExecutionRequest r;
      r.set_name(execution.name());
      grpc::ClientContext c;
      dr::v1::PlanExecution out;
      if (e.plans()->GetPlanExecution(&c, r, &out).ok()) execution = out;
    }
    const absl::Duration cpu = CpuTime(e.server_pid()) - cpu_before;
    const int64_t peak = PeakResidentBytes(e.server_pid());
    if (execution.state() != dr::v1::EXECUTION_STATE_SUCCEEDED ||
        execution.steps_succeeded() != steps || execution.steps_failed() != 0 ||
        execution.steps_skipped() != 0) {
      PlanError(absl::StrFormat(
          "%s: %s (%s) after %s: %d of %d steps succeeded, %d failed, %d skipped", execution.name(),
          dr::v1::ExecutionState_Name(execution.state()), execution.state_reason(),
          absl::FormatDuration(absl::Now() - start), execution.steps_succeeded(), steps,
          execution.steps_failed(), execution.steps_skipped()));
      return;
    }
    const double makespan =
        absl::ToDoubleSeconds(FromProto(execution.end_time()) - FromProto(execution.create_time()));
    Say(absl::StrFormat("plans: run %d: makespan %.2f s (ideal %.2f s), StartPlanExecution %s", run,
                        makespan, ideal_s, absl::FormatDuration(start_call)));
    F(absl::StrFormat("product 5: plan makespan, %s", size), "s").runs.push_back(makespan);
    F(absl::StrFormat("product 5: plan ideal schedule (lower bound), %s", size), "s")
        .runs.push_back(ideal_s);
    F(absl::StrFormat("product 5: plan makespan / ideal, %s", size), "x")
        .runs.push_back(makespan / ideal_s);
    // What each operation on the busiest slot's chain cost beyond its job
    // (dispatch, the agent's poll, the writes, the executor's round): the
    // slot runs its VMs' operations one after another, 40 in this plan.
    const int per_slot =
        kPlanGroups * ((kPlanVmsPerHost / kPlanGroups + kPlanPerHost - 1) / kPlanPerHost) * 2;
    F(absl::StrFormat("product 5: plan overhead per operation in a chain of %d", per_slot), "ms")
        .runs.push_back(1000 * (makespan - ideal_s) / per_slot);
    F(absl::StrFormat("product 5: StartPlanExecution call, %s", size), "ms")
        .runs.push_back(absl::ToDoubleMilliseconds(start_call));
    F(absl::StrFormat("product 5: drserver CPU during the run, %s", size), "s")
        .runs.push_back(absl::ToDoubleSeconds(cpu));
    F(absl::StrFormat("product 5: drserver CPU / makespan, %s", size), "cores")
        .runs.push_back(absl::ToDoubleSeconds(cpu) / makespan);
    F(absl::StrFormat("product 5: drserver peak resident memory, %s", size), "MiB")
        .runs.push_back(peak / 1048576.0);
  }
}

// One decimal, three below 10 (ratios, seconds, small latencies).
std::string Num(double v) {
  return std::abs(v) < 10 ? absl::StrFormat("%.3f", v) : absl::StrFormat("%.1f", v);
}

struct Target {
  std::string what;
  double measured;
  double goal;
  bool higher_is_better;
  std::string unit;
};

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As in drserver and hvagent: no lock-order bookkeeping on every lock
  // (gRPC's own locks included) in a program that measures.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (absl::GetFlag(FLAGS_bin_dir).empty()) {
    std::cerr << "drbench: --bin_dir is required (tools/bench.sh sets it)" << std::endl;
    return 2;
  }
  if (std::system(absl::StrCat("mkdir -p '", absl::GetFlag(FLAGS_work_dir), "'").c_str()) != 0) {
    std::cerr << "drbench: cannot create --work_dir" << std::endl;
    return 1;
  }
  const absl::Time begin = absl::Now();
  if (Wanted("ceiling")) {
    Say("ceilings");
    Ceilings();
  }
  // --only=acceptance runs both; --only=plaintext or --only=tls one.
  if (Wanted("acceptance plaintext")) {
    Say("product 1: acceptance, plaintext (--insecure)");
    Acceptance(/*tls=*/false);
  }
  if (Wanted("acceptance tls")) {
    Say("product 1: acceptance, TLS and a bearer token (as deployed)");
    Acceptance(/*tls=*/true);
  }
  if (Wanted("e2e")) {
    Say("product 2: end to end");
    EndToEnd();
  }
  if (Wanted("fanout")) {
    Say("product 3: watch fan-out");
    FanOutBench();
  }
  if (Wanted("growth")) {
    Say("product 4: topology growth");
    Growth();
  }
  if (Wanted("plans")) {
    Say("product 5: recovery plans");
    PlansBench();
  }

  std::printf("\n%-66s %10s %10s %10s  %s\n", "figure", "median", "min", "max", "unit");
  for (const Figure& f : figures) {
    std::printf("%-66s %10s %10s %10s  %s\n", f.name.c_str(), Num(f.Median()).c_str(),
                Num(f.Min()).c_str(), Num(f.Max()).c_str(), f.unit.c_str());
  }
  std::vector<Target> targets;
  auto med = [](const std::string& name) {
    const Figure* f = Find(name);
    return f ? f->Median() : -1.0;
  };
  if (Find("product 1: InitiateFailover acceptance, saturation") &&
      Find("ceiling 1: no-op unary, saturation")) {
    targets.push_back({"acceptance / no-op unary ceiling",
                       100 * med("product 1: InitiateFailover acceptance, saturation") /
                           med("ceiling 1: no-op unary, saturation"),
                       50, true, "%"});
    targets.push_back({"acceptance p99 at 1,000 req/s",
                       med("product 1: acceptance p99 at 1,000 req/s"), 5, false, "ms"});
  }
  for (const Figure& f : figures) {
    if (f.name.rfind("product 2:", 0) == 0)
      targets.push_back({"jobs completed end to end", f.Median(), 2000, true, "jobs/s"});
  }
  if (Find("product 3: WatchJob fan-out, 10000 watchers, p99 delivery")) {
    targets.push_back({"10,000 watchers: p99 delivery",
                       med("product 3: WatchJob fan-out, 10000 watchers, p99 delivery"), 100, false,
                       "ms"});
    targets.push_back({"10,000 watchers: drserver resident memory",
                       med("product 3: drserver resident memory, 10000 watchers"), 1024, false,
                       "MiB"});
  }
  if (Find("product 4: acceptance with 1000000 VMs stored") &&
      Find("product 4: acceptance with 1000 VMs stored")) {
    targets.push_back({"acceptance at 1,000,000 VMs / at 1,000",
                       100 * med("product 4: acceptance with 1000000 VMs stored") /
                           med("product 4: acceptance with 1000 VMs stored"),
                       80, true, "%"});
  }
  for (const Figure& f : figures) {
    if (f.name.rfind("product 5: plan makespan / ideal", 0) == 0)
      targets.push_back({"plan makespan / ideal schedule", f.Median(), 1.05, false, "x"});
    if (f.name.rfind("product 5: ValidatePlan", 0) == 0)
      targets.push_back({"ValidatePlan, whole plan", f.Median(), 1000, false, "ms"});
  }
  std::printf("\n%-50s %10s %10s  %s\n", "target", "measured", "goal", "");
  for (const Target& t : targets) {
    const bool met = t.higher_is_better ? t.measured >= t.goal : t.measured <= t.goal;
    std::printf("%-50s %10s %s%9s  %s %s\n", t.what.c_str(), Num(t.measured).c_str(),
                t.higher_is_better ? ">=" : "<=", Num(t.goal).c_str(), t.unit.c_str(),
                met ? "met" : "NOT MET");
  }
  nlohmann::json j;
  j["runs"] = Runs();
  j["quick"] = Quick();
  j["cores"] = std::thread::hardware_concurrency();
  j["seconds"] = absl::ToDoubleSeconds(absl::Now() - begin);
  for (const Figure& f : figures) {
    j["figures"].push_back({{"name", f.name},
                            {"unit", f.unit},
                            {"median", f.Median()},
                            {"min", f.Min()},
                            {"max", f.Max()},
                            {"runs", f.runs}});
  }
  for (const Target& t : targets) {
    const bool met = t.higher_is_better ? t.measured >= t.goal : t.measured <= t.goal;
    j["targets"].push_back({{"target", t.what},
                            {"measured", t.measured},
                            {"goal", t.goal},
                            {"unit", t.unit},
                            {"met", met}});
  }
  std::ofstream(absl::GetFlag(FLAGS_json)) << j.dump(2) << std::endl;
  std::printf("\nJSON: %s (%.0f s)\n", absl::GetFlag(FLAGS_json).c_str(),
              absl::ToDoubleSeconds(absl::Now() - begin));
  if (plans_failed) {
    std::cerr << "drbench: the plan runs failed (see above): their figures are missing"
              << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace bench
}  // namespace hvdr

int main(int argc, char** argv) { return hvdr::bench::Main(argc, argv); }
