#!/usr/bin/env bash
# Prepares what the integration tests start themselves: PostgreSQL (Debian's package), and a
# Kafka broker (Apache Kafka's jars from Maven Central, fetched once by scripts/services/kafka.sh,
# run on Java 17 from Debian), and Chromium (Debian's) for the web console's browser tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || packages+=(postgresql)
command -v java >/dev/null || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || packages+=(maven)
[ -x /usr/bin/chromium ] || packages+=(chromium)
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing ${packages[*]} (Debian packages) for the integration tests..."
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
bash scripts/services/kafka.sh jars >/dev/null
