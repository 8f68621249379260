#!/usr/bin/env bash
# Install kafkaish with its test extras and run every test: unit + end-to-end (pytest),
# then the real-client compatibility suites in compat/, the differential run against a real
# Apache Kafka (compat/differential) and the client scenarios against it (both skipped without java). .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
if [ -f ../shared/kafka-protocol/messages/ProduceRequest.json ]; then
  python scripts/generate_messages.py --check
fi
# Headless chromium + chromedriver for the console's browser tests (tests/observe/); CI runs as
# root on Debian. Without them those tests skip and say why.
if ! command -v chromedriver >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# kafkajs first: the control-plane tests drive it through Node (tests/control/).
npm ci --prefix compat/kafkajs --no-audit --no-fund --loglevel=error
python -m pytest -q -p no:cacheprovider "$@"
if [ -f compat/run.py ]; then
  python compat/run.py
fi
if [ -f compat/differential/run.py ]; then
  # against the reference Apache Kafka; each prints "SKIPPED" and passes without java
  python compat/differential/run.py
  python compat/run.py --target reference --clients kafka-python,aiokafka,confluent-kafka,kafkajs
fi
