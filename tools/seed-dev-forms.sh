#!/usr/bin/env bash
# Registers the example form types (examples/forms/*.yaml) with a dev utpost that `make run` is
# starting, as the dev municipality (data/utpostctl.yaml). Waits for the server; registering an
# unchanged form type again is a no-op, so every `make run` may do it.
# usage: tools/seed-dev-forms.sh path/to/utpostctl
set -u
ctl=$1
for _ in $(seq 1 120); do
  [ -f data/utpostctl.yaml ] && "$ctl" forms types >/dev/null 2>&1 && break
  sleep 1
done
for f in examples/forms/*.yaml; do
  "$ctl" forms register "$f" | sed 's/^/seed: /'
done
