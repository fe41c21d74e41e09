#!/usr/bin/env bash
# Installs the Debian 12 packages tapewire needs to build, test and run. Idempotent: installs only
# what is missing, and refreshes the package lists only when an install needs them.
set -euo pipefail

packages=(
  g++ cmake make pkg-config ccache   # toolchain
  libsimdjson-dev                    # parse stage
  libtomlplusplus-dev                # configuration
  libspdlog-dev                      # the log's writer (src/base/log.cpp)
  catch2                             # tests (Catch2 v2)
  libbenchmark-dev                   # micro benchmarks
  tzdata                             # session VWAP time zones
  librdkafka-dev                     # Kafka producer, consumer group, embedded broker (rdkafka_mock.h)
  kcat                               # Kafka interoperability tests and benchmark floor
  unixodbc-dev                       # ODBC driver manager (the SQL sink), odbc.pc
  libsqliteodbc                      # SQLite ODBC driver (registered as "SQLite3")
  odbc-postgresql                    # PostgreSQL ODBC driver ("PostgreSQL Unicode")
  postgresql-15                      # a throwaway server for the PostgreSQL tests (test/pg_server.hpp)
  sqlite3                            # the README's example query
  libpq-dev                          # the SQL benchmark's COPY floor
  libboost-dev                       # the fetcher: Boost.Asio and Beast (header only)
  libssl-dev                         # the fetcher: TLS (OpenSSL)
  ca-certificates                    # the fetcher: the system CA store TLS verifies against
  zlib1g-dev                         # the fetcher: gzip response bodies
  protobuf-compiler libprotobuf-dev  # the streamer's PricingData schema: test oracle and decode benchmark
  prometheus-cpp-dev                 # /metrics: Prometheus text exposition (src/http/prometheus.cpp)
  prometheus                         # promtool, the exposition parser the metrics tests run; the scrape tests' server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
