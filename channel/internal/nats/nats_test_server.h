// NatsTestServer: a real nats-server -js for tests, on a loopback port picked here, in its own
// temporary store directory, stopped (and its directory removed) when the object goes away.
//
// Start() waits for the server's own "Server is ready" line on its stderr (no polling); the rest
// of its output is kept for diagnostics by a thread that drains the pipe until the server exits.
// A cluster is three of these sharing `cluster_name`, each given the others' route ports.
#ifndef CHANNEL_INTERNAL_NATS_NATS_TEST_SERVER_H_
#define CHANNEL_INTERNAL_NATS_NATS_TEST_SERVER_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace channel {
namespace testing {

// A port that was free on 127.0.0.1 a moment ago (bound to port 0, then released).
inline int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Reads one line from `fd` (bounded); "" on timeout or EOF.
inline std::string ReadLine(int fd, absl::Duration timeout = absl::Seconds(30)) {
  std::string line;
  const absl::Time deadline = absl::Now() + timeout;
  while (line.empty() || line.back() != '\n') {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char c;
    if (read(fd, &c, 1) != 1) return "";
    line.push_back(c);
  }
  return line;
}

struct NatsServerOptions {
  std::string name = "tc";
  std::string user, password;       // both set: connections must authenticate
  std::string cluster_name;         // set: a cluster member
  int cluster_port = 0;             // this member's route port
  std::vector<int> route_ports;     // the other members'
};

class NatsTestServer {
 public:
  explicit NatsTestServer(NatsServerOptions options = {}) : options_(std::move(options)) {
    char dir[] = "/tmp/tc_nats_XXXXXX";
    dir_ = mkdtemp(dir) != nullptr ? dir : "";
    port_ = FreeLoopbackPort();
  }
  ~NatsTestServer() {
    Kill();
    if (!dir_.empty()) system(absl::StrCat("rm -rf '", dir_, "'").c_str());
  }

  // Starts the server (again, after Kill(): same port, same store). False, with the server's
  // output in log(), if it did not say it was ready within `timeout`.
  bool Start(absl::Duration timeout = absl::Seconds(30)) {
    std::vector<std::string> args = {"nats-server", "-a", "127.0.0.1", "-p", absl::StrCat(port_),
                                     "-js", "-sd", dir_, "-n", options_.name};
    if (!options_.user.empty()) {
      args.insert(args.end(), {"--user", options_.user, "--pass", options_.password});
    }
    if (!options_.cluster_name.empty()) {
      std::vector<std::string> routes;
      for (int p : options_.route_ports) routes.push_back(absl::StrCat("nats://127.0.0.1:", p));
      args.insert(args.end(), {"--cluster_name", options_.cluster_name, "--cluster",
                               absl::StrCat("nats://127.0.0.1:", options_.cluster_port),
                               "--routes", absl::StrJoin(routes, ",")});
    }
    int err[2];
    if (pipe2(err, O_CLOEXEC) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test, even if it crashes
      dup2(err[1], 2);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    close(err[1]);
    // Read until the ready line, bounded; then drain in the background.
    const absl::Time deadline = absl::Now() + timeout;
    std::string seen;
    bool ready = false;
    while (!ready) {
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) break;
      pollfd p{err[0], POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(err[0], buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<size_t>(n));
      ready = seen.find("Server is ready") != std::string::npos;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_ += seen;
    }
    drain_ = std::thread([this, fd = err[0]] {
      char buf[4096];
      for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
        std::lock_guard<std::mutex> lock(mu_);
        log_.append(buf, static_cast<size_t>(n));
      }
      close(fd);
    });
    if (!ready) Kill();
    return ready;
  }

  // SIGKILL (a crash), then reaps it. The store directory stays for a restart.
  void Kill() { Stop(SIGKILL); }
  // SIGTERM (an orderly shutdown), then reaps it.
  void Terminate() { Stop(SIGTERM); }

  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

 private:
  void Stop(int signal) {
    if (pid_ > 0) {
      kill(pid_, signal);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (drain_.joinable()) drain_.join();
  }

  NatsServerOptions options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::thread drain_;
  std::mutex mu_;
  std::string log_;
};

}  // namespace testing
}  // namespace channel

#endif  // CHANNEL_INTERNAL_NATS_NATS_TEST_SERVER_H_
