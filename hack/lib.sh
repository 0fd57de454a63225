# Shared settings of the local control plane scripts (sourced by hack/up, hack/down, hack/status).
# One instance = one state directory (data, certs, logs, pids) and one port range, so `make up`
# (instance "local") and `make test` (instance "test") never touch each other's processes.
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HACK/.." && pwd)"
source "$HACK/versions.sh"
CACHE_ROOT="${CELLCLOUD_CACHE:-$HOME/.cache/cellcloud}"
BIN="$CACHE_ROOT/$VERSION_KEY/bin"
INSTANCE="${CELLCLOUD_INSTANCE:-local}"
STATE="${CELLCLOUD_STATE:-$REPO/.state/$INSTANCE}"
case "$INSTANCE" in local) DEFAULT_BASE=16400 ;; test) DEFAULT_BASE=16500 ;; *) DEFAULT_BASE=16600 ;; esac
PORT_BASE="${CELLCLOUD_PORT_BASE:-$DEFAULT_BASE}"
PORT_ETCD=$((PORT_BASE + 1)) PORT_ETCD_PEER=$((PORT_BASE + 2)) PORT_API=$((PORT_BASE + 3))
PORT_KCM=$((PORT_BASE + 4)) PORT_SCHED=$((PORT_BASE + 5)) PORT_KWOK=$((PORT_BASE + 6))
PORT_METRICS=$((PORT_BASE + 7)) PORT_HEALTH=$((PORT_BASE + 8)) PORT_WEBHOOK=$((PORT_BASE + 9))
PORT_DATAPLANE=$((PORT_BASE + 10)) PORT_BILLING_DB=$((PORT_BASE + 11)) PORT_CONSOLE=$((PORT_BASE + 12))
# The local data plane's pod addresses: a loopback /16 of this instance's own, so planes side by side never share one.
DATAPLANE_CIDR="127.$((20 + (PORT_BASE / 100) % 200)).0.0/16"
PKI="$STATE/pki" LOGS="$STATE/logs" PIDS="$STATE/pids"
KUBECONFIG_ADMIN="$STATE/kubeconfig"
# Billing's ledger: a PostgreSQL server of this instance (Debian's postgresql-15, as the RDS data plane).
PG_BIN=/usr/lib/postgresql/15/bin BILLING_DB="$STATE/billing-db"
SERVICE_CIDR=10.96.0.0/16 CLUSTER_CIDR=10.128.0.0/10
# Start order; hack/down stops in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok dataplane billing-db manager console)

log() { echo "hack: $*" >&2; }
die() { echo "hack: error: $*" >&2; exit 1; }

# pid_of NAME: prints the pid if NAME runs and is ours (its command line names our state dir).
pid_of() {
  local f="$PIDS/$1.pid" pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' </proc/"$pid"/cmdline | grep -qF -- "$STATE" || return 1
  echo "$pid"
}

# healthy NAME: one quick probe of the component's health endpoint.
healthy() {
  local c=(curl -fsS -m 3 -o /dev/null)
  case $1 in
    etcd) "${c[@]}" --cacert "$PKI/etcd-ca.crt" --cert "$PKI/etcd-client.crt" --key "$PKI/etcd-client.key" "https://127.0.0.1:$PORT_ETCD/health" ;;
    kube-apiserver) "${c[@]}" --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
      "https://127.0.0.1:$PORT_API/readyz" ;;
    kube-controller-manager) "${c[@]}" -k "https://127.0.0.1:$PORT_KCM/healthz" ;;
    kube-scheduler) "${c[@]}" -k "https://127.0.0.1:$PORT_SCHED/healthz" ;;
    kwok) "${c[@]}" "http://127.0.0.1:$PORT_KWOK/healthz" ;;
    dataplane) "${c[@]}" "http://127.0.0.1:$PORT_DATAPLANE/healthz" ;;
    billing-db) "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PORT_BILLING_DB" -d billing -t 3 -q ;;  # accepts connections
    manager) "${c[@]}" "http://127.0.0.1:$PORT_HEALTH/readyz" ;;  # caches synced: the webhook answers
    console) "${c[@]}" "http://127.0.0.1:$PORT_CONSOLE/healthz" ;;
  esac 2>/dev/null
}

# stop NAME: SIGTERM the recorded pid if it is ours, SIGKILL after 15 s. PostgreSQL gets SIGINT (fast
# shutdown: SIGTERM's smart shutdown would wait for every client to disconnect).
stop() {
  local pid i sig=TERM
  [[ $1 == billing-db ]] && sig=INT
  if pid=$(pid_of "$1"); then
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    log "stopped $1 (pid $pid)"
  fi
  [[ $1 == billing-db ]] && billing_db_reap
  rm -f "$PIDS/$1.pid" "$PIDS/$1.cmd"
}

# billing_db_procs: pids of the PostgreSQL processes of the ledger's data directory. The postmaster
# and its children run in it (their cwd); the children's command lines do not name it.
billing_db_procs() {
  local p
  [[ -d $BILLING_DB/data ]] || return 0
  for p in /proc/[0-9]*; do
    [[ $p/cwd -ef $BILLING_DB/data && $p/exe -ef $PG_BIN/postgres ]] && echo "${p#/proc/}"
  done
  return 0
}

# billing_db_reap: after the postmaster is gone (stopped, or killed -9), waits for its leftover
# children, which hold the shared memory a new postmaster refuses to share (they exit on their own
# once they notice); an untracked postmaster or lingering child gets SIGQUIT after 5 s, SIGKILL after
# 10 s. Then no postmaster uses the directory, so its stale lock files go: postmaster.pid and the
# socket's lock name the dead postmaster's pid, which PostgreSQL takes for a live server while that
# pid exists (reused, or a zombie: this machine's init reaps orphans only now and then).
billing_db_reap() {
  local i pids seen=0
  for ((i = 0; i <= 100; i++)); do
    pids=$(billing_db_procs)
    [[ -z $pids ]] && break
    seen=1
    # shellcheck disable=SC2086 # one pid per word
    case $i in 50) kill -QUIT $pids 2>/dev/null ;; 100) kill -KILL $pids 2>/dev/null; sleep 0.2 ;; esac
    sleep 0.1
  done
  [[ -z $(billing_db_procs) ]] || die "PostgreSQL processes of $BILLING_DB/data survived SIGKILL: $(billing_db_procs | xargs)"
  if ((seen)); then log "reaped leftover PostgreSQL processes of ${BILLING_DB#"$REPO"/}/data"; fi
  rm -f "$BILLING_DB/data/postmaster.pid" "$BILLING_DB"/run/.s.PGSQL.*.lock
}
